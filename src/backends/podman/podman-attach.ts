import { request } from 'node:http';
import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';

const PATCHED = Symbol('boxrun.podmanAttach');

/**
 * Attaches to a container's stdio with an empty request body. dockerode sends its attach options as
 * a JSON body too; Docker drops it, but Podman hands those bytes to the container's stdin, where the
 * supervisor would read them as the start of its job. So for Podman the upgrade request is made here.
 */
export function attachWithoutBody(docker: Docker, id: string): Promise<Duplex> {
  const modem = docker.modem as unknown as { socketPath?: string; host?: string; port?: number | string };
  const path = `/containers/${encodeURIComponent(id)}/attach?stream=1&stdin=1&stdout=1&stderr=1`;
  return new Promise((resolve, reject) => {
    const req = request({
      ...(modem.socketPath
        ? { socketPath: modem.socketPath }
        : { host: modem.host, port: Number(modem.port) }),
      method: 'POST',
      path,
      headers: { Connection: 'Upgrade', Upgrade: 'tcp', 'Content-Length': '0' },
    });
    req.on('upgrade', (_res, socket, head) => {
      if (head.length > 0) socket.unshift(head);
      resolve(socket);
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d: Buffer) => {
        body += d.toString();
      });
      res.on('end', () =>
        reject(
          Object.assign(new Error(`attach answered ${res.statusCode}: ${body.trim()}`), {
            statusCode: res.statusCode,
          }),
        ),
      );
    });
    req.on('error', reject);
    req.end();
  });
}

/** Makes every container this client creates attach with attachWithoutBody (stdin attaches only). */
export function usePodmanAttach(docker: Docker): void {
  const client = docker as Docker & { [PATCHED]?: true };
  if (client[PATCHED]) return;
  client[PATCHED] = true;
  const create = docker.createContainer.bind(docker);
  client.createContainer = (async (options: Docker.ContainerCreateOptions) => {
    const container = await create(options);
    const attach = container.attach.bind(container);
    container.attach = ((opts: Docker.ContainerAttachOptions) =>
      opts?.stdin ? attachWithoutBody(docker, container.id) : attach(opts)) as typeof container.attach;
    return container;
  }) as typeof docker.createContainer;
}

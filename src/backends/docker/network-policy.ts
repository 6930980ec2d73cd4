import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import type { BoxrunConfig } from '../../config/config.js';
import { BoxrunError } from '../../core/errors.js';
import type { NetworkPolicy } from '../../core/request.js';
import { isNotFound, translateEngineError } from './engine.js';
import {
  LABEL_DEADLINE,
  LABEL_EXECUTION,
  LABEL_KIND,
  LABEL_MANAGED,
  LABEL_OWNER,
  PROCESS_OWNER,
} from './labels.js';
import { EGRESS_PROXY_PORT, EGRESS_PROXY_READY, egressProxyScript } from './network-policy-proxy.js';

/** How a sandbox (or a build) of one execution is wired to the network, and who tears it down. */
export interface NetworkSession {
  policy: NetworkPolicy;
  /** HostConfig.NetworkMode for the sandbox: 'none', the egress network, or the internal network. */
  networkMode: string;
  /** The classic builder's `networkmode` for a build under this policy. */
  buildNetworkMode: string;
  /** Variables the program (and a build, as build args) gets: the proxy for `allowlist`. */
  env: Record<string, string>;
  /** Removes the proxy and the internal network; idempotent. Call after the sandbox is removed. */
  close(): Promise<void>;
}

const PROXY_READY_TIMEOUT_MS = 15_000;
/** Time the proxy and network may outlive their execution's deadline before the reaper takes them. */
const SESSION_SLACK_MS = 120_000;

/** Nothing to set up or tear down: `none`, `localhost` and `full`. */
function staticSession(policy: NetworkPolicy, networkMode: string, buildNetworkMode: string): NetworkSession {
  return { policy, networkMode, buildNetworkMode, env: {}, close: async () => {} };
}

/**
 * Wires sandboxes to the network their request's policy allows.
 *
 * - `none` and `localhost`: NetworkMode none, i.e. a network namespace with only `lo`. Servers the
 *   program starts on 127.0.0.1 are reachable from inside the same sandbox, nothing else is.
 * - `full`: the configured egress network (the engine's default bridge): anything the host reaches.
 * - `allowlist`: a fresh internal network (no gateway, no route out) shared only by the sandbox and
 *   an egress proxy container that is also attached to the egress network. The program gets
 *   HTTP(S)_PROXY pointing at it; the proxy forwards only to the listed host:port pairs. A raw
 *   connection to anything else has no route. One network and proxy per session, so concurrent
 *   executions never share a network.
 */
export class NetworkPolicyManager {
  constructor(
    private readonly docker: Docker,
    private readonly config: BoxrunConfig['network'],
  ) {}

  /** FORBIDDEN when the configuration does not allow the policy. */
  check(policy: NetworkPolicy): void {
    if (!this.config.allowedPolicies.includes(policy)) {
      throw new BoxrunError(
        'FORBIDDEN',
        `network policy '${policy}' is not allowed here (allowed: ${this.config.allowedPolicies.join(', ')}; config network.allowedPolicies)`,
        { details: { path: 'network', allowed: this.config.allowedPolicies } },
      );
    }
  }

  policies(): NetworkPolicy[] {
    return [...this.config.allowedPolicies];
  }

  async open(
    policy: NetworkPolicy,
    allowHosts: string[],
    options: { executionId: string; deadline: number },
  ): Promise<NetworkSession> {
    this.check(policy);
    const egress = this.config.egressNetwork;
    switch (policy) {
      case 'none':
      case 'localhost':
        return staticSession(policy, 'none', 'none');
      case 'full':
        return staticSession(policy, egress, egress === 'bridge' ? 'default' : egress);
      case 'allowlist':
        return this.openAllowlist(allowHosts, options);
    }
  }

  private labels(executionId: string, deadline: number, kind: string): Record<string, string> {
    return {
      [LABEL_MANAGED]: 'true',
      [LABEL_EXECUTION]: executionId,
      [LABEL_DEADLINE]: String(deadline + SESSION_SLACK_MS),
      [LABEL_KIND]: kind,
      [LABEL_OWNER]: PROCESS_OWNER,
    };
  }

  private async openAllowlist(
    allowHosts: string[],
    options: { executionId: string; deadline: number },
  ): Promise<NetworkSession> {
    if (allowHosts.length === 0) {
      throw new BoxrunError('INVALID_REQUEST', "network 'allowlist' needs allowHosts", {
        details: { path: 'allowHosts' },
      });
    }
    const name = `boxrun-allow-${options.executionId.slice(0, 8)}-${randomBytes(4).toString('hex')}`;
    let network: Docker.Network | null = null;
    let proxy: Docker.Container | null = null;
    const close = async () => {
      const p = proxy;
      const n = network;
      proxy = null;
      network = null;
      if (p) await p.remove({ force: true }).catch(() => {});
      if (n) await removeNetwork(n);
    };
    try {
      network = await this.docker.createNetwork({
        Name: name,
        Driver: 'bridge',
        // No gateway and no NAT: the only way out is the proxy.
        Internal: true,
        CheckDuplicate: true,
        Labels: this.labels(options.executionId, options.deadline, 'allowlist-network'),
      });
      const info = await network.inspect();
      const subnet: string | undefined = info.IPAM?.Config?.[0]?.Subnet;
      if (!subnet) throw new BoxrunError('SANDBOX_FAILED', `network ${name} has no IPv4 subnet`);
      proxy = await this.docker.createContainer({
        Image: this.config.proxyImage,
        Entrypoint: [],
        Cmd: ['node', '--input-type=module', '-e', await egressProxyScript()],
        Env: [
          `ALLOW=${allowHosts.join(',')}`,
          `LISTEN_SUBNET=${subnet}`,
          `PORT=${EGRESS_PROXY_PORT}`,
          `READY=${EGRESS_PROXY_READY}`,
        ],
        User: '65534:65534',
        Hostname: 'egress-proxy',
        Labels: this.labels(options.executionId, options.deadline, 'egress-proxy'),
        HostConfig: {
          NetworkMode: name,
          ReadonlyRootfs: true,
          CapDrop: ['ALL'],
          SecurityOpt: ['no-new-privileges'],
          Memory: 128 * 1024 * 1024,
          MemorySwap: 128 * 1024 * 1024,
          PidsLimit: 64,
          NanoCpus: 1e9,
          // Explicit, because rootful Podman would ask for 1048576 of each (see podman-executor.ts).
          Ulimits: [
            { Name: 'nofile', Soft: 1024, Hard: 1024 },
            { Name: 'nproc', Soft: 32768, Hard: 32768 },
          ],
        },
      });
      // The second leg, attached before start so the script sees both interfaces at once.
      await this.docker.getNetwork(this.config.egressNetwork).connect({ Container: proxy.id });
      const logs = (await proxy.attach({ stream: true, stdout: true, stderr: true })) as unknown as Duplex;
      await proxy.start();
      const address = await waitForReady(logs, PROXY_READY_TIMEOUT_MS);
      const url = `http://${address}`;
      return {
        policy: 'allowlist',
        networkMode: name,
        buildNetworkMode: name,
        env: {
          HTTP_PROXY: url,
          HTTPS_PROXY: url,
          http_proxy: url,
          https_proxy: url,
          NO_PROXY: 'localhost,127.0.0.1,::1',
          no_proxy: 'localhost,127.0.0.1,::1',
        },
        close,
      };
    } catch (error) {
      await close();
      if (error instanceof BoxrunError) throw error;
      if (isNotFound(error) && proxy === null) {
        throw new BoxrunError(
          'IMAGE_NOT_FOUND',
          `the allowlist egress proxy needs image ${this.config.proxyImage} (node 18): run 'boxrun images build javascript'`,
          { cause: error },
        );
      }
      throw translateEngineError(error, 'setting up the allowlist network');
    }
  }
}

/** The proxy says where it listens once it does; anything else within the time is a failure. */
function waitForReady(stream: Duplex, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const done = (error: Error | null, address?: string) => {
      clearTimeout(timer);
      stream.removeAllListeners('data');
      stream.destroy();
      if (error) reject(error);
      else resolve(address!);
    };
    const timer = setTimeout(
      () =>
        done(
          new BoxrunError(
            'SANDBOX_FAILED',
            `egress proxy not ready within ${timeoutMs} ms${text ? `: ${text.slice(-500)}` : ''}`,
          ),
        ),
      timeoutMs,
    );
    stream.on('data', (chunk: Buffer) => {
      // Docker's multiplexed frames: the 8-byte headers sit between lines, never inside the one we want.
      text += chunk.toString('utf8');
      const m = new RegExp(`${EGRESS_PROXY_READY} ([0-9.]+:[0-9]+)`).exec(text);
      if (m) done(null, m[1]);
    });
    stream.on('end', () =>
      done(new BoxrunError('SANDBOX_FAILED', `egress proxy exited: ${text.slice(-500)}`)),
    );
  });
}

async function removeNetwork(network: Docker.Network): Promise<void> {
  // The sandbox's endpoint can take a moment to go after the container is removed.
  for (let attempt = 0; attempt < 10; attempt++) {
    try {
      await network.remove();
      return;
    } catch (error) {
      if (isNotFound(error)) return;
      await new Promise((r) => setTimeout(r, 300 * (attempt + 1)));
    }
  }
  // Left for the reaper (labelled with a deadline).
}

/**
 * Removes boxrun networks past their deadline (plus grace) that no container uses any more; what a
 * crashed process left behind. Never throws.
 */
export async function reapNetworks(docker: Docker, now: number, graceMs: number): Promise<number> {
  let removed = 0;
  try {
    const list = await docker.listNetworks({ filters: { label: [`${LABEL_MANAGED}=true`] } });
    for (const n of list) {
      const deadline = Number(n.Labels?.[LABEL_DEADLINE] ?? 0);
      if (!(deadline > 0 && now > deadline + graceMs)) continue;
      try {
        await docker.getNetwork(n.Id).remove();
        removed++;
      } catch {
        // still in use (its containers are reaped first) or gone
      }
    }
  } catch {
    // engine unreachable
  }
  return removed;
}

import { randomBytes, randomUUID } from 'node:crypto';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectEngine } from '../../src/backends/docker/engine.js';
import { LABEL_DEADLINE, LABEL_EXECUTION, LABEL_MANAGED } from '../../src/backends/docker/labels.js';
import type { DockerExecutor } from '../../src/backends/selection/executors.js';
import { loadConfig } from '../../src/config/config.js';
import { dockerExecutor } from '../helpers.js';

/** The policies under test are off by default (config network.allowedPolicies). */
const OPEN_POLICIES: ('none' | 'localhost' | 'allowlist' | 'full')[] = [
  'none',
  'localhost',
  'allowlist',
  'full',
];

/**
 * Two HTTP servers on a network this test creates on this machine ("allowed.test" and
 * "blocked.test"), never an outside address. The executor uses that network as its egress network,
 * so `full` sandboxes and the allowlist proxy's outside leg are attached to it.
 */
const SERVER = [
  'import http.server, sys',
  'name = sys.argv[1]',
  'class H(http.server.BaseHTTPRequestHandler):',
  '    def do_GET(self):',
  '        body = (name + "\\n").encode()',
  '        self.send_response(200)',
  '        self.send_header("content-length", str(len(body)))',
  '        self.end_headers()',
  '        self.wfile.write(body)',
  '    def log_message(self, *a): pass',
  'http.server.ThreadingHTTPServer(("0.0.0.0", 8080), H).serve_forever()',
].join('\n');

/** Tries each way out and prints one line per attempt; run inside the sandbox. */
const PROBE = [
  'import os, socket, sys, urllib.request',
  'allowed_ip, blocked_ip = sys.argv[1], sys.argv[2]',
  'def http(url):',
  '    try:',
  '        with urllib.request.urlopen(url, timeout=5) as r: return r.read().decode().strip()',
  '    except urllib.error.HTTPError as e: return f"http {e.code}"',
  '    except Exception as e: return f"failed {type(e).__name__}"',
  'def raw(ip):',
  '    try:',
  '        socket.create_connection((ip, 8080), timeout=3).close(); return "connected"',
  '    except OSError as e: return "failed"',
  'def dns(name):',
  '    try: socket.getaddrinfo(name, 8080); return "resolved"',
  '    except OSError: return "failed"',
  'print("allowed-name", http("http://allowed.test:8080/"))',
  'print("blocked-name", http("http://blocked.test:8080/"))',
  'print("raw-allowed", raw(allowed_ip))',
  'print("raw-blocked", raw(blocked_ip))',
  'print("dns-blocked", dns("blocked.test"))',
  'print("dns-outside", dns("deb.debian.org"))',
  'print("proxy", "set" if os.environ.get("HTTP_PROXY") else "unset")',
].join('\n');

function parse(stdout: string): Record<string, string> {
  return Object.fromEntries(
    stdout
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf(' ')), l.slice(l.indexOf(' ') + 1)]),
  );
}

describe('network policies', () => {
  let docker: Docker;
  let egressName: string;
  const servers: Docker.Container[] = [];
  const ips: Record<string, string> = {};
  let executor: DockerExecutor;
  const labels = () => ({
    [LABEL_MANAGED]: 'true',
    [LABEL_EXECUTION]: 'network-test',
    [LABEL_DEADLINE]: String(Date.now() + 15 * 60_000),
  });

  beforeAll(async () => {
    ({ docker } = await connectEngine(loadConfig().docker.host));
    egressName = `boxrun-test-egress-${randomBytes(4).toString('hex')}`;
    await docker.createNetwork({ Name: egressName, Driver: 'bridge', Labels: labels() });
    for (const name of ['allowed', 'blocked']) {
      const c = await docker.createContainer({
        Image: 'boxrun/python:3.11',
        Entrypoint: [],
        Cmd: ['python3', '-c', SERVER, name],
        User: '1000:1000',
        Labels: labels(),
        HostConfig: {
          NetworkMode: egressName,
          ReadonlyRootfs: true,
          CapDrop: ['ALL'],
          SecurityOpt: ['no-new-privileges'],
          Memory: 128 * 1024 * 1024,
        },
        NetworkingConfig: { EndpointsConfig: { [egressName]: { Aliases: [`${name}.test`] } } },
      });
      servers.push(c);
      await c.start();
      const info = await c.inspect();
      ips[name] = info.NetworkSettings.Networks[egressName]!.IPAddress;
    }
    executor = dockerExecutor({
      network: { allowedPolicies: OPEN_POLICIES, egressNetwork: egressName },
      images: { allowBuilds: true },
    });
  });

  afterAll(async () => {
    await executor?.close();
    for (const c of servers) await c.remove({ force: true }).catch(() => {});
    if (egressName)
      await docker
        .getNetwork(egressName)
        .remove()
        .catch(() => {});
  });

  const probe = (
    network: 'none' | 'localhost' | 'allowlist' | 'full',
    allowHosts: string[] = [],
    id?: string,
  ) =>
    executor.execute(
      {
        runtime: 'python',
        files: [{ path: 'probe.py', content: PROBE }],
        argv: [ips.allowed!, ips.blocked!],
        network,
        allowHosts,
        limits: { timeoutMs: 60_000 },
      },
      id ? { id } : {},
    );

  it('allowlist: reaches the listed host through the proxy, nothing else, and cleans up', async () => {
    const id = randomUUID();
    const r = await probe('allowlist', ['allowed.test:8080'], id);
    expect(r.stderr).toBe('');
    expect(parse(r.stdout)).toEqual({
      'allowed-name': 'allowed',
      // The proxy refuses names that are not listed.
      'blocked-name': 'http 403',
      // The internal network has no route anywhere: only the proxy is reachable.
      'raw-allowed': 'failed',
      'raw-blocked': 'failed',
      'dns-blocked': 'failed',
      'dns-outside': 'failed',
      proxy: 'set',
    });
    // The per-execution network and proxy are gone once the executor has cleaned up.
    await executor.close();
    executor = dockerExecutor({
      network: { allowedPolicies: OPEN_POLICIES, egressNetwork: egressName },
      images: { allowBuilds: true },
    });
    const nets = await docker.listNetworks({ filters: { label: [`${LABEL_EXECUTION}=${id}`] } });
    const containers = await docker.listContainers({
      all: true,
      filters: { label: [`${LABEL_EXECUTION}=${id}`] },
    });
    expect(nets).toEqual([]);
    expect(containers).toEqual([]);
  });

  it('allowlist: matches the port too, and tunnels HTTPS-style CONNECT only to listed pairs', async () => {
    const code = [
      'import os, socket, urllib.parse',
      'proxy = urllib.parse.urlparse(os.environ["HTTP_PROXY"])',
      'def connect(target):',
      '    s = socket.create_connection((proxy.hostname, proxy.port), timeout=5)',
      '    s.sendall(f"CONNECT {target} HTTP/1.1\\r\\nHost: {target}\\r\\n\\r\\n".encode())',
      '    status = s.recv(4096).split(b"\\r\\n")[0].decode()',
      '    if " 200 " in status:',
      '        s.sendall(b"GET / HTTP/1.0\\r\\nHost: x\\r\\n\\r\\n")',
      '        data = b""',
      '        while chunk := s.recv(4096): data += chunk',
      '        status += " body=" + data.split(b"\\r\\n\\r\\n", 1)[1].decode().strip()',
      '    return status',
      'print(connect("allowed.test:8080"))',
      'print(connect("blocked.test:8080"))',
      'print(connect("allowed.test:8081"))',
    ].join('\n');
    const r = await executor.execute({
      runtime: 'python',
      files: [{ path: 'c.py', content: code }],
      network: 'allowlist',
      allowHosts: ['allowed.test:8080'],
    });
    expect(r.stderr).toBe('');
    expect(r.stdout.trim().split('\n')).toEqual([
      'HTTP/1.1 200 Connection Established body=allowed',
      'HTTP/1.1 403 Forbidden',
      'HTTP/1.1 403 Forbidden',
    ]);
  });

  it('none: neither server is reachable, by name or by address', async () => {
    const r = await probe('none');
    const out = parse(r.stdout);
    expect(out['allowed-name']).toMatch(/^failed/);
    expect(out['blocked-name']).toMatch(/^failed/);
    expect(out['raw-allowed']).toBe('failed');
    expect(out['raw-blocked']).toBe('failed');
    expect(out.proxy).toBe('unset');
  });

  it('localhost: a server on 127.0.0.1 in the sandbox is reachable from the same sandbox, nothing else', async () => {
    const code = [
      'import http.server, threading, urllib.request, socket, sys',
      's = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)',
      'threading.Thread(target=s.serve_forever, daemon=True).start()',
      'print(urllib.request.urlopen(f"http://127.0.0.1:{s.server_port}/hello.txt", timeout=5).read().decode())',
      'try: socket.create_connection((sys.argv[1], 8080), timeout=3); print("outside reachable")',
      'except OSError: print("outside unreachable")',
    ].join('\n');
    const r = await executor.execute({
      runtime: 'python',
      files: [
        { path: 'a.py', content: code },
        { path: 'hello.txt', content: 'served locally' },
      ],
      argv: [ips.allowed!],
      network: 'localhost',
    });
    expect(r).toHaveStatus('ok');
    expect(r.stdout).toBe('served locally\noutside unreachable\n');
  });

  it('full: both servers are reachable directly', async () => {
    const r = await probe('full');
    const out = parse(r.stdout);
    expect(out['allowed-name']).toBe('allowed');
    expect(out['blocked-name']).toBe('blocked');
    expect(out['raw-allowed']).toBe('connected');
    expect(out['raw-blocked']).toBe('connected');
  });

  it('refuses a policy the configuration does not allow, with FORBIDDEN', async () => {
    const strict = dockerExecutor({ network: { allowedPolicies: ['none'], egressNetwork: egressName } });
    try {
      await expect(
        strict.execute({ runtime: 'bash', files: [{ path: 'a.sh', content: 'true' }], network: 'full' }),
      ).rejects.toMatchObject({ code: 'FORBIDDEN', message: expect.stringMatching(/network policy 'full'/) });
    } finally {
      await strict.close();
    }
  });

  it('rejects allowlist without hosts and hosts without allowlist', async () => {
    await expect(
      executor.execute({ runtime: 'bash', files: [{ path: 'a.sh', content: '' }], network: 'allowlist' }),
    ).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
    await expect(
      executor.execute({
        runtime: 'bash',
        files: [{ path: 'a.sh', content: '' }],
        allowHosts: ['a.test:80'],
      }),
    ).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
  });

  it('builds a Dockerfile that fetches from a listed host, and fails one that fetches from another', async () => {
    const fetch = (host: string) =>
      [
        'FROM boxrun/python:3.11',
        `# ${randomUUID()}`,
        `RUN python3 -c "import urllib.request; open('/fetched', 'w').write(urllib.request.urlopen('http://${host}:8080/', timeout=10).read().decode())"`,
      ].join('\n');
    const ok = await executor.execute({
      dockerfile: fetch('allowed.test'),
      command: ['cat', '/fetched'],
      network: 'allowlist',
      allowHosts: ['allowed.test:8080'],
    });
    expect(ok).toHaveStatus('ok');
    expect(ok.stdout).toBe('allowed\n');
    const refused = await executor.execute({
      dockerfile: fetch('blocked.test'),
      command: ['cat', '/fetched'],
      network: 'allowlist',
      allowHosts: ['allowed.test:8080'],
    });
    expect(refused).toHaveStatus('build_error');
    expect(refused.build?.log).toMatch(/403/);
    const built = [ok.build?.image, refused.build?.image].filter((i): i is string => !!i);
    for (const image of built)
      await docker
        .getImage(image)
        .remove()
        .catch(() => {});
  });
});

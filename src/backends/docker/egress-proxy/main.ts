/**
 * The allowlist egress proxy, run with `node --input-type=module -e` in its own locked-down
 * container (see ../network-policy.ts): node built-ins only, no import from boxrun, because it
 * runs in the proxy image's node (18), not in boxrun. It listens only on its address in the
 * sandbox's internal network and forwards exactly two things, each checked against ALLOW
 * (`host:port,…`, `*.suffix` allowed): HTTP requests in absolute form (`GET http://host:port/…`,
 * what HTTP_PROXY makes clients send) and CONNECT tunnels (`CONNECT host:port`, what HTTPS_PROXY
 * makes clients send). Every decision is one JSON line on stdout. Names are resolved here, never in
 * the sandbox. Environment: ALLOW, LISTEN_SUBNET, PORT, READY (the line printed once it listens).
 */
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';

interface Rule {
  host: string;
  port: number;
}

const strip = (h: unknown): string =>
  String(h)
    .toLowerCase()
    .replace(/^\[|\]$/g, '')
    .replace(/\.$/, '');

const rules: Rule[] = (process.env.ALLOW || '')
  .split(',')
  .filter(Boolean)
  .map((r) => {
    const i = r.lastIndexOf(':');
    return { host: strip(r.slice(0, i)), port: Number(r.slice(i + 1)) };
  });

function allowed(host: string, port: string | number): boolean {
  const h = strip(host);
  const p = Number(port);
  return rules.some(
    (r) =>
      r.port === p &&
      (r.host === h ||
        (r.host.startsWith('*.') && h.endsWith(r.host.slice(1)) && h.length > r.host.length - 1)),
  );
}

function log(allow: boolean, kind: 'http' | 'connect', host: string, port: string | number): void {
  process.stdout.write(`${JSON.stringify({ allow, kind, host: strip(host), port: Number(port) })}\n`);
}

function toInt(a: string): number {
  return a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
}

function inSubnet(ip: string, cidr: string): boolean {
  const [base = '', bits] = cidr.split('/');
  const b = Number(bits);
  const mask = b === 0 ? 0 : (0xffffffff << (32 - b)) >>> 0;
  return (toInt(ip) & mask) >>> 0 === (toInt(base) & mask) >>> 0;
}

const address = Object.values(os.networkInterfaces())
  .flat()
  .find((a) => a && a.family === 'IPv4' && inSubnet(a.address, process.env.LISTEN_SUBNET || ''));
if (!address) {
  console.error(`no interface in ${process.env.LISTEN_SUBNET}`);
  process.exit(2);
}

function refuse(res: http.ServerResponse, code: number, text: string): void {
  res.writeHead(code, { 'content-type': 'text/plain', connection: 'close' });
  res.end(`boxrun egress proxy: ${text}\n`);
}

const server = http.createServer((req, res) => {
  let url: URL;
  try {
    url = new URL(req.url ?? '');
  } catch {
    return refuse(res, 400, 'send absolute http:// URLs (use me as HTTP_PROXY)');
  }
  if (url.protocol !== 'http:')
    return refuse(res, 400, 'only http:// is forwarded; https goes through CONNECT');
  const port = Number(url.port || 80);
  if (!allowed(url.hostname, port)) {
    log(false, 'http', url.hostname, port);
    return refuse(res, 403, `${strip(url.hostname)}:${port} is not on the allow list`);
  }
  log(true, 'http', url.hostname, port);
  const { 'proxy-connection': _connection, 'proxy-authorization': _authorization, ...headers } = req.headers;
  const up = http.request(
    {
      host: strip(url.hostname),
      port,
      method: req.method,
      path: url.pathname + url.search,
      headers,
      setHost: false,
    },
    (r) => {
      res.writeHead(r.statusCode || 502, r.headers);
      r.pipe(res);
    },
  );
  up.setTimeout(120_000, () => up.destroy());
  up.on('error', (e: NodeJS.ErrnoException) => {
    if (!res.headersSent) refuse(res, 502, e.code || 'upstream error');
    else res.destroy();
  });
  req.pipe(up);
});

server.on('connect', (req: http.IncomingMessage, sock: net.Socket, head: Buffer) => {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+):(\d{1,5})$/.exec(req.url || '');
  sock.on('error', () => {});
  if (!m || !allowed(m[1]!, m[2]!)) {
    log(false, 'connect', m ? m[1]! : String(req.url).slice(0, 200), m ? m[2]! : 0);
    sock.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n');
    return;
  }
  log(true, 'connect', m[1]!, m[2]!);
  const up = net.connect({ host: strip(m[1]), port: Number(m[2]) });
  up.setTimeout(300_000, () => up.destroy());
  up.once('connect', () => {
    sock.write('HTTP/1.1 200 Connection Established\r\n\r\n');
    if (head?.length) up.write(head);
    up.pipe(sock);
    sock.pipe(up);
  });
  up.on('error', () => {
    if (!sock.destroyed) sock.end('HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n');
  });
  sock.on('close', () => up.destroy());
});

server.on('clientError', (_e, s) => s.destroy());
const port = Number(process.env.PORT || 3128);
const listenOn = address!.address;
server.listen(port, listenOn, () => console.log(`${process.env.READY} ${listenOn}:${port}`));

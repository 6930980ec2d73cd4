import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:net';
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attack, expectHostAndBoxrunFine, keyValues, program, securityExecutor } from './harness.js';

/** The docker0 bridge's address on this host (the sandbox's would-be gateway), if there is one. */
function bridgeGateway(): string {
  const addr = networkInterfaces().docker0?.find((a) => a.family === 'IPv4')?.address;
  return addr ?? '172.17.0.1';
}

function listen(server: Server, ...args: unknown[]): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    (server.listen as (...a: unknown[]) => void)(...args, () => resolve());
  });
}

/**
 * NetworkMode none leaves the sandbox only `lo`: a connect to any other address fails locally with
 * ENETUNREACH before a packet is sent. The targets are on this machine only: a server the test
 * binds on the bridge gateway and an abstract unix socket in the host's network namespace, each
 * counting the connections it receives.
 */
describe('security: network', () => {
  const executor = securityExecutor();
  const gateway = bridgeGateway();
  const accepted = { tcp: 0, abstract: 0 };
  const tcpServer = createServer((s) => {
    accepted.tcp++;
    s.destroy();
  });
  const abstractName = `boxrun-sec-${randomUUID()}`;
  const abstractServer = createServer((s) => {
    accepted.abstract++;
    s.destroy();
  });
  let tcpPort = 0;
  let gatewayBound = false;

  beforeAll(async () => {
    try {
      await listen(tcpServer, 0, gateway);
      gatewayBound = true;
    } catch {
      await listen(tcpServer, 0, '127.0.0.1'); // no docker0 here: the loopback server still counts
    }
    tcpPort = (tcpServer.address() as { port: number }).port;
    await listen(abstractServer, `\0${abstractName}`);
  });
  afterAll(async () => {
    tcpServer.close();
    abstractServer.close();
    await executor.close();
  });

  it('reaches no address but its own loopback: egress, host gateway, engine ports, metadata, DNS, raw sockets', async () => {
    // Positive control for the listeners: the host itself can connect to both.
    const { connect } = await import('node:net');
    await new Promise<void>((resolve, reject) => {
      const s = connect(tcpPort, gatewayBound ? gateway : '127.0.0.1', () => resolve());
      s.on('error', reject);
    });
    await new Promise<void>((resolve, reject) => {
      const s = connect(`\0${abstractName}`, () => resolve());
      s.on('error', reject);
    });
    await new Promise((r) => setTimeout(r, 100));
    expect(accepted).toEqual({ tcp: 1, abstract: 1 });

    const code = `
import errno, socket
def attempt(name, family, kind, addr, udp=False):
    s = socket.socket(family, kind)
    s.settimeout(3)
    try:
        if udp: s.sendto(b"x", addr)
        else: s.connect(addr)
        print(f"{name}=connected")
    except OSError as e:
        print(f"{name}={errno.errorcode.get(e.errno, e.errno) if e.errno else type(e).__name__}")
    finally:
        s.close()
attempt("gateway_test_port", socket.AF_INET, socket.SOCK_STREAM, ("${gateway}", ${tcpPort}))
attempt("gateway_2375", socket.AF_INET, socket.SOCK_STREAM, ("${gateway}", 2375))
attempt("gateway_2376", socket.AF_INET, socket.SOCK_STREAM, ("${gateway}", 2376))
attempt("metadata", socket.AF_INET, socket.SOCK_STREAM, ("169.254.169.254", 80))
attempt("private_10", socket.AF_INET, socket.SOCK_STREAM, ("10.0.0.1", 443))
attempt("public", socket.AF_INET, socket.SOCK_STREAM, ("192.0.2.1", 80))
attempt("udp_gateway_dns", socket.AF_INET, socket.SOCK_DGRAM, ("${gateway}", 53), udp=True)
attempt("ipv6_public", socket.AF_INET6, socket.SOCK_STREAM, ("2001:db8::1", 80))
attempt("own_loopback_2375", socket.AF_INET, socket.SOCK_STREAM, ("127.0.0.1", 2375))
attempt("host_abstract_socket", socket.AF_UNIX, socket.SOCK_STREAM, "\\0${abstractName}")
for name, fam, kind in [("raw_icmp", socket.AF_INET, socket.SOCK_RAW), ("packet", socket.AF_PACKET, socket.SOCK_RAW)]:
    try:
        socket.socket(fam, kind, socket.IPPROTO_ICMP if fam == socket.AF_INET else 0); print(f"{name}=opened")
    except OSError as e:
        print(f"{name}={errno.errorcode[e.errno]}")
try:
    socket.getaddrinfo("deb.debian.org", 80); print("dns=resolved")
except socket.gaierror as e:
    print("dns=failed")
print("interfaces=" + ",".join(sorted(n for _, n in socket.if_nameindex())))
print("routes=" + str(len(open("/proc/net/route").read().splitlines()) - 1))
`;
    const r = await attack(executor, program('python', code, { limits: { timeoutMs: 20_000 } }));
    expect(r).toHaveStatus('ok');
    expect(keyValues(r.stdout)).toEqual({
      gateway_test_port: 'ENETUNREACH',
      gateway_2375: 'ENETUNREACH',
      gateway_2376: 'ENETUNREACH',
      metadata: 'ENETUNREACH',
      private_10: 'ENETUNREACH',
      public: 'ENETUNREACH',
      udp_gateway_dns: 'ENETUNREACH',
      ipv6_public: expect.stringMatching(/^(ENETUNREACH|EADDRNOTAVAIL|EAFNOSUPPORT)$/),
      // Its loopback is its own network namespace's: nothing of the host's listens there.
      own_loopback_2375: 'ECONNREFUSED',
      // Abstract unix sockets belong to a network namespace (the containerd-shim CVE-2020-15257
      // class): the host's are out of reach.
      host_abstract_socket: 'ECONNREFUSED',
      raw_icmp: 'EPERM',
      packet: 'EPERM',
      dns: 'failed',
      interfaces: 'lo',
      routes: '0',
    });
    // Nothing arrived at the host-side listeners beyond the control connections.
    expect(accepted).toEqual({ tcp: 1, abstract: 1 });
    await expectHostAndBoxrunFine(executor, r.id);
  });
});

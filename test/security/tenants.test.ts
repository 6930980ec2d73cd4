import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import type { ExecutionResult } from '../../src/core/result.js';
import { attack, expectHostAndBoxrunFine, keyValues, program, securityExecutor } from './harness.js';

describe('security: other tenants', () => {
  const executor = securityExecutor();
  afterAll(() => executor.close());

  it("two concurrent executions see none of each other's files, processes, sockets or shared memory", async () => {
    const secret = `tenant-a-${randomUUID()}`;
    // Tenant A leaves traces everywhere it can write, holds a listening abstract socket and a
    // marked process, then waits while B looks for them.
    const tenantA = `
import os, socket, subprocess, time
for d in ("/box", "/tmp", "/dev/shm"):
    open(os.path.join(d, "${secret}"), "w").write("${secret}")
s = socket.socket(socket.AF_UNIX); s.bind("\\0${secret}"); s.listen()
subprocess.Popen(["bash", "-c", "exec -a ${secret} sleep 60"])
print("ready", flush=True)
time.sleep(6)
`;
    const tenantB = `
import errno, os, socket
found = []
for d in ("/box", "/tmp", "/dev/shm"):
    found += [os.path.join(d, n) for n in os.listdir(d) if "${secret}" in n]
procs = [p for p in os.listdir("/proc") if p.isdigit()]
for p in procs:
    try:
        if b"${secret}" in open(f"/proc/{p}/cmdline", "rb").read(): found.append(f"process {p}")
    except OSError:
        pass
print("found=" + ",".join(found))
print("processes=" + str(len(procs)))
s = socket.socket(socket.AF_UNIX)
try:
    s.connect("\\0${secret}"); print("abstract=connected")
except OSError as e:
    print("abstract=" + errno.errorcode[e.errno])
print("hostname=" + socket.gethostname())
`;
    let startB!: () => void;
    const aReady = new Promise<void>((resolve) => {
      startB = resolve;
    });
    const runA = attack(executor, program('python', tenantA, { limits: { timeoutMs: 20_000 } }), {
      onOutput: (_s, chunk) => {
        if (chunk.toString().includes('ready')) startB();
      },
    });
    let b!: ExecutionResult & { id: string };
    const runB = aReady.then(async () => {
      b = await attack(executor, program('python', tenantB));
    });
    const [a] = await Promise.all([runA, runB]);
    expect(a).toHaveStatus('ok');
    expect(b).toHaveStatus('ok');
    const kv = keyValues(b.stdout);
    expect(kv.found).toBe('');
    // B sees its supervisor, its interpreter and nothing else: a PID namespace of its own.
    expect(Number(kv.processes)).toBeLessThanOrEqual(3);
    // Abstract sockets are per network namespace; each sandbox has its own.
    expect(kv.abstract).toBe('ECONNREFUSED');
    expect(kv.hostname).toBe('sandbox');
    await expectHostAndBoxrunFine(executor, a.id, { marker: secret });
    await expectHostAndBoxrunFine(executor, b.id);
  });
});

import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABEL_DEADLINE, LABEL_KIND } from '../../src/backends/docker/labels.js';
import type { DockerExecutor } from '../../src/backends/selection/executors.js';
import { loadConfig } from '../../src/config/config.js';
import { isBoxrunError } from '../../src/core/errors.js';
import { runPythonCode } from '../../src/sessions/python.js';
import { SessionManager } from '../../src/sessions/session-manager.js';
import { dockerExecutor } from '../helpers.js';

let executor: DockerExecutor;
let manager: SessionManager;

beforeAll(() => {
  executor = dockerExecutor();
  manager = new SessionManager({
    config: loadConfig({ overrides: { network: { allowedPolicies: ['none', 'localhost', 'full'] } } }),
    engines: executor,
    maxPerKey: 2,
  });
});

afterAll(async () => {
  await manager.close();
  await executor.close();
});

const waitFor = async (check: () => boolean | Promise<boolean>, ms: number) => {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
};

describe('sessions', () => {
  it('keeps files and installed state between commands of one session, not across sessions', async () => {
    const a = await manager.create({ runtime: 'python' });
    const b = await manager.create({ runtime: 'python' });
    try {
      const chunks: string[] = [];
      const first = await a.run(
        'echo hello > greeting.txt && mkdir -p /tmp/state && echo 1 > /tmp/state/x && echo done',
        {
          onStdout: (c) => chunks.push(c.toString()),
        },
      );
      expect(first).toHaveStatus('ok');
      expect(first.exitCode).toBe(0);
      expect(chunks.join('')).toBe('done\n');
      const second = await a.run([
        'python3',
        '-c',
        'print(open("greeting.txt").read().strip(), open("/tmp/state/x").read().strip())',
      ]);
      expect(second.stdout).toBe('hello 1\n');
      const other = await b.run('cat greeting.txt');
      expect(other.exitCode).not.toBe(0);
      expect(other.stderr).toMatch(/No such file/);
    } finally {
      await Promise.all([a.close(), b.close()]);
    }
  });

  it('reports exit codes and kills what a command left running when it ends', async () => {
    const s = await manager.create({ runtime: 'python' });
    try {
      const failed = await s.run('exit 7');
      expect(failed).toHaveStatus('runtime_error');
      expect(failed.exitCode).toBe(7);
      await s.run('(sleep 30 &) ; echo started');
      const ps = await s.run('cat /proc/[0-9]*/comm');
      // Only the supervisor, this cat and its shell: the sleep from the previous command is gone.
      expect(ps.stdout).not.toMatch(/sleep/);
      expect(ps.stdout).toMatch(/boxrun-sv/);
      const slow = await s.run('sleep 5', { timeoutMs: 300 });
      expect(slow).toHaveStatus('time_limit');
      const after = await s.run('echo alive');
      expect(after.stdout).toBe('alive\n');
    } finally {
      await s.close();
    }
  });

  it('writes, reads, lists and deletes files', async () => {
    const s = await manager.create({ runtime: 'python' });
    try {
      await s.files.write('src/a.txt', 'first');
      await s.files.write('src/a.txt', 'second'); // overwrite
      await s.files.write('run.sh', '#!/bin/sh\necho ran\n', { executable: true });
      expect(await s.files.read('src/a.txt')).toBe('second');
      const root = await s.files.list('.');
      expect(root.map((e) => [e.name, e.type])).toEqual([
        ['run.sh', 'file'],
        ['src', 'dir'],
      ]);
      expect(root.find((e) => e.name === 'run.sh')?.mode).toBe(0o755);
      expect((await s.files.list('src'))[0]).toMatchObject({ name: 'a.txt', path: 'src/a.txt', size: 6 });
      expect((await s.run('./run.sh')).stdout).toBe('ran\n');
      await s.files.remove('src');
      expect(await s.files.exists('src/a.txt')).toBe(false);
      await expect(s.files.read('src/a.txt')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(s.files.list('nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(s.files.remove('nope')).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(s.files.write('../escape', 'x')).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
      await expect(s.files.read('/etc/passwd')).rejects.toMatchObject({ code: 'INVALID_REQUEST' });
    } finally {
      await s.close();
    }
  });

  it('answers a program that prompts, through an interactive command', async () => {
    const s = await manager.create({ runtime: 'python' });
    try {
      await s.files.write('ask.py', 'a = input("name? ")\nb = input("age? ")\nprint(f"hi {a}, {b}")\n');
      let out = '';
      const prompts: ((v: string) => void)[] = [];
      const handle = s.start(['python3', '-u', 'ask.py'], {
        interactive: true,
        onStdout: (c) => {
          out += c.toString();
          if (out.endsWith('? ')) prompts.shift()?.(out);
        },
      });
      const asked = (n: number) =>
        new Promise<string>((resolve) => {
          if ((out.match(/\? /g) ?? []).length >= n) resolve(out);
          else prompts.push(resolve);
        });
      expect(await asked(1)).toBe('name? ');
      handle.sendStdin('Ada\n');
      expect(await asked(2)).toBe('name? age? ');
      handle.sendStdin('36\n');
      const result = await handle.result;
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toBe('name? age? hi Ada, 36\n');
      expect(handle.sendStdin('late\n')).toBe(false);
      // The session goes on after an interactive command.
      expect((await s.run('echo next')).stdout).toBe('next\n');
    } finally {
      await s.close();
    }
  });

  it('kills a running command on request and keeps the session', async () => {
    const s = await manager.create({ runtime: 'python' });
    try {
      const handle = s.start('sleep 20', { interactive: true });
      await handle.started;
      handle.kill();
      const result = await handle.result;
      // Killed, not run to the end of its 20 s sleep.
      expect(result.durationMs).toBeLessThan(18_000);
      expect((await s.run('echo still here')).stdout).toBe('still here\n');
    } finally {
      await s.close();
    }
  });

  it('labels its container for the reaper and ends it after the idle TTL', async () => {
    const before = Date.now();
    const s = await manager.create({ runtime: 'python', idleTimeoutMs: 1500, maxLifetimeMs: 120_000 });
    const { docker } = await executor.engine();
    const containers = await docker.listContainers({
      all: true,
      filters: { label: [`boxrun.execution=${s.id}`] },
    });
    expect(containers).toHaveLength(1);
    const labels = containers[0]!.Labels;
    expect(labels[LABEL_KIND]).toBe('session');
    expect(Number(labels[LABEL_DEADLINE])).toBeGreaterThanOrEqual(before + 120_000);
    expect(Number(labels[LABEL_DEADLINE])).toBeLessThan(Date.now() + 120_000 + 120_000);
    await s.run('sleep 2'); // a running command is not idle time
    expect(s.state).toBe('running');
    expect(await waitFor(() => s.state === 'closed', 10_000)).toBe(true);
    expect(s.closedReason).toBe('idle timeout');
    expect(() => manager.get(s.id)).toThrow(/no session/);
    await expect(s.run('true')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(
      await waitFor(
        async () =>
          (await docker.listContainers({ all: true, filters: { label: [`boxrun.execution=${s.id}`] } }))
            .length === 0,
        10_000,
      ),
    ).toBe(true);
  });

  it('ends a session at its max lifetime even while a command runs', async () => {
    const s = await manager.create({ runtime: 'python', maxLifetimeMs: 2000 });
    const result = s.run('sleep 30');
    await expect(result).resolves.toMatchObject({ status: 'internal_error' });
    expect(s.closedReason).toBe('max lifetime');
  });

  it('limits sessions per key', async () => {
    const one = await manager.create({ runtime: 'python', key: 'k1' });
    const two = await manager.create({ runtime: 'python', key: 'k1' });
    try {
      const third = manager.create({ runtime: 'python', key: 'k1' });
      await expect(third).rejects.toMatchObject({ code: 'RATE_LIMITED' });
      const other = await manager.create({ runtime: 'python', key: 'k2' });
      await other.close();
      expect(() => manager.get(one.id, 'k2')).toThrow(/no session/);
      expect(manager.get(one.id, 'k1')).toBe(one);
    } finally {
      await Promise.all([one.close(), two.close()]);
    }
  });

  it('refuses network policies it cannot give a session', async () => {
    const error = await manager.create({ runtime: 'python', network: 'allowlist' }).catch((e) => e);
    expect(isBoxrunError(error, 'INVALID_REQUEST')).toBe(true);
    expect(error.message).toMatch(/network/);
  });

  it('runPythonCode fails cleanly when requirements cannot be installed without network', async () => {
    const result = await runPythonCode(manager, 'print(1)', {
      requirements: ['boxrun-no-such-package==1.0'],
      timeoutMs: 60_000,
    });
    expect(result).toHaveStatus('runtime_error');
    expect(result.install).not.toBeNull();
    expect(result.message).toMatch(/installing requirements failed/);
    expect(result.stdout + result.stderr).toMatch(
      /No matching distribution|Could not find a version|network|resolve/i,
    );
    expect(manager.size).toBe(0);
  });

  it('runPythonCode without requirements runs the code', async () => {
    const result = await runPythonCode(manager, 'import sys\nprint(sys.version_info[0])', {});
    expect(result.stdout).toBe('3\n');
    expect(result.install).toBeNull();
  });

  it('refuses requirement strings that are options', async () => {
    await expect(
      runPythonCode(manager, 'print(1)', { requirements: ['--index-url=http://evil/'] }),
    ).rejects.toMatchObject({
      code: 'INVALID_REQUEST',
    });
  });

  it('installs requirements from wheels shipped into the session, for later commands of that session only', async () => {
    const s = await manager.create({ runtime: 'python' });
    const other = await manager.create({ runtime: 'python' });
    try {
      await s.files.write('build_wheel.py', BUILD_WHEEL);
      expect((await s.run('python3 build_wheel.py')).exitCode).toBe(0);
      const result = await runPythonCode(manager, 'import boxrun_demo\nprint(boxrun_demo.greet("session"))', {
        session: s,
        requirements: ['boxrun-demo==1.0'],
        findLinks: ['/box/dist'],
        noIndex: true,
      });
      expect(result.install).toMatchResult({ status: 'ok', exitCode: 0 });
      expect(result.install?.stdout).toMatch(/Successfully installed boxrun-demo-1.0/);
      expect(result.stdout).toBe('hello session from a wheel\n');
      expect((await s.run(['python3', '-c', 'import boxrun_demo'])).exitCode).toBe(0);
      expect((await other.run(['python3', '-c', 'import boxrun_demo'])).stderr).toMatch(
        /ModuleNotFoundError/,
      );
    } finally {
      await Promise.all([s.close(), other.close()]);
    }
  });

  it("installs requirements from a package index when the network policy is 'full'", async (ctx) => {
    // A local simple index on the engine's bridge address: nothing outside this machine.
    const { docker } = await executor.engine();
    const bridge = (await docker.getNetwork('bridge').inspect()) as {
      IPAM?: { Config?: { Gateway?: string; Subnet?: string }[] };
    };
    const ipam = bridge.IPAM?.Config?.[0];
    // Engines that do not list the gateway use the subnet's first address (docker0's own).
    const subnetBase = ipam?.Subnet?.match(/^(\d+\.\d+\.\d+\.)(\d+)\/\d+$/);
    const gateway =
      ipam?.Gateway ?? (subnetBase ? `${subnetBase[1]}${Number(subnetBase[2]) + 1}` : undefined);
    if (!gateway) return ctx.skip(); // no default bridge on this engine: nothing to serve the index on
    const builder = await manager.create({ runtime: 'python' });
    let wheel: Buffer;
    try {
      await builder.files.write('build_wheel.py', BUILD_WHEEL);
      await builder.run('python3 build_wheel.py');
      wheel = await builder.files.readBytes('dist/boxrun_demo-1.0-py3-none-any.whl');
    } finally {
      await builder.close();
    }
    const sha = createHash('sha256').update(wheel).digest('hex');
    const server = createServer((req, res) => {
      if (req.url === '/simple/boxrun-demo/') {
        res.setHeader('content-type', 'text/html');
        res.end(
          `<a href="/files/boxrun_demo-1.0-py3-none-any.whl#sha256=${sha}">boxrun_demo-1.0-py3-none-any.whl</a>`,
        );
      } else if (req.url === '/files/boxrun_demo-1.0-py3-none-any.whl') {
        res.end(wheel);
      } else {
        res.statusCode = 404;
        res.end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, gateway, resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const result = await runPythonCode(manager, 'import boxrun_demo\nprint(boxrun_demo.greet("index"))', {
        network: 'full',
        requirements: ['boxrun-demo'],
        indexUrl: `http://${gateway}:${port}/simple/`,
      });
      expect(result.install?.stdout).toMatch(/Successfully installed boxrun-demo-1.0/);
      expect(result.stdout).toBe('hello index from a wheel\n');
    } finally {
      server.close();
    }
  });
});

/** Writes dist/boxrun_demo-1.0-py3-none-any.whl: a wheel is a zip with its metadata and RECORD. */
const BUILD_WHEEL = `import base64, hashlib, os, zipfile
os.makedirs("dist", exist_ok=True)
name, ver = "boxrun_demo", "1.0"
info = f"{name}-{ver}.dist-info"
files = {
    f"{name}/__init__.py": b'def greet(who):\\n    return f"hello {who} from a wheel"\\n',
    f"{info}/METADATA": b"Metadata-Version: 2.1\\nName: boxrun-demo\\nVersion: 1.0\\n",
    f"{info}/WHEEL": b"Wheel-Version: 1.0\\nGenerator: boxrun-test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
}
record = []
for path, data in files.items():
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    record.append(f"{path},sha256={digest},{len(data)}")
record.append(f"{info}/RECORD,,")
files[f"{info}/RECORD"] = ("\\n".join(record) + "\\n").encode()
with zipfile.ZipFile(f"dist/{name}-{ver}-py3-none-any.whl", "w") as z:
    for path, data in files.items():
        z.writestr(path, data)
`;

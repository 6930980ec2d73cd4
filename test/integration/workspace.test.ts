import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectEngine } from '../../src/backends/docker/engine.js';
import { probeNamespaceSupport } from '../../src/backends/namespace/namespace-executor.js';
import { DockerExecutor, NamespaceExecutor } from '../../src/backends/selection/executors.js';
import { type BoxrunConfig, loadConfig } from '../../src/config/config.js';
import type { Executor } from '../../src/core/executor.js';
import { cacheVolumeName, resolveWorkspace } from '../../src/workspaces/resolve-workspace.js';

/** The owner of what a sandbox writes into a workspace: deliberately not the default 1000. */
const OWNER = { uid: 2345, gid: 2345 };

let root: string;
let outside: string;
let config: BoxrunConfig;

const makefile = [
  'CFLAGS ?= -O2 -Wall',
  'build/hello: hello.c | build',
  '\t$(CC) $(CFLAGS) -o $@ $<',
  'build:',
  '\tmkdir -p build',
  '',
].join('\n');

/** A small C project checked out under the allowed root, owned by the workspace user. */
function checkout(name: string): string {
  const dir = join(root, name);
  mkdirSync(dir);
  writeFileSync(join(dir, 'Makefile'), makefile);
  writeFileSync(
    join(dir, 'hello.c'),
    '#include <stdio.h>\nint main(void){puts("built in a sandbox");return 0;}\n',
  );
  execFileSync('chown', ['-R', `${OWNER.uid}:${OWNER.gid}`, dir]);
  return dir;
}

beforeAll(() => {
  root = mkdtempSync('/tmp/boxrun-ws-root-');
  // The namespace executor binds as the workspace uid: every parent must be searchable by it.
  chmodSync(root, 0o755);
  outside = mkdtempSync('/tmp/boxrun-ws-outside-');
  writeFileSync(join(outside, 'secret.txt'), 'host secret');
  config = loadConfig({ overrides: { workspaces: { allowedRoots: [root], ...OWNER } } });
});
afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  rmSync(outside, { recursive: true, force: true });
});

describe('workspace path resolution', () => {
  it('is off unless allowed roots are configured', () => {
    expect(() => resolveWorkspace({ hostPath: root, mode: 'ro' }, loadConfig().workspaces)).toThrow(
      expect.objectContaining({ code: 'FORBIDDEN' }),
    );
  });

  it('refuses a path outside the allowed roots', () => {
    expect(() => resolveWorkspace({ hostPath: outside, mode: 'ro' }, config.workspaces)).toThrow(
      expect.objectContaining({ code: 'FORBIDDEN' }),
    );
    expect(() => resolveWorkspace({ hostPath: '/etc', mode: 'ro' }, config.workspaces)).toThrow(
      expect.objectContaining({ code: 'FORBIDDEN' }),
    );
  });

  it("refuses '..' that leads out of the root, and accepts '..' that stays inside", () => {
    mkdirSync(join(root, 'a'), { recursive: true });
    expect(() =>
      resolveWorkspace(
        { hostPath: `${root}/a/../../${outside.split('/').pop()}`, mode: 'ro' },
        config.workspaces,
      ),
    ).toThrow(expect.objectContaining({ code: 'FORBIDDEN' }));
    expect(resolveWorkspace({ hostPath: `${root}/a/..`, mode: 'ro' }, config.workspaces).hostPath).toBe(root);
  });

  it('refuses a symlink inside the root that points outside it', () => {
    symlinkSync('/etc', join(root, 'etc-link'));
    expect(() =>
      resolveWorkspace({ hostPath: join(root, 'etc-link'), mode: 'ro' }, config.workspaces),
    ).toThrow(
      expect.objectContaining({ code: 'FORBIDDEN', message: expect.stringMatching(/resolves to \/etc/) }),
    );
  });

  it('refuses relative paths and paths that do not exist', () => {
    expect(() => resolveWorkspace({ hostPath: 'tmp/x', mode: 'ro' }, config.workspaces)).toThrow(
      expect.objectContaining({ code: 'INVALID_REQUEST' }),
    );
    expect(() => resolveWorkspace({ hostPath: join(root, 'nope'), mode: 'ro' }, config.workspaces)).toThrow(
      expect.objectContaining({ code: 'INVALID_REQUEST' }),
    );
  });
});

const backends: [string, () => Executor, string | null][] = [
  ['docker', () => new DockerExecutor({ config }), null],
  [
    'namespace',
    () => new NamespaceExecutor({ config }),
    probeNamespaceSupport(loadConfig()).problems.join('; ') || null,
  ],
];

for (const [name, make, skip] of backends) {
  if (skip) console.warn(`workspace tests on ${name} skipped: ${skip}`);
  describe.skipIf(skip !== null)(`${name}: host workspaces`, () => {
    let executor: Executor;
    beforeAll(() => {
      executor = make();
    });
    const caches: string[] = [];
    afterAll(async () => {
      await executor.close();
      for (const cache of caches) {
        if (name === 'docker') {
          const { docker } = await connectEngine(config.docker.host);
          await docker.getVolume(cacheVolumeName(cache)).remove();
        } else rmSync(join(config.stateDir, 'caches', cache), { recursive: true, force: true });
      }
    });

    it('runs make on a read-write workspace and writes the artefacts back owned by the configured uid:gid', async () => {
      const project = checkout(`make-${name}`);
      const r = await executor.execute({
        runtime: 'c',
        // The c runtime compiles its main file first; the build itself is the command.
        files: [{ path: 'main.c', content: 'int main(void){return 0;}' }],
        command: ['sh', '-c', 'make -C /workspace && /workspace/build/hello && id -u'],
        workspace: { hostPath: project, mode: 'rw' },
      });
      expect(r).toHaveStatus('ok');
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/built in a sandbox\n2345\n$/);
      const artefact = statSync(join(project, 'build', 'hello'));
      expect([artefact.uid, artefact.gid]).toEqual([OWNER.uid, OWNER.gid]);
      expect(execFileSync(join(project, 'build', 'hello'), { encoding: 'utf8' })).toBe(
        'built in a sandbox\n',
      );
    });

    it('mounts a workspace read-only unless rw is asked for', async () => {
      const project = checkout(`ro-${name}`);
      const r = await executor.execute({
        runtime: 'bash',
        command: ['sh', '-c', 'cat /workspace/hello.c | head -1; touch /workspace/x 2>&1 || echo refused'],
        workspace: { hostPath: project },
      });
      expect(r.stdout).toMatch(/#include <stdio.h>\n[\s\S]*refused\n$/);
      expect(() => statSync(join(project, 'x'))).toThrow();
    });

    it("resolves a symlink inside the workspace in the sandbox's view, never the host's", async () => {
      const project = checkout(`link-${name}`);
      symlinkSync('/etc', join(project, 'etc-link'));
      symlinkSync(outside, join(project, 'outside-link'));
      const r = await executor.execute({
        runtime: 'bash',
        command: [
          'sh',
          '-c',
          'grep -c "^box:" /workspace/etc-link/passwd; cat /workspace/outside-link/secret.txt 2>&1 || echo no-secret',
        ],
        workspace: { hostPath: project },
      });
      // /etc inside is the image's: it has the sandbox user 'box', and the outside dir does not exist.
      expect(r.stdout).toMatch(/^1\n[\s\S]*no-secret\n$/);
      expect(r.stdout).not.toContain('host secret');
      expect(readFileSync('/etc/passwd', 'utf8')).not.toMatch(/^box:/m);
    });

    it('refuses escapes before anything runs', async () => {
      for (const hostPath of [outside, '/etc', `${root}/../${outside.split('/').pop()}`, 'relative/path']) {
        await expect(
          executor.execute({
            runtime: 'bash',
            files: [{ path: 'a.sh', content: 'true' }],
            workspace: { hostPath },
          }),
        ).rejects.toMatchObject({ code: expect.stringMatching(/FORBIDDEN|INVALID_REQUEST/) });
      }
    });

    it('keeps a named cache volume between executions, writable by the workspace user', async () => {
      const cacheVolume = `test-${name}-${process.pid}`;
      const write = await executor.execute({
        runtime: 'bash',
        command: ['sh', '-c', 'echo cached > /cache/entry && id -u'],
        cacheVolume,
      });
      expect(write.stdout).toBe('2345\n');
      const read = await executor.execute({ runtime: 'bash', command: ['cat', '/cache/entry'], cacheVolume });
      expect(read.stdout).toBe('cached\n');
      caches.push(cacheVolume);
    });
  });
}

import type Docker from 'dockerode';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { connectEngine } from '../../src/backends/docker/engine.js';
import { loadConfig } from '../../src/config/config.js';
import { api, eventually, spawnServe, tempDir } from './service-harness.js';

const { dir, remove } = tempDir();
afterAll(() => remove());

async function containerOf(docker: Docker, sessionId: string) {
  const list = await docker.listContainers({
    all: true,
    filters: { label: [`boxrun.execution=${sessionId}`] },
  });
  return list[0];
}

describe('sessions in `boxrun serve`', () => {
  it('serves /v1/sessions and ends sessions cleanly on a graceful stop', async () => {
    const { url, child, exited } = await spawnServe(`${dir}/a.db`);
    const { docker } = await connectEngine(loadConfig().docker.host);
    try {
      const created = await api(url, 'POST', '/v1/sessions', { runtime: 'python' });
      expect(created.status).toBe(201);
      const id = created.json.id as string;
      const ran = await api(url, 'POST', `/v1/sessions/${id}/commands`, { command: 'echo $((6*7))' });
      expect(ran.json).toMatchResult({ status: 'ok', stdout: '42\n' });
      // The attach WebSocket through the service's own app (auth hook, error mapping).
      const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/sessions/${id}/attach`);
      const exit = new Promise<{ result: { stdout: string } }>((resolve) =>
        ws.on('message', (raw) => {
          const m = JSON.parse(raw.toString());
          if (m.type === 'exit') resolve(m);
        }),
      );
      await new Promise((resolve) => ws.on('open', resolve));
      ws.send(JSON.stringify({ type: 'init', command: 'tr a-z A-Z' }));
      ws.send(JSON.stringify({ type: 'data', stream: 'stdin', data: 'shout\n' }));
      ws.send(JSON.stringify({ type: 'eof' }));
      expect((await exit).result.stdout).toBe('SHOUT\n');
      expect((await containerOf(docker, id))?.State).toBe('running');
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(await containerOf(docker, id)).toBeUndefined();
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('does not keep a session past a crash: its supervisor exits, leaving a stopped container for the reaper', async () => {
    const { url, child, exited } = await spawnServe(`${dir}/b.db`);
    const { docker } = await connectEngine(loadConfig().docker.host);
    const created = await api(url, 'POST', '/v1/sessions', { runtime: 'python', maxLifetimeMs: 600_000 });
    const id = created.json.id as string;
    child.kill('SIGKILL');
    await exited;
    // The attach connection dropped: boxrun-sv read EOF and exited, so the container stopped.
    const info = await eventually(async () => {
      const c = await containerOf(docker, id);
      return c && c.State !== 'running' ? c : undefined;
    }, 30_000);
    expect(info.Labels['boxrun.kind']).toBe('session');
    expect(Number(info.Labels['boxrun.deadline'])).toBeGreaterThan(Date.now() + 500_000);
    // The reaper of the next start removes exited boxrun containers (and any past its deadline);
    // it is not run here, where it would also sweep other tests' containers on a shared engine.
    await docker.getContainer(info.Id).remove({ force: true });
  });
});

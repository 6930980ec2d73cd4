import type Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import { labelContainersOf, parseRunLabel } from './run-label.js';

function fakeClient() {
  const created: Docker.ContainerCreateOptions[] = [];
  const docker = {
    createContainer: async (options: Docker.ContainerCreateOptions) => {
      created.push(options);
      return {} as Docker.Container;
    },
  } as unknown as Docker;
  return { docker, created };
}

describe('run label', () => {
  it('parses key=value and refuses anything else', () => {
    expect(parseRunLabel('boxrun.testrun=abc')).toEqual(['boxrun.testrun', 'abc']);
    expect(parseRunLabel('')).toBeNull();
    expect(parseRunLabel(undefined)).toBeNull();
    expect(parseRunLabel('=abc')).toBeNull();
    expect(parseRunLabel('novalue')).toBeNull();
  });

  it('adds the label to every container the client creates, keeping the others, once', async () => {
    const { docker, created } = fakeClient();
    labelContainersOf(docker, 'boxrun.testrun=r1');
    labelContainersOf(docker, 'boxrun.testrun=r1');
    await docker.createContainer({ Image: 'x', Labels: { 'boxrun.managed': 'true' } });
    await docker.createContainer({ Image: 'y' });
    expect(created.map((c) => c.Labels)).toEqual([
      { 'boxrun.managed': 'true', 'boxrun.testrun': 'r1' },
      { 'boxrun.testrun': 'r1' },
    ]);
  });

  it('leaves the client alone without a run label', async () => {
    const { docker, created } = fakeClient();
    labelContainersOf(docker, undefined);
    await docker.createContainer({ Image: 'x' });
    expect(created[0]?.Labels).toBeUndefined();
  });
});

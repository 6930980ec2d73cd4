import type Docker from 'dockerode';

const LABELLED = Symbol('boxrun.runLabel');

/** `key=value` → [key, value]; null for an empty or malformed label. */
export function parseRunLabel(runLabel: string | undefined): [string, string] | null {
  if (!runLabel) return null;
  const eq = runLabel.indexOf('=');
  if (eq <= 0) return null;
  return [runLabel.slice(0, eq), runLabel.slice(eq + 1)];
}

/**
 * Puts config.docker.runLabel on every container this client creates — sandboxes, pool and session
 * containers, network proxies, helper containers — whoever in the process creates them. A test run
 * sets it (scripts/test.sh, vitest.config.ts) so its leftover check counts only what that run
 * created, not a `boxrun serve` someone runs next to it on the same engine. Idempotent per client.
 */
export function labelContainersOf(docker: Docker, runLabel: string | undefined): void {
  const label = parseRunLabel(runLabel);
  const client = docker as Docker & { [LABELLED]?: true };
  if (!label || client[LABELLED]) return;
  client[LABELLED] = true;
  const [key, value] = label;
  const create = docker.createContainer.bind(docker);
  client.createContainer = ((options: Docker.ContainerCreateOptions) =>
    create({ ...options, Labels: { ...options.Labels, [key]: value } })) as typeof docker.createContainer;
}

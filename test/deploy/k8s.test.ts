import { existsSync, readdirSync } from 'node:fs';
import { DaemonSet } from 'kubernetes-models/apps/v1/DaemonSet';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { defaultConfig, loadConfig } from '../../src/config/config.js';
import {
  clusterContract,
  configEnvNames,
  deployPath,
  isObject,
  modelDeclaration,
  readYamlDocuments,
  unknownFields,
  type Yaml,
} from './manifests.js';

/**
 * deploy/k8s/*.yaml: every object validated by kubernetes-models (types, enums, required fields,
 * formats from the Kubernetes OpenAPI), checked for keys the API doesn't have, and held to the
 * cluster contract (roles, env names, probe paths, ports, drain).
 */

const models = {
  'v1/Namespace': { model: Namespace, group: 'v1' },
  'v1/ConfigMap': { model: ConfigMap, group: 'v1' },
  'v1/Secret': { model: Secret, group: 'v1' },
  'v1/Service': { model: Service, group: 'v1' },
  'apps/v1/Deployment': { model: Deployment, group: 'apps/v1' },
  'apps/v1/DaemonSet': { model: DaemonSet, group: 'apps/v1' },
  'policy/v1/PodDisruptionBudget': { model: PodDisruptionBudget, group: 'policy/v1' },
} as const;

const k8sDir = deployPath('k8s');
const manifestFiles = readdirSync(k8sDir).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
const objects = manifestFiles.flatMap((file) =>
  readYamlDocuments(deployPath('k8s', file)).map((obj) => ({ file, obj })),
);
const port = defaultConfig({}).server.port;

const envVar = z.object({ name: z.string(), value: z.string().optional() });
const container = z.object({
  name: z.string(),
  image: z.string().optional(),
  args: z.array(z.string()).optional(),
  restartPolicy: z.string().optional(),
  env: z.array(envVar).optional(),
  envFrom: z
    .array(
      z.object({
        configMapRef: z.object({ name: z.string() }).optional(),
        secretRef: z.object({ name: z.string() }).optional(),
      }),
    )
    .optional(),
  ports: z.array(z.object({ name: z.string().optional(), containerPort: z.number() })).optional(),
  readinessProbe: z
    .object({ httpGet: z.object({ path: z.string(), port: z.union([z.string(), z.number()]) }) })
    .optional(),
  livenessProbe: z
    .object({ httpGet: z.object({ path: z.string(), port: z.union([z.string(), z.number()]) }) })
    .optional(),
  volumeMounts: z.array(z.object({ name: z.string(), mountPath: z.string() })).optional(),
});
type Container = z.infer<typeof container>;
const podSpec = z.object({
  terminationGracePeriodSeconds: z.number().optional(),
  nodeSelector: z.record(z.string(), z.string()).optional(),
  initContainers: z.array(container).optional(),
  containers: z.array(container),
  volumes: z.array(
    z.object({
      name: z.string(),
      hostPath: z.object({ path: z.string(), type: z.string().optional() }).optional(),
      emptyDir: z.object({}).optional(),
    }),
  ),
});
const workload = z.object({
  kind: z.string(),
  metadata: z.object({ name: z.string() }),
  spec: z.object({
    replicas: z.number().optional(),
    selector: z.object({ matchLabels: z.record(z.string(), z.string()) }),
    template: z.object({ metadata: z.object({ labels: z.record(z.string(), z.string()) }), spec: podSpec }),
  }),
});
type Workload = z.infer<typeof workload>;

function find(kind: string, name: string): Yaml {
  const hit = objects.find(
    ({ obj }) => obj.kind === kind && (obj.metadata as Yaml | undefined)?.name === name,
  );
  if (!hit) throw new Error(`no ${kind} ${name} in deploy/k8s`);
  return hit.obj;
}
const workloadNamed = (kind: string, name: string): Workload => workload.parse(find(kind, name));
const mainContainer = (w: Workload): Container => {
  const c = w.spec.template.spec.containers[0];
  if (!c) throw new Error(`${w.metadata.name} has no container`);
  return c;
};

/** A container's environment as the kubelet builds it: envFrom (ConfigMap, Secret), then env. */
function effectiveEnv(c: Container): Record<string, string> {
  const env: Record<string, string> = {};
  for (const source of c.envFrom ?? []) {
    if (source.configMapRef) Object.assign(env, find('ConfigMap', source.configMapRef.name).data);
    if (source.secretRef) Object.assign(env, find('Secret', source.secretRef.name).stringData);
  }
  for (const { name, value } of c.env ?? []) env[name] = value ?? '';
  return env;
}

const api = () => workloadNamed('Deployment', 'boxrun-api');
const workers = () => [
  workloadNamed('DaemonSet', 'boxrun-worker'),
  workloadNamed('Deployment', 'boxrun-worker-dind'),
];

describe('deploy/k8s manifests', () => {
  it('holds the expected objects, each in the boxrun namespace', () => {
    expect(objects.map(({ obj }) => `${obj.kind}/${(obj.metadata as Yaml).name}`).sort()).toEqual([
      'ConfigMap/boxrun-config',
      'DaemonSet/boxrun-worker',
      'Deployment/boxrun-api',
      'Deployment/boxrun-worker-dind',
      'Namespace/boxrun',
      'PodDisruptionBudget/boxrun-api',
      'PodDisruptionBudget/boxrun-worker-dind',
      'Secret/boxrun-cluster',
      'Service/boxrun-api',
    ]);
    for (const { obj } of objects)
      if (obj.kind !== 'Namespace') expect((obj.metadata as Yaml).namespace).toBe('boxrun');
  });

  it.each(
    objects.map(({ file, obj }) => [`${file}: ${obj.kind}/${(obj.metadata as Yaml).name}`, obj] as const),
  )('%s is valid under the Kubernetes API schema (kubernetes-models) and has no unknown field', (_, obj) => {
    const entry = models[`${obj.apiVersion}/${obj.kind}` as keyof typeof models];
    expect(entry, `${obj.apiVersion} ${obj.kind} is not one the tests know`).toBeDefined();
    if (!entry) return;
    expect(() => new entry.model(obj as never).validate()).not.toThrow();
    expect(unknownFields(obj, modelDeclaration(entry.group, String(obj.kind)))).toEqual([]);
  });

  it('has checks that reject a wrong type and a misspelled field', () => {
    const bad = structuredClone(find('Deployment', 'boxrun-api')) as {
      spec: Yaml & { template: { spec: Yaml } };
    };
    bad.spec.replicas = 'two';
    expect(() => new Deployment(bad as never).validate()).toThrow(/replicas/);
    const typo = structuredClone(find('DaemonSet', 'boxrun-worker')) as {
      spec: { template: { spec: Yaml } };
    };
    const [worker] = typo.spec.template.spec.containers as Yaml[];
    if (worker) worker.readinesProbe = worker.readinessProbe;
    typo.spec.template.spec.terminationGracePeriod = 150;
    expect(unknownFields(typo, modelDeclaration('apps/v1', 'DaemonSet')).sort()).toEqual([
      'spec.template.spec.containers[0].readinesProbe',
      'spec.template.spec.terminationGracePeriod',
    ]);
  });

  it('runs the API as `serve --role api` (2 replicas) and workers as `serve --role worker`', () => {
    expect(mainContainer(api()).args).toEqual(clusterContract.serveArgs('api'));
    expect(api().spec.replicas).toBe(2);
    for (const w of workers())
      expect(mainContainer(w).args, w.metadata.name).toEqual(clusterContract.serveArgs('worker'));
  });

  it('gives every node the same Redis and PostgreSQL URLs and webhook secret from one Secret, and the same limits', () => {
    const shared = [
      clusterContract.env.redis,
      clusterContract.env.storeUrl,
      'BOXRUN_SERVER_WEBHOOK_SECRET',
      'BOXRUN_MAX_LIMITS_TIMEOUT_MS',
    ];
    const apiEnv = effectiveEnv(mainContainer(api()));
    expect(apiEnv[clusterContract.env.redis]).toMatch(/^rediss?:\/\//);
    expect(apiEnv[clusterContract.env.storeUrl]).toMatch(/^postgres(ql)?:\/\//);
    for (const w of workers()) {
      const env = effectiveEnv(mainContainer(w));
      for (const name of shared) expect(env[name], `${w.metadata.name} ${name}`).toBe(apiEnv[name]);
    }
    const secret = find('Secret', 'boxrun-cluster').stringData as Yaml;
    expect(Object.keys(secret)).toEqual(
      expect.arrayContaining([
        clusterContract.env.redis,
        clusterContract.env.storeUrl,
        'BOXRUN_SERVER_WEBHOOK_SECRET',
      ]),
    );
    // The role comes from args only, never from a second source that could disagree.
    expect(apiEnv[clusterContract.env.role]).toBeUndefined();
  });

  it('sets only BOXRUN_* names that src/config reads, with values it accepts', () => {
    const known = configEnvNames(defaultConfig({}) as unknown as Yaml);
    const contractNames: string[] = Object.values(clusterContract.env);
    for (const w of [api(), ...workers()]) {
      for (const c of [...(w.spec.template.spec.initContainers ?? []), ...w.spec.template.spec.containers]) {
        const env = effectiveEnv(c);
        for (const key of Object.keys(env).filter((k) => k.startsWith('BOXRUN_')))
          expect(known.has(key) || contractNames.includes(key), `${w.metadata.name}/${c.name}: ${key}`).toBe(
            true,
          );
        if (!c.image?.startsWith('boxrun-server')) continue;
        expect(() => loadConfig({ env, file: '/dev/null' }), `${w.metadata.name}/${c.name}`).not.toThrow();
      }
    }
  });

  it('probes readiness on /readyz and liveness on /healthz at the port src/config serves on', () => {
    const configMap = find('ConfigMap', 'boxrun-config').data as Yaml;
    expect(configMap.BOXRUN_SERVER_PORT).toBe(String(port));
    expect(configMap.BOXRUN_SERVER_HOST).toBe('0.0.0.0');
    for (const w of [api(), ...workers()]) {
      const c = mainContainer(w);
      const http = c.ports?.find((p) => p.name === 'http');
      expect(http?.containerPort, w.metadata.name).toBe(port);
      expect(c.readinessProbe?.httpGet, w.metadata.name).toEqual({
        path: clusterContract.probes.readiness,
        port: 'http',
      });
      expect(c.livenessProbe?.httpGet, w.metadata.name).toEqual({
        path: clusterContract.probes.liveness,
        port: 'http',
      });
      const annotations = (find(w.kind, w.metadata.name) as { spec: { template: { metadata: Yaml } } }).spec
        .template.metadata.annotations as Yaml;
      expect(annotations['prometheus.io/path']).toBe(clusterContract.probes.metrics);
      expect(annotations['prometheus.io/port']).toBe(String(port));
    }
  });

  it('sends the Service to API pods only, and each PodDisruptionBudget to its own pods', () => {
    const service = find('Service', 'boxrun-api') as { spec: { selector: Yaml; ports: Yaml[] } };
    const matches = (selector: Yaml, w: Workload) =>
      Object.entries(selector).every(([k, v]) => w.spec.template.metadata.labels[k] === v);
    expect(matches(service.spec.selector, api())).toBe(true);
    for (const w of workers()) expect(matches(service.spec.selector, w)).toBe(false);
    expect(service.spec.ports).toEqual([{ name: 'http', port: 80, targetPort: 'http' }]);
    const apiPdb = find('PodDisruptionBudget', 'boxrun-api') as { spec: { selector: { matchLabels: Yaml } } };
    expect(matches(apiPdb.spec.selector.matchLabels, api())).toBe(true);
    const dindPdb = find('PodDisruptionBudget', 'boxrun-worker-dind') as {
      spec: { selector: { matchLabels: Yaml } };
    };
    const [daemonSet, dind] = workers();
    if (!daemonSet || !dind) throw new Error('workers missing');
    expect(matches(dindPdb.spec.selector.matchLabels, dind)).toBe(true);
    expect(matches(dindPdb.spec.selector.matchLabels, daemonSet)).toBe(false);
    // Each workload's selector picks its own pods, not the other's.
    const all = [api(), daemonSet, dind];
    for (const w of all)
      for (const other of all.filter((o) => o !== w))
        expect(
          matches(w.spec.selector.matchLabels, other),
          `${w.metadata.name} vs ${other.metadata.name}`,
        ).toBe(false);
  });

  it('lets a worker drain: terminationGracePeriodSeconds outlasts the shutdown grace, which covers a compile and a run', () => {
    const maxRunMs = Number((find('ConfigMap', 'boxrun-config').data as Yaml).BOXRUN_MAX_LIMITS_TIMEOUT_MS);
    expect(maxRunMs).toBeGreaterThan(0);
    for (const w of workers()) {
      const graceMs = Number(effectiveEnv(mainContainer(w)).BOXRUN_SERVER_SHUTDOWN_GRACE_MS);
      expect(graceMs, w.metadata.name).toBeGreaterThanOrEqual(2 * maxRunMs);
      const termination = w.spec.template.spec.terminationGracePeriodSeconds ?? 30;
      expect(termination * 1000, w.metadata.name).toBeGreaterThanOrEqual(graceMs + 15_000);
    }
  });

  it('gives the host-engine DaemonSet the node socket on labelled nodes only, and the API no engine at all', () => {
    const daemonSet = workloadNamed('DaemonSet', 'boxrun-worker');
    expect(daemonSet.spec.template.spec.nodeSelector).toEqual({ 'boxrun/engine': 'docker' });
    const socket = daemonSet.spec.template.spec.volumes.find((v) => v.hostPath);
    expect(socket?.hostPath).toEqual({ path: '/var/run/docker.sock', type: 'Socket' });
    for (const c of [...(daemonSet.spec.template.spec.initContainers ?? []), mainContainer(daemonSet)]) {
      expect(effectiveEnv(c).BOXRUN_DOCKER_HOST, c.name).toBe('unix:///var/run/docker.sock');
      expect(c.volumeMounts, c.name).toContainEqual({
        name: socket?.name,
        mountPath: '/var/run/docker.sock',
      });
    }
    const apiSpec = api().spec.template.spec;
    expect(apiSpec.volumes.some((v) => v.hostPath)).toBe(false);
    expect(effectiveEnv(mainContainer(api())).BOXRUN_DOCKER_HOST).toBeUndefined();
  });

  it('gives each DinD worker its engine as a native sidecar on a pod-local socket the worker uses', () => {
    const dind = workloadNamed('Deployment', 'boxrun-worker-dind');
    const [engine, images] = dind.spec.template.spec.initContainers ?? [];
    // restartPolicy Always on an init container = a sidecar, stopped only after the worker exits.
    expect(engine?.restartPolicy).toBe('Always');
    const socketArg = engine?.args?.find((a) => a.startsWith('--host='));
    expect(socketArg).toMatch(/^--host=unix:\/\//);
    const socketPath = socketArg?.slice('--host=unix://'.length) ?? '';
    const socketDir = socketPath.slice(0, socketPath.lastIndexOf('/'));
    for (const c of [images, mainContainer(dind)]) {
      expect(c && effectiveEnv(c).BOXRUN_DOCKER_HOST).toBe(`unix://${socketPath}`);
      expect(c?.volumeMounts).toContainEqual(expect.objectContaining({ mountPath: socketDir }));
    }
    expect(images?.args).toEqual(['images', 'build']);
    expect(dind.spec.template.spec.volumes.some((v) => v.hostPath)).toBe(false);
  });

  it('lists in kustomization.yaml only files that exist, with the host-engine workers by default', () => {
    const [kustomization] = readYamlDocuments(deployPath('k8s', 'kustomization.yaml'));
    const parsed = z
      .object({ kind: z.literal('Kustomization'), namespace: z.string(), resources: z.array(z.string()) })
      .parse(kustomization);
    expect(parsed.namespace).toBe('boxrun');
    for (const r of parsed.resources) expect(existsSync(deployPath('k8s', r)), r).toBe(true);
    expect(parsed.resources).toEqual(['namespace.yaml', 'config.yaml', 'api.yaml', 'worker-daemonset.yaml']);
    expect(isObject(kustomization) && kustomization.images).toBeTruthy();
  });
});

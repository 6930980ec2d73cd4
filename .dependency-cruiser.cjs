/**
 * The layering boxrun keeps (docs/ARCHITECTURE.md), checked by `npm test` (scripts/test.sh):
 * core at the bottom, backends below everything that judges, serves or parses arguments, Fastify
 * only in the service, and no import cycles.
 * @type {import('dependency-cruiser').IForbiddenRuleSetType & import('dependency-cruiser').ICruiseOptions}
 */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'No file imports one that imports it back: a type two layers share lives in the lower one.',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'core-imports-nothing',
      severity: 'error',
      comment: 'core/ (request, result, verdict, errors, executor, plan and step types) is the bottom layer.',
      from: { path: '^src/core/' },
      to: { path: '^src/', pathNot: '^src/core/' },
    },
    {
      name: 'backends-stay-below',
      severity: 'error',
      comment:
        'Backends run steps; they never reach up into judging (the run flow), the service, the CLI or MCP. ' +
        'backends/selection/ is the exception that proves it: it puts the run flow over each backend.',
      from: { path: '^src/backends/', pathNot: '^src/backends/selection/' },
      to: { path: '^src/(server|judge|cli|mcp|sessions|store|queue|executions)/' },
    },
    {
      name: 'selection-stays-below-entry-points',
      severity: 'error',
      comment: 'backends/selection/ builds executors (run flow over a backend); it knows no entry point.',
      from: { path: '^src/backends/selection/' },
      to: { path: '^src/(server|cli|mcp|sessions|store|queue|executions)/' },
    },
    {
      name: 'fastify-only-in-server',
      severity: 'error',
      comment: 'Only the HTTP service knows Fastify.',
      from: { path: '^src/', pathNot: '^src/server/' },
      to: { path: 'node_modules/(fastify|@fastify/|fastify-type-provider-zod)' },
    },
    {
      name: 'bullmq-only-in-cluster',
      severity: 'error',
      comment:
        'BullMQ and ioredis live in executions/cluster/ only, loaded lazily by the cluster roles: role all (npm start) never needs Redis.',
      from: { path: '^src/', pathNot: '^src/executions/cluster/' },
      to: { path: 'node_modules/(bullmq|ioredis)/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '\\.test\\.ts$' },
    parser: 'swc',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] },
  },
};

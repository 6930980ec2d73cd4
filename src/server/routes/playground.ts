import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { BoxrunError } from '../../core/errors.js';
import type { RouteContext } from '../route-context.js';
import { errorSchema, idParamsSchema } from '../schemas.js';

/**
 * The built page lives beside src/ and dist/ (playground/public, built by `npm run build:playground`
 * and committed), so `boxrun serve` needs no front-end toolchain. Both src/server/routes and
 * dist/server/routes are three levels below the package root.
 */
const PUBLIC_DIR = join(import.meta.dirname, '../../../playground/public');

const ASSETS: Record<string, string> = {
  'playground.js': 'text/javascript; charset=utf-8',
  'playground.css': 'text/css; charset=utf-8',
};

// Everything the page needs comes from this origin: it must work on a closed network.
const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/** The page is public (a key is typed into it); the data it loads goes through the authenticated API. */
export const PLAYGROUND_PREFIX = '/playground';

export function registerPlaygroundRoutes(instance: FastifyInstance, ctx: RouteContext): void {
  const app = instance.withTypeProvider<ZodTypeProvider>();
  const cache = new Map<string, Buffer>();
  const file = (name: string): Buffer => {
    let content = cache.get(name);
    if (!content) {
      content = readFileSync(join(PUBLIC_DIR, name));
      cache.set(name, content);
    }
    return content;
  };

  const page = {
    schema: { hide: true },
    handler: async (_request: unknown, reply: import('fastify').FastifyReply) =>
      reply
        .type('text/html; charset=utf-8')
        .header('content-security-policy', CONTENT_SECURITY_POLICY)
        .header('cache-control', 'no-cache')
        .send(file('index.html')),
  };
  app.get(PLAYGROUND_PREFIX, page);
  app.get(`${PLAYGROUND_PREFIX}/`, page);
  app.get(`${PLAYGROUND_PREFIX}/e/:id`, page);

  app.get<{ Params: { name: string } }>(
    `${PLAYGROUND_PREFIX}/assets/:name`,
    { schema: { hide: true } },
    async (request, reply) => {
      const type = ASSETS[request.params.name];
      if (!type) throw new BoxrunError('NOT_FOUND', `no asset ${request.params.name}`);
      return reply.type(type).header('cache-control', 'no-cache').send(file(request.params.name));
    },
  );

  app.get(
    '/v1/executions/:id/request',
    {
      schema: {
        summary: 'The request an execution was submitted with (code, stdin, arguments, tests)',
        description: 'What the playground reloads for a permalink.',
        tags: ['executions'],
        params: idParamsSchema,
        response: {
          200: z.record(z.string(), z.unknown()),
          401: errorSchema,
          403: errorSchema,
          404: errorSchema,
        },
      },
    },
    async (request) => {
      const record = await ctx.service.get(request.params.id);
      if (!record) throw new BoxrunError('NOT_FOUND', `no execution ${request.params.id}`);
      ctx.auth.assertOwner(request.caller, record.caller, `execution ${record.id}`);
      return record.request;
    },
  );
}

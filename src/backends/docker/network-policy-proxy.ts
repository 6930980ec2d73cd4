import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Where the allowlist egress proxy (egress-proxy/main.ts) listens in its network. */
export const EGRESS_PROXY_PORT = 3128;

/** Printed once the proxy listens; the session waits for it before the sandbox starts. */
export const EGRESS_PROXY_READY = 'boxrun-egress-proxy listening';

let script: Promise<string> | null = null;

/**
 * The proxy program as JavaScript for `node --input-type=module -e` in the proxy container. An
 * installed package runs the compiled dist/ (tsc emitted main.js beside this module); a checkout
 * runs src/ through tsx, so there the TypeScript source is transpiled once with esbuild (what tsx
 * itself uses), as bin/boxrun.js does for the CLI: never stale, type-checked and linted like the rest.
 */
export function egressProxyScript(): Promise<string> {
  script ??= (async () => {
    const compiled = fileURLToPath(new URL('./egress-proxy/main.js', import.meta.url));
    if (existsSync(compiled)) return readFileSync(compiled, 'utf8');
    const source = readFileSync(fileURLToPath(new URL('./egress-proxy/main.ts', import.meta.url)), 'utf8');
    const { transform } = await import('esbuild');
    const { code } = await transform(source, { loader: 'ts', format: 'esm', target: 'node18' });
    return code;
  })();
  script.catch(() => {
    script = null;
  });
  return script;
}

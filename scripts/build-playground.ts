// Bundles the playground (CodeMirror 6 + the client SDK) into playground/public/playground.js, the
// file `boxrun serve` sends. The bundle is committed, so running boxrun needs no front-end
// toolchain; test/e2e/playground.test.ts checks it is what these options build from the sources.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = join(import.meta.dirname, '..');
export const PLAYGROUND_BUNDLE = join(root, 'playground/public/playground.js');

/** The bundle's text; deterministic for the same sources and esbuild version. */
export async function buildPlaygroundBundle(): Promise<string> {
  const result = await build({
    entryPoints: [join(root, 'playground/src/main.ts')],
    bundle: true,
    format: 'iife',
    target: ['es2022'],
    platform: 'browser',
    minify: true,
    legalComments: 'none',
    charset: 'utf8',
    write: false,
    logLevel: 'silent',
  });
  const [output] = result.outputFiles;
  if (!output) throw new Error('esbuild produced no output');
  return `/* boxrun playground: built by npm run build:playground from playground/src; do not edit */\n${output.text}`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const text = await buildPlaygroundBundle();
  writeFileSync(PLAYGROUND_BUNDLE, text);
  console.log(`wrote ${PLAYGROUND_BUNDLE} (${(text.length / 1024).toFixed(0)} KiB)`);
}

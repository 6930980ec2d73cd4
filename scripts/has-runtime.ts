// Exits 0 when the engine has the named OCI runtime registered (for the test script), 1 otherwise.
import { connectEngine } from '../src/backends/docker/engine.js';
import { engineRuntimes } from '../src/backends/docker/gvisor.js';
import { loadConfig } from '../src/config/config.js';

const { docker } = await connectEngine(loadConfig().docker.host);
process.exit((await engineRuntimes(docker)).includes(process.argv[2] ?? 'runsc') ? 0 : 1);

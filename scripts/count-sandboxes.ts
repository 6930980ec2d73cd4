// Prints how many containers labelled boxrun.managed that this test run created (its run label,
// config.docker.runLabel) exist on the engine; every boxrun.managed one when no run label is set.
import { connectEngine } from '../src/backends/docker/engine.js';
import { LABEL_MANAGED } from '../src/backends/docker/labels.js';
import { loadConfig } from '../src/config/config.js';

const config = loadConfig();
const { docker } = await connectEngine(config.docker.host);
const label = [`${LABEL_MANAGED}=true`, ...(config.docker.runLabel ? [config.docker.runLabel] : [])];
const list = await docker.listContainers({ all: true, filters: { label } });
console.log(list.length);

// Prints how many containers labelled boxrun.managed exist on the engine (for the test script).
import { connectEngine } from '../src/backends/docker/engine.js';
import { LABEL_MANAGED } from '../src/backends/docker/labels.js';
import { loadConfig } from '../src/config/config.js';

const { docker } = await connectEngine(loadConfig().docker.host);
const list = await docker.listContainers({ all: true, filters: { label: [`${LABEL_MANAGED}=true`] } });
console.log(list.length);

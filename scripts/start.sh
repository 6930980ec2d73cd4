#!/usr/bin/env bash
# The main job: set everything up (idempotent), then start the HTTP service (docs/service.md).
# Extra arguments go to `boxrun serve` (e.g. --port 9000); BOXRUN_* variables configure it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec node bin/boxrun.js serve "$@"

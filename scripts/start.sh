#!/usr/bin/env bash
# The main job: set everything up (idempotent), then run it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec node bin/boxrun.js "${@:-run examples/hello.py}"

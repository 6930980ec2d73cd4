#!/usr/bin/env bash
# Shared set-up for the two README commands: Node deps, the Docker engine, the runtime images.
# Idempotent: on a machine that has everything it takes a few seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1; }
if ! need node || ! need npm; then
  echo "boxrun: Node.js 20+ and npm are required (https://nodejs.org or your distribution's nodejs package)." >&2
  exit 69
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
  echo "boxrun: Node.js 20+ is required, found $(node --version)." >&2
  exit 69
fi

stamp=node_modules/.boxrun-lock-hash
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "boxrun: installing Node dependencies" >&2
  # `npm install` from the lock (not `npm ci`: npm 11 writes lock files that omit other platforms'
  # optional packages and then refuses them in `npm ci`); --no-save leaves the lock as committed.
  npm install --no-save --no-audit --no-fund --loglevel=error >&2
  echo "$want" > "$stamp"
fi

# bubblewrap for the namespace executor (its tests skip, saying why, where it can't be installed).
if ! need bwrap && [ "$(id -u)" = 0 ] && need apt-get; then
  echo "boxrun: installing Debian package bubblewrap (namespace executor)" >&2
  { apt-get install -y -qq bubblewrap || { apt-get update -qq && apt-get install -y -qq bubblewrap; }; } >/dev/null 2>&1 \
    || echo "boxrun: could not install bubblewrap; the namespace executor will be unavailable" >&2
fi

# Engine (installs Debian's docker.io and starts dockerd when possible) and images (cached by hash).
node bin/boxrun.js setup ${BOXRUN_SETUP_ARGS:-}

# The vm isolation tier (gVisor): installed, registered and verified when this machine allows it
# (root + apt, or runsc present; boxrun's own dockerd is reloaded, any other engine gets the exact
# daemon.json lines printed). The gVisor tests skip with the reason when it could not be done.
if [ "${BOXRUN_SETUP_GVISOR:-auto}" != "no" ]; then
  node bin/boxrun.js setup --isolation gvisor --runtimes bash \
    || echo "boxrun: the gVisor tier is not set up (see above); its tests will skip" >&2
fi

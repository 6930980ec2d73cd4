#!/usr/bin/env bash
# npm run test:cgroup2 — the cgroup-sensitive suites on a real cgroup v2 kernel (docs/reliability.md).
# Boots the VM that build.sh prepared (-snapshot: the cached disk never changes), then, at once,
#   1. inside the VM: the namespace executor's tests (vitest with Node 20 from the 9p-shared checkout);
#   2. on this host, against the VM's dockerd forwarded to 127.0.0.1: the Docker backend's cgroup
#      v2 tests (test/integration/cgroup2.test.ts: conformance + limits) and the resource attacks
#      of the security suite whose images the VM has;
# and ends with "N passed, N failed" like npm test. A suite that ran no test counts as failed.
# The fixture capture of the VM's cgroup files lands in the run directory it prints.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
# shellcheck source=common.sh
source "$here/common.sh"
cd "$repo"
started=$(date +%s)

fail() {
  log "$*"
  echo "0 passed, 1 failed"
  exit 1
}
prepared=$(bash "$here/build.sh" | tail -1) || fail "build failed"
[ -f "$prepared/complete" ] || fail "build printed no prepared disk"

run="$VM_CACHE/runs/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$run/out"
port=$(log "Docker backend tests done after $(($(date +%s) - started)) s; waiting for the namespace tests in the VM"
wait_for "namespace test result" 3600 test -f "$run/out/namespace.rc"
tail -8 "$run/out/namespace.log"

node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
log "booting the VM (run dir $run, engine on 127.0.0.1:$port)"
vm_boot "$prepared" "$prepared/disk.qcow2" test "$port" -snapshot \
  -virtfs "local,path=$repo,mount_tag=src,security_model=none,id=src" \
  -virtfs "local,path=$run/out,mount_tag=out,security_model=none,id=out" >"$run/console.log" 2>&1 &
qemu=$!
trap 'kill "$qemu" 2>/dev/null; wait "$qemu" 2>/dev/null' EXIT

# wait_for <what> <seconds> <test command…>
wait_for() {
  local what=$1 limit=$2
  shift 2
  local until=$(($(date +%s) + limit))
  until "$@"; do
    kill -0 "$qemu" 2>/dev/null || { tail -30 "$run/console.log" >&2; fail "the VM stopped while waiting for $what"; }
    [ "$(date +%s)" -lt "$until" ] || { tail -30 "$run/console.log" >&2; fail "no $what after $limit s"; }
    sleep 5
  done
}
wait_for "ready VM" 1800 grep -q 'boxrun-vm: ready' "$run/console.log"
log "VM ready after $(($(date +%s) - started)) s: $(grep -m1 'dockerd up' "$run/console.log" | tr -d '\r')"
export DOCKER_HOST="tcp://127.0.0.1:$port"
cgroup_version=$(docker info --format '{{.CgroupVersion}}' 2>/dev/null)
[ "$cgroup_version" = 2 ] || fail "the VM's engine reports cgroup '$cgroup_version', not 2"

# The namespace executor's tests run inside the VM meanwhile (guest-test.sh).
log "Docker backend tests on the VM's engine"
BOXRUN_ASSERT_NO_LEFTOVERS=1 BOXRUN_SERVER_WARM_POOL=false nice npx vitest run --project integration \
  test/integration/cgroup2.test.ts test/security/resources.test.ts \
  -t 'cgroup v2|fork loop|fork bomb|memory bomb|slow allocator|C threads|beyond the memory limit' \
  --reporter=default --reporter=json --outputFile.json="$run/out/docker.json" 2>&1 | tee "$run/docker.log"

node -e '
  const fs = require("fs");
  let passed = 0, failed = 0;
  for (const file of process.argv.slice(1)) {
    try {
      const r = JSON.parse(fs.readFileSync(file, "utf8"));
      passed += r.numPassedTests;
      failed += r.numFailedTests;
      if (r.numPassedTests === 0 || (!r.success && r.numFailedTests === 0)) failed += 1;
    } catch {
      console.error(`cgroup2-vm: no result in ${file}`);
      failed += 1;
    }
  }
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed > 0 ? 1 : 0);
' "$run/out/namespace.json" "$run/out/docker.json"
rc=$?
log "whole run: $(($(date +%s) - started)) s; console, logs and the cgroup v2 fixture capture in $run"
exit $rc

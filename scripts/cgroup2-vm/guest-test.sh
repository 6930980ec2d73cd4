#!/bin/sh
# Run by the VM's init (guest-init.sh) in test mode, from the 9p-shared checkout at /src; results go
# to the 9p-shared /out that run.sh reads.
say() { echo "boxrun-vm $(cut -d' ' -f1 /proc/uptime)s: $*" >/dev/console; }
cd /src || exit 1
say "capturing the cgroup v2 fixture"
sh scripts/cgroup2-vm/capture-fixture.sh /out/fixture-v2 >/dev/console 2>&1 || say "fixture capture failed"
grep cgroup /proc/self/mounts >/out/fixture-v2/.host-mounts
say "ready"
# The state dir (exported rootfs, supervisor build) goes to the VM's disk.
BOXRUN_TEST_RUNTIMES=python,c,bash BOXRUN_STATE_DIR=/var/lib/boxrun \
  node node_modules/vitest/vitest.mjs run --project integration test/integration/namespace.test.ts \
  --reporter=default --reporter=json --outputFile.json=/out/namespace.json >/out/namespace.log 2>&1
echo $? >/out/namespace.rc
say "namespace tests done (rc $(cat /out/namespace.rc))"

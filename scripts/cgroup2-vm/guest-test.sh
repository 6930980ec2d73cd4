#!/bin/sh
# Run by the VM's init (guest-init.sh) in test mode, from the 9p-shared checkout at /src; results go
# to the 9p-shared /out that run.sh reads.
say() { echo "boxrun-vm: $*" >/dev/console; }
cd /src || exit 1
sh scripts/cgroup2-vm/capture-fixture.sh /out/fixture-v2 >/dev/console 2>&1
grep cgroup /proc/self/mounts >/out/fixture-v2/.host-mounts
say "ready"
node node_modules/vitest/vitest.mjs run --project integration test/integration/namespace.test.ts \
  --reporter=default --reporter=json --outputFile.json=/out/namespace.json >/out/namespace.log 2>&1
echo $? >/out/namespace.rc
say "namespace tests done (rc $(cat /out/namespace.rc))"

#!/bin/sh
# Captures a container's own cgroup files as boxrun-sv sees them (its cgroup namespace's
# /sys/fs/cgroup, one level of controller directories on v1), after a busy loop and an OOM kill
# inside the container: the fixture trees under test/fixtures/cgroup/. Unreadable files are left
# out, write-only ones (cgroup.kill) kept empty. Run on this host (v1) and inside the cgroup v2 VM
# (guest-test.sh).   usage: capture-fixture.sh OUT_DIR
set -eu
out=$1
mkdir -p "$out"
docker run --rm --user 0 --network none --memory 64m --memory-swap 64m -v "$(cd "$out" && pwd):/fx" \
  --entrypoint /bin/sh boxrun/python:3.11 -c '
    python3 -c "x = sum(range(3000000))"
    python3 -c "x = b\"x\" * (256 << 20)" 2>/dev/null || true
    cd /sys/fs/cgroup
    for d in . *; do
      [ -d "$d" ] && [ ! -L "$d" ] || continue
      mkdir -p "/fx/$d"
      for f in "$d"/*; do
        [ -f "$f" ] || continue
        # Write-only files (cgroup.kill) are kept empty: the readers test their presence.
        case $(stat -c %A "$f") in
          ?r*) cat "$f" >"/fx/$f" 2>/dev/null || rm -f "/fx/$f" ;;
          *) : >"/fx/$f" ;;
        esac
      done
    done'
uname -r >"$out/.kernel"

#!/bin/sh
# PID 1 of the cgroup v2 VM, installed by the initramfs (build.sh) as /sbin/boxrun-init; the kernel
# cmdline carries boxrun.mode=prepare|test. A plain init, no systemd: it mounts the unified cgroup
# hierarchy only (cgroup_no_v1=all on the cmdline keeps v1 controllers from ever being mountable),
# starts dockerd and then
#   prepare: loads the runtime images from /dev/vdb (a `docker save` tar) and powers off;
#   test:    serves the engine on tcp :2375 (qemu forwards 127.0.0.1 of the host to it), mounts
#            the 9p-shared checkout (/src) and result dir (/out), runs guest-test.sh from the
#            checkout, then idles until the host stops the VM.
# Every line for the host starts with "boxrun-vm <uptime>s:" (run.sh and build.sh print them).
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
say() { echo "boxrun-vm $(cut -d' ' -f1 /proc/uptime)s: $*" >/dev/console; }
off() {
  sync
  mount -o remount,ro / 2>/dev/null
  echo o >/proc/sysrq-trigger
  sleep 60
}
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
mode=$(sed -n 's/.*boxrun\.mode=\([a-z]*\).*/\1/p' /proc/cmdline)
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup
hostname boxrun-cgroup2
ip link set lo up
for m in overlay veth 9p 9pnet_virtio virtio_net virtio_rng; do modprobe "$m" 2>/dev/null || say "modprobe $m failed"; done
say "mode $mode, kernel $(uname -r), cgroup mounts: $(grep cgroup /proc/mounts | cut -d' ' -f1-3 | tr '\n' ';')" \
  "controllers: $(cat /sys/fs/cgroup/cgroup.controllers), root fs: $(stat -f -c %T /), entropy: $(cat /proc/sys/kernel/random/entropy_avail)"

hosts="-H unix:///var/run/docker.sock"
if [ "$mode" = test ]; then
  ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0
  hosts="$hosts -H tcp://0.0.0.0:2375"
fi
# containerd first, started and waited for here: dockerd gives the containerd it would start itself
# only seconds to answer, and under TCG on a loaded host it took longer ("failed to start
# containerd: timeout waiting for containerd to start", the cause of the earlier hung runs).
wait_up() { # wait_up <name> <log> <pid> <test command…>
  local name=$1 logfile=$2 pid=$3 since
  shift 3
  since=$(cut -d. -f1 /proc/uptime)
  i=0
  until "$@" >/dev/null 2>&1; do
    i=$((i + 1))
    if ! kill -0 "$pid" 2>/dev/null; then
      say "$name exited; its log:"
      tail -30 "$logfile" >/dev/console
      off
    fi
    if [ $((i % 30)) = 0 ]; then
      say "waiting for $name ($(($(cut -d. -f1 /proc/uptime) - since)) s); its last line: $(tail -1 "$logfile" | cut -c1-200)"
    fi
    if [ $(($(cut -d. -f1 /proc/uptime) - since)) -gt 1800 ]; then
      say "$name did not answer in 1800 s (guest time); its log:"
      tail -30 "$logfile" >/dev/console
      off
    fi
    sleep 1
  done
  say "$name up after $(($(cut -d. -f1 /proc/uptime) - since)) s"
}
# The engine in its own cgroup, as systemd's docker.service is: dockerd 20.10 decides swap limit
# support from memory.swap.max in its own cgroup, which the root cgroup never has ("No swap limit
# support", and --memory-swap silently dropped, when it ran in the root). The root is exempt from
# "no internal processes", so init itself stays there.
echo "+cpu +cpuset +io +memory +pids" >/sys/fs/cgroup/cgroup.subtree_control
mkdir -p /sys/fs/cgroup/engine.service
say "starting containerd"
(echo 0 >/sys/fs/cgroup/engine.service/cgroup.procs && exec containerd) >/var/log/containerd.log 2>&1 &
wait_up containerd /var/log/containerd.log $! ctr --address /run/containerd/containerd.sock version
# No bridge and no iptables: sandboxes run with --network none, and the host reaches the engine
# through qemu's forward to eth0.
say "starting dockerd"
# shellcheck disable=SC2086
(echo 0 >/sys/fs/cgroup/engine.service/cgroup.procs && exec dockerd $hosts --containerd /run/containerd/containerd.sock --exec-opt native.cgroupdriver=cgroupfs \
  --storage-driver overlay2 --iptables=false --ip-masq=false --bridge=none) >/var/log/dockerd.log 2>&1 &
dockerd_pid=$!
wait_up dockerd /var/log/dockerd.log $dockerd_pid docker info
say "engine: cgroup $(docker info --format '{{.CgroupVersion}} {{.CgroupDriver}} {{.Driver}} {{.ServerVersion}} swap limit {{.SwapLimit}}')"

if [ "$mode" = prepare ]; then
  say "docker load from /dev/vdb"
  if docker load </dev/vdb >/dev/console 2>&1; then
    say "loaded: $(docker images --format '{{.Repository}}:{{.Tag}}' | tr '\n' ' ')"
    kill "$dockerd_pid"
    while kill -0 "$dockerd_pid" 2>/dev/null; do sleep 1; done
    say "prepared"
  else
    say "docker load failed"
  fi
  off
fi

mkdir -p /src /out
mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288 src /src || say "cannot mount the checkout"
mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288 out /out || say "cannot mount /out"
# What a test run does lives in the checkout, so changing it does not rebuild the disk.
sh /src/scripts/cgroup2-vm/guest-test.sh
while :; do sleep 3600; done

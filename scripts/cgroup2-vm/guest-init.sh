#!/bin/sh
# PID 1 of the cgroup v2 VM (kernel cmdline: init=/sbin/boxrun-init boxrun.mode=prepare|test).
# A plain init, no systemd: it mounts the unified cgroup hierarchy only (cgroup_no_v1=all on the
# cmdline keeps v1 controllers from ever being mountable), starts dockerd and then
#   prepare: loads the runtime images from /dev/vdb (a `docker save` tar) and powers off;
#   test:    serves the engine on tcp :2375 (qemu forwards 127.0.0.1 of the host to it), mounts
#            the 9p-shared checkout (/src) and result dir (/out), runs guest-test.sh from the
#            checkout, then idles until the host stops the VM.
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
say() { echo "boxrun-vm: $*" >/dev/console; }
off() {
  sync
  mount -o remount,ro / 2>/dev/null
  echo o >/proc/sysrq-trigger
  sleep 60
}
mode=$(sed -n 's/.*boxrun\.mode=\([a-z]*\).*/\1/p' /proc/cmdline)

mountpoint -q /proc || mount -t proc proc /proc
mountpoint -q /sys || mount -t sysfs sysfs /sys
mountpoint -q /dev || mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm
mountpoint -q /dev/pts || mount -t devpts devpts /dev/pts
mountpoint -q /dev/shm || mount -t tmpfs tmpfs /dev/shm
mountpoint -q /run || mount -t tmpfs tmpfs /run
mount -t tmpfs tmpfs /tmp
mountpoint -q /sys/fs/cgroup || mount -t cgroup2 cgroup2 /sys/fs/cgroup
hostname boxrun-cgroup2
ip link set lo up
for m in overlay br_netfilter veth 9p 9pnet_virtio; do modprobe "$m" 2>/dev/null; done
say "kernel $(uname -r), cgroup mounts: $(grep cgroup /proc/mounts | cut -d' ' -f1-3 | tr '\n' ';')"

hosts="-H unix:///var/run/docker.sock"
if [ "$mode" = test ]; then
  ip link set eth0 up && ip addr add 10.0.2.15/24 dev eth0
  hosts="$hosts -H tcp://0.0.0.0:2375"
fi
# shellcheck disable=SC2086
dockerd $hosts --exec-opt native.cgroupdriver=cgroupfs --iptables=false --ip-masq=false >/var/log/dockerd.log 2>&1 &
dockerd_pid=$!
i=0
until docker info >/dev/null 2>&1; do
  i=$((i + 1))
  if [ $i -gt 600 ]; then
    say "dockerd did not start"
    tail -20 /var/log/dockerd.log >/dev/console
    off
  fi
  sleep 1
done
say "dockerd up: cgroup $(docker info --format '{{.CgroupVersion}} {{.CgroupDriver}}')"

if [ "$mode" = prepare ]; then
  if docker load </dev/vdb >/dev/console 2>&1; then
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

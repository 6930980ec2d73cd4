#!/bin/sh
# /init of the cgroup v2 VM's initramfs (build.sh), run by busybox: loads the modules that reach the
# virtio disk, mounts it, installs guest-init.sh as its /sbin/boxrun-init and switches to it.
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
say() { echo "boxrun-vm $(cut -d' ' -f1 /proc/uptime)s: initramfs: $*" >/dev/console; }
while read -r m; do
  insmod "/lib/modules/$m.ko" 2>/dev/null || say "insmod $m failed"
done </lib/modules/order
i=0
until [ -b /dev/vda ]; do
  i=$((i + 1))
  [ $i -gt 300 ] && { say "no /dev/vda"; ls /dev >/dev/console; poweroff -f; }
  sleep 0.2
done
mount -t ext4 -o rw /dev/vda /newroot || { say "cannot mount /dev/vda"; poweroff -f; }
cp /boxrun-init /newroot/sbin/boxrun-init
chmod 0755 /newroot/sbin/boxrun-init
say "root mounted, switching to boxrun-init"
umount /proc /sys
mount --move /dev /newroot/dev
exec switch_root /newroot /sbin/boxrun-init

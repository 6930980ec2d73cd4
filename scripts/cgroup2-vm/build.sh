#!/usr/bin/env bash
# Builds (or finds in the cache) everything the cgroup v2 VM needs, from Debian's packages only:
#   <cache>/rootfs-<key>/      debootstrap of bookworm with Docker and bubblewrap (keyed by the
#                              package list); no kernel package: its postinst runs mkinitramfs,
#                              which took over an hour on this loaded 2-core machine
#   <cache>/kernel-<key>/      linux-image-amd64's kernel and modules, unpacked from the .deb
#                              (`apt-get download`, keyed by the package version), and busybox-static
#   <cache>/base-<key>/        an ext4 disk of the rootfs with those modules and Node
#                              (keyed by the rootfs, the kernel and the Node binary)
#   <cache>/initrd-<key>.img   a hand-made initramfs (busybox, the virtio/ext4 modules, guest-init.sh):
#                              seconds to build, so changing guest-init.sh rebuilds nothing else
#   <cache>/images-<key>.tar   `docker save` of the runtime images (keyed by their image ids)
#   <cache>/disk-<key>/        a qcow2 overlay on the base disk with those images loaded by the
#                              VM's own dockerd at a first "prepare" boot; test runs boot it with
#                              -snapshot, so it never changes
# Idempotent: every step builds under a temporary name and renames when complete.
# `build.sh rootfs` stops after the rootfs. Otherwise prints the prepared directory (vmlinuz,
# initrd.img, disk.qcow2) on its last line.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=common.sh
source "$here/common.sh"

PACKAGES=kmod,docker.io,bubblewrap,iproute2,procps,ca-certificates
MIRROR=http://deb.debian.org/debian
# Loaded by the initramfs, in dependency order, to reach the root disk.
INITRD_MODULES="crc32c_generic crc16 mbcache jbd2 ext4 virtio_ring virtio virtio_pci_modern_dev
  virtio_pci_legacy_dev virtio_pci virtio_blk"

apt_install() {
  apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "$@"
}
# ensure_tools command=package …
ensure_tools() {
  local missing=() tool
  for tool in "$@"; do
    command -v "${tool%%=*}" >/dev/null 2>&1 || missing+=("${tool#*=}")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    apt_install "${missing[@]}" >&2
  fi
}
key() { sha256sum | cut -c1-16; }
mkdir -p "$VM_CACHE"
tmp=""
trap '[ -n "$tmp" ] && rm -rf "$tmp"' EXIT

# 1. The Debian rootfs.
rootfs_key=$(echo "bookworm $PACKAGES" | key)
rootfs="$VM_CACHE/rootfs-$rootfs_key"
if [ ! -f "$rootfs/complete" ]; then
  ensure_tools debootstrap=debootstrap
  started=$(date +%s)
  tmp="$VM_CACHE/.rootfs-$rootfs_key.$$"
  mkdir -p "$tmp"
  log "debootstrap bookworm with $PACKAGES (several minutes; log: $tmp/debootstrap.log)"
  nice debootstrap --variant=minbase --include="$PACKAGES" bookworm "$tmp/root" "$MIRROR" \
    >"$tmp/debootstrap.log" 2>&1 || { tail -20 "$tmp/debootstrap.log" >&2; exit 1; }
  rm -f "$tmp/root/var/cache/apt/archives/"*.deb
  echo "$(($(date +%s) - started))" >"$tmp/complete"
  rm -rf "$rootfs"
  mv "$tmp" "$rootfs"
  tmp=""
  log "rootfs built in $(cat "$rootfs/complete") s"
fi
[ "${1:-}" = rootfs ] && exit 0

# 2. The kernel: the .deb that linux-image-amd64 points at, unpacked, with depmod run by the
# rootfs's kmod; and busybox-static for the initramfs.
kernel_pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)/\1/p' | head -1)
[ -n "$kernel_pkg" ] || { apt-get -o DPkg::Lock::Timeout=600 update -qq; kernel_pkg=$(apt-cache depends linux-image-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)/\1/p' | head -1); }
kernel_ver=$(apt-cache policy "$kernel_pkg" | sed -n 's/^ *Candidate: //p')
kernel_key=$(echo "$kernel_pkg $kernel_ver busybox-static" | key)
kdir="$VM_CACHE/kernel-$kernel_key"
if [ ! -f "$kdir/complete" ]; then
  started=$(date +%s)
  tmp="$VM_CACHE/.kernel-$kernel_key.$$"
  mkdir -p "$tmp"
  log "apt-get download $kernel_pkg ($kernel_ver) busybox-static"
  (cd "$tmp" && apt-get download "$kernel_pkg" busybox-static >/dev/null 2>&1) || { log "apt-get download failed"; exit 1; }
  dpkg-deb -x "$tmp"/linux-image-*.deb "$tmp/k"
  dpkg-deb -x "$tmp"/busybox-static_*.deb "$tmp/bb"
  rm -f "$tmp"/*.deb
  release=$(basename "$(find "$tmp/k/boot" -name 'vmlinuz-*')" | sed 's/^vmlinuz-//')
  echo "$release" >"$tmp/release"
  mv "$tmp/k/boot/vmlinuz-$release" "$tmp/vmlinuz"
  echo "$(($(date +%s) - started))" >"$tmp/complete"
  rm -rf "$kdir"
  mv "$tmp" "$kdir"
  tmp=""
  log "kernel $(cat "$kdir/release") unpacked in $(cat "$kdir/complete") s"
fi
release=$(cat "$kdir/release")

# 3. The base disk: the rootfs with the kernel's modules and Node 20 (bookworm's nodejs is 18; the
# host's binary needs only glibc), for the namespace executor's tests inside the VM.
node_bin=$(command -v node)
base_key=$( (echo "$rootfs_key $kernel_key"; cat "$node_bin") | key)
base="$VM_CACHE/base-$base_key"
if [ ! -f "$base/complete" ]; then
  ensure_tools mkfs.ext4=e2fsprogs
  started=$(date +%s)
  tmp="$VM_CACHE/.base-$base_key.$$"
  mkdir -p "$tmp"
  log "base disk: rootfs + modules of $release + node, mkfs.ext4 -d"
  cp -a "$rootfs/root" "$tmp/root"
  mkdir -p "$tmp/root/lib/modules"
  cp -a "$kdir/k/lib/modules/$release" "$tmp/root/lib/modules/"
  chroot "$tmp/root" /sbin/depmod "$release"
  install -m 0755 "$node_bin" "$tmp/root/usr/local/bin/node"
  echo boxrun-cgroup2 >"$tmp/root/etc/hostname"
  mkdir -p "$tmp/root/src" "$tmp/root/out"
  truncate -s 24G "$tmp/disk.raw"
  nice mkfs.ext4 -q -F -L boxrun-root -d "$tmp/root" "$tmp/disk.raw"
  rm -rf "$tmp/root"
  echo "$(($(date +%s) - started))" >"$tmp/complete"
  rm -rf "$base"
  mv "$tmp" "$base"
  tmp=""
  log "base disk built in $(cat "$base/complete") s"
fi

# 4. The initramfs: busybox, the modules that reach the disk, and guest-init.sh, which its /init
# copies onto the disk before switching to it.
initrd_key=$( (echo "$kernel_key $INITRD_MODULES"; cat "$here/guest-init.sh" "$here/initrd-init.sh") | key)
initrd="$VM_CACHE/initrd-$initrd_key.img"
if [ ! -f "$initrd" ]; then
  ensure_tools cpio=cpio
  tmp="$VM_CACHE/.initrd-$initrd_key.$$"
  mkdir -p "$tmp/root/bin" "$tmp/root/lib/modules" "$tmp/root/proc" "$tmp/root/sys" "$tmp/root/dev" "$tmp/root/newroot"
  cp "$kdir/bb/bin/busybox" "$tmp/root/bin/busybox"
  ln -s busybox "$tmp/root/bin/sh"
  for m in $INITRD_MODULES; do
    f=$(find "$kdir/k/lib/modules/$release/kernel" -name "$m.ko" | head -1)
    [ -n "$f" ] || { log "module $m not in $kernel_pkg"; exit 1; }
    cp "$f" "$tmp/root/lib/modules/"
  done
  echo "$INITRD_MODULES" | tr -s ' \n' '\n\n' | grep . >"$tmp/root/lib/modules/order"
  install -m 0755 "$here/initrd-init.sh" "$tmp/root/init"
  install -m 0755 "$here/guest-init.sh" "$tmp/root/boxrun-init"
  (cd "$tmp/root" && find . | cpio -o -H newc --quiet | gzip -1) >"$tmp/initrd.img"
  mv "$tmp/initrd.img" "$initrd"
  rm -rf "$tmp"
  tmp=""
fi

# 5. The runtime images, saved from the host's engine (read only).
ids=""
for image in "${VM_IMAGES[@]}"; do
  id=$(docker image inspect --format '{{.Id}}' "$image" 2>/dev/null) ||
    { log "image $image is not on the host engine: run 'boxrun setup' first"; exit 1; }
  ids+="$image=$id "
done
images_key=$(echo "$ids" | key)
images="$VM_CACHE/images-$images_key.tar"
if [ ! -f "$images" ]; then
  log "docker save ${VM_IMAGES[*]}"
  docker save "${VM_IMAGES[@]}" >"$images.$$"
  mv "$images.$$" "$images"
  log "saved $(du -m "$images" | cut -f1) MiB"
fi

# 6. The prepared disk: the images loaded by the VM's own dockerd, once.
disk_key=$(echo "$base_key $images_key" | key)
prepared="$VM_CACHE/disk-$disk_key"
if [ ! -f "$prepared/complete" ]; then
  ensure_tools qemu-system-x86_64=qemu-system-x86 qemu-img=qemu-utils
  started=$(date +%s)
  tmp="$VM_CACHE/.disk-$disk_key.$$"
  mkdir -p "$tmp"
  qemu-img create -q -f qcow2 -F raw -b "$base/disk.raw" "$tmp/disk.qcow2"
  log "first boot: the VM's dockerd loads the images (TCG; console: $tmp/console.log)"
  vm_boot "$kdir/vmlinuz" "$initrd" "$tmp/disk.qcow2" prepare "" \
    -drive "file=$images,format=raw,if=virtio,readonly=on" >"$tmp/console.log" 2>&1 &
  qemu=$!
  limit=$(($(date +%s) + ${BOXRUN_CGROUP2_VM_PREPARE_TIMEOUT:-5400}))
  shown=0
  while kill -0 "$qemu" 2>/dev/null; do
    # Progress: the guest's own "boxrun-vm" lines, as they come.
    lines=$(grep -ao 'boxrun-vm .*' "$tmp/console.log" | tr -d '\r' || true)
    count=$(printf '%s' "$lines" | grep -c . || true)
    if [ "$count" -gt "$shown" ]; then
      printf '%s\n' "$lines" | tail -n $((count - shown)) >&2
      shown=$count
    fi
    if [ "$(date +%s)" -ge "$limit" ]; then
      kill "$qemu"
      log "the prepare boot did not finish in time; console tail:"
      tail -40 "$tmp/console.log" >&2
      exit 1
    fi
    sleep 5
  done
  wait "$qemu" || true
  if ! grep -q 'boxrun-vm.*prepared' "$tmp/console.log"; then
    log "the prepare boot ended without loading the images; console tail:"
    tail -40 "$tmp/console.log" >&2
    exit 1
  fi
  ln -s "$kdir/vmlinuz" "$tmp/vmlinuz"
  echo "$(($(date +%s) - started))" >"$tmp/complete"
  rm -rf "$prepared"
  mv "$tmp" "$prepared"
  tmp=""
  log "images loaded in $(cat "$prepared/complete") s"
fi
ln -sfn "$initrd" "$prepared/initrd.img"
echo "$prepared"

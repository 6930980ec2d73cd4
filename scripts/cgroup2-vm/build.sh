#!/usr/bin/env bash
# Builds (or finds in the cache) everything the cgroup v2 VM needs, from Debian's packages only:
#   <cache>/rootfs-<key>/      debootstrap of bookworm with a kernel, Docker and bubblewrap
#                              (keyed by the package list)
#   <cache>/base-<key>/        its ext4 disk with our init and Node, kernel and initrd
#                              (keyed by the rootfs, guest-init.sh and the Node binary)
#   <cache>/images-<key>.tar   `docker save` of the runtime images (keyed by their image ids)
#   <cache>/disk-<key>/        a qcow2 overlay on the base disk with those images loaded by the
#                              VM's own dockerd at a first "prepare" boot; test runs boot it with
#                              -snapshot, so it never changes
# Idempotent: every step builds under a temporary name and renames when complete.
# Prints the prepared directory (vmlinuz, initrd.img, disk.qcow2) on its last line.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# shellcheck source=common.sh
source "$here/common.sh"

PACKAGES=linux-image-amd64,initramfs-tools,kmod,udev,docker.io,bubblewrap,iproute2,procps,ca-certificates
MIRROR=http://deb.debian.org/debian

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
  log "debootstrap bookworm with $PACKAGES (several minutes)"
  nice debootstrap --variant=minbase --include="$PACKAGES" bookworm "$tmp/root" "$MIRROR" \
    >"$tmp/debootstrap.log" 2>&1 || { tail -20 "$tmp/debootstrap.log" >&2; exit 1; }
  rm -f "$tmp/root/var/cache/apt/archives/"*.deb
  echo "$(($(date +%s) - started))" >"$tmp/complete"
  rm -rf "$rootfs"
  mv "$tmp" "$rootfs"
  tmp=""
  log "rootfs built in $(cat "$rootfs/complete") s"
fi

# 2. The base disk: the rootfs with our init and Node 20 (bookworm's nodejs is 18; the host's
# binary needs only glibc), for the namespace executor's tests inside the VM.
node_bin=$(command -v node)
base_key=$( (echo "$rootfs_key"; cat "$here/guest-init.sh" "$node_bin") | key)
base="$VM_CACHE/base-$base_key"
if [ ! -f "$base/complete" ]; then
  ensure_tools mkfs.ext4=e2fsprogs
  started=$(date +%s)
  tmp="$VM_CACHE/.base-$base_key.$$"
  mkdir -p "$tmp"
  install -m 0755 "$here/guest-init.sh" "$rootfs/root/sbin/boxrun-init"
  install -m 0755 "$node_bin" "$rootfs/root/usr/local/bin/node"
  echo boxrun-cgroup2 >"$rootfs/root/etc/hostname"
  mkdir -p "$rootfs/root/src" "$rootfs/root/out"
  kernel=$(find "$rootfs/root/boot" -name 'vmlinuz-*' | sort -V | tail -1)
  cp "$kernel" "$tmp/vmlinuz"
  cp "$rootfs/root/boot/initrd.img-${kernel##*/vmlinuz-}" "$tmp/initrd.img"
  truncate -s 24G "$tmp/disk.raw"
  nice mkfs.ext4 -q -F -L boxrun-root -d "$rootfs/root" "$tmp/disk.raw"
  echo "$(($(date +%s) - started))" >"$tmp/complete"
  rm -rf "$base"
  mv "$tmp" "$base"
  tmp=""
  log "base disk built in $(cat "$base/complete") s"
fi

# 3. The runtime images, saved from the host's engine.
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
fi

# 4. The prepared disk: the images loaded by the VM's own dockerd, once.
disk_key=$(echo "$base_key $images_key" | key)
prepared="$VM_CACHE/disk-$disk_key"
if [ ! -f "$prepared/complete" ]; then
  ensure_tools qemu-system-x86_64=qemu-system-x86 qemu-img=qemu-utils
  started=$(date +%s)
  tmp="$VM_CACHE/.disk-$disk_key.$$"
  mkdir -p "$tmp"
  qemu-img create -q -f qcow2 -F raw -b "$base/disk.raw" "$tmp/disk.qcow2"
  log "first boot: the VM's dockerd loads the images (TCG: several minutes)"
  vm_boot "$base" "$tmp/disk.qcow2" prepare "" -drive "file=$images,format=raw,if=virtio,readonly=on" \
    >"$tmp/console.log" 2>&1 || true
  if ! grep -q 'boxrun-vm: prepared' "$tmp/console.log"; then
    tail -30 "$tmp/console.log" >&2
    exit 1
  fi
  ln -s "$base/vmlinuz" "$tmp/vmlinuz"
  ln -s "$base/initrd.img" "$tmp/initrd.img"
  echo "$(($(date +%s) - started))" >"$tmp/complete"
  rm -rf "$prepared"
  mv "$tmp" "$prepared"
  tmp=""
  log "images loaded in $(cat "$prepared/complete") s"
fi
echo "$prepared"

# Shared by build.sh and run.sh (sourced).
VM_CACHE="${BOXRUN_CGROUP2_VM_CACHE:-/var/cache/boxrun/cgroup2-vm}"
# The runtimes the VM run exercises; every image makes the first (image-loading) boot longer.
VM_IMAGES=(boxrun/python:3.11 boxrun/c:12 boxrun/bash:5.2)

log() { echo "cgroup2-vm $(date -u +%H:%M:%S): $*" >&2; }

# vm_boot <kernel> <initrd> <disk> <mode> <hostfwd port or ""> [qemu args…]
# TCG (no KVM here), 2 vCPUs, 4 GiB, niced; user-mode network restricted to the host port forward,
# which binds 127.0.0.1 only. The initrd's init (build.sh) mounts the disk and starts guest-init.sh,
# which reads boxrun.mode from the cmdline.
vm_boot() {
  local kernel=$1 initrd=$2 disk=$3 mode=$4 port=$5
  shift 5
  local net=(-nic none)
  if [ -n "$port" ]; then
    net=(-netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$port-:2375" -device virtio-net-pci,netdev=n0)
  fi
  nice -n "${BOXRUN_CGROUP2_VM_NICE:-10}" qemu-system-x86_64 -machine q35 -accel tcg,thread=multi -cpu max -smp 2 -m 4096 \
    -nographic -no-reboot -device virtio-rng-pci \
    -kernel "$kernel" -initrd "$initrd" \
    -append "console=ttyS0 systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all boxrun.mode=$mode loglevel=4" \
    -drive "file=$disk,if=virtio,cache=unsafe" "${net[@]}" "$@" </dev/null
}

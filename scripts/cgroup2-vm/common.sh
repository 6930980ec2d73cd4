# Shared by build.sh and run.sh (sourced).
VM_CACHE="${BOXRUN_CGROUP2_VM_CACHE:-/var/cache/boxrun/cgroup2-vm}"
# The runtimes the VM run exercises; more images make the cold first boot longer.
VM_IMAGES=(boxrun/python:3.11 boxrun/c:12 boxrun/bash:5.2 boxrun/javascript:18)

log() { echo "cgroup2-vm: $*" >&2; }

# vm_boot <dir with vmlinuz+initrd.img> <disk> <mode> <hostfwd port or ""> [qemu args…]
# TCG (no KVM here), 2 vCPUs, 4 GiB, niced; user-mode network restricted to the host port forward,
# which binds 127.0.0.1 only. The guest's init (guest-init.sh) reads boxrun.mode from the cmdline.
vm_boot() {
  local dir=$1 disk=$2 mode=$3 port=$4
  shift 4
  local net=(-nic none)
  if [ -n "$port" ]; then
    net=(-netdev "user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:$port-:2375" -device virtio-net-pci,netdev=n0)
  fi
  nice -n "${BOXRUN_CGROUP2_VM_NICE:-10}" qemu-system-x86_64 -machine q35 -accel tcg,thread=multi -cpu max -smp 2 -m 4096 \
    -nographic -no-reboot \
    -kernel "$dir/vmlinuz" -initrd "$dir/initrd.img" \
    -append "root=LABEL=boxrun-root rw console=ttyS0 init=/sbin/boxrun-init systemd.unified_cgroup_hierarchy=1 cgroup_no_v1=all boxrun.mode=$mode quiet" \
    -drive "file=$disk,if=virtio,cache=unsafe" "${net[@]}" "$@" </dev/null
}

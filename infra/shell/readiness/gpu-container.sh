## A GPU host: the driver answers, and a container started with --gpus all sees the GPU.
# "Driver/library version mismatch": the driver's user space was upgraded under the loaded kernel
# module (unattended-upgrades, an apt upgrade); only a reboot loads the matching module
# (https://documentation.ubuntu.com/server/how-to/graphics/install-nvidia-drivers/, Troubleshooting).
if ! smi="$(nvidia-smi 2>&1)"; then
  case "$smi" in
    *"Driver/library version mismatch"*)
      fail "the NVIDIA driver's packages were upgraded under its running kernel module (nvidia-smi: Driver/library version mismatch; see: sudo dmesg | grep NVRM). Reboot the host to load the module that matches, then deploy again. The setup holds the driver's packages so that unattended-upgrades leaves them alone: check apt-mark showhold"
      ;;
    *) fail "nvidia-smi cannot reach the NVIDIA driver: ${smi##*$'\n'}" ;;
  esac
fi

echo "gpu-hosts: running nvidia-smi -L in $IMAGE with --gpus all"
in_container="$(as_root docker run --rm --gpus all "$IMAGE" nvidia-smi -L)"
echo "$in_container"
grep -q "^GPU " <<<"$in_container" || fail "no GPU visible inside a container"


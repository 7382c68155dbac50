echo "gpu-hosts: host ready"

rm -f "$HOME"/.ssh/gpu-hosts/gpu-hosts-dev-aws "$HOME"/.ssh/gpu-hosts/gpu-hosts-dev-aws.known_hosts

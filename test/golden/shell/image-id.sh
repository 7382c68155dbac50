docker image inspect --format '{{.Id}}' aws-app-green:v3-0123456789abcdef0123

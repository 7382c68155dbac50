#!/usr/bin/env bash
# Sourced by run.sh and bootstrap.sh: installs a package's Node dependencies (npm ci from its
# lockfile) unless every dependency its package.json names is installed at the exact version it pins.
# So a fresh clone installs them, and so does an existing checkout after a pull that added or bumped
# one (@swc/core, say), while a copy whose node_modules is a link to a complete one (the e2e's project
# copies) installs nothing: npm ci would empty the linked directory first.

# ensure_deps DIR [npm ci options...]
ensure_deps() {
  local dir="$1"
  shift
  if ! node -e '
    const fs = require("fs"), path = require("path");
    const dir = process.argv[1];
    const pkg = JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8"));
    for (const [name, want] of Object.entries({ ...pkg.dependencies, ...pkg.devDependencies })) {
      const f = path.join(dir, "node_modules", name, "package.json");
      if (!fs.existsSync(f) || JSON.parse(fs.readFileSync(f, "utf8")).version !== want) process.exit(1);
    }' "$dir"; then
    npm --prefix "$dir" ci --no-audit --no-fund "$@"
  fi
}

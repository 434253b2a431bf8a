#!/usr/bin/env bash
# Installs everything tscni needs on a Debian 12 machine with Node/npm, builds dist/bin, and (unless
# --no-demo) runs a short demo. Idempotent: what is already there is skipped. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

demo=1
[ "${1:-}" = "--no-demo" ] && demo=0

# Debian packages: iproute2/nftables to observe state in tests, the Go reference plugins and iptables
# (which they call) for side-by-side runs, qemu + cloud kernel tools for the VM tests.
mapfile -t packages < <(grep -vE '^\s*(#|$)' scripts/setup-apt-packages.txt)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# npm may refuse dependency install scripts ("not yet covered by allowScripts"). None is needed:
# koffi ships prebuilt binaries in its package, Bun's binary is inside @oven/bun-linux-x64, and
# esbuild (tsx) finds its platform package. So scripts are skipped explicitly, the same everywhere.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
  # tap compiles its plugin set (package.json "tap.plugin") into node_modules.
  npx --no-install tap build >/dev/null
fi

node build.mjs

if [ "$demo" = 1 ]; then bash scripts/demo.sh; fi

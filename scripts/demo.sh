#!/usr/bin/env bash
# A short demo: two throw-away namespaces, the loopback plugin run as a runtime would run it.
set -euo pipefail
cd "$(dirname "$0")/.."
host="tscni-demo-host-$$"
ctr="tscni-demo-ctr-$$"
cleanup() { ip netns del "$ctr" 2>/dev/null || true; ip netns del "$host" 2>/dev/null || true; }
trap cleanup EXIT
ip netns add "$host"
ip netns add "$ctr"
echo "# loopback ADD in netns $ctr (the plugin runs inside the throw-away host netns $host)"
echo '{"cniVersion":"1.1.0","name":"demo","type":"loopback"}' |
  ip netns exec "$host" env -i CNI_COMMAND=ADD CNI_CONTAINERID=demo1 CNI_NETNS="/run/netns/$ctr" \
    CNI_IFNAME=lo CNI_PATH="$PWD/dist/bin" "$PWD/dist/bin/loopback"
echo
echo "# lo in $ctr:"
ip -n "$ctr" -br addr show lo

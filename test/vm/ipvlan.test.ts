// ipvlan needs a kernel with CONFIG_IPVLAN, which the host may lack: the built executables run in
// the VM (Debian's cloud kernel) against dummy masters, with our host-local as IPAM. One boot runs
// every scenario: l2 traffic, CHECK, l3 routing between subnets, the private flag, chaining on
// prevResult's addresses, DEL.
import t from "tap";
import { DIST_BIN } from "../helpers/plugin-exec.ts";
import { runInVm } from "./run-vm.ts";

const script = String.raw`
B=/opt/cni/bin
export CNI_PATH=$B

# cni COMMAND NETNS CONFIG: the plugin's stdout goes to /tmp/NETNS.COMMAND.json
cni() {
	echo "$3" | env CNI_COMMAND="$1" CNI_CONTAINERID="$2" CNI_NETNS="/run/netns/$2" CNI_IFNAME=eth0 $B/ipvlan >"/tmp/$2.$1.json"
	_rc=$?
	cat "/tmp/$2.$1.json"
	return $_rc
}
# with_prev CONFIG NETNS: CONFIG with NETNS's ADD result as prevResult
with_prev() {
	echo "$1" | sed 's/}$//'
	printf ',"prevResult":%s}' "$(cat /tmp/$2.ADD.json)"
}
fails() {
	if "$@"; then return 1; fi
	return 0
}
net() { # NAME MASTER MODE SUBNET ROUTE [EXTRA]
	printf '{"cniVersion":"1.1.0","name":"%s","type":"ipvlan","master":"%s","mode":"%s"%s,"ipam":{"type":"host-local","dataDir":"/tmp/ipam","ranges":[[{"subnet":"%s"}]],"routes":[{"dst":"%s"}]}}' "$1" "$2" "$3" "$6" "$4" "$5"
}

for m in master0 master1 master2 master3; do ip link add $m type dummy && ip link set $m up; done
for n in c1 c2 c3 c4 c5 c6 c7; do netns_add $n; done

L2=$(net l2net master0 l2 10.20.0.0/24 10.29.0.0/16)
check l2-add-c1 cni ADD c1 "$L2"
check l2-add-c2 cni ADD c2 "$L2"
check l2-kind sh -c 'ip -n c1 -d link show eth0 | grep -q "ipvlan  mode l2 bridge"'
check l2-result sh -c 'grep -q "\"address\": \"10.20.0.2/24\"" /tmp/c1.ADD.json && grep -q "\"sandbox\": \"/run/netns/c1\"" /tmp/c1.ADD.json'
check l2-address sh -c 'ip -n c2 addr show eth0 | grep -q "inet 10.20.0.3/24"'
check l2-route sh -c 'ip -n c1 route | grep -q "10.29.0.0/16 via 10.20.0.1 dev eth0"'
check l2-ping-c1-c2 ip netns exec c1 ping -c 1 -W 2 10.20.0.3
check l2-ping-c2-c1 ip netns exec c2 ping -c 1 -W 2 10.20.0.2
check l2-check cni CHECK c1 "$(with_prev "$L2" c1)"
ip -n c1 addr del 10.20.0.2/24 dev eth0
check l2-check-notices-missing-address fails cni CHECK c1 "$(with_prev "$L2" c1)"
check l2-macvlan-on-ipvlan-master-fails sh -c 'ip link add mv0 link master0 type macvlan 2>&1 | grep -qi busy'

L3A=$(net l3a master1 l3 10.21.1.0/24 10.21.2.0/24)
L3B=$(net l3b master1 l3 10.21.2.0/24 10.21.1.0/24)
check l3-add-c3 cni ADD c3 "$L3A"
check l3-add-c4 cni ADD c4 "$L3B"
check l3-kind sh -c 'ip -n c3 -d link show eth0 | grep -q "ipvlan  mode l3 "'
check l3-route sh -c 'ip -n c3 route | grep -q "10.21.2.0/24 via 10.21.1.1 dev eth0"'
check l3-ping-across-subnets ip netns exec c3 ping -c 1 -W 2 10.21.2.2
check l3-check cni CHECK c3 "$(with_prev "$L3A" c3)"

PRIV=$(net privnet master2 l2 10.23.0.0/24 10.29.0.0/16 ',"flag":"private"')
check private-add-c5 cni ADD c5 "$PRIV"
check private-add-c6 cni ADD c6 "$PRIV"
check private-kind sh -c 'ip -n c5 -d link show eth0 | grep -q "ipvlan  mode l2 private"'
check private-isolated fails ip netns exec c5 ping -c 1 -W 1 10.23.0.3
check private-check cni CHECK c5 "$(with_prev "$PRIV" c5)"

CHAINED='{"cniVersion":"1.1.0","name":"chained","type":"ipvlan","master":"master3","prevResult":{"cniVersion":"1.1.0","interfaces":[{"name":"up0"}],"ips":[{"address":"10.22.0.5/24","interface":0}],"routes":[{"dst":"10.28.0.0/16","gw":"10.22.0.1"}]}}'
check chained-add cni ADD c7 "$CHAINED"
check chained-address-moved-to-eth0 sh -c 'ip -n c7 addr show eth0 | grep -q "inet 10.22.0.5/24"'
check chained-route sh -c 'ip -n c7 route | grep -q "10.28.0.0/16 via 10.22.0.1 dev eth0"'
check chained-interfaces-appended sh -c 'tr -d " \n" </tmp/c7.ADD.json | grep -q "\"interfaces\":\[{\"name\":\"up0\"},{\"name\":\"eth0\",\"mac\":\"[0-9a-f:]*\",\"mtu\":1500,\"sandbox\":\"/run/netns/c7\"}\]"'
check chained-ips-on-eth0 sh -c 'tr -d " \n" </tmp/c7.ADD.json | grep -q "\"ips\":\[{\"interface\":1,\"address\":\"10.22.0.5/24\"}\]"'

for n in c1 c2; do check del-$n cni DEL $n "$L2"; done
check del-c3 cni DEL c3 "$L3A"
check del-c4 cni DEL c4 "$L3B"
check del-c7 cni DEL c7 "$CHAINED"
check del-removed-links sh -c 'for n in c1 c2 c3 c4 c7; do if ip -n $n link show eth0 2>/dev/null; then exit 1; fi; done'
check del-released-leases sh -c 'test -z "$(ls /tmp/ipam/l2net /tmp/ipam/l3a /tmp/ipam/l3b | grep "^10\.")"'
check del-again cni DEL c1 "$L2"
check master-free-again sh -c 'ip link add mv0 link master0 type macvlan && ip link del mv0'
`;

t.test("ipvlan in a kernel that has it: l2, l3, private flag, chaining, CHECK, DEL", async (t) => {
  const run = await runInVm({ binDir: DIST_BIN, script, timeoutMs: 240_000 });
  if (run.skipped !== undefined) {
    console.error(`\n*** VM tests SKIPPED: ${run.skipped} ***\n`);
    t.pass("VM tests", { skip: run.skipped });
    return;
  }
  t.equal(run.timedOut, false, "VM finished in time");
  t.equal(run.exitCode, 0, "script exited 0");
  const expected = [...script.matchAll(/^check (\S+)/gm)].map((m) => m[1]!).filter((name) => !name.startsWith("del-$"));
  const byName = new Map(run.results.map((r) => [r.name, r]));
  for (const name of [...expected, "del-c1", "del-c2"]) {
    const result = byName.get(name);
    t.equal(result?.ok, true, name, { detail: result?.detail });
  }
  if (!t.passing()) t.comment(run.lines.join("\n"));
});

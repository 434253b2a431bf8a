// The firewall plugin's pure parts: its config keys, what it takes from prevResult, the xtables
// conntrack match (golden bytes from iptables-nft), and the input it refuses before touching
// nftables (in-process through the skel).
import t from "tap";
import { runPlugin } from "../../lib/cni/skel.ts";
import { parseResult } from "../../lib/cni/result.ts";
import { formatIp } from "../../lib/ip/address.ts";
import { accept, type Expr, type NftRule } from "../../lib/nft/index.ts";
import { attachmentOf, parseFirewallConfig } from "../../plugins/firewall/config.ts";
import { firewall, info } from "../../plugins/firewall/main.ts";
import { ruleComment, ruleOwner, withoutXtComments, xtCtStateEstablishedRelated } from "../../plugins/firewall/xtables.ts";
import { caught } from "../helpers/assert.ts";

const prev = (interfaces: object[], ips: object[]) => parseResult({ cniVersion: "1.0.0", interfaces, ips }, "1.0.0");
const BRIDGE_RESULT = prev(
  [{ name: "cni0" }, { name: "veth1234" }, { name: "eth0", sandbox: "/run/netns/c" }],
  [
    { address: "10.88.0.5/16", interface: 2 },
    { address: "fd00:88::5/64", interface: 2 },
    { address: "10.88.0.5/24", interface: 2 },
  ],
);

t.test("config: defaults and the reference's keys", async (t) => {
  t.same(parseFirewallConfig({ name: "n" }), { network: "n", ingressPolicy: "open", adminChain: "CNI-ADMIN" });
  for (const backend of ["iptables", "firewalld", "nftables", ""]) {
    t.equal(parseFirewallConfig({ name: "n", backend }).ingressPolicy, "open", `backend "${backend}" is accepted`);
  }
  t.same(parseFirewallConfig({ name: "n", ingressPolicy: "same-bridge", iptablesAdminChainName: "MY-ADMIN" }), {
    network: "n",
    ingressPolicy: "same-bridge",
    adminChain: "MY-ADMIN",
  });
  t.equal(parseFirewallConfig({ name: "n", ingressPolicy: "" }).ingressPolicy, "open", "empty is the default, as in Go");
});

t.test("config: bad values are code 7 naming the key", async (t) => {
  const bad: Array<[Record<string, unknown>, RegExp]> = [
    [{ backend: "ebtables" }, /invalid "backend": "ebtables"/],
    [{ backend: 1 }, /invalid "backend": must be a string/],
    [{ ingressPolicy: "isolated" }, /invalid "ingressPolicy": "isolated"/],
    [{ iptablesAdminChainName: "FORWARD" }, /invalid "iptablesAdminChainName": "FORWARD"/],
    [{ iptablesAdminChainName: "TSCNI-FORWARD" }, /invalid "iptablesAdminChainName"/],
    [{ iptablesAdminChainName: "has space" }, /invalid "iptablesAdminChainName"/],
    [{ iptablesAdminChainName: "X".repeat(29) }, /invalid "iptablesAdminChainName"/],
  ];
  for (const [keys, msg] of bad) {
    const e = caught(() => parseFirewallConfig({ name: "n", ...keys }));
    t.equal(e.code, 7, JSON.stringify(keys));
    t.match(e.message, msg);
  }
});

t.test("attachment: every address of prevResult once; the bridge for same-bridge", async (t) => {
  const open = attachmentOf(parseFirewallConfig({ name: "n" }), BRIDGE_RESULT);
  t.same(open.addresses.map(formatIp), ["10.88.0.5", "fd00:88::5"], "the same address twice is one");
  t.equal(open.bridge, undefined, "open: no isolation");
  const same = attachmentOf(parseFirewallConfig({ name: "n", ingressPolicy: "same-bridge" }), BRIDGE_RESULT);
  t.equal(same.bridge, "cni0", "the first interface, as the bridge plugin lists it");
  t.same(attachmentOf(parseFirewallConfig({ name: "n" }), prev([], [])).addresses, [], "no IPs: nothing to accept");

  const sameBridge = parseFirewallConfig({ name: "n", ingressPolicy: "same-bridge" });
  for (const interfaces of [[], [{ name: "eth0", sandbox: "/run/netns/c" }], [{ name: "bad name" }]]) {
    const e = caught(() => attachmentOf(sameBridge, prev(interfaces, [{ address: "10.88.0.5/16" }])));
    t.equal(e.code, 7, `same-bridge with interfaces ${JSON.stringify(interfaces)}`);
    t.match(e.message, /needs the bridge as the first interface/);
  }
});

t.test("the conntrack match is byte for byte what iptables-nft writes", async (t) => {
  // `iptables -A CNI-FORWARD -d 10.1.2.3/32 -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`
  // (iptables v1.8.9 nf_tables), the rule's NFTA_EXPR_DATA of its `match` expression as listed
  // over nfnetlink: NFTA_MATCH_NAME "conntrack", NFTA_MATCH_REV 3 (be32), NFTA_MATCH_INFO (168
  // bytes of xt_conntrack_mtinfo3: match_flags XT_CONNTRACK_STATE at 146, state_mask 6 at 150).
  const golden =
    "0e000100636f6e6e747261636b000000" +
    "0800020000000003" +
    "ac000300" +
    "00".repeat(146) +
    "0100" +
    "0000" +
    "0600" +
    "00".repeat(16);
  const [x] = xtCtStateEstablishedRelated();
  t.equal(x?.type, "unknown");
  if (x?.type !== "unknown") return;
  t.equal(x.name, "match");
  t.equal(x.data.toString("hex"), golden);
});

t.test("comments are read from userdata and from iptables' comment match", async (t) => {
  // `iptables -A FORWARD -m comment --comment "CNI firewall plugin rules" -j CNI-FORWARD` (iptables
  // v1.8.9 nf_tables; what iptables-restore makes of our userdata comments too): the NFTA_EXPR_DATA
  // of its `match` expression, NFTA_MATCH_NAME "comment", NFTA_MATCH_REV 0, NFTA_MATCH_INFO char[256].
  const text = Buffer.alloc(256);
  text.write("CNI firewall plugin rules");
  const data = Buffer.concat([Buffer.from("0c000100636f6d6d656e7400080002000000000004010300", "hex"), text]);
  const xtComment = { type: "unknown" as const, name: "match", data };
  const rule = (exprs: Expr[], comment?: string): NftRule => ({ kind: "rule", family: "ip", table: "filter", chain: "FORWARD", exprs, ...(comment ? { comment } : {}) });
  t.equal(ruleComment(rule([xtComment, ...accept()])), "CNI firewall plugin rules");
  t.equal(ruleComment(rule([...accept()], "tscni net=n id=c if=eth0")), "tscni net=n id=c if=eth0");
  t.equal(ruleComment(rule([...xtCtStateEstablishedRelated(), ...accept()])), undefined, "the conntrack match is no comment");
  text.fill(0).write("tscni net=n id=c if=eth0");
  const owned = rule([...xtCtStateEstablishedRelated(), { ...xtComment, data: Buffer.concat([data.subarray(0, 24), text]) }, ...accept()]);
  t.same(ruleOwner(owned), { net: "n", id: "c", ifname: "eth0" }, "an owner comment restored by iptables-restore");
  t.same(withoutXtComments(owned.exprs), [...xtCtStateEstablishedRelated(), ...accept()], "what the rule does, without the comment");
});

/** Runs the plugin in-process with `config` on stdin; returns the exit status and stdout. */
function invoke(command: string, config: object, env: Record<string, string> = {}) {
  let stdout = "";
  const status = runPlugin(firewall, info, {
    env: { CNI_COMMAND: command, CNI_CONTAINERID: "c1", CNI_NETNS: "/proc/self/ns/net", CNI_IFNAME: "eth0", CNI_PATH: "/nonexistent", CNI_NETNS_OVERRIDE: "1", ...env },
    readStdin: () => Buffer.from(JSON.stringify(config)),
    writeStdout: (text) => void (stdout += text),
    writeStderr: () => {},
  });
  return { status, json: stdout ? JSON.parse(stdout) : undefined };
}

t.test("refused input: code 7 before any nftables change", async (t) => {
  const base = { cniVersion: "1.0.0", name: "n", type: "firewall" };
  const prevResult = { cniVersion: "1.0.0", interfaces: [{ name: "cni0" }], ips: [{ address: "10.88.0.5/16" }] };
  const cases: Array<[string, string, object, RegExp]> = [
    ["ADD without prevResult", "ADD", base, /required prevResult missing/],
    ["CHECK without prevResult", "CHECK", base, /required prevResult missing/],
    ["ADD with an unknown ingressPolicy", "ADD", { ...base, prevResult, ingressPolicy: "nope" }, /invalid "ingressPolicy"/],
    ["ADD same-bridge without a bridge", "ADD", { ...base, prevResult: { ...prevResult, interfaces: [] }, ingressPolicy: "same-bridge" }, /needs the bridge/],
  ];
  for (const [what, command, config, msg] of cases) {
    const r = invoke(command, config);
    t.equal(r.status, 1, `${what}: fails`);
    t.equal(r.json?.code, 7, `${what}: code 7`);
    t.match(r.json?.msg, msg, what);
  }
});

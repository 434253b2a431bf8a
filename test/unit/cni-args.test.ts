import t from "tap";
import { checkKnownArgs, parseCniArgs } from "../../lib/cni/args.ts";

t.test("parseCniArgs", async (t) => {
  t.strictSame(parseCniArgs(undefined), new Map());
  t.strictSame(parseCniArgs(""), new Map());
  t.strictSame(
    parseCniArgs("IP=10.1.2.3/24;MAC=c2:11:22:33:44:55"),
    new Map([
      ["IP", "10.1.2.3/24"],
      ["MAC", "c2:11:22:33:44:55"],
    ]),
  );
  t.strictSame(parseCniArgs("K="), new Map([["K", ""]]), "empty value");
  t.strictSame(parseCniArgs("=V"), new Map([["", "V"]]), "empty key is just an unknown key");
  t.strictSame(parseCniArgs("IP=10.0.0.1;IP=10.0.0.2"), new Map([["IP", "10.0.0.2"]]), "last value wins");
  t.strictSame(parseCniArgs("ip=1;IP=2"), new Map([["ip", "1"], ["IP", "2"]]), "keys are case-sensitive");
});

t.test("parseCniArgs: every pair needs exactly one =", async (t) => {
  const cases: Array<[raw: string, pair: string]> = [
    ["IP", "IP"],
    ["A=1;B", "B"],
    ["A=1;", ""],
    ["A=1;;B=2", ""],
    ["X=a=b", "X=a=b"],
  ];
  for (const [raw, pair] of cases) {
    t.throws(() => parseCniArgs(raw), { code: 4, message: `CNI_ARGS: invalid pair "${pair}"` }, raw);
  }
});

t.test("checkKnownArgs", async (t) => {
  const known = ["IP", "MAC"];
  t.doesNotThrow(() => checkKnownArgs(parseCniArgs("IP=10.0.0.2;MAC=c2:11:22:33:44:55"), known));
  t.doesNotThrow(() => checkKnownArgs(parseCniArgs(""), known));
  t.doesNotThrow(() => checkKnownArgs(parseCniArgs("IgnoreUnknown=0;IP=10.0.0.2"), known));
  t.throws(() => checkKnownArgs(parseCniArgs("IP=10.0.0.2;FOO=1;BAR=2"), known), {
    code: 4,
    message: 'CNI_ARGS: unknown keys "FOO", "BAR"',
    details: "known keys: IP, MAC, IgnoreUnknown; set IgnoreUnknown=1 to ignore others",
  });
  t.throws(() => checkKnownArgs(parseCniArgs("ip=10.0.0.2"), known), { code: 4, message: 'CNI_ARGS: unknown keys "ip"' });
  t.throws(() => checkKnownArgs(parseCniArgs("IgnoreUnknown=false;X=1"), known), { code: 4 });
});

t.test("checkKnownArgs: IgnoreUnknown values", async (t) => {
  for (const value of ["1", "true", "True", "TRUE"]) {
    t.doesNotThrow(() => checkKnownArgs(parseCniArgs(`IgnoreUnknown=${value};X=1`), []), value);
  }
  for (const value of ["yes", "", "2"]) {
    t.throws(
      () => checkKnownArgs(parseCniArgs(`IgnoreUnknown=${value}`), []),
      { code: 4, message: `CNI_ARGS: invalid IgnoreUnknown value "${value}"`, details: "want 1, true, 0 or false" },
      value,
    );
  }
  t.throws(() => checkKnownArgs(parseCniArgs("ignoreunknown=1"), []), { code: 4, message: 'CNI_ARGS: unknown keys "ignoreunknown"' });
});

t.test("what containerd and CRI-O send passes with IgnoreUnknown=1", async (t) => {
  const fromContainerd =
    "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;" +
    "K8S_POD_INFRA_CONTAINER_ID=3f2a9c1e5b7d;K8S_POD_UID=5c1d0f7e-1b7a-4c1e-9f3e-2a8d6b0c4e11";
  t.doesNotThrow(() => checkKnownArgs(parseCniArgs(fromContainerd), ["IP"]));
  t.throws(() => checkKnownArgs(parseCniArgs("K8S_POD_NAME=web-0"), ["IP"]), { code: 4 });
});

import t from "tap";
import { readCniEnv, validateContainerId, validateIfName } from "../../lib/cni/env.ts";

const attachment = {
  CNI_CONTAINERID: "3f2a9c1e5b7d",
  CNI_NETNS: "/var/run/netns/cni-1234",
  CNI_IFNAME: "eth0",
  CNI_PATH: "/opt/cni/bin:/usr/lib/cni",
};

t.test("readCniEnv: ADD with everything", async (t) => {
  t.strictSame(readCniEnv({ CNI_COMMAND: "ADD", ...attachment, CNI_ARGS: "IgnoreUnknown=1;K8S_POD_NAME=web-0" }), {
    command: "ADD",
    containerId: "3f2a9c1e5b7d",
    netns: "/var/run/netns/cni-1234",
    ifname: "eth0",
    args: "IgnoreUnknown=1;K8S_POD_NAME=web-0",
    path: ["/opt/cni/bin", "/usr/lib/cni"],
  });
});

t.test("readCniEnv: required variables per command", async (t) => {
  const cases: Array<[command: string, missing: string]> = [
    ["ADD", "CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME,CNI_PATH"],
    ["CHECK", "CNI_CONTAINERID,CNI_NETNS,CNI_IFNAME,CNI_PATH"],
    ["DEL", "CNI_CONTAINERID,CNI_IFNAME,CNI_PATH"],
    ["GC", "CNI_PATH"],
  ];
  for (const [command, missing] of cases) {
    t.throws(
      () => readCniEnv({ CNI_COMMAND: command }),
      { code: 4, message: `required env variables [${missing}] missing` },
      command,
    );
  }
  t.throws(() => readCniEnv({ CNI_COMMAND: "ADD", ...attachment, CNI_NETNS: "" }), {
    code: 4,
    message: "required env variables [CNI_NETNS] missing",
  });
});

t.test("readCniEnv: what each command can do without", async (t) => {
  const empty = { containerId: "", netns: "", ifname: "", args: "", path: [] };
  t.strictSame(readCniEnv({ CNI_COMMAND: "VERSION" }), { command: "VERSION", ...empty });
  t.strictSame(readCniEnv({ CNI_COMMAND: "STATUS" }), { command: "STATUS", ...empty }, "spec: CNI_PATH optional");
  t.strictSame(readCniEnv({ CNI_COMMAND: "GC", CNI_PATH: "/opt/cni/bin" }), { command: "GC", ...empty, path: ["/opt/cni/bin"] });
  t.strictSame(
    readCniEnv({ CNI_COMMAND: "DEL", CNI_CONTAINERID: "c1", CNI_IFNAME: "eth0", CNI_PATH: "/opt/cni/bin" }),
    { command: "DEL", containerId: "c1", netns: "", ifname: "eth0", args: "", path: ["/opt/cni/bin"] },
    "DEL without netns",
  );
  t.strictSame(
    readCniEnv({ CNI_COMMAND: "GC", CNI_PATH: "/opt/cni/bin", CNI_IFNAME: "not/validated" }).ifname,
    "not/validated",
    "variables a command does not require are not validated",
  );
  t.strictSame(readCniEnv({ CNI_COMMAND: "GC", CNI_PATH: "::/opt/cni/bin:" }).path, ["/opt/cni/bin"], "empty path entries dropped");
});

t.test("readCniEnv: CNI_COMMAND", async (t) => {
  t.throws(() => readCniEnv({}), { code: 4, message: "required env variables [CNI_COMMAND] missing" });
  t.throws(() => readCniEnv({ CNI_COMMAND: "" }), { code: 4, message: "required env variables [CNI_COMMAND] missing" });
  t.throws(() => readCniEnv({ CNI_COMMAND: "add", ...attachment }), { code: 4, message: "unknown CNI_COMMAND: add" });
  t.throws(() => readCniEnv({ CNI_COMMAND: "FOO" }), { code: 4, message: "unknown CNI_COMMAND: FOO" });
});

t.test("readCniEnv: validation happens in Go's variable order", async (t) => {
  t.throws(() => readCniEnv({ CNI_COMMAND: "ADD", CNI_CONTAINERID: "bad/id" }), {
    code: 4,
    message: "invalid characters in containerID",
  });
  t.throws(() => readCniEnv({ CNI_COMMAND: "DEL", CNI_CONTAINERID: "c1", CNI_IFNAME: "eth:0" }), {
    code: 4,
    message: "interface name contains / or : or whitespace characters",
  });
});

t.test("validateContainerId", async (t) => {
  for (const good of ["a", "0", "3f2a9c1e5b7d", "cnitool-77383ca0a0715733ca6f", "a.b_c-d", "A1"]) {
    t.doesNotThrow(() => validateContainerId(good), good);
  }
  t.throws(() => validateContainerId(""), { code: 3, message: "missing containerID" });
  for (const bad of ["-a", ".a", "_a", "a/b", "a b", "a:b", "ä"]) {
    t.throws(
      () => validateContainerId(bad),
      { code: 4, message: "invalid characters in containerID", details: `"${bad}" must match ^[a-zA-Z0-9][a-zA-Z0-9_.\\-]*$` },
      bad,
    );
  }
});

t.test("validateIfName", async (t) => {
  for (const good of ["eth0", "a", "net1.100", "veth_abcdefghij", "x".repeat(15), "é".repeat(7), "..."]) {
    t.doesNotThrow(() => validateIfName(good), good);
  }
  t.throws(() => validateIfName(""), { code: 4, message: "interface name is empty" });
  t.throws(() => validateIfName("x".repeat(16)), {
    code: 4,
    message: "interface name is too long",
    details: `"${"x".repeat(16)}" is 16 bytes, the limit is 15`,
  });
  t.throws(() => validateIfName("é".repeat(8)), { code: 4, message: "interface name is too long" }, "limit counts bytes");
  t.throws(() => validateIfName("."), { code: 4, message: "interface name is . or .." });
  t.throws(() => validateIfName(".."), { code: 4, message: "interface name is . or .." });
  for (const bad of ["a/b", "a:b", "a b", "a\tb", "a\nb", "a\u0085b", "a\u00a0b", "a\u2003b", "a\u3000b"]) {
    t.throws(
      () => validateIfName(bad),
      { code: 4, message: "interface name contains / or : or whitespace characters" },
      JSON.stringify(bad),
    );
  }
  t.doesNotThrow(() => validateIfName("a\ufeffb"), "U+FEFF is not White_Space (Go's unicode.IsSpace)");
});

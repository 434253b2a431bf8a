import t from "tap";
import {
  compareVersions,
  isSupportedVersion,
  pickVersion,
  SUPPORTED_VERSIONS,
  versionHasCheck,
  versionHasGcStatus,
} from "../../lib/cni/version.ts";

const ALL_DETAILS = 'plugin supports ["0.1.0" "0.2.0" "0.3.0" "0.3.1" "0.4.0" "1.0.0" "1.1.0"]';

t.test("SUPPORTED_VERSIONS is Go's version.All", async (t) => {
  t.strictSame([...SUPPORTED_VERSIONS], ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]);
});

t.test("compareVersions", async (t) => {
  const cases: Array<[a: string, b: string, expected: -1 | 0 | 1]> = [
    ["0.1.0", "0.2.0", -1],
    ["0.3.1", "0.3.0", 1],
    ["0.4.0", "0.4.0", 0],
    ["1.0.0", "0.4.0", 1],
    ["0.10.0", "0.9.0", 1],
    ["1.1.0", "1.0.9", 1],
    ["", "0.1.0", 0],
    ["1", "1.0.0", 0],
    ["1.1", "1.1.0", 0],
    ["2.0.0", "10.0.0", -1],
  ];
  for (const [a, b, expected] of cases) t.equal(compareVersions(a, b), expected, `${a} vs ${b}`);
});

t.test("compareVersions: malformed versions are code 6", async (t) => {
  for (const bad of ["1.0.0.0", "v1.0.0", "1.0.f", "1..0", "1.0.", " 1.0.0", "-1.0.0"]) {
    t.throws(() => compareVersions(bad, "1.0.0"), { code: 6, message: `invalid CNI version "${bad}"` }, bad);
  }
});

t.test("isSupportedVersion matches exact strings", async (t) => {
  t.ok(isSupportedVersion("0.3.1"));
  t.ok(isSupportedVersion("1.1.0"));
  t.notOk(isSupportedVersion("1.0"));
  t.notOk(isSupportedVersion("0.5.0"));
  t.notOk(isSupportedVersion(""));
});

t.test("verb helpers", async (t) => {
  t.strictSame(
    SUPPORTED_VERSIONS.map((version) => [version, versionHasCheck(version), versionHasGcStatus(version)]),
    [
      ["0.1.0", false, false],
      ["0.2.0", false, false],
      ["0.3.0", false, false],
      ["0.3.1", false, false],
      ["0.4.0", true, false],
      ["1.0.0", true, false],
      ["1.1.0", true, true],
    ],
  );
  t.throws(() => versionHasCheck("x"), { code: 6 });
});

t.test("pickVersion", async (t) => {
  t.equal(pickVersion({}), "0.1.0", "no cniVersion means 0.1.0");
  t.equal(pickVersion({ cniVersion: "" }), "0.1.0");
  t.equal(pickVersion({ cniVersion: null }), "0.1.0");
  t.equal(pickVersion({ cniVersion: "0.4.0" }), "0.4.0");
  t.equal(pickVersion({ cniVersion: "1.0.0", cniVersions: ["0.1.0", "0.4.0"] }), "1.0.0");
  t.equal(pickVersion({ cniVersion: "0.4.0", cniVersions: ["1.1.0", "0.3.1"] }), "1.1.0");
  t.equal(pickVersion({ cniVersions: ["1.1.0", "0.4.0", "1.0.0"] }), "1.1.0");
  t.equal(pickVersion({ cniVersions: ["99.0.0", "1.0.0"] }), "1.0.0", "newer versions are skipped");
  t.equal(pickVersion({ cniVersion: "1.2.0", cniVersions: ["0.4.0"] }), "0.4.0");
  t.equal(pickVersion({ cniVersions: [] }), "0.1.0");
});

t.test("pickVersion: plugin-specific version list", async (t) => {
  const supported = ["0.3.0", "0.3.1", "0.4.0", "1.0.0"] as const;
  t.equal(pickVersion({ cniVersion: "0.4.0", cniVersions: ["1.1.0"] }, supported), "0.4.0");
  t.throws(() => pickVersion({}, supported), {
    code: 1,
    message: "incompatible CNI versions",
    details: 'config is "0.1.0", plugin supports ["0.3.0" "0.3.1" "0.4.0" "1.0.0"]',
  });
});

t.test("pickVersion: unsupported versions are code 1 with Go's details", async (t) => {
  for (const version of ["0.5.0", "1.2.0", "1.0", "abc"]) {
    t.throws(
      () => pickVersion({ cniVersion: version }),
      { code: 1, message: "incompatible CNI versions", details: `config is "${version}", ${ALL_DETAILS}` },
      version,
    );
  }
  t.throws(() => pickVersion({ cniVersion: "2.0.0", cniVersions: ["3.0.0"] }), {
    code: 1,
    details: `config is "2.0.0", ${ALL_DETAILS}`,
  });
});

t.test("pickVersion: undecodable fields are code 6", async (t) => {
  t.throws(() => pickVersion({ cniVersion: 1 }), { code: 6, message: "cniVersion must be a string, got 1" });
  t.throws(() => pickVersion({ cniVersion: "1.0.0", cniVersions: "1.1.0" }), {
    code: 6,
    message: 'cniVersions must be a list of strings, got "1.1.0"',
  });
  t.throws(() => pickVersion({ cniVersions: ["1.0.0", 1] }), { code: 6, message: "cniVersions[1] must be a string, got 1" });
  t.throws(() => pickVersion({ cniVersions: ["1.1.0", "1.0.f"] }), { code: 6, message: 'invalid CNI version "1.0.f"' });
});

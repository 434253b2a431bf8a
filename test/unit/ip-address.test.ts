// Canonical address text (what Go's net.IP.String prints and host-local names its lease files by).
import t from "tap";
import { formatIp, formatPrefix, parseIp, parsePrefix } from "../../lib/ip/address.ts";

t.test("IPv4 prints as a dotted quad", async (t) => {
  for (const text of ["0.0.0.0", "10.0.0.1", "127.0.0.1", "255.255.255.255"]) t.equal(formatIp(parseIp(text)), text);
});

t.test("IPv6 prints in RFC 5952 form", async (t) => {
  const cases: Array<[string, string]> = [
    ["0:0:0:0:0:0:0:0", "::"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["fd00:0:0:0:0:0:0:1", "fd00::1"],
    ["1:0:0:0:0:0:0:0", "1::"],
    ["1:0:0:1:0:0:0:1", "1:0:0:1::1"], // the longest run of zeros is compressed
    ["1:0:0:0:1:0:0:1", "1::1:0:0:1"], // of two equal runs, the first
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // a single zero group stays
    ["FD00:77:0:0:0:0:0:2", "fd00:77::2"], // lower case
    ["1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"],
  ];
  for (const [input, canonical] of cases) t.equal(formatIp(parseIp(input)), canonical, input);
});

t.test("prefixes keep their length", async (t) => {
  t.equal(formatPrefix(parsePrefix("::1/128")), "::1/128");
  t.equal(formatPrefix(parsePrefix("10.1.2.3/8")), "10.1.2.3/8");
});

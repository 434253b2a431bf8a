import t from "tap";
import { CliError } from "../../cli/context.ts";
import { allocatePorts, formatMapping, parsePortSpec } from "../../cli/network/ports.ts";
import { caught } from "../helpers/assert.ts";

t.test("-p forms, docker's syntax", async (t) => {
  t.strictSame(parsePortSpec("80"), { containerPort: 80, protocol: "tcp" });
  t.strictSame(parsePortSpec("8080:80"), { containerPort: 80, protocol: "tcp", hostPort: 8080 });
  t.strictSame(parsePortSpec("127.0.0.1:8080:80/udp"), { containerPort: 80, protocol: "udp", hostIP: "127.0.0.1", hostPort: 8080 });
  t.strictSame(parsePortSpec("127.0.0.1::80"), { containerPort: 80, protocol: "tcp", hostIP: "127.0.0.1" });
  t.strictSame(parsePortSpec("[fd00::1]:8443:443/TCP"), { containerPort: 443, protocol: "tcp", hostIP: "fd00::1", hostPort: 8443 });
  t.strictSame(parsePortSpec("53/sctp"), { containerPort: 53, protocol: "sctp" });
});

t.test("bad -p values name the part that is wrong", async (t) => {
  const cases: Array<[string, RegExp]> = [
    ["0", /container port "0"/],
    ["65536", /container port "65536"/],
    ["80/icmp", /unknown protocol "icmp"/],
    ["x:80", /host port "x"/],
    ["1.2.3:80:80", /"1.2.3" is not an IP address/],
    ["a:b:c:d", /too many parts/],
    ["", /container port ""/],
    ["[fd00::1]:80", /too many parts/],
  ];
  for (const [spec, msg] of cases) {
    const e = caught(() => parsePortSpec(spec));
    t.type(e, CliError, spec);
    t.match(e.message, msg, spec);
    t.match(e.message, /want \[HOST_IP:\]\[HOST_PORT:\]CONTAINER_PORT/);
  }
});

t.test("explicit host ports: kept, and refused when another attachment has them", async (t) => {
  const taken = [{ hostPort: 8080, containerPort: 80, protocol: "tcp" }];
  t.strictSame(allocatePorts([parsePortSpec("8080:80/udp"), parsePortSpec("8081:80")], taken), [
    { containerPort: 80, protocol: "udp", hostPort: 8080 },
    { containerPort: 80, protocol: "tcp", hostPort: 8081 },
  ]);
  t.match(caught(() => allocatePorts([parsePortSpec("8080:81")], taken)).message, "host port 8080/tcp is already mapped by another attachment");
  t.match(caught(() => allocatePorts([parsePortSpec("9000:81"), parsePortSpec("9000:82")], [])).message, "host port 9000/tcp is already mapped twice");
  // Different host IPs do not clash; no host IP clashes with any.
  t.equal(allocatePorts([parsePortSpec("10.1.0.1:9000:80"), parsePortSpec("10.1.0.2:9000:80")], []).length, 2);
  t.throws(() => allocatePorts([parsePortSpec("10.1.0.1:9000:80"), parsePortSpec("9000:80")], []), CliError);
});

t.test("a missing host port is a free one: not mapped already, not given explicitly", async (t) => {
  const start = 0; // random() = 0 starts at the bottom of ip_local_port_range
  const [low] = allocatePorts([parsePortSpec("80")], [], () => start).map((m) => m.hostPort);
  t.ok(low! >= 1024 && low! <= 65535, `picked ${low}`);
  // Taking that port away (by another attachment, or by an explicit -p of this call) moves the pick.
  const next = allocatePorts([parsePortSpec("80")], [{ hostPort: low!, containerPort: 1, protocol: "tcp" }], () => start)[0]!;
  t.not(next.hostPort, low);
  const both = allocatePorts([parsePortSpec("80"), parsePortSpec(`${low}:81`)], [], () => start);
  t.equal(both[1]!.hostPort, low);
  t.not(both[0]!.hostPort, low, "the explicit port is placed first");
  t.equal(both[0]!.containerPort, 80, "results keep the order given");
  // Another protocol is another port space.
  t.equal(allocatePorts([parsePortSpec("80/udp")], [{ hostPort: low!, containerPort: 1, protocol: "tcp" }], () => start)[0]!.protocol, "udp");
});

t.test("formatMapping", async (t) => {
  t.equal(formatMapping({ hostPort: 8080, containerPort: 80, protocol: "tcp" }), "0.0.0.0:8080->80/tcp");
  t.equal(formatMapping({ hostPort: 53, containerPort: 53, protocol: "udp", hostIP: "127.0.0.1" }), "127.0.0.1:53->53/udp");
});

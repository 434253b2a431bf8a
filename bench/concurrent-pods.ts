// Adds then deletes one attachment per given netns, `concurrency` plugin execs at a time, and prints
// {pods, concurrency, addPhaseMs, delPhaseMs, failures, duplicateIps} as JSON. Reads its request
// ({pluginDir, plugin, conf, netns[], concurrency}) on stdin. Used by bench/scenarios/bridge.ts.
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";

interface Request {
  pluginDir: string;
  plugin: string;
  conf: object;
  netns: string[];
  concurrency: number;
}

const req = JSON.parse(readFileSync(0, "utf8")) as Request;
const stdin = JSON.stringify(req.conf);

function exec(command: string, i: number): Promise<{ status: number; stdout: string }> {
  return new Promise((resolve, reject) => {
    const env = {
      PATH: process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin",
      CNI_COMMAND: command,
      CNI_CONTAINERID: `tbn-conc-${i}`,
      CNI_NETNS: req.netns[i]!,
      CNI_IFNAME: "eth0",
      CNI_PATH: req.pluginDir,
    };
    const child = spawn(join(req.pluginDir, req.plugin), [], { env, stdio: ["pipe", "pipe", "ignore"] });
    let stdout = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.on("error", reject);
    child.on("close", (status) => resolve({ status: status ?? 128, stdout }));
    child.stdin.end(stdin);
  });
}

/** Runs one job per netns, `concurrency` at a time; the wall time in ms. */
async function phase(job: (i: number) => Promise<void>): Promise<number> {
  const start = process.hrtime.bigint();
  let next = 0;
  const worker = async () => {
    while (next < req.netns.length) await job(next++);
  };
  await Promise.all(Array.from({ length: req.concurrency }, worker));
  return Number(process.hrtime.bigint() - start) / 1e6;
}

let failures = 0;
const ips: string[] = [];
const addPhaseMs = await phase(async (i) => {
  const r = await exec("ADD", i);
  if (r.status !== 0) failures++;
  else for (const ip of (JSON.parse(r.stdout) as { ips?: Array<{ address: string }> }).ips ?? []) ips.push(ip.address);
});
const delPhaseMs = await phase(async (i) => {
  if ((await exec("DEL", i)).status !== 0) failures++;
});
const round = (x: number) => Number(x.toFixed(1));
console.log(
  JSON.stringify({
    pods: req.netns.length,
    concurrency: req.concurrency,
    addPhaseMs: round(addPhaseMs),
    delPhaseMs: round(delPhaseMs),
    failures,
    duplicateIps: ips.length - new Set(ips).size,
  }),
);

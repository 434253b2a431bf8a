// Pods as a kubelet makes them: RunPodSandbox, then a container in it (a busybox image running
// socat, which answers every TCP connection and every UDP datagram with the pod's token).
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { Containerd } from "./containerd.ts";
import type { DnsConfig, PodSandboxConfig, PortMapping } from "./cri-client.ts";

export const TCP_PORT = 8000;
export const UDP_PORT = 8001;

export interface PodSpec {
  name: string;
  portMappings?: PortMapping[];
  dns?: DnsConfig;
  /** Start the token server container (default true). */
  serve?: boolean;
}

export interface Pod {
  id: string;
  name: string;
  config: PodSandboxConfig;
  /** The IP containerd reports (PodSandboxStatus.network.ip). */
  ip: string;
  /** The sandbox's pid, whose /proc/<pid>/ns/net is the pod's netns. */
  pid: number;
  /** The pod netns path containerd handed to the plugins (`CNI_NETNS`), in containerd's mount ns. */
  netnsPath: string;
  /** What the pod's servers answer. */
  token: string;
}

export function podConfig(cd: Containerd, spec: PodSpec): PodSandboxConfig {
  return {
    metadata: { name: spec.name, uid: randomBytes(8).toString("hex"), namespace: "tcri", attempt: 0 },
    hostname: spec.name,
    logDirectory: join(cd.dir, "logs", spec.name),
    ...(spec.dns ? { dnsConfig: spec.dns } : {}),
    portMappings: spec.portMappings ?? [],
    labels: { app: spec.name },
    linux: { cgroupParent: cd.cgroupParent },
  };
}

/** `/proc/<pid>/net/{tcp,udp}` lists a socket bound to `port` (hex, as the kernel prints it). */
function listening(pid: number, proto: "tcp" | "udp", port: number): boolean {
  const local = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  return readFileSync(`/proc/${pid}/net/${proto}`, "utf8")
    .split("\n")
    .slice(1)
    .some((line) => line.trim().split(/\s+/)[1]?.endsWith(local) === true);
}

/** RunPodSandbox (+ CreateContainer/StartContainer of the token server), then PodSandboxStatus. */
export async function runPod(cd: Containerd, spec: PodSpec): Promise<Pod> {
  const config = podConfig(cd, spec);
  const id = await cd.client.runPodSandbox(config);
  const status = await cd.client.podSandboxStatus(id, true);
  const info = JSON.parse(status.info.info ?? "{}") as { pid?: number; runtimeSpec?: { linux?: { namespaces?: { type: string; path?: string }[] } } };
  const netnsPath = info.runtimeSpec?.linux?.namespaces?.find((n) => n.type === "network")?.path;
  if (!info.pid || !netnsPath) throw new Error(`PodSandboxStatus of ${spec.name} has no pid/netns in its verbose info`);
  const pod: Pod = { id, name: spec.name, config, ip: status.status.network?.ip ?? "", pid: info.pid, netnsPath, token: `token-${spec.name}` };
  if (spec.serve ?? true) await serveToken(cd, pod);
  return pod;
}

async function serveToken(cd: Containerd, pod: Pod): Promise<void> {
  const reply = `SYSTEM:'echo ${pod.token}'`;
  const containerId = await cd.client.createContainer(
    pod.id,
    {
      metadata: { name: "token", attempt: 0 },
      image: { image: cd.image },
      command: ["/bin/sh", "-c", `socat TCP-LISTEN:${TCP_PORT},fork,reuseaddr ${reply} & exec socat UDP-RECVFROM:${UDP_PORT},fork ${reply}`],
      logPath: "token.log",
    },
    pod.config,
  );
  await cd.client.startContainer(containerId);
  const deadline = Date.now() + 10_000;
  while (!(listening(pod.pid, "tcp", TCP_PORT) && listening(pod.pid, "udp", UDP_PORT))) {
    if (Date.now() > deadline) {
      const st = await cd.client.containerStatus(containerId);
      throw new Error(`token server of ${pod.name} not listening (container ${st.status.state} ${st.status.reason} ${st.status.message})`);
    }
    await sleep(50);
  }
}

/** StopPodSandbox + RemovePodSandbox, as the kubelet does when a pod goes away. */
export async function removePod(cd: Containerd, pod: Pod): Promise<void> {
  await cd.client.stopPodSandbox(pod.id);
  await cd.client.removePodSandbox(pod.id);
}

// The kubelet's side of the CRI, as far as the CNI scenarios need it: a gRPC client of containerd's
// `runtime.v1.RuntimeService` over its unix socket, from the proto subset in proto/runtime-v1.proto.
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { fileURLToPath } from "node:url";

const PROTO = fileURLToPath(new URL("./proto/runtime-v1.proto", import.meta.url));

export type Protocol = "TCP" | "UDP" | "SCTP";

export interface PortMapping {
  protocol: Protocol;
  containerPort: number;
  hostPort: number;
  hostIp?: string;
}

export interface DnsConfig {
  servers: string[];
  searches: string[];
  options: string[];
}

export interface PodSandboxMetadata {
  name: string;
  uid: string;
  namespace: string;
  attempt?: number;
}

export interface PodSandboxConfig {
  metadata: PodSandboxMetadata;
  hostname?: string;
  logDirectory?: string;
  dnsConfig?: DnsConfig;
  portMappings?: PortMapping[];
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  linux?: { cgroupParent?: string; securityContext?: { namespaceOptions?: { network?: "POD" | "NODE" } } };
}

export interface PodSandboxStatus {
  id: string;
  metadata: PodSandboxMetadata;
  state: "SANDBOX_READY" | "SANDBOX_NOTREADY";
  network: { ip: string; additionalIps: { ip: string }[] } | null;
}

export interface PodSandboxStatusResponse {
  status: PodSandboxStatus;
  /** Only with `verbose`: JSON strings, e.g. `info.info` = `{pid, runtimeSpec, ...}` in containerd. */
  info: Record<string, string>;
}

export interface PodSandbox {
  id: string;
  metadata: PodSandboxMetadata;
  state: "SANDBOX_READY" | "SANDBOX_NOTREADY";
}

export interface ContainerConfig {
  metadata: { name: string; attempt?: number };
  image: { image: string };
  command?: string[];
  args?: string[];
  labels?: Record<string, string>;
  logPath?: string;
}

export interface ContainerStatusResponse {
  status: { id: string; state: "CONTAINER_CREATED" | "CONTAINER_RUNNING" | "CONTAINER_EXITED" | "CONTAINER_UNKNOWN"; exitCode: number; reason: string; message: string };
  info: Record<string, string>;
}

export interface RuntimeCondition {
  type: string;
  status: boolean;
  reason: string;
  message: string;
}

export interface VersionResponse {
  version: string;
  runtimeName: string;
  runtimeVersion: string;
  runtimeApiVersion: string;
}

type Callback<R> = (err: grpc.ServiceError | null, res: R) => void;
type RawClient = grpc.Client & Record<string, (req: unknown, opts: grpc.CallOptions, cb: Callback<unknown>) => void>;

let serviceCtor: grpc.ServiceClientConstructor | undefined;

function loadService(): grpc.ServiceClientConstructor {
  if (serviceCtor) return serviceCtor;
  const definition = protoLoader.loadSync(PROTO, { keepCase: false, longs: String, enums: String, defaults: true, arrays: true });
  const pkg = grpc.loadPackageDefinition(definition) as unknown as { runtime: { v1: { RuntimeService: grpc.ServiceClientConstructor } } };
  serviceCtor = pkg.runtime.v1.RuntimeService;
  return serviceCtor;
}

/** A failed RPC: `code` is the gRPC status, `details` containerd's message. */
export class CriError extends Error {
  constructor(
    readonly method: string,
    readonly code: grpc.status,
    readonly details: string,
  ) {
    super(`${method}: ${grpc.status[code] ?? code}: ${details}`);
  }
}

export class CriClient {
  private readonly client: RawClient;

  /** Every call fails after this many ms (a hung runtime must not hang the test). */
  constructor(
    socketPath: string,
    private readonly timeoutMs = 60_000,
  ) {
    const Service = loadService();
    this.client = new Service(`unix://${socketPath}`, grpc.credentials.createInsecure()) as RawClient;
  }

  private call<R>(method: string, request: object): Promise<R> {
    return new Promise((resolve, reject) => {
      const fn = this.client[method];
      if (!fn) throw new Error(`no CRI method ${method}`);
      fn.call(this.client, request, { deadline: Date.now() + this.timeoutMs }, (err, res) => {
        if (err) reject(new CriError(method, err.code, err.details));
        else resolve(res as R);
      });
    });
  }

  version(): Promise<VersionResponse> {
    return this.call("Version", { version: "v1" });
  }

  async runPodSandbox(config: PodSandboxConfig): Promise<string> {
    const res = await this.call<{ podSandboxId: string }>("RunPodSandbox", { config, runtimeHandler: "" });
    return res.podSandboxId;
  }

  podSandboxStatus(podSandboxId: string, verbose = false): Promise<PodSandboxStatusResponse> {
    return this.call("PodSandboxStatus", { podSandboxId, verbose });
  }

  async listPodSandbox(): Promise<PodSandbox[]> {
    const res = await this.call<{ items: PodSandbox[] }>("ListPodSandbox", {});
    return res.items;
  }

  async stopPodSandbox(podSandboxId: string): Promise<void> {
    await this.call("StopPodSandbox", { podSandboxId });
  }

  async removePodSandbox(podSandboxId: string): Promise<void> {
    await this.call("RemovePodSandbox", { podSandboxId });
  }

  async createContainer(podSandboxId: string, config: ContainerConfig, sandboxConfig: PodSandboxConfig): Promise<string> {
    const res = await this.call<{ containerId: string }>("CreateContainer", { podSandboxId, config, sandboxConfig });
    return res.containerId;
  }

  async startContainer(containerId: string): Promise<void> {
    await this.call("StartContainer", { containerId });
  }

  containerStatus(containerId: string, verbose = false): Promise<ContainerStatusResponse> {
    return this.call("ContainerStatus", { containerId, verbose });
  }

  /** Runtime conditions, e.g. `NetworkReady` false until a CNI config has been loaded. */
  async status(): Promise<RuntimeCondition[]> {
    const res = await this.call<{ status: { conditions: RuntimeCondition[] } | null }>("Status", { verbose: false });
    return res.status?.conditions ?? [];
  }

  close(): void {
    this.client.close();
  }
}

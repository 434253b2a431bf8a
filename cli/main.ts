// `tscni`: cnitool's verbs, docker-style network management over conflists, and `install`.
// Loaded only when the multi-call executable is invoked as "tscni" (plugins/main.ts imports it
// lazily), so plugins never pay for yargs.
import yargs, { type Argv } from "yargs";
import { CniError } from "../lib/cni/errors.ts";
import { PluginError } from "../lib/runtime/index.ts";
import { execDirect } from "../lib/runtime/direct-exec.ts";
import { encodeText, writeFd } from "../lib/sys/files.ts";
import { runAttachmentVerb, runGc, runStatus, type CnitoolVerb } from "./cnitool.ts";
import { CliError, DEFAULT_CACHE_DIR, DEFAULT_CNI_PATH, DEFAULT_CONF_DIR, settingsOf, type CliContext } from "./context.ts";
import { install } from "./install.ts";
import { connectNetwork, disconnectNetwork } from "./network/connect.ts";
import { createNetwork, describeCreated } from "./network/create.ts";
import { inspectNetwork, listNetworks, renderNetworks } from "./network/list.ts";
import { formatMapping } from "./network/ports.ts";
import { removeNetwork } from "./network/remove.ts";
import { DRIVERS, type Driver } from "./network/templates.ts";
import { renderTable } from "./table.ts";

const VERSION = "0.1.0";

const EPILOGUE = `Environment: NETCONFPATH (--conf-dir), CNI_PATH (--cni-path), CNI_CACHE_DIR (--cache-dir), and for add/check/del as cnitool: CNI_ARGS (K=V;K2=V2), CAP_ARGS (JSON capability args), CNI_IFNAME (default eth0).`;

type GlobalArgs = { "conf-dir"?: string; "cni-path"?: string; "cache-dir"?: string };

/** The binary's entry: runs the CLI on this process's arguments and exits with its status. */
export async function main(plugins: string[]): Promise<never> {
  const ctx: CliContext = {
    io: { out: (text) => writeFd(1, encodeText(text)), err: (text) => writeFd(2, encodeText(text)) },
    env: process.env,
    cwd: process.cwd(),
    exec: execDirect,
    self: process.execPath,
    plugins,
  };
  process.exit(await runCli(process.argv.slice(2), ctx));
}

/** Runs one command line; returns the exit status (0 ok, 1 failed, 2 bad usage). */
export async function runCli(argv: string[], ctx: CliContext): Promise<number> {
  let action: (() => void) | undefined;
  const run = (fn: () => void) => {
    action = fn;
  };
  const cli = yargs()
    .scriptName("tscni")
    .usage("$0 <command> [options]\n\nCNI networks from the command line: cnitool's verbs, docker-style networks, installation.")
    .option("conf-dir", { type: "string", describe: `network configurations [NETCONFPATH, default ${DEFAULT_CONF_DIR}]` })
    .option("cni-path", { type: "string", describe: `plugin directories, ":"-separated [CNI_PATH, default ${DEFAULT_CNI_PATH}]` })
    .option("cache-dir", { type: "string", describe: `result cache and IPAM leases [CNI_CACHE_DIR, default ${DEFAULT_CACHE_DIR}]` })
    .group(["conf-dir", "cni-path", "cache-dir", "help", "version"], "Global options:");

  for (const [verb, describe] of [
    ["add", "attach a network to a netns (cnitool add) and print the result"],
    ["check", "check an attachment (cnitool check)"],
    ["del", "detach a network from a netns (cnitool del)"],
  ] as const) {
    cli.command(
      `${verb} <network> <netns>`,
      describe,
      (y) => attachmentOptions(y),
      (a) => run(() => runAttachmentVerb(ctx, settingsOf(ctx, a), verb as CnitoolVerb, { network: a.network, netns: a.netns, ifname: a.ifname })),
    );
  }
  cli.command(
    "gc <network> [netns]",
    "DEL cached attachments whose netns is gone, then GC every plugin",
    (y) =>
      y
        .positional("network", { type: "string", demandOption: true })
        .positional("netns", { type: "string", describe: "ignored (cnitool takes one)" })
        .option("all", { type: "boolean", default: false, describe: "treat no attachment as valid: DEL every cached one (cnitool's gc)" }),
    (a) => run(() => runGc(ctx, settingsOf(ctx, a), a.network, a.all)),
  );
  cli.command(
    "status <network> [netns]",
    "ask every plugin of the network whether it is ready (STATUS)",
    (y) => y.positional("network", { type: "string", demandOption: true }).positional("netns", { type: "string", describe: "ignored (cnitool takes one)" }),
    (a) => run(() => runStatus(ctx, settingsOf(ctx, a), a.network)),
  );
  cli.command("network", "create, list, inspect, remove, connect and disconnect networks", (y) => networkCommands(y, ctx, run).demandCommand(1, "network: name a subcommand"));
  cli.command(
    "install",
    "put every plugin of this executable (and tscni) into a CNI bin directory",
    (y) =>
      y
        .option("dir", { type: "string", default: DEFAULT_CNI_PATH, describe: "the directory" })
        .option("force", { type: "boolean", default: false, describe: "replace existing files with our names" })
        .option("json", { type: "boolean", default: false, describe: "print the steps as JSON" }),
    (a) =>
      run(() => {
        const steps = install({ source: ctx.self, dir: a.dir, names: [...ctx.plugins, "tscni"], force: a.force });
        ctx.io.out(a.json ? `${JSON.stringify(steps, null, 2)}\n` : renderTable(["NAME", "ACTION", "PATH"], steps.map((s) => [s.name, s.action, s.path])));
      }),
  );

  cli
    .demandCommand(1, "name a command")
    .strict()
    .recommendCommands()
    .version(VERSION)
    .help()
    .alias("help", "h")
    .epilogue(EPILOGUE)
    .wrap(Math.min(100, process.stdout.columns || 80))
    .exitProcess(false)
    .fail((msg, err) => {
      throw err ?? new UsageError(msg);
    });

  let output = "";
  try {
    await cli.parseAsync(argv, {}, (_err, _argv, text) => {
      output = text;
    });
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    ctx.io.err(`tscni: ${e.message}\n(see ${["tscni", ...commandPath(argv)].join(" ")} --help)\n`);
    return 2;
  }
  if (!action) {
    if (output) ctx.io.out(`${output}\n`);
    return 0;
  }
  try {
    action();
    return 0;
  } catch (e) {
    ctx.io.err(`${describeError(e)}\n`);
    return 1;
  }
}

class UsageError extends Error {}

const COMMANDS = new Set(["add", "check", "del", "gc", "status", "network", "install"]);
const NETWORK_COMMANDS = new Set(["create", "ls", "list", "inspect", "rm", "remove", "connect", "disconnect"]);

/** The (sub)command words of a command line, for the help hint. */
function commandPath(argv: string[]): string[] {
  const [first = "", second = ""] = argv;
  if (!COMMANDS.has(first)) return [];
  return first === "network" && NETWORK_COMMANDS.has(second) ? [first, second] : [first];
}

function attachmentOptions(y: Argv<GlobalArgs>) {
  return y
    .positional("network", { type: "string", demandOption: true, describe: "network name (a conflist in the conf dir)" })
    .positional("netns", { type: "string", demandOption: true, describe: "netns path, e.g. /run/netns/NAME" })
    .option("ifname", { alias: "i", type: "string", describe: "interface name [CNI_IFNAME, default eth0]" });
}

function networkCommands(y: Argv<GlobalArgs>, ctx: CliContext, run: (fn: () => void) => void): Argv<GlobalArgs> {
  return y
    .command(
      "create <name>",
      "write a conflist for a new network",
      (c) =>
        c
          .positional("name", { type: "string", demandOption: true })
          .option("driver", { alias: "d", choices: DRIVERS, default: "bridge" as Driver, describe: "the plugin that connects containers" })
          .option("subnet", { type: "string", array: true, describe: "CIDR; repeat for dual stack [default: a free /24 of 10.89.0.0/16]" })
          .option("gateway", { type: "string", array: true, describe: "gateway of the subnet it is in [default: its first address]" })
          .option("ip-range", { type: "string", array: true, describe: "allocate container addresses from this CIDR of a subnet" })
          .option("internal", { type: "boolean", default: false, describe: "no masquerade, no default route" })
          .option("isolation", { type: "boolean", default: false, describe: "no traffic to other isolated networks (bridge, vxlan)" })
          .option("opt", {
            alias: "o",
            type: "string",
            array: true,
            describe: "driver option KEY=VALUE: bridge: bridge, mtu; macvlan/ipvlan: parent, mode, mtu; vxlan: vni, mode, peer=IP[,SUBNET], group, localIP, underlayInterface, port, mtu, bridge",
          })
          .option("json", { type: "boolean", default: false, describe: "print the path and configuration as JSON" }),
      (a) =>
        run(() => {
          const created = createNetwork(ctx, settingsOf(ctx, a), {
            name: a.name,
            driver: a.driver,
            subnet: a.subnet ?? [],
            gateway: a.gateway ?? [],
            ipRange: a["ip-range"] ?? [],
            internal: a.internal,
            isolation: a.isolation,
            opt: a.opt ?? [],
          });
          ctx.io.out(a.json ? `${JSON.stringify(created, null, 2)}\n` : describeCreated(created.path, created.config));
        }),
    )
    .command(
      ["ls", "list"],
      "list the networks in the conf dir",
      (c) => c.option("format", { choices: ["table", "json"] as const, default: "table" as const, describe: "output format" }),
      (a) =>
        run(() => {
          const networks = listNetworks(ctx, settingsOf(ctx, a));
          ctx.io.out(a.format === "json" ? `${JSON.stringify(networks, null, 2)}\n` : renderNetworks(networks));
        }),
    )
    .command(
      "inspect <names..>",
      "print networks as JSON: configuration and attachments (from the result cache)",
      (c) => c.positional("names", { type: "string", array: true, demandOption: true }),
      (a) => run(() => ctx.io.out(`${JSON.stringify(a.names.map((name) => inspectNetwork(settingsOf(ctx, a), name)), null, 2)}\n`)),
    )
    .command(
      ["rm <names..>", "remove"],
      "delete networks (their conflist, and a bridge nothing uses any more)",
      (c) =>
        c
          .positional("names", { type: "string", array: true, demandOption: true })
          .option("force", { alias: "f", type: "boolean", default: false, describe: "disconnect attached containers first" }),
      (a) =>
        run(() => {
          for (const name of a.names) {
            const removed = removeNetwork(ctx, settingsOf(ctx, a), name, a.force);
            for (const d of removed.disconnected) ctx.io.out(`disconnected ${d.netns || d.containerId} (${d.ifName})\n`);
            for (const b of removed.bridges) ctx.io.out(`deleted bridge ${b}\n`);
            ctx.io.out(`removed network "${name}": ${removed.path}\n`);
          }
        }),
    )
    .command(
      "connect <network> <netns>",
      "attach a network to a netns (a name from `ip netns` or a path)",
      (c) =>
        c
          .positional("network", { type: "string", demandOption: true })
          .positional("netns", { type: "string", demandOption: true })
          .option("ip", { type: "string", array: true, describe: "request this address (repeat per family)" })
          .option("publish", {
            alias: "p",
            type: "string",
            array: true,
            describe: "publish a port: [HOST_IP:][HOST_PORT:]PORT[/tcp|udp|sctp]; no host port = a free one",
          })
          .option("ifname", { alias: "i", type: "string", describe: "interface name [default: the first free ethN]" })
          .option("json", { type: "boolean", default: false, describe: "print the attachment as JSON" }),
      (a) =>
        run(() => {
          const view = connectNetwork(ctx, settingsOf(ctx, a), { network: a.network, netns: a.netns, ip: a.ip ?? [], publish: a.publish ?? [], ifname: a.ifname });
          if (a.json) return ctx.io.out(`${JSON.stringify(view, null, 2)}\n`);
          ctx.io.out(`connected ${view.netns} to "${a.network}" as ${view.ifName}: ${view.ips.join(", ") || "no address"}\n`);
          for (const m of view.ports) ctx.io.out(`  ${formatMapping(m)}\n`);
        }),
    )
    .command(
      "disconnect <network> <netns>",
      "detach a network from a netns",
      (c) =>
        c
          .positional("network", { type: "string", demandOption: true })
          .positional("netns", { type: "string", demandOption: true })
          .option("ifname", { alias: "i", type: "string", describe: "only this attachment" }),
      (a) =>
        run(() => {
          for (const d of disconnectNetwork(ctx, settingsOf(ctx, a), { network: a.network, netns: a.netns, ifname: a.ifname })) {
            ctx.io.out(`disconnected ${d.netns} (${d.ifName}) from "${a.network}"\n`);
          }
        }),
    );
}

/** One line per failure: plugin errors with plugin, command and code, like libcni's Error(). */
function describeError(e: unknown): string {
  if (e instanceof AggregateError) return e.errors.map(describeError).join("\n");
  if (e instanceof PluginError) {
    const code = e.code ? ` (code ${e.code})` : "";
    return `tscni: plugin "${e.plugin}" failed on ${e.command}${code}: ${e.message}${e.details ? `; ${e.details}` : ""}`;
  }
  if (e instanceof CniError) return `tscni: ${e.message}${e.details ? `; ${e.details}` : ""}`;
  if (e instanceof CliError || e instanceof Error) return `tscni: ${e.message}`;
  return `tscni: ${String(e)}`;
}

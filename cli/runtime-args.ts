import { CliError } from "./context.ts";

/** cnitool's CNI_ARGS parser: `K=V;K2=V2`, every key and value non-empty, no "=" in values. */
export function parseCniArgsEnv(raw: string | undefined): Array<[string, string]> {
  if (!raw) return [];
  return raw.split(";").map((pair) => {
    const kv = pair.split("=");
    if (kv.length !== 2 || !kv[0] || !kv[1]) throw new CliError(`invalid CNI_ARGS pair "${pair}": want KEY=VALUE pairs separated by ;`);
    return [kv[0], kv[1]];
  });
}

/** CAP_ARGS: a JSON object of capability arguments (`{"portMappings": [...]}`). */
export function parseCapArgsEnv(raw: string | undefined): Record<string, unknown> | undefined {
  if (!raw) return undefined;
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch (e) {
    throw new CliError(`invalid CAP_ARGS: ${(e as Error).message}`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw new CliError("invalid CAP_ARGS: want a JSON object");
  return json as Record<string, unknown>;
}

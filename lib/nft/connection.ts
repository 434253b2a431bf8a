import { AttributeEncoder } from "../netlink/attributes.ts";
import { NETLINK_NETFILTER } from "../netlink/constants.ts";
import { NetlinkError, NetlinkSocket, type OutgoingMessage } from "../netlink/socket.ts";
import type { Netns } from "../netns/netns.ts";
import { openNfnlIn } from "../netns/sockets.ts";
import {
  NFNL_MSG_BATCH_BEGIN,
  NFNL_MSG_BATCH_END,
  NFNL_SUBSYS_NFTABLES,
  NFTA_CHAIN_NAME,
  NFTA_CHAIN_TABLE,
  NFTA_RULE_CHAIN,
  NFTA_RULE_TABLE,
  NFTA_SET_ELEM_LIST_SET,
  NFTA_SET_ELEM_LIST_TABLE,
  NFTA_SET_NAME,
  NFTA_SET_TABLE,
  NFT_MSG_GETCHAIN,
  NFT_MSG_GETRULE,
  NFT_MSG_GETSET,
  NFT_MSG_GETSETELEM,
  NFT_MSG_GETTABLE,
} from "./constants.ts";
import { decodeElement, elementKey, encodeElement } from "./elements.ts";
import { NftCommitError } from "./errors.ts";
import { decodeChain, decodeElements, decodeRule, decodeSet, decodeTable, encodeElementQuery, FAMILY_NUMBERS, nfgenmsg, nftMessageType } from "./messages.ts";
import type { NftTransaction } from "./transaction.ts";
import type { NftChain, NftElement, NftFamily, NftRule, NftSet, NftSetRef, NftTable, NftValue } from "./types.ts";

/**
 * nftables in one network namespace: transactions and listings. Listings of things inside a table,
 * chain or set that does not exist are empty. FakeNftConnection is the in-memory twin.
 */
export interface NftConnection {
  /** Applies the whole transaction or nothing; throws NftCommitError naming the failed operation. */
  commit(tx: NftTransaction): void;
  /** `nft list tables [family]` */
  listTables(family?: NftFamily): NftTable[];
  /** The chains of a table, base chains with their hook. */
  listChains(family: NftFamily, table: string): NftChain[];
  /** `nft -a list chain`: rules with handle and comment, in order. */
  listRules(family: NftFamily, table: string, chain?: string): NftRule[];
  /** The sets and maps of a table (without elements). */
  listSets(family: NftFamily, table: string): NftSet[];
  /** The elements of a set or map; intervals come back as prefixes or ranges. */
  listElements(set: NftSetRef): NftElement[];
  /**
   * `nft get element`: the element of `set` with this key, with its value (for a map); undefined
   * when the set or the element is missing. One request, whatever the size of the set.
   */
  getElement(set: NftSet, key: NftValue | NftValue[]): NftElement | undefined;
}

const AF_UNSPEC = 0;
const batchMarker = (type: number): OutgoingMessage => ({ type, flags: 0, body: nfgenmsg(AF_UNSPEC, NFNL_SUBSYS_NFTABLES) });

/** NftConnection over an nfnetlink socket (opened in the namespace it manages). */
export class NetlinkNftConnection implements NftConnection {
  constructor(private readonly nl: NetlinkSocket) {}

  commit(tx: NftTransaction): void {
    if (tx.length === 0) return;
    // `add chain` of a chain that exists is an update, which the kernel frees only after an RCU
    // grace period; closing this socket then waits for it (~10 ms). A chain that exists just as
    // declared stays out of the batch, unless it vanished in between (ENOENT): then all goes again.
    const existing = tx.operations.filter((op) => op.verb === "add" && op.obj.kind === "chain" && this.hasChainAsDeclared(op.obj));
    if (existing.length === 0) return this.send(tx);
    try {
      this.send(tx.without((op) => existing.includes(op)));
    } catch (e) {
      if (!(e instanceof NftCommitError) || e.code !== "ENOENT") throw e;
      this.send(tx);
    }
  }

  private send(tx: NftTransaction): void {
    try {
      this.nl.batch("nftables transaction", [batchMarker(NFNL_MSG_BATCH_BEGIN), ...tx.messages(), batchMarker(NFNL_MSG_BATCH_END)]);
    } catch (e) {
      if (!(e instanceof NetlinkError) || e.index === undefined) throw e;
      // Message 0 is the batch header: an error there means nf_tables itself is unavailable.
      throw new NftCommitError(e.index === 0 ? "batch begin" : tx.opText(e.index - 1), e.errno, e.extAck);
    }
  }

  private hasChainAsDeclared(chain: NftChain): boolean {
    const body = new AttributeEncoder("network", true).raw(nfgenmsg(FAMILY_NUMBERS[chain.family])).str(NFTA_CHAIN_TABLE, chain.table).str(NFTA_CHAIN_NAME, chain.name).finish();
    const [found] = this.orEmpty(() => this.nl.request(`get chain ${chain.family} ${chain.table} ${chain.name}`, nftMessageType(NFT_MSG_GETCHAIN), 0, body));
    const now = found && decodeChain(found);
    return (
      now !== undefined &&
      now.type === chain.type &&
      now.hook === chain.hook &&
      now.priority === chain.priority &&
      (chain.policy === undefined || now.policy === chain.policy)
    );
  }

  listTables(family?: NftFamily): NftTable[] {
    const msgs = this.nl.dump("list nftables tables", nftMessageType(NFT_MSG_GETTABLE), nfgenmsg(family ? FAMILY_NUMBERS[family] : AF_UNSPEC));
    return msgs.map(decodeTable).filter((t) => t !== undefined);
  }

  listChains(family: NftFamily, table: string): NftChain[] {
    const msgs = this.nl.dump(`list chains of table ${family} ${table}`, nftMessageType(NFT_MSG_GETCHAIN), nfgenmsg(FAMILY_NUMBERS[family]));
    return msgs.map(decodeChain).filter((c) => c !== undefined && c.family === family && c.table === table) as NftChain[];
  }

  listRules(family: NftFamily, table: string, chain?: string): NftRule[] {
    const e = new AttributeEncoder("network", true).raw(nfgenmsg(FAMILY_NUMBERS[family])).str(NFTA_RULE_TABLE, table);
    if (chain !== undefined) e.str(NFTA_RULE_CHAIN, chain);
    const msgs = this.orEmpty(() => this.nl.dump(`list rules of ${family} ${table} ${chain ?? ""}`.trim(), nftMessageType(NFT_MSG_GETRULE), e.finish()));
    return msgs.map(decodeRule).filter((r) => r !== undefined && r.family === family && r.table === table && (chain === undefined || r.chain === chain)) as NftRule[];
  }

  listSets(family: NftFamily, table: string): NftSet[] {
    const body = new AttributeEncoder("network", true).raw(nfgenmsg(FAMILY_NUMBERS[family])).str(NFTA_SET_TABLE, table).finish();
    const msgs = this.orEmpty(() => this.nl.dump(`list sets of table ${family} ${table}`, nftMessageType(NFT_MSG_GETSET), body));
    return msgs.map(decodeSet).filter((s) => s !== undefined && s.family === family && s.table === table) as NftSet[];
  }

  listElements(ref: NftSetRef): NftElement[] {
    const what = `set ${ref.family} ${ref.table} ${ref.name}`;
    const head = (): AttributeEncoder => new AttributeEncoder("network", true).raw(nfgenmsg(FAMILY_NUMBERS[ref.family]));
    const found = this.orEmpty(() => this.nl.request(`get ${what}`, nftMessageType(NFT_MSG_GETSET), 0, head().str(NFTA_SET_TABLE, ref.table).str(NFTA_SET_NAME, ref.name).finish()));
    const set = found.length ? decodeSet(found[0]!) : undefined;
    if (!set) return [];
    const body = head().str(NFTA_SET_ELEM_LIST_TABLE, ref.table).str(NFTA_SET_ELEM_LIST_SET, ref.name).finish();
    const msgs = this.orEmpty(() => this.nl.dump(`list elements of ${what}`, nftMessageType(NFT_MSG_GETSETELEM), body));
    return decodeElements(msgs, set).map((e) => decodeElement(set, e));
  }

  getElement(set: NftSet, key: NftValue | NftValue[]): NftElement | undefined {
    const query = encodeElementQuery(set, encodeElement(elementKey(set, key)));
    const what = `get element of set ${set.family} ${set.table} ${set.name}`;
    const replies = this.orEmpty(() => this.nl.request(what, query.type, query.flags, query.body));
    const [found] = decodeElements(replies, set);
    return found && decodeElement(set, found);
  }

  /** A listing of something inside a missing table or set is empty. */
  private orEmpty<T>(fn: () => T[]): T[] {
    try {
      return fn();
    } catch (e) {
      if (e instanceof NetlinkError && e.code === "ENOENT") return [];
      throw e;
    }
  }
}

/**
 * Runs `fn` with an nftables connection to this process's namespace, closed afterwards. Closing a
 * netfilter socket right after a commit that deleted or replaced something waits for the kernel's
 * RCU grace period (nf_tables flushes its destroy work on release, ~10-15 ms here): commit such
 * changes early in `fn` so the rest overlaps it.
 */
export function withNft<T>(fn: (conn: NftConnection) => T): T {
  const conn = openNft();
  try {
    return fn(conn);
  } finally {
    conn.close();
  }
}

/** An nftables connection to `netns` (or this process's namespace), owning its socket. */
export function openNft(netns?: Netns): NetlinkNftConnection & { close(): void } {
  const nl = netns ? openNfnlIn(netns) : NetlinkSocket.open(NETLINK_NETFILTER);
  return Object.assign(new NetlinkNftConnection(nl), { close: () => nl.close() });
}

import { ipToBytes, type IpAddress } from "../ip/address.ts";

// Deterministic MACs, so that hosts configured with nothing but each other's underlay IPs agree on
// every VTEP's MAC without exchanging it, and a recreated device comes back with the same one.
// All are locally administered unicast (first byte 0x02).

/**
 * A VTEP's MAC from its underlay IP: `02:76` + the four IPv4 bytes (02:76:0a:c8:00:01 is
 * 10.200.0.1), or `02:36` + FNV-1a-32 of the sixteen IPv6 bytes.
 */
export function vtepMac(underlayIp: IpAddress): Buffer {
  const ip = ipToBytes(underlayIp);
  const mac = Buffer.alloc(6);
  mac[0] = 0x02;
  if (underlayIp.family === 4) {
    mac[1] = 0x76;
    mac.set(ip, 2);
  } else {
    mac[1] = 0x36;
    mac.writeUInt32BE(fnv1a32(ip), 2);
  }
  return mac;
}

/** The gateway MAC every host's bridge shares in l2 mode (anycast gateway): `02:67:00` + the 24-bit VNI. */
export function anycastGatewayMac(vni: number): Buffer {
  const mac = Buffer.alloc(6);
  mac[0] = 0x02;
  mac[1] = 0x67;
  mac.writeUIntBE(vni, 3, 3);
  return mac;
}

function fnv1a32(bytes: Uint8Array): number {
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return h;
}

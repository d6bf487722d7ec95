// Which IP addresses a webhook may never reach: loopback, private, link-local, metadata, … for IPv4 and IPv6 alike.
import { isIP, isIPv4 } from 'node:net';

type Rule = readonly [base: number, bits: number, reason: string];

// Order matters: the first matching prefix names the reason (metadata before link-local, broadcast before 240/4).
const V4_RULES: readonly Rule[] = [
  [v4('0.0.0.0'), 8, 'unspecified'],
  [v4('10.0.0.0'), 8, 'private'],
  [v4('100.64.0.0'), 10, 'cgnat'],
  [v4('127.0.0.0'), 8, 'loopback'],
  [v4('169.254.169.254'), 32, 'metadata'],
  [v4('169.254.0.0'), 16, 'link-local'],
  [v4('172.16.0.0'), 12, 'private'],
  [v4('192.0.0.0'), 24, 'reserved'],
  [v4('192.0.2.0'), 24, 'reserved'], // TEST-NET-1
  [v4('192.88.99.0'), 24, 'reserved'], // deprecated 6to4 relay anycast
  [v4('192.168.0.0'), 16, 'private'],
  [v4('198.18.0.0'), 15, 'reserved'], // benchmarking
  [v4('198.51.100.0'), 24, 'reserved'], // TEST-NET-2
  [v4('203.0.113.0'), 24, 'reserved'], // TEST-NET-3
  [v4('168.63.129.16'), 32, 'metadata'], // Azure wire server, reachable from every Azure VM
  [v4('224.0.0.0'), 4, 'multicast'],
  [v4('255.255.255.255'), 32, 'broadcast'],
  [v4('240.0.0.0'), 4, 'reserved'],
];

function v4(ip: string): number {
  return ip.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
}

function classifyV4(n: number): string | null {
  for (const [base, bits, reason] of V4_RULES) {
    const size = 2 ** (32 - bits);
    if (Math.floor(n / size) === Math.floor(base / size)) return reason;
  }
  return null;
}

/** 16 bytes of an IPv6 address (already validated by isIP), including the dotted-quad tail form. */
function v6Bytes(ip: string): number[] {
  let text = ip;
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(':');
  const last = text.slice(lastColon + 1);
  if (isIPv4(last)) {
    const n = v4(last);
    tail.push(Math.floor(n / 65536), n % 65536);
    text = `${text.slice(0, lastColon + 1)}0`; // placeholder group, removed below
  }
  const [head = '', rest] = text.split('::');
  const parse = (s: string) => (s === '' ? [] : s.split(':').map((h) => parseInt(h, 16)));
  const left = parse(head);
  const right = rest === undefined ? [] : parse(rest);
  if (tail.length > 0) (rest === undefined ? left : right).pop();
  const fill = 8 - left.length - right.length - tail.length;
  const groups = [...left, ...Array<number>(Math.max(0, fill)).fill(0), ...right, ...tail];
  return groups.flatMap((g) => [g >> 8, g & 0xff]);
}

function prefixMatches(bytes: number[], prefix: number[], bits: number): boolean {
  for (let i = 0; i < bits; i++) {
    const bit = (b: number[]) => ((b[i >> 3] ?? 0) >> (7 - (i & 7))) & 1;
    if (bit(bytes) !== bit(prefix)) return false;
  }
  return true;
}

const V6_RULES: readonly [prefix: number[], bits: number, reason: string][] = [
  [v6Bytes('fd00:ec2::254'), 128, 'metadata'], // AWS IMDS over IPv6
  [v6Bytes('64:ff9b:1::'), 48, 'private'], // local-use NAT64
  [v6Bytes('100::'), 64, 'reserved'], // discard-only
  [v6Bytes('2001::'), 23, 'reserved'], // IETF protocol assignments, Teredo included
  [v6Bytes('2001:db8::'), 32, 'reserved'], // documentation
  [v6Bytes('fc00::'), 7, 'private'], // unique local
  [v6Bytes('fe80::'), 10, 'link-local'],
  [v6Bytes('fec0::'), 10, 'private'], // deprecated site-local
  [v6Bytes('ff00::'), 8, 'multicast'],
];

const u32 = (b: number[], at: number) => (b[at] ?? 0) * 2 ** 24 + (b[at + 1] ?? 0) * 65536 + (b[at + 2] ?? 0) * 256 + (b[at + 3] ?? 0);

function classifyV6(bytes: number[]): string | null {
  const zeroUpTo = (n: number) => bytes.slice(0, n).every((b) => b === 0);
  if (zeroUpTo(16)) return 'unspecified';
  if (zeroUpTo(15) && bytes[15] === 1) return 'loopback';
  // Forms that embed an IPv4 address: judge the address they would reach.
  if (zeroUpTo(10) && bytes[10] === 0xff && bytes[11] === 0xff) return embedded('ipv4-mapped', u32(bytes, 12));
  if (zeroUpTo(12)) return 'reserved'; // deprecated IPv4-compatible ::a.b.c.d
  if (zeroUpTo(8) && bytes[8] === 0xff && bytes[9] === 0xff && bytes[10] === 0 && bytes[11] === 0) {
    return embedded('ipv4-translated', u32(bytes, 12)) ?? 'reserved';
  }
  if (prefixMatches(bytes, v6Bytes('64:ff9b::'), 96)) return embedded('nat64', u32(bytes, 12));
  if (bytes[0] === 0x20 && bytes[1] === 0x02) return embedded('6to4', u32(bytes, 2));
  for (const [prefix, bits, reason] of V6_RULES) if (prefixMatches(bytes, prefix, bits)) return reason;
  // Only 2000::/3 is allocated for global unicast; anything else is not a legitimate webhook target.
  return ((bytes[0] ?? 0) & 0xe0) === 0x20 ? null : 'reserved';
}

function embedded(kind: string, n: number): string | null {
  const reason = classifyV4(n);
  return reason === null ? null : `${kind} ${reason}`;
}

/**
 * Why a webhook must not reach `ip`, or null when it may. Accepts bracketed IPv6 and zone ids (fe80::1%eth0);
 * anything that is not an IP address at all is refused as 'invalid'.
 */
export function isForbiddenAddress(ip: string): string | null {
  let text = ip.trim();
  if (text.startsWith('[') && text.endsWith(']')) text = text.slice(1, -1);
  const zone = text.indexOf('%');
  if (zone >= 0) text = text.slice(0, zone);
  const family = isIP(text);
  if (family === 4) return classifyV4(v4(text));
  if (family === 6) return classifyV6(v6Bytes(text.toLowerCase()));
  return 'invalid';
}

/** "a private address (10.0.0.5)", "an ipv4-mapped loopback address (::ffff:127.0.0.1)" for refusal messages. */
export function describeForbidden(reason: string, ip: string): string {
  return `${/^[aeiou]/i.test(reason) ? 'an' : 'a'} ${reason} address (${ip})`;
}

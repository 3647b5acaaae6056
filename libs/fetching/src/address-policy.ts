import * as ipaddr from 'ipaddr.js';

type IpAddress = ipaddr.IPv4 | ipaddr.IPv6;

/**
 * Address ranges an operator has vouched for, as `[network, prefix length]`
 * pairs.
 */
export type AddressAllowlist = readonly (readonly [IpAddress, number])[];

// ipaddr.js's names for the ranges it knows; the ones not listed fall back to a
// generic reason.
const RANGE_DESCRIPTIONS: Record<string, string> = {
  unspecified: 'an unspecified address',
  broadcast: 'the broadcast address',
  multicast: 'a multicast address',
  linkLocal: 'a link-local address',
  loopback: 'a loopback address',
  carrierGradeNat: 'a carrier-grade NAT address',
  private: 'a private address',
  uniqueLocal: 'a private (unique local) address',
  reserved: 'a reserved address',
  benchmarking: 'a benchmarking address',
  rfc6145: 'an IPv4-translated address',
  rfc6052: 'a NAT64 address',
  '6to4': 'a 6to4 address',
  teredo: 'a Teredo address',
};

/**
 * Global unicast addresses that reach a cloud platform's own services from
 * inside a VM, outside the special-purpose ranges (the usual metadata endpoints
 * are link-local, CGNAT or unique local and are refused as such).
 */
const PLATFORM_ADDRESSES: Record<string, string> = {
  '168.63.129.16': 'a cloud platform address (Azure WireServer)',
};

/**
 * `::a.b.c.d` other than `::` and `::1`: deprecated (RFC 4291), never a real
 * destination, and read by some stacks as the IPv4 host it embeds. ipaddr.js
 * classes these as plain unicast.
 */
function embeddedIPv4OfCompatible(address: IpAddress): ipaddr.IPv4 | null {
  if (address.kind() !== 'ipv6') return null;
  const parts = (address as ipaddr.IPv6).parts;
  if (
    parts.slice(0, 6).some((part) => part !== 0) ||
    (parts[6] === 0 && parts[7] <= 1)
  )
    return null;
  return new ipaddr.IPv4([
    parts[6] >> 8,
    parts[6] & 0xff,
    parts[7] >> 8,
    parts[7] & 0xff,
  ]);
}

/**
 * An IPv4-mapped IPv6 address reaches the IPv4 host it embeds, so it is judged
 * (and allowlisted) as that IPv4 address.
 */
function unmapped(address: IpAddress): IpAddress {
  return address.kind() === 'ipv6' &&
    (address as ipaddr.IPv6).isIPv4MappedAddress()
    ? (address as ipaddr.IPv6).toIPv4Address()
    : address;
}

/**
 * Only dotted-quad IPv4 and standard IPv6 text: ipaddr.js would also read
 * `0177.0.0.1` or `2130706433`, which in a configuration file are more likely
 * mistakes than intent.
 */
function parseStrictAddress(text: string): IpAddress | null {
  if (ipaddr.IPv4.isValidFourPartDecimal(text)) return ipaddr.IPv4.parse(text);
  if (ipaddr.IPv6.isValid(text)) return ipaddr.IPv6.parse(text);
  return null;
}

function parseAllowlistEntry(entry: string): readonly [IpAddress, number] {
  const [addressText, prefixText, ...extra] = entry.split('/');
  const parsed = parseStrictAddress(addressText);
  const maxPrefix = parsed?.kind() === 'ipv4' ? 32 : 128;
  const prefix =
    prefixText === undefined
      ? maxPrefix
      : /^\d{1,3}$/.test(prefixText)
        ? Number(prefixText)
        : NaN;
  if (!parsed || extra.length > 0 || !(prefix <= maxPrefix)) {
    throw new Error(
      `Invalid address allowlist entry "${entry}": expected an IP address or a CIDR range such as 127.0.0.0/8 or ::1/128`,
    );
  }
  const address = unmapped(parsed);
  return address === parsed
    ? [address, prefix]
    : [address, Math.max(0, prefix - 96)];
}

/**
 * Reads a comma-separated list of IP addresses and CIDR ranges; an empty text
 * allows nothing.
 */
export function parseAddressAllowlist(text: string): AddressAllowlist {
  return text
    .split(',')
    .map((entry) => entry.trim())
    .filter(Boolean)
    .map(parseAllowlistEntry);
}

function isAllowlisted(
  address: IpAddress,
  allowlist: AddressAllowlist,
): boolean {
  return allowlist.some(
    ([network, prefix]) =>
      network.kind() === address.kind() && address.match(network, prefix),
  );
}

/**
 * Why a worker may not connect to `ip`, or null when it may. Anything ipaddr.js
 * does not class as plain `unicast` is refused, as are IPv4-compatible IPv6
 * addresses and known platform addresses, since internal services, cloud
 * metadata endpoints and addresses that tunnel to IPv4 hosts all live outside
 * it; the allowlist opens exceptions.
 */
export function addressRefusal(
  ip: string,
  allowlist: AddressAllowlist,
): string | null {
  if (!ipaddr.isValid(ip)) return `${ip} is not an IP address`;
  const original = ipaddr.parse(ip);
  const address = unmapped(original);
  if (isAllowlisted(address, allowlist)) return null;
  const subject =
    address === original ? ip : `${ip} maps to ${address.toString()}, which`;
  const compatible = embeddedIPv4OfCompatible(address);
  if (compatible)
    return `${ip} is an IPv4-compatible address (deprecated; it embeds ${compatible.toString()})`;
  const platform = PLATFORM_ADDRESSES[address.toString()];
  if (platform) return `${subject} is ${platform}`;
  const range = address.range();
  if (range === 'unicast') return null;
  const kind =
    RANGE_DESCRIPTIONS[range] ?? `a special-purpose address (${range})`;
  return `${subject} is ${kind}`;
}

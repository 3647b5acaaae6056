import { addressRefusal, parseAddressAllowlist } from './address-policy';

describe('parseAddressAllowlist', () => {
  it.each([
    ['', 0],
    ['  ', 0],
    ['127.0.0.1', 1],
    ['127.0.0.0/8, ::1/128', 2],
    ['10.0.0.0/8,,192.168.1.5 ,fd00::/8', 3],
    ['::ffff:127.0.0.1/128', 1],
  ])('reads %j as %i entries', (text, count) => {
    expect(parseAddressAllowlist(text)).toHaveLength(count);
  });

  it.each([
    'localhost',
    '127.0.0.1/33',
    '::1/129',
    '10.0.0.0/',
    '10.0.0.0/8/1',
    '10.0.0.0/x',
    '0177.0.0.1',
    '2130706433',
    '300.1.1.1',
    '1.2.3.4/-1',
  ])('refuses the bad entry %j and names it', (entry) => {
    expect(() => parseAddressAllowlist(`127.0.0.1, ${entry}`)).toThrow(
      `"${entry}"`,
    );
  });
});

describe('addressRefusal', () => {
  const none = parseAddressAllowlist('');

  it.each([
    ['127.0.0.1', '127.0.0.1 is a loopback address'],
    ['127.255.0.2', '127.255.0.2 is a loopback address'],
    ['10.1.2.3', '10.1.2.3 is a private address'],
    ['172.16.0.1', '172.16.0.1 is a private address'],
    ['172.31.255.255', '172.31.255.255 is a private address'],
    ['192.168.0.10', '192.168.0.10 is a private address'],
    ['169.254.169.254', '169.254.169.254 is a link-local address'],
    ['0.0.0.0', '0.0.0.0 is an unspecified address'],
    ['0.1.2.3', '0.1.2.3 is an unspecified address'],
    ['255.255.255.255', '255.255.255.255 is the broadcast address'],
    ['224.0.0.1', '224.0.0.1 is a multicast address'],
    ['100.64.0.1', '100.64.0.1 is a carrier-grade NAT address'],
    ['198.18.0.1', '198.18.0.1 is a reserved address'],
    ['192.0.2.1', '192.0.2.1 is a reserved address'],
    ['240.0.0.1', '240.0.0.1 is a reserved address'],
    ['::1', '::1 is a loopback address'],
    ['::', ':: is an unspecified address'],
    ['fe80::1', 'fe80::1 is a link-local address'],
    ['fc00::1', 'fc00::1 is a private (unique local) address'],
    ['fd12:3456::1', 'fd12:3456::1 is a private (unique local) address'],
    ['ff02::1', 'ff02::1 is a multicast address'],
    [
      '::ffff:127.0.0.1',
      '::ffff:127.0.0.1 maps to 127.0.0.1, which is a loopback address',
    ],
    [
      '::ffff:7f00:1',
      '::ffff:7f00:1 maps to 127.0.0.1, which is a loopback address',
    ],
    [
      '::ffff:169.254.169.254',
      '::ffff:169.254.169.254 maps to 169.254.169.254, which is a link-local address',
    ],
    ['64:ff9b::7f00:1', '64:ff9b::7f00:1 is a NAT64 address'],
    ['2002:7f00:1::', '2002:7f00:1:: is a 6to4 address'],
    ['2001:0:4136:e378::1', '2001:0:4136:e378::1 is a Teredo address'],
    ['2001:db8::1', '2001:db8::1 is a reserved address'],
    ['not-an-ip', 'not-an-ip is not an IP address'],
    // IPv4-compatible IPv6 (deprecated, RFC 4291): what the URL parser makes of
    // http://[::127.0.0.1]/.
    [
      '::7f00:1',
      '::7f00:1 is an IPv4-compatible address (deprecated; it embeds 127.0.0.1)',
    ],
    [
      '::808:808',
      '::808:808 is an IPv4-compatible address (deprecated; it embeds 8.8.8.8)',
    ],
    [
      '168.63.129.16',
      '168.63.129.16 is a cloud platform address (Azure WireServer)',
    ],
    [
      '::ffff:168.63.129.16',
      '::ffff:168.63.129.16 maps to 168.63.129.16, which is a cloud platform address (Azure WireServer)',
    ],
  ])('refuses %s', (ip, reason) => {
    expect(addressRefusal(ip, none)).toBe(reason);
  });

  it.each([
    '8.8.8.8',
    '93.184.215.14',
    '172.32.0.1',
    '100.128.0.1',
    '2606:4700::1111',
    '::ffff:8.8.8.8',
  ])('allows the public address %s', (ip) => {
    expect(addressRefusal(ip, none)).toBeNull();
  });

  it.each([
    ['127.0.0.1/32', '127.0.0.1', null],
    ['127.0.0.1/32', '127.0.0.2', '127.0.0.2 is a loopback address'],
    ['127.0.0.0/8', '127.9.9.9', null],
    ['127.0.0.1', '::ffff:127.0.0.1', null],
    ['::ffff:127.0.0.1/128', '127.0.0.1', null],
    ['::1', '::1', null],
    ['::1', '127.0.0.1', '127.0.0.1 is a loopback address'],
    ['10.0.0.0/8, fd00::/8', '10.20.30.40', null],
    ['10.0.0.0/8, fd00::/8', 'fd00::5', null],
    [
      '10.0.0.0/8',
      '169.254.169.254',
      '169.254.169.254 is a link-local address',
    ],
    ['168.63.129.16', '168.63.129.16', null],
  ])('with the allowlist %j judges %s as %j', (allowlist, ip, expected) => {
    expect(addressRefusal(ip, parseAddressAllowlist(allowlist))).toBe(expected);
  });
});

import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ChecksumMismatchError, sha256Hex, verifyingSha256 } from './checksum';

async function through(chunks: Buffer[], expected: string): Promise<Buffer> {
  const out: Buffer[] = [];
  await pipeline(
    Readable.from(chunks),
    verifyingSha256('outputs/j.1/default', expected),
    async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) out.push(chunk);
    },
  );
  return Buffer.concat(out);
}

describe('verifyingSha256', () => {
  const chunks = [Buffer.from('the first part, '), Buffer.from('the second')];
  const digest = sha256Hex(Buffer.concat(chunks));

  it('passes the bytes through unchanged when they match', async () => {
    expect(await through(chunks, digest)).toEqual(Buffer.concat(chunks));
    expect(await through(chunks, digest.toUpperCase())).toEqual(
      Buffer.concat(chunks),
    );
  });

  it('fails at their end, naming the object and both checksums, when they do not', async () => {
    const damaged = [chunks[0], Buffer.from('the sec0nd')];
    const error = await through(damaged, digest).catch(
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(ChecksumMismatchError);
    expect((error as Error).message).toBe(
      `The object stored at outputs/j.1/default does not match the checksum recorded for it (SHA-256 ${sha256Hex(Buffer.concat(damaged))}, recorded ${digest}): it changed or was damaged after it was written`,
    );
  });

  it('holds the last chunk back until the checksum is known, so that a damaged copy never arrives whole', async () => {
    const damaged = [
      Buffer.from('one'),
      Buffer.from('two'),
      Buffer.from('three'),
    ];
    const verifier = verifyingSha256(
      'outputs/x',
      sha256Hex(Buffer.from('onetwothreX')),
    );
    const passed: Buffer[] = [];
    verifier.on('data', (chunk: Buffer) => passed.push(chunk));
    const failed = new Promise((resolve) => verifier.once('error', resolve));
    for (const chunk of damaged) verifier.write(chunk);
    verifier.end();
    expect(await failed).toBeInstanceOf(ChecksumMismatchError);
    expect(Buffer.concat(passed).toString()).toBe('onetwo');
  });

  it('fails for bytes cut short', async () => {
    await expect(through([chunks[0]], digest)).rejects.toBeInstanceOf(
      ChecksumMismatchError,
    );
  });
});

describe('sha256Hex', () => {
  it('is the hex SHA-256 of the bytes', () => {
    expect(sha256Hex(Buffer.from('abc'))).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });
});

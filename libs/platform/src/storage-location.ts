/**
 * Where the pipeline keeps its blobs: a folder, or a bucket (and a prefix in
 * it) of an S3-compatible store.
 */
export type StorageLocation =
  | { kind: 'filesystem'; dir: string }
  | { kind: 's3'; bucket: string; prefix: string };

/**
 * S3's rules for bucket names (the strictest, those of new buckets): 3 to 63
 * lowercase letters, digits, dots and dashes.
 */
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;
/**
 * Prefix parts as storage keys' parts: the same plain names, so that a key
 * never needs escaping.
 */
const PREFIX_PART = /^[A-Za-z0-9_.-]+$/;

/**
 * Why STORAGE_URL cannot be used, or undefined. It is empty (the folder of
 * STORAGE_DIR), a folder's path, or `s3://<bucket>` with an optional
 * `/<prefix>`.
 */
export function storageUrlProblem(value: string): string | undefined {
  try {
    parseStorageLocation(value, '.');
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}

/**
 * STORAGE_URL (or, when it is empty, STORAGE_DIR) as a location; the error
 * names what is wrong.
 */
export function parseStorageLocation(
  storageUrl: string,
  storageDir: string,
): StorageLocation {
  const value = storageUrl.trim();
  if (value === '') return { kind: 'filesystem', dir: storageDir };
  const scheme = /^([A-Za-z][A-Za-z0-9+.-]*):\/\//.exec(value)?.[1];
  if (scheme === undefined) return { kind: 'filesystem', dir: value };
  if (scheme.toLowerCase() === 'file')
    return {
      kind: 'filesystem',
      dir: decodeURIComponent(new URL(value).pathname),
    };
  if (scheme !== 's3')
    throw new Error(
      `STORAGE_URL must be s3://<bucket>/<prefix> or a folder's path, not a ${scheme}:// URL`,
    );
  const rest = value.slice('s3://'.length);
  if (/[?#@]/.test(rest))
    throw new Error(
      "STORAGE_URL must be s3://<bucket>/<prefix>, without credentials, query or fragment (credentials come from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the AWS SDK's default chain)",
    );
  const [bucket, ...parts] = rest.split('/');
  if (!BUCKET_NAME.test(bucket) || bucket.includes('..')) {
    throw new Error(
      `STORAGE_URL names the bucket ${JSON.stringify(bucket)}: a bucket's name has 3 to 63 lowercase letters, digits, dots and dashes, and starts and ends with a letter or digit`,
    );
  }
  // A trailing slash is allowed, and so is none: the prefix always ends with
  // one.
  const named = parts.filter(
    (part, index) => !(part === '' && index === parts.length - 1),
  );
  const bad = named.find(
    (part) => !PREFIX_PART.test(part) || part === '.' || part === '..',
  );
  if (bad !== undefined)
    throw new Error(
      `STORAGE_URL has the prefix part ${JSON.stringify(bad)}: prefix parts are letters, digits, dot, dash and underscore, separated by single slashes`,
    );
  return {
    kind: 's3',
    bucket,
    prefix: named.map((part) => `${part}/`).join(''),
  };
}

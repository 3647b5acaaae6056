// The syntax of STORAGE_URL is the configuration's; storage opens what it
// names.
export { parseStorageLocation, storageUrlProblem } from '@pipeline/platform';
export type { StorageLocation } from '@pipeline/platform';

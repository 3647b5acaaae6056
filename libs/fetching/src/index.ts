export * from './address-policy';
export * from './source-fetch-error';
export * from './source-url';
export * from './url-fetcher';

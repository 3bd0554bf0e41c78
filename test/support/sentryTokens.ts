// Credentials in the shapes Sentry issues them (src/sentry/api/authentication.py and the generators it
// names), for tests that need a request to be taken as token API traffic. None of them is valid anywhere.
const hex = (seed: string, length: number): string => Buffer.from(seed.repeat(length)).toString('hex').slice(0, length);

/** A user auth token: `sntryu_` + 64 hex. */
export const USER_TOKEN = `sntryu_${hex('user-token', 64)}`;
/** An org auth token: `sntrys_` + base64 JSON payload + `_` + 43 base64 characters. */
export const ORG_TOKEN = `sntrys_${Buffer.from('{"iat":1700000000,"url":"https://sentry.example.com","org":"acme"}').toString('base64')}_${'A1b2C3d4'.repeat(5)}x/+`;
/** A token made before prefixes (and every OAuth or integration token): 64 hex. */
export const LEGACY_TOKEN = hex('legacy-token', 64);
/** A legacy API key: Basic with the 32-hex key as user and an empty password. */
export const API_KEY_BASIC = `Basic ${Buffer.from(`${hex('api-key', 32)}:`).toString('base64')}`;
/** A DSN, as DSNAuthentication takes it. */
export const DSN = `https://${hex('public-key', 32)}@sentry.example.com/42`;

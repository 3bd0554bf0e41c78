// docker-compose's fake Sentry: the demo's stand-in (it verifies the gateway's assertion against the
// JWKS and shows whom it sees), served on the compose network instead of a loopback port.
import { startStandInSentry } from '../dist/dev/standInSentry.js';

const env = (name, fallback) => process.env[name] || fallback;
const sentry = await startStandInSentry({
  jwksUrl: env('JWKS_URL', 'http://gateway:8080/_gateway/jwks.json'),
  issuer: env('ISSUER', 'http://localhost:8080'),
  audience: env('AUDIENCE', 'sentry'),
  header: env('HEADER', 'X-Sentry-Gateway-Assertion'),
});
// startStandInSentry listens on a random loopback port for the demo; move it to the one compose uses.
await new Promise((resolve) => sentry.server.close(resolve));
sentry.server.listen(Number(env('PORT', '9000')), env('HOST', '0.0.0.0'), () => {
  const { address, port } = sentry.server.address();
  process.stdout.write(`stand-in Sentry on http://${address}:${port}\n`);
});
for (const signal of ['SIGTERM', 'SIGINT']) process.once(signal, () => sentry.server.close(() => process.exit(0)));

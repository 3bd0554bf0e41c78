// One pino logger for the process; secrets are redacted by key wherever they appear.
import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

const REDACT = [
  'password',
  '*.password',
  'secret',
  '*.secret',
  'token',
  '*.token',
  'req.headers.cookie',
  'req.headers.authorization',
  'req.headers["x-sentry-gateway-assertion"]',
  'headers.cookie',
  'headers.authorization',
  'assertion',
  '*.assertion',
];

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  return pino(
    {
      level,
      base: { service: 'sentry-ad-gateway' },
      redact: { paths: REDACT, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    // Asynchronous on stdout: lines written while a write is in flight go out together, so a busy
    // proxy makes one write per batch instead of one per request; pino flushes it on exit.
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

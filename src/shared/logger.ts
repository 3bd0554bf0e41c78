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

// pino's isoTime formats a new Date for every line; a busy proxy writes several lines per millisecond.
let lastMs = 0;
let lastTime = '';
function isoTime(): string {
  const now = Date.now();
  if (now !== lastMs) {
    lastMs = now;
    lastTime = `,"time":"${new Date(now).toISOString()}"`;
  }
  return lastTime;
}

// Loggers made by createLogger, whose lines have the shape writePrebuilt reproduces: the prefix
// (level label, ISO time, bindings) each one starts with.
const PREFIXES = new WeakMap<Logger, string>();

export function createLogger(level: string, destination?: NodeJS.WritableStream): Logger {
  const logger = pino(
    {
      level,
      base: { service: 'sentry-ad-gateway' },
      redact: { paths: REDACT, censor: '[redacted]' },
      timestamp: isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    // Asynchronous on stdout: lines written while a write is in flight go out together, so a busy
    // proxy makes one write per batch instead of one per request; pino flushes it on exit. A batch
    // holds whole lines and at most PIPE_BUF (4096) bytes, so the writes of several cluster workers
    // sharing one stdout pipe stay atomic and never splice into each other's lines.
    destination ?? pino.destination({ dest: 1, sync: false, maxWrite: 4096 }),
  );
  const bindings = JSON.stringify(logger.bindings()).slice(1, -1);
  PREFIXES.set(logger, bindings === '' ? '' : `,${bindings}`);
  return logger;
}

type LineStream = { write(line: string): unknown };

/**
 * Writes a line whose fields are already serialised JSON members (`"a":1,"b":"x"`), in exactly the
 * shape pino gives this module's loggers, without pino's generic walk over an object and its
 * redaction pass: for the one line per proxied request, whose fields cannot carry secrets, that
 * walk is a measurable share of the proxy's CPU. Any other logger gets the fields through pino.
 */
export function writePrebuilt(logger: Logger, level: 'info' | 'debug', members: string, msg: string): void {
  if (!logger.isLevelEnabled(level)) return;
  const prefix = PREFIXES.get(logger);
  const stream = (logger as unknown as Record<symbol, LineStream | undefined>)[pino.symbols.streamSym];
  if (prefix === undefined || !stream) return void logger[level](JSON.parse(`{${members}}`) as object, msg);
  stream.write(`{"level":"${level}"${isoTime()}${prefix},${members},"msg":${JSON.stringify(msg)}}\n`);
}

export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

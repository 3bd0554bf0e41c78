// One log line per proxied request, built from fields that cannot carry secrets: the query string,
// headers and cookies are never logged, since tokens and DSN keys travel there, and the secret parts
// of the paths that carry one (invite tokens, reset hashes, …) are redacted.
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { writePrebuilt, type Logger } from '../shared/logger.js';
import { redactPath } from './redactPath.js';

const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;
// A random per-process prefix plus a counter is unique enough and costs nothing per request.
const PREFIX = randomBytes(6).toString('base64url');
let counter = 0;

export function requestIdOf(req: IncomingMessage): string {
  const given = req.headers['x-request-id'];
  if (typeof given === 'string' && SAFE_ID.test(given)) return given;
  counter = (counter + 1) % Number.MAX_SAFE_INTEGER;
  return `${PREFIX}-${counter.toString(36)}`;
}

/** Paths polled by load balancers, and nginx's decision subrequest (nginx logs the request itself): at info they would drown everything else. */
const QUIET = new Set(['/_health/', '/_gateway/healthz', '/_gateway/readyz', '/_gateway/auth']);

export interface RequestLogEntry {
  requestId: string;
  method: string;
  path: string;
  route: string;
  status: number;
  ms: number;
  /** The client went away before the response was complete. */
  aborted: boolean;
}

export function logRequest(logger: Logger, e: RequestLogEntry): void {
  const safe = redactPath(e.path);
  const path = safe.length > 512 ? `${safe.slice(0, 512)}…` : safe;
  const members =
    `"reqId":${JSON.stringify(e.requestId)},"method":${JSON.stringify(e.method)},"path":${JSON.stringify(path)},` +
    `"route":${JSON.stringify(e.route)},"status":${e.status},"ms":${e.ms}${e.aborted ? ',"aborted":true' : ''}`;
  writePrebuilt(logger, QUIET.has(e.path) ? 'debug' : 'info', members, 'request');
}

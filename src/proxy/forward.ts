// Streams one request to the upstream and its answer back, never holding a whole body in memory,
// and turns upstream failures into the gateway's own 413/502/504.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Transform, type Readable } from 'node:stream';
import type { Client, Dispatcher } from 'undici';
import { GatewayError } from '../errors.js';
import type { Upstream } from './upstreamPool.js';

export type RequestHeaders = Record<string, string | string[]>;

/** Where the upstream answer's body goes once its head has been sent (or held back). */
export interface ResponseSink {
  /** False when the reader is not ready for more: the upstream is paused until the sink calls `resume`. */
  write(chunk: Buffer, resume: () => void): boolean;
  end(): void;
  /** The upstream failed after the head: the client's response cannot be completed. */
  abort(err: Error): void;
}

/** Starts the client's response from the upstream status and raw (latin1) header list. */
export type Respond = (status: number, rawHeaders: string[], res: ServerResponse) => ResponseSink;

export interface ForwardSpec {
  upstream: Upstream;
  /** Origin-form path and query, exactly as the client sent it. */
  target: string;
  headers: RequestHeaders;
  maxBodyBytes: number;
  respond: Respond;
  /** Renders a gateway error; only called while no response header has been sent. */
  fail(err: GatewayError): void;
}

// Only these may be replayed when a pooled connection turns out to have been closed by the upstream.
const REPLAYABLE = new Set(['GET', 'HEAD', 'OPTIONS']);
const CLOSED_UNDER_US = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']);
const TIMEOUTS = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

/** Counts a body of unknown length (chunked) against the limit as it streams. */
function createLimiter(max: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen > max) done(new GatewayError('GW_PAYLOAD_TOO_LARGE'));
      else done(null, chunk);
    },
  });
}

/** A response sent before the request body was read must close the connection, or node drains it. */
function failAndClose(req: IncomingMessage, res: ServerResponse, spec: ForwardSpec, err: GatewayError): void {
  if (res.headersSent || res.destroyed) return void res.destroy();
  if (!req.complete) res.setHeader('Connection', 'close');
  spec.fail(err);
}

function errorFor(err: Error): GatewayError {
  if (err instanceof GatewayError) return err;
  const code = (err as NodeJS.ErrnoException).code ?? '';
  if (TIMEOUTS.has(code)) return new GatewayError('GW_UPSTREAM_TIMEOUT', 'upstream did not answer in time');
  return new GatewayError('GW_UPSTREAM_UNAVAILABLE', 'upstream unreachable', { cause: err });
}

// Bodies up to this size (an event envelope, a form post) are read whole and sent with the request
// head in one write, as a buffering proxy would; larger ones stream through without being held.
const SMALL_BODY_BYTES = 64 * 1024;

export function forward(req: IncomingMessage, res: ServerResponse, spec: ForwardSpec): void {
  const declared = req.headers['content-length'];
  const length = declared === undefined ? undefined : Number(declared);
  if (length !== undefined && length > spec.maxBodyBytes) {
    return failAndClose(req, res, spec, new GatewayError('GW_PAYLOAD_TOO_LARGE'));
  }
  const mayReplay = REPLAYABLE.has(req.method ?? '');
  if (length === undefined && req.headers['transfer-encoding'] !== undefined) {
    // node's parser holds a declared body to its length, so only a chunked one needs counting.
    const limited = req.pipe(createLimiter(spec.maxBodyBytes));
    limited.on('error', () => req.unpipe(limited));
    return send(req, res, spec, limited, false);
  }
  if (!length) return send(req, res, spec, null, mayReplay);
  if (length > SMALL_BODY_BYTES) return send(req, res, spec, req, false);
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('error', () => undefined);
  // A client that goes away mid-body closes `res` too; there is nobody left to answer.
  req.once('end', () => send(req, res, spec, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks), false));
}

function send(
  req: IncomingMessage,
  res: ServerResponse,
  spec: ForwardSpec,
  body: Readable | Buffer | null,
  mayReplay: boolean,
  // A retry goes out on a connection of its own, closed once it is done.
  oneShot?: Client,
): void {
  let abort: ((err?: Error) => void) | undefined;
  let resume: () => void = () => undefined;
  let sink: ResponseSink | undefined;
  let done = false;
  const onClientClose = () => {
    if (!done) abort?.(new Error('client went away'));
  };
  res.once('close', onClientClose);
  const finish = () => {
    done = true;
    res.removeListener('close', onClientClose);
  };

  // undici's own callback shape: its HTTP/1.1 client calls these directly, where the controller
  // shape would wrap every request in an adapter and parse every header list into an object.
  const handler: Dispatcher.DispatchHandler = {
    onConnect(a) {
      abort = a;
      if (res.destroyed) a(new Error('client went away'));
    },
    onHeaders(status, raw, r) {
      // Interim answers (102, 103) are not relayed: the client gets the final one only.
      if (status < 200) return true;
      resume = r;
      const list: string[] = new Array(raw.length);
      for (let i = 0; i < raw.length; i++) list[i] = raw[i]!.toString('latin1');
      sink = spec.respond(status, list, res);
      return true;
    },
    onData(chunk) {
      return sink ? sink.write(chunk, resume) : true;
    },
    onComplete() {
      finish();
      sink?.end();
    },
    onError(err) {
      finish();
      if (sink) return sink.abort(err);
      if (res.destroyed) return;
      const code = (err as NodeJS.ErrnoException).code ?? '';
      if (mayReplay && CLOSED_UNDER_US.has(code)) return send(req, res, spec, null, false, spec.upstream.freshClient());
      failAndClose(req, res, spec, errorFor(err));
    },
  };

  const opts: Dispatcher.DispatchOptions = {
    origin: spec.upstream.origin,
    method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
    path: spec.target,
    headers: spec.headers,
    body,
  };
  if (!oneShot) return void spec.upstream.pool.dispatch(opts, handler);
  oneShot.dispatch(opts, handler);
  // Closes once this request is done, however it ends.
  oneShot.close().catch(() => undefined);
}

// Streams one request to the upstream and its answer back, never holding a whole body in memory,
// and turns upstream failures into the gateway's own 413/502/504.
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { Transform } from 'node:stream';
import { GatewayError } from '../errors.js';
import type { Upstream } from './upstreamPool.js';

export interface ForwardSpec {
  upstream: Upstream;
  /** Origin-form path and query, exactly as the client sent it. */
  target: string;
  headers: OutgoingHttpHeaders;
  /** Upstream socket inactivity allowed, in ms. */
  timeoutMs: number;
  maxBodyBytes: number;
  /** Sends the upstream answer to the client. */
  respond(upRes: IncomingMessage, res: ServerResponse): void | Promise<void>;
  /** Renders a gateway error; only called while no response header has been sent. */
  fail(err: GatewayError): void;
}

// Only these may be replayed when a pooled socket turns out to have been closed by the upstream.
const REPLAYABLE = new Set(['GET', 'HEAD', 'OPTIONS']);

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

export function forward(req: IncomingMessage, res: ServerResponse, spec: ForwardSpec): void {
  const declared = req.headers['content-length'];
  if (declared !== undefined && Number(declared) > spec.maxBodyBytes) {
    return failAndClose(req, res, spec, new GatewayError('GW_PAYLOAD_TOO_LARGE'));
  }
  const hasBody = declared !== undefined ? declared !== '0' : req.headers['transfer-encoding'] !== undefined;
  send(req, res, spec, hasBody, REPLAYABLE.has(req.method ?? '') && !hasBody);
}

function send(req: IncomingMessage, res: ServerResponse, spec: ForwardSpec, hasBody: boolean, mayReplay: boolean): void {
  const { upstream } = spec;
  let responded = false;
  let timedOut = false;
  // Set once we have answered ourselves, so the upstream error our own abort causes is ignored.
  let answered = false;
  const upReq = upstream.request({
    protocol: upstream.protocol,
    hostname: upstream.hostname,
    port: upstream.port,
    agent: upstream.agent,
    method: req.method,
    path: spec.target,
    headers: spec.headers,
  });
  const onClientClose = () => {
    if (!res.writableFinished) upReq.destroy();
  };
  res.once('close', onClientClose);

  upReq.setTimeout(spec.timeoutMs, () => {
    timedOut = true;
    upReq.destroy(new Error('upstream timeout'));
  });

  const limiter = hasBody ? createLimiter(spec.maxBodyBytes) : undefined;
  upReq.on('response', (upRes) => {
    responded = true;
    const sending = spec.respond(upRes, res);
    if (sending) sending.catch(() => res.destroy());
  });
  upReq.on('error', (err: NodeJS.ErrnoException) => {
    if (limiter) req.unpipe(limiter);
    if (responded || answered) return; // the response stream reports its own failure
    res.removeListener('close', onClientClose);
    if (mayReplay && upReq.reusedSocket && err.code === 'ECONNRESET' && !res.destroyed) {
      return send(req, res, spec, hasBody, false);
    }
    const e = timedOut
      ? new GatewayError('GW_UPSTREAM_TIMEOUT', 'upstream did not answer in time')
      : new GatewayError('GW_UPSTREAM_UNAVAILABLE', 'upstream unreachable', { cause: err });
    failAndClose(req, res, spec, e);
  });

  if (!limiter) return void upReq.end();
  limiter.on('error', (err: GatewayError) => {
    req.unpipe(limiter);
    const first = !responded && !answered;
    answered = true;
    upReq.destroy(err);
    if (first) failAndClose(req, res, spec, err);
  });
  req.pipe(limiter).pipe(upReq);
}

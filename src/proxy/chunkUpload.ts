// sentry-cli sends every sourcemap chunk to the `url` the chunk-upload endpoint returns; when Sentry's
// url-prefix is internal that url bypasses or breaks the gateway (docs/design.md §6), so we rewrite it.
import type { ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { createBrotliDecompress, createGunzip, createInflate } from 'node:zlib';
import { Writable, type Readable, type Transform } from 'node:stream';
import type { UrlRewriter } from './rewriteUrl.js';

const CHUNK_UPLOAD = /^\/api\/0\/organizations\/[^/]+\/chunk-upload\/?$/;
// The real answer is a few hundred bytes; anything far larger is not what we expect to edit.
const MAX_BUFFERED = 1024 * 1024;

export function isChunkUploadInfo(method: string, path: string): boolean {
  return method === 'GET' && CHUNK_UPLOAD.test(path);
}

function headerValue(raw: readonly string[], lowerName: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) if (raw[i]!.toLowerCase() === lowerName) return raw[i + 1];
  return undefined;
}

function decoderFor(encoding: string | undefined): Transform | null | undefined {
  const e = (encoding ?? 'identity').trim().toLowerCase();
  if (e === 'identity' || e === '') return null;
  if (e === 'gzip' || e === 'x-gzip') return createGunzip();
  if (e === 'deflate') return createInflate();
  if (e === 'br') return createBrotliDecompress();
  return undefined;
}

async function readLimited(upRes: Readable, decoder: Transform | null): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      size += chunk.length;
      if (size > MAX_BUFFERED) return done(new Error('chunk-upload answer too large'));
      chunks.push(chunk);
      done();
    },
  });
  if (decoder) await pipeline(upRes, decoder, sink);
  else await pipeline(upRes, sink);
  return Buffer.concat(chunks);
}

function rewriteBody(body: Buffer, rewrite: UrlRewriter): Buffer | undefined {
  let json: unknown;
  try {
    json = JSON.parse(body.toString('utf8'));
  } catch {
    return undefined;
  }
  if (json === null || typeof json !== 'object' || typeof (json as { url?: unknown }).url !== 'string') return undefined;
  const obj = json as { url: string };
  const url = rewrite(obj.url);
  if (url === obj.url) return undefined;
  obj.url = url;
  return Buffer.from(JSON.stringify(obj));
}

/**
 * Sends the upstream answer with its `url` rewritten. Headers are the already-filtered flat list.
 * A compressed answer is sent decoded, so Content-Length always matches what we send.
 */
export async function sendChunkUploadInfo(status: number, upRes: Readable, res: ServerResponse, headers: string[], rewrite: UrlRewriter): Promise<void> {
  const decoder = decoderFor(headerValue(headers, 'content-encoding'));
  if (decoder === undefined || status < 200 || status >= 300) {
    res.writeHead(status, headers);
    await pipeline(upRes, res);
    return;
  }
  const decoded = await readLimited(upRes, decoder);
  const body = rewriteBody(decoded, rewrite) ?? decoded;
  const out: string[] = [];
  for (let i = 0; i < headers.length; i += 2) {
    const lower = headers[i]!.toLowerCase();
    if (lower === 'content-length' || lower === 'content-encoding') continue;
    out.push(headers[i]!, headers[i + 1]!);
  }
  out.push('Content-Length', String(body.length));
  res.writeHead(status, out);
  res.end(body);
}

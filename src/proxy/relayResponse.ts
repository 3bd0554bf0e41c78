// Relays Sentry's answer to the client: hop-by-hop headers dropped, internal redirect targets
// made public, body streamed. No headers are added: Sentry's responses are Sentry's.
import type { ServerResponse } from 'node:http';
import { PassThrough } from 'node:stream';
import { sendChunkUploadInfo } from './chunkUpload.js';
import type { Respond } from './forward.js';
import { filterResponseHeaders } from './headers.js';
import { rewriteRefresh, type UrlRewriter } from './rewriteUrl.js';

export type { Respond };

export function createResponders(rewrite: UrlRewriter): { stream: Respond; chunkUpload: Respond } {
  const mapHeader = (name: string, value: string): string => {
    if (name === 'location') return rewrite(value);
    if (name === 'refresh') return rewriteRefresh(value, rewrite);
    return value;
  };
  return {
    // Straight to the socket: no stream object sits between the upstream parser and the client.
    stream(status, raw, res) {
      res.writeHead(status, filterResponseHeaders(raw, mapHeader));
      return {
        write: (chunk, resume) => res.write(chunk) || (res.once('drain', resume), false),
        end: () => void res.end(),
        abort: () => void res.destroy(),
      };
    },
    // The chunk-upload answer is a few hundred bytes of JSON that we edit, so it is collected first.
    chunkUpload(status, raw, res: ServerResponse) {
      const body = new PassThrough();
      sendChunkUploadInfo(status, body, res, filterResponseHeaders(raw, mapHeader), rewrite).catch(() => res.destroy());
      return {
        write: (chunk, resume) => body.write(chunk) || (body.once('drain', resume), false),
        end: () => void body.end(),
        abort: (err) => void body.destroy(err),
      };
    },
  };
}

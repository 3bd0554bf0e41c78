// How an upstream answer reaches the client: hop-by-hop headers dropped, internal redirect targets
// made public, body streamed. No headers are added: Sentry's responses are Sentry's.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { sendChunkUploadInfo } from './chunkUpload.js';
import { filterResponseHeaders } from './headers.js';
import { rewriteRefresh, type UrlRewriter } from './rewriteUrl.js';

export type Respond = (upRes: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export function createResponders(rewrite: UrlRewriter): { stream: Respond; chunkUpload: Respond } {
  const mapHeader = (name: string, value: string): string => {
    if (name === 'location') return rewrite(value);
    if (name === 'refresh') return rewriteRefresh(value, rewrite);
    return value;
  };
  return {
    // Plain pipe, not stream.pipeline: pipeline builds an AbortController (and a DOMException on
    // completion) per call, a measurable cost at this request rate. Client aborts are handled in
    // forward(), which destroys the upstream request.
    stream(upRes, res) {
      res.writeHead(upRes.statusCode ?? 502, filterResponseHeaders(upRes.rawHeaders, mapHeader));
      upRes.on('error', () => res.destroy());
      upRes.pipe(res);
    },
    async chunkUpload(upRes, res) {
      await sendChunkUploadInfo(upRes, res, filterResponseHeaders(upRes.rawHeaders, mapHeader), rewrite);
    },
  };
}

// A request body that stops arriving is cut off after server.bodyTimeout of silence (nginx's
// client_body_timeout): 408, then close, so a stalled upload holds neither a socket nor, through
// the request streaming on, an upstream connection.
import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * Watches the body with the socket's own idle timer: node refreshes that timer lazily on every read,
 * so nothing is armed or cleared per chunk. `onStall` runs only while the body is still incomplete.
 */
export function watchRequestBody(req: IncomingMessage, res: ServerResponse, ms: number, onStall: () => void): void {
  // On the response, not the request: node reports a socket timeout to the request only while its body is
  // incomplete, and destroys the socket if nobody listens. A body that is all here but not yet read (the
  // upstream is slow to take it) is our wait, not the client's: the watch simply ends.
  res.setTimeout(ms, () => {
    if (req.complete) return void req.socket.setTimeout(0);
    onStall();
  });
}

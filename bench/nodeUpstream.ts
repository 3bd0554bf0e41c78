// The second upstream the bench measures against: a node:http server in one process, as in the
// harness issue 14's GET and ingestion figures came from (a Node upstream behind each proxy). It
// answers GET with the same 2 KB page the nginx upstream serves, and any request with a body by
// reading it all and answering "ok". An app server costs CPU per request as this one does; a
// static nginx page costs next to nothing, which makes the proxy's own cost the whole story.
//   node nodeUpstream.js PORT
import http from 'node:http';
import { BENCH_PAGE } from './page.js';

const [port] = process.argv.slice(2);
const page = Buffer.from(BENCH_PAGE);
const ok = Buffer.from('ok\n');

http
  .createServer({ keepAliveTimeout: 300_000 }, (req, res) => {
    const answer = (body: Buffer, type: string) => {
      res.writeHead(200, { 'content-type': type, 'content-length': body.length });
      res.end(body);
    };
    if (req.method === 'GET' || req.method === 'HEAD') return answer(page, 'text/html');
    req.resume();
    req.on('end', () => answer(ok, 'text/plain'));
  })
  .listen(Number(port), '127.0.0.1');

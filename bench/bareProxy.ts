// The floor for any proxy written on node: a server that forwards every request to one upstream
// through an undici pool and streams the answer back, with none of the gateway's checks, headers,
// logging or metrics. The bench runs it beside the gateway (one process each) so the figures show
// how much of the gap to nginx is node's and how much is the gateway's own work.
//   node bareProxy.js PORT UPSTREAM_URL
import http from 'node:http';
import { Pool, type Dispatcher } from 'undici';

const [port, upstream] = process.argv.slice(2);
// The same pool settings as the gateway's (src/proxy/upstreamPool.ts).
const connect = { timeout: 60_000, highWaterMark: 256 * 1024 };
const pool = new Pool(upstream!, { connections: 512, pipelining: 1, connect });
const HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'host', 'expect', 'upgrade']);

http
  .createServer((req, res) => {
    const headers: Record<string, string | string[]> = {};
    for (const name in req.headers) if (!HOP.has(name)) headers[name] = req.headers[name]!;
    const hasBody = req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0';
    let resume: (() => void) | undefined;
    res.on('drain', () => resume?.());
    const handler: Dispatcher.DispatchHandler = {
      onConnect() {},
      onHeaders(status, raw, r) {
        if (status < 200) return true;
        resume = r;
        const list: string[] = [];
        for (let i = 0; i < raw.length; i += 2) {
          const name = raw[i]!.toString('latin1');
          if (!HOP.has(name.toLowerCase())) list.push(name, raw[i + 1]!.toString('latin1'));
        }
        res.writeHead(status, list);
        return true;
      },
      onData: (chunk) => res.write(chunk),
      onComplete: () => void res.end(),
      onError: () => void res.destroy(),
    };
    pool.dispatch({ path: req.url!, method: req.method as Dispatcher.HttpMethod, headers, body: hasBody ? req : null }, handler);
  })
  .listen(Number(port), '127.0.0.1');

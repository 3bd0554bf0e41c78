// With server.workers > 1 a scrape must see every worker: the worker that answers asks the primary, which
// collects every worker's registry over the cluster channel (prom-client's AggregatorRegistry) and sums them.
import cluster from 'node:cluster';
import { AggregatorRegistry, type Registry } from 'prom-client';

const REQUEST = 'sag:cluster-metrics-request';
const REPLY = 'sag:cluster-metrics-reply';
/** prom-client gives up on a worker after 5 s; a little more here so its error, not ours, says which. */
const WAIT_MS = 6_000;

interface Request {
  type: typeof REQUEST;
  id: number;
}
interface Reply {
  type: typeof REPLY;
  id: number;
  body?: string;
  contentType?: string;
  error?: string;
}

const isRequest = (m: unknown): m is Request => (m as Request | null)?.type === REQUEST;
const isReply = (m: unknown): m is Reply => (m as Reply | null)?.type === REPLY;

/** In the primary: answer workers' requests with the sum of every worker's metrics. */
export function serveClusterMetrics(): void {
  const aggregator = new AggregatorRegistry();
  cluster.on('message', (worker, message: unknown) => {
    if (!isRequest(message)) return;
    aggregator.clusterMetrics().then(
      (body) => worker.send({ type: REPLY, id: message.id, body, contentType: aggregator.contentType } satisfies Reply),
      (e: unknown) => worker.send({ type: REPLY, id: message.id, error: (e as Error).message } satisfies Reply),
    );
  });
}

/**
 * In a worker: hand `registry` to the primary's collection and return a function that fetches the whole
 * cluster's metrics. Only one registry per process takes part (one gateway per worker).
 */
export function joinClusterMetrics(registry: Registry): () => Promise<{ contentType: string; body: string }> {
  // Constructing one in a worker is what makes prom-client answer the primary's collection requests.
  new AggregatorRegistry();
  AggregatorRegistry.setRegistries([registry]);
  let next = 0;
  const pending = new Map<number, { resolve: (r: Reply) => void; timer: NodeJS.Timeout }>();
  process.on('message', (message: unknown) => {
    if (!isReply(message)) return;
    const p = pending.get(message.id);
    if (!p) return;
    pending.delete(message.id);
    clearTimeout(p.timer);
    p.resolve(message);
  });
  return async () => {
    const id = next++;
    const reply = await new Promise<Reply>((resolve) => {
      const timer = setTimeout(() => {
        pending.delete(id);
        resolve({ type: REPLY, id, error: 'the primary did not answer' });
      }, WAIT_MS);
      pending.set(id, { resolve, timer });
      process.send!({ type: REQUEST, id } satisfies Request);
    });
    if (reply.error !== undefined || reply.body === undefined) throw new Error(`cluster metrics unavailable: ${reply.error ?? 'empty answer'}`);
    return { contentType: reply.contentType ?? registry.contentType, body: reply.body };
  };
}

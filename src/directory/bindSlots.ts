// Caps how many user binds run against the domain controllers at once, so a flood of sign-ins cannot exhaust them.
import { GatewayError } from '../errors.js';

export interface BindSlotsOptions {
  /** ldap.maxConcurrentBinds: binds in flight at once, per process. */
  max: number;
  /** ldap.bindQueueTimeout in ms: how long a sign-in may wait for a free slot; 0 answers busy at once. */
  waitMs: number;
  /** Waiters beyond this are refused at once, so the queue is bounded in length as well as in time. */
  maxWaiting?: number;
}

interface Waiter {
  grant(): void;
}

export class BindSlots {
  #active = 0;
  readonly #waiting: Waiter[] = [];
  readonly #maxWaiting: number;

  constructor(private readonly opts: BindSlotsOptions) {
    this.#maxWaiting = opts.maxWaiting ?? opts.max * 4;
  }

  get active(): number {
    return this.#active;
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    await this.#acquire();
    try {
      return await fn();
    } finally {
      this.#release();
    }
  }

  #acquire(): Promise<void> {
    if (this.#active < this.opts.max) {
      this.#active++;
      return Promise.resolve();
    }
    if (this.opts.waitMs <= 0 || this.#waiting.length >= this.#maxWaiting) return Promise.reject(busy());
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => {
          clearTimeout(timer);
          resolve();
        },
      };
      const timer = setTimeout(() => {
        const i = this.#waiting.indexOf(waiter);
        if (i !== -1) this.#waiting.splice(i, 1);
        reject(busy());
      }, this.opts.waitMs);
      this.#waiting.push(waiter);
    });
  }

  #release(): void {
    // The slot passes straight to the next waiter, so a newcomer cannot overtake the queue.
    const next = this.#waiting.shift();
    if (next) next.grant();
    else this.#active--;
  }
}

function busy(): GatewayError {
  return new GatewayError('GW_DIRECTORY_BUSY', 'too many sign-ins in flight: ldap.maxConcurrentBinds reached', { headers: { 'Retry-After': '1' } });
}

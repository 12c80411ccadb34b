/** A start that left the gate's queue before its turn came: nobody wants it any more. */
export class StartCancelled extends Error {
  override readonly name = 'StartCancelled';
}

export interface StartOptions {
  /** Fired while the start waits: it leaves the queue and rejects with StartCancelled. */
  signal?: AbortSignal;
  /**
   * Asked whenever a place frees: a start someone is waiting for (a turn) goes before one
   * nobody is waiting for yet (a prewarm). Asked again each time, since a turn may come to
   * wait for a prewarm's start. Default: always urgent.
   */
  urgent?: () => boolean;
}

interface Waiter {
  urgent: () => boolean;
  enter(): void;
}

const always = () => true;

/**
 * Bounds how many agent sessions are being started at once: starting one is the heaviest
 * thing an agent does, and twenty at once on two cores make every one of them slow. The
 * rest wait in arrival order, urgent ones first.
 */
export class StartGate {
  private running = 0;
  private readonly queue: Waiter[] = [];

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`a start gate needs a limit of at least 1, got ${limit}`);
  }

  /** Starts being made now, and starts waiting for a place. */
  get counts(): { running: number; waiting: number } {
    return { running: this.running, waiting: this.queue.length };
  }

  /** Runs `start` once a place is free; the place is given back however it ends. */
  async run<T>(start: () => Promise<T>, options: StartOptions = {}): Promise<T> {
    await this.enter(options);
    try {
      return await start();
    } finally {
      this.running--;
      this.next();
    }
  }

  private enter({ signal, urgent = always }: StartOptions): Promise<void> {
    if (signal?.aborted) return Promise.reject(new StartCancelled('the start was cancelled before it began'));
    if (this.running < this.limit && this.queue.length === 0) {
      this.running++;
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        urgent,
        enter: () => {
          signal?.removeEventListener('abort', cancel);
          resolve();
        },
      };
      const cancel = () => {
        const at = this.queue.indexOf(waiter);
        if (at >= 0) this.queue.splice(at, 1);
        reject(new StartCancelled('the start was cancelled while it waited'));
      };
      signal?.addEventListener('abort', cancel, { once: true });
      this.queue.push(waiter);
    });
  }

  private next(): void {
    while (this.running < this.limit && this.queue.length > 0) {
      const at = this.queue.findIndex((w) => w.urgent());
      const [waiter] = this.queue.splice(at >= 0 ? at : 0, 1);
      this.running++;
      waiter!.enter();
    }
  }
}

/**
 * An async iterable fed by `push()`: the open input of a streaming session. Values
 * pushed before anyone reads are kept in order; a read before any push waits.
 * `close()` ends the iteration once what was pushed has been read.
 */
export interface Pushable<T> {
  push(value: T): void;
  close(): void;
  readonly closed: boolean;
  /** Values pushed and not yet read. */
  readonly pending: number;
  readonly iterable: AsyncIterable<T>;
}

export class PushableClosedError extends Error {
  override readonly name = 'PushableClosedError';
  constructor() {
    super('push() after close(): the input of this session has ended');
  }
}

export function createPushable<T>(): Pushable<T> {
  const buffer: T[] = [];
  let closed = false;
  let wake: (() => void) | null = null;
  const signal = () => {
    const w = wake;
    wake = null;
    w?.();
  };

  async function* iterate(): AsyncGenerator<T, void> {
    for (;;) {
      while (buffer.length > 0) yield buffer.shift()!;
      if (closed) return;
      await new Promise<void>((resolve) => (wake = resolve));
    }
  }

  return {
    push(value) {
      if (closed) throw new PushableClosedError();
      buffer.push(value);
      signal();
    },
    close() {
      closed = true;
      signal();
    },
    get closed() {
      return closed;
    },
    get pending() {
      return buffer.length;
    },
    iterable: { [Symbol.asyncIterator]: iterate },
  };
}

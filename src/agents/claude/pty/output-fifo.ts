import { execFile } from 'node:child_process';
import { closeSync, constants, openSync } from 'node:fs';
import { Socket } from 'node:net';
import { promisify } from 'node:util';

const run = promisify(execFile);

/**
 * A named pipe a program prints into and the server reads: the CLI's standard output,
 * kept off its pseudo-terminal, which drops what is still unread soon after the program
 * exits (the long final result line among it, on a busy machine).
 *
 * The server holds the pipe open for writing itself until it is told the program has
 * exited: before the program opens it, reading finds no end, and once every writer has
 * closed it, the end comes after everything written has been read. It is read through
 * the event loop's polling, never by a thread of the pool blocked on a read.
 */
export class OutputFifo {
  private keeper: number | null;
  private readonly ended: Promise<void>;

  private constructor(
    readonly path: string,
    keeper: number,
    private readonly socket: Socket,
  ) {
    this.keeper = keeper;
    socket.setEncoding('utf8');
    this.ended = new Promise((resolve) => socket.once('close', () => resolve()));
    // A read that fails ends the output as its end would; the turn judges what it got.
    socket.on('error', () => {});
  }

  /** Makes the pipe at `path`, readable by the server's user only until it is given away. */
  static async create(path: string): Promise<OutputFifo> {
    await run('mkfifo', ['-m', '600', '--', path]);
    // Neither open waits (non-blocking, and on Linux opening for reading and writing needs
    // no other end), so they are made here rather than queued behind the thread pool's
    // other work. The reader opens before any writer, so that the last writer's going is
    // an end it is told of.
    const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    let keeper: number | null = null;
    try {
      keeper = openSync(path, constants.O_RDWR);
      return new OutputFifo(path, keeper, new Socket({ fd, readable: true, writable: false }));
    } catch (err) {
      if (keeper !== null) closeSync(keeper);
      closeSync(fd);
      throw err;
    }
  }

  onData(listener: (chunk: string) => void): void {
    this.socket.on('data', listener);
  }

  /**
   * The program has exited: resolves true once everything written has been read, or
   * false after `atMostMs` if something else still holds the pipe open for writing, and
   * then reads no more.
   */
  async drain(atMostMs: number): Promise<boolean> {
    this.release();
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise<boolean>((resolve) => {
      // Deferred past the next poll, so what a stalled event loop has yet to read is read first.
      timer = setTimeout(() => setImmediate(() => (this.socket.destroy(), resolve(false))), atMostMs);
    });
    try {
      return await Promise.race([this.ended.then(() => true), gaveUp]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Stops reading and lets the pipe go. Idempotent. */
  close(): void {
    this.release();
    this.socket.destroy();
  }

  private release(): void {
    if (this.keeper === null) return;
    const fd = this.keeper;
    this.keeper = null;
    closeSync(fd);
  }
}

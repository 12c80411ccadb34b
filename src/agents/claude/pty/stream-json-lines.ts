import { plainText } from './terminal-text.js';

const NOISE_TAIL = 8 * 1024;

/**
 * Splits a program's stream-json output into its messages.
 *
 * Output that passed through a terminal carries carriage returns, control sequences and
 * echoed keys (`^C`) on the same lines; what is left of a line from its first `{` is the
 * message. Anything else the program prints, its error messages included, is kept as a
 * short tail for error reports.
 */
export class StreamJsonLines {
  private partial = '';
  private noise = '';

  /** The messages completed by this chunk of output. */
  push(chunk: string): unknown[] {
    const lines = (this.partial + chunk).split('\n');
    this.partial = lines.pop() ?? '';
    return lines.flatMap((line) => this.parse(line));
  }

  /** Whatever was left without a line end when the program exited. */
  end(): unknown[] {
    const rest = this.partial;
    this.partial = '';
    return rest ? this.parse(rest) : [];
  }

  /** What the program printed that was not a message, most recent last. */
  noiseTail(): string {
    return this.noise.trim();
  }

  private parse(raw: string): unknown[] {
    const line = plainText(raw);
    const start = line.indexOf('{');
    if (start >= 0) {
      try {
        return [JSON.parse(line.slice(start))];
      } catch {
        // Not a message after all: fall through and keep it as noise.
      }
    }
    if (line.trim()) this.noise = (this.noise + line + '\n').slice(-NOISE_TAIL);
    return [];
  }
}

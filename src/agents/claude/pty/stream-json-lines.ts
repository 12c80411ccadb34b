const NOISE_TAIL = 8 * 1024;

// Terminal control sequences: CSI (ESC [ ... final byte), OSC (ESC ] ... BEL or ESC \),
// and two-byte escapes. JSON never holds a raw ESC, so removing these cannot touch a message.
const CONTROL_SEQUENCES = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]/g;

/**
 * Splits what a program under a pseudo-terminal prints into its JSON lines.
 *
 * The terminal adds carriage returns and control sequences (a cursor shown on exit) and
 * echoes what is typed at it (`^C`) onto the same lines; what is left of a line from its
 * first `{` is the message. Anything else the program prints, its error messages
 * included, is kept as a short tail for error reports.
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
    const line = raw.replace(CONTROL_SEQUENCES, '').replace(/\r/g, '');
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

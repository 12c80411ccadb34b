const TAIL = 8 * 1024;

// Terminal control sequences: CSI (ESC [ ... final byte), OSC (ESC ] ... BEL or ESC \),
// and two-byte escapes. JSON never holds a raw ESC, so removing these cannot touch a message.
const CONTROL_SEQUENCES = /\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]/g;

/** What a program printed on a terminal without the terminal's control sequences and carriage returns. */
export function plainText(raw: string): string {
  return raw.replace(CONTROL_SEQUENCES, '').replace(/\r/g, '');
}

/** The last few kilobytes a program printed on its terminal, for error messages. */
export class TerminalTail {
  private raw = '';

  push(chunk: string): void {
    this.raw = (this.raw + chunk).slice(-TAIL);
  }

  /** As plain text, blank lines left out. */
  text(): string {
    return plainText(this.raw)
      .split('\n')
      .filter((line) => line.trim())
      .join('\n')
      .trim();
  }
}

// What the CLI lets through to a terminal from text it did not write.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { renderHistory } from '../../src/cli/commands/log.js';
import { LiveTurnPrinter } from '../../src/cli/live-turn.js';
import type { ChatEvent } from '../../src/api/events.js';
import type { StoredMessage, TurnStatus } from '../../src/api/views.js';
import { diffBlock, errorLine, modeLine, oneLine, planLines, printable, PrintableStream, styleFor, table, toolCallLine, toolResultLine } from '../../src/cli/render.js';

/** Every byte a terminal would act on rather than print: C0 but tab and newline, DEL, C1. */
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;

describe('printable', () => {
  it('removes escape sequences whole', () => {
    const cases: Array<[string, string]> = [
      ['\x1b]0;pwned\x07title', 'title'], // OSC ended by BEL: retitles the window
      ['\x1b]0;pwned\x1b\\title', 'title'], // OSC ended by ST
      ['\x1b]8;;http://evil/\x1b\\link\x1b]8;;\x1b\\', 'link'], // OSC 8 hyperlink
      ['a\x1b[2Jb', 'ab'], // clear the screen
      ['\x1b[1;31mred\x1b[0m', 'red'],
      ['\x1b[?1049h\x1b[?25l', ''], // private CSI: alternate screen, hide the cursor
      ['\x1b[38;5;196mx', 'x'],
      ['\x1bPq#0;2;0;0;0\x1b\\after', 'after'], // DCS (sixel)
      ['\x1b_apc\x1b\\x', 'x'],
      ['\x1bcreset', 'reset'], // RIS, a two-byte form
      ['\x1b(Bx', 'x'],
      ['\x9b2Jx', 'x'], // CSI in its C1 form
      ['\x9d0;pwned\x9cx', 'x'], // OSC in its C1 form
    ];
    for (const [input, expected] of cases) assert.equal(printable(input), expected, JSON.stringify(input));
  });

  it('removes every other control character, keeping newlines and tabs', () => {
    assert.equal(printable('a\tb\nc'), 'a\tb\nc');
    assert.equal(printable('over\rwrite'), 'overwrite');
    assert.equal(printable('bell\x07 back\x08space del\x7f nul\x00 c1\x85\x90'), 'bell backspace del nul c1');
    let all = '';
    for (let c = 0; c < 0xa0; c++) all += String.fromCharCode(c);
    const left = printable(all);
    assert.ok(!CONTROL.test(left), JSON.stringify(left));
    assert.ok(left.startsWith('\t\n'));
    // What a broken sequence leaves is plain text: the ESC that would start it is gone.
    assert.equal(printable('\x1b]0;never ended'), '0;never ended');
    assert.equal(printable('cut \x1b[12'), 'cut 12');
  });

  it('leaves ordinary text alone, Unicode included', () => {
    const text = 'Größe: 5 € — 日本語 ✓ ⏺ [1;31m not an escape \\x1b';
    assert.equal(printable(text), text);
  });
});

describe('PrintableStream', () => {
  const through = (pieces: string[]) => {
    const stream = new PrintableStream();
    const out = pieces.map((p) => stream.push(p));
    return { out, end: stream.end() };
  };

  it('removes a sequence split between pieces whole, wherever it is cut', () => {
    const text = 'before \x1b]0;pwned\x1b\\ middle \x1b[1;31m after\x1b[0m.';
    for (let a = 1; a < text.length; a++) {
      for (let b = a; b < text.length; b++) {
        const { out, end } = through([text.slice(0, a), text.slice(a, b), text.slice(b)]);
        assert.equal(out.join('') + end, 'before  middle  after.', `cut at ${a} and ${b}`);
      }
    }
  });

  it('shows text at once when nothing is unfinished, and holds back only the sequence', () => {
    assert.deepEqual(through(['plain ', 'text']).out, ['plain ', 'text']);
    assert.deepEqual(through(['shown \x1b]0;ti', 'tle\x07 then']).out, ['shown ', ' then']);
  });

  it('lets go of a sequence that never ends, as plain text', () => {
    assert.deepEqual(through(['a \x1b]0;never']), { out: ['a '], end: '0;never' });
    const long = through(['\x1b]', 'x'.repeat(5000), ' more']);
    assert.equal(long.out.join('') + long.end, `${'x'.repeat(5000)} more`);
    assert.ok(long.out.join('').length >= 5000, 'an overlong one is not held to the end');
  });
});

describe('the CLI renderers', () => {
  const style = styleFor({ isTTY: false });
  const evil = 'a\x1b]0;pwned\x07b\x1b[2Jc\rd';

  it('make server text printable in lines, tables and errors', () => {
    for (const out of [
      oneLine(evil),
      toolCallLine(evil, { command: evil }),
      toolResultLine(`${evil}\nsecond`, false, style),
      toolResultLine(evil, true, style),
      errorLine(evil, style),
      table([['ID', 'CHAT'], ['1', evil]]),
    ]) {
      assert.ok(!CONTROL.test(out), JSON.stringify(out));
      assert.ok(out.includes('abcd'), out);
    }
  });

  it('keep the styling of their own on a terminal', () => {
    const tty = styleFor({ isTTY: true }, {});
    assert.equal(errorLine(evil, tty), '\x1b[31m✗ abcd\x1b[39m');
  });

  it('print a live turn printable, and its JSON exactly as sent', () => {
    const events = ([
      { id: 1, event: 'text_delta', data: { text: 'Hi \x1b]0;pw' } },
      { id: 1, event: 'text_delta', data: { text: 'ned\x07there\x1b[2J' } },
      { id: 2, event: 'thinking_delta', data: { text: 'hmm\x1b[2K' } },
      { id: 3, event: 'tool_call', data: { name: 'Bash\x1b[31m', input: { command: 'ls\x07' } } },
      { id: 4, event: 'tool_result', data: { output: '\x1b]0;x\x07out', isError: false } },
      { id: 5, event: 'status', data: { message: 'queued\x1bc' } },
      { id: 6, event: 'error', data: { message: 'boom\x1b[2J' } },
      { id: 7, event: 'turn_end', data: { ok: false, code: 'agent_error', error: 'failed\x1b]0;t\x07' } },
    ] as unknown[]) as ChatEvent[];
    const sink = () => {
      const s = { text: '', write: (chunk: string) => (s.text += chunk) };
      return s;
    };
    const [out, err] = [sink(), sink()];
    const printer = new LiveTurnPrinter(out, err, false);
    for (const e of events) printer.handle(e);
    printer.finish();
    assert.equal(out.text, 'Hi there\n⏺ Bash(ls)\n  ⎿  out\n');
    assert.equal(err.text, '✻ hmm\n· queued\n✗ boom\n✗ the turn failed: failed\n');

    const [jsonOut, jsonErr] = [sink(), sink()];
    const json = new LiveTurnPrinter(jsonOut, jsonErr, true);
    for (const e of events) json.handle(e);
    assert.deepEqual(jsonOut.text.trim().split('\n').map((l) => JSON.parse(l)), events);
    assert.equal(jsonErr.text, 'hearth: the turn failed: failed\n');
  });

  it('print how each turn of a history ended and why, its reply gathered under its message', () => {
    let n = 0;
    const msg = (turnId: string, role: StoredMessage['role'], parts: StoredMessage['parts'], turnStatus: TurnStatus, turnError: string | null) =>
      ({ id: `m${++n}`, turnId, role, agent: 'claude', parts, turnStatus, turnError, createdAt: '2026-01-01T00:00:00.000Z' }) satisfies StoredMessage;
    const history = [
      msg('t1', 'user', [{ type: 'text', text: 'crash now' }], 'interrupted', 'the server stopped during this turn'),
      msg('t2', 'user', [{ type: 'text', text: 'then this' }], 'interrupted', 'the server stopped before this turn started; it was not run'),
      msg('t3', 'user', [{ type: 'text', text: 'and fail' }], 'failed', 'first line\nsecond \x1b[2Jline'),
      msg('t4', 'user', [{ type: 'text', text: 'stop me' }], 'aborted', 'aborted'),
      msg('t5', 'user', [{ type: 'text', text: 'queued behind' }], 'aborted', 'aborted before it started'),
      // Stored when its turn ended, after the message that queued behind it.
      msg('t4', 'assistant', [{ type: 'text', text: 'partial' }], 'aborted', 'aborted'),
      msg('t6', 'user', [{ type: 'text', text: 'fine' }], 'succeeded', null),
      msg('t6', 'assistant', [{ type: 'text', text: 'ok' }], 'succeeded', null),
    ];
    assert.equal(
      renderHistory(history, style),
      [
        '❯ crash now\n· turn interrupted: the server stopped during this turn',
        '❯ then this\n· turn interrupted: the server stopped before this turn started; it was not run',
        '❯ and fail\n· turn failed: first line\n               second line',
        '❯ stop me\npartial\n· turn aborted: stopped on request before it finished',
        '❯ queued behind\n· turn aborted before it started',
        '❯ fine\nok',
      ].join('\n\n') + '\n',
    );
  });

  it('show a call by its title, a short colored diff of an edit, the plan as a checklist and a change of mode', () => {
    const tty = styleFor({ isTTY: true }, {});
    assert.equal(toolCallLine('Edit', { file_path: '/w/a.ts' }, 'a.ts'), '⏺ Edit(a.ts)');
    assert.equal(toolCallLine('Edit', { file_path: '/w/a.ts' }), '⏺ Edit(/w/a.ts)');
    assert.deepEqual(diffBlock({ path: 'a', oldText: 'keep\ntwo\nkeep', newText: 'keep\nthree\nkeep' }, tty), ['\x1b[31m  - two\x1b[39m', '\x1b[32m  + three\x1b[39m']);
    const written = Array.from({ length: 10 }, (_, i) => `line ${i}`).join('\n');
    assert.deepEqual(diffBlock({ path: 'n', oldText: null, newText: written }, style), ['  + line 0', '  + line 1', '  + line 2', '  + line 3', '  … +6 lines']);
    assert.deepEqual(
      planLines(
        [
          { content: 'done', status: 'completed' },
          { content: 'doing', status: 'in_progress' },
          { content: 'to do \x1b[2J', status: 'pending' },
        ],
        '# Plan\n\n1. go\n',
        style,
      ),
      ['Plan:', '  # Plan', '  ', '  1. go', '☑ done', '◐ doing', '☐ to do'],
    );
    assert.equal(modeLine('plan', style), '· mode: plan');

    const sink = () => {
      const s = { text: '', write: (chunk: string) => (s.text += chunk) };
      return s;
    };
    const [out, err] = [sink(), sink()];
    const printer = new LiveTurnPrinter(out, err, false);
    const events = [
      { id: 1, event: 'mode', data: { turnId: 't', mode: 'acceptEdits' } },
      { id: 2, event: 'tool_call', data: { turnId: 't', id: 'c', name: 'Write', input: {}, status: 'running', title: 'n.txt', diffs: [{ path: '/w/n.txt', oldText: null, newText: 'hi\n' }] } },
      { id: 3, event: 'tool_result', data: { turnId: 't', id: 'c', output: 'written', isError: false } },
      { id: 4, event: 'plan', data: { turnId: 't', entries: [{ content: 'write', status: 'completed' }] } },
      { id: 5, event: 'context', data: { turnId: 't', used: 1_000, size: 200_000 } },
      { id: 6, event: 'context', data: { turnId: 't', used: 24_000, size: 200_000 } },
      { id: 7, event: 'turn_end', data: { turnId: 't', ok: true } },
    ] as ChatEvent[];
    for (const e of events) printer.handle(e);
    printer.finish();
    assert.equal(out.text, '⏺ Write(n.txt)\n  + hi\n  ⎿  written\n☑ write\n');
    assert.equal(err.text, '· mode: acceptEdits\n· context 24k of 200k tokens (12%)\n', 'the context fill once, as it was at the end');

    const history: StoredMessage[] = [
      { id: 'u', turnId: 't', role: 'user', agent: 'claude', parts: [{ type: 'text', text: 'edit' }], turnStatus: 'succeeded', turnError: null, createdAt: '' },
      {
        id: 'a',
        turnId: 't',
        role: 'assistant',
        agent: 'claude',
        parts: [
          { type: 'plan', entries: [{ content: 'edit', status: 'in_progress' }] },
          { type: 'tool_call', id: 'c', name: 'Edit', input: {}, status: 'completed', title: 'a.ts', diffs: [{ path: '/w/a.ts', oldText: 'a', newText: 'b' }] },
          { type: 'tool_result', id: 'c', output: 'ok', isError: false },
        ],
        turnStatus: 'succeeded',
        turnError: null,
        createdAt: '',
      },
    ];
    assert.equal(renderHistory(history, style), '❯ edit\n◐ edit\n⏺ Edit(a.ts)\n  - a\n  + b\n  ⎿  ok\n');
  });
});

// hearth send's handling of a turn's requests, on a terminal made of streams and an API
// that answers as the test says: the order of questions, and races no real run makes
// at will (a queued request answered elsewhere, an answer that loses).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import type { PermissionOption, PermissionRequestData, PermissionResolvedData } from '../../src/api/events.js';
import type { PermissionAnswer, PermissionRequestView } from '../../src/api/permissions.js';
import type { AnswerResult } from '../../src/cli/api-client.js';
import { styleFor } from '../../src/cli/render.js';
import { TurnPermissions } from '../../src/cli/turn-permissions.js';

const OPTIONS: PermissionOption[] = [
  { id: 'allow_once', kind: 'allow_once', label: 'Allow once' },
  { id: 'reject_once', kind: 'reject_once', label: 'Deny' },
];

const request = (requestId: string, file: string): PermissionRequestData => ({
  turnId: 't',
  requestId,
  kind: 'permission',
  tool: 'Write',
  toolCallId: null,
  input: { file_path: file },
  options: OPTIONS,
  details: { title: file },
  createdAt: '2026-01-01T00:00:00.000Z',
});

const view = (r: PermissionRequestData, status: PermissionRequestView['status'], optionId: string): PermissionRequestView => ({
  ...r,
  chatId: 'c',
  agent: 'claude',
  status,
  optionId,
});

/** A terminal of streams, the lines shown on it, and an API whose answers the test gives. */
function world(answer: (requestId: string, body: PermissionAnswer) => AnswerResult) {
  const input = new PassThrough();
  const output = new PassThrough();
  let screen = '';
  output.setEncoding('utf8').on('data', (d: string) => (screen += d));
  const posted: Array<[string, PermissionAnswer]> = [];
  const api = {
    answerPermission: async (_chat: string, requestId: string, body: PermissionAnswer) => {
      posted.push([requestId, body]);
      return answer(requestId, body);
    },
  };
  const blocks: string[] = [];
  const notices = { block: (lines: string[]) => blocks.push(...lines), showedChanges: () => false };
  const permissions = new TurnPermissions(api, 'c', { kind: 'terminal', terminal: { input, output }, onInterrupt: () => {} }, notices, styleFor({}));
  const until = async (check: () => boolean, what: string) => {
    for (let i = 0; !check(); i++) {
      assert.ok(i < 200, `${what}; the screen shows ${JSON.stringify(screen)}, the notices ${JSON.stringify(blocks)}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const asked = () => screen.split('[n] deny: ').length - 1;
  return { input, posted, blocks, permissions, until, asked, screen: () => screen };
}

const resolved = (requestId: string, outcome: PermissionResolvedData['outcome'], message?: string): PermissionResolvedData => ({
  turnId: 't',
  requestId,
  outcome,
  ...(message ? { message } : {}),
  answeredAt: '2026-01-01T00:00:01.000Z',
});

describe('TurnPermissions on a terminal', () => {
  it('asks requests that come together one after the other, each answer posted as given', async () => {
    const a = request('a', 'a.txt');
    const b = request('b', 'b.txt');
    const w = world((id) => ({ state: 'taken', request: view(id === 'a' ? a : b, id === 'a' ? 'allowed' : 'denied', id === 'a' ? 'allow_once' : 'reject_once') }));
    w.permissions.requested(a);
    w.permissions.requested(b);
    await w.until(() => w.asked() === 1, 'the first is asked');
    assert.deepEqual(w.blocks, ['? Allow Write(a.txt)?'], 'only the first is shown while it is asked');
    w.input.write('y\n');
    await w.until(() => w.asked() === 2, 'the second is asked');
    w.input.write('n\n');
    await w.until(() => w.screen().includes('Why, or what to do instead'), 'a message is asked for');
    w.input.write('\n');
    await w.until(() => w.posted.length === 2, 'both answers are posted');
    // The outcomes the stream then brings are shown once, by the answers' replies.
    w.permissions.resolved({ ...resolved('a', 'allowed'), optionId: 'allow_once' });
    w.permissions.resolved(resolved('b', 'denied'));
    await w.permissions.close();
    assert.deepEqual(w.posted, [
      ['a', { decision: 'allow', scope: 'once' }],
      ['b', { decision: 'deny' }],
    ]);
    assert.deepEqual(w.blocks, ['? Allow Write(a.txt)?', '✓ allowed once', '? Allow Write(b.txt)?', '✗ denied']);
  });

  it('shows the outcome an answer lost to, once', async () => {
    const a = request('a', 'a.txt');
    const w = world(() => ({ state: 'already_resolved', request: { ...view(a, 'denied', 'reject_once'), message: 'no' } }));
    w.permissions.requested(a);
    await w.until(() => w.asked() === 1, 'it is asked');
    w.input.write('y\n');
    await w.until(() => w.blocks.length === 2, 'the answer is refused');
    w.permissions.resolved(resolved('a', 'denied', 'no'));
    await w.permissions.close();
    assert.deepEqual(w.blocks, ['? Allow Write(a.txt)?', '✗ denied: no (answered elsewhere first)']);
  });

  it('never asks a request answered elsewhere while it waited its turn, and says how it ended', async () => {
    const a = request('a', 'a.txt');
    const b = request('b', 'b.txt');
    const w = world((id) => ({ state: 'taken', request: view(id === 'a' ? a : b, 'allowed', 'allow_once') }));
    w.permissions.requested(a);
    w.permissions.requested(b);
    await w.until(() => w.asked() === 1, 'the first is asked');
    w.permissions.resolved({ ...resolved('b', 'allowed'), optionId: 'allow_once' });
    assert.deepEqual(w.blocks, ['? Allow Write(a.txt)?', '? Allow Write(b.txt)?', '✓ allowed once (answered elsewhere)']);
    w.input.write('y\n');
    await w.until(() => w.posted.length === 1, 'the first answer is posted');
    await w.permissions.close();
    assert.equal(w.asked(), 1, 'the second is not asked');
    assert.deepEqual(w.posted.map(([id]) => id), ['a']);
  });

  it('ends the question of a request resolved elsewhere, and stops asking when closed', async () => {
    const a = request('a', 'a.txt');
    const b = request('b', 'b.txt');
    const w = world(() => assert.fail('nothing is posted'));
    w.permissions.requested(a);
    await w.until(() => w.asked() === 1, 'it is asked');
    w.permissions.resolved(resolved('a', 'timed_out', 'nobody answered within 1 s'));
    await w.until(() => w.blocks.length === 2, 'the question ends');
    assert.equal(w.blocks[1], '· timed out: nobody answered within 1 s');
    w.permissions.requested(b);
    await w.until(() => w.asked() === 2, 'the next is asked');
    await w.permissions.close();
    assert.deepEqual(w.posted, []);
  });
});

describe('TurnPermissions without a terminal', () => {
  it('shows each request with the commands that answer it, then its outcome', () => {
    const blocks: string[] = [];
    const permissions = new TurnPermissions(
      { answerPermission: () => assert.fail('nothing is posted') },
      'c',
      { kind: 'elsewhere' },
      { block: (lines) => blocks.push(...lines), showedChanges: () => false },
      styleFor({}),
    );
    permissions.requested(request('a', 'a.txt'));
    permissions.requested(request('a', 'a.txt'));
    permissions.resolved({ ...resolved('a', 'allowed'), optionId: 'allow_once' });
    permissions.resolved({ ...resolved('a', 'allowed'), optionId: 'allow_once' });
    permissions.resolved(resolved('unknown', 'denied'));
    assert.deepEqual(blocks, [
      '? Allow Write(a.txt)?',
      '  waiting for an answer from any client (chat c, request a):',
      '    hearth allow c a',
      '    hearth deny c a [--message "why, or what to do instead"]',
      '✓ allowed once',
    ]);
  });
});

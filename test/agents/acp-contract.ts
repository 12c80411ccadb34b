// What AcpDriver must do with every ACP agent beyond the driver contract, run against each
// agent's real program and the project's fake model: an ACP agent's test file calls
// acpContract with its agent's drivers and how its tool calls are scripted.

import { describe, it as nodeIt, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { taggedProcesses } from '../../src/agents/process/agent-process.js';
import type { PermissionMode } from '../../src/api/views.js';
import { sent, waitUntil, type BackendChat } from '../fixtures/backend-chats.js';
import { ChatSession, texts, type Turn } from '../fixtures/driver-turns.js';
import { alive } from '../fixtures/processes.js';
import { askWord, keepWord, type AcpDrivers } from '../fixtures/acp-drivers.js';
import { claudeToolCall, type ToolCallScript, type ToolIntent } from './driver-contract.js';

export interface AcpContractFactory {
  acp: AcpDrivers;
  /** The agent's tool call for an intent, in a session of the permission mode given; Claude Code's by default. */
  toolCall?(chat: BackendChat, intent: ToolIntent, mode: PermissionMode | null): ToolCallScript;
  /** Lines of the agent's environment (`env` output) that must reach it. */
  reaches(chat: BackendChat): string[];
  /** Variables the agent would take, set by the node, that the driver keeps from it because it sets what they set itself. */
  strays?(chat: BackendChat): Record<string, string>;
  /** What a case checks of this agent besides what it checks of every one. */
  also?: {
    /** After the two warm turns, before the session closes. */
    warm?(chat: BackendChat, first: Turn): Promise<void>;
    /** After the agent printed its environment. */
    env?(chat: BackendChat): Promise<void>;
  };
  /** Cases that cannot hold for this agent, by title, each with why: reported as skipped with the reason. */
  cannotHold?: Record<string, string>;
}

/** Whether the process `pid`, one of its process group, or one tagged for the chat is still there. */
const anyLeft = (chat: BackendChat, pid: number) => alive(pid) || alive(-pid) || taggedProcesses({ prefix: chat.tagPrefix }).length > 0;

export function acpContract(factory: AcpContractFactory): void {
  const { acp } = factory;
  const it = (title: string, fn: (t: TestContext) => Promise<void>) => {
    const why = factory.cannotHold?.[title];
    return nodeIt(title, why ? { ...acp.limit, skip: `cannot hold for ${acp.name}: ${why}` } : acp.limit, fn);
  };

  describe(`${acp.name} keeps the ACP contract`, () => {
    const chats = acp.chats();

    it('keeps one warm process across turns, and the second turn streams far sooner', async (t) => {
      const { chat, session } = await chats.chatSession();
      acp.script(chat, { kind: 'text', chunks: ['first ', 'answer'] }, { kind: 'text', chunks: ['second ', 'answer'] });
      const opening = performance.now();
      await session.session();
      const openMs = performance.now() - opening;
      const one = await session.turn('first question');
      assert.equal(one.result.ok, true, JSON.stringify(one.result));
      const pid = session.pid()!;
      assert.ok(pid && alive(pid));
      const two = await session.turn('second question');
      assert.equal(two.result.ok, true, JSON.stringify(two.result));
      assert.equal(session.pid(), pid, 'the same process served both turns');
      assert.deepEqual(texts(two.events, 'text_delta'), ['second ', 'answer']);
      const rssMiB = Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;
      const cold = openMs + one.firstDeltaMs!;
      t.diagnostic(`start ${openMs.toFixed(0)} ms, first delta cold ${cold.toFixed(0)} ms (${one.firstDeltaMs!.toFixed(0)} ms after the prompt), warm ${two.firstDeltaMs!.toFixed(0)} ms, RSS ${rssMiB.toFixed(0)} MiB`);
      assert.ok(two.firstDeltaMs! * 2 < cold, `warm first delta ${two.firstDeltaMs!.toFixed(0)} ms vs cold ${cold.toFixed(0)} ms`);
      const last = sent(chat.fake.mainRequests().at(-1));
      assert.match(last, /first question/);
      assert.match(last, /first answer/);
      await factory.also?.warm?.(chat, one);
      const closing = performance.now();
      await session.close();
      t.diagnostic(`closed in ${(performance.now() - closing).toFixed(0)} ms`);
      await waitUntil('every tagged process to be gone', () => !anyLeft(chat, pid));
    });

    it('returns crashed for an agent killed mid-turn, leaves no process, and the next session resumes the conversation', async () => {
      const { chat, session } = await chats.chatSession();
      const token = await keepWord(chat, session, 'HERON');
      acp.script(chat, { kind: 'stall', chunks: ['working'] });
      let killed = 0;
      const t = await session.turn('stall', {
        onEvent: (e, s) => {
          if (e.kind === 'text_delta' && !killed) {
            killed = s.pid()!;
            process.kill(killed, 'SIGKILL');
          }
        },
      });
      assert.ok(killed > 0);
      assert.ok(!t.result.ok && t.result.code === 'crashed', JSON.stringify(t.result));
      assert.match(t.result.error, new RegExp(`${acp.agent} exited mid-turn.*SIGKILL`, 's'));
      await waitUntil('every tagged process to be gone', () => !anyLeft(chat, killed));

      // The runtime reopens the chat's session with its token.
      await askWord(chat, session, 'HERON', token);
      assert.notEqual(session.pid(), killed);
      await session.close();
    });

    it("gives the agent what it needs and none of Hearth's secrets", async () => {
      const chat = await chats.create();
      const strays = factory.strays?.(chat) ?? {};
      const driver = chats.driver(chat, chat.configDir, {
        env: {
          ...acp.env(chat),
          DATABASE_URL: 'postgres://hearth:db-secret@db/hearth',
          HEARTH_TOKEN: 'token-secret',
          STRIPE_KEY: 'configured-secret',
          RANDOM_SERVER_SETTING: 'not-allowlisted',
          ...strays,
        },
        secrets: ['STRIPE_KEY'],
      });
      const session = new ChatSession(driver, acp.spec(chat, { permissionMode: 'bypassPermissions' }));
      const print = (factory.toolCall ?? claudeToolCall)(chat, { kind: 'shell', command: 'env > env.txt', description: 'print env' }, 'bypassPermissions');
      acp.script(chat, print.reply, { kind: 'text', chunks: ['printed'] });
      const t = await session.turn('print the environment');
      assert.equal(t.result.ok, true, JSON.stringify(t.result));
      const env = await readFile(path.join(chat.worktree, 'env.txt'), 'utf8');
      for (const present of ['PATH=', ...factory.reaches(chat)]) assert.ok(env.includes(present), `${present} reaches the agent`);
      for (const secret of ['db-secret', 'token-secret', 'configured-secret', 'not-allowlisted', ...Object.keys(strays)]) assert.ok(!env.includes(secret), `${secret} stays out`);
      await factory.also?.env?.(chat);
      await session.close();
    });
  });
}

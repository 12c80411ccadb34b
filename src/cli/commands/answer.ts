import type { PermissionAnswer, PermissionRequestView } from '../../api/permissions.js';
import type { HearthApi } from '../api-client.js';
import { resolveChatId } from '../chat-ref.js';
import { CliError, UsageError } from '../errors.js';
import { findByPrefix } from '../id-prefix.js';
import { choiceLines, outcomeLine, requestHeadline, questionText } from '../permission-lines.js';
import { answerFor, answerHint } from '../question-answers.js';
import { oneLine, styleFor } from '../render.js';
import { outcomeOf } from '../turn-permissions.js';
import { pendingTable } from './pending.js';

export interface AnswerOptions {
  always?: boolean;
  message?: string;
  /** A `question` request's answers, in the order of its questions. */
  answer?: string[];
  json: boolean;
}

/**
 * Answers a chat's permission request from any client: the one named (its id or a unique
 * prefix), or the only one waiting. Several waiting and none named: they are listed and
 * nothing is answered. An answer that comes after another outcome says which, and exits 1.
 */
export async function answerRequest(
  api: HearthApi,
  chatRef: string,
  requestRef: string | undefined,
  decision: PermissionAnswer['decision'],
  options: AnswerOptions,
): Promise<number> {
  const chatId = await resolveChatId(api, chatRef);
  const request = await pickRequest(api, chatId, requestRef);
  const result = await api.answerPermission(chatId, request.requestId, answerOf(request, decision, options));
  if (options.json) {
    process.stdout.write(JSON.stringify(result.request) + '\n');
    return result.state === 'taken' ? 0 : 1;
  }
  const ended = outcomeOf(result.request);
  const outcome = ended ? outcomeLine(result.request, ended, styleFor(process.stdout)) : result.request.status;
  if (result.state === 'already_resolved') {
    process.stderr.write(`hearth: the request was answered elsewhere first: ${oneLine(outcome, 300)}\n`);
    return 1;
  }
  process.stdout.write(`${oneLine(requestHeadline(request), 120)}\n${outcome}\n`);
  return 0;
}

async function pickRequest(api: HearthApi, chatId: string, ref: string | undefined): Promise<PermissionRequestView> {
  if (ref !== undefined) {
    // Answered ones too: answering one of them says how it ended.
    const { permissions } = await api.permissions(chatId);
    return findByPrefix(permissions, (r) => r.requestId, ref, `permission request of chat ${chatId}`);
  }
  const { permissions } = await api.permissions(chatId, 'pending');
  if (permissions.length === 1) return permissions[0]!;
  if (permissions.length === 0) throw new CliError(`nothing waits for an answer in chat ${chatId}`);
  const { chats } = await api.listChats();
  process.stderr.write(pendingTable(permissions, chats, new Date()) + '\n');
  throw new UsageError(`${permissions.length} requests wait in chat ${chatId}: name one by its id (or a prefix of it)`);
}

/** The answer the options give, checked against what the request offers and asks. */
function answerOf(request: PermissionRequestView, decision: PermissionAnswer['decision'], options: AnswerOptions): PermissionAnswer {
  const given = options.answer ?? [];
  if (options.always) {
    if (decision !== 'allow') throw new UsageError('--always goes with allow');
    if (request.kind !== 'permission') throw new UsageError(`a ${request.kind} is answered once: --always is for leave to use a tool`);
    if (!request.options.some((o) => o.kind === 'allow_always')) throw new UsageError('this request offers no "always": allow it once');
  }
  if (given.length > 0 && (request.kind !== 'question' || decision !== 'allow')) {
    throw new UsageError('--answer answers the agent\'s questions: it goes with allow, on a question');
  }
  const message = options.message?.trim();
  const answer: PermissionAnswer = { decision, ...(options.always ? { scope: 'always' } : {}), ...(message ? { message } : {}) };
  if (request.kind !== 'question' || decision !== 'allow') return answer;

  const questions = request.questions ?? [];
  if (given.length !== questions.length) {
    const asked = questions.flatMap((q, i) => [`  ${i + 1}. ${questionText(q)}`, ...choiceLines(q, '     ')]);
    throw new UsageError(
      `the agent asks ${questions.length} question${questions.length === 1 ? '' : 's'}: give an --answer to each, in order (${given.length} given)\n${asked.join('\n')}`,
    );
  }
  const answers: Record<string, string> = {};
  questions.forEach((q, i) => {
    const a = answerFor(q, given[i]!);
    if (a === null) throw new UsageError(`answer ${i + 1} does not fit "${oneLine(q.question, 80)}": ${answerHint(q)}`);
    answers[q.question] = a;
  });
  return { ...answer, answers };
}

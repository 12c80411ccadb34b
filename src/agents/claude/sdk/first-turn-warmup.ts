import type { Query } from '@anthropic-ai/claude-agent-sdk';
import type { Logger } from 'pino';

/** Long enough for the turn that opened a session to have begun: the runtime prompts as soon as it has recorded the session. */
const WAIT_FOR_A_TURN_MS = 100;

/**
 * Does ahead of a new agent's first turn some of the work that turn would do for the first
 * time: Claude Code builds its tool schemas, skill listing and system prompt lazily, on the
 * first prompt. Asking for a summary of the context's usage builds them too, yet asks the
 * model nothing (the summary counts locally) and writes nothing to the transcript.
 *
 * It is for a session opened ahead of its first message: a turn that begins within
 * `WAIT_FOR_A_TURN_MS` of the start does that work itself, sooner than a head start
 * sharing the agent with it would. A prompt that comes while the request runs is not held
 * back; the agent takes it alongside. A failure costs only the head start.
 */
export function warmFirstTurn(query: Query, idle: () => boolean, log: Logger, chatId: string): void {
  const timer = setTimeout(() => {
    if (!idle()) return;
    const started = performance.now();
    query.getContextUsage({ detail: 'summary' }).then(
      () => log.debug({ chatId, ms: Math.round(performance.now() - started) }, 'claude-sdk: first turn warmed'),
      (err: unknown) => log.debug({ chatId, err }, 'claude-sdk: the first turn was not warmed'),
    );
  }, WAIT_FOR_A_TURN_MS);
  timer.unref();
}

import type { Query } from '@anthropic-ai/claude-agent-sdk';
import type { Logger } from 'pino';

/**
 * Does ahead of a new agent's first turn some of the work that turn would do for the first
 * time: Claude Code builds its tool schemas, skill listing and system prompt lazily, on the
 * first prompt. Asking for a summary of the context's usage builds them too, yet asks the
 * model nothing (the summary counts locally) and writes nothing to the transcript. A prompt
 * that comes meanwhile is not held back: the agent takes it alongside. A failure costs only
 * the head start.
 */
export function warmFirstTurn(query: Query, log: Logger, chatId: string): void {
  const started = performance.now();
  query.getContextUsage({ detail: 'summary' }).then(
    () => log.debug({ chatId, ms: Math.round(performance.now() - started) }, 'claude-sdk: first turn warmed'),
    (err: unknown) => log.debug({ chatId, err }, 'claude-sdk: the first turn was not warmed'),
  );
}

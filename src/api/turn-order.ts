/**
 * Stored messages gathered by turn, turns in the order of their first message. A reply is
 * stored when its turn ends, after messages that queued behind it, so stored order is not
 * conversation order.
 */
export function inTurnOrder<M extends { turnId: string | null }>(messages: readonly M[]): M[][] {
  const turns: M[][] = [];
  const byTurn = new Map<string, M[]>();
  for (const message of messages) {
    const known = message.turnId === null ? undefined : byTurn.get(message.turnId);
    if (known) {
      known.push(message);
      continue;
    }
    const turn = [message];
    turns.push(turn);
    if (message.turnId !== null) byTurn.set(message.turnId, turn);
  }
  return turns;
}

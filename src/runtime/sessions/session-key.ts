/** The key of a (chat, agent) pair in the maps that hold one of something per pair. */
export function sessionKey(chatId: string, agent: string): string {
  return `${chatId}\u0000${agent}`;
}

/** Whether a key made by `sessionKey` is one of this chat's. */
export function isChatKey(key: string, chatId: string): boolean {
  return key.startsWith(`${chatId}\u0000`);
}

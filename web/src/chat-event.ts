/** One event of a chat's stream, as SSE delivers it: `id` is the chat's sequence number. */
export interface ChatEvent {
  id: number;
  event: string;
  data: Record<string, unknown>;
}

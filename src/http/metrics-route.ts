import type { FastifyInstance } from 'fastify';
import type { Runtime } from '../runtime/hearth-runtime.js';

/** A label value as the text format wants it: backslash, double quote and newline escaped. */
export function labelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

const BUCKETS = [0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300];

/** `GET /metrics`: Prometheus text format, behind the token like the API. */
export async function metricsRoute(app: FastifyInstance, { runtime }: { runtime: Runtime }): Promise<void> {
  app.get('/metrics', async (_req, reply) => {
    const { turns, durations } = runtime.dispatcher.metrics;
    const memory = runtime.pool.memory();
    const lines: string[] = [
      '# HELP hearth_turns_total Turns finished, by outcome.',
      '# TYPE hearth_turns_total counter',
      ...Object.entries(turns).map(([outcome, n]) => `hearth_turns_total{outcome="${outcome}"} ${n}`),
      '# HELP hearth_turn_duration_seconds Time from a turn starting to its end.',
      '# TYPE hearth_turn_duration_seconds histogram',
      ...BUCKETS.map((b) => `hearth_turn_duration_seconds_bucket{le="${b}"} ${durations.filter((d) => d <= b).length}`),
      `hearth_turn_duration_seconds_bucket{le="+Inf"} ${durations.length}`,
      `hearth_turn_duration_seconds_sum ${durations.reduce((a, b) => a + b, 0)}`,
      `hearth_turn_duration_seconds_count ${durations.length}`,
      '# HELP hearth_warm_backends Agent backends kept warm in the pool.',
      '# TYPE hearth_warm_backends gauge',
      `hearth_warm_backends ${runtime.pool.size}`,
      "# HELP hearth_warm_session_resident_bytes Resident memory of a warm session's process tree (the agent and what it runs).",
      '# TYPE hearth_warm_session_resident_bytes gauge',
      ...memory.map(
        (m) =>
          `hearth_warm_session_resident_bytes{chat_id="${labelValue(m.chatId)}",agent="${labelValue(m.agent)}",backend="${labelValue(m.backend)}"} ${m.bytes}`,
      ),
      "# HELP hearth_warm_sessions_resident_bytes Resident memory of every warm session's process tree, together.",
      '# TYPE hearth_warm_sessions_resident_bytes gauge',
      `hearth_warm_sessions_resident_bytes ${memory.reduce((sum, m) => sum + m.bytes, 0)}`,
      '# HELP hearth_backend_evictions_total Warm backends evicted for room or idleness.',
      '# TYPE hearth_backend_evictions_total counter',
      `hearth_backend_evictions_total ${runtime.pool.evictions}`,
      '# HELP hearth_agent_starts Agent sessions being started now, and those waiting for a place to start (HEARTH_MAX_STARTS).',
      '# TYPE hearth_agent_starts gauge',
      `hearth_agent_starts{state="running"} ${runtime.starts.counts.running}`,
      `hearth_agent_starts{state="waiting"} ${runtime.starts.counts.waiting}`,
      "# HELP hearth_permission_requests_waiting Requests this node's turns wait on a person to answer.",
      '# TYPE hearth_permission_requests_waiting gauge',
      `hearth_permission_requests_waiting ${runtime.permissions.waitingCount()}`,
      '# HELP hearth_event_subscribers Live event stream subscribers.',
      '# TYPE hearth_event_subscribers gauge',
      `hearth_event_subscribers ${runtime.events.subscriberCount()}`,
    ];
    return reply.type('text/plain; version=0.0.4').send(lines.join('\n') + '\n');
  });
}

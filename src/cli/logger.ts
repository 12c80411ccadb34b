import { pino, type Logger } from 'pino';
import pretty from 'pino-pretty';

export type LogFormat = 'pretty' | 'json';

/**
 * The server's logger: readable lines for a person at a terminal, one JSON object a line
 * for everything else (a file, a pipe, a log collector), unless HEARTH_LOG_FORMAT says.
 */
export function serverLogger(level: string, format: LogFormat | null, stream: NodeJS.WriteStream = process.stdout): Logger {
  const chosen = format ?? (stream.isTTY ? 'pretty' : 'json');
  if (chosen === 'json') return pino({ level }, stream);
  return pino(
    { level },
    pretty({ destination: stream, colorize: stream.isTTY === true, translateTime: 'SYS:HH:MM:ss', ignore: 'pid,hostname', sync: true }),
  );
}

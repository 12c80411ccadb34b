export { openDatabase, closeDatabase, defaultDataDir, type OpenDatabaseOptions } from './db/database.js';
export { migrate, readMigrations, type MigrateOptions, type Migration } from './db/migrate.js';
export { connect, type Sql, type ConnectOptions } from './db/sql.js';
export { DatabaseStartError, MigrationError, InvalidIdentifierError } from './db/errors.js';
export { PostgresSessionStore, type PostgresSessionStoreOptions } from './store/postgres-session-store.js';
export {
  failedTurn,
  succeededTurn,
  type AgentDriver,
  type AgentSession,
  type PermissionAsk,
  type PermissionDecision,
  type SessionOptions,
  type SessionReports,
  type SessionSpec,
  type SessionState,
  type TurnContext,
  type TurnResult,
} from './agents/contract/driver.js';
export type { BackendKind, PermissionMode } from './api/views.js';
export type { AgentEvent, AgentFailure, StopReason, TurnErrorCode, TurnUsage } from './api/events.js';
export type { MessagePart, StoredPart } from './api/parts.js';
export { agentEnv, configuredSecrets, CLAUDE_ENV_PREFIXES } from './agents/process/agent-env.js';
export { AgentStartError, type StartFailureScope } from './agents/contract/errors.js';
export { createPushable, PushableClosedError, type Pushable } from './util/pushable.js';
export { ClaudeSdkDriver, type ClaudeSdkDriverDeps } from './agents/claude/sdk/claude-sdk-driver.js';
export { ClaudePtyDriver, type ClaudePtyDriverDeps } from './agents/claude/pty/claude-pty-driver.js';
export {
  mapSdkMessage,
  createClaudeSdkMapState,
  type ClaudeSdkMapState,
} from './agents/claude/claude-sdk-mapper.js';

export { openDatabase, closeDatabase, defaultDataDir, type OpenDatabaseOptions } from './db/database.js';
export { migrate, readMigrations, type MigrateOptions, type Migration } from './db/migrate.js';
export { connect, type Sql, type ConnectOptions } from './db/sql.js';
export { DatabaseStartError, MigrationError, InvalidIdentifierError } from './db/errors.js';
export { PostgresSessionStore, type PostgresSessionStoreOptions } from './store/postgres-session-store.js';
export type {
  AgentBackend,
  AgentSessionHandle,
  BackendKind,
  EnsureSessionOpts,
  PermissionMode,
  PromptCtx,
  TurnErrorCode,
  TurnResult,
} from './agents/contract/agent-backend.js';
export type { AgentEvent } from './api/events.js';
export type { MessagePart, StoredPart } from './api/parts.js';
export { agentEnv, configuredSecrets, CLAUDE_ENV_PREFIXES } from './agents/process/agent-env.js';
export { AgentStartError, BackendClosedError } from './agents/contract/errors.js';
export { createPushable, PushableClosedError, type Pushable } from './util/pushable.js';
export { ClaudeSdkBackend, type ClaudeSdkBackendDeps } from './agents/claude/sdk/claude-sdk-backend.js';
export { ClaudePtyBackend, type ClaudePtyBackendDeps } from './agents/claude/pty/claude-pty-backend.js';
export {
  mapSdkMessage,
  createClaudeSdkMapState,
  type ClaudeSdkMapState,
} from './agents/claude/claude-sdk-mapper.js';

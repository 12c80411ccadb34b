-- Some agents report no cost. A session's cost is unknown (NULL) until a turn reports one,
-- so an agent that never does shows no cost rather than a cost of zero.
ALTER TABLE agent_sessions ALTER COLUMN cost DROP NOT NULL;
ALTER TABLE agent_sessions ALTER COLUMN cost DROP DEFAULT;

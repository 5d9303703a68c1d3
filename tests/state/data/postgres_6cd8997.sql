-- The PostgreSQL schema exactly as commit 6cd8997 (schema version 1) wrote it; {s} is the schema.
CREATE SCHEMA IF NOT EXISTS {s};
CREATE TABLE IF NOT EXISTS {s}.schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now());
CREATE TABLE {s}.events (
    seq BIGSERIAL PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    trace_id TEXT,
    tenant TEXT,
    ts DOUBLE PRECISION NOT NULL,
    kind TEXT NOT NULL,
    node_name TEXT,
    node_id TEXT,
    payload JSON NOT NULL,
    stored_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE INDEX events_trace_seq ON {s}.events (trace_id, seq);
CREATE INDEX events_tenant ON {s}.events (tenant);
CREATE TABLE {s}.remote_bindings (
    seq BIGSERIAL PRIMARY KEY,
    trace_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    context_id TEXT,
    agent_url TEXT NOT NULL,
    tenant TEXT,
    UNIQUE (trace_id, task_id)
);
CREATE TABLE {s}.planner_state (
    token TEXT PRIMARY KEY,
    state JSON NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE {s}.memory_state (
    key TEXT PRIMARY KEY,
    state JSON NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
INSERT INTO {s}.schema_version (version) VALUES (1);

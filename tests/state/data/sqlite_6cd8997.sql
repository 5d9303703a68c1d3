-- The SQLite schema exactly as commit 6cd8997 (schema version 1) wrote it.
CREATE TABLE IF NOT EXISTS penguiflow_schema_version (version INTEGER PRIMARY KEY, applied_at REAL NOT NULL);
CREATE TABLE penguiflow_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    trace_id TEXT,
    tenant TEXT,
    ts REAL NOT NULL,
    kind TEXT NOT NULL,
    node_name TEXT,
    node_id TEXT,
    payload TEXT NOT NULL
);
CREATE INDEX penguiflow_events_by_trace ON penguiflow_events (trace_id, seq);
CREATE TABLE penguiflow_remote_bindings (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    trace_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    context_id TEXT,
    agent_url TEXT NOT NULL,
    tenant TEXT,
    UNIQUE (trace_id, task_id)
);
CREATE TABLE penguiflow_planner_state (
    token TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE penguiflow_memory_state (
    key TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    updated_at REAL NOT NULL
);
INSERT INTO penguiflow_schema_version (version, applied_at) VALUES (1, 1763718209.0);

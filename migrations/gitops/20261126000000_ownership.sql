-- mcpbox-gitops bookkeeping, kept in its own schema (never in MCPBox's `public`).
-- Safe to run more than once (IF NOT EXISTS everywhere).
-- The migration runner's own table (mcpbox_gitops.schema_migrations) is created
-- by the runner, not here.

CREATE SCHEMA IF NOT EXISTS mcpbox_gitops;

-- One row per MCPBox row this tool manages.
CREATE TABLE IF NOT EXISTS mcpbox_gitops.ownership (
    kind         text        NOT NULL,               -- e.g. 'server', 'tool', 'secret'
    key          text        NOT NULL,               -- natural key, e.g. 'github/list_issues'
    row_id       uuid        NOT NULL,               -- id of the MCPBox row
    applied_hash text        NOT NULL,               -- hash of what we last applied
    pin          text        NULL,                   -- sha256 of the approval pin in force when last applied
    source       text        NULL,                   -- commit sha or path
    applied_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT ownership_pkey PRIMARY KEY (kind, key)
);
CREATE INDEX IF NOT EXISTS ownership_row_id_idx ON mcpbox_gitops.ownership (row_id);

-- One row per apply run.
CREATE TABLE IF NOT EXISTS mcpbox_gitops.applies (
    id         uuid        NOT NULL,
    source     text        NULL,
    started_at timestamptz NOT NULL DEFAULT now(),
    summary    jsonb       NOT NULL,
    CONSTRAINT applies_pkey PRIMARY KEY (id)
);

-- The reconciliation daemon's shared bookkeeping: one row every replica reads.
-- `suspended` stops applying (plans and reports go on, as Flux's suspend);
-- `last_*` let a new process (or `daemon --once`) recognise a pass it can skip:
-- the same source revision and the same change marker as the last good pass.
CREATE SCHEMA IF NOT EXISTS mcpbox_gitops;

CREATE TABLE IF NOT EXISTS mcpbox_gitops.daemon_state (
    id                  boolean     NOT NULL DEFAULT true,
    suspended           boolean     NOT NULL DEFAULT false,
    suspended_by        text        NULL,
    updated_at          timestamptz NOT NULL DEFAULT now(),
    last_source_key     text        NULL,  -- hash of repo, branch, subdir and revision
    last_marker         text        NULL,  -- state::marker after the last good pass
    last_applied_commit text        NULL,  -- revision of the last apply that changed rows
    last_applied_at     timestamptz NULL,
    CONSTRAINT daemon_state_pkey PRIMARY KEY (id),
    CONSTRAINT daemon_state_one_row CHECK (id)
);

-- Tools quarantined under `onCodeDrift: quarantine`: their code was changed in
-- MCPBox outside git, so they were disabled with the changed code kept, until
-- git changes the tool or `apply --restore-quarantined` writes git's back.
CREATE TABLE IF NOT EXISTS mcpbox_gitops.quarantine (
    tool_key     text        NOT NULL,               -- 'server/tool'
    row_id       uuid        NULL,                   -- tools.id when it began
    git_hash     text        NOT NULL,               -- git's content hash then
    drifted_hash text        NOT NULL,               -- MCPBox's content hash then
    git_code     text        NULL,                   -- git's code then, for `export --drift`
    since        timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT quarantine_pkey PRIMARY KEY (tool_key)
);

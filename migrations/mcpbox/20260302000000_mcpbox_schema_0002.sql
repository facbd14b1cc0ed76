-- MCPBox PostgreSQL schema at Alembic revision 0002 (MCPBox 0.2.2).
--
-- Recreates, on an EMPTY database, the schema MCPBox's own `alembic upgrade head`
-- produces: 9 enum types, 15 tables, every constraint and index under MCPBox's
-- exact names, the column comments its models carry, and `alembic_version` = '0002'
-- so MCPBox's start-up `alembic upgrade head` is a no-op.
--
-- Checked with: schema-fingerprint <url> | diff - reference/mcpbox-schema-0002.txt
--
-- Not idempotent: run once, in a single transaction, with search_path = public.
-- Column order follows MCPBox's models (model columns, then the base-model id,
-- created_at, updated_at); the request tables' server_id is physically last
-- because revision 0002 added it.
-- ids have NO server default: MCPBox generates uuid v4 values in Python.

-- ---------------------------------------------------------------------------
-- Enum types
-- ---------------------------------------------------------------------------
CREATE TYPE server_status AS ENUM ('imported', 'ready', 'running', 'stopped', 'error');
CREATE TYPE log_type AS ENUM ('mcp_request', 'mcp_response', 'network', 'alert', 'error', 'system', 'audit');
CREATE TYPE log_level AS ENUM ('debug', 'info', 'warning', 'error');
CREATE TYPE external_mcp_auth_type AS ENUM ('none', 'bearer', 'header', 'oauth');
CREATE TYPE external_mcp_transport_type AS ENUM ('streamable_http', 'sse');
CREATE TYPE external_mcp_source_status AS ENUM ('active', 'error', 'disabled');
CREATE TYPE tool_type AS ENUM ('python_code', 'mcp_passthrough');
CREATE TYPE approval_status AS ENUM ('draft', 'pending_review', 'approved', 'rejected');
CREATE TYPE request_status AS ENUM ('pending', 'approved', 'rejected');

-- ---------------------------------------------------------------------------
-- Standalone tables (no foreign keys)
-- ---------------------------------------------------------------------------
CREATE TABLE admin_users (
    username         varchar(255) NOT NULL,
    password_hash    varchar(255) NOT NULL,
    is_active        boolean      NOT NULL,
    password_version integer      NOT NULL,
    last_login_at    timestamptz  NULL,
    id               uuid         NOT NULL,
    created_at       timestamptz  NOT NULL DEFAULT now(),
    updated_at       timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT admin_users_pkey PRIMARY KEY (id)
);
CREATE UNIQUE INDEX ix_admin_users_username ON admin_users USING btree (username);

CREATE TABLE cloudflare_configs (
    encrypted_api_token             text          NOT NULL,
    account_id                      varchar(64)   NOT NULL,
    account_name                    varchar(255)  NULL,
    team_domain                     varchar(255)  NULL,
    tunnel_id                       varchar(64)   NULL,
    tunnel_name                     varchar(255)  NULL,
    encrypted_tunnel_token          text          NULL,
    vpc_service_id                  varchar(64)   NULL,
    vpc_service_name                varchar(255)  NULL,
    worker_name                     varchar(255)  NULL,
    worker_url                      varchar(1024) NULL,
    encrypted_service_token         text          NULL,
    kv_namespace_id                 varchar(64)   NULL,
    access_app_id                   varchar(64)   NULL,
    encrypted_access_client_id      text          NULL,
    encrypted_access_client_secret  text          NULL,
    encrypted_cookie_encryption_key text          NULL,
    access_policy_type              varchar(16)   NULL,
    access_policy_emails            text          NULL,
    access_policy_email_domain      varchar(255)  NULL,
    allowed_cors_origins            text          NULL,
    allowed_redirect_uris           text          NULL,
    completed_step                  integer       NOT NULL,
    status                          varchar(32)   NOT NULL,
    error_message                   text          NULL,
    id                              uuid          NOT NULL,
    created_at                      timestamptz   NOT NULL DEFAULT now(),
    updated_at                      timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT cloudflare_configs_pkey PRIMARY KEY (id)
);

CREATE TABLE global_config (
    config_key      varchar(50)    NOT NULL,
    allowed_modules varchar(255)[] NULL,
    id              uuid           NOT NULL,
    created_at      timestamptz    NOT NULL DEFAULT now(),
    updated_at      timestamptz    NOT NULL DEFAULT now(),
    CONSTRAINT global_config_pkey PRIMARY KEY (id),
    CONSTRAINT global_config_config_key_key UNIQUE (config_key)
);

CREATE TABLE servers (
    name               varchar(255)   NOT NULL,
    description        text           NULL,
    status             server_status  NOT NULL,
    allowed_hosts      varchar(255)[] NOT NULL DEFAULT '{}',
    default_timeout_ms integer        NOT NULL,
    id                 uuid           NOT NULL,
    created_at         timestamptz    NOT NULL DEFAULT now(),
    updated_at         timestamptz    NOT NULL DEFAULT now(),
    CONSTRAINT servers_pkey PRIMARY KEY (id)
);

CREATE TABLE settings (
    key         varchar(255) NOT NULL,
    value       text         NULL,
    encrypted   boolean      NOT NULL,
    description varchar(500) NULL,
    id          uuid         NOT NULL,
    created_at  timestamptz  NOT NULL DEFAULT now(),
    updated_at  timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT settings_pkey PRIMARY KEY (id)
);
CREATE UNIQUE INDEX ix_settings_key ON settings USING btree (key);
COMMENT ON COLUMN settings.key IS 'Setting key (unique identifier)';
COMMENT ON COLUMN settings.value IS 'Setting value (may be encrypted for sensitive data)';
COMMENT ON COLUMN settings.encrypted IS 'Whether the value is encrypted';
COMMENT ON COLUMN settings.description IS 'Human-readable description of this setting';

CREATE TABLE token_blacklist (
    jti        varchar(64) NOT NULL,
    expires_at timestamptz NOT NULL,
    CONSTRAINT token_blacklist_pkey PRIMARY KEY (jti)
);
CREATE INDEX ix_token_blacklist_expires_at ON token_blacklist USING btree (expires_at);

CREATE TABLE tunnel_configurations (
    name         varchar(255)  NOT NULL,
    description  text          NULL,
    tunnel_token text          NULL,
    public_url   varchar(1024) NULL,
    is_active    boolean       NOT NULL,
    id           uuid          NOT NULL,
    created_at   timestamptz   NOT NULL DEFAULT now(),
    updated_at   timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT tunnel_configurations_pkey PRIMARY KEY (id)
);

-- ---------------------------------------------------------------------------
-- Tables referencing servers
-- ---------------------------------------------------------------------------
CREATE TABLE activity_logs (
    server_id   uuid        NULL,
    log_type    log_type    NOT NULL,
    level       log_level   NOT NULL,
    message     text        NOT NULL,
    details     jsonb       NULL,
    request_id  varchar(64) NULL,
    duration_ms integer     NULL,
    id          uuid        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT activity_logs_pkey PRIMARY KEY (id),
    CONSTRAINT activity_logs_server_id_fkey FOREIGN KEY (server_id)
        REFERENCES servers (id) ON DELETE CASCADE
);
CREATE INDEX ix_activity_logs_level_created  ON activity_logs USING btree (level, created_at);
CREATE INDEX ix_activity_logs_log_type       ON activity_logs USING btree (log_type);
CREATE INDEX ix_activity_logs_request_id     ON activity_logs USING btree (request_id);
CREATE INDEX ix_activity_logs_server_created ON activity_logs USING btree (server_id, created_at);
CREATE INDEX ix_activity_logs_server_id      ON activity_logs USING btree (server_id);
CREATE INDEX ix_activity_logs_type_created   ON activity_logs USING btree (log_type, created_at);

CREATE TABLE external_mcp_sources (
    server_id              uuid                        NOT NULL,
    name                   varchar(255)                NOT NULL,
    url                    text                        NOT NULL,
    auth_type              external_mcp_auth_type      NOT NULL,
    auth_secret_name       varchar(255)                NULL,
    auth_header_name       varchar(255)                NULL,
    transport_type         external_mcp_transport_type NOT NULL,
    status                 external_mcp_source_status  NOT NULL,
    oauth_tokens_encrypted text                        NULL,
    oauth_issuer           varchar(2000)               NULL,
    oauth_client_id        varchar(255)                NULL,
    last_discovered_at     timestamptz                 NULL,
    tool_count             integer                     NOT NULL,
    discovered_tools_cache jsonb                       NULL,
    id                     uuid                        NOT NULL,
    created_at             timestamptz                 NOT NULL DEFAULT now(),
    updated_at             timestamptz                 NOT NULL DEFAULT now(),
    CONSTRAINT external_mcp_sources_pkey PRIMARY KEY (id),
    CONSTRAINT external_mcp_sources_server_id_fkey FOREIGN KEY (server_id)
        REFERENCES servers (id) ON DELETE CASCADE
);

CREATE TABLE server_secrets (
    server_id       uuid         NOT NULL,
    key_name        varchar(255) NOT NULL,
    encrypted_value bytea        NULL,
    description     text         NULL,
    id              uuid         NOT NULL,
    created_at      timestamptz  NOT NULL DEFAULT now(),
    updated_at      timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT server_secrets_pkey PRIMARY KEY (id),
    CONSTRAINT server_secrets_server_id_fkey FOREIGN KEY (server_id)
        REFERENCES servers (id) ON DELETE CASCADE,
    CONSTRAINT uq_server_secrets_server_key UNIQUE (server_id, key_name)
);

-- ---------------------------------------------------------------------------
-- tools (references servers and external_mcp_sources)
-- ---------------------------------------------------------------------------
CREATE TABLE tools (
    server_id             uuid            NOT NULL,
    name                  varchar(255)    NOT NULL,
    description           text            NULL,
    input_schema          jsonb           NULL,
    enabled               boolean         NOT NULL,
    timeout_ms            integer         NULL,
    tool_type             tool_type       NOT NULL DEFAULT 'python_code',
    python_code           text            NULL,
    external_source_id    uuid            NULL,
    external_tool_name    varchar(255)    NULL,
    code_dependencies     varchar(255)[]  NULL,
    current_version       integer         NOT NULL,
    approval_status       approval_status NOT NULL,
    approval_requested_at timestamptz     NULL,
    approved_at           timestamptz     NULL,
    approved_by           varchar(255)    NULL,
    rejection_reason      text            NULL,
    created_by            varchar(255)    NULL,
    publish_notes         text            NULL,
    id                    uuid            NOT NULL,
    created_at            timestamptz     NOT NULL DEFAULT now(),
    updated_at            timestamptz     NOT NULL DEFAULT now(),
    CONSTRAINT tools_pkey PRIMARY KEY (id),
    CONSTRAINT tools_external_source_id_fkey FOREIGN KEY (external_source_id)
        REFERENCES external_mcp_sources (id) ON DELETE SET NULL,
    CONSTRAINT tools_server_id_fkey FOREIGN KEY (server_id)
        REFERENCES servers (id) ON DELETE CASCADE,
    CONSTRAINT uq_tools_server_id_name UNIQUE (server_id, name)
);
COMMENT ON COLUMN tools.current_version IS 'Current version number of this tool';

-- ---------------------------------------------------------------------------
-- Tables referencing tools
-- ---------------------------------------------------------------------------
CREATE TABLE module_requests (
    tool_id          uuid           NULL,
    module_name      varchar(255)   NOT NULL,
    justification    text           NOT NULL,
    requested_by     varchar(255)   NULL,
    status           request_status NOT NULL,
    reviewed_at      timestamptz    NULL,
    reviewed_by      varchar(255)   NULL,
    rejection_reason text           NULL,
    id               uuid           NOT NULL,
    created_at       timestamptz    NOT NULL DEFAULT now(),
    updated_at       timestamptz    NOT NULL DEFAULT now(),
    server_id        uuid           NULL,   -- added by revision 0002
    CONSTRAINT module_requests_pkey PRIMARY KEY (id),
    CONSTRAINT module_requests_tool_id_fkey FOREIGN KEY (tool_id)
        REFERENCES tools (id) ON DELETE CASCADE,
    CONSTRAINT fk_module_requests_server_id FOREIGN KEY (server_id)
        REFERENCES servers (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX ix_mr_pending_tool_unique
    ON module_requests USING btree (tool_id, module_name)
    WHERE status = 'pending' AND tool_id IS NOT NULL;
CREATE UNIQUE INDEX ix_mr_pending_admin_unique
    ON module_requests USING btree (module_name)
    WHERE status = 'pending' AND tool_id IS NULL;

CREATE TABLE network_access_requests (
    tool_id          uuid           NULL,
    host             varchar(255)   NOT NULL,
    port             integer        NULL,
    justification    text           NOT NULL,
    requested_by     varchar(255)   NULL,
    status           request_status NOT NULL,
    reviewed_at      timestamptz    NULL,
    reviewed_by      varchar(255)   NULL,
    rejection_reason text           NULL,
    id               uuid           NOT NULL,
    created_at       timestamptz    NOT NULL DEFAULT now(),
    updated_at       timestamptz    NOT NULL DEFAULT now(),
    server_id        uuid           NULL,   -- added by revision 0002
    CONSTRAINT network_access_requests_pkey PRIMARY KEY (id),
    CONSTRAINT network_access_requests_tool_id_fkey FOREIGN KEY (tool_id)
        REFERENCES tools (id) ON DELETE CASCADE,
    CONSTRAINT fk_network_access_requests_server_id FOREIGN KEY (server_id)
        REFERENCES servers (id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX ix_nar_pending_tool_unique
    ON network_access_requests USING btree (tool_id, host, COALESCE(port, 0))
    WHERE status = 'pending' AND tool_id IS NOT NULL;
CREATE UNIQUE INDEX ix_nar_pending_admin_unique
    ON network_access_requests USING btree (server_id, host, COALESCE(port, 0))
    WHERE status = 'pending' AND tool_id IS NULL;

CREATE TABLE tool_execution_logs (
    tool_id     uuid         NOT NULL,
    server_id   uuid         NOT NULL,
    tool_name   varchar(255) NOT NULL,
    input_args  jsonb        NULL,
    result      jsonb        NULL,
    error       text         NULL,
    stdout      text         NULL,
    duration_ms integer      NULL,
    success     boolean      NOT NULL,
    is_test     boolean      NOT NULL,
    executed_by varchar(255) NULL,
    id          uuid         NOT NULL,
    created_at  timestamptz  NOT NULL DEFAULT now(),
    updated_at  timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT tool_execution_logs_pkey PRIMARY KEY (id),
    CONSTRAINT tool_execution_logs_server_id_fkey FOREIGN KEY (server_id)
        REFERENCES servers (id) ON DELETE CASCADE,
    CONSTRAINT tool_execution_logs_tool_id_fkey FOREIGN KEY (tool_id)
        REFERENCES tools (id) ON DELETE CASCADE
);
CREATE INDEX ix_tool_execution_logs_server_created ON tool_execution_logs USING btree (server_id, created_at);
CREATE INDEX ix_tool_execution_logs_tool_created   ON tool_execution_logs USING btree (tool_id, created_at);

CREATE TABLE tool_versions (
    tool_id        uuid         NOT NULL,
    version_number integer      NOT NULL,
    name           varchar(255) NOT NULL,
    description    text         NULL,
    enabled        boolean      NOT NULL,
    timeout_ms     integer      NULL,
    python_code    text         NULL,
    input_schema   jsonb        NULL,
    change_summary varchar(500) NULL,
    change_source  varchar(50)  NOT NULL,
    id             uuid         NOT NULL,
    created_at     timestamptz  NOT NULL DEFAULT now(),
    updated_at     timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT tool_versions_pkey PRIMARY KEY (id),
    CONSTRAINT tool_versions_tool_id_fkey FOREIGN KEY (tool_id)
        REFERENCES tools (id) ON DELETE CASCADE
);
COMMENT ON COLUMN tool_versions.change_summary IS 'Brief description of what changed in this version';
COMMENT ON COLUMN tool_versions.change_source IS 'Source of change: manual, llm, import, rollback';

-- ---------------------------------------------------------------------------
-- Alembic bookkeeping: MCPBox runs `alembic upgrade head` on every start and
-- must find itself already at head.
-- ---------------------------------------------------------------------------
CREATE TABLE alembic_version (
    version_num varchar(32) NOT NULL,
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
INSERT INTO alembic_version (version_num) VALUES ('0002');

//! The batched statements of an apply, one function per kind: `INSERT … SELECT
//! FROM UNNEST`, `UPDATE … FROM UNNEST`, `DELETE … = ANY`. A few statements per
//! kind, never one per row. The transaction, lock and re-check live in
//! `execute`; the rows' values in `rows` and `plan::diff`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use sqlx::PgConnection;
use tracing::debug;
use uuid::Uuid;

use super::batch::{batch, columns};
use super::context::Context;
use super::error::Error;
use super::rows;
use crate::model::{Kind, Object};
use crate::plan::{Action, Change};
use crate::rules::versions::CHANGE_SOURCE;
use crate::state;
use crate::values::ValueChange;

/// Creates and updates `servers` rows (status `imported`, as MCPBox's service creates them).
pub(super) async fn servers(tx: &mut PgConnection, cx: &Context<'_>) -> Result<(), Error> {
    {
        let (mut id, mut name, mut descr, mut timeout) = (vec![], vec![], vec![], vec![]);
        for c in cx.by(Kind::Server, Action::Create) {
            let Some(Object::Server(s)) = &c.after else {
                continue;
            };
            id.push(cx.ids.row(Kind::Server, &c.key)?);
            name.push(s.name.clone());
            descr.push(s.description.clone());
            timeout.push(s.default_timeout_ms);
        }
        // status 'imported' as MCPBox's server service sets it; allowed_hosts
        // keeps its database default until the sync helper runs below.
        batch(tx, id.len(), "INSERT INTO servers (id, name, description, status, default_timeout_ms)
                 SELECT u.id, u.name, u.description, 'imported'::server_status, u.t
                   FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::int[]) AS u(id, name, description, t)", "creating servers", |q| q.bind(&id).bind(&name).bind(&descr).bind(&timeout)).await?;
        let (mut id, mut name, mut descr, mut timeout) = (vec![], vec![], vec![], vec![]);
        for c in cx.updates(Kind::Server) {
            let Some(Object::Server(s)) = &c.after else {
                continue;
            };
            id.push(cx.ids.row(Kind::Server, &c.key)?);
            name.push(s.name.clone());
            descr.push(s.description.clone());
            timeout.push(s.default_timeout_ms);
        }
        batch(tx, id.len(), "UPDATE servers s SET name = u.name, description = u.description, default_timeout_ms = u.t, updated_at = now()
                   FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::int[]) AS u(id, name, description, t) WHERE s.id = u.id", "updating servers", |q| q.bind(&id).bind(&name).bind(&descr).bind(&timeout)).await?;
    }

    Ok(())
}

/// The plan says a value is written, but the value read now is empty or was not
/// read (a saved plan applied with its variable empty): refused rather than
/// silently clearing what MCPBox holds.
fn nothing_read(object: &str) -> Error {
    crate::values::Error::Refused {
        object: object.to_string(),
        reason: "the plan writes a value from its source, but none was read now (empty or unset); set it, or run plan again — a value is cleared only when the plan says (cleared)".into(),
    }
    .into()
}

/// The `encrypted_value` to write for a secret change: `Some(new)` to set or
/// clear it (`Some(None)` clears), `None` to leave it as it is.
fn secret_bytes(
    cx: &Context<'_>,
    c: &Change,
    s: &crate::model::Secret,
    server_id: Uuid,
) -> Result<Option<Option<Vec<u8>>>, Error> {
    match &c.value {
        Some(ValueChange::Set { .. }) => {
            match cx.values.encrypt_secret(&c.key, server_id, &s.name)? {
                Some(bytes) => Ok(Some(Some(bytes))),
                None => Err(nothing_read(&c.key)),
            }
        }
        Some(ValueChange::Clear) => Ok(Some(None)),
        Some(ValueChange::Keep) | None => Ok(None),
    }
}

/// Creates and updates secrets: placeholders, and values from `valueFrom`
/// encrypted as MCPBox does (raw bytes, AAD `server_secret:<server>:<NAME>`).
pub(super) async fn secrets(tx: &mut PgConnection, cx: &Context<'_>) -> Result<(), Error> {
    {
        let (mut id, mut sid, mut key, mut descr, mut value) =
            (vec![], vec![], vec![], vec![], vec![]);
        for c in cx.by(Kind::Secret, Action::Create) {
            let Some(Object::Secret(s)) = &c.after else {
                continue;
            };
            let server_id = cx.ids.server_of(c, &s.server)?;
            id.push(cx.ids.row(Kind::Secret, &c.key)?);
            sid.push(server_id);
            key.push(s.name.clone());
            descr.push(s.description.clone());
            value.push(secret_bytes(cx, c, s, server_id)?.flatten());
        }
        batch(tx, id.len(), "INSERT INTO server_secrets (id, server_id, key_name, encrypted_value, description)
                 SELECT u.id, u.sid, u.key, u.value, u.descr FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::bytea[]) AS u(id, sid, key, descr, value)", "creating secrets", |q| q.bind(&id).bind(&sid).bind(&key).bind(&descr).bind(&value)).await?;
        let (mut id, mut key, mut descr, mut set, mut value) =
            (vec![], vec![], vec![], vec![], vec![]);
        for c in cx.updates(Kind::Secret) {
            let Some(Object::Secret(s)) = &c.after else {
                continue;
            };
            let row = cx.ids.row(Kind::Secret, &c.key)?;
            let server_id = match c.server_id {
                Some(sid) => sid,
                None => cx.ids.server_of(c, &s.server)?,
            };
            let bytes = secret_bytes(cx, c, s, server_id)?;
            id.push(row);
            key.push(s.name.clone());
            descr.push(s.description.clone());
            set.push(bytes.is_some());
            value.push(bytes.flatten());
        }
        batch(tx, id.len(), "UPDATE server_secrets s SET key_name = u.key, description = u.descr, encrypted_value = CASE WHEN u.set THEN u.value ELSE s.encrypted_value END, updated_at = now() FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::bool[], $5::bytea[]) AS u(id, key, descr, set, value) WHERE s.id = u.id", "updating secrets", |q| q.bind(&id).bind(&key).bind(&descr).bind(&set).bind(&value)).await?;
    }

    Ok(())
}

/// Tools per statement: tools are written one statement per action in chunks
/// of this many. At 100,000 tools a single statement's parameters (every
/// tool's code) were hundreds of megabytes on each side of the wire; chunks
/// keep memory flat for one round trip per 2,000 tools.
const TOOLS_PER_STATEMENT: usize = 2_000;

/// Creates and updates tools with their approval columns and `tool_versions` rows.
pub(super) async fn tools(tx: &mut PgConnection, cx: &Context<'_>) -> Result<(), Error> {
    let creates: Vec<&Change> = cx.by(Kind::Tool, Action::Create).collect();
    for chunk in creates.chunks(TOOLS_PER_STATEMENT) {
        create_tools(tx, cx, chunk).await?;
    }
    let rows_by_id: HashMap<Uuid, &state::ToolRow> =
        cx.actual.tools.iter().map(|r| (r.id, r)).collect();
    let updates: Vec<&Change> = cx
        .plan
        .changes
        .iter()
        .filter(|c| {
            c.kind == Kind::Tool
                && matches!(c.action, Action::Update | Action::Adopt)
                && !c.fields.is_empty()
        })
        .collect();
    for chunk in updates.chunks(TOOLS_PER_STATEMENT) {
        update_tools(tx, cx, chunk, &rows_by_id).await?;
    }
    Ok(())
}

/// Inserts one chunk of new tools, then their version rows.
async fn create_tools(
    tx: &mut PgConnection,
    cx: &Context<'_>,
    chunk: &[&Change],
) -> Result<(), Error> {
    let mut t = ToolBatch::default();
    let mut versions = VersionBatch::default();
    for c in chunk {
        let (Some(Object::Tool(tool)), Some(tc)) = (&c.after, &c.tool) else {
            continue;
        };
        let id = cx.ids.row(Kind::Tool, &c.key)?;
        let cols = rows::approval_for_create(tc, cx.now, cx.notes);
        // current_version = the last version written; a pass-through tool
        // writes none and starts at 1, as MCPBox's import does.
        let version = tc.versions.last().map_or(1, |v| v.number);
        t.push(
            id,
            Some(cx.ids.server_of(c, &tool.server)?),
            tool,
            version,
            &cols,
            Some(cx.reviewer),
            source_of(cx, tool)?,
        );
        versions.push(id, &rows::version_rows(tool, &tc.versions, true));
    }
    batch(tx, t.id.len(), "INSERT INTO tools (id, server_id, name, description, input_schema, enabled, timeout_ms, tool_type, python_code,
                                external_source_id, external_tool_name, code_dependencies, current_version, approval_status,
                                approval_requested_at, approved_at, approved_by, rejection_reason, created_by, publish_notes)
             SELECT u.id, u.sid, u.name, u.descr, u.schema, u.enabled, u.timeout, u.ttype::tool_type, u.code,
                    u.esid, u.etn, CASE WHEN u.deps IS NULL THEN NULL ELSE ARRAY(SELECT jsonb_array_elements_text(u.deps))::varchar[] END,
                    u.version, u.status::approval_status, u.requested_at, u.approved_at, u.approved_by, u.rr, u.created_by, u.notes
               FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::jsonb[], $6::bool[], $7::int[], $8::text[], $9::text[],
                           $10::jsonb[], $11::int[], $12::text[], $13::timestamptz[], $14::timestamptz[], $15::text[], $16::text[],
                           $17::text[], $18::text[], $19::uuid[], $20::text[])
                 AS u(id, sid, name, descr, schema, enabled, timeout, ttype, code, deps, version, status, requested_at, approved_at,
                      approved_by, rr, created_by, notes, esid, etn)", "creating tools", |q| q.bind(&t.id).bind(&t.server_id).bind(&t.name).bind(&t.description).bind(&t.schema).bind(&t.enabled).bind(&t.timeout).bind(&t.tool_type).bind(&t.code).bind(&t.deps).bind(&t.version).bind(&t.status).bind(&t.requested_at).bind(&t.approved_at).bind(&t.approved_by).bind(&t.rejection_reason).bind(&t.created_by).bind(&t.notes).bind(&t.source_id).bind(&t.external_tool_name)).await?;
    write_versions(tx, &versions).await
}

/// Updates one chunk of tools, then writes their version rows.
async fn update_tools(
    tx: &mut PgConnection,
    cx: &Context<'_>,
    chunk: &[&Change],
    rows_by_id: &HashMap<Uuid, &state::ToolRow>,
) -> Result<(), Error> {
    let mut t = ToolBatch::default();
    let mut versions = VersionBatch::default();
    // Tools without a version row whose first one this apply writes: their
    // state before the change is snapshotted first (see `update_versions`).
    let mut snapshots: Vec<Uuid> = Vec::new();
    for c in chunk {
        let (Some(Object::Tool(tool)), Some(tc), Some(row_id)) = (&c.after, &c.tool, c.row_id)
        else {
            continue;
        };
        let Some(row) = rows_by_id.get(&row_id) else {
            continue;
        };
        let (before, after): (Vec<_>, Vec<_>) = tc
            .versions
            .iter()
            .cloned()
            .partition(|v| v.number <= row.current_version);
        if !before.is_empty() {
            snapshots.push(row_id);
        }
        let cols = rows::approval_for_update(tc, row, cx.now, cx.notes);
        let version = tc
            .versions
            .last()
            .map(|v| v.number)
            .unwrap_or(row.current_version);
        t.push(
            row_id,
            None,
            tool,
            version,
            &cols,
            None,
            source_of(cx, tool)?,
        );
        versions.push(row_id, &rows::version_rows(tool, &after, false));
    }
    write_snapshots(tx, &snapshots).await?;
    batch(tx, t.id.len(), "UPDATE tools t SET name = u.name, description = u.descr, input_schema = u.schema, enabled = u.enabled, timeout_ms = u.timeout,
                    tool_type = u.ttype::tool_type, python_code = u.code, external_source_id = u.esid, external_tool_name = u.etn,
                    code_dependencies = CASE WHEN u.deps IS NULL THEN NULL ELSE ARRAY(SELECT jsonb_array_elements_text(u.deps))::varchar[] END,
                    current_version = u.version, approval_status = u.status::approval_status,
                    approval_requested_at = u.requested_at, approved_at = u.approved_at, approved_by = u.approved_by,
                    rejection_reason = u.rr, publish_notes = u.notes, updated_at = now()
               FROM UNNEST($1::uuid[], $2::text[], $3::jsonb[], $4::bool[], $5::int[], $6::text[], $7::jsonb[], $8::int[],
                           $9::text[], $10::timestamptz[], $11::timestamptz[], $12::text[], $13::text[], $14::text[], $15::text[],
                           $16::text[], $17::uuid[], $18::text[])
                 AS u(id, descr, schema, enabled, timeout, code, deps, version, status, requested_at, approved_at, approved_by, rr, notes, name,
                      ttype, esid, etn)
              WHERE t.id = u.id", "updating tools", |q| q.bind(&t.id).bind(&t.description).bind(&t.schema).bind(&t.enabled).bind(&t.timeout).bind(&t.code).bind(&t.deps).bind(&t.version).bind(&t.status).bind(&t.requested_at).bind(&t.approved_at).bind(&t.approved_by).bind(&t.rejection_reason).bind(&t.notes).bind(&t.name).bind(&t.tool_type).bind(&t.source_id).bind(&t.external_tool_name)).await?;
    write_versions(tx, &versions).await
}

/// Inserts, for each of `tools` (none of which has a version row), its state
/// as it is now as version `current_version`, "Initial version": the first
/// version row MCPBox would hold had its import written one. `change_source`
/// is MCPBox's `import`, the path that created that state (MCPBOX.md §2.4).
async fn write_snapshots(tx: &mut PgConnection, tools: &[Uuid]) -> Result<(), Error> {
    let ids: Vec<Uuid> = tools.iter().map(|_| Uuid::new_v4()).collect();
    batch(tx, ids.len(),
        "INSERT INTO tool_versions (id, tool_id, version_number, name, description, enabled, timeout_ms, python_code, input_schema, change_summary, change_source)
         SELECT u.id, t.id, t.current_version, t.name, t.description, t.enabled, t.timeout_ms, t.python_code, t.input_schema, $3, 'import'
           FROM UNNEST($1::uuid[], $2::uuid[]) AS u(id, tid)
           JOIN tools t ON t.id = u.tid",
        "writing initial tool versions",
        |q| q.bind(&ids).bind(tools).bind(crate::rules::versions::INITIAL_VERSION)).await?;
    Ok(())
}

/// Inserts version rows of tools written just before (see [`VersionBatch`]).
async fn write_versions(tx: &mut PgConnection, versions: &VersionBatch) -> Result<(), Error> {
    let ids: Vec<Uuid> = versions.tool_id.iter().map(|_| Uuid::new_v4()).collect();
    batch(tx, ids.len(),
        "INSERT INTO tool_versions (id, tool_id, version_number, name, description, enabled, timeout_ms, python_code, input_schema, change_summary, change_source)
         SELECT u.id, u.tid, u.n, t.name, t.description, u.enabled, u.timeout, t.python_code, t.input_schema, u.summary, $7
           FROM UNNEST($1::uuid[], $2::uuid[], $3::int[], $4::bool[], $5::int[], $6::text[])
             AS u(id, tid, n, enabled, timeout, summary)
           JOIN tools t ON t.id = u.tid",
        "writing tool versions",
        |q| q.bind(&ids).bind(&versions.tool_id).bind(&versions.number)
            .bind(&versions.enabled).bind(&versions.timeout).bind(&versions.summary)
            .bind(CHANGE_SOURCE)).await?;
    Ok(())
}

/// The `external_mcp_sources` row a pass-through tool points at (None for Python
/// tools): the row this plan creates, changes or adopts, else the one we own.
/// Never looked up by name: source names are not unique in MCPBox.
fn source_of(cx: &Context<'_>, t: &crate::model::Tool) -> Result<Option<Uuid>, Error> {
    let Some(source) = &t.external_source else {
        return Ok(None);
    };
    let key = format!("{}/{source}", t.server);
    if let Some(id) = cx.ids.rows.get(&(Kind::Source, key.clone())) {
        return Ok(Some(*id));
    }
    match cx.actual.ownership.get(&(Kind::Source, key.clone())) {
        Some(o) if cx.actual.sources.iter().any(|s| s.id == o.row_id) => Ok(Some(o.row_id)),
        _ => Err(Error::Inconsistent(format!(
            "tool {} points at external source {key}, which the plan neither creates nor manages",
            t.key()
        ))),
    }
}

/// Creates and updates approved `network_access_requests` rows.
pub(super) async fn network(tx: &mut PgConnection, cx: &Context<'_>) -> Result<(), Error> {
    {
        let (mut id, mut tid, mut sid, mut host, mut port, mut just, mut requested_by) =
            (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
        for c in cx.by(Kind::Network, Action::Create) {
            let Some(Object::Network(n)) = &c.after else {
                continue;
            };
            id.push(cx.ids.row(Kind::Network, &c.key)?);
            let tool_id = match &n.tool {
                Some(t) => Some(cx.ids.tool_of(c, &format!("{}/{t}", n.server))?),
                None => None,
            };
            tid.push(tool_id);
            sid.push(cx.ids.server_of(c, &n.server)?);
            host.push(n.host.clone());
            port.push(n.port);
            just.push(n.justification.clone());
            // Tool-originated rows look like an LLM's request (requested_by NULL)
            // approved by the reviewer; admin rows name the reviewer as requester.
            requested_by.push(if tool_id.is_some() {
                None
            } else {
                Some(cx.reviewer.to_string())
            });
        }
        batch(tx, id.len(), "INSERT INTO network_access_requests (id, tool_id, server_id, host, port, justification, requested_by, status, reviewed_at, reviewed_by, rejection_reason)
                 SELECT u.id, u.tid, u.sid, u.host, u.port, u.just, u.rb, 'approved'::request_status, $8, $9, NULL
                   FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::int[], $6::text[], $7::text[]) AS u(id, tid, sid, host, port, just, rb)", "creating network requests", |q| q.bind(&id).bind(&tid).bind(&sid).bind(&host).bind(&port).bind(&just).bind(&requested_by).bind(cx.now).bind(cx.reviewer)).await?;
        let (id, just) = request_updates(cx, Kind::Network)?;
        approve_requests(tx, cx, "network_access_requests", &id, &just).await?;
    }

    Ok(())
}

/// Creates and updates approved `module_requests` rows: admin rows
/// (`tool_id` and `server_id` NULL, requested by the reviewer, as MCPBox's
/// admin add) and tools' rows (`tool_id` and the tool's server, requested_by
/// NULL: an LLM's request as MCPBox's admin approval leaves it).
pub(super) async fn modules(tx: &mut PgConnection, cx: &Context<'_>) -> Result<(), Error> {
    {
        let (mut id, mut tid, mut sid, mut name, mut just, mut requested_by) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        for c in cx.by(Kind::Module, Action::Create) {
            let Some(Object::Module(m)) = &c.after else {
                continue;
            };
            id.push(cx.ids.row(Kind::Module, &c.key)?);
            match (&m.tool, m.server()) {
                (Some(tool), Some(server)) => {
                    tid.push(Some(cx.ids.tool_of(c, tool)?));
                    sid.push(Some(cx.ids.server_of(c, server)?));
                    requested_by.push(None);
                }
                _ => {
                    tid.push(None);
                    sid.push(None);
                    requested_by.push(Some(cx.reviewer.to_string()));
                }
            }
            name.push(m.name.clone());
            just.push(m.justification.clone());
        }
        batch(tx, id.len(), "INSERT INTO module_requests (id, tool_id, server_id, module_name, justification, requested_by, status, reviewed_at, reviewed_by, rejection_reason)
                 SELECT u.id, u.tid, u.sid, u.name, u.just, u.rb, 'approved'::request_status, $7, $8, NULL
                   FROM UNNEST($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::text[]) AS u(id, tid, sid, name, just, rb)", "creating module requests", |q| q.bind(&id).bind(&tid).bind(&sid).bind(&name).bind(&just).bind(&requested_by).bind(cx.now).bind(cx.reviewer)).await?;
        let (id, just) = request_updates(cx, Kind::Module)?;
        approve_requests(tx, cx, "module_requests", &id, &just).await?;
    }

    Ok(())
}

/// The updated request rows of `kind` (network or module): ids and the
/// justifications git gives them.
fn request_updates(cx: &Context<'_>, kind: Kind) -> Result<(Vec<Uuid>, Vec<String>), Error> {
    let (mut id, mut just) = (vec![], vec![]);
    for c in cx.updates(kind) {
        let justification = match &c.after {
            Some(Object::Network(n)) => &n.justification,
            Some(Object::Module(m)) => &m.justification,
            _ => continue,
        };
        id.push(cx.ids.row(kind, &c.key)?);
        just.push(justification.clone());
    }
    Ok((id, just))
}

/// Updates owned request rows of `table` (network or module): a new
/// justification, and MCPBox's approve (`reviewed_at`/`reviewed_by`, rejection
/// reason cleared) for rows that are not approved yet; approved rows keep their
/// review fields.
async fn approve_requests(
    tx: &mut PgConnection,
    cx: &Context<'_>,
    table: &'static str,
    id: &[Uuid],
    just: &[String],
) -> Result<(), Error> {
    if id.is_empty() {
        return Ok(());
    }
    let sql = format!(
        "UPDATE {table} r SET justification = u.just, status = 'approved',
                reviewed_at = CASE WHEN r.status = 'approved' THEN r.reviewed_at ELSE $3 END,
                reviewed_by = CASE WHEN r.status = 'approved' THEN r.reviewed_by ELSE $4 END,
                rejection_reason = CASE WHEN r.status = 'approved' THEN r.rejection_reason ELSE NULL END,
                updated_at = now()
           FROM UNNEST($1::uuid[], $2::text[]) AS u(id, just) WHERE r.id = u.id"
    );
    batch(tx, id.len(), &sql, "updating request rows", |q| {
        q.bind(id).bind(just).bind(cx.now).bind(cx.reviewer)
    })
    .await
}

/// Creates and updates plain settings (`encrypted = false`).
pub(super) async fn settings(tx: &mut PgConnection, cx: &Context<'_>) -> Result<(), Error> {
    {
        let (mut id, mut key, mut value, mut descr, mut encrypted) =
            (vec![], vec![], vec![], vec![], vec![]);
        for c in cx.by(Kind::Setting, Action::Create) {
            let Some(Object::Setting(s)) = &c.after else {
                continue;
            };
            let (v, enc) = setting_text(cx, c, s)?;
            id.push(cx.ids.row(Kind::Setting, &c.key)?);
            key.push(s.key.clone());
            value.push(v);
            encrypted.push(enc);
            // MCPBox writes its own description when it creates the row.
            descr.push(crate::settings::known(&s.key).map(|k| k.description.to_string()));
        }
        batch(tx, id.len(), "INSERT INTO settings (id, key, value, encrypted, description)
                 SELECT u.id, u.key, u.value, u.enc, u.descr FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bool[]) AS u(id, key, value, descr, enc)", "creating settings", |q| q.bind(&id).bind(&key).bind(&value).bind(&descr).bind(&encrypted)).await?;
        let (mut id, mut value, mut encrypted) = (vec![], vec![], vec![]);
        for c in cx.updates(Kind::Setting) {
            let Some(Object::Setting(s)) = &c.after else {
                continue;
            };
            let (v, enc) = setting_text(cx, c, s)?;
            id.push(cx.ids.row(Kind::Setting, &c.key)?);
            value.push(v);
            encrypted.push(enc);
        }
        // MCPBox keeps the old description on later writes but overwrites `encrypted`.
        batch(tx, id.len(), "UPDATE settings s SET value = u.value, encrypted = u.enc, updated_at = now() FROM UNNEST($1::uuid[], $2::text[], $3::bool[]) AS u(id, value, enc) WHERE s.id = u.id", "updating settings", |q| q.bind(&id).bind(&value).bind(&encrypted)).await?;
    }

    Ok(())
}

/// The `(value, encrypted)` columns of a setting change: plain text, or a value
/// from `valueFrom` encrypted as base64 with AAD `setting:<key>`.
fn setting_text(
    cx: &Context<'_>,
    c: &Change,
    s: &crate::model::Setting,
) -> Result<(Option<String>, bool), Error> {
    match &c.value {
        Some(ValueChange::Set { .. }) => match cx.values.encrypt_setting(&c.key)? {
            Some(text) => Ok((Some(text), true)),
            None => Err(nothing_read(&c.key)),
        },
        Some(ValueChange::Clear) => Ok((None, false)),
        // A plain setting: its text is the value.
        Some(ValueChange::Keep) | None => Ok((s.value.clone(), false)),
    }
}

/// Deletes rows bottom-up; what cascades goes with them.
pub(super) async fn deletes(tx: &mut PgConnection, cx: &Context<'_>) -> Result<(), Error> {
    for (kind, table) in [
        (Kind::Tunnel, "tunnel_configurations"),
        (Kind::Setting, "settings"),
        (Kind::Module, "module_requests"),
        (Kind::Network, "network_access_requests"),
        (Kind::Tool, "tools"),
        // Pass-through tools that stay are unlinked by the foreign key
        // (ON DELETE SET NULL), as when MCPBox deletes a source.
        (Kind::Source, "external_mcp_sources"),
        (Kind::Secret, "server_secrets"),
        (Kind::Server, "servers"),
    ] {
        let id: Vec<Uuid> = cx
            .by(kind, Action::Delete)
            .filter_map(|c| c.row_id)
            .collect();
        if id.is_empty() {
            continue;
        }
        debug!(table, rows = id.len(), "deleting");
        let sql = format!("DELETE FROM {table} WHERE id = ANY($1)");
        batch(tx, id.len(), &sql, "deleting rows", |q| q.bind(&id)).await?;
    }

    Ok(())
}

/// Records what we now own, and forgets what we no longer do.
pub(super) async fn ownership(tx: &mut PgConnection, cx: &Context<'_>) -> Result<(), Error> {
    {
        let (mut kind, mut key, mut row, mut hash, mut pin) =
            (vec![], vec![], vec![], vec![], vec![]);
        let mut forget_kind = vec![];
        let mut forget_key = vec![];
        // Hashing every tool's code is the costly part: in parallel, up front.
        let hashes = crate::parallel::map(&cx.plan.changes, |c| match c.action {
            Action::Delete => None,
            _ => c.after.as_ref().map(Object::hash),
        });
        for (c, after_hash) in cx.plan.changes.iter().zip(hashes) {
            if c.action == Action::Delete {
                forget_kind.push(c.kind.as_str().to_string());
                forget_key.push(c.key.clone());
                continue;
            }
            let Some(after_hash) = after_hash else {
                continue;
            };
            kind.push(c.kind.as_str().to_string());
            key.push(c.key.clone());
            row.push(cx.ids.row(c.kind, &c.key)?);
            hash.push(after_hash);
            pin.push(c.tool.as_ref().and_then(|t| t.pin.clone()));
        }
        for b in &cx.plan.bookkeeping {
            if b.forget {
                forget_kind.push(b.kind.as_str().to_string());
                forget_key.push(b.key.clone());
            } else {
                kind.push(b.kind.as_str().to_string());
                key.push(b.key.clone());
                row.push(b.row_id);
                hash.push(b.applied_hash.clone());
                pin.push(b.pin.clone());
            }
        }
        batch(tx, kind.len(), "INSERT INTO mcpbox_gitops.ownership (kind, key, row_id, applied_hash, pin, source, applied_at, owner)
                 SELECT u.kind, u.key, u.row_id, u.hash, u.pin, $6, now(), $7 FROM UNNEST($1::text[], $2::text[], $3::uuid[], $4::text[], $5::text[]) AS u(kind, key, row_id, hash, pin)
                 ON CONFLICT (kind, key) DO UPDATE SET row_id = EXCLUDED.row_id, applied_hash = EXCLUDED.applied_hash, pin = EXCLUDED.pin,
                        source = EXCLUDED.source, applied_at = EXCLUDED.applied_at,
                        owner = coalesce(EXCLUDED.owner, mcpbox_gitops.ownership.owner)", "recording ownership", |q| q.bind(&kind).bind(&key).bind(&row).bind(&hash).bind(&pin).bind(cx.source).bind(cx.plan.owner.as_deref())).await?;
        batch(tx, forget_kind.len(), "DELETE FROM mcpbox_gitops.ownership o USING UNNEST($1::text[], $2::text[]) AS u(kind, key) WHERE o.kind = u.kind AND o.key = u.key", "recording ownership", |q| q.bind(&forget_kind).bind(&forget_key)).await?;
    }

    Ok(())
}

columns! {
    /// One batch of tool rows (`source_id` is `external_source_id`, for
    /// pass-through tools only), borrowing the code and schema from the plan:
    /// at 10,000 tools a copy is tens of megabytes.
    ToolBatch<'a> {
        id: Uuid, server_id: Uuid, name: &'a str, description: Option<&'a str>,
        schema: &'a Value, enabled: bool, timeout: Option<i32>, tool_type: &'static str,
        code: Option<&'a str>, deps: Option<Value>, version: i32, status: &'static str,
        requested_at: Option<DateTime<Utc>>, approved_at: Option<DateTime<Utc>>,
        approved_by: Option<String>, rejection_reason: Option<String>,
        created_by: Option<&'a str>, notes: Option<String>, source_id: Option<Uuid>,
        external_tool_name: Option<&'a str>
    }
}

impl<'a> ToolBatch<'a> {
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        id: Uuid,
        server_id: Option<Uuid>,
        t: &'a crate::model::Tool,
        version: i32,
        cols: &rows::ApprovalColumns,
        created_by: Option<&'a str>,
        source_id: Option<Uuid>,
    ) {
        self.source_id.push(source_id);
        self.external_tool_name
            .push(t.external_tool_name.as_deref());
        self.id.push(id);
        if let Some(s) = server_id {
            self.server_id.push(s);
        }
        self.name.push(&t.name);
        self.description.push(t.description.as_deref());
        self.schema.push(&t.input_schema);
        self.enabled.push(t.enabled);
        self.timeout.push(t.timeout_ms);
        self.tool_type.push(t.tool_type.label());
        self.code.push(t.python_code.as_deref());
        self.deps.push(if t.dependencies.is_empty() {
            None
        } else {
            Some(json!(t.dependencies))
        });
        self.version.push(version);
        self.status.push(cols.status.label());
        self.requested_at.push(cols.requested_at);
        self.approved_at.push(cols.approved_at);
        self.approved_by.push(cols.approved_by.clone());
        self.rejection_reason.push(cols.rejection_reason.clone());
        self.created_by.push(created_by);
        self.notes.push(cols.publish_notes.clone());
    }
}

columns! {
    /// One batch of `tool_versions` rows: what differs from the tool row
    /// written just before. Name, description, code and input schema are the
    /// tool's own (every version row a change writes snapshots the tool as
    /// this apply leaves it), so the statement takes them from `tools` inside
    /// PostgreSQL instead of sending every tool's code a second time.
    VersionBatch {
        tool_id: Uuid, number: i32, enabled: bool, timeout: Option<i32>, summary: String
    }
}

impl VersionBatch {
    fn push(&mut self, tool_id: Uuid, rows: &[rows::VersionRow]) {
        for r in rows {
            self.tool_id.push(tool_id);
            self.number.push(r.number);
            self.enabled.push(r.enabled);
            self.timeout.push(r.timeout_ms);
            self.summary.push(r.summary.clone());
        }
    }
}

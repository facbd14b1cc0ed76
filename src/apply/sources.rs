//! The batched statements for `external_mcp_sources`: create and update, as
//! MCPBox's source service writes them. Deletes run with the others in
//! `write::deletes`; the pass-through tools that point at a source are written
//! in `write::tools`.

use sqlx::PgConnection;

use super::batch::{batch, columns};
use super::context::Context;
use super::error::Error;
use crate::model::{Kind, Object};
use crate::plan::Action;

columns! {
    /// One batch of source rows.
    Batch { id: uuid::Uuid, server_id: uuid::Uuid, name: String, url: String, auth_type: String,
            secret: Option<String>, header: Option<String>, transport: String, status: String }
}

impl Batch {
    fn push(&mut self, id: uuid::Uuid, server_id: uuid::Uuid, s: &crate::model::Source) {
        self.id.push(id);
        self.server_id.push(server_id);
        self.name.push(s.name.clone());
        self.url.push(s.url.clone());
        self.auth_type.push(s.auth_type.label().to_string());
        self.secret.push(s.auth_secret.clone());
        self.header.push(s.auth_header.clone());
        self.transport.push(s.transport.label().to_string());
        self.status.push(s.status.label().to_string());
    }
}

/// Creates and updates sources. A new row carries the ORM's defaults for what
/// MCPBox's discovery and OAuth flow own (`tool_count` 0, no cache, no tokens,
/// never discovered); an update never touches those columns.
pub(super) async fn sources(tx: &mut PgConnection, cx: &Context<'_>) -> Result<(), Error> {
    let mut b = Batch::default();
    for c in cx.by(Kind::Source, Action::Create) {
        let Some(Object::Source(s)) = &c.after else {
            continue;
        };
        b.push(
            cx.ids.row(Kind::Source, &c.key)?,
            cx.ids.server_of(c, &s.server)?,
            s,
        );
    }
    batch(tx, b.id.len(), "INSERT INTO external_mcp_sources (id, server_id, name, url, auth_type, auth_secret_name, auth_header_name, transport_type,
                                               status, oauth_tokens_encrypted, oauth_issuer, oauth_client_id, last_discovered_at,
                                               tool_count, discovered_tools_cache)
             SELECT u.id, u.sid, u.name, u.url, u.auth::external_mcp_auth_type, u.secret, u.header,
                    u.transport::external_mcp_transport_type, u.status::external_mcp_source_status, NULL, NULL, NULL, NULL, 0, NULL
               FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[])
                 AS u(id, sid, name, url, auth, secret, header, transport, status)", "creating external sources", |q| q.bind(&b.id).bind(&b.server_id).bind(&b.name).bind(&b.url).bind(&b.auth_type).bind(&b.secret).bind(&b.header).bind(&b.transport).bind(&b.status)).await?;
    let mut b = Batch::default();
    for c in cx.updates(Kind::Source) {
        let Some(Object::Source(s)) = &c.after else {
            continue;
        };
        let server_id = cx.ids.server_of(c, &s.server)?;
        b.push(cx.ids.row(Kind::Source, &c.key)?, server_id, s);
    }
    // `error` is MCPBox's runtime verdict of its last discovery: git's
    // `active` leaves it (a later discovery clears it), only `disabled`
    // replaces it.
    batch(tx, b.id.len(), "UPDATE external_mcp_sources s SET name = u.name, url = u.url, auth_type = u.auth::external_mcp_auth_type,
                    auth_secret_name = u.secret, auth_header_name = u.header,
                    transport_type = u.transport::external_mcp_transport_type,
                    status = CASE WHEN u.status = 'active' AND s.status = 'error' THEN s.status
                                  ELSE u.status::external_mcp_source_status END,
                    updated_at = now()
               FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[])
                 AS u(id, name, url, auth, secret, header, transport, status)
              WHERE s.id = u.id", "updating external sources", |q| q.bind(&b.id).bind(&b.name).bind(&b.url).bind(&b.auth_type).bind(&b.secret).bind(&b.header).bind(&b.transport).bind(&b.status)).await?;
    Ok(())
}

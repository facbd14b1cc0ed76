//! The batched statements for `tunnel_configurations`: create and update, with
//! MCPBox's activation (every other configuration deactivated first, in the same
//! transaction), and tokens encrypted as MCPBox encrypts them. Deletes run with
//! the others in `write::deletes`; the plan never deletes the active row.

use sqlx::PgConnection;

use super::batch::batch;
use super::context::Context;
use super::error::{write_error, Error};
use crate::model::{Kind, Object, Tunnel};
use crate::plan::{Action, Change};
use crate::values::ValueChange;

/// The `tunnel_token` to write for a change: `Some(new)` to set it, `None` to
/// leave it. A token is never cleared: MCPBox requires one.
fn token(cx: &Context<'_>, c: &Change, t: &Tunnel) -> Result<Option<String>, Error> {
    match &c.value {
        Some(ValueChange::Clear) => {
            return Err(crate::values::Error::Refused {
                object: crate::values::tunnel_key(&t.name),
                reason:
                    "the token is empty; MCPBox requires a tunnel token of at least 10 characters"
                        .into(),
            }
            .into())
        }
        Some(ValueChange::Keep) | None => return Ok(None),
        Some(ValueChange::Set { .. }) => {}
    }
    match cx.values.encrypt_tunnel_token(&t.name)? {
        Some(token) => Ok(Some(token)),
        None => Err(crate::values::Error::Refused {
            object: crate::values::tunnel_key(&t.name),
            reason: "no token was read (values were not read for this apply)".into(),
        }
        .into()),
    }
}

/// Creates and updates tunnel configurations.
pub(super) async fn tunnels(tx: &mut PgConnection, cx: &Context<'_>) -> Result<(), Error> {
    // MCPBox's activate: `UPDATE … SET is_active = false` on the other rows, then
    // set one. Done first, so that no statement ever leaves two active rows.
    if let Some(c) = crate::plan::diff::activation(&cx.plan.changes) {
        let id = cx.ids.row(Kind::Tunnel, &c.key)?;
        sqlx::query(
            "UPDATE tunnel_configurations SET is_active = false, updated_at = now() WHERE is_active AND id <> $1",
        )
        .bind(id)
        .execute(&mut *tx)
        .await
        .map_err(write_error("deactivating tunnel configurations"))?;
    }
    let (mut id, mut name, mut descr, mut url, mut active, mut tok) =
        (vec![], vec![], vec![], vec![], vec![], vec![]);
    for c in cx.by(Kind::Tunnel, Action::Create) {
        let Some(Object::Tunnel(t)) = &c.after else {
            continue;
        };
        let Some(token) = token(cx, c, t)? else {
            return Err(crate::values::Error::Refused {
                object: crate::values::tunnel_key(&t.name),
                reason: "a new tunnel configuration needs a token (MCPBox requires one)".into(),
            }
            .into());
        };
        id.push(cx.ids.row(Kind::Tunnel, &c.key)?);
        name.push(t.name.clone());
        descr.push(t.description.clone());
        url.push(t.public_url.clone());
        active.push(t.active);
        tok.push(token);
    }
    batch(tx, id.len(), "INSERT INTO tunnel_configurations (id, name, description, tunnel_token, public_url, is_active)
             SELECT u.id, u.name, u.descr, u.token, u.url, u.active
               FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bool[])
                 AS u(id, name, descr, token, url, active)", "creating tunnel configurations", |q| q.bind(&id).bind(&name).bind(&descr).bind(&tok).bind(&url).bind(&active)).await?;
    let (mut id, mut name, mut descr, mut url, mut active, mut set, mut tok) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    for c in cx.updates(Kind::Tunnel) {
        let Some(Object::Tunnel(t)) = &c.after else {
            continue;
        };
        let token = token(cx, c, t)?;
        id.push(cx.ids.row(Kind::Tunnel, &c.key)?);
        name.push(t.name.clone());
        descr.push(t.description.clone());
        url.push(t.public_url.clone());
        active.push(t.active);
        set.push(token.is_some());
        tok.push(token);
    }
    batch(tx, id.len(), "UPDATE tunnel_configurations s SET name = u.name, description = u.descr, public_url = u.url, is_active = u.active,
                    tunnel_token = CASE WHEN u.set THEN u.token ELSE s.tunnel_token END, updated_at = now()
               FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bool[], $6::bool[], $7::text[])
                 AS u(id, name, descr, url, active, set, token)
              WHERE s.id = u.id", "updating tunnel configurations", |q| q.bind(&id).bind(&name).bind(&descr).bind(&url).bind(&active).bind(&set).bind(&tok)).await?;
    Ok(())
}

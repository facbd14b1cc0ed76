//! The one way apply writes many rows: a single `INSERT … SELECT FROM UNNEST`
//! or `UPDATE … FROM UNNEST` statement per kind and action, run only when it
//! has rows, its failure named for the rollback message. The writers build the
//! column arrays; this runs them.

use sqlx::postgres::PgArguments;
use sqlx::query::Query;
use sqlx::{PgConnection, Postgres};

use super::error::{write_error, Error};

/// A statement with its parameters bound.
pub(super) type Bound<'q> = Query<'q, Postgres, PgArguments>;

/// Runs `sql` with the parameters `bind` adds, in order, when `rows` is not
/// zero; `what` names the write in the error ("creating servers").
pub(super) async fn batch<'q>(
    tx: &mut PgConnection,
    rows: usize,
    sql: &'q str,
    what: &'static str,
    bind: impl FnOnce(Bound<'q>) -> Bound<'q>,
) -> Result<(), Error> {
    if rows == 0 {
        return Ok(());
    }
    bind(sqlx::query(sql))
        .execute(&mut *tx)
        .await
        .map_err(write_error(what))?;
    Ok(())
}

/// Declares the column arrays of one batched statement: a struct with one
/// `Vec` per column (`Default` gives empty ones), filled a row at a time by
/// the writer and bound by [`batch`].
/// A batch may borrow its values (`Batch<'a>`) from the plan instead of
/// copying them: sqlx encodes `&str` and `&Value` as it does owned values.
macro_rules! columns {
    ($(#[$meta:meta])* $name:ident $(<$lt:lifetime>)? { $($col:ident: $ty:ty),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Default)]
        struct $name $(<$lt>)? { $($col: Vec<$ty>),+ }
    };
}
pub(super) use columns;

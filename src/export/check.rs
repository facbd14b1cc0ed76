//! The self-check of an export: load, validate and plan the rendered files
//! against the state they came from, and name the objects whose file does not
//! load or whose plan is more than an adoption (the caller drops them and tries
//! again). Rendering lives in `render`; dropping, in `contents`.

use super::contents::{Item, Selection};
use super::render::Rendered;
use super::text::{one_line, shown};
use super::Error;
use crate::desired;
use crate::plan::{diff, Action, Change, Plan};
use crate::source::{Entry, MAX_FILE_BYTES, MAX_TOTAL_BYTES};
use crate::state::ActualState;

pub(super) enum Checked {
    Adoptable(Box<Plan>),
    Drop(Vec<(Item, String)>),
}

/// Loads, validates and plans the files against the state they came from.
/// Values are not read (no key): a stored tunnel token or encrypted setting
/// counts as current, as in a `plan` without `MCPBOX_ENCRYPTION_KEY`.
pub(super) fn check(
    rendered: &Rendered,
    actual: &ActualState,
    sel: &Selection,
) -> Result<Checked, Error> {
    let Rendered { files, owners } = rendered;
    let mut drop = Vec::new();
    let mut total = 0u64;
    for (path, entry) in &files.files {
        let Entry::Bytes(bytes) = entry else { continue };
        let size = bytes.len() as u64;
        total += size;
        if size > MAX_FILE_BYTES {
            match owners.get(path) {
                Some(item) => drop.push((
                    item.clone(),
                    "its manifest is larger than 1 MiB".to_string(),
                )),
                None => {
                    return Err(Error::TooLarge {
                        size,
                        limit: MAX_FILE_BYTES,
                    })
                }
            }
        }
    }
    if total > MAX_TOTAL_BYTES {
        return Err(Error::TooLarge {
            size: total,
            limit: MAX_TOTAL_BYTES,
        });
    }
    if !drop.is_empty() {
        return Ok(Checked::Drop(drop));
    }
    let desired = match desired::build(files) {
        Ok(d) => d,
        Err(diags) => {
            let mut fatal = Vec::new();
            for d in diags {
                match owners.get(&d.file) {
                    Some(item) => drop.push((
                        item.clone(),
                        format!("its manifest does not validate: {}", d.message),
                    )),
                    None => fatal.push(d.to_string()),
                }
            }
            if !fatal.is_empty() {
                return Err(Error::NotLoadable(one_line(&fatal.join("; "))));
            }
            return Ok(Checked::Drop(drop));
        }
    };
    let plan = diff::diff(&desired, actual)?;
    for c in plan.changes.iter().filter(|c| !adoption_only(c)) {
        let why = format!("a plan would {} it{}", verb(c.action), fields_of(c));
        match sel.item(c.kind, &c.key) {
            Some(item) => drop.push((item, why)),
            None => {
                return Err(Error::NotAdoptable(format!(
                    "{} {}: {why}",
                    c.kind.as_str(),
                    shown(&c.key)
                )))
            }
        }
    }
    Ok(if drop.is_empty() {
        Checked::Adoptable(Box::new(plan))
    } else {
        Checked::Drop(drop)
    })
}

pub(super) fn adoption_only(c: &Change) -> bool {
    c.action == Action::Adopt
        && c.fields.is_empty()
        && c.tool
            .as_ref()
            .is_none_or(|t| t.versions.is_empty() && t.approval.write.is_none())
}

fn verb(a: Action) -> &'static str {
    match a {
        Action::Adopt => "adopt and change",
        Action::Create => "create",
        Action::Update => "update",
        Action::Delete => "delete",
    }
}

fn fields_of(c: &Change) -> String {
    let mut names: Vec<&str> = c.fields.iter().map(|f| f.field.as_str()).collect();
    if c.tool.as_ref().is_some_and(|t| t.approval.write.is_some()) {
        names.push("approval");
    }
    if names.is_empty() {
        String::new()
    } else {
        format!(" ({})", names.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use crate::export::fixtures::state;
    use crate::export::rows::select;
    use crate::export::{settle, Options};

    #[test]
    fn objects_failing_the_check_are_dropped_with_what_hangs_off_them() {
        let actual = state();
        let opts = Options::default();
        let mut sel = select(&actual, &opts).unwrap();
        // Past the pre-checks: code MCPBox would refuse, and a secret that would change.
        let ok = sel.tools.get_mut(&("svc".into(), "ok".into())).unwrap();
        ok.obj.python_code = Some("x = 1\n".into());
        let svc = sel.servers.get_mut("svc").unwrap();
        svc.secrets
            .insert("API_TOKEN".into(), Some("another".into()));
        let e = settle(sel, &actual, &opts).unwrap();
        let skipped: Vec<(&str, &str)> = e
            .skipped
            .iter()
            .map(|s| (s.object.as_str(), s.reason.as_str()))
            .collect();
        let find = |object: &str| {
            skipped
                .iter()
                .find(|(o, _)| *o == object)
                .map(|(_, why)| *why)
                .unwrap_or_else(|| panic!("{object} not in {skipped:#?}"))
        };
        assert!(find("tool `svc/ok`").contains("async def main"));
        assert!(find("secret `svc/API_TOKEN`").contains("adopt and change it (description)"));
        assert_eq!(
            find("network entry `svc/ok.example.com:443 via ok`"),
            "its tool is not exported"
        );
        assert!(!e.files.files.contains_key("servers/svc/tools/ok.py"));
        assert_eq!(
            e.adoptions, 9,
            "svc, draft, rejected, no_timeout, one host, two modules, two settings"
        );
    }
}

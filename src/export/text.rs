//! How MCPBox's own text is quoted in skip reasons, notes and header comments:
//! on one line, shortened, and never when it looks like a credential. Names the
//! export makes up live in `names`.

use crate::manifest::secrets;

/// A text shown in a message or a header comment: one line, at most 80
/// characters, and never anything that looks like a credential.
pub(super) fn shown(s: &str) -> String {
    if !secrets::scan(s).is_empty() {
        return "(looks like a credential; not shown)".into();
    }
    let mut out = one_line(&s.chars().take(80).collect::<String>());
    if s.chars().count() > 80 {
        out.push('…');
    }
    out
}

pub(super) fn one_line(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

//! The comment's budget: GitHub holds 65,536 characters, so long lists are
//! capped step by step (200, 50, 10, 3 items, then none) until the comment fits.

use std::fmt::Write;

/// How long the lists of the fixed part (summary table, outside changes, notes,
/// caches) may be, tried longest first until the fixed part fits.
pub(super) const LIST_CAPS: [usize; 6] = [usize::MAX, 200, 50, 10, 3, 0];

/// Counts characters, the unit of GitHub's limit.
pub(super) fn chars(s: &str) -> usize {
    s.chars().count()
}

/// Last resort for limits too small for even the shortest fixed part: cut at a
/// character boundary, marking the cut.
pub(super) fn clamp(s: String, max: usize) -> String {
    if chars(&s) <= max {
        return s;
    }
    let mut cut: String = s.chars().take(max.saturating_sub(2)).collect();
    if max >= 2 {
        cut.push_str("…\n");
    }
    cut
}

/// How many entries a list of the fixed part may show, and whether one was cut.
pub(super) struct Lists {
    pub(super) cap: usize,
    pub(super) capped: bool,
}

impl Lists {
    /// The first `cap` entries, and `… and N more` when there are more.
    pub(super) fn take<'s>(&mut self, items: &'s [String]) -> (&'s [String], Option<String>) {
        if items.len() <= self.cap {
            return (items, None);
        }
        self.capped = true;
        let more = match self.cap {
            0 => format!("({} not listed here)", items.len()),
            cap => format!("… and {} more", items.len() - cap),
        };
        (&items[..self.cap], Some(more))
    }

    /// The entries that fit, joined by `sep`.
    pub(super) fn join(&mut self, items: &[String], sep: &str) -> String {
        let (shown, more) = self.take(items);
        let mut parts: Vec<String> = shown.to_vec();
        parts.extend(more);
        parts.join(sep)
    }

    /// Entries separated by spaces (one line of a list).
    pub(super) fn inline(&mut self, items: &[String]) -> String {
        self.join(items, " ")
    }

    /// A table cell: entries separated by `<br>`.
    pub(super) fn cell(&mut self, items: &[String]) -> String {
        self.join(items, "<br>")
    }

    /// A markdown bullet list, one entry a line.
    pub(super) fn bullets(&mut self, items: &[String]) -> String {
        let (shown, more) = self.take(items);
        let mut out = String::new();
        for i in shown.iter().chain(more.iter()) {
            let _ = writeln!(out, "- {i}");
        }
        out
    }
}

pub(super) fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

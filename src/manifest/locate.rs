//! Where each value of a YAML document sits in its file: a path → position index.
//!
//! serde_yaml gives positions only for its own errors; semantic checks (a dangling
//! tool reference, a bad host) need the position of a field by its path, e.g.
//! `spec.network[2].tool`. This module builds that index from yaml-rust2's event
//! stream. It knows nothing of manifest kinds; `load` and `validate` use it.

use std::collections::BTreeMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// Positions (byte offsets into the file) of one document's keys and values.
#[derive(Debug, Clone, Default)]
pub struct DocIndex {
    /// Byte offset where the document starts.
    pub start: usize,
    /// path → (offset of the key, if the node is a map entry; offset of the value)
    entries: BTreeMap<String, (Option<usize>, usize)>,
    /// Keys given twice in one mapping: (path of the key, offset of the second
    /// occurrence, offset of the first).
    pub duplicate_keys: Vec<(String, usize, usize)>,
    /// Paths whose value is a block collection starting below its key.
    blocks: std::collections::BTreeSet<String>,
    /// Offset of the first alias (`*name`) of the document.
    pub first_alias: Option<usize>,
    /// Offset of the first node nested deeper than [`MAX_DEPTH`].
    pub too_deep: Option<usize>,
    /// Offset of the alias at which the document's expansion passed
    /// [`ALIAS_BUDGET`] bytes.
    pub alias_bomb: Option<usize>,
}

impl DocIndex {
    /// Offset of the value at `path` (e.g. `spec.network[0].host`).
    pub fn value(&self, path: &str) -> Option<usize> {
        self.entries.get(path).map(|e| e.1)
    }

    /// Offset of the key at `path`, falling back to its value.
    pub fn key(&self, path: &str) -> Option<usize> {
        self.entries.get(path).map(|e| e.0.unwrap_or(e.1))
    }

    /// Offset of the value at `path`, or of its nearest ancestor that is indexed,
    /// or of the document start.
    /// A block collection (a value on the lines below its key) is located at its
    /// key: the parser marks such a collection where its first entry's `:` is,
    /// which reads as a random column.
    pub fn value_or_ancestor(&self, path: &str) -> usize {
        let mut p = path.to_string();
        loop {
            if let Some(&(key, value)) = self.entries.get(&p) {
                return match key {
                    Some(k) if self.blocks.contains(&p) => k,
                    _ => value,
                };
            }
            match parent(&p) {
                Some(up) => p = up,
                None => return self.start,
            }
        }
    }

    /// Whether anything is indexed at `path`.
    pub fn contains(&self, path: &str) -> bool {
        self.entries.contains_key(path)
    }
}

/// The parent of a path: `a.b[2]` → `a.b`, `a.b` → `a`, `a` → ``; `` → None.
pub fn parent(path: &str) -> Option<String> {
    if path.is_empty() {
        return None;
    }
    let cut = path.rfind(['.', '[']).unwrap_or(0);
    Some(path[..cut].to_string())
}

/// Joins a map key onto a path.
pub fn join_key(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

/// Nesting depth past which nodes are no longer indexed (and the document is
/// refused by `load`): manifests are a few levels deep, and building paths for a
/// 100,000-deep document would cost quadratic time.
pub const MAX_DEPTH: usize = 64;

/// Most bytes aliases may add to a document when expanded. serde_yaml bounds the
/// number of events an alias replays, not their size: one alias to a 1 MB string
/// repeated 1,000 times would build a gigabyte.
pub const ALIAS_BUDGET: usize = 4 << 20;

enum Frame {
    Map {
        path: String,
        key: Option<(String, usize)>,
        /// Keys seen so far, with their offsets.
        seen: BTreeMap<String, usize>,
    },
    Seq {
        path: String,
        index: usize,
    },
}

struct Indexer<'a> {
    text: &'a str,
    /// char index → byte offset, built lazily for non-ASCII text.
    char_offsets: Option<Vec<usize>>,
    docs: Vec<DocIndex>,
    stack: Vec<Frame>,
    /// Whether `text` is ASCII (char index = byte offset), computed once.
    ascii: bool,
    /// Collections open below [`MAX_DEPTH`], which are not indexed.
    hidden: usize,
    /// Expanded size in bytes of each anchor of the current document.
    anchors: std::collections::HashMap<usize, usize>,
    /// Open collections: (anchor id or 0, start offset, bytes added by aliases
    /// inside).
    open: Vec<(usize, usize, usize)>,
    /// Bytes aliases added to the current document so far.
    expanded: usize,
}

impl Indexer<'_> {
    fn byte_offset(&mut self, mark: &Marker) -> usize {
        let idx = mark.index();
        if self.ascii {
            return idx.min(self.text.len());
        }
        let text = self.text;
        let offsets = self
            .char_offsets
            .get_or_insert_with(|| text.char_indices().map(|(i, _)| i).collect());
        offsets.get(idx).copied().unwrap_or(text.len())
    }

    /// Path of the node that starts now, and the offset of its key if any.
    fn child_path(&self) -> (String, Option<usize>) {
        match self.stack.last() {
            None => (String::new(), None),
            Some(Frame::Map { path, key, .. }) => match key {
                Some((k, off)) => (join_key(path, k), Some(*off)),
                None => (path.clone(), None),
            },
            Some(Frame::Seq { path, index }) => (format!("{path}[{index}]"), None),
        }
    }

    /// Whether the next scalar is a map key.
    fn expecting_key(&self) -> bool {
        matches!(self.stack.last(), Some(Frame::Map { key: None, .. }))
    }

    /// A value (scalar or collection) finished: move the parent on.
    fn advance(&mut self) {
        match self.stack.last_mut() {
            Some(Frame::Map { key, .. }) => *key = None,
            Some(Frame::Seq { index, .. }) => *index += 1,
            None => {}
        }
    }

    fn record(&mut self, path: String, key: Option<usize>, value: usize) {
        let text = self.text;
        if let Some(doc) = self.docs.last_mut() {
            let below = key
                .and_then(|k| text.get(k.min(value)..value))
                .is_some_and(|between| between.contains('\n'));
            if below {
                doc.blocks.insert(path.clone());
            }
            doc.entries.entry(path).or_insert((key, value));
        }
    }
}

impl MarkedEventReceiver for Indexer<'_> {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let off = self.byte_offset(&mark);
        if self.hidden > 0 {
            match ev {
                Event::MappingStart(..) | Event::SequenceStart(..) => self.hidden += 1,
                Event::MappingEnd | Event::SequenceEnd => {
                    self.hidden -= 1;
                    if self.hidden == 0 {
                        self.advance();
                    }
                }
                _ => {}
            }
            return;
        }
        match ev {
            Event::DocumentStart => {
                self.docs.push(DocIndex {
                    start: off,
                    ..DocIndex::default()
                });
                self.stack.clear();
                self.anchors.clear();
                self.open.clear();
                self.expanded = 0;
            }
            Event::Scalar(value, _, anchor, _) => {
                if anchor != 0 {
                    self.anchors.insert(anchor, value.len().max(1));
                }
                if self.expecting_key() {
                    let mut duplicate = None;
                    if let Some(Frame::Map { key, seen, path }) = self.stack.last_mut() {
                        match seen.get(&value) {
                            Some(first) => duplicate = Some((join_key(path, &value), off, *first)),
                            None => {
                                seen.insert(value.clone(), off);
                            }
                        }
                        *key = Some((value, off));
                    }
                    if let (Some(d), Some(doc)) = (duplicate, self.docs.last_mut()) {
                        doc.duplicate_keys.push(d);
                    }
                } else {
                    let (path, key) = self.child_path();
                    self.record(path, key, off);
                    self.advance();
                }
            }
            Event::Alias(id) => {
                let size = self.anchors.get(&id).copied().unwrap_or(1);
                self.expanded = self.expanded.saturating_add(size);
                if let Some(top) = self.open.last_mut() {
                    top.2 = top.2.saturating_add(size);
                }
                let over = self.expanded > ALIAS_BUDGET;
                if let Some(doc) = self.docs.last_mut() {
                    doc.first_alias.get_or_insert(off);
                    if over {
                        doc.alias_bomb.get_or_insert(off);
                    }
                }
                if self.expecting_key() {
                    if let Some(Frame::Map { key, .. }) = self.stack.last_mut() {
                        *key = Some(("*alias".into(), off));
                    }
                } else {
                    let (path, key) = self.child_path();
                    self.record(path, key, off);
                    self.advance();
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                if self.stack.len() >= MAX_DEPTH {
                    if let Some(doc) = self.docs.last_mut() {
                        doc.too_deep.get_or_insert(off);
                    }
                    self.hidden = 1;
                    return;
                }
                let anchor = match ev {
                    Event::MappingStart(a, _) | Event::SequenceStart(a, _) => a,
                    _ => 0,
                };
                self.open.push((anchor, off, 0));
                let (path, key) = if self.expecting_key() {
                    // A complex key; index it under a placeholder.
                    ("?".to_string(), None)
                } else {
                    self.child_path()
                };
                self.record(path.clone(), key, off);
                if matches!(ev, Event::MappingStart(..)) {
                    self.stack.push(Frame::Map {
                        path,
                        key: None,
                        seen: BTreeMap::new(),
                    });
                } else {
                    self.stack.push(Frame::Seq { path, index: 0 });
                }
            }
            Event::MappingEnd | Event::SequenceEnd => {
                if let Some((anchor, start, extra)) = self.open.pop() {
                    if anchor != 0 {
                        let size = off.saturating_sub(start).saturating_add(extra);
                        self.anchors.insert(anchor, size.max(1));
                    }
                    if let Some(parent) = self.open.last_mut() {
                        parent.2 = parent.2.saturating_add(extra);
                    }
                }
                self.stack.pop();
                self.advance();
            }
            _ => {}
        }
    }
}

/// Indexes every document of `text`. On a YAML error the documents read so far are
/// returned (serde_yaml reports the error itself, with its own position).
pub fn index(text: &str) -> Vec<DocIndex> {
    index_checked(text).0
}

/// Like [`index`], also returning the scanner's error (byte offset, message).
pub fn index_checked(text: &str) -> (Vec<DocIndex>, Option<(usize, String)>) {
    let mut indexer = Indexer {
        text,
        char_offsets: None,
        docs: Vec::new(),
        stack: Vec::new(),
        ascii: text.is_ascii(),
        hidden: 0,
        anchors: std::collections::HashMap::new(),
        open: Vec::new(),
        expanded: 0,
    };
    let mut parser = Parser::new_from_str(text);
    let error = parser.load(&mut indexer, true).err().map(|e| {
        let off = indexer.byte_offset(e.marker());
        (off, e.info().to_string())
    });
    (indexer.docs, error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_nested_paths_across_documents() {
        let text = "a: 1\nspec:\n  network:\n    - host: x.io\n      tool: t\n---\nb: [1, 2]\n";
        let docs = index(text);
        assert_eq!(docs.len(), 2);
        let off = docs[0].value("spec.network[0].tool").unwrap();
        assert_eq!(&text[off..off + 1], "t");
        let key = docs[0].key("spec.network[0].tool").unwrap();
        assert_eq!(&text[key..key + 4], "tool");
        let b1 = docs[1].value("b[1]").unwrap();
        assert_eq!(&text[b1..b1 + 1], "2");
        assert_eq!(
            docs[0].value_or_ancestor("spec.network[0].nope"),
            docs[0].value("spec.network[0]").unwrap()
        );
    }

    #[test]
    fn duplicate_keys_aliases_and_depth_are_noted() {
        let text = "a: 1\nb:\n  c: &x 2\n  c: *x\n";
        let docs = index(text);
        let (path, second, first) = docs[0].duplicate_keys[0].clone();
        assert_eq!(path, "b.c");
        assert_eq!((first, second), (10, 20));
        assert_eq!(docs[0].first_alias, Some(23));
        let deep: String = (0..200).map(|i| format!("{}k:\n", " ".repeat(i))).collect();
        let docs = index(&deep);
        let at = docs[0].too_deep.unwrap();
        assert_eq!(deep[..at].lines().count(), MAX_DEPTH + 1);
        assert!(docs[0].duplicate_keys.is_empty());
    }

    #[test]
    fn non_ascii_offsets_are_bytes() {
        let text = "é: ü\nk: v\n";
        let docs = index(text);
        let off = docs[0].value("k").unwrap();
        assert_eq!(&text[off..off + 1], "v");
    }

    #[test]
    fn parent_paths() {
        assert_eq!(parent("a.b[2]").as_deref(), Some("a.b"));
        assert_eq!(parent("a.b").as_deref(), Some("a"));
        assert_eq!(parent("a").as_deref(), Some(""));
        assert_eq!(parent(""), None);
    }
}

//! `fmt` on small inputs: layout, order, quoting, comments, refusals.

use super::*;

fn fmt(text: &str) -> String {
    match format(text, FileKind::Manifest) {
        Ok(t) => t,
        Err(e) => panic!("refused at {}:{}: {}", e.line, e.col, e.message),
    }
}

#[test]
fn reorders_keys_and_keeps_each_keys_comments_with_it() {
    let input = "\
# yaml-language-server: $schema=x.json
spec:
  # the secrets
  secrets:
  - name: TOKEN   # read-only
    description: a token
  description: hello
kind: Server
apiVersion: mcpbox/v1
metadata:
  name: github
";
    let want = "\
# yaml-language-server: $schema=x.json
apiVersion: mcpbox/v1
kind: Server
metadata:
  name: github
spec:
  description: hello
  # the secrets
  secrets:
    - name: TOKEN # read-only
      description: a token
";
    assert_eq!(fmt(input), want);
    assert_eq!(fmt(want), want, "idempotent");
}

#[test]
fn canonical_input_is_left_byte_for_byte() {
    let input = "\
# header comment
apiVersion: mcpbox/v1
kind: Tool
metadata:
  name: forecast
  server: weather

spec:
  description: \"Forecast: the next days\"
  timeoutMs: 20000
  enabled: false
  code: |
    async def main(city: str) -> dict:
        # comment in code, not YAML
        return {\"city\": city}  # also code
  dependencies:
    - httpx
  inputSchema:
    type: object
    properties:
      z: {}
      a: []
";
    assert_eq!(fmt(input), input);
}

#[test]
fn quoting_is_normalised_without_changing_values() {
    let input = "\
apiVersion: 'mcpbox/v1'
kind: Settings
metadata:
  name: mcpbox
spec:
  log_retention_days: '30'
  remote_tool_editing: \"disabled\"
  note: 'it''s'
  flag: yes
  empty:
  url: \"http://x:8080/#frag\"
";
    let want = "\
apiVersion: mcpbox/v1
kind: Settings
metadata:
  name: mcpbox
spec:
  log_retention_days: \"30\"
  remote_tool_editing: disabled
  note: it's
  flag: yes
  empty:
  url: http://x:8080/#frag
";
    assert_eq!(fmt(input), want);
}

#[test]
fn flow_collections_and_multi_line_quoted_strings_become_block_layout() {
    let input = "\
apiVersion: mcpbox/v1
kind: Tool
metadata: {name: t, server: s}
spec:
  description: \"line one\\nline two\\n\"
  dependencies: [httpx, 'rich']
";
    let want = "\
apiVersion: mcpbox/v1
kind: Tool
metadata:
  name: t
  server: s
spec:
  description: |
    line one
    line two
  dependencies:
    - httpx
    - rich
";
    assert_eq!(fmt(input), want);
}

#[test]
fn blank_lines_collapse_to_one_and_multiple_documents_are_separated() {
    let input = "\
---
apiVersion: mcpbox/v1


kind: Modules   # global
---
# second
apiVersion: mcpbox/v1
kind: Settings
";
    let want = "\
apiVersion: mcpbox/v1

kind: Modules # global
---
# second
apiVersion: mcpbox/v1
kind: Settings
";
    assert_eq!(fmt(input), want);
}

#[test]
fn hash_inside_quotes_and_blocks_is_not_a_comment() {
    let input = "\
a: \"x # not a comment\" # a comment
b: 'it''s # still text'
c: |
  # code comment
  x = 1
d: plain#text
";
    let out = fmt(input);
    assert!(
        out.contains("a: \"x # not a comment\" # a comment\n"),
        "{out}"
    );
    assert!(out.contains("b: \"it's # still text\"\n"), "{out}");
    assert!(out.contains("c: |\n  # code comment\n  x = 1\n"), "{out}");
    assert!(out.contains("d: plain#text\n"), "{out}");
}

#[test]
fn comment_after_a_block_scalar_at_a_lower_indent_stays_a_comment() {
    let input = "\
spec:
  code: |
    x = 1
  # about the next key
  enabled: true
";
    let out = fmt(input);
    assert!(
        out.contains("  # about the next key\n  enabled: true\n"),
        "{out}"
    );
}

#[test]
fn policy_and_approvals_files_use_their_own_order() {
    let approvals = "\
approvals:
- approvedBy: a@b.c
  sha256: 0a7eedd46c48870b
  tool: s/t
  approvedAt: '2026-12-05T03:45:34Z'
";
    let out = format(approvals, FileKind::Approvals).unwrap_or_default();
    assert_eq!(
        out,
        "approvals:\n  - tool: s/t\n    sha256: 0a7eedd46c48870b\n    approvedBy: a@b.c\n    approvedAt: \"2026-12-05T03:45:34Z\"\n"
    );
    let policy = "prune: true\napproval:\n  mode: pinned\n";
    assert_eq!(
        format(policy, FileKind::Policy).unwrap_or_default(),
        "approval:\n  mode: pinned\nprune: true\n"
    );
}

#[test]
fn refuses_what_it_would_have_to_guess_at() {
    for (text, phrase) in [
        ("a: &x 1\nb: *x\n", "anchor"),
        ("a: !!str 1\n", "tag"),
        ("%YAML 1.2\n---\na: 1\n", "directive"),
        (
            "a: this plain value\n  continues here\n",
            "continues on the next line",
        ),
        ("a: [1, 2\n", "not valid YAML"),
        ("? [a]\n: 1\n", "key that is a mapping or a list"),
    ] {
        match format(text, FileKind::Manifest) {
            Ok(out) => panic!("{text:?} was formatted as {out:?}"),
            Err(e) => assert!(e.message.contains(phrase), "{text:?}: {}", e.message),
        }
    }
}

#[test]
fn empty_files_and_collections() {
    assert_eq!(fmt(""), "");
    assert_eq!(
        fmt("a: {}\nb: []\nc:\n  - []\n"),
        "a: {}\nb: []\nc:\n  - []\n"
    );
}

#[test]
fn every_example_is_canonical() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut seen = 0;
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                let text = std::fs::read_to_string(&path).unwrap_or_default();
                let kind = FileKind::of(&path.to_string_lossy());
                let out =
                    format(&text, kind).unwrap_or_else(|e| panic!("{}: {e:?}", path.display()));
                assert_eq!(
                    out,
                    text,
                    "{} is not canonical; run `mcpbox-gitops fmt examples`",
                    path.display()
                );
                seen += 1;
            }
        }
    }
    assert!(seen >= 10, "only {seen} example files found");
}

#[test]
fn comments_closing_a_nested_block_stay_in_it() {
    let input = "\
kind: Server
spec:
  network:
    - host: a
      port: 443
      # tool: later
    # another host, some day
  description: x
  # dependencies:
  #   - httpx
# end of file
";
    let want = "\
kind: Server
spec:
  description: x
  network:
    - host: a
      port: 443
      # tool: later
    # another host, some day
  # dependencies:
  #   - httpx
# end of file
";
    assert_eq!(fmt(input), want);
}

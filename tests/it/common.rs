//! Shared fixtures: in-memory manifest repositories and a migrated database.

use mcpbox_gitops::desired::{self, DesiredState};
use mcpbox_gitops::plan::Plan;
use mcpbox_gitops::source::FileSet;
use sqlx::PgPool;

/// A repository from (path, text) pairs.
pub fn repo(files: &[(&str, &str)]) -> FileSet {
    let mut set = FileSet::empty("test-repo");
    for (p, t) in files {
        set.insert(*p, t.as_bytes());
    }
    set
}

/// Builds the desired state, panicking with the diagnostics if invalid.
pub fn desired(files: &FileSet) -> DesiredState {
    desired::build(files).unwrap_or_else(|d| panic!("invalid test repo: {d:#?}"))
}

/// Runs our migrations on the test database.
pub async fn migrate(pool: &PgPool) {
    mcpbox_gitops::state::migrate::migrate(pool)
        .await
        .expect("migrate");
}

/// Plans `files` against the database.
pub async fn plan(pool: &PgPool, files: &FileSet) -> Plan {
    let actual = mcpbox_gitops::state::read::snapshot(pool)
        .await
        .expect("read state");
    mcpbox_gitops::plan::diff::diff(&desired(files), &actual).expect("diff")
}

/// Applies `files` (allowing destruction).
pub async fn apply(pool: &PgPool, files: &FileSet) -> Plan {
    let opts = mcpbox_gitops::apply::Options {
        allow_destroy: true,
        ..Default::default()
    };
    mcpbox_gitops::apply::execute(pool, &desired(files), None, &opts)
        .await
        .expect("apply")
        .0
}

/// The URL of the test database (for the CLI and the fingerprint script).
pub fn url(pool: &PgPool) -> String {
    let o = pool.connect_options();
    format!(
        "postgres://{}@{}:{}/{}",
        o.get_username(),
        o.get_host(),
        o.get_port(),
        o.get_database().unwrap_or("postgres")
    )
}

pub const SERVER: &str = "apiVersion: mcpbox/v1
kind: Server
metadata: {name: github}
spec:
  description: GitHub helpers
  secrets:
    - {name: GITHUB_TOKEN, description: a PAT}
  network:
    - {host: api.github.com, port: 443, justification: REST API, tool: list_issues}
    - {host: raw.githubusercontent.com, justification: raw files}
";

pub const TOOL: &str = "apiVersion: mcpbox/v1
kind: Tool
metadata: {name: list_issues, server: github}
spec:
  description: List issues
  codeFile: list_issues.py
";

pub const CODE_V1: &str = "async def main(repo: str, state: str | None = None):\n    return await http.get(f\"https://api.github.com/repos/{repo}/issues\")\n";
pub const CODE_V2: &str = "async def main(repo: str, state: str | None = None):\n    resp = await http.get(f\"https://api.github.com/repos/{repo}/issues\", params={\"state\": state or \"open\"})\n    return resp.json()\n";

/// The basic repository: one server, one tool, optional extra files.
pub fn basic(code: &str, extra: &[(&str, &str)]) -> FileSet {
    let mut files = vec![
        ("github.yaml", SERVER),
        ("list_issues.yaml", TOOL),
        ("list_issues.py", code),
    ];
    files.extend_from_slice(extra);
    repo(&files)
}

/// approvals.yaml pinning list_issues at `code`'s content hash.
pub fn pin_for(files: &FileSet, by: &str) -> String {
    let d = desired(files);
    let Some(mcpbox_gitops::model::Object::Tool(t)) = d.objects.get(&(
        mcpbox_gitops::model::Kind::Tool,
        "github/list_issues".into(),
    )) else {
        panic!("no tool")
    };
    format!(
        "approvals:\n  - tool: github/list_issues\n    sha256: {}\n    approvedBy: {by}\n",
        t.content_hash()
    )
}

/// Runs git in `dir` with a fixed identity and no signing; returns trimmed
/// stdout, failing the test with git's stderr.
pub fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .current_dir(dir)
        .args(["-c", "user.name=Test", "-c", "user.email=test@example.com"])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Writes (path, text) pairs under `dir`, creating folders.
pub fn write_files(dir: &std::path::Path, files: &[(&str, &str)]) {
    for (p, t) in files {
        let path = dir.join(p);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, t).unwrap();
    }
}

/// Writes a file set's files under `dir`.
pub fn write_set(dir: &std::path::Path, set: &FileSet) {
    for (path, entry) in &set.files {
        if let mcpbox_gitops::source::Entry::Bytes(b) = entry {
            let path = dir.join(path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).unwrap();
            }
            std::fs::write(path, b).unwrap();
        }
    }
}

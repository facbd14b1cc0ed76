//! The bad-input corpus (`tests/corpus/`): every case gives its exact diagnostic,
//! `validate` exits 1, and `plan`/`apply` leave a real database untouched.

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use mcpbox_gitops::source::FileSet;
use sqlx::PgPool;

use crate::common;

/// One case: a repository and the diagnostic it must give first.
struct Case {
    name: String,
    dir: PathBuf,
    code: String,
    file: String,
    line: usize,
    column: usize,
    phrase: String,
}

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus")
}

fn parse_expect(name: &str, dir: PathBuf, text: &str) -> Case {
    let line = text.lines().next().unwrap_or_default();
    let mut parts = line.splitn(3, ' ');
    let code = parts.next().unwrap_or_default().to_string();
    let place = parts.next().unwrap_or_default();
    let phrase = parts.next().unwrap_or_default().trim().to_string();
    let mut place_parts = place.rsplitn(3, ':');
    let column = place_parts.next().unwrap_or("0").parse().unwrap();
    let line_no = place_parts.next().unwrap_or("0").parse().unwrap();
    let file = place_parts.next().unwrap_or_default().to_string();
    assert!(!phrase.is_empty(), "{name}: EXPECT needs a key phrase");
    Case {
        name: name.to_string(),
        dir,
        code,
        file,
        line: line_no,
        column,
        phrase,
    }
}

/// The checked-in cases.
fn checked_in() -> Vec<Case> {
    let mut cases: Vec<Case> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .map(|dir| {
            let name = dir.file_name().unwrap().to_string_lossy().to_string();
            let expect = std::fs::read_to_string(dir.join("EXPECT"))
                .unwrap_or_else(|_| panic!("{name}: no EXPECT file"));
            parse_expect(&name, dir, &expect)
        })
        .collect();
    cases.sort_by(|a, b| a.name.cmp(&b.name));
    cases
}

const SERVER: &str = "apiVersion: mcpbox/v1\nkind: Server\nmetadata:\n  name: weather\nspec: {}\n";
const TOOL: &str = "apiVersion: mcpbox/v1\nkind: Tool\nmetadata:\n  name: forecast\n  server: weather\nspec:\n  codeFile: forecast.py\n";

/// Cases that cannot be checked in, written into `root`.
fn generated(root: &Path) -> Vec<Case> {
    let mut cases = Vec::new();
    let mut add = |name: &str, files: &[(&str, Vec<u8>)], expect: &str| {
        let dir = root.join(name);
        for (p, bytes) in files {
            let path = dir.join(p);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
        std::fs::create_dir_all(&dir).unwrap();
        cases.push(parse_expect(name, dir, expect));
    };
    // A manifest over the 1 MiB per-file limit.
    let mut big = SERVER.as_bytes().to_vec();
    big.extend(std::iter::repeat_n(b'#', 1 << 20));
    add(
        "file-too-large",
        &[("big.yaml", big)],
        "E009 big.yaml:1:1 larger than the 1 MiB limit",
    );
    // Tool code over MCPBox's 100,000 characters.
    let mut code = "async def main():\n    return 1\n".to_string();
    code.push_str(&"# padding\n".repeat(10_000));
    add(
        "code-too-large",
        &[
            ("server.yaml", SERVER.into()),
            ("forecast.yaml", TOOL.into()),
            ("forecast.py", code.into_bytes()),
        ],
        "E013 forecast.yaml:7:13 more than MCPBox's 100000",
    );
    // Invalid UTF-8 in a code file.
    add(
        "code-not-utf8",
        &[
            ("server.yaml", SERVER.into()),
            ("forecast.yaml", TOOL.into()),
            (
                "forecast.py",
                b"async def main():\n    return '\xff'\n".to_vec(),
            ),
        ],
        "E030 forecast.yaml:7:13 is not valid UTF-8",
    );
    cases
}

/// Symbolic links that leave the repository (manifest and codeFile).
#[cfg(unix)]
fn symlinks(root: &Path, outside: &Path) -> Vec<Case> {
    std::fs::write(outside.join("secret.yaml"), SERVER).unwrap();
    std::fs::write(outside.join("secret.py"), "async def main():\n    pass\n").unwrap();
    let a = root.join("manifest-symlink-outside");
    std::fs::create_dir_all(&a).unwrap();
    std::os::unix::fs::symlink(outside.join("secret.yaml"), a.join("server.yaml")).unwrap();
    let b = root.join("codefile-symlink-outside");
    std::fs::create_dir_all(&b).unwrap();
    std::fs::write(b.join("server.yaml"), SERVER).unwrap();
    std::fs::write(b.join("forecast.yaml"), TOOL).unwrap();
    std::os::unix::fs::symlink(outside.join("secret.py"), b.join("forecast.py")).unwrap();
    // Issue 9: a folder linked out of the repository was skipped silently, and
    // what it declared was planned as deleted.
    let c = root.join("folder-symlink-outside");
    std::fs::create_dir_all(&c).unwrap();
    std::fs::write(c.join("server.yaml"), SERVER).unwrap();
    std::os::unix::fs::symlink(outside, c.join("servers")).unwrap();
    // A folder linked to one that contains it.
    let d = root.join("folder-symlink-loop");
    std::fs::create_dir_all(d.join("nested")).unwrap();
    std::fs::write(d.join("server.yaml"), SERVER).unwrap();
    std::os::unix::fs::symlink("..", d.join("nested/up")).unwrap();
    // A file name that is not UTF-8 (and one with a newline, printed escaped).
    let e = root.join("file-name-not-utf8");
    std::fs::create_dir_all(&e).unwrap();
    std::fs::write(e.join("server.yaml"), SERVER).unwrap();
    {
        use std::os::unix::ffi::OsStrExt;
        let name = std::ffi::OsStr::from_bytes(b"bad\xff.yaml");
        std::fs::write(e.join(name), SERVER).unwrap();
    }
    vec![
        parse_expect(
            "manifest-symlink-outside",
            a,
            "E032 server.yaml:0:0 leads outside the repository",
        ),
        parse_expect(
            "codefile-symlink-outside",
            b,
            "E032 forecast.py:0:0 leads outside the repository",
        ),
        parse_expect(
            "folder-symlink-outside",
            c,
            "E032 servers:0:0 leads outside the repository",
        ),
        parse_expect(
            "folder-symlink-loop",
            d,
            "E032 nested/up:0:0 leads back into a folder that contains it",
        ),
        parse_expect(
            "file-name-not-utf8",
            e,
            "E033 bad\\xff.yaml:0:0 file name is not valid UTF-8",
        ),
    ]
}

fn all_cases(tmp: &Path) -> Vec<Case> {
    let generated_root = tmp.join("generated");
    let outside = tmp.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let mut cases = checked_in();
    cases.extend(generated(&generated_root));
    #[cfg(unix)]
    cases.extend(symlinks(&generated_root, &outside));
    cases
}

fn bin() -> Command {
    let mut cmd = Command::cargo_bin("mcpbox-gitops").unwrap();
    cmd.env_remove("DATABASE_URL").env("NO_COLOR", "1");
    cmd
}

#[test]
fn every_case_gives_its_diagnostic() {
    let tmp = tempfile::tempdir().unwrap();
    let cases = all_cases(tmp.path());
    assert!(cases.len() >= 40, "only {} corpus cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let files = FileSet::from_dir(&case.dir).unwrap();
        let diags = match mcpbox_gitops::desired::build(&files) {
            Ok(_) => {
                failures.push(format!("{}: accepted", case.name));
                continue;
            }
            Err(d) => d,
        };
        let first = &diags[0];
        let got = format!(
            "{} {}:{}:{}",
            first.code.id(),
            first.file,
            first.location.line,
            first.location.column
        );
        let want = format!("{} {}:{}:{}", case.code, case.file, case.line, case.column);
        if got != want || !first.message.contains(&case.phrase) {
            failures.push(format!(
                "{}: want {want} `{}`, got {got} `{}`",
                case.name, case.phrase, first.message
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn validate_exits_1_and_prints_the_diagnostic() {
    let tmp = tempfile::tempdir().unwrap();
    for case in all_cases(tmp.path()) {
        let out = bin().arg("validate").arg(&case.dir).output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{}", case.name);
        let text = String::from_utf8_lossy(&out.stdout).to_string()
            + &String::from_utf8_lossy(&out.stderr);
        // A problem with a file itself is placed by its path alone.
        let place = if case.line == 0 {
            format!("{}: ", case.file)
        } else {
            format!("{}:{}:{}", case.file, case.line, case.column)
        };
        assert!(
            text.contains(&case.code) && text.contains(&place),
            "{}: `{} {place}` not in\n{text}",
            case.name,
            case.code
        );
    }
}

/// Every row of every table of MCPBox and of ours, hashed per table.
async fn dump(pool: &PgPool) -> Vec<(String, String)> {
    let tables: Vec<(String, String)> = sqlx::query_as(
        "SELECT table_schema::text, table_name::text FROM information_schema.tables \
         WHERE table_schema IN ('public', 'mcpbox_gitops') AND table_type = 'BASE TABLE' \
         ORDER BY 1, 2",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut out = Vec::new();
    for (schema, table) in tables {
        let sql = format!(
            "SELECT coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') \
             FROM \"{schema}\".\"{table}\" t"
        );
        let hash: String = sqlx::query_scalar(&sql).fetch_one(pool).await.unwrap();
        out.push((format!("{schema}.{table}"), hash));
    }
    out
}

#[sqlx::test(migrations = false)]
async fn plan_and_apply_leave_the_database_untouched(pool: PgPool) {
    common::migrate(&pool).await;
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/homelab");
    common::apply(&pool, &FileSet::from_dir(&examples).unwrap()).await;
    let before = dump(&pool).await;
    assert!(before
        .iter()
        .any(|(t, h)| t == "public.tools" && !h.is_empty()));
    let url = common::url(&pool);
    let tmp = tempfile::tempdir().unwrap();
    for case in all_cases(tmp.path()) {
        for args in [
            &["plan"][..],
            &["apply", "--auto-approve", "--allow-destroy"][..],
        ] {
            let out = bin()
                .args(args)
                .arg(&case.dir)
                .env("DATABASE_URL", &url)
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(1), "{} {args:?}", case.name);
        }
    }
    assert_eq!(dump(&pool).await, before);
}

//! `harnex status`: live sessions of this repo (or `--repo`, or `--all`), as a table or JSON.

use std::io::Write;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::cli::StatusArgs;
use crate::error::Result;
use crate::live_status::{EntryStatus, Row, Source};
use crate::paths::{self, StateDir};
use crate::registry::{self, EntryHead};
use crate::wire::outputs::CorruptStatus;

pub fn run(args: StatusArgs) -> Result<i32> {
    let id = args.id.as_deref().map(paths::normalize_id).transpose()?;
    let state = StateDir::from_env()?;
    // The rows borrow their text from the files read here.
    let files = registry::read_files(&state);
    let scan: registry::Scan<EntryStatus> = registry::scan_files(&state, &files);
    let repo = match &args.repo {
        Some(repo) => paths::repo_root_of(repo),
        None => paths::current_repo_root()?,
    };
    let id_key = id.as_deref().map(paths::id_key);
    let of_id = |e: &EntryHead| id_key.as_ref().is_none_or(|k| paths::id_key(&e.id) == *k);
    let elsewhere = scan
        .live
        .iter()
        .filter(|e| e.head.repo_root != repo && of_id(&e.head))
        .count();
    let mut rows: Vec<Row> = scan
        .live
        .into_iter()
        .filter(|e| (args.all || e.head.repo_root == repo) && of_id(&e.head))
        .map(session_status)
        .collect();
    // Damaged entries are shown (never deleted): whose they are is in their file name.
    let repo_key = paths::repo_key(&repo);
    let damaged: Vec<Value> = scan
        .corrupt
        .iter()
        .filter(|c| args.all || c.slug().starts_with(&format!("{repo_key}--")))
        .filter(|c| {
            id_key
                .as_ref()
                .is_none_or(|k| c.slug().ends_with(&format!("--{k}")))
        })
        .map(corrupt_status)
        .collect();
    for row in &damaged {
        warn_corrupt(row);
    }
    rows.extend(damaged.iter().map(|row| -> Row { Row::of_value(row) }));
    // Asked for one session that is not live: a failure (exit 1), with where it may be instead.
    let missing = id.is_some() && rows.is_empty();
    if args.json {
        // One write: formatting through `println!` costs a write call per fragment.
        let out = if args.tree {
            serde_json::to_vec(&super::status_tree::nest(values_of(&rows)))
        } else {
            serde_json::to_vec(&rows)
        };
        let mut out = out.map_err(|e| crate::error::Error::failed(e.to_string()))?;
        out.push(b'\n');
        make_room_in_a_pipe(out.len());
        std::io::stdout()
            .lock()
            .write_all(&out)
            .map_err(|e| crate::error::Error::failed(format!("cannot write the status: {e}")))?;
        return Ok(if missing { 1 } else { 0 });
    }
    if rows.is_empty() && !missing {
        // Ruby's wording, on stdout, exit 0: an empty list is an answer, not an error.
        if args.all {
            println!("No active harnex sessions.");
        } else {
            println!("No active harnex sessions for {}.", repo.display());
        }
    }
    if rows.is_empty() {
        let scope = match &id {
            Some(id) => match registry::ended_hint(&state, &repo, id) {
                Some(ended) => ended,
                None => format!("no session {id:?} in {}", repo.display()),
            },
            None => format!("no sessions in {}", repo.display()),
        };
        if !args.all && elsewhere > 0 {
            crate::warn!(
                "{scope}; {elsewhere} live session(s) in other repos: use `harnex status --all`"
            );
        } else if missing {
            crate::warn!("{scope}");
        }
        return Ok(if missing { 1 } else { 0 });
    }
    let rows = values_of(&rows);
    if args.tree {
        print!("{}", super::status_tree::render(&rows));
    } else {
        print!("{}", table(&rows));
    }
    Ok(0)
}

/// When stdout is a pipe too small for `len` bytes (64 KiB by default; 50 sessions print about
/// 90 KB), grow it so the one write does not wait for the reader to drain it: waiting costs
/// two wakeups of each process per pipeful, a large share of a listing's time. Best effort: a
/// pipe that cannot grow (past `/proc/sys/fs/pipe-max-size`) is written as it is.
fn make_room_in_a_pipe(len: usize) {
    use std::os::fd::AsFd;
    let stdout = std::io::stdout();
    let fd = stdout.as_fd();
    let Ok(capacity) = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_GETPIPE_SZ) else {
        return; // not a pipe
    };
    if let Ok(capacity) = usize::try_from(capacity)
        && capacity < len
        && let Ok(wanted) = i32::try_from(len.next_power_of_two())
    {
        let _ = nix::fcntl::fcntl(fd, nix::fcntl::FcntlArg::F_SETPIPE_SZ(wanted));
    }
}

/// A status row for a registry entry that could not be read.
fn corrupt_status(entry: &registry::CorruptEntry) -> Value {
    let slug = entry.slug();
    let (repo_key, id_key) = slug.split_once("--").unwrap_or(("", slug.as_str()));
    crate::wire::to_value(&CorruptStatus {
        ok: false,
        id: id_key.to_string(),
        repo_key: repo_key.to_string(),
        agent_state: "corrupt".into(),
        registry_path: entry.path.clone(),
        error: entry.error.clone(),
        supervisor_alive: entry.supervisor_alive,
    })
}

fn warn_corrupt(row: &Value) {
    let path = row["registry_path"].as_str().unwrap_or("");
    let next = if row["supervisor_alive"] == true {
        "its supervisor is alive and rewrites it within seconds"
    } else {
        "no supervisor holds it: the next `harnex run` with that id replaces it, or delete the file"
    };
    let _ = writeln!(
        std::io::stderr(),
        "harnex: registry entry {path} is damaged ({}); {next}",
        row["error"].as_str().unwrap_or("unreadable")
    );
}

/// The status of a live session ([`crate::live_status::current`]) with what the registry
/// entry adds to it.
fn session_status(entry: EntryStatus<'_>) -> Row<'_> {
    let (head, mut row, source) = entry.into_status();
    // As the Ruby harnex's registry rows have them: scripts call the API with the token (it is
    // the user's own: the registry file is 0600, and so is what they redirect to). An entry
    // has them already.
    if source != Source::Entry {
        row.set("token", &head.token);
        row.set("cwd", &head.cwd);
    }
    row.set("registry_path", &head.file);
    for key in ["log_mtime", "log_idle_s"] {
        if !row.contains_key(key) {
            row.set(key, &());
        }
    }
    row
}

/// Rows as JSON values, for the table and the tree.
fn values_of(rows: &[Row]) -> Vec<Value> {
    rows.iter().map(Row::to_value).collect()
}

fn table(rows: &[Value]) -> String {
    let header = [
        "ID", "CLI", "PID", "PORT", "AGE", "IDLE", "STATE", "REPO", "DESC",
    ];
    let mut cells: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    for row in rows {
        let text = |key: &str| match &row[key] {
            Value::String(s) => s.clone(),
            Value::Null => "-".into(),
            other => other.to_string(),
        };
        let idle = match row["log_idle_s"].as_u64() {
            Some(secs) => format_age(Duration::from_secs(secs)),
            None => "-".into(),
        };
        let age = row["started_at"]
            .as_str()
            .and_then(crate::time::parse_rfc3339)
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .map(format_age)
            .unwrap_or_else(|| "-".into());
        cells.push(vec![
            text("id"),
            text("cli"),
            text("pid"),
            text("port"),
            age,
            idle,
            text("agent_state"),
            truncate_repo(&text("repo_root"), 20),
            truncate_end(&text("description"), 30),
        ]);
    }
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            cells
                .iter()
                .map(|r| r[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    // Ruby's dashed rule under the header.
    cells.insert(1, widths.iter().map(|w| "-".repeat(*w)).collect());
    let mut out = String::new();
    for row in &cells {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// `42s`, `5m`, `3h`, `2d`.
pub fn format_age(age: Duration) -> String {
    let secs = age.as_secs();
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m", secs / 60),
        3600..86400 => format!("{}h", secs / 3600),
        _ => format!("{}d", secs / 86400),
    }
}

/// Keep the end of a long path, prefixed `..`, within `max` characters.
pub fn truncate_repo(repo: &str, max: usize) -> String {
    let count = repo.chars().count();
    if count <= max {
        return repo.to_string();
    }
    let tail: String = repo.chars().skip(count - (max - 2)).collect();
    format!("..{tail}")
}

fn truncate_end(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let head: String = text.chars().take(max - 1).collect();
    format!("{head}…")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn repo_paths_are_shortened_from_the_left() {
        let short = truncate_repo("/home/someone/projects/harnex-rust", 20);
        assert_eq!(short.chars().count(), 20);
        assert!(short.starts_with(".."));
        assert!(short.ends_with("harnex-rust"));
        assert_eq!(truncate_repo("/r", 20), "/r");
    }

    #[test]
    fn ages_are_compact() {
        assert_eq!(format_age(Duration::from_secs(42)), "42s");
        assert_eq!(format_age(Duration::from_secs(300)), "5m");
        assert_eq!(format_age(Duration::from_secs(7200)), "2h");
        assert_eq!(format_age(Duration::from_secs(200_000)), "2d");
    }

    #[test]
    fn the_table_has_the_ruby_columns_and_dashes_for_nulls() {
        let rows = vec![json!({"id": "a", "cli": "bash", "pid": 1, "port": 43001,
            "log_idle_s": null, "agent_state": "prompt", "repo_root": "/r",
            "description": null, "started_at": "2026-01-01T00:00:00Z"})];
        let text = table(&rows);
        let mut lines = text.lines();
        let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
        assert_eq!(
            header,
            [
                "ID", "CLI", "PID", "PORT", "AGE", "IDLE", "STATE", "REPO", "DESC"
            ]
        );
        let rule = lines.next().unwrap();
        // As wide as each column: "PORT" under 43001, "AGE" under its value.
        assert!(rule.starts_with("--  ----  ---  -----  "), "{rule}");
        assert!(rule.chars().all(|c| c == '-' || c == ' '), "{rule}");
        let row = lines.next().unwrap();
        assert!(row.contains(" - "), "{row}");
        assert!(row.contains("prompt"));
    }
}

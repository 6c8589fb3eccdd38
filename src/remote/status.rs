//! `harnex status --remote HOST|GROUP|all`: each host's `status --json`, one ssh round trip per
//! host, all hosts at once; one table (or JSON array) with the host of each row. A host that
//! cannot be reached is reported (stderr, and a row with `ok: false` in JSON) and the others are
//! shown all the same.

use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::failure::{Outcome, RemoteError};
use super::hosts::{Host, HostsFile};
use super::runner::{self, Input, Output, Plumbing};
use super::shell::RemoteCall;
use super::ssh::Ssh;
use crate::cli::StatusArgs;
use crate::commands::status::{format_age, truncate_repo};
use crate::error::Result;

/// One host's answer.
enum HostAnswer {
    Rows(Vec<Value>),
    Failed(String, RemoteError),
    /// harnex ran there but did not answer with JSON (its stderr says why).
    Broken(String),
}

/// Run status remotely when `--remote` or `--id HOST:ID` asks for it.
pub fn dispatch(args: &StatusArgs) -> Result<Option<i32>> {
    let (name, id) = match (&args.remote.remote, &args.id) {
        (Some(name), id) => (name.clone(), id.clone()),
        (None, Some(id)) if id.contains(':') => {
            let hosts = HostsFile::load()?;
            match super::split_host_id(&hosts, id) {
                Some((host, rest)) => (host, Some(rest)),
                None => return Ok(None),
            }
        }
        _ => return Ok(None),
    };
    let hosts = HostsFile::load()?.resolve_many(&name)?;
    run(args, &hosts, id.as_deref()).map(Some)
}

fn run(args: &StatusArgs, hosts: &[Host], id: Option<&str>) -> Result<i32> {
    let ssh = Ssh::from_env()?;
    let call = RemoteCall {
        args: remote_args(args, id),
        dir: None,
        stream: false,
    };
    let answers: Vec<(String, HostAnswer)> = std::thread::scope(|scope| {
        let handles: Vec<_> = hosts
            .iter()
            .map(|host| {
                let (ssh, call) = (&ssh, &call);
                scope.spawn(move || (host.name.clone(), ask(ssh, host, call)))
            })
            .collect();
        handles
            .into_iter()
            .zip(hosts)
            .map(|(h, host)| {
                h.join().unwrap_or_else(|_| {
                    (
                        host.name.clone(),
                        HostAnswer::Broken("status thread panicked".into()),
                    )
                })
            })
            .collect()
    });
    let mut rows = Vec::new();
    let mut failures: Vec<(String, String, Option<RemoteError>)> = Vec::new();
    for (name, answer) in answers {
        match answer {
            HostAnswer::Rows(host_rows) => rows.extend(host_rows.into_iter().map(|mut r| {
                r["host"] = Value::from(name.as_str());
                r
            })),
            HostAnswer::Failed(message, e) => failures.push((name, message, Some(e))),
            HostAnswer::Broken(message) => failures.push((name, message, None)),
        }
    }
    for (name, message, _) in &failures {
        crate::warn!("harnex: {name}: {message}");
    }
    let answered = hosts.len() - failures.len();
    let missing = id.is_some() && rows.is_empty();
    if args.json {
        let mut out = rows;
        out.extend(failures.iter().map(|(name, message, e)| {
            serde_json::json!({
                "ok": false,
                "host": name,
                "agent_state": "host_unavailable",
                "error": message,
                "error_kind": e.as_ref().map_or("remote_failed", |e| e.kind()),
            })
        }));
        println!("{}", Value::Array(out));
    } else if args.tree {
        print!("{}", tree(&rows, hosts));
    } else if rows.is_empty() {
        if answered > 0 {
            println!(
                "No active harnex sessions on {}.",
                host_list(hosts, &failures)
            );
        }
    } else {
        print!("{}", table(&rows));
    }
    Ok(exit_code(hosts.len(), &failures, missing))
}

/// 0 when a host answered (the others are reported); when none did, the failure's own code (a
/// single host), else 1; 1 when one session was asked for and no host has it.
fn exit_code(
    asked: usize,
    failures: &[(String, String, Option<RemoteError>)],
    missing: bool,
) -> i32 {
    if failures.len() == asked {
        return match failures {
            [(_, _, Some(e))] => e.exit_code(),
            _ => 1,
        };
    }
    if missing { 1 } else { 0 }
}

fn host_list(hosts: &[Host], failures: &[(String, String, Option<RemoteError>)]) -> String {
    let names: Vec<&str> = hosts
        .iter()
        .map(|h| h.name.as_str())
        .filter(|n| !failures.iter().any(|(f, _, _)| f == n))
        .collect();
    names.join(", ")
}

/// `status --json` with the user's scope; the tree is drawn here, from the flat rows.
fn remote_args(args: &StatusArgs, id: Option<&str>) -> Vec<String> {
    let mut out = vec!["status".to_string(), "--json".to_string()];
    // There is no current repo on the other side (ssh starts in the home directory): every
    // repository's sessions, unless --repo names one.
    match &args.repo {
        Some(repo) => {
            out.push("--repo".into());
            out.push(repo.to_string_lossy().into_owned());
        }
        None => out.push("--all".into()),
    }
    if let Some(id) = id {
        out.push("--id".into());
        out.push(id.to_string());
    }
    out
}

fn ask(ssh: &Ssh, host: &Host, call: &RemoteCall) -> HostAnswer {
    let plumbing = Plumbing {
        output: Output::Capture,
        input: Input::Null,
        relay_stderr: false,
    };
    let finished = match runner::run(ssh, host, call, "status", plumbing) {
        Ok(f) => f,
        Err(e) => return HostAnswer::Broken(e.to_string()),
    };
    if let Outcome::Failed(e) = finished.outcome {
        return HostAnswer::Failed(e.to_string(), e);
    }
    match serde_json::from_slice::<Value>(&finished.stdout) {
        Ok(Value::Array(rows)) => HostAnswer::Rows(rows),
        _ => {
            let said = finished
                .stderr
                .iter()
                .rev()
                .find(|l| !l.trim().is_empty())
                .cloned()
                .unwrap_or_else(|| "no output".into());
            HostAnswer::Broken(format!("harnex status there gave no JSON ({said})"))
        }
    }
}

fn tree(rows: &[Value], hosts: &[Host]) -> String {
    let mut out = String::new();
    for host in hosts {
        let mine: Vec<Value> = rows
            .iter()
            .filter(|r| r["host"] == host.name.as_str())
            .cloned()
            .collect();
        if mine.is_empty() {
            continue;
        }
        out.push_str(&format!("{}:\n", host.name));
        for line in crate::commands::status_tree::render(&mine).lines() {
            out.push_str(&format!("  {line}\n"));
        }
    }
    out
}

fn table(rows: &[Value]) -> String {
    let header = [
        "HOST", "ID", "CLI", "PID", "PORT", "AGE", "IDLE", "STATE", "REPO", "DESC",
    ];
    let mut cells: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    for row in rows {
        let text = |key: &str| match &row[key] {
            Value::String(s) => s.clone(),
            Value::Null => "-".into(),
            other => other.to_string(),
        };
        let idle = row["log_idle_s"]
            .as_u64()
            .map_or("-".into(), |s| format_age(Duration::from_secs(s)));
        let age = row["started_at"]
            .as_str()
            .and_then(crate::time::parse_rfc3339)
            .and_then(|t| SystemTime::now().duration_since(t).ok())
            .map_or("-".into(), format_age);
        let desc: String = text("description").chars().take(30).collect();
        cells.push(vec![
            text("host"),
            text("id"),
            text("cli"),
            text("pid"),
            text("port"),
            age,
            idle,
            text("agent_state"),
            truncate_repo(&text("repo_root"), 20),
            desc,
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_table_leads_with_the_host() {
        let rows = vec![
            json!({"host": "b1", "id": "a", "cli": "bash", "pid": 1, "port": 43001,
            "agent_state": "prompt", "repo_root": "/r", "started_at": "2026-01-01T00:00:00Z"}),
        ];
        let text = table(&rows);
        let header: Vec<&str> = text.lines().next().unwrap().split_whitespace().collect();
        assert_eq!(header[..2], ["HOST", "ID"]);
        assert!(text.lines().nth(2).unwrap().starts_with("b1  "), "{text}");
    }

    #[test]
    fn one_host_down_does_not_fail_the_others() {
        let down = RemoteError::Unreachable {
            host: "b2".into(),
            detail: "Connection refused".into(),
        };
        let failures = vec![("b2".to_string(), down.to_string(), Some(down))];
        assert_eq!(exit_code(2, &failures, false), 0);
        assert_eq!(exit_code(1, &failures, false), 69);
        assert_eq!(exit_code(2, &[], true), 1);
    }
}

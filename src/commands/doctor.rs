//! `harnex doctor [--json]`: is this machine ready? The state directory is required; tmux, git
//! and the agent CLIs are reported with their versions and whether harnex was tested with them.

use std::process::Command;

use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::paths::StateDir;

/// Agent CLIs harnex knows: the oldest version it takes (Codex: the Ruby harnex's floor; Claude
/// Code: the 2.x screens the adapter reads). The versions tested come from the adapters' rule
/// files.
const AGENTS: [Agent; 2] = [
    Agent {
        name: "codex",
        minimum: "0.128.0",
    },
    Agent {
        name: "claude",
        minimum: "2.0.0",
    },
];

struct Agent {
    name: &'static str,
    minimum: &'static str,
}

/// One row of the report. JSON: `{name, required, ok, found?, error?}` as the Ruby harnex's
/// doctor writes it, plus `detail` and the check's own fields.
struct Check {
    name: &'static str,
    /// What the check needs: `">= 0.128.0"` for an agent CLI (Ruby's form), else a word.
    required: String,
    /// Whether a failure of this check fails `doctor` (exit 1).
    fatal: bool,
    ok: bool,
    found: Option<String>,
    error: Option<String>,
    detail: String,
    extra: Value,
}

/// The first `x.y.z` in a `--version` line.
pub fn parse_version(text: &str) -> Option<String> {
    let re = regex::Regex::new(r"\d+\.\d+\.\d+").expect("valid version regex");
    re.find(text).map(|m| m.as_str().to_string())
}

fn version_of(program: &str, flag: &str) -> Option<String> {
    crate::program::answer_of(Command::new(program).arg(flag))
}

fn state_dir_check() -> Check {
    let result = StateDir::from_env().and_then(|state| {
        state.ensure()?;
        Ok(state)
    });
    match result {
        Ok(state) => Check {
            name: "state-dir",
            required: "private, writable".into(),
            fatal: true,
            ok: true,
            found: Some(state.root().display().to_string()),
            error: None,
            detail: format!("{} (private, writable)", state.root().display()),
            extra: json!({"path": state.root()}),
        },
        Err(e) => Check {
            name: "state-dir",
            required: "private, writable".into(),
            fatal: true,
            ok: false,
            found: None,
            error: Some(e.to_string()),
            detail: e.to_string(),
            extra: json!({}),
        },
    }
}

fn tool_check(name: &'static str, flag: &str, purpose: &str) -> Check {
    match version_of(name, flag) {
        Some(line) => Check {
            name,
            required: "optional".into(),
            fatal: false,
            ok: true,
            found: Some(line.clone()),
            error: None,
            detail: line.clone(),
            extra: json!({"version": parse_version(&line)}),
        },
        None => Check {
            name,
            required: "optional".into(),
            fatal: false,
            ok: false,
            found: None,
            error: Some(format!("not found on PATH ({purpose})")),
            detail: format!("not found on PATH ({purpose})"),
            extra: json!({}),
        },
    }
}

/// An agent CLI: missing is reported (you may not use that agent); older than its minimum
/// fails `doctor`, as the Ruby harnex's does for Codex.
fn agent_check(agent: &Agent) -> Check {
    let Agent { name, minimum } = *agent;
    let tested_versions = super::doctor_adapters::tested_versions(name);
    let tested = tested_versions.first().map_or("none", String::as_str);
    let required = format!(">= {minimum}");
    let Some(line) = version_of(name, "--version") else {
        let error = format!("not found on PATH (install it to run `harnex run {name}`)");
        return Check {
            name,
            required,
            fatal: false,
            ok: false,
            found: None,
            error: Some(error.clone()),
            detail: error,
            extra: json!({"tested_version": tested, "tested_versions": tested_versions}),
        };
    };
    let version = parse_version(&line);
    let is_tested = version
        .as_deref()
        .is_some_and(|v| tested_versions.iter().any(|t| t == v));
    let too_old = version
        .as_deref()
        .is_some_and(|v| version_key(v) < version_key(minimum));
    let path = crate::session::pty::find_program(name);
    let error = too_old.then(|| {
        format!("{line} is older than {minimum}, the oldest harnex takes: upgrade {name}")
    });
    Check {
        name,
        required,
        fatal: too_old,
        ok: !too_old,
        found: version.clone().or(Some(line.clone())),
        detail: match (&error, is_tested) {
            (Some(error), _) => error.clone(),
            (None, true) => format!("{line} (tested with harnex)"),
            (None, false) => format!(
                "{line} (harnex is tested with {}; screens may differ)",
                tested_versions.join(", ")
            ),
        },
        error,
        extra: json!({"version_line": line, "version": version, "path": path, "tested_version": tested, "tested_versions": tested_versions, "tested": is_tested}),
    }
}

/// `1.2.3` → (1, 2, 3), for comparing versions.
fn version_key(version: &str) -> Vec<u64> {
    version.split('.').map(|p| p.parse().unwrap_or(0)).collect()
}

pub fn run(as_json: bool) -> Result<i32> {
    let mut checks = vec![
        state_dir_check(),
        tool_check(
            "tmux",
            "-V",
            "needed for `run --tmux` and `pane` on tmux sessions",
        ),
        tool_check("git", "--version", "needed for git telemetry"),
    ];
    checks.extend(AGENTS.iter().map(agent_check));
    let ok = checks.iter().all(|c| c.ok || !c.fatal);
    if as_json {
        let rows: Vec<Value> = checks
            .iter()
            .map(|c| {
                let mut row =
                    json!({"name": c.name, "required": c.required, "ok": c.ok, "detail": c.detail});
                if let Value::Object(fields) = &mut row {
                    if let Some(found) = &c.found {
                        fields.insert("found".into(), Value::from(found.as_str()));
                    }
                    if let Some(error) = &c.error {
                        fields.insert("error".into(), Value::from(error.as_str()));
                    }
                    if let Value::Object(extra) = &c.extra {
                        fields.extend(extra.clone());
                    }
                }
                row
            })
            .collect();
        let adapters = super::doctor_adapters::json_rows();
        println!(
            "{}",
            json!({"ok": ok, "checks": rows, "adapters": adapters})
        );
    } else {
        for check in &checks {
            let mark = match (check.ok, check.fatal) {
                (true, _) => "ok  ",
                (false, true) => "FAIL",
                (false, false) => "warn",
            };
            println!("{mark}  {:<9}  {}", check.name, check.detail);
        }
        for line in super::doctor_adapters::text_lines() {
            println!("{line}");
        }
    }
    if ok {
        Ok(0)
    } else {
        if !as_json {
            crate::warn!("harnex doctor: a required check failed (see FAIL above)");
        }
        Err(Error::Exit(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_parsed_from_version_lines() {
        assert_eq!(
            parse_version("codex-cli 0.128.0").as_deref(),
            Some("0.128.0")
        );
        assert_eq!(
            parse_version("2.1.328 (Claude Code)").as_deref(),
            Some("2.1.328")
        );
        assert_eq!(parse_version("garbage"), None);
    }

    #[test]
    fn versions_compare_by_number() {
        assert!(version_key("0.99.0") < version_key("0.128.0"));
        assert!(version_key("0.169.0") >= version_key("0.128.0"));
        assert!(version_key("2.1.328") > version_key("2.0.0"));
    }
}

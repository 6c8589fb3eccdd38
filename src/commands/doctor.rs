//! `harnex doctor [--json]`: is this machine ready? The state directory is required; tmux, git
//! and the agent CLIs are reported with their versions and whether harnex was tested with them.

use std::process::Command;

use serde_json::{Value, json};

use crate::error::{Error, Result};
use crate::paths::StateDir;

/// Agent CLIs harnex knows, with the versions its end-to-end tests pin.
const AGENTS: [(&str, &str); 2] = [("codex", "0.169.0"), ("claude", "2.1.328")];

struct Check {
    name: &'static str,
    required: bool,
    ok: bool,
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
            required: true,
            ok: true,
            detail: format!("{} (private, writable)", state.root().display()),
            extra: json!({"path": state.root()}),
        },
        Err(e) => Check {
            name: "state-dir",
            required: true,
            ok: false,
            detail: e.to_string(),
            extra: json!({}),
        },
    }
}

fn tool_check(name: &'static str, flag: &str, purpose: &str) -> Check {
    match version_of(name, flag) {
        Some(line) => Check {
            name,
            required: false,
            ok: true,
            detail: line.clone(),
            extra: json!({"found": line, "version": parse_version(&line)}),
        },
        None => Check {
            name,
            required: false,
            ok: false,
            detail: format!("not found on PATH ({purpose})"),
            extra: json!({}),
        },
    }
}

fn agent_check(name: &'static str, tested: &str) -> Check {
    let Some(line) = version_of(name, "--version") else {
        return Check {
            name,
            required: false,
            ok: false,
            detail: format!("not found on PATH (install it to run `harnex run {name}`)"),
            extra: json!({"tested_version": tested}),
        };
    };
    let version = parse_version(&line);
    let is_tested = version.as_deref() == Some(tested);
    let path = crate::session::pty::find_program(name);
    Check {
        name,
        required: false,
        ok: true,
        detail: if is_tested {
            format!("{line} (tested with harnex)")
        } else {
            format!("{line} (harnex is tested with {tested}; screens may differ)")
        },
        extra: json!({"found": line, "version": version, "path": path, "tested_version": tested, "tested": is_tested}),
    }
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
    checks.extend(
        AGENTS
            .iter()
            .map(|(name, tested)| agent_check(name, tested)),
    );
    let ok = checks.iter().all(|c| c.ok || !c.required);
    if as_json {
        let rows: Vec<Value> = checks
            .iter()
            .map(|c| {
                let mut row =
                    json!({"name": c.name, "required": c.required, "ok": c.ok, "detail": c.detail});
                if let (Value::Object(row), Value::Object(extra)) = (&mut row, &c.extra) {
                    row.extend(extra.clone());
                }
                row
            })
            .collect();
        println!("{}", json!({"ok": ok, "checks": rows}));
    } else {
        for check in &checks {
            let mark = match (check.ok, check.required) {
                (true, _) => "ok  ",
                (false, true) => "FAIL",
                (false, false) => "warn",
            };
            println!("{mark}  {:<9}  {}", check.name, check.detail);
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
}

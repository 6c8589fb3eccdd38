//! The dispatch summary: one JSON line per session (`meta`, `predicted`, `actual`, as in the Ruby
//! harnex), appended to `--summary-out` or `<repo>/koder/DISPATCH.jsonl` when `koder/` exists.
//! Secrets are masked before the line is written.

use std::io::Write;
use std::path::Path;
use std::time::SystemTime;

use serde_json::{Map, Value, json};

use super::git::{GitEnd, GitStart};
use crate::vocab::ExitSummary;

/// `--meta` keys copied into the summary's `meta` block.
const META_PASSTHROUGH: [&str; 9] = [
    "orchestrator",
    "orchestrator_session",
    "chain_id",
    "parent_dispatch_id",
    "tier",
    "phase",
    "issue",
    "plan",
    "task_brief",
];

/// Everything the record is made from.
pub struct Facts<'a> {
    pub id: &'a str,
    pub session_id: &'a str,
    pub description: Option<&'a str>,
    pub agent: &'a str,
    pub repo: &'a Path,
    pub started_at: SystemTime,
    pub ended_at: SystemTime,
    pub meta: Option<&'a Map<String, Value>>,
    pub git_start: Option<&'a GitStart>,
    pub git_end: Option<&'a GitEnd>,
    pub usage: &'a ExitSummary,
    pub exit: &'a str,
    /// Counts of `log_idle`, `resume`, `compaction` events of this run.
    pub stalls: u64,
    pub force_resumes: u64,
    pub compactions: u64,
}

fn hostname() -> Option<String> {
    nix::unistd::gethostname()
        .ok()
        .map(|h| h.to_string_lossy().into_owned())
}

pub fn build(facts: &Facts<'_>) -> Value {
    let meta_in = facts.meta.cloned().unwrap_or_default();
    let from_meta = |key: &str| meta_in.get(key).cloned().unwrap_or(Value::Null);
    let mut meta = json!({
        "id": facts.id,
        "session_id": facts.session_id,
        "tmux_session": facts.id,
        "description": facts.description,
        "started_at": crate::time::rfc3339(facts.started_at),
        "ended_at": crate::time::rfc3339(facts.ended_at),
        "harness": "harnex",
        "harness_version": env!("CARGO_PKG_VERSION"),
        "agent": facts.agent,
        "agent_version": null,
        "agent_provider": null,
        "agent_deployment": null,
        "host": hostname(),
        "platform": format!("{}-{}", std::env::consts::ARCH, std::env::consts::OS),
        "repo": facts.repo,
        "branch": facts.git_start.map(|g| g.branch.clone()),
        "start_sha": facts.git_start.map(|g| g.sha.clone()),
        "end_sha": facts.git_end.map(|g| g.sha.clone()),
    });
    for key in META_PASSTHROUGH {
        meta[key] = from_meta(key);
    }
    let predicted = match meta_in.get("predicted") {
        Some(Value::Object(p)) => Value::Object(p.clone()),
        _ => json!({}),
    };
    let duration = facts
        .ended_at
        .duration_since(facts.started_at)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let git = |f: fn(&GitEnd) -> u64| facts.git_end.map(f);
    let disconnections = u64::from(matches!(facts.exit, "disconnected" | "boot_failure"));
    let actual = json!({
        "model": from_meta("model"),
        "effort": from_meta("effort"),
        "duration_s": duration,
        "input_tokens": facts.usage.input_tokens,
        "output_tokens": facts.usage.output_tokens,
        "reasoning_tokens": facts.usage.reasoning_tokens,
        "cached_tokens": facts.usage.cached_tokens,
        "total_tokens": facts.usage.total_tokens,
        "agent_session_id": facts.usage.agent_session_id,
        "cost_usd": null,
        "loc_added": git(|g| g.loc_added),
        "loc_removed": git(|g| g.loc_removed),
        "files_changed": git(|g| g.files_changed),
        "commits": git(|g| g.commits),
        "exit": facts.exit,
        "stalls": facts.stalls,
        "force_resumes": facts.force_resumes,
        "disconnections": disconnections,
        "compactions": facts.compactions,
        "tests_run": null,
        "tests_passed": null,
        "tests_failed": null,
    });
    let mut record = json!({"meta": meta, "predicted": predicted, "actual": actual});
    crate::redact::redact_value(&mut record);
    record
}

/// Append the record as one line (creating the file 0600 and its directory if needed).
pub fn append(path: &Path, record: &Value) -> std::io::Result<()> {
    if let Some(dir) = path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    let mut line = record.to_string();
    line.push('\n');
    file.write_all(line.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_record_has_meta_predicted_and_actual() {
        let meta: Map<String, Value> = serde_json::from_value(json!({
            "issue": "23", "plan": "p1", "model": "o3", "effort": "high",
            "predicted": {"duration_s": 600},
            "task_brief": "use key sk-abcdefghijklmnop1234"
        }))
        .unwrap();
        let usage = ExitSummary {
            input_tokens: Some(10),
            ..ExitSummary::default()
        };
        let started = SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000);
        let record = build(&Facts {
            id: "w1",
            session_id: "abc",
            description: Some("demo"),
            agent: "codex",
            repo: Path::new("/repo"),
            started_at: started,
            ended_at: started + std::time::Duration::from_secs(42),
            meta: Some(&meta),
            git_start: None,
            git_end: None,
            usage: &usage,
            exit: "success",
            stalls: 1,
            force_resumes: 2,
            compactions: 0,
        });
        assert_eq!(record["meta"]["harness"], "harnex");
        assert_eq!(record["meta"]["issue"], "23");
        assert_eq!(record["meta"]["agent"], "codex");
        assert_eq!(record["predicted"]["duration_s"], 600);
        assert_eq!(record["actual"]["model"], "o3");
        assert_eq!(record["actual"]["duration_s"], 42);
        assert_eq!(record["actual"]["input_tokens"], 10);
        assert_eq!(record["actual"]["cost_usd"], Value::Null);
        assert_eq!(record["actual"]["force_resumes"], 2);
        assert_eq!(record["actual"]["disconnections"], 0);
        assert_eq!(record["meta"]["task_brief"], "use key sk-[redacted]");
    }
}

//! Token usage of a Claude Code session, summed from its transcript JSONL
//! (`<config dir>/projects/<cwd with non-alphanumerics as ->/<session uuid>.jsonl`). Codex prints
//! its usage at exit; its adapter parses that line.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::vocab::ExitSummary;

/// Claude's config dir: `$CLAUDE_CONFIG_DIR`, else `~/.claude`.
pub(super) fn claude_config_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("CLAUDE_CONFIG_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".claude"))
}

/// Claude names a project's folder after its cwd with every non-alphanumeric character as `-`.
pub(super) fn claude_project_dir_name(cwd: &Path) -> String {
    cwd.to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// The session transcript: in the cwd's project folder, else wherever that uuid is.
fn find_transcript(config_dir: &Path, cwd: &Path, session: &str) -> Option<PathBuf> {
    let projects = config_dir.join("projects");
    let name = format!("{session}.jsonl");
    let direct = projects.join(claude_project_dir_name(cwd)).join(&name);
    if direct.is_file() {
        return Some(direct);
    }
    std::fs::read_dir(&projects)
        .ok()?
        .flatten()
        .map(|entry| entry.path().join(&name))
        .find(|path| path.is_file())
}

/// Sum `message.usage` over the assistant rows of a Claude session (a message logged in several
/// rows, one per content block, counts once).
pub(super) fn claude_usage(config_dir: &Path, cwd: &Path, session: &str) -> Option<ExitSummary> {
    let path = find_transcript(config_dir, cwd, session)?;
    let text = std::fs::read_to_string(path).ok()?;
    let mut by_message: HashMap<String, Value> = HashMap::new();
    for (n, line) in text.lines().enumerate() {
        let Ok(row) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if row["type"] != "assistant" || !row["message"]["usage"].is_object() {
            continue;
        }
        let id = row["message"]["id"]
            .as_str()
            .map_or_else(|| format!("row-{n}"), str::to_string);
        by_message.insert(id, row["message"]["usage"].clone());
    }
    if by_message.is_empty() {
        return None;
    }
    let sum = |field: &str| -> u64 { by_message.values().filter_map(|u| u[field].as_u64()).sum() };
    let input = sum("input_tokens") + sum("cache_creation_input_tokens");
    let output = sum("output_tokens");
    Some(ExitSummary {
        input_tokens: Some(input),
        output_tokens: Some(output),
        reasoning_tokens: None,
        cached_tokens: Some(sum("cache_read_input_tokens")),
        // Like Codex's total: fresh input plus output, cached input shown apart.
        total_tokens: Some(input + output),
        agent_session_id: Some(session.to_string()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn project_folders_replace_every_non_alphanumeric() {
        assert_eq!(
            claude_project_dir_name(Path::new("/tmp/labrun.XFYE/repo")),
            "-tmp-labrun-XFYE-repo"
        );
    }

    #[test]
    fn usage_is_summed_once_per_message() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = Path::new("/srv/demo");
        let project = dir
            .path()
            .join("projects")
            .join(claude_project_dir_name(cwd));
        std::fs::create_dir_all(&project).unwrap();
        let usage = r#"{"input_tokens":1034,"cache_read_input_tokens":200,"cache_creation_input_tokens":0,"output_tokens":56}"#;
        let rows = [
            r#"{"type":"user","message":{"content":"hi"}}"#.to_string(),
            format!(r#"{{"type":"assistant","message":{{"id":"m1","usage":{usage}}}}}"#),
            format!(r#"{{"type":"assistant","message":{{"id":"m1","usage":{usage}}}}}"#),
            format!(r#"{{"type":"assistant","message":{{"id":"m2","usage":{usage}}}}}"#),
        ];
        std::fs::write(project.join("abc.jsonl"), rows.join("\n")).unwrap();
        let summary = claude_usage(dir.path(), cwd, "abc").unwrap();
        assert_eq!(summary.input_tokens, Some(2068));
        assert_eq!(summary.cached_tokens, Some(400));
        assert_eq!(summary.output_tokens, Some(112));
        assert_eq!(summary.total_tokens, Some(2180));
        assert!(claude_usage(dir.path(), cwd, "missing").is_none());
    }
}

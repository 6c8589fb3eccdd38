//! Hooks for this session alone: a run of Claude Code gets `--settings <file>` registering
//! `Stop`, `StopFailure`, `SubagentStart` and `SubagentStop` hooks that hand each call to
//! `harnex hook-relay`, which appends it to a file the supervisor follows. The user's own
//! settings are not touched (Claude merges the file over them), and a hook that fails or never
//! fires changes nothing: the transcript says the same a moment later.

use std::path::Path;

use serde_json::{Value, json};

use crate::paths::{SessionKey, StateDir};
use crate::record_files::RecordsPlan;

/// The hook events registered.
const EVENTS: [&str; 4] = ["Stop", "StopFailure", "SubagentStart", "SubagentStop"];

/// Register the hooks for a Claude run (not when the run brings its own `--settings`, which
/// Claude would take instead of ours). Nothing is registered when harnex cannot name itself or
/// write the file: the records alone still tell every turn's end.
pub fn register(
    argv: &mut Vec<String>,
    records: &mut RecordsPlan,
    state: &StateDir,
    key: &SessionKey,
) {
    let RecordsPlan::ClaudeTranscript { hooks, .. } = records else {
        return;
    };
    if argv
        .iter()
        .any(|a| a == "--settings" || a.starts_with("--settings="))
    {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    let (settings, relay) = state.hook_paths(key);
    let written = crate::paths::ensure_private_dir(settings.parent().unwrap_or(state.root()))
        .and_then(|()| crate::paths::write_atomic(&relay, b""))
        .and_then(|()| crate::paths::write_atomic(&settings, &settings_json(&exe, &relay)));
    if let Err(e) = written {
        crate::warn!(
            "harnex: cannot register the agent's hooks ({e}); reading its transcript alone"
        );
        return;
    }
    argv.push("--settings".into());
    argv.push(settings.display().to_string());
    *hooks = Some(relay);
}

/// The settings document: each event runs `'<harnex>' hook-relay '<relay file>'`.
fn settings_json(exe: &Path, relay: &Path) -> Vec<u8> {
    let command = format!(
        "{} hook-relay {}",
        shell_quote(&exe.display().to_string()),
        shell_quote(&relay.display().to_string())
    );
    let hook = json!([{"hooks": [{"type": "command", "command": command, "timeout": 10}]}]);
    let hooks: serde_json::Map<String, Value> = EVENTS
        .iter()
        .map(|event| (event.to_string(), hook.clone()))
        .collect();
    serde_json::to_vec_pretty(&json!({ "hooks": hooks })).unwrap_or_default()
}

/// `text` as one word for `sh`.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claude_run_gets_settings_with_the_relay_and_a_run_with_its_own_keeps_them() {
        let root = tempfile::tempdir().unwrap();
        let state = StateDir::at(root.path().join("state"));
        state.ensure().unwrap();
        let key = SessionKey::new("/repo".into(), "cl");
        let plan = || RecordsPlan::ClaudeTranscript {
            projects_dir: "/p".into(),
            agent_session_id: "0b7c3f4e-1d2a-4b5c-8d9e-0f1a2b3c4d5e".into(),
            hooks: None,
        };
        let mut argv = vec!["claude".to_string()];
        let mut records = plan();
        register(&mut argv, &mut records, &state, &key);
        let RecordsPlan::ClaudeTranscript {
            hooks: Some(relay), ..
        } = &records
        else {
            panic!("{records:?}");
        };
        assert_eq!(argv[1], "--settings");
        let settings: Value = serde_json::from_slice(&std::fs::read(&argv[2]).unwrap()).unwrap();
        let command = settings["hooks"]["Stop"][0]["hooks"][0]["command"]
            .as_str()
            .unwrap();
        assert!(command.contains("hook-relay") && command.contains(&*relay.to_string_lossy()));
        assert!(settings["hooks"]["StopFailure"].is_array());

        let mut own = vec!["claude".to_string(), "--settings=mine.json".to_string()];
        let mut records = plan();
        register(&mut own, &mut records, &state, &key);
        assert_eq!(own.len(), 2);
        assert!(matches!(
            records,
            RecordsPlan::ClaudeTranscript { hooks: None, .. }
        ));
    }

    #[test]
    fn quoting_survives_quotes() {
        assert_eq!(shell_quote("/a b/it's"), r"'/a b/it'\''s'");
    }
}

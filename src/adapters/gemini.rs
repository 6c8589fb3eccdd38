//! Gemini CLI (tested with 0.61.0).
//!
//! What harnex reads off its screen, its keys and delays are data: `rules/gemini.toml` (the screen
//! facts are written down there). This module is what cannot be data: the arguments, the
//! agent's own records.

use super::Adapter;

pub struct Gemini;

impl Adapter for Gemini {
    fn name(&self) -> &'static str {
        "gemini"
    }

    /// Gemini CLI takes a `CI` variable (CI runners set one) to mean "not interactive": it then
    /// wants its prompt on stdin and exits 42. Under harnex it always has a terminal.
    fn agent_env(&self) -> &'static [(&'static str, &'static str)] {
        &[("CI", "false")]
    }

    /// Gemini takes `--session-id <uuid>` for a new session, and its chat file's name and first
    /// row carry that id: the file is known before the spawn.
    fn records_plan(
        &self,
        argv: &mut Vec<String>,
        env: &dyn Fn(&str) -> Option<String>,
        _cwd: &std::path::Path,
    ) -> crate::record_files::RecordsPlan {
        use super::argv::{Spelling, has_flag, named_or_fresh_uuid};
        use crate::record_files::RecordsPlan;
        let home = env("GEMINI_CLI_HOME")
            .filter(|h| !h.is_empty())
            .or_else(|| env("HOME"))
            .unwrap_or_default();
        let tmp_dir = std::path::PathBuf::from(home).join(".gemini").join("tmp");
        if has_flag(argv, &["--resume", "-r", "--session-file"]) {
            return RecordsPlan::unavailable(
                "started with --resume or --session-file: Gemini picks the chat file itself",
            );
        }
        let agent_session_id =
            match named_or_fresh_uuid(argv, &["--session-id"], Spelling::Separate) {
                Ok(id) => id,
                Err(why) => return RecordsPlan::unavailable(why),
            };
        RecordsPlan::GeminiChat {
            tmp_dir,
            agent_session_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::{Observation, ScreenView};

    const BOX: [&str; 3] = [
        " Shift+Tab to accept edits",
        "",
        " >   Type your message or @path/to/file",
    ];

    #[test]
    fn the_input_box_is_a_prompt_settled_only_once_gemini_has_initialised() {
        let mut rows = vec![" ▝▜▄     Gemini CLI v0.61.0", ""];
        rows.extend(BOX);
        let ready = Gemini.classify(&ScreenView::for_test(&rows, (4, 3), "◇  Ready (repo)"));
        assert_eq!(ready.observation, Observation::Prompt);
        assert!(ready.settled);
        // Before the banner Gemini still initialises: prompts typed now are queued.
        let early = Gemini.classify(&ScreenView::for_test(&BOX, (2, 3), "◇  Ready (repo)"));
        assert_eq!(early.observation, Observation::Prompt);
        assert!(!early.settled);
        assert!(early.tentative, "the trust dialog may still replace it");
    }

    #[test]
    fn a_queued_message_and_the_working_title_are_busy_though_the_box_is_drawn() {
        let mut rows = vec!["  Queued (press ↑ to edit):", "    Say hi", ""];
        rows.extend(BOX);
        let queued = Gemini.classify(&ScreenView::for_test(&rows, (5, 3), "◇  Ready (repo)"));
        assert_eq!(
            (queued.observation, queued.rule.as_str()),
            (Observation::Busy, "gemini.queued")
        );
        let working = Gemini.classify(&ScreenView::for_test(&BOX, (2, 3), "✦  Working… (repo)"));
        assert_eq!(working.observation, Observation::Busy);
    }

    #[test]
    fn the_initialising_notice_above_the_box_is_busy_until_the_message_shows() {
        let mut rows = vec![
            " ▝▜▄     Gemini CLI v0.61.0",
            "ℹ Initializing... Prompts will be queued.",
            "",
            "                                  ? for shortcuts",
            "──────────────",
        ];
        rows.extend(BOX);
        let waiting = Gemini.classify(&ScreenView::for_test(&rows, (7, 3), "◇  Ready (repo)"));
        assert_eq!(waiting.rule, "gemini.initializing");
        assert_eq!(waiting.observation, Observation::Busy);
        rows.insert(2, " > Say hi");
        rows.insert(3, "✦ Hello.");
        let done = Gemini.classify(&ScreenView::for_test(&rows, (9, 3), "◇  Ready (repo)"));
        assert_eq!(done.observation, Observation::Prompt);
        assert!(done.settled);
    }

    #[test]
    fn the_records_are_bound_by_a_session_id_harnex_picks() {
        use crate::record_files::RecordsPlan;
        let env = |key: &str| (key == "HOME").then(|| "/h".to_string());
        let cwd = std::path::Path::new("/repo");
        let mut argv = vec!["gemini".to_string()];
        let RecordsPlan::GeminiChat {
            tmp_dir,
            agent_session_id,
        } = Gemini.records_plan(&mut argv, &env, cwd)
        else {
            panic!("{argv:?}")
        };
        assert_eq!(tmp_dir, std::path::Path::new("/h/.gemini/tmp"));
        assert_eq!(argv[1..], ["--session-id".to_string(), agent_session_id]);
        let mut resumed = vec!["gemini".to_string(), "--resume=latest".to_string()];
        assert!(matches!(
            Gemini.records_plan(&mut resumed, &env, cwd),
            RecordsPlan::Unavailable { .. }
        ));
        let mut odd = vec!["gemini".into(), "--session-id".into(), "x".into()];
        assert!(matches!(
            Gemini.records_plan(&mut odd, &env, cwd),
            RecordsPlan::Unavailable { .. }
        ));
    }

    #[test]
    fn a_used_up_quota_is_blocked_with_keep_trying_highlighted() {
        let rows = [
            "╭──────────────────────────────────────╮",
            "│ Usage limit reached for gemini-3.8-flash. │",
            "│ /model to switch models.              │",
            "│                                      │",
            "│ ● 1. Keep trying                     │",
            "│   2. Stop                            │",
            "╰──────────────────────────────────────╯",
        ];
        let verdict = Gemini.classify(&ScreenView::for_test(
            &rows,
            (0, 0),
            "✋  Action Required (repo)",
        ));
        let Observation::Blocked(dialog) = verdict.observation else {
            panic!("{verdict:?}")
        };
        assert_eq!(verdict.rule, "gemini.quota-dialog");
        assert_eq!(dialog.reason, "quota");
        assert_eq!(dialog.accept_keys, ["Enter"]);
    }

    #[test]
    fn the_resume_id_is_parsed() {
        let tail =
            "│  To resume this session: gemini --resume 59a03330-2767-4ad8-802a-edba2f787a5e  │";
        assert_eq!(
            Gemini.parse_exit_summary(tail).agent_session_id.as_deref(),
            Some("59a03330-2767-4ad8-802a-edba2f787a5e")
        );
    }
}

//! GitHub Copilot CLI (tested with `@github/copilot` 1.0.102), a full-screen TUI.
//!
//! What harnex reads off its screen, its keys and delays are data: `rules/copilot.toml` (the screen
//! facts are written down there). This module is what cannot be data: the arguments, the
//! agent's own records.

use super::Adapter;

pub struct Copilot;

impl Adapter for Copilot {
    fn name(&self) -> &'static str {
        "copilot"
    }

    /// Copilot takes the new session's id on the command line (`--session-id`), so harnex picks
    /// it and knows `$COPILOT_HOME/session-state/<id>/events.jsonl` before the spawn; a run that
    /// names its own new session keeps it.
    fn records_plan(
        &self,
        argv: &mut Vec<String>,
        env: &dyn Fn(&str) -> Option<String>,
        _cwd: &std::path::Path,
    ) -> crate::record_files::RecordsPlan {
        use super::argv::{Spelling, has_flag, named_or_fresh_uuid};
        use crate::record_files::{RecordsPlan, agent_home};
        let session_state_dir = agent_home(env, "COPILOT_HOME", ".copilot").join("session-state");
        if has_flag(argv, &["--resume", "-r", "--continue", "--connect"]) {
            return RecordsPlan::unavailable(
                "started with --resume, --continue or --connect: Copilot picks the session itself",
            );
        }
        let agent_session_id = match named_or_fresh_uuid(argv, &["--session-id"], Spelling::Joined)
        {
            Ok(id) => id,
            Err(why) => return RecordsPlan::unavailable(why),
        };
        RecordsPlan::CopilotEvents {
            session_state_dir,
            agent_session_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::{Observation, ScreenView};

    fn input(footer: &'static str) -> [&'static str; 5] {
        [
            "● Working on it, said the model",
            "──────────",
            "❯ ",
            "──────────",
            footer,
        ]
    }

    #[test]
    fn the_footer_tells_busy_from_idle() {
        let idle = Copilot.classify(&ScreenView::for_test(
            &input(" ← open sidebar · Interactive · Manual Approval · / commands · ? help"),
            (2, 2),
            "",
        ));
        assert_eq!(idle.observation, Observation::Prompt, "{idle:?}");
        // The answer is still being typed out when the footer turns idle.
        assert!(!idle.settled);
        for glyph in ['◉', '◎', '○', '●'] {
            let footer = format!(" {glyph} Working · 39 B esc esc interrupt");
            let footer: &'static str = Box::leak(footer.into_boxed_str());
            let busy = Copilot.classify(&ScreenView::for_test(&input(footer), (2, 2), ""));
            assert_eq!(busy.observation, Observation::Busy, "{glyph}: {busy:?}");
        }
    }

    #[test]
    fn framed_dialogs_are_blocked_and_enter_accepts() {
        let screen = [
            "╭──────────────────────────────╮",
            "│ Confirm folder trust         │",
            "│ Do you trust the files in this folder? │",
            "│                              │",
            "│ ❯ 1. Yes                     │",
            "│   2. Yes, and remember this folder │",
            "│   3. No (Esc)                │",
            "│ ↑/↓ to navigate · enter to select │",
            "╰──────────────────────────────╯",
        ];
        let verdict = Copilot.classify(&ScreenView::for_test(&screen, (0, 0), ""));
        let Observation::Blocked(dialog) = verdict.observation else {
            panic!("{verdict:?}")
        };
        assert_eq!(dialog.reason, "workspace-trust");
        assert_eq!(dialog.accept_keys, ["Enter"]);
        assert!(dialog.enter_is_safe);
    }

    #[test]
    fn the_records_are_bound_by_a_session_id_harnex_picks() {
        use crate::record_files::RecordsPlan;
        let env = |key: &str| (key == "COPILOT_HOME").then(|| "/c".to_string());
        let cwd = std::path::Path::new("/repo");
        let mut argv = vec!["copilot".to_string()];
        let RecordsPlan::CopilotEvents {
            session_state_dir,
            agent_session_id,
        } = Copilot.records_plan(&mut argv, &env, cwd)
        else {
            panic!("{argv:?}")
        };
        assert_eq!(session_state_dir, std::path::Path::new("/c/session-state"));
        assert_eq!(argv[1], format!("--session-id={agent_session_id}"));
        let mut resumed = vec!["copilot".to_string(), "--resume".to_string()];
        assert!(matches!(
            Copilot.records_plan(&mut resumed, &env, cwd),
            RecordsPlan::Unavailable { .. }
        ));
        let mut odd = vec!["copilot".into(), "--session-id".into(), "x".into()];
        assert!(matches!(
            Copilot.records_plan(&mut odd, &env, cwd),
            RecordsPlan::Unavailable { .. }
        ));
    }

    #[test]
    fn the_resume_id_is_parsed_at_exit() {
        let tail = "Resume     copilot --resume=b2622b30-52a1-4933-a954-9cf66338b896\r\n";
        assert_eq!(
            Copilot.parse_exit_summary(tail).agent_session_id.as_deref(),
            Some("b2622b30-52a1-4933-a954-9cf66338b896")
        );
    }
}

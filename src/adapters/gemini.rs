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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::{Observation, ScreenView};

    fn view(rows: &[&str], cursor: (u16, u16), title: &str) -> ScreenView {
        let rows: Vec<String> = rows.iter().map(|r| r.to_string()).collect();
        let before_cursor = rows
            .get(usize::from(cursor.0))
            .map(|r| r.chars().take(usize::from(cursor.1)).collect())
            .unwrap_or_default();
        ScreenView {
            rows,
            cursor,
            before_cursor,
            title: title.into(),
            ..ScreenView::default()
        }
    }

    const BOX: [&str; 3] = [
        " Shift+Tab to accept edits",
        "",
        " >   Type your message or @path/to/file",
    ];

    #[test]
    fn the_input_box_is_a_prompt_settled_only_once_gemini_has_initialised() {
        let mut rows = vec![" ▝▜▄     Gemini CLI v0.61.0", ""];
        rows.extend(BOX);
        let ready = Gemini.classify(&view(&rows, (4, 3), "◇  Ready (repo)"));
        assert_eq!(ready.observation, Observation::Prompt);
        assert!(ready.settled);
        // Before the banner Gemini still initialises: prompts typed now are queued.
        let early = Gemini.classify(&view(&BOX, (2, 3), "◇  Ready (repo)"));
        assert_eq!(early.observation, Observation::Prompt);
        assert!(!early.settled);
    }

    #[test]
    fn a_queued_message_and_the_working_title_are_busy_though_the_box_is_drawn() {
        let mut rows = vec!["  Queued (press ↑ to edit):", "    Say hi", ""];
        rows.extend(BOX);
        let queued = Gemini.classify(&view(&rows, (5, 3), "◇  Ready (repo)"));
        assert_eq!(
            (queued.observation, queued.rule.as_str()),
            (Observation::Busy, "gemini.queued")
        );
        let working = Gemini.classify(&view(&BOX, (2, 3), "✦  Working… (repo)"));
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
        let waiting = Gemini.classify(&view(&rows, (7, 3), "◇  Ready (repo)"));
        assert_eq!(waiting.rule, "gemini.initializing");
        assert_eq!(waiting.observation, Observation::Busy);
        rows.insert(2, " > Say hi");
        rows.insert(3, "✦ Hello.");
        let done = Gemini.classify(&view(&rows, (9, 3), "◇  Ready (repo)"));
        assert_eq!(done.observation, Observation::Prompt);
        assert!(done.settled);
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

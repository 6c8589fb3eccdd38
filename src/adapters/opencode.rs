//! OpenCode (tested with `opencode-ai` 1.18.33), a full-screen TUI.
//!
//! What harnex reads off its screen, its keys and delays are data: `rules/opencode.toml` (the screen
//! facts are written down there). This module is what cannot be data: the arguments, the
//! agent's own records.

use super::Adapter;

pub struct OpenCode;

impl Adapter for OpenCode {
    fn name(&self) -> &'static str {
        "opencode"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::{Observation, ScreenView};

    fn view(rows: &[&str], cursor: (u16, u16)) -> ScreenView {
        let rows: Vec<String> = rows.iter().map(|r| r.to_string()).collect();
        let before_cursor = rows
            .get(usize::from(cursor.0))
            .map(|r| r.chars().take(usize::from(cursor.1)).collect())
            .unwrap_or_default();
        ScreenView {
            rows,
            cursor,
            before_cursor,
            ..ScreenView::default()
        }
    }

    const IDLE: [&str; 4] = [
        "  ┃  Ask anything…",
        "  ┃  Build · Mock Model Mock",
        "  ╹▀▀▀▀▀▀▀▀",
        "   /tmp/repo                 ctrl+p commands",
    ];

    #[test]
    fn the_box_with_its_footer_is_the_prompt_and_esc_interrupt_is_busy() {
        let idle = OpenCode.classify(&view(&IDLE, (0, 5)));
        assert_eq!(idle.observation, Observation::Prompt, "{idle:?}");
        let mut busy = IDLE.to_vec();
        busy[3] = "   ⬝⬝⬝■■■■■  esc interrupt     ctrl+p commands";
        let busy = OpenCode.classify(&view(&busy, (0, 5)));
        assert_eq!(busy.observation, Observation::Busy, "{busy:?}");
        // Before the UI is wired up there is no footer: not a prompt yet.
        let early = OpenCode.classify(&view(&IDLE[..1], (0, 5)));
        assert_eq!(early.observation, Observation::Unknown, "{early:?}");
    }

    #[test]
    fn the_permission_dialog_is_blocked_and_enter_allows_once() {
        let screen = [
            "  ┃  △ Permission required",
            "  ┃    # Shell command",
            "  ┃  $ touch x",
            "  ┃   Allow once   Allow always   Reject        enter confirm",
        ];
        let verdict = OpenCode.classify(&view(&screen, (2, 5)));
        let Observation::Blocked(dialog) = verdict.observation else {
            panic!("{verdict:?}")
        };
        assert_eq!(dialog.reason, "permission");
        assert_eq!(dialog.accept_keys, ["Enter"]);
        assert!(dialog.enter_is_safe);
    }

    #[test]
    fn the_session_to_continue_is_parsed_at_exit() {
        let tail =
            "  Session   Mock title\r\n  Continue  opencode -s ses_dc4429f2dffexBv1s02x6ZI4ou\r\n";
        assert_eq!(
            OpenCode
                .parse_exit_summary(tail)
                .agent_session_id
                .as_deref(),
            Some("ses_dc4429f2dffexBv1s02x6ZI4ou")
        );
    }
}

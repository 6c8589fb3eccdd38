//! OpenCode (tested with `opencode-ai` 1.18.33), a full-screen TUI.
//!
//! Screen facts: nothing is drawn for several seconds after start (keys typed then are lost),
//! then a logo and the `┃  Ask anything…` input box. The box stays drawn while OpenCode works,
//! so it proves nothing by itself; busy is the footer's `esc interrupt` (next to a sliding
//! `⬝⬝■■■` bar). The window title (`OpenCode`, then `OC | <title>`) never shows busy. A tool
//! approval replaces the box with `△ Permission required` and the choices `Allow once   Allow
//! always   Reject` on one row; Enter takes the first.

use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;

use super::{Adapter, Keystroke, Observation, ScreenView, Verdict};
use crate::vocab::{Dialog, ExitSummary};

pub struct OpenCode;

/// The left edge of the input box (and of a dialog drawn in its place).
const BOX_EDGE: char = '┃';

fn permission_dialog(view: &ScreenView) -> Option<Verdict> {
    let (row, text) = view
        .rows_bottom_up()
        .find(|(_, r)| r.contains("Permission required"))?;
    // Allow once is highlighted when the dialog opens; Enter answers with it.
    let choices = view
        .rows
        .iter()
        .skip(row)
        .any(|r| r.contains("Allow once") && r.contains("Reject"));
    let dialog = Dialog {
        reason: "permission".into(),
        accept_keys: vec!["Enter".into()],
        enter_is_safe: choices,
    };
    Some(Verdict::new(
        Observation::Blocked(dialog),
        "opencode.permission-dialog",
        Some(row),
        text.trim(),
    ))
}

impl Adapter for OpenCode {
    fn name(&self) -> &'static str {
        "opencode"
    }

    fn classify(&self, view: &ScreenView) -> Verdict {
        if let Some(verdict) = permission_dialog(view) {
            return verdict;
        }
        if let Some((i, row)) = view
            .rows_bottom_up()
            .find(|(_, r)| r.contains("esc interrupt"))
        {
            return Verdict::new(
                Observation::Busy,
                "opencode.esc-interrupt",
                Some(i),
                row.trim(),
            );
        }
        // The box is drawn only once the UI takes keys; the footer under it names the agent
        // and model (`Build · Mock Model`), which the start-up screen lacks.
        let drawn = view.rows.iter().any(|r| r.contains("ctrl+p commands"));
        if drawn
            && let Some(verdict) =
                super::input_line_verdict(view, BOX_EDGE, "opencode.input-box", false)
        {
            return verdict;
        }
        Verdict::new(
            Observation::Unknown,
            "opencode.no-input-box",
            Some(usize::from(view.cursor.0)),
            "cursor is not in the ┃ input box (OpenCode draws nothing while it starts)",
        )
    }

    fn is_tui(&self) -> bool {
        true
    }

    /// The first prompt after start must hold a little longer: OpenCode draws its box before
    /// its input handler is wired up.
    fn quiet_window(&self) -> Duration {
        Duration::from_millis(500)
    }

    /// Text arrives as a bracketed paste; Enter as a separate write after it.
    fn submit_delay(&self, bytes: usize, _bracketed_paste: bool) -> Duration {
        Duration::from_millis(200 + 50 * (bytes as u64).div_ceil(1024))
    }

    /// The first Esc arms the interrupt (`esc again to interrupt`), the second one stops.
    fn interrupt_keys(&self) -> &'static [&'static str] {
        &["Esc", "Esc"]
    }

    /// Ctrl+C clears a half-typed input, and at an empty input quits.
    fn exit_sequence(&self) -> Vec<Keystroke> {
        vec![
            Keystroke {
                delay: Duration::ZERO,
                bytes: vec![0x03],
            },
            Keystroke {
                delay: Duration::from_millis(300),
                bytes: vec![0x03],
            },
        ]
    }

    /// At exit OpenCode prints `Continue  opencode -s ses_…`.
    fn parse_exit_summary(&self, transcript_tail: &str) -> ExitSummary {
        super::session_id_at_exit(&CONTINUE, transcript_tail)
    }
}

static CONTINUE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"opencode -s (?P<id>ses_[A-Za-z0-9]+)").expect("valid regex"));

#[cfg(test)]
mod tests {
    use super::*;

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

//! Gemini CLI (tested with 0.61.0).
//!
//! Screen facts: the ` >   Type your message…` input box is drawn while working too, so it proves
//! nothing by itself. Busy: a spinner row ` ⠙ Thinking... (esc to cancel, 5s)` (the words stay
//! while the verb changes), or `Queued (press ↑ to edit)` when a message was taken before Gemini
//! finished starting. Title (when Gemini writes it): `◇  Ready (<dir>)` idle, `✦  Working… (<dir>)`
//! busy, `✋  Action Required (<dir>)` at a dialog; it is not rewritten on every change, so it is
//! only a hint. Dialogs: `Do you trust the files in this folder?` and tool approvals
//! `Allow execution of [Shell]?`, both numbered lists with `●` on the highlighted choice, whose
//! first choice (highlighted) accepts. Exit: Ctrl+D twice (the first only warns).

use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;

use super::dialog::{choices, selection_dialog};
use super::{Adapter, Keystroke, Observation, ScreenView, Verdict};
use crate::vocab::ExitSummary;

pub struct Gemini;

/// A row with the box drawing around Gemini's dialogs taken off (`│ ● 1. Allow once │`).
fn unboxed(row: &str) -> String {
    row.trim()
        .trim_start_matches('│')
        .trim_end_matches('│')
        .trim_end()
        .to_string()
}

fn dialog(view: &ScreenView) -> Option<Verdict> {
    let (row, reason, rule) = view.rows.iter().enumerate().find_map(|(i, r)| {
        if r.contains("Do you trust the files in this folder?") {
            Some((i, "workspace-trust", "gemini.trust-dialog"))
        } else if r.contains("Allow execution of") || r.contains("Apply this change?") {
            Some((i, "permission", "gemini.tool-dialog"))
        } else {
            None
        }
    })?;
    // After the trust answer Gemini restarts itself below the dialog it leaves on screen.
    if view.rows[row..].iter().any(|r| r.contains(RESTARTING)) {
        return None;
    }
    let rows: Vec<String> = view.rows.iter().map(|r| unboxed(r)).collect();
    let options = choices(&rows, '●', row);
    if options.is_empty() {
        return None;
    }
    let dialog = selection_dialog(reason, &options, |t| {
        let t = t
            .trim_start_matches(|c: char| c.is_ascii_digit() || c == '.')
            .trim();
        t.starts_with("Trust folder") || t.starts_with("Allow once") || t.starts_with("Yes")
    });
    Some(Verdict::new(
        Observation::Blocked(dialog),
        rule,
        Some(row),
        rows[row].trim(),
    ))
}

const RESTARTING: &str = "Gemini CLI is restarting";

/// Signs on the rows that Gemini is working: its spinner row, a message waiting in its queue
/// (taken while Gemini still initialises), or the restart after a trust answer.
fn busy_row(view: &ScreenView) -> Option<(usize, &'static str)> {
    for (i, row) in view.rows_bottom_up() {
        if row.contains("(esc to cancel") {
            return Some((i, "gemini.esc-to-cancel"));
        }
        if row.contains("Queued (press ↑ to edit)") {
            return Some((i, "gemini.queued"));
        }
        let text = row.trim();
        if text.starts_with(RESTARTING) {
            // Only while nothing has been drawn below it yet but the start-up screen.
            let later = view.rows[i + 1..]
                .iter()
                .any(|r| r.contains("Gemini CLI v"));
            if !later {
                return Some((i, "gemini.restarting"));
            }
        }
    }
    initialising(view)
}

/// Gemini says `ℹ Initializing... Prompts will be queued.` when a message came before it was
/// ready; until it echoes that message and starts on it, the notice is the last thing above the
/// input area (the queue row above it may already be gone).
fn initialising(view: &ScreenView) -> Option<(usize, &'static str)> {
    let separator = view
        .rows_bottom_up()
        .find(|(_, r)| r.starts_with("──"))
        .map(|(i, _)| i)?;
    let (i, last) = view.rows[..separator]
        .iter()
        .enumerate()
        .rev()
        .find(|(_, r)| !r.trim().is_empty() && r.trim() != "? for shortcuts")?;
    last.contains("Initializing... Prompts will be queued")
        .then_some((i, "gemini.initializing"))
}

/// The title Gemini sets while it works: `✦  Working… (dir)` or `✦  <thought> (dir)`, and
/// `⏲  Working… (dir)` for silent work.
fn busy_title(title: &str) -> bool {
    title.starts_with('✦') || title.starts_with('⏲')
}

/// Gemini draws its input box (and titles itself Ready) before it has initialised; what it
/// shows once it has: the banner, or the conversation above the box.
fn initialised(view: &ScreenView) -> bool {
    view.rows
        .iter()
        .any(|r| r.contains("Gemini CLI v") || r.starts_with("✦ "))
}

impl Adapter for Gemini {
    fn name(&self) -> &'static str {
        "gemini"
    }

    /// Gemini CLI takes a `CI` variable (CI runners set one) to mean "not interactive": it then
    /// wants its prompt on stdin and exits 42. Under harnex it always has a terminal.
    fn agent_env(&self) -> &'static [(&'static str, &'static str)] {
        &[("CI", "false")]
    }

    fn classify(&self, view: &ScreenView) -> Verdict {
        if let Some(verdict) = dialog(view) {
            return verdict;
        }
        if let Some((i, rule)) = busy_row(view) {
            return Verdict::new(Observation::Busy, rule, Some(i), view.rows[i].trim());
        }
        if busy_title(&view.title) {
            return Verdict::new(
                Observation::Busy,
                "gemini.title-working",
                None,
                view.title.trim(),
            );
        }
        let idle = view.title.starts_with('◇') && initialised(view);
        if let Some(verdict) = super::input_line_verdict(view, '>', "gemini.input-box", idle) {
            return verdict;
        }
        Verdict::new(
            Observation::Unknown,
            "gemini.no-input-box",
            Some(usize::from(view.cursor.0)),
            "cursor is not in the > input box",
        )
    }

    fn is_tui(&self) -> bool {
        true
    }

    /// Text and Enter written back to back may be taken as one paste, leaving the text unsent.
    fn submit_delay(&self, bytes: usize, _bracketed_paste: bool) -> Duration {
        Duration::from_millis(500 + 50 * (bytes as u64).div_ceil(1024))
    }

    /// Esc cancels the request; C-u clears whatever is left in the input box.
    fn interrupt_keys(&self) -> &'static [&'static str] {
        &["Esc", "C-u"]
    }

    /// The first Ctrl+D only warns (`Press Ctrl+D again to exit.`). A Ctrl+D that lands while
    /// Gemini is still settling after a restart can go unseen, so the pair comes once more if
    /// Gemini is still running 1.5 s later (the ladder stops typing once the agent exits).
    fn exit_sequence(&self) -> Vec<Keystroke> {
        let ctrl_d = |delay_ms| Keystroke {
            delay: Duration::from_millis(delay_ms),
            bytes: vec![0x04],
        };
        vec![ctrl_d(0), ctrl_d(300), ctrl_d(1500), ctrl_d(300)]
    }

    fn parse_exit_summary(&self, transcript_tail: &str) -> ExitSummary {
        super::session_id_at_exit(&RESUME, transcript_tail)
    }
}

static RESUME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"gemini --resume\s+(?P<id>[0-9a-fA-F-]{36})").expect("valid regex")
});

#[cfg(test)]
mod tests {
    use super::*;

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

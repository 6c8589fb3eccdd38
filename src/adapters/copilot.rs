//! GitHub Copilot CLI (tested with `@github/copilot` 1.0.102), a full-screen TUI.
//!
//! Screen facts: the `❯` input line between two rules is drawn while Copilot works too; the
//! footer under it says which: idle ` ← open sidebar · Interactive · Manual Approval · /
//! commands · ? help …`, busy `◉ Working …` with the glyph cycling ◉ ◎ ○ ●. The idle footer
//! returns while the answer is still being typed out, so the prompt needs a still screen. Dialogs replace the
//! input box with a framed list (`│ ❯ 1. Yes`): `Confirm folder trust` at start in a new folder
//! and `Do you want to run this command?` before a shell command; option 1 (`Yes`) is
//! highlighted, so Enter accepts both.

use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;

use super::dialog::{choices, selection_dialog};
use super::{Adapter, Keystroke, Observation, ScreenView, Verdict};
use crate::vocab::ExitSummary;

pub struct Copilot;

/// `◉ Working`, `● Working · 39 B`: the busy footer (the glyph cycles).
static WORKING: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*[◉◎○●] Working\b").expect("valid working regex"));

/// Dialog titles, the reason each is reported with, and the rule name.
const DIALOGS: [(&str, &str, &str); 3] = [
    (
        "Confirm folder trust",
        "workspace-trust",
        "copilot.trust-dialog",
    ),
    (
        "Do you want to run this command?",
        "permission",
        "copilot.command-dialog",
    ),
    ("Do you want to", "permission", "copilot.permission-dialog"),
];

/// A dialog's rows without its frame (`│ ❯ 1. Yes   │` → ` ❯ 1. Yes`), so the option rows line
/// up as the selection reader expects.
fn unframed(rows: &[String]) -> Vec<String> {
    rows.iter()
        .map(|r| {
            let t = r.trim_end();
            let t = t.strip_prefix('│').unwrap_or(t);
            t.strip_suffix('│').unwrap_or(t).trim_end().to_string()
        })
        .collect()
}

fn dialog(view: &ScreenView) -> Option<Verdict> {
    let (row, reason, rule) = DIALOGS.iter().find_map(|(title, reason, rule)| {
        let row = view.rows.iter().position(|r| r.contains(title))?;
        Some((row, *reason, *rule))
    })?;
    let rows = unframed(&view.rows);
    let options = choices(&rows, '❯', row);
    // The dialog's list, not the input line: a question with no numbered options is the
    // model's own text.
    if !options.iter().any(|c| c.text.starts_with("1.")) {
        return None;
    }
    let dialog = selection_dialog(reason, &options, |t| {
        t.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.')
            .trim()
            .starts_with("Yes")
    });
    Some(Verdict::new(
        Observation::Blocked(dialog),
        rule,
        Some(row),
        rows[row].trim(),
    ))
}

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
        use crate::record_files::{RecordsPlan, agent_home};
        let session_state_dir = agent_home(env, "COPILOT_HOME", ".copilot").join("session-state");
        let flag = |names: &[&str], arg: &str| {
            names
                .iter()
                .any(|n| arg == *n || arg.starts_with(&format!("{n}=")))
        };
        if argv
            .iter()
            .any(|a| flag(&["--resume", "-r", "--continue", "--connect"], a))
        {
            return RecordsPlan::unavailable(
                "started with --resume, --continue or --connect: Copilot picks the session itself",
            );
        }
        let named = argv.iter().enumerate().find_map(|(i, arg)| {
            if arg == "--session-id" {
                argv.get(i + 1).cloned()
            } else {
                arg.strip_prefix("--session-id=").map(str::to_string)
            }
        });
        let agent_session_id = match named {
            Some(id) if crate::ids::is_uuid(&id) => id,
            Some(_) => {
                return RecordsPlan::unavailable(
                    "the session named with --session-id is not a session id (a UUID)",
                );
            }
            None => {
                let id = crate::ids::uuid_v4();
                argv.push(format!("--session-id={id}"));
                id
            }
        };
        RecordsPlan::CopilotEvents {
            session_state_dir,
            agent_session_id,
        }
    }

    fn classify(&self, view: &ScreenView) -> Verdict {
        if let Some(verdict) = dialog(view) {
            return verdict;
        }
        let cursor_row = usize::from(view.cursor.0);
        // The footer sits below the input line; the conversation above may quote anything.
        let footer = view
            .rows_bottom_up()
            .take_while(|(i, _)| *i > cursor_row)
            .find(|(_, r)| WORKING.is_match(r));
        if let Some((i, row)) = footer {
            return Verdict::new(Observation::Busy, "copilot.working", Some(i), row.trim());
        }
        // The idle footer is back before the answer is drawn (Copilot types it out), so it
        // settles nothing: the prompt counts once the screen holds still.
        if let Some(verdict) = super::input_line_verdict(view, '❯', "copilot.input-line", false) {
            return verdict;
        }
        Verdict::new(
            Observation::Unknown,
            "copilot.no-input-line",
            Some(cursor_row),
            "cursor is not on the ❯ input line",
        )
    }

    fn is_tui(&self) -> bool {
        true
    }

    /// Copilot types its answer out after the footer says idle; pauses between its frames run
    /// up to ~200 ms.
    fn quiet_window(&self) -> Duration {
        Duration::from_millis(500)
    }

    fn submit_delay(&self, bytes: usize, _bracketed_paste: bool) -> Duration {
        Duration::from_millis(200 + 50 * (bytes as u64).div_ceil(1024))
    }

    /// Esc cancels the turn (a second Esc would open the prompt editor).
    fn interrupt_keys(&self) -> &'static [&'static str] {
        &["Esc"]
    }

    /// Ctrl+D at an empty input exits; C-u first clears a half-typed line.
    fn exit_sequence(&self) -> Vec<Keystroke> {
        vec![
            Keystroke {
                delay: Duration::ZERO,
                bytes: vec![0x15],
            },
            Keystroke {
                delay: Duration::from_millis(200),
                bytes: vec![0x04],
            },
        ]
    }

    /// At exit Copilot prints `Resume     copilot --resume=<uuid>`.
    fn parse_exit_summary(&self, transcript_tail: &str) -> ExitSummary {
        super::session_id_at_exit(&RESUME, transcript_tail)
    }
}

static RESUME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"copilot --resume[= ](?P<id>[0-9a-fA-F-]{36})").expect("valid regex")
});

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
        let idle = Copilot.classify(&view(
            &input(" ← open sidebar · Interactive · Manual Approval · / commands · ? help"),
            (2, 2),
        ));
        assert_eq!(idle.observation, Observation::Prompt, "{idle:?}");
        // The answer is still being typed out when the footer turns idle.
        assert!(!idle.settled);
        for glyph in ['◉', '◎', '○', '●'] {
            let footer = format!(" {glyph} Working · 39 B esc esc interrupt");
            let footer: &'static str = Box::leak(footer.into_boxed_str());
            let busy = Copilot.classify(&view(&input(footer), (2, 2)));
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
        let verdict = Copilot.classify(&view(&screen, (0, 0)));
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

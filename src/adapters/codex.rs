//! OpenAI Codex CLI (tested with 0.169.0, `--no-alt-screen`).
//!
//! Screen facts: the input line `› Ask Codex…` is drawn while working too, so it proves nothing by
//! itself. Busy: a `• Working (… esc to interrupt)` row (the bullet blinks `•`/`◦`), or `loading`
//! during start-up. A Braille spinner in the window title comes with the Working row during a
//! turn, and alone while Codex loads after start-up or the trust dialog. Idle: the title is the
//! folder name (or `<thread title> | <folder>`). Dialogs: "Trust this
//! folder?" (option 1, highlighted, accepts) and other numbered `› 1.` selection lists.

use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;

use super::dialog::{choices, selection_dialog};
use super::{Adapter, Keystroke, Observation, Retry, ScreenView, Verdict};
use crate::vocab::ExitSummary;

pub struct Codex;

const BASE_ARGS: [&str; 2] = [
    "--dangerously-bypass-approvals-and-sandbox",
    "--no-alt-screen",
];

const NO_DAEMON: &str = "--no-daemon";

/// Whether a `codex --help` text offers `--no-daemon` as an option of its own.
fn lists_no_daemon(help: &str) -> bool {
    help.lines()
        .any(|l| l.trim_start().split([' ', ',', '=']).next() == Some(NO_DAEMON))
}

pub fn is_braille_spinner(c: char) -> bool {
    ('\u{2801}'..='\u{28FF}').contains(&c)
}

fn title_spinner(view: &ScreenView) -> bool {
    view.title.chars().next().is_some_and(is_braille_spinner)
}

fn dialog(view: &ScreenView) -> Option<Verdict> {
    let trust = view
        .rows
        .iter()
        .position(|r| r.contains("Trust this folder?") || r.contains("Do you trust the contents"));
    if let Some(row) = trust {
        let options = choices(&view.rows, '›', row);
        let dialog = selection_dialog("workspace-trust", &options, |t| {
            t.contains("Trust and continue") || t.contains("Yes")
        });
        return Some(Verdict::new(
            Observation::Blocked(dialog),
            "codex.trust-dialog",
            Some(row),
            view.rows[row].trim(),
        ));
    }
    // Any other numbered selection list the cursor is not typing into (approvals, updates, …).
    let cursor_row = usize::from(view.cursor.0);
    let numbered = view.rows.iter().position(|r| {
        let t = r.trim_start();
        t.starts_with("› 1.") || t.starts_with("› 2.") || t.starts_with("› 3.")
    })?;
    if numbered == cursor_row && view.before_cursor.trim_start().starts_with('›') {
        return None;
    }
    let footer = view
        .rows
        .iter()
        .any(|r| r.contains("enter to") || r.contains("esc to cancel") || r.contains("esc back"));
    if !footer {
        return None;
    }
    let options = choices(&view.rows, '›', numbered);
    let dialog = selection_dialog("confirmation", &options, |t| {
        let t = t
            .trim_start_matches(|c: char| c.is_ascii_digit() || c == '.')
            .trim();
        t.starts_with("Yes") || t.starts_with("Trust") || t.starts_with("Continue")
    });
    Some(Verdict::new(
        Observation::Blocked(dialog),
        "codex.selection-dialog",
        Some(numbered),
        view.rows[numbered].trim(),
    ))
}

impl Adapter for Codex {
    fn name(&self) -> &'static str {
        "codex"
    }

    fn command(&self, cli: &str, args: &[String]) -> Vec<String> {
        let mut argv = vec![cli.to_string()];
        argv.extend(BASE_ARGS.iter().map(|a| a.to_string()));
        argv.extend(args.iter().cloned());
        argv
    }

    /// `--no-daemon` when this Codex has it (its `--help` lists it) and the user did not pass
    /// it: without it, Codex's background app-server outlives the session.
    fn probed_args(&self, program: &str, args: &[String]) -> Vec<String> {
        if args.iter().any(|a| a == NO_DAEMON) {
            return Vec::new();
        }
        let help = crate::program::answer_within(
            std::process::Command::new(program).arg("--help"),
            Duration::from_secs(5),
        );
        if help.is_some_and(|h| lists_no_daemon(&h)) {
            vec![NO_DAEMON.to_string()]
        } else {
            Vec::new()
        }
    }

    fn records_plan(
        &self,
        _argv: &mut Vec<String>,
        env: &dyn Fn(&str) -> Option<String>,
        _cwd: &std::path::Path,
    ) -> crate::record_files::RecordsPlan {
        let home = crate::record_files::agent_home(env, "CODEX_HOME", ".codex");
        crate::record_files::RecordsPlan::CodexRollout {
            sessions_dir: home.join("sessions"),
        }
    }

    /// `-C DIR`, `-CDIR`, `--cd DIR`, `--cd=DIR`.
    fn repo_dir(&self, args: &[String]) -> Option<PathBuf> {
        let mut iter = args.iter();
        while let Some(arg) = iter.next() {
            if arg == "-C" || arg == "--cd" {
                return iter.next().map(PathBuf::from);
            }
            if let Some(dir) = arg.strip_prefix("--cd=") {
                return Some(PathBuf::from(dir));
            }
            if let Some(dir) = arg.strip_prefix("-C").filter(|d| !d.is_empty()) {
                return Some(PathBuf::from(dir));
            }
        }
        None
    }

    fn classify(&self, view: &ScreenView) -> Verdict {
        if let Some(verdict) = dialog(view) {
            return verdict;
        }
        for (i, row) in view.rows_bottom_up() {
            if row.contains("esc to interrupt") {
                if let Some(retry) = reconnecting(row) {
                    return Verdict::new(
                        Observation::Busy,
                        "codex.reconnecting",
                        Some(i),
                        row.trim(),
                    )
                    .retrying(retry);
                }
                return Verdict::new(Observation::Busy, "codex.working-line", Some(i), row.trim());
            }
        }
        if let Some((i, row)) = view.rows_bottom_up().find(|(_, r)| r.trim() == "loading") {
            return Verdict::new(Observation::Busy, "codex.loading", Some(i), row.trim());
        }
        // Codex titles the window with the folder (or thread) name once it is idle. A spinner
        // there without a Working row, or the bare `? for shortcuts` footer, is start-up
        // loading (a trust dialog may still replace the screen): wait for quiet.
        let loading_footer = view.rows.iter().find(|r| r.trim() == "? for shortcuts");
        // Codex draws its composer with the bare footer while it starts, before it knows whether
        // to show the trust dialog instead (its idle footer names more keys): not a prompt yet,
        // however long it holds.
        if let Some(footer) = loading_footer
            && view.title.is_empty()
        {
            return Verdict::new(Observation::Unknown, "codex.starting", None, footer.trim());
        }
        let idle = !view.title.is_empty() && !title_spinner(view) && loading_footer.is_none();
        if let Some(verdict) = super::input_line_verdict(view, '›', "codex.input-line", idle) {
            return verdict;
        }
        let cursor_row = usize::from(view.cursor.0);
        if title_spinner(view) {
            return Verdict::new(Observation::Busy, "codex.title-spinner", None, &view.title);
        }
        Verdict::new(
            Observation::Unknown,
            "codex.no-input-line",
            Some(cursor_row),
            "cursor is not on the › input line",
        )
    }

    fn is_tui(&self) -> bool {
        true
    }

    /// Codex merges keys that arrive within ~120 ms into a paste; Enter must come after that.
    /// Codex 0.169 enables bracketed paste, and Enter right after the end marker went through
    /// 200 sends in a row twice, but on a loaded machine one run in three lost one message in
    /// 200 (tests/agents/send_burst.rs): the pause stays, paste or not.
    fn submit_delay(&self, bytes: usize, _bracketed_paste: bool) -> Duration {
        Duration::from_millis(200 + 50 * (bytes as u64).div_ceil(1024))
    }

    /// Esc interrupts the turn (`■ Conversation interrupted`) and leaves the input empty.
    fn interrupt_keys(&self) -> &'static [&'static str] {
        &["Esc"]
    }

    fn exit_sequence(&self) -> Vec<Keystroke> {
        super::slash_exit()
    }

    fn parse_exit_summary(&self, transcript_tail: &str) -> ExitSummary {
        parse_summary(&crate::text::strip_ansi(transcript_tail))
    }

    /// After five failed reconnects Codex prints `■ stream disconnected before completion`.
    fn gave_up_on_model(&self, plain_tail: &str) -> bool {
        super::last_marker_is_failure(
            &plain_tail.to_lowercase(),
            &[
                "stream disconnected before completion",
                "■ unexpected status",
            ],
            &["worked for "],
        )
    }
}

/// The working line while Codex retries its model request: `• Reconnecting... 2/5 (…` (a broken
/// stream, a 5xx) or `• Server is busy, reconnecting 2/5 (…` (a 429).
static RECONNECTING: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\breconnecting(?:\.\.\.|…)?\s+(?P<attempt>\d+)/(?P<max>\d+)")
        .expect("valid reconnecting regex")
});

fn reconnecting(row: &str) -> Option<Retry> {
    let caps = RECONNECTING.captures(row)?;
    Some(Retry {
        attempt: caps["attempt"].parse().ok()?,
        max: caps["max"].parse().ok(),
    })
}

static TOKEN_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"Token usage: total=(?P<total>[\d,]+) input=(?P<input>[\d,]+)",
        r"(?: \(\+ (?P<cached>[\d,]+) cached\))? output=(?P<output>[\d,]+)",
        r"(?: \(reasoning (?P<reasoning>[\d,]+)\))?",
    ))
    .expect("valid token regex")
});
static RESUME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?:codex resume|Session ID:)\s+(?P<id>[0-9a-fA-F-]{36})").expect("valid regex")
});

fn number(text: Option<regex::Match<'_>>) -> Option<u64> {
    text?.as_str().replace(',', "").parse().ok()
}

pub fn parse_summary(text: &str) -> ExitSummary {
    let mut summary = ExitSummary::default();
    if let Some(caps) = TOKEN_LINE.captures_iter(text).last() {
        summary.total_tokens = number(caps.name("total"));
        summary.input_tokens = number(caps.name("input"));
        summary.cached_tokens = number(caps.name("cached"));
        summary.output_tokens = number(caps.name("output"));
        summary.reasoning_tokens = number(caps.name("reasoning"));
    }
    summary.agent_session_id = RESUME
        .captures_iter(text)
        .last()
        .map(|c| c["id"].to_string());
    summary
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_daemon_is_found_as_an_option_in_the_help() {
        let help = "Options:\n      --no-alt-screen\n          Disable alternate screen mode\n\n      --no-daemon\n          Run without the shared background server\n";
        assert!(lists_no_daemon(help));
        assert!(!lists_no_daemon(
            "Options:\n  --no-alt-screen\n  see also --no-daemon-x\n"
        ));
        assert!(!lists_no_daemon("Run with --no-daemon to ...\n"));
    }

    #[test]
    fn token_line_and_resume_id_are_parsed() {
        let text = "Token usage: total=106,867 input=104,158 (+ 250,880 cached) output=2,709 (reasoning 870)\nTo continue this session, run codex resume 0199a213-81c0-7800-8aa1-bbab2a035a53\n";
        let s = parse_summary(text);
        assert_eq!(s.total_tokens, Some(106_867));
        assert_eq!(s.input_tokens, Some(104_158));
        assert_eq!(s.cached_tokens, Some(250_880));
        assert_eq!(s.output_tokens, Some(2_709));
        assert_eq!(s.reasoning_tokens, Some(870));
        assert_eq!(
            s.agent_session_id.as_deref(),
            Some("0199a213-81c0-7800-8aa1-bbab2a035a53")
        );
        assert_eq!(parse_summary("garbage"), ExitSummary::default());
    }

    #[test]
    fn a_stream_disconnect_after_the_last_finished_turn_means_it_gave_up() {
        assert!(Codex.gave_up_on_model(
            "Worked for 4s\n• Reconnecting... 5/5\n■ stream disconnected before completion: x"
        ));
        assert!(!Codex.gave_up_on_model("■ stream disconnected before completion\nWorked for 9s"));
        assert!(!Codex.gave_up_on_model("Worked for 1s"));
    }

    #[test]
    fn the_working_line_while_reconnecting_carries_the_attempt() {
        let retry = |attempt, max| {
            Some(Retry {
                attempt,
                max: Some(max),
            })
        };
        assert_eq!(
            reconnecting("• Server is busy, reconnecting 2/5 (1s • esc to interrupt)"),
            retry(2, 5)
        );
        assert_eq!(
            reconnecting("◦ Reconnecting... 4/5 (13s • esc to interrupt)"),
            retry(4, 5)
        );
        assert_eq!(reconnecting("• Reconnecting… 1/1 (0s"), retry(1, 1));
        assert_eq!(reconnecting("• Working (3s • esc to interrupt)"), None);
        assert_eq!(reconnecting("› fix the reconnecting logic"), None);
    }

    #[test]
    fn repo_dir_comes_from_cd_flags() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            Codex.repo_dir(&args(&["-C", "/x"])),
            Some(PathBuf::from("/x"))
        );
        assert_eq!(
            Codex.repo_dir(&args(&["--cd", "/y"])),
            Some(PathBuf::from("/y"))
        );
        assert_eq!(Codex.repo_dir(&args(&["-C/z"])), Some(PathBuf::from("/z")));
        assert_eq!(
            Codex.repo_dir(&args(&["--cd=/w"])),
            Some(PathBuf::from("/w"))
        );
        assert_eq!(Codex.repo_dir(&args(&["--model", "o3"])), None);
    }

    #[test]
    fn default_command_appends_extra_args() {
        let argv = Codex.command("codex", &["--model".into(), "o3".into()]);
        assert_eq!(
            argv,
            [
                "codex",
                "--dangerously-bypass-approvals-and-sandbox",
                "--no-alt-screen",
                "--model",
                "o3"
            ]
        );
    }
}

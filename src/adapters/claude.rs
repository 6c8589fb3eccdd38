//! Claude Code (tested with 2.1.328).
//!
//! Screen facts: the `❯` input box is always drawn, busy or not. Busy: `esc to interrupt` in the
//! footer, a spinner verb line (`✶ Meandering…`), a half-circle spinner in the title (`◐ Claude
//! Code`). Idle: the title starts with `✳`. Dialogs end with `Enter to confirm · Esc to cancel`;
//! the trust and bypass-permissions dialogs highlight "No, exit", so Enter alone quits.

use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;

use super::dialog::{choices, selection_dialog};
use super::{Adapter, Keystroke, Observation, Retry, ScreenView, Verdict};
use crate::vocab::ExitSummary;

pub struct Claude;

const SPINNER_TITLE: [char; 4] = ['◐', '◓', '◑', '◒'];

/// `✶ Meandering…`, `· Herding…` (the verb line while working; "✻ Cooked for 4s" has no `…`).
static SPINNER_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^\s*[·✢✳✶✻✽*⏺] [A-Z][a-z]+(?:ing)?…").expect("valid spinner regex")
});

fn dialog(view: &ScreenView) -> Option<Verdict> {
    let footer = view
        .rows_bottom_up()
        .find(|(_, r)| r.contains("Esc to cancel") || r.contains("Enter to confirm"))?;
    let text = view.rows.join("\n");
    let (reason, rule) = if text.contains("Bypass Permissions mode") {
        ("bypass-permissions", "claude.bypass-dialog")
    } else if text.contains("trust this folder") || text.contains("Quick safety check") {
        ("workspace-trust", "claude.trust-dialog")
    } else if text.contains("Do you want to") {
        ("permission", "claude.permission-dialog")
    } else {
        ("confirmation", "claude.confirm-dialog")
    };
    let options = choices(&view.rows, '❯', 0);
    let dialog = selection_dialog(reason, &options, |t| {
        let t = t
            .trim_start_matches(|c: char| c.is_ascii_digit() || c == '.')
            .trim();
        t.starts_with("Yes")
    });
    Some(Verdict::new(
        Observation::Blocked(dialog),
        rule,
        Some(footer.0),
        footer.1.trim(),
    ))
}

impl Adapter for Claude {
    fn name(&self) -> &'static str {
        "claude"
    }

    fn command(&self, cli: &str, args: &[String]) -> Vec<String> {
        let mut argv = vec![
            cli.to_string(),
            "--dangerously-skip-permissions".to_string(),
        ];
        argv.extend(args.iter().cloned());
        argv
    }

    /// Claude takes its session id on the command line, so harnex picks it and knows the
    /// transcript's name before the spawn; a run that names its own session keeps it.
    fn records_plan(
        &self,
        argv: &mut Vec<String>,
        env: &dyn Fn(&str) -> Option<String>,
        _cwd: &std::path::Path,
    ) -> crate::record_files::RecordsPlan {
        use crate::record_files::{RecordsPlan, agent_home};
        let projects_dir = agent_home(env, "CLAUDE_CONFIG_DIR", ".claude").join("projects");
        let value_of = |flags: &[&str]| {
            argv.iter().enumerate().find_map(|(i, arg)| {
                flags.iter().find_map(|flag| {
                    if arg == flag {
                        argv.get(i + 1).filter(|v| !v.starts_with('-')).cloned()
                    } else {
                        arg.strip_prefix(&format!("{flag}=")).map(str::to_string)
                    }
                })
            })
        };
        let has = |flags: &[&str]| {
            argv.iter().any(|a| {
                flags
                    .iter()
                    .any(|f| a == f || a.starts_with(&format!("{f}=")))
            })
        };
        if has(&["--continue", "-c", "--fork-session"]) {
            return RecordsPlan::unavailable(
                "started with --continue or --fork-session: Claude picks the transcript itself",
            );
        }
        let named = value_of(&["--session-id", "--resume", "-r"]);
        if named.is_none() && has(&["--resume", "-r"]) {
            return RecordsPlan::unavailable(
                "started with --resume and no session id: Claude picks the transcript itself",
            );
        }
        let agent_session_id = match named {
            Some(id) if crate::ids::is_uuid(&id) => id,
            Some(_) => {
                return RecordsPlan::unavailable(
                    "the session named on the command line is not a session id (a UUID)",
                );
            }
            None => {
                let id = crate::ids::uuid_v4();
                argv.push("--session-id".into());
                argv.push(id.clone());
                id
            }
        };
        RecordsPlan::ClaudeTranscript {
            projects_dir,
            agent_session_id,
            hooks: None,
        }
    }

    fn classify(&self, view: &ScreenView) -> Verdict {
        if let Some(verdict) = dialog(view) {
            return verdict;
        }
        for (i, row) in view.rows_bottom_up() {
            if row.contains("esc to interrupt") {
                if let Some((at, retry)) = retrying(view) {
                    return Verdict::new(
                        Observation::Busy,
                        "claude.retrying",
                        Some(at),
                        view.rows[at].trim(),
                    )
                    .retrying(retry);
                }
                return Verdict::new(
                    Observation::Busy,
                    "claude.esc-to-interrupt",
                    Some(i),
                    row.trim(),
                );
            }
        }
        if view.title.starts_with(SPINNER_TITLE) {
            return Verdict::new(Observation::Busy, "claude.title-spinner", None, &view.title);
        }
        if let Some((i, row)) = view
            .rows_bottom_up()
            .find(|(_, r)| SPINNER_LINE.is_match(r))
        {
            return Verdict::new(
                Observation::Busy,
                "claude.spinner-line",
                Some(i),
                row.trim(),
            );
        }
        let idle_title = view.title.starts_with('✳');
        if let Some((i, row)) = view
            .rows_bottom_up()
            .find(|(_, r)| r.contains("-- NORMAL --") || r.trim() == "NORMAL")
        {
            let verdict = Verdict::new(
                Observation::Prompt,
                "claude.vim-normal",
                Some(i),
                row.trim(),
            );
            return if idle_title {
                verdict.settled()
            } else {
                verdict
            };
        }
        if let Some(verdict) = super::input_line_verdict(view, '❯', "claude.input-box", idle_title)
        {
            return verdict;
        }
        Verdict::new(
            Observation::Unknown,
            "claude.no-input-box",
            Some(usize::from(view.cursor.0)),
            "cursor is not in the ❯ input box",
        )
    }

    fn is_tui(&self) -> bool {
        true
    }

    /// Claude Code enables bracketed paste and takes Enter right after the end marker (0 lost,
    /// 0 merged in 200 sends, tests/agents/send_burst.rs); the pause is for a terminal without it.
    fn submit_delay(&self, bytes: usize, bracketed_paste: bool) -> Duration {
        if bracketed_paste {
            return Duration::ZERO;
        }
        Duration::from_millis(150 + 50 * (bytes as u64).div_ceil(1024))
    }

    /// Esc cancels the request but puts the prompt's text back into the input box; C-u clears
    /// it, or the next message would be appended to it.
    fn interrupt_keys(&self) -> &'static [&'static str] {
        &["Esc", "C-u"]
    }

    fn exit_sequence(&self) -> Vec<Keystroke> {
        super::slash_exit()
    }

    /// Claude prints no usage; its session transcript has it.
    fn exit_usage(&self, transcript_tail: &str, cwd: &std::path::Path) -> ExitSummary {
        let parsed = self.parse_exit_summary(transcript_tail);
        let from_transcript = parsed.agent_session_id.as_deref().and_then(|session| {
            let config = super::claude_usage::claude_config_dir()?;
            super::claude_usage::claude_usage(&config, cwd, session)
        });
        from_transcript.unwrap_or(parsed)
    }

    /// Claude reports failed API calls as `API Error: …` (or cannot connect at all); a finished
    /// turn ends with `✻ <Verb> for <time>`.
    fn gave_up_on_model(&self, plain_tail: &str) -> bool {
        let last = |re: &Regex| re.find_iter(plain_tail).last().map(|m| m.start());
        match (last(&API_FAILURE), last(&TURN_DONE)) {
            (Some(failure), Some(done)) => failure > done,
            (Some(_), None) => true,
            _ => false,
        }
    }

    fn parse_exit_summary(&self, transcript_tail: &str) -> ExitSummary {
        super::session_id_at_exit(&RESUME, transcript_tail)
    }
}

/// The status line above the input box (`✶ Meandering…`, `✻ API error · retrying in 1s ·
/// attempt 1/10`): the lowest row that starts with a spinner glyph.
static STATUS_LINE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^\s*[·✢✳✶✻✽*] \S").expect("valid status regex"));
/// `retrying in 2s · attempt 2/10`, `retrying… · attempt 1/2`.
static RETRY_ATTEMPT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"retrying\b[^·]*·\s*attempt (?P<attempt>\d+)/(?P<max>\d+)")
        .expect("valid retry regex")
});

/// Claude is retrying its model request when its live status line (the lowest one; older
/// turns' lines sit above it) says so. Returns the row and the attempt.
fn retrying(view: &ScreenView) -> Option<(usize, Retry)> {
    let (row, text) = view
        .rows_bottom_up()
        .find(|(_, r)| STATUS_LINE.is_match(r))?;
    let caps = RETRY_ATTEMPT.captures(text)?;
    let retry = Retry {
        attempt: caps["attempt"].parse().ok()?,
        max: caps["max"].parse().ok(),
    };
    Some((row, retry))
}

static API_FAILURE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"API Error:|Unable to connect to API|Connection error").expect("valid regex")
});
static TURN_DONE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"✻ \p{L}+ for \d").expect("valid regex"));

static RESUME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"--resume\s+(?P<id>[0-9a-fA-F-]{36})").expect("valid regex"));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resume_id_is_parsed() {
        let tail = "Resume this session with:\r\nclaude --dangerously-skip-permissions --resume b6f9ae22-03a8-4b2e-88b3-f7c26e201e94\r\n";
        assert_eq!(
            Claude.parse_exit_summary(tail).agent_session_id.as_deref(),
            Some("b6f9ae22-03a8-4b2e-88b3-f7c26e201e94")
        );
    }

    #[test]
    fn an_api_error_after_the_last_finished_turn_means_it_gave_up() {
        assert!(Claude.gave_up_on_model("✻ Worked for 3s\n❯ next\n⎿ API Error: Connection error."));
        assert!(!Claude.gave_up_on_model("⎿ API Error: 500\n● ok\n✻ Cooked for 4s · done"));
        assert!(!Claude.gave_up_on_model("❯ hi\n← for agents"));
    }

    fn busy_view(rows: &[&str]) -> ScreenView {
        let mut rows: Vec<String> = rows.iter().map(|r| r.to_string()).collect();
        rows.push("❯ ".into());
        rows.push("  ⏵⏵ bypass permissions on · esc to interrupt".into());
        ScreenView {
            cursor: (rows.len() as u16 - 2, 2),
            rows,
            ..ScreenView::default()
        }
    }

    #[test]
    fn the_live_status_line_while_retrying_carries_the_attempt() {
        let verdict = Claude.classify(&busy_view(&[
            "❯ Say the answer",
            "✻ 429 Rate limit reached · retrying in 2s · attempt 2/10",
        ]));
        assert_eq!(verdict.observation, Observation::Busy);
        assert_eq!(verdict.rule, "claude.retrying");
        assert_eq!(
            verdict.retry,
            Some(Retry {
                attempt: 2,
                max: Some(10)
            })
        );
        let waiting = Claude.classify(&busy_view(&["✻ API error · retrying… · attempt 1/2"]));
        assert_eq!(waiting.retry.map(|r| r.attempt), Some(1));
        // An older turn's line above the live one does not count.
        let working = Claude.classify(&busy_view(&[
            "✻ API error · retrying in 1s · attempt 1/2",
            "● API Error: 529 Overloaded.",
            "❯ again",
            "✶ Meandering…",
        ]));
        assert_eq!(working.rule, "claude.esc-to-interrupt");
        assert_eq!(working.retry, None);
    }

    #[test]
    fn spinner_lines_are_busy_but_the_after_turn_line_is_not() {
        assert!(SPINNER_LINE.is_match("✶ Meandering…"));
        assert!(SPINNER_LINE.is_match("· Herding…"));
        assert!(!SPINNER_LINE.is_match("✻ Cooked for 4s · done 7:52 AM"));
        assert!(!SPINNER_LINE.is_match("● Done. The mock agent finished the task."));
    }
}

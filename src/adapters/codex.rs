//! OpenAI Codex CLI (tested with 0.169.0, `--no-alt-screen`).
//!
//! What harnex reads off its screen, its keys and delays are data: `rules/codex.toml` (the screen
//! facts are written down there). This module is what cannot be data: the arguments, the
//! agent's own records and the token usage it prints at exit.

use std::path::PathBuf;
use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;

use super::Adapter;
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

    /// `-C DIR`, `--cd DIR`, `--cd=DIR` (read as every adapter reads its flags: a flag with no
    /// value names no folder, nothing after `--` is a flag), or else `-CDIR`.
    fn repo_dir(&self, args: &[String]) -> Option<PathBuf> {
        use super::argv::{Flag, flag_value};
        match flag_value(args, &["-C", "--cd"]) {
            Flag::Value(dir) => Some(PathBuf::from(dir)),
            Flag::NoValue => None,
            Flag::Absent => args
                .iter()
                .take_while(|arg| *arg != "--")
                .find_map(|arg| arg.strip_prefix("-C").filter(|dir| !dir.is_empty()))
                .map(PathBuf::from),
        }
    }

    /// Codex prints its usage at exit: `Token usage: total=… input=… output=…`.
    fn exit_tokens(&self, plain_tail: &str) -> ExitSummary {
        let mut summary = ExitSummary::default();
        if let Some(caps) = TOKEN_LINE.captures_iter(plain_tail).last() {
            summary.total_tokens = number(caps.name("total"));
            summary.input_tokens = number(caps.name("input"));
            summary.cached_tokens = number(caps.name("cached"));
            summary.output_tokens = number(caps.name("output"));
            summary.reasoning_tokens = number(caps.name("reasoning"));
        }
        summary
    }
}

static TOKEN_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"Token usage: total=(?P<total>[\d,]+) input=(?P<input>[\d,]+)",
        r"(?: \(\+ (?P<cached>[\d,]+) cached\))? output=(?P<output>[\d,]+)",
        r"(?: \(reasoning (?P<reasoning>[\d,]+)\))?",
    ))
    .expect("valid token regex")
});
fn number(text: Option<regex::Match<'_>>) -> Option<u64> {
    text?.as_str().replace(',', "").parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::Retry;

    /// Usage and session id from the text Codex prints at exit.
    fn parse_summary(text: &str) -> ExitSummary {
        Codex.parse_exit_summary(text)
    }

    /// The `reconnecting` rule's attempt pattern on one row.
    fn reconnecting(row: &str) -> Option<Retry> {
        let rules = crate::adapters::rules::builtin("codex");
        let rule = rules.rules.iter().find(|r| r.name == "reconnecting")?;
        let caps = rule.retry.as_ref()?.attempt.captures(row)?;
        Some(Retry {
            attempt: caps["attempt"].parse().ok()?,
            max: caps["max"].parse().ok(),
        })
    }

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
    fn repo_dir_edge_cases() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let dir = |a: &[&str]| Codex.repo_dir(&args(a));
        assert_eq!(dir(&["-m", "o3", "-C", "dir"]), Some(PathBuf::from("dir")));
        assert_eq!(dir(&["--cd=dir", "-m", "o3"]), Some(PathBuf::from("dir")));
        // A flag with no value names no folder: not the next flag, not the work dir.
        assert_eq!(dir(&["-m", "o3", "-C"]), None);
        assert_eq!(dir(&["--cd"]), None);
        assert_eq!(dir(&["-C", "--model", "o3"]), None);
        // After `--` the words are the prompt's.
        assert_eq!(dir(&["--", "-C", "dir"]), None);
        assert_eq!(dir(&["--", "-Cdir"]), None);
        // The first given counts.
        assert_eq!(dir(&["--cd", "a", "-C", "b"]), Some(PathBuf::from("a")));
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

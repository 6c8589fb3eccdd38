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

    /// OpenCode's TUI serves its events (`GET /event`) on the port `--port` names: harnex picks a
    /// free one unless the run names it, and follows each turn's end, answer, usage and error
    /// as OpenCode pushes them.
    fn records_plan(
        &self,
        argv: &mut Vec<String>,
        _env: &dyn Fn(&str) -> Option<String>,
        _cwd: &std::path::Path,
    ) -> crate::record_files::RecordsPlan {
        use super::argv::{Flag, Spelling, flag_value, push_flag};
        use crate::record_files::RecordsPlan;
        let port = match flag_value(argv, &["--port"]) {
            Flag::Value(port) => match port.parse::<u16>() {
                Ok(port) if port != 0 => port,
                _ => {
                    return RecordsPlan::unavailable(
                        "started with --port 0 or a port that is not a number: its events cannot be found",
                    );
                }
            },
            Flag::NoValue => {
                return RecordsPlan::unavailable(
                    "started with --port and no port after it: its events cannot be found",
                );
            }
            Flag::Absent => match free_port() {
                Some(port) => {
                    push_flag(argv, "--port", &port.to_string(), Spelling::Separate);
                    port
                }
                None => {
                    return RecordsPlan::unavailable(
                        "no free loopback port for OpenCode's event server",
                    );
                }
            },
        };
        RecordsPlan::OpenCodeEvents { port }
    }
}

/// A loopback port nothing listens on now (the kernel's pick, released for OpenCode to take).
fn free_port() -> Option<u16> {
    let listener = std::net::TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).ok()?;
    listener.local_addr().ok().map(|a| a.port())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::{Observation, ScreenView};

    const IDLE: [&str; 4] = [
        "  ┃  Ask anything…",
        "  ┃  Build · Mock Model Mock",
        "  ╹▀▀▀▀▀▀▀▀",
        "   /tmp/repo                 ctrl+p commands",
    ];

    #[test]
    fn the_box_with_its_footer_is_the_prompt_and_esc_interrupt_is_busy() {
        let idle = OpenCode.classify(&ScreenView::for_test(&IDLE, (0, 5), ""));
        assert_eq!(idle.observation, Observation::Prompt, "{idle:?}");
        let mut busy = IDLE.to_vec();
        busy[3] = "   ⬝⬝⬝■■■■■  esc interrupt     ctrl+p commands";
        let busy = OpenCode.classify(&ScreenView::for_test(&busy, (0, 5), ""));
        assert_eq!(busy.observation, Observation::Busy, "{busy:?}");
        // Before the UI is wired up there is no footer: not a prompt yet.
        let early = OpenCode.classify(&ScreenView::for_test(&IDLE[..1], (0, 5), ""));
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
        let verdict = OpenCode.classify(&ScreenView::for_test(&screen, (2, 5), ""));
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

    #[test]
    fn the_event_stream_is_found_on_the_port_harnex_picks_or_the_run_names() {
        use crate::record_files::RecordsPlan;
        let env = |_: &str| None;
        let cwd = std::path::Path::new("/repo");
        let mut argv = vec!["opencode".to_string()];
        let RecordsPlan::OpenCodeEvents { port } = OpenCode.records_plan(&mut argv, &env, cwd)
        else {
            panic!("{argv:?}")
        };
        assert_eq!(argv[1..], ["--port".to_string(), port.to_string()]);
        let mut named = vec!["opencode".to_string(), "--port=4999".to_string()];
        assert_eq!(
            OpenCode.records_plan(&mut named, &env, cwd),
            RecordsPlan::OpenCodeEvents { port: 4999 }
        );
        assert_eq!(named.len(), 2);
        for bad in [&["--port", "0"][..], &["--port=x"], &["--port"]] {
            let mut argv = vec!["opencode".to_string()];
            argv.extend(bad.iter().map(|a| a.to_string()));
            assert!(
                matches!(
                    OpenCode.records_plan(&mut argv, &env, cwd),
                    RecordsPlan::Unavailable { .. }
                ),
                "{bad:?}"
            );
            assert_eq!(argv.len(), 1 + bad.len(), "no second --port beside it");
        }
    }
}

//! What a session leaves behind when it ends: token usage, git changes, how it ended, and the
//! dispatch summary record.

pub mod git;
pub mod summary;

use crate::vocab::ChildExit;

/// How a session ended, in order of precedence.
pub fn classify_exit(
    exit: ChildExit,
    ever_ready: bool,
    stop_requested: bool,
    gave_up: bool,
    typed_ctrl_c: bool,
) -> &'static str {
    if !ever_ready && !stop_requested {
        "boot_failure"
    } else if exit.code == 124 {
        "timeout"
    } else if gave_up {
        "disconnected"
    } else if exit.code == 0 {
        "success"
    } else if stop_requested && typed_ctrl_c && ended_by_sigint(exit) {
        // The stop typed Ctrl+C as the agent's own quit key (OpenCode): a second one that
        // lands while the agent is already restoring its terminal arrives as SIGINT. The ladder
        // itself never sends SIGINT, so this is the quit harnex asked for.
        "success"
    } else if stop_requested && (exit.signal.is_some() || ended_by_stop_signal(exit.code)) {
        // Ended by the stop ladder's signals (`stop --force`, a grace that ran out), whether
        // the signal killed it or it caught the signal and exited with 128 + its number.
        "stopped"
    } else if exit.signal.is_some() {
        // Ended by a signal nobody asked harnex for (its tmux window closed, `kill`).
        "killed"
    } else {
        "failure"
    }
}

/// Ended by SIGINT: killed by it, or caught it and exited 128 + 2.
fn ended_by_sigint(exit: ChildExit) -> bool {
    exit.signal == Some(2) || (exit.signal.is_none() && exit.code == 130)
}

/// An exit code that says "ended by a signal the stop ladder sends" (128 + HUP, INT, KILL, TERM).
fn ended_by_stop_signal(code: i32) -> bool {
    matches!(code, 129 | 130 | 137 | 143)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(code: i32) -> ChildExit {
        ChildExit { code, signal: None }
    }

    fn signalled(code: i32, signal: i32) -> ChildExit {
        let signal = Some(signal);
        ChildExit { code, signal }
    }

    #[test]
    fn exits_are_classified_in_order() {
        // (exit, ever ready, stop requested, gave up, typed Ctrl+C) -> how it ended.
        let cases = [
            ((code(0), false, false, false, false), "boot_failure"),
            ((code(1), false, true, false, false), "failure"),
            ((code(124), true, false, false, false), "timeout"),
            ((code(0), true, false, true, false), "disconnected"),
            ((code(0), true, true, false, false), "success"),
            // It caught the stop's SIGTERM and exited 128 + 15 itself: stopped all the same.
            ((code(143), true, true, false, false), "stopped"),
            ((code(143), true, false, false, false), "failure"),
            ((signalled(129, 1), true, true, false, false), "stopped"),
            ((signalled(129, 1), true, false, false, false), "killed"),
            // Ctrl+C typed as the agent's quit key, the agent ending of SIGINT: the quit asked for.
            ((signalled(130, 2), true, true, false, true), "success"),
            ((code(130), true, true, false, true), "success"),
            ((signalled(130, 2), true, true, false, false), "stopped"),
            ((signalled(130, 2), true, false, false, true), "killed"),
        ];
        for (case, want) in cases {
            let (exit, ready, stop, gave_up, ctrl_c) = case;
            let got = classify_exit(exit, ready, stop, gave_up, ctrl_c);
            assert_eq!(got, want, "{case:?}");
        }
    }
}

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
) -> &'static str {
    if !ever_ready && !stop_requested {
        "boot_failure"
    } else if exit.code == 124 {
        "timeout"
    } else if gave_up {
        "disconnected"
    } else if exit.code == 0 {
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

    #[test]
    fn exits_are_classified_in_order() {
        assert_eq!(classify_exit(code(0), false, false, false), "boot_failure");
        assert_eq!(classify_exit(code(1), false, true, false), "failure");
        assert_eq!(classify_exit(code(124), true, false, false), "timeout");
        assert_eq!(classify_exit(code(0), true, false, true), "disconnected");
        assert_eq!(classify_exit(code(0), true, true, false), "success");
        // It caught the stop's SIGTERM and exited 128 + 15 itself: stopped all the same.
        assert_eq!(classify_exit(code(143), true, true, false), "stopped");
        assert_eq!(classify_exit(code(143), true, false, false), "failure");
        let signalled = ChildExit {
            code: 129,
            signal: Some(1),
        };
        assert_eq!(classify_exit(signalled, true, true, false), "stopped");
        assert_eq!(classify_exit(signalled, true, false, false), "killed");
    }
}

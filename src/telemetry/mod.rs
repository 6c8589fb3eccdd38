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
    } else if exit.signal.is_some() && stop_requested {
        // Ended by the stop ladder's signals (`stop --force`, a grace that ran out).
        "stopped"
    } else if exit.signal.is_some() {
        // Ended by a signal nobody asked harnex for (its tmux window closed, `kill`).
        "killed"
    } else {
        "failure"
    }
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
        assert_eq!(classify_exit(code(143), true, true, false), "failure");
        let signalled = ChildExit {
            code: 129,
            signal: Some(1),
        };
        assert_eq!(classify_exit(signalled, true, true, false), "stopped");
        assert_eq!(classify_exit(signalled, true, false, false), "killed");
    }
}

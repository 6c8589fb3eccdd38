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
    }
}

//! Running a short helper program (`git`, an agent CLI's `--version`) and reading its answer.

use std::process::{Command, Stdio};

/// The trimmed stdout of `command` when it ran and succeeded; stdin and stderr are closed to it.
pub fn answer_of(command: &mut Command) -> Option<String> {
    let out = command
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

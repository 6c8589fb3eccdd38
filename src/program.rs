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

/// [`answer_of`] with a deadline: a program that does not answer within `within` is killed and
/// gives no answer (a hung `--help` must not hang `harnex run`).
pub fn answer_within(command: &mut Command, within: std::time::Duration) -> Option<String> {
    use std::io::Read;
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let mut stdout = child.stdout.take()?;
    let reader = std::thread::spawn(move || {
        let mut text = Vec::new();
        let _ = stdout.read_to_end(&mut text);
        text
    });
    let deadline = std::time::Instant::now() + within;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
        }
    };
    let text = reader.join().ok()?;
    status
        .filter(|s| s.success())
        .map(|_| String::from_utf8_lossy(&text).trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_that_does_not_answer_in_time_gives_no_answer() {
        let started = std::time::Instant::now();
        let hung = answer_within(
            Command::new("sleep").arg("5"),
            std::time::Duration::from_millis(100),
        );
        assert_eq!(hung, None);
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
        let quick = answer_within(
            Command::new("echo").arg("hi"),
            std::time::Duration::from_secs(5),
        );
        assert_eq!(quick.as_deref(), Some("hi"));
    }
}

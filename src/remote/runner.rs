//! One ssh run of the remote harnex: spawn ssh, relay or capture its output, keep its stderr for
//! [`classify`], and hold its stdin open for a stream so the remote side notices when we go.
//!
//! Threads: the caller's thread waits for ssh; one thread reads ssh's stderr (relaying it line by
//! line, minus the preamble's markers); one reads stdout when it is captured.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Stdio};

use super::failure::{Ended, Outcome, classify};
use super::hosts::Host;
use super::shell::{MARKER, RemoteCall};
use super::ssh::Ssh;
use crate::error::{Error, Result};

/// stderr lines kept for classifying a failure.
const KEPT_LINES: usize = 40;

/// Where the remote harnex's stdout goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// Straight to ours, as it comes.
    Relay,
    /// Into [`Finished::stdout`].
    Capture,
}

/// What the remote harnex reads on stdin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    /// Ours (`send` reads a message there).
    Inherit,
    Null,
    /// A pipe we hold until the run ends: for a stream, whose end tells the remote side we went.
    Hold,
}

#[derive(Debug, Clone, Copy)]
pub struct Plumbing {
    pub output: Output,
    pub input: Input,
    /// Copy the remote stderr to ours as it comes (else only keep it).
    pub relay_stderr: bool,
}

#[derive(Debug)]
pub struct Finished {
    pub outcome: Outcome,
    pub stdout: Vec<u8>,
    pub stderr: Vec<String>,
}

/// Run `call` on `host`; `command` names it in messages (`wait`, `status`, …).
pub fn run(
    ssh: &Ssh,
    host: &Host,
    call: &RemoteCall,
    command: &str,
    plumbing: Plumbing,
) -> Result<Finished> {
    let mut cmd = ssh.command(host, call);
    cmd.stderr(Stdio::piped());
    cmd.stdout(match plumbing.output {
        Output::Relay => Stdio::inherit(),
        Output::Capture => Stdio::piped(),
    });
    cmd.stdin(match plumbing.input {
        Input::Inherit => Stdio::inherit(),
        Input::Null => Stdio::null(),
        Input::Hold => Stdio::piped(),
    });
    let mut child = cmd.spawn().map_err(|e| {
        Error::failed(format!(
            "cannot run {:?} to reach {}: {e}; install OpenSSH's client or set HARNEX_SSH to the ssh command to use",
            ssh.program(),
            host.name
        ))
    })?;
    // Held, never written: dropped only after ssh ended.
    let held: Option<ChildStdin> = child.stdin.take();
    let stderr_reader = child.stderr.take().map(|err| {
        let relay = plumbing.relay_stderr;
        std::thread::spawn(move || read_stderr(err, relay))
    });
    let stdout_reader = child.stdout.take().map(|mut out| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = out.read_to_end(&mut bytes);
            bytes
        })
    });
    let ended = wait(&mut child)?;
    drop(held);
    let stdout = stdout_reader
        .and_then(|t| t.join().ok())
        .unwrap_or_default();
    let stderr = stderr_reader
        .and_then(|t| t.join().ok())
        .unwrap_or_default();
    let outcome = classify(&host.name, command, call.dir.as_deref(), ended, &stderr);
    Ok(Finished {
        outcome,
        stdout,
        stderr,
    })
}

fn wait(child: &mut Child) -> Result<Ended> {
    child
        .wait()
        .map(Ended::from)
        .map_err(|e| Error::io("wait for ssh", e))
}

/// Relay (or only keep) ssh's stderr; markers are kept, never shown.
fn read_stderr(err: impl Read, relay: bool) -> Vec<String> {
    let mut markers: Vec<String> = Vec::new();
    let mut kept: Vec<String> = Vec::new();
    let mut reader = BufReader::new(err);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line) {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line)
            .trim_end_matches(['\n', '\r'])
            .to_string();
        if text.starts_with(MARKER) {
            markers.push(text);
            continue;
        }
        if relay {
            // Raw bytes, as the remote harnex wrote them; a closed stderr is not our problem.
            let mut out = std::io::stderr().lock();
            let _ = out.write_all(&line).and_then(|_| out.flush());
        }
        kept.push(text);
        if kept.len() > KEPT_LINES {
            kept.remove(0);
        }
    }
    markers.extend(kept);
    markers
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_are_kept_and_the_tail_is_bounded() {
        let mut text = String::from("harnex-remote: missing\n");
        for i in 0..100 {
            text.push_str(&format!("line {i}\n"));
        }
        let kept = read_stderr(text.as_bytes(), false);
        assert_eq!(kept.len(), KEPT_LINES + 1);
        assert_eq!(kept[0], "harnex-remote: missing");
        assert_eq!(kept.last().map(String::as_str), Some("line 99"));
    }
}

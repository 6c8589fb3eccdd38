//! The agent's PTY: spawning the child, and the three threads around it — the reader (sole
//! reader of the master; writes the transcript first so nothing is lost), the writer (sole owner
//! of the master's write side, fed by a channel) and the waiter (reaps the child).

use std::io::{Read, Write};
use std::path::Path;
use std::sync::mpsc::{Receiver, Sender, SyncSender};

use portable_pty::{CommandBuilder, MasterPty, PtySize, native_pty_system};

use super::live::ChildExit;
use super::monitor::MonitorMsg;
use crate::error::{Error, Result};

pub struct Spawned {
    pub master: Box<dyn MasterPty + Send>,
    pub reader: Box<dyn Read + Send>,
    pub writer: Box<dyn Write + Send>,
    pub pid: u32,
    /// Kept so the child handle is not dropped early; the waiter reaps with waitpid.
    _child: Box<dyn portable_pty::Child + Send + Sync>,
}

/// Variables the agent never inherits.
pub const AGENT_ENV_REMOVED: [&str; 2] = ["TMUX", "TMUX_PANE"];

pub fn pty_size(rows: u16, cols: u16) -> PtySize {
    PtySize {
        rows,
        cols,
        pixel_width: 0,
        pixel_height: 0,
    }
}

/// Start `argv` on a new PTY of the given size, in `cwd`, with `env` added to ours.
pub fn spawn(
    argv: &[String],
    cwd: &Path,
    env: &[(String, String)],
    rows: u16,
    cols: u16,
) -> Result<Spawned> {
    let pair = native_pty_system()
        .openpty(pty_size(rows, cols))
        .map_err(|e| Error::failed(format!("cannot open a pseudo-terminal: {e}")))?;
    let mut cmd = CommandBuilder::new(&argv[0]);
    cmd.args(&argv[1..]);
    cmd.cwd(cwd);
    for (key, value) in env {
        cmd.env(key, value);
    }
    // The agent's terminal is ours, not a tmux pane: an agent that sees TMUX talks to that tmux
    // server (Codex queries its options; Claude stops drawing its busy title).
    for key in AGENT_ENV_REMOVED {
        cmd.env_remove(key);
    }
    let child = pair
        .slave
        .spawn_command(cmd)
        .map_err(|e| Error::failed(format!("cannot start {}: {e}", argv[0])))?;
    // The child holds its own copy of the slave; ours would keep the PTY open after it exits.
    drop(pair.slave);
    let pid = child
        .process_id()
        .ok_or_else(|| Error::failed("the agent has no process id"))?;
    let reader = pair
        .master
        .try_clone_reader()
        .map_err(|e| Error::failed(format!("cannot read the pseudo-terminal: {e}")))?;
    let writer = pair
        .master
        .take_writer()
        .map_err(|e| Error::failed(format!("cannot write the pseudo-terminal: {e}")))?;
    Ok(Spawned {
        master: pair.master,
        reader,
        writer,
        pid,
        _child: child,
    })
}

/// Copy PTY output to the transcript, optionally to our stdout (foreground), and to the
/// monitor. Ends at EOF/EIO (the agent and everything holding its terminal is gone). A transcript
/// that cannot be written (disk full) loses those bytes — counted in `health` — while the screen
/// and the API keep working; writing resumes by itself when the disk takes writes again.
pub fn read_loop(
    mut reader: Box<dyn Read + Send>,
    mut transcript: impl Write,
    mut echo: Option<std::io::Stdout>,
    monitor: SyncSender<MonitorMsg>,
    health: std::sync::Arc<crate::diag::WriteHealth>,
) {
    let mut buf = vec![0u8; 64 * 1024];
    let mut failing = false;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let chunk = &buf[..n];
        match transcript.write_all(chunk) {
            Ok(()) if failing => {
                failing = false;
                crate::warn!("harnex: the transcript is writable again");
            }
            Ok(()) => {}
            Err(e) => {
                health.count_error();
                health
                    .transcript_bytes_dropped
                    .fetch_add(chunk.len() as u64, std::sync::atomic::Ordering::Relaxed);
                // Once per outage: stderr may be on the same full disk.
                if !failing {
                    failing = true;
                    crate::warn!(
                        "harnex: cannot append to the transcript: {e}; output is dropped from it until it works again"
                    );
                }
            }
        }
        if let Some(out) = echo.as_mut() {
            let mut lock = out.lock();
            if lock.write_all(chunk).and_then(|_| lock.flush()).is_err() {
                echo = None;
            }
        }
        if monitor.send(MonitorMsg::Output(chunk.to_vec())).is_err() {
            break;
        }
    }
    let _ = monitor.send(MonitorMsg::OutputClosed);
}

/// One write to the agent's terminal; `done` hears the result once it is written.
pub struct WriteRequest {
    pub bytes: Vec<u8>,
    pub done: Option<Sender<std::io::Result<()>>>,
}

/// The only writer of the PTY: requests are written whole and in order, so a person typing and
/// an API delivery never interleave inside one write.
pub fn write_loop(mut writer: Box<dyn Write + Send>, requests: Receiver<WriteRequest>) {
    for request in requests {
        let result = writer
            .write_all(&request.bytes)
            .and_then(|_| writer.flush());
        if let Some(done) = request.done {
            let _ = done.send(result);
        }
    }
}

/// Reap the agent (blocking) and report how it ended.
pub fn wait_child(pid: u32) -> ChildExit {
    use nix::sys::wait::{WaitStatus, waitpid};
    let pid = nix::unistd::Pid::from_raw(pid as i32);
    loop {
        match waitpid(pid, None) {
            Ok(WaitStatus::Exited(_, code)) => {
                return ChildExit { code, signal: None };
            }
            Ok(WaitStatus::Signaled(_, signal, _)) => {
                let number = signal as i32;
                return ChildExit {
                    code: 128 + number,
                    signal: Some(number),
                };
            }
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => {
                // Not our child any more (already reaped): nothing better to report.
                return ChildExit {
                    code: 1,
                    signal: None,
                };
            }
        }
    }
}

/// Find a program on PATH (or check a path given with a slash) before spawning it.
pub fn find_program(program: &str) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.contains('/') {
        let path = Path::new(program);
        return executable(path).then(|| path.to_path_buf());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| executable(candidate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_programs_on_path() {
        assert!(find_program("sh").is_some());
        assert!(find_program("/bin/sh").is_some());
        assert!(find_program("no-such-program-harnex").is_none());
        assert!(find_program("/nonexistent/sh").is_none());
    }
}

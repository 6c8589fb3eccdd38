//! The agent's PTY: spawning the child, and the three threads around it — the reader (sole
//! reader of the master; writes the transcript first so nothing is lost, within its cap), the writer (sole owner
//! of the master's write side, fed by a channel) and the waiter (reaps the child).

use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::sync::mpsc::{Receiver, Sender, SyncSender};

use nix::fcntl::{FcntlArg, FdFlag, fcntl};
use nix::pty::{Winsize, openpty};

use super::live::ChildExit;
use super::monitor::MonitorMsg;
use crate::error::{Error, Result};

pub struct Spawned {
    pub master: Master,
    pub reader: Box<dyn Read + Send>,
    pub writer: Box<dyn Write + Send>,
    pub pid: u32,
    /// Kept so the child handle is not dropped early; the waiter reaps with waitpid.
    _child: std::process::Child,
}

/// Variables the agent never inherits (the last one marks a detached supervisor, not its agent).
pub const AGENT_ENV_REMOVED: [&str; 3] =
    ["TMUX", "TMUX_PANE", crate::sweep::DETACHED_SUPERVISOR_ENV];

fn window(rows: u16, cols: u16) -> Winsize {
    Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

/// The PTY's master side, kept for resizing (the reader and writer hold their own copies).
pub struct Master(OwnedFd);

impl Master {
    /// Tell the agent its terminal has a new size (it gets SIGWINCH).
    pub fn resize(&self, rows: u16, cols: u16) -> std::io::Result<()> {
        let size = window(rows, cols);
        // SAFETY: TIOCSWINSZ reads one `winsize` from the pointer, which outlives the call; the
        // descriptor is ours and open.
        let result = unsafe { libc::ioctl(self.0.as_raw_fd(), libc::TIOCSWINSZ as _, &size) };
        if result == -1 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(())
    }
}

/// Programs the supervisor starts later (git, tmux) must not inherit the agent's terminal.
fn close_on_exec(fd: &OwnedFd) -> Result<()> {
    fcntl(fd.as_fd(), FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC))
        .map(|_| ())
        .map_err(|e| Error::failed(format!("cannot set up the pseudo-terminal: {e}")))
}

/// Start `argv` on a new PTY of the given size, in `cwd`, with `env` added to ours.
///
/// The agent becomes a session leader with the PTY as its controlling terminal, and dies with
/// the thread that spawns it (`PR_SET_PDEATHSIG`): call this from the thread that lives for the
/// whole session (the supervisor's main thread), so a supervisor killed with SIGKILL does not
/// leave its agent behind.
pub fn spawn(
    argv: &[String],
    cwd: &Path,
    env: &[(String, String)],
    rows: u16,
    cols: u16,
) -> Result<Spawned> {
    let pty = openpty(&window(rows, cols), None)
        .map_err(|e| Error::failed(format!("cannot open a pseudo-terminal: {e}")))?;
    close_on_exec(&pty.master)?;
    close_on_exec(&pty.slave)?;
    let slave = std::fs::File::from(pty.slave);
    let stdio = |file: &std::fs::File| {
        file.try_clone()
            .map(std::process::Stdio::from)
            .map_err(|e| Error::failed(format!("cannot use the pseudo-terminal: {e}")))
    };
    let mut cmd = std::process::Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .current_dir(cwd)
        .stdin(stdio(&slave)?)
        .stdout(stdio(&slave)?)
        .stderr(stdio(&slave)?);
    for (key, value) in env {
        cmd.env(key, value);
    }
    // The agent's terminal is ours, not a tmux pane: an agent that sees TMUX talks to that tmux
    // server (Codex queries its options; Claude stops drawing its busy title).
    for key in AGENT_ENV_REMOVED {
        cmd.env_remove(key);
    }
    let supervisor = std::process::id() as libc::pid_t;
    // SAFETY: only async-signal-safe calls (signal, sigprocmask, prctl, getppid, setsid, ioctl)
    // run between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            for signo in [
                libc::SIGCHLD,
                libc::SIGHUP,
                libc::SIGINT,
                libc::SIGQUIT,
                libc::SIGTERM,
                libc::SIGALRM,
                libc::SIGPIPE,
            ] {
                libc::signal(signo, libc::SIG_DFL);
            }
            let empty: libc::sigset_t = std::mem::zeroed();
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
            if libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            ) == -1
            {
                return Err(std::io::Error::last_os_error());
            }
            // The supervisor may have died before the line above: then nobody would signal us.
            if libc::getppid() != supervisor {
                libc::_exit(1);
            }
            if libc::setsid() == -1 {
                return Err(std::io::Error::last_os_error());
            }
            if libc::ioctl(0, libc::TIOCSCTTY as _, 0) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            // Descriptors our caller left open without close-on-exec are not the agent's.
            // (Closing them here would also close std's exec-error pipe.)
            if libc::syscall(
                libc::SYS_close_range,
                3,
                libc::c_uint::MAX,
                libc::CLOSE_RANGE_CLOEXEC,
            ) != 0
            {
                for fd in 3..1024 {
                    libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
                }
            }
            Ok(())
        });
    }
    let child = cmd
        .spawn()
        .map_err(|e| Error::failed(format!("cannot start {}: {e}", argv[0])))?;
    // The child holds its own copies of the slave; ours would keep the PTY open after it exits.
    drop(cmd);
    drop(slave);
    let pid = child.id();
    let copy = |what: &str| {
        pty.master
            .try_clone()
            .map(std::fs::File::from)
            .map_err(|e| Error::failed(format!("cannot {what} the pseudo-terminal: {e}")))
    };
    let reader = copy("read")?;
    let writer = copy("write")?;
    Ok(Spawned {
        master: Master(pty.master),
        reader: Box::new(reader),
        writer: Box::new(writer),
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
    mut transcript: super::transcript::Transcript,
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
        match transcript.write(chunk) {
            Ok(()) if failing => {
                failing = false;
                crate::warn!("harnex: the transcript is writable again");
            }
            Ok(()) => {}
            Err(e) => {
                health.count_error();
                health
                    .transcript_write_lost_bytes
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
    if let Err(e) = transcript.finish() {
        let _ = writeln!(std::io::stderr(), "harnex: cannot trim the transcript: {e}");
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

    /// Read the agent's output until it contains `want` (bounded by a deadline).
    fn read_until(output: &Receiver<Vec<u8>>, seen: &mut String, want: &str) {
        let give_up = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !seen.contains(want) {
            let left = give_up.saturating_duration_since(std::time::Instant::now());
            match output.recv_timeout(left) {
                Ok(bytes) => seen.push_str(&String::from_utf8_lossy(&bytes)),
                Err(_) => panic!("no {want:?} in the agent's output: {seen:?}"),
            }
        }
    }

    #[test]
    fn the_agent_gets_a_terminal_of_our_size_and_sees_it_resized() {
        let argv: Vec<String> = ["sh", "-c", "stty size; read line; stty size"]
            .iter()
            .map(|a| a.to_string())
            .collect();
        let mut spawned = spawn(&argv, Path::new("/"), &[], 24, 80).unwrap();
        let (tx, output) = std::sync::mpsc::channel();
        let mut reader = spawned.reader;
        std::thread::spawn(move || {
            let mut buf = [0u8; 1024];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        let mut seen = String::new();
        read_until(&output, &mut seen, "24 80");
        spawned.master.resize(30, 100).unwrap();
        spawned.writer.write_all(b"go\r").unwrap();
        read_until(&output, &mut seen, "30 100");
        assert_eq!(wait_child(spawned.pid).code, 0);
    }

    #[test]
    fn finds_programs_on_path() {
        assert!(find_program("sh").is_some());
        assert!(find_program("/bin/sh").is_some());
        assert!(find_program("no-such-program-harnex").is_none());
        assert!(find_program("/nonexistent/sh").is_none());
    }
}

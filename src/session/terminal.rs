//! The caller's terminal in foreground mode: raw mode while the agent runs (restored on drop),
//! its size, and forwarding keystrokes to the agent.

use nix::sys::termios::{self, SetArg, Termios};
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd};

use super::keyboard::Keyboard;

/// Puts a terminal in raw mode and restores it when dropped.
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// Raw mode on stdin, if stdin is a terminal.
    pub fn enable_on_stdin() -> Option<RawMode> {
        let stdin = std::io::stdin();
        let fd = stdin.as_fd();
        let saved = termios::tcgetattr(fd).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(fd, SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let stdin = std::io::stdin();
        let _ = termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

pub fn is_terminal(fd: BorrowedFd<'_>) -> bool {
    nix::unistd::isatty(fd).unwrap_or(false)
}

/// (rows, cols) of the terminal on stdout or stdin, if either is one.
pub fn size() -> Option<(u16, u16)> {
    let probe = |fd: i32| {
        let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
        // SAFETY: TIOCGWINSZ writes a winsize into the struct we own.
        let rc = unsafe { libc::ioctl(fd, libc::TIOCGWINSZ, &mut ws) };
        (rc == 0 && ws.ws_row > 0 && ws.ws_col > 0).then_some((ws.ws_row, ws.ws_col))
    };
    probe(libc::STDOUT_FILENO).or_else(|| probe(libc::STDIN_FILENO))
}

/// Copy the person's keystrokes to the agent until stdin closes (held while a delivery writes).
pub fn forward_stdin(keyboard: &Keyboard) {
    let mut stdin = std::io::stdin();
    let mut buf = [0u8; 4096];
    loop {
        match stdin.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if !keyboard.typed(&buf[..n]) {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return,
        }
    }
}

//! tmux commands: creating the window a session runs in, finding out which pane we are, and
//! capturing a pane. Every call is a short-lived `tmux` client process; nothing here keeps state.
//!
//! A pane id (`%N`) is only meaningful on the server that issued it, so commands about a known
//! pane go to that server's socket (`-S`, recorded in the registry as `tmux_socket`). Commands
//! that create windows use the caller's server: the one `$TMUX` names inside tmux, else the
//! default socket under `$TMUX_TMPDIR`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::error::{Error, Result};

/// The session harnex creates its windows in when the caller is not inside tmux.
pub const DEFAULT_SESSION: &str = "harnex";

/// A pane a session runs in, as recorded in the registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pane {
    /// The server's socket (first field of `$TMUX`), when known.
    pub socket: Option<PathBuf>,
    /// `%N`
    pub target: String,
    pub session: String,
    pub window: String,
}

/// Whether a tmux binary runs.
pub fn installed() -> bool {
    Command::new("tmux")
        .arg("-V")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// `tmux [-S socket] args…` → stdout, or the error tmux printed.
fn tmux(socket: Option<&Path>, args: &[&str]) -> std::result::Result<String, String> {
    let mut command = Command::new("tmux");
    // UTF-8 output whatever the locale: without it (a bare ssh session has no LANG) tmux prints
    // the tabs of our formats as `_`, and a live pane read as gone.
    command.arg("-u");
    if let Some(socket) = socket {
        command.arg("-S").arg(socket);
    }
    let out = command
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run tmux: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        let err = String::from_utf8_lossy(&out.stderr).trim().to_string();
        Err(if err.is_empty() {
            format!("tmux {} failed ({})", args.join(" "), out.status)
        } else {
            err
        })
    }
}

/// The socket of the server we run inside, from `$TMUX` (`socket,pid,session`).
pub fn socket_from_env(tmux_var: &str) -> Option<PathBuf> {
    let socket = tmux_var.split(',').next()?;
    (!socket.is_empty()).then(|| PathBuf::from(socket))
}

/// Where a new window goes: the caller's current tmux session, or the `harnex` session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// `$TMUX` is set: a window in the current session.
    CurrentSession,
    /// Outside tmux: a window in session `harnex` (created when missing).
    HarnexSession,
}

impl Placement {
    pub fn from_env() -> Placement {
        match std::env::var("TMUX") {
            Ok(v) if !v.is_empty() => Placement::CurrentSession,
            _ => Placement::HarnexSession,
        }
    }
}

/// Open a detached window named `name` running `argv` in `cwd`; returns its pane id (`%N`).
pub fn new_window(
    placement: &Placement,
    name: &str,
    cwd: &Path,
    argv: &[String],
) -> Result<String> {
    let cwd = cwd.to_string_lossy();
    let create = |first: &[&str]| {
        let mut args: Vec<&str> = first.to_vec();
        args.extend(["-d", "-n", name, "-c", &cwd, "-P", "-F", "#{pane_id}", "--"]);
        args.extend(argv.iter().map(String::as_str));
        tmux(None, &args)
    };
    let made = match placement {
        Placement::CurrentSession => create(&["new-window"]),
        Placement::HarnexSession => {
            let target = format!("={DEFAULT_SESSION}");
            if tmux(None, &["has-session", "-t", &target]).is_ok() {
                create(&["new-window", "-t", &format!("{target}:")])
            } else {
                match create(&[
                    "new-session",
                    "-s",
                    DEFAULT_SESSION,
                    "-x",
                    "120",
                    "-y",
                    "40",
                ]) {
                    // Another dispatch created it in the meantime.
                    Err(e) if e.contains("duplicate session") => {
                        create(&["new-window", "-t", &format!("{target}:")])
                    }
                    other => other,
                }
            }
        }
    };
    let pane = made.map_err(|e| Error::failed(format!("cannot open a tmux window: {e}")))?;
    let pane = pane.trim().to_string();
    if !pane.starts_with('%') {
        return Err(Error::failed(format!(
            "tmux did not report the new pane (got {pane:?})"
        )));
    }
    Ok(pane)
}

/// Session and window name of `target` on `socket`, or `None` when the pane is gone.
pub fn describe(socket: Option<&Path>, target: &str) -> Option<Pane> {
    let format = "#{pane_id}\t#{session_name}\t#{window_name}";
    let out = tmux(socket, &["display-message", "-p", "-t", target, format]).ok()?;
    let mut fields = out.trim_end_matches('\n').splitn(3, '\t');
    // tmux 3.3 answers a bad target with an error on stderr but status 0: check the id.
    if fields.next()? != target {
        return None;
    }
    Some(Pane {
        socket: socket.map(Path::to_path_buf),
        target: target.to_string(),
        session: fields.next()?.to_string(),
        window: fields.next()?.to_string(),
    })
}

/// How a pane's process ended, if it did (`remain-on-exit` keeps dead panes around).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaneLife {
    Alive,
    Dead(Option<i32>),
    Gone,
}

pub fn pane_life(socket: Option<&Path>, target: &str) -> PaneLife {
    let format = "#{pane_id}\t#{pane_dead}\t#{pane_dead_status}";
    let Ok(out) = tmux(socket, &["display-message", "-p", "-t", target, format]) else {
        return PaneLife::Gone;
    };
    let fields: Vec<&str> = out.trim_end_matches('\n').split('\t').collect();
    match fields.as_slice() {
        [id, "1", status] if *id == target => PaneLife::Dead(status.parse().ok()),
        [id, ..] if *id == target => PaneLife::Alive,
        _ => PaneLife::Gone,
    }
}

/// Keep the pane (and its last screen) after its process exits, or let it close.
pub fn set_remain_on_exit(socket: Option<&Path>, target: &str, on: bool) -> Result<()> {
    let value = if on { "on" } else { "off" };
    tmux(
        socket,
        &["set-option", "-w", "-t", target, "remain-on-exit", value],
    )
    .map(|_| ())
    .map_err(|e| Error::failed(format!("cannot set remain-on-exit on {target}: {e}")))
}

/// The text of a pane: its visible screen, plus `history` lines of scrollback above it.
pub fn capture(socket: Option<&Path>, target: &str, history: Option<u64>) -> Result<String> {
    let start = history.map(|n| format!("-{n}"));
    let mut args = vec!["capture-pane", "-p", "-t", target];
    if let Some(start) = &start {
        args.extend(["-S", start]);
    }
    tmux(socket, &args)
        .map_err(|e| Error::failed(format!("cannot capture tmux pane {target}: {e}")))
}

/// Whether `target` exists on the server (`has-session` accepts pane ids).
pub fn target_exists(socket: Option<&Path>, target: &str) -> bool {
    tmux(socket, &["has-session", "-t", target]).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_is_the_first_field_of_tmux() {
        assert_eq!(
            socket_from_env("/tmp/tmux-0/default,123,4"),
            Some(PathBuf::from("/tmp/tmux-0/default"))
        );
        assert_eq!(socket_from_env(""), None);
    }
}

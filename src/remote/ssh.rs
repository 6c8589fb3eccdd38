//! The ssh command: the user's own (`HARNEX_SSH`, split like a shell command line as git splits
//! `GIT_SSH_COMMAND`; default `ssh`), plus connection sharing in a harnex-owned control dir so a
//! command on a remote session costs one round trip on an open connection, not a handshake.
//!
//! Control sockets live in `$XDG_RUNTIME_DIR/harnex-ssh` (else `/tmp/harnex-ssh-<uid>`), a 0700
//! directory we own: a socket there is a logged-in connection, so another local user must not
//! reach it. Unix socket paths are short (104 bytes on macOS, 108 on Linux, and ssh adds a
//! 17-byte suffix while it sets one up), so a directory too deep for that falls back to `/tmp`,
//! and sharing is left off rather than failing when even that is too long.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::hosts::Host;
use super::shell::{self, RemoteCall};
use crate::error::{Error, Result};

/// How long an idle shared connection stays open after the last command.
const CONTROL_PERSIST: &str = "300";
/// The longest socket path that works everywhere, less ssh's temporary suffix.
const MAX_SOCKET_PATH: usize = 104 - 17 - 1;
/// `<prefix>-%C`: our hash of the destination and ssh command (8 hex characters), then ssh's
/// 40-character hash of local host, remote host, port and user.
const SOCKET_NAME: &str = "%C";
const SOCKET_PREFIX_BYTES: usize = 4;
const SOCKET_NAME_LEN: usize = SOCKET_PREFIX_BYTES * 2 + 1 + 40;

/// The ssh program and its options, ready to take a host and a remote command.
#[derive(Debug, Clone)]
pub struct Ssh {
    program: String,
    options: Vec<String>,
    /// Where shared connections' sockets go; `None`: no sharing.
    control_dir: Option<PathBuf>,
}

impl Ssh {
    /// From `HARNEX_SSH` and the control dir.
    pub fn from_env() -> Result<Ssh> {
        let spec = std::env::var("HARNEX_SSH").unwrap_or_default();
        let mut words = if spec.trim().is_empty() {
            vec!["ssh".to_string()]
        } else {
            shell_words::split(&spec).map_err(|e| {
                Error::usage(format!(
                    "HARNEX_SSH={spec:?} is not a command line ({e}); e.g. HARNEX_SSH='ssh -F ~/.ssh/other_config'"
                ))
            })?
        };
        let program = words.remove(0);
        let mut options = words;
        options.extend(base_options());
        let control_dir = control_dir();
        if control_dir.is_none() {
            crate::warn!(
                "harnex: no private directory for ssh control sockets (XDG_RUNTIME_DIR or /tmp); each remote command opens its own connection"
            );
        }
        Ok(Ssh {
            program,
            options,
            control_dir,
        })
    }

    /// Sockets are per destination as written and per ssh command, not only per `%C` (user, host,
    /// port): two aliases of one server with different keys must not share a logged-in connection.
    fn socket_prefix(&self, host: &Host) -> String {
        use sha2::{Digest, Sha256};
        let mut hash = Sha256::new();
        hash.update(self.program.as_bytes());
        for option in &self.options {
            hash.update([0]);
            hash.update(option.as_bytes());
        }
        hash.update([1]);
        hash.update(host.destination.as_bytes());
        crate::paths::hex(&hash.finalize()[..SOCKET_PREFIX_BYTES])
    }

    /// `ssh OPTIONS -- DESTINATION COMMAND` for `call` on `host`.
    pub fn command(&self, host: &Host, call: &RemoteCall) -> Command {
        let mut cmd = Command::new(&self.program);
        cmd.args(&self.options);
        if let Some(dir) = &self.control_dir {
            cmd.args(control_options(dir, &self.socket_prefix(host)));
        }
        cmd.arg("--")
            .arg(&host.destination)
            .arg(shell::command_line(host, call));
        cmd
    }

    /// The program, for messages.
    pub fn program(&self) -> &str {
        &self.program
    }
}

/// Options every remote command gets: no terminal, notice a dead peer within ~45 s, give up
/// connecting after 15 s.
fn base_options() -> Vec<String> {
    [
        "-T",
        "-o",
        "ServerAliveInterval=15",
        "-o",
        "ServerAliveCountMax=3",
        "-o",
        "ConnectTimeout=15",
    ]
    .map(String::from)
    .to_vec()
}

fn control_options(dir: &Path, prefix: &str) -> Vec<String> {
    vec![
        "-o".into(),
        "ControlMaster=auto".into(),
        "-o".into(),
        format!("ControlPath={}/{prefix}-{SOCKET_NAME}", dir.display()),
        "-o".into(),
        format!("ControlPersist={CONTROL_PERSIST}"),
    ]
}

/// The private control dir, created if missing; `None` when no candidate is usable.
pub fn control_dir() -> Option<PathBuf> {
    let uid = nix::unistd::geteuid().as_raw();
    let runtime = std::env::var_os("XDG_RUNTIME_DIR")
        .filter(|d| !d.is_empty())
        .map(|d| PathBuf::from(d).join("harnex-ssh"));
    let fallback = PathBuf::from(format!("/tmp/harnex-ssh-{uid}"));
    runtime
        .into_iter()
        .chain([fallback])
        .filter(|dir| fits_socket_path(dir))
        .find(|dir| make_private(dir).is_ok())
}

fn fits_socket_path(dir: &Path) -> bool {
    dir.as_os_str().len() + 1 + SOCKET_NAME_LEN <= MAX_SOCKET_PATH
}

/// Create `dir` 0700, or accept it if it is already a directory of ours that nobody else can
/// enter; refuse a symlink or someone else's directory.
fn make_private(dir: &Path) -> std::result::Result<(), String> {
    match crate::private_fs::ensure_private_dir(dir) {
        Ok(Ok(())) => {}
        Ok(Err(problem)) => return Err(format!("{problem:?}")),
        Err(e) => return Err(e.to_string()),
    }
    let meta = std::fs::symlink_metadata(dir).map_err(|e| e.to_string())?;
    if meta.permissions().mode() & 0o077 != 0 {
        // Ours (checked above): tighten it rather than share sockets with the group.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::DirBuilderExt;

    #[test]
    fn socket_paths_stay_within_the_limit() {
        assert!(fits_socket_path(Path::new("/run/user/1000/harnex-ssh")));
        assert!(fits_socket_path(Path::new("/tmp/harnex-ssh-4294967295")));
        let deep = PathBuf::from("/home/someone").join("x".repeat(60));
        assert!(!fits_socket_path(&deep));
    }

    #[test]
    fn the_control_dir_is_private() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("harnex-ssh");
        make_private(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        // A group-readable one of ours is tightened; a symlink is refused.
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o750)).unwrap();
        make_private(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        let link = root.path().join("link");
        std::os::unix::fs::symlink(&dir, &link).unwrap();
        assert!(make_private(&link).is_err());
    }

    /// Another local user who made the directory first does not get our sockets: it is refused
    /// (and sharing left off), never used.
    #[test]
    fn someone_elses_control_dir_is_refused() {
        if !nix::unistd::geteuid().is_root() {
            return; // only root can hand a directory to another user
        }
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("harnex-ssh");
        std::fs::DirBuilder::new().mode(0o700).create(&dir).unwrap();
        let nobody = nix::unistd::Uid::from_raw(65534);
        nix::unistd::chown(&dir, Some(nobody), None).unwrap();
        assert!(make_private(&dir).is_err());
    }

    #[test]
    fn the_destination_follows_a_double_dash() {
        let ssh = Ssh {
            program: "ssh".into(),
            options: vec!["-F".into(), "cfg".into()],
            control_dir: Some(PathBuf::from("/run/user/1/harnex-ssh")),
        };
        let host = Host::plain("build-1");
        let call = RemoteCall {
            args: vec!["status".into()],
            dir: None,
            stream: false,
        };
        let cmd = ssh.command(&host, &call);
        let args: Vec<String> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(&args[..2], ["-F", "cfg"]);
        let dash = args.iter().position(|a| a == "--").unwrap();
        assert_eq!(args[dash + 1], "build-1");
        assert!(args[dash + 2].ends_with("'status'"), "{}", args[dash + 2]);
    }

    /// Two aliases of one server (same user, host, port: same `%C`) with different keys get
    /// sockets of their own, or the second would ride the first's login.
    #[test]
    fn each_destination_has_its_own_control_socket() {
        let ssh = Ssh {
            program: "ssh".into(),
            options: vec![],
            control_dir: Some(PathBuf::from("/run/user/1/harnex-ssh")),
        };
        let path = |name: &str| {
            let cmd = ssh.command(
                &Host::plain(name),
                &RemoteCall {
                    args: vec![],
                    dir: None,
                    stream: false,
                },
            );
            cmd.get_args()
                .map(|a| a.to_string_lossy().into_owned())
                .find(|a| a.starts_with("ControlPath="))
                .unwrap()
        };
        assert_ne!(path("b1"), path("stranger"));
        assert_eq!(path("b1"), path("b1"));
        assert!(path("b1").ends_with("-%C"), "{}", path("b1"));
    }
}

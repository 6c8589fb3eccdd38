//! What an ssh run's end means: the remote harnex's own exit code (relayed), or a failure of
//! the way there, each with its message and exit code.
//!
//! ssh exits 255 for its own errors and with the remote command's code otherwise; its stderr
//! says which error. The preamble ([`super::shell`]) marks what failed before harnex ran.

use std::process::ExitStatus;

use super::shell::MARKER;

/// Exit codes of remote failures (documented in docs/remote.md and `harnex --help`).
pub mod code {
    /// The host could not be reached (EX_UNAVAILABLE).
    pub const UNREACHABLE: i32 = 69;
    /// ssh reached the host and authentication was refused (EX_NOPERM).
    pub const AUTH: i32 = 77;
    /// No harnex there (as a shell's "command not found").
    pub const MISSING: i32 = 127;
    /// harnex there is another version (EX_PROTOCOL).
    pub const VERSION: i32 = 76;
    /// The connection dropped mid-command, or ssh failed another way.
    pub const DROPPED: i32 = 1;
}

/// A failure on the way to (or back from) the remote harnex.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteError {
    #[error(
        "{host} is unreachable over ssh ({detail}); check the host name, that it is up and that `ssh {host}` works"
    )]
    Unreachable { host: String, detail: String },
    #[error(
        "ssh to {host} was refused ({detail}); check your key, agent and the host's known_hosts entry with `ssh {host} true`"
    )]
    AuthRefused { host: String, detail: String },
    #[error(
        "harnex is not installed on {host} (or not at the path hosts.toml gives); install it there (`cargo install harnex --version {version}`) or set `harnex = \"/path/to/harnex\"` under [hosts.{host}] in hosts.toml; `harnex doctor --remote {host}` checks"
    )]
    Missing { host: String, version: String },
    #[error(
        "{host} runs {theirs}, this is {ours}: install the same version on both (`cargo install harnex --version {version}` there)"
    )]
    VersionMismatch {
        host: String,
        theirs: String,
        ours: String,
        version: String,
    },
    #[error("the directory {dir:?} does not exist on {host} (--cd is a path on that host)")]
    NoDirectory { host: String, dir: String },
    #[error(
        "the connection to {host} dropped during `{command}` ({detail}); the session there may still be running: `harnex status --remote {host}`"
    )]
    Dropped {
        host: String,
        command: String,
        detail: String,
    },
}

impl RemoteError {
    pub fn exit_code(&self) -> i32 {
        match self {
            RemoteError::Unreachable { .. } => code::UNREACHABLE,
            RemoteError::AuthRefused { .. } => code::AUTH,
            RemoteError::Missing { .. } => code::MISSING,
            RemoteError::VersionMismatch { .. } => code::VERSION,
            RemoteError::NoDirectory { .. } | RemoteError::Dropped { .. } => code::DROPPED,
        }
    }

    /// A short kind for JSON (`status --remote all`).
    pub fn kind(&self) -> &'static str {
        match self {
            RemoteError::Unreachable { .. } => "unreachable",
            RemoteError::AuthRefused { .. } => "auth_refused",
            RemoteError::Missing { .. } => "harnex_missing",
            RemoteError::VersionMismatch { .. } => "version_mismatch",
            RemoteError::NoDirectory { .. } => "no_directory",
            RemoteError::Dropped { .. } => "dropped",
        }
    }
}

/// How the ssh process ended, as [`classify`] needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    Code(i32),
    Signal(i32),
}

impl From<ExitStatus> for Ended {
    fn from(status: ExitStatus) -> Ended {
        use std::os::unix::process::ExitStatusExt;
        match (status.code(), status.signal()) {
            (Some(code), _) => Ended::Code(code),
            (None, Some(signal)) => Ended::Signal(signal),
            (None, None) => Ended::Code(255),
        }
    }
}

/// What the run came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The remote harnex ran and exited with this code (its messages are already relayed).
    Exited(i32),
    Failed(RemoteError),
}

/// What a finished ssh run means. `stderr` holds the lines of ssh's stderr (markers included),
/// `command` names the harnex command for messages, `dir` the `--cd` directory if any.
pub fn classify(
    host: &str,
    command: &str,
    dir: Option<&str>,
    ended: Ended,
    stderr: &[String],
) -> Outcome {
    let marker = |name: &str| {
        stderr
            .iter()
            .find_map(|l| l.strip_prefix(MARKER).and_then(|m| m.strip_prefix(name)))
            .map(str::trim)
    };
    let version = env!("CARGO_PKG_VERSION").to_string();
    match ended {
        Ended::Code(code::MISSING) if marker("missing").is_some() => {
            Outcome::Failed(RemoteError::Missing {
                host: host.into(),
                version,
            })
        }
        Ended::Code(code::VERSION) if let Some(theirs) = marker("version") => {
            Outcome::Failed(RemoteError::VersionMismatch {
                host: host.into(),
                theirs: if theirs.is_empty() {
                    "an unknown version".into()
                } else {
                    theirs.into()
                },
                ours: super::shell::local_version(),
                version,
            })
        }
        Ended::Code(1) if marker("no-dir").is_some() => Outcome::Failed(RemoteError::NoDirectory {
            host: host.into(),
            dir: dir.unwrap_or("").into(),
        }),
        Ended::Code(255) if marker("exit").is_some() => Outcome::Exited(255),
        Ended::Code(255) => Outcome::Failed(ssh_failure(host, command, stderr)),
        Ended::Code(code) => Outcome::Exited(code),
        Ended::Signal(signal) => Outcome::Failed(RemoteError::Dropped {
            host: host.into(),
            command: command.into(),
            detail: format!("ssh ended by signal {signal}"),
        }),
    }
}

/// ssh's own failure (exit 255), told apart by what it printed.
fn ssh_failure(host: &str, command: &str, stderr: &[String]) -> RemoteError {
    let said = |needles: &[&str]| {
        stderr
            .iter()
            .rev()
            .find(|l| needles.iter().any(|n| l.contains(n)))
            .map(|l| l.trim().to_string())
    };
    const UNREACHABLE: [&str; 8] = [
        "Could not resolve hostname",
        "Connection refused",
        "Connection timed out",
        "Operation timed out",
        "No route to host",
        "Network is unreachable",
        "kex_exchange_identification",
        "Name or service not known",
    ];
    const AUTH: [&str; 5] = [
        "Permission denied",
        "Host key verification failed",
        "Too many authentication failures",
        "REMOTE HOST IDENTIFICATION HAS CHANGED",
        "No supported authentication methods",
    ];
    if let Some(detail) = said(&UNREACHABLE) {
        return RemoteError::Unreachable {
            host: host.into(),
            detail,
        };
    }
    if let Some(detail) = said(&AUTH) {
        return RemoteError::AuthRefused {
            host: host.into(),
            detail,
        };
    }
    let detail = stderr
        .iter()
        .rev()
        .find(|l| !l.trim().is_empty() && !l.starts_with(MARKER))
        .map(|l| l.trim().to_string())
        .unwrap_or_else(|| "ssh exited 255 without an exit status from the remote side".into());
    RemoteError::Dropped {
        host: host.into(),
        command: command.into(),
        detail,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(String::from).collect()
    }

    fn failed(ended: Ended, stderr: &str) -> RemoteError {
        match classify("b1", "wait", Some("/r"), ended, &lines(stderr)) {
            Outcome::Failed(e) => e,
            other => panic!("not a failure: {other:?}"),
        }
    }

    #[test]
    fn ssh_errors_are_told_apart() {
        let e = failed(
            Ended::Code(255),
            "ssh: connect to host 127.0.0.1 port 1: Connection refused",
        );
        assert_eq!((e.kind(), e.exit_code()), ("unreachable", 69));
        let e = failed(
            Ended::Code(255),
            "ssh: Could not resolve hostname nope: Name or service not known",
        );
        assert_eq!(e.kind(), "unreachable");
        let e = failed(
            Ended::Code(255),
            "root@127.0.0.1: Permission denied (publickey).",
        );
        assert_eq!((e.kind(), e.exit_code()), ("auth_refused", 77));
        let e = failed(Ended::Code(255), "Host key verification failed.");
        assert_eq!(e.kind(), "auth_refused");
        let e = failed(
            Ended::Code(255),
            "mux_client_read_packet: read header failed: Broken pipe",
        );
        assert_eq!((e.kind(), e.exit_code()), ("dropped", 1));
        assert!(e.to_string().contains("during `wait`"), "{e}");
        let e = failed(Ended::Code(255), "");
        assert_eq!(e.kind(), "dropped");
        let e = failed(Ended::Signal(9), "");
        assert_eq!(e.kind(), "dropped");
    }

    #[test]
    fn preamble_markers_name_the_failure() {
        let e = failed(Ended::Code(127), "harnex-remote: missing");
        assert_eq!((e.kind(), e.exit_code()), ("harnex_missing", 127));
        let e = failed(Ended::Code(76), "harnex-remote: version harnex 0.0.1");
        assert_eq!((e.kind(), e.exit_code()), ("version_mismatch", 76));
        assert!(e.to_string().contains("harnex 0.0.1"), "{e}");
        let e = failed(Ended::Code(1), "harnex-remote: no-dir");
        assert!(e.to_string().contains("\"/r\""), "{e}");
    }

    #[test]
    fn the_remote_harnex_code_is_relayed() {
        // 127 without the marker is the remote harnex's own (say `wait` on an agent that exited 127).
        assert_eq!(
            classify(
                "b1",
                "wait",
                None,
                Ended::Code(255),
                &lines("harnex-remote: exit 255")
            ),
            Outcome::Exited(255)
        );
        for code in [0, 1, 2, 124, 127, 76] {
            assert_eq!(
                classify(
                    "b1",
                    "wait",
                    None,
                    Ended::Code(code),
                    &lines("harnex: no session")
                ),
                Outcome::Exited(code)
            );
        }
    }
}

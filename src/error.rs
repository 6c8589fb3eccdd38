//! One error type for the whole program; it knows the exit code each failure maps to.
//!
//! Exit codes (documented in README and `harnex --help`): 0 ok, 1 failure, 2 usage, 124 timeout;
//! a remote failure has its own ([`crate::remote::failure::code`], docs/remote.md).
//! Commands that must exit with another code (a foreground `run` mirrors the agent's code, `wait`
//! mirrors the recorded one) return [`Error::Exit`].

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad command-line input: the message says what to type instead.
    #[error("{0}")]
    Usage(String),
    /// Something the user asked for did not work out.
    #[error("{0}")]
    Failed(String),
    /// A deadline passed (exit 124). The message, when there is one, goes to stderr; a command
    /// with a JSON result prints that first and may leave the message empty.
    #[error("{0}")]
    Timeout(String),
    /// Exit quietly with this code: the command has printed everything it wanted to.
    #[error("exit {0}")]
    Exit(i32),
    /// Reaching a remote host failed (unreachable, auth, harnex missing there, …); the error
    /// knows its exit code (docs/remote.md).
    #[error(transparent)]
    Remote(#[from] crate::remote::RemoteError),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Usage(_) => 2,
            Error::Failed(_) | Error::Io { .. } => 1,
            Error::Timeout(_) => 124,
            Error::Exit(code) => *code,
            Error::Remote(e) => e.exit_code(),
        }
    }

    /// Whether `main` should print the message on stderr.
    pub fn has_message(&self) -> bool {
        match self {
            Error::Exit(_) => false,
            Error::Timeout(message) => !message.is_empty(),
            _ => true,
        }
    }

    pub fn usage(msg: impl Into<String>) -> Self {
        Error::Usage(msg.into())
    }

    pub fn timeout(msg: impl Into<String>) -> Self {
        Error::Timeout(msg.into())
    }

    /// A deadline passed and the command's JSON result already said so.
    pub fn timed_out() -> Self {
        Error::Timeout(String::new())
    }

    pub fn failed(msg: impl Into<String>) -> Self {
        Error::Failed(msg.into())
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    pub fn io_path(action: &str, path: &std::path::Path, source: std::io::Error) -> Self {
        Error::io(format!("{action} {}", path.display()), source)
    }
}

/// Adds path context to `std::io::Result`s.
pub trait IoContext<T> {
    fn at(self, action: &str, path: &std::path::Path) -> Result<T>;
    fn context(self, what: impl Into<String>) -> Result<T>;
}

impl<T> IoContext<T> for std::io::Result<T> {
    fn at(self, action: &str, path: &std::path::Path) -> Result<T> {
        self.map_err(|e| Error::io_path(action, path, e))
    }

    fn context(self, what: impl Into<String>) -> Result<T> {
        self.map_err(|e| Error::io(what, e))
    }
}

/// The state directory is not usable: say which and how to fix it.
pub fn state_dir_error(path: &std::path::Path, source: std::io::Error) -> Error {
    Error::failed(format!(
        "state directory {} is not writable ({source}); fix its permissions or set HARNEX_STATE_DIR to a writable directory",
        path.display()
    ))
}

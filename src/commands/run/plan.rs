//! A run resolved once: what `harnex run` checked and decided from its arguments and
//! environment, as one typed value. A supervisor in another process (detached, or in a tmux
//! window) receives it whole through [`super::handoff`]; nothing is parsed twice.

use std::ffi::OsString;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::adapters::Adapter;
use crate::attribution::Attribution;
use crate::cli::RunArgs;
use crate::error::{Error, Result};
use crate::paths::{self, SessionKey, StateDir};
use crate::registry;
use crate::session;
use crate::session::SessionOptions;
use crate::session_lock::{self, Probe};

/// Where the supervisor runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanMode {
    /// In this process, in the caller's terminal.
    Foreground,
    /// A detached supervisor with no terminal (`--detach`, `--watch`).
    Headless,
    /// The supervisor in a tmux window that `run --tmux` opened.
    Tmux,
}

impl PlanMode {
    pub fn of(args: &RunArgs) -> PlanMode {
        if args.tmux_window().is_some() {
            PlanMode::Tmux
        } else if args.detach || args.watch() {
            PlanMode::Headless
        } else {
            PlanMode::Foreground
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    pub id: String,
    pub cli: String,
    /// The program and its arguments, as the adapter builds them.
    pub command: Vec<String>,
    pub repo_root: PathBuf,
    pub cwd: PathBuf,
    pub state_dir: PathBuf,
    pub mode: PlanMode,
    #[serde(flatten)]
    pub options: SessionOptions,
    /// `--size` (cols, rows); a terminal's own size wins in foreground and tmux.
    pub size: Option<(u16, u16)>,
    pub transcript_max: Option<u64>,
    /// The caller's environment, for a supervisor started by the tmux server (which has its
    /// own): loaded first thing, so the agent gets what the caller has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caller_env: Option<Vec<(OsString, OsString)>>,
    /// How the session finds the agent's own records (decided with the command: Claude gets
    /// the session id harnex picks).
    pub records: crate::record_files::RecordsPlan,
}

impl Plan {
    /// Check everything about `args` and decide what the session will be.
    pub fn resolve(
        args: &RunArgs,
        adapter: &dyn Adapter,
        state: &StateDir,
        mode: PlanMode,
    ) -> Result<Plan> {
        if args.auto_stop && args.context.is_none() {
            return Err(Error::usage(
                "--auto-stop requires --context: it stops the agent once it finished that first task",
            ));
        }
        let wanted_id = args.id.as_deref().map(paths::normalize_id).transpose()?;
        let meta = args.meta.as_deref().map(parse_meta).transpose()?;
        let host = parse_host(args.host.as_deref())?;
        let transcript_max = session::transcript::max_from_env().map_err(Error::usage)?;
        let inbox_ttl = match args.inbox_ttl {
            Some(ttl) => ttl,
            None => env_ttl()?,
        };
        if args.cli().trim().is_empty() {
            if let Some(Some(word)) = &args.tmux {
                return Err(Error::usage(format!(
                    "no <CLI>: {word:?} is not codex, claude or a program on PATH, so `--tmux {word}` names the window; give the agent too, e.g. `harnex run codex --tmux {word}`"
                )));
            }
            return Err(Error::usage(
                "<CLI> must not be empty: try `harnex run bash`",
            ));
        }
        let mut command = adapter.command(args.cli(), &args.agent_args);
        let cwd_now = std::env::current_dir().unwrap_or_default();
        let records =
            adapter.records_plan(&mut command, &|name| std::env::var(name).ok(), &cwd_now);
        if session::pty::find_program(&command[0]).is_none() {
            return Err(Error::failed(format!(
                "{:?} was not found on PATH; install it or pass the full path to the program",
                command[0]
            )));
        }
        let probed = adapter.probed_args(&command[0], &args.agent_args);
        command.splice(1..1, probed);
        let cwd = std::env::current_dir()
            .map_err(|e| Error::failed(format!("cannot read the current directory: {e}")))?;
        let work_dir = adapter
            .repo_dir(&args.agent_args)
            .map(|d| resolve_against(&cwd, &d))
            .unwrap_or_else(|| cwd.clone());
        let repo_root = paths::repo_root_of(&work_dir);
        state.ensure()?;
        let id = free_id(state, &repo_root, wanted_id)?;
        let mut records = records;
        super::hooks::register(
            &mut command,
            &mut records,
            state,
            &SessionKey::new(repo_root.clone(), &id),
        );
        let summary_out = args
            .summary_out
            .as_ref()
            .map(|p| resolve_against(&repo_root, p))
            .or_else(|| default_summary_out(&repo_root));
        let watch_file = args.watch_file().map(|p| resolve_against(&cwd, &p));
        let attribution = Attribution::resolve(&|var| std::env::var(var).ok(), &args.tag, state)?;
        Ok(Plan {
            id,
            cli: args.cli().to_string(),
            command,
            repo_root,
            cwd,
            state_dir: state.root().to_path_buf(),
            mode,
            options: SessionOptions {
                description: args.description.clone(),
                host,
                port: args.port,
                context: args.context.clone(),
                inbox_ttl,
                meta,
                summary_out,
                watch_file,
                auto_stop: args.auto_stop,
                attribution,
            },
            size: args.size,
            transcript_max,
            caller_env: None,
            records,
        })
    }

    pub fn key(&self) -> SessionKey {
        SessionKey::new(self.repo_root.clone(), &self.id)
    }

    pub fn state(&self) -> StateDir {
        StateDir::at(self.state_dir.clone())
    }

    /// Check now that `--port` is free: a supervisor in another process would only find out
    /// after we returned.
    pub fn check_port(&self) -> Result<()> {
        if let Some(port) = self.options.port {
            drop(super::supervise::bind(self).map_err(|_| {
                Error::failed(format!(
                    "port {port} is not available; pick another --port or leave it out to get a free one"
                ))
            })?);
        }
        Ok(())
    }
}

/// The wanted id, or a generated one free in this repository; refused while a session of that
/// id is live here. A session of that id that is stopping (`stop` then `run` at once, as Ruby
/// harnex users script it) is waited for, up to [`STOPPING_PATIENCE`].
fn free_id(state: &StateDir, repo_root: &Path, wanted: Option<String>) -> Result<String> {
    let deadline = std::time::Instant::now() + STOPPING_PATIENCE;
    let mut said_waiting = false;
    loop {
        match id_check(state, repo_root, wanted.clone())? {
            IdCheck::Free(id) => return Ok(id),
            IdCheck::Ending(id) if std::time::Instant::now() < deadline => {
                if !said_waiting {
                    said_waiting = true;
                    crate::warn!(
                        "harnex run: session {id:?} is stopping; waiting up to {}s for it to end",
                        STOPPING_PATIENCE.as_secs()
                    );
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            IdCheck::Ending(id) => {
                return Err(Error::failed(format!(
                    "session {id:?} is still stopping after {}s; wait for it with `harnex wait --id {id}`, end it with `harnex stop --id {id} --force`, or pick another --id",
                    STOPPING_PATIENCE.as_secs()
                )));
            }
            IdCheck::Taken(error) => return Err(error),
        }
    }
}

/// How long a `run` waits for a stopping session of its id: the default stop ladder (10 s of
/// grace, SIGTERM, 2 s, SIGKILL) with room to spare.
pub const STOPPING_PATIENCE: Duration = Duration::from_secs(15);

enum IdCheck {
    Free(String),
    /// A session of this id is ending: asked to stop, or past its registry entry (lock held).
    Ending(String),
    Taken(Error),
}

fn id_check(state: &StateDir, repo_root: &Path, wanted: Option<String>) -> Result<IdCheck> {
    let live = registry::live_entries(state);
    let id = match wanted {
        Some(id) => id,
        None => {
            let taken: Vec<String> = live
                .iter()
                .filter(|e| e.repo_root == repo_root)
                .map(|e| e.id.clone())
                .collect();
            crate::ids::generate_id(&taken)
        }
    };
    let key = SessionKey::new(repo_root.to_path_buf(), &id);
    if let Some(active) = live.iter().find(|e| e.key().slug() == key.slug()) {
        if active.extra.get("stopping") == Some(&Value::Bool(true)) {
            return Ok(IdCheck::Ending(active.id.clone()));
        }
        return Ok(IdCheck::Taken(Error::failed(format!(
            "session {:?} is already active in {} (pid {}); stop it with `harnex stop --id {}` or pick another --id",
            active.id,
            repo_root.display(),
            active.pid,
            active.id
        ))));
    }
    // The lock answers even when the entry is damaged or missing. Held with no entry: a
    // supervisor in its last moments (its entry goes before its lock), or one starting up.
    if session_lock::probe(&session_lock::lock_path(state, &key)) == Probe::Held {
        return Ok(match registry::parse_entry(&state.registry_path(&key)) {
            Err(registry::EntryError::Missing) => IdCheck::Ending(id),
            _ => IdCheck::Taken(already_running(state, &key)),
        });
    }
    Ok(IdCheck::Free(id))
}

/// Another supervisor holds the session's lock.
pub fn already_running(state: &StateDir, key: &SessionKey) -> Error {
    let entry = state.registry_path(key);
    let damaged = match registry::parse_entry(&entry) {
        Ok(_) => String::new(),
        Err(_) => format!(
            " (its registry entry {} is damaged or missing; the supervisor rewrites it)",
            entry.display()
        ),
    };
    Error::failed(format!(
        "session {:?} is already active in {}{damaged}; stop it with `harnex stop --id {}` or pick another --id",
        key.id,
        key.repo_root.display(),
        key.id
    ))
}

pub fn parse_meta(text: &str) -> Result<Map<String, Value>> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::usage(
            "--meta must be a JSON object, e.g. --meta '{\"issue\":\"12\"}'",
        )),
        Err(e) => Err(Error::usage(format!(
            "--meta must be valid JSON ({e}), e.g. --meta '{{\"issue\":\"12\"}}'"
        ))),
    }
}

/// The API host (`--host`, else `$HARNEX_HOST`, else 127.0.0.1): loopback only.
pub fn parse_host(host: Option<&str>) -> Result<IpAddr> {
    // An empty `$HARNEX_HOST` (clap passes it on) means the default.
    let text = host.filter(|h| !h.is_empty()).unwrap_or("127.0.0.1");
    let addr: IpAddr = match text {
        "localhost" => IpAddr::from([127, 0, 0, 1]),
        other => other.trim_matches(['[', ']']).parse().map_err(|_| {
            Error::usage(format!(
                "--host {other:?} is not an IP address; use 127.0.0.1 or ::1"
            ))
        })?,
    };
    if !addr.is_loopback() {
        return Err(Error::usage(format!(
            "--host {addr} (or HARNEX_HOST) is not a loopback address: harnex serves its API on loopback only (127.0.0.1 or ::1), because whoever reaches that port can type into the agent, which runs with your rights; to drive a session from another machine, run harnex there over ssh (`ssh HOST harnex send --id ID …`) or forward the port (`ssh -L PORT:127.0.0.1:PORT HOST`)"
        )));
    }
    Ok(addr)
}

/// `$HARNEX_INBOX_TTL`, read here rather than by clap so a bad value's error names the variable.
fn env_ttl() -> Result<Duration> {
    match std::env::var("HARNEX_INBOX_TTL") {
        Ok(v) if !v.trim().is_empty() => crate::cli::parse_positive_duration(&v)
            .map_err(|e| Error::usage(format!("HARNEX_INBOX_TTL: {e}"))),
        _ => Ok(session::inbox::DEFAULT_TTL),
    }
}

fn resolve_against(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

/// `<repo>/koder/DISPATCH.jsonl`, only when `koder/` exists.
pub fn default_summary_out(repo_root: &Path) -> Option<PathBuf> {
    let koder = repo_root.join("koder");
    koder.is_dir().then(|| koder.join("DISPATCH.jsonl"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_must_be_a_json_object() {
        assert!(parse_meta(r#"{"issue":"23"}"#).is_ok());
        let not_json = parse_meta("{").unwrap_err().to_string();
        assert!(not_json.contains("--meta must be valid JSON"), "{not_json}");
        let not_object = parse_meta("[]").unwrap_err().to_string();
        assert!(not_object.contains("--meta must be a JSON object"));
    }

    #[test]
    fn only_loopback_hosts_are_accepted() {
        assert!(parse_host(Some("127.0.0.1")).is_ok());
        assert!(parse_host(Some("::1")).is_ok());
        assert!(parse_host(Some("localhost")).is_ok());
        let refused = parse_host(Some("0.0.0.0")).unwrap_err().to_string();
        assert!(refused.contains("loopback only"), "{refused}");
        assert!(refused.contains("ssh"), "what to do instead: {refused}");
        assert!(parse_host(Some("example.com")).is_err());
    }

    #[test]
    fn summary_default_needs_koder() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(default_summary_out(dir.path()), None);
        std::fs::create_dir(dir.path().join("koder")).unwrap();
        assert_eq!(
            default_summary_out(dir.path()),
            Some(dir.path().join("koder/DISPATCH.jsonl"))
        );
    }
}

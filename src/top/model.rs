//! What `harnex top` shows of each session, as typed rows, and where they come from.
//!
//! All reading of session data is in this module: the registry (which sessions exist), each
//! live session's status (its state, dialog, turns, tokens, progress) as `harnex status` reads
//! it ([`crate::live_status::current`]: the registry entry its supervisor keeps current,
//! else its API), and the exit record of a session that ended. A row is refreshed only when one of its
//! files changed (see [`super::watch`]), so a dashboard at rest reads nothing and makes no
//! requests.
//!
//! Owned by the dashboard's main thread.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use serde_json::Value;

use crate::live_status::Source;
use crate::paths::StateDir;
use crate::registry::{self, ExitRecord, RegistryEntry};

/// Which sessions the dashboard shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    Repo(PathBuf),
    All,
}

impl Scope {
    pub fn contains(&self, repo_root: &Path) -> bool {
        match self {
            Scope::Repo(repo) => repo == repo_root,
            Scope::All => true,
        }
    }
}

/// The state column: the agent's state as the session reports it, or why it has none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum State {
    Starting,
    Prompt,
    Busy,
    /// At a dialog: its reason and the keys that accept it.
    Blocked {
        reason: String,
        keys: Vec<String>,
    },
    Unknown,
    /// Registered, but its API did not answer.
    Unreachable,
    /// The session ended while the dashboard watched: its exit reason and code.
    Ended {
        reason: String,
        code: Option<i32>,
    },
}

impl State {
    fn parse(agent_state: &str, status: &Value) -> State {
        match agent_state {
            "starting" => State::Starting,
            "prompt" => State::Prompt,
            "busy" => State::Busy,
            "unreachable" => State::Unreachable,
            "blocked" => State::Blocked {
                reason: status["dialog"]["reason"]
                    .as_str()
                    .or_else(|| status["input_state"]["state"].as_str())
                    .filter(|r| *r != "blocked")
                    .unwrap_or("dialog")
                    .to_string(),
                keys: string_list(&status["input_state"]["accept_keys"])
                    .or_else(|| string_list(&status["dialog"]["accept_keys"]))
                    .unwrap_or_default(),
            },
            "exited" => State::Ended {
                reason: "exited".into(),
                code: None,
            },
            _ => State::Unknown,
        }
    }

    /// The word the state column and the header counts use.
    pub fn word(&self) -> &'static str {
        match self {
            State::Starting => "starting",
            State::Prompt => "prompt",
            State::Busy => "busy",
            State::Blocked { .. } => "blocked",
            State::Unknown => "unknown",
            State::Unreachable => "unreachable",
            State::Ended { .. } => "ended",
        }
    }

    pub fn is_ended(&self) -> bool {
        matches!(self, State::Ended { .. })
    }
}

fn string_list(value: &Value) -> Option<Vec<String>> {
    let list: Vec<String> = value
        .as_array()?
        .iter()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    (!list.is_empty()).then_some(list)
}

/// The turn column: the newest turn and how it ended (or that it is running).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Turn {
    pub number: u64,
    pub outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Submitted or started, not finished yet.
    Running,
    Completed,
    /// Failed at the model: the error kind (`rate_limited`, `auth`, …).
    Failed(String),
    Interrupted,
    NeedsInput,
}

/// One session.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRow {
    /// `<repo_key>--<id_key>`: the stem of its registry, events and exit files.
    pub slug: String,
    pub id: String,
    /// The run (`session_id`): a reused id is another run.
    pub run: String,
    /// The agent's program name (`codex`, `claude`, …).
    pub agent: String,
    pub repo_root: PathBuf,
    pub description: Option<String>,
    pub started_at: String,
    pub parent: Option<String>,
    pub parent_run: Option<String>,
    pub state: State,
    pub state_since: Option<SystemTime>,
    /// The agent is retrying its model request: `attempt/max`.
    pub retry: Option<String>,
    pub turn: Option<Turn>,
    pub progress_at: Option<SystemTime>,
    pub tokens: Option<u64>,
    /// `(socket, pane)` of a `run --tmux` session.
    pub tmux: Option<(Option<PathBuf>, String)>,
    /// The registry entry (port, token) of a live session.
    pub entry: Option<RegistryEntry>,
    /// Its status came from its API, not a snapshot file: no file change announces its
    /// progress, so a busy row is read again on a timer.
    pub polled: bool,
}

impl SessionRow {
    /// A row from a session's status (its snapshot file, `GET /status`, or its registry entry).
    pub fn from_status(entry: &RegistryEntry, status: &Value) -> SessionRow {
        let text = |key: &str| status[key].as_str().map(str::to_string);
        let time = |key: &str| status[key].as_str().and_then(crate::time::parse_rfc3339);
        SessionRow {
            slug: entry.key().slug(),
            id: entry.id.clone(),
            run: entry.session_id.clone(),
            agent: crate::adapters::cli_name(&entry.cli),
            repo_root: entry.repo_root.clone(),
            description: entry.description.clone(),
            started_at: entry.started_at.clone(),
            parent: text("parent"),
            parent_run: text("parent_session_id"),
            state: State::parse(status["agent_state"].as_str().unwrap_or(""), status),
            state_since: time("state_since"),
            retry: retry(&status["retrying"]),
            turn: turn(status),
            progress_at: time("last_progress_at"),
            tokens: status["usage"]["total_tokens"].as_u64().or_else(|| {
                let part = |k: &str| status["usage"][k].as_u64();
                match (part("input_tokens"), part("output_tokens")) {
                    (None, None) => None,
                    (i, o) => Some(i.unwrap_or(0) + o.unwrap_or(0)),
                }
            }),
            tmux: status["tmux_target"].as_str().map(|pane| {
                (
                    status["tmux_socket"].as_str().map(PathBuf::from),
                    pane.to_string(),
                )
            }),
            entry: Some(entry.clone()),
            polled: false,
        }
    }

    /// This row, ended as `record` says (or, without a record yet, simply ended).
    pub fn ended(mut self, record: Option<&ExitRecord>, now: SystemTime) -> SessionRow {
        let (reason, code) = match record {
            Some(r) => (
                r.reason.clone().unwrap_or_else(|| "exited".into()),
                r.exit_code,
            ),
            None => ("exited".into(), None),
        };
        let at = record
            .and_then(|r| crate::time::parse_rfc3339(&r.exited_at))
            .unwrap_or(now);
        if let Some(Turn {
            outcome: Outcome::Running,
            ..
        }) = &self.turn
        {
            self.turn = None;
        }
        self.state = State::Ended { reason, code };
        self.state_since = Some(at);
        self.retry = None;
        self.entry = None;
        self
    }

    /// What the tree of who started whom needs of this row.
    pub fn tree_fields(&self) -> Value {
        serde_json::json!({
            "id": self.id,
            "session_id": self.run,
            "parent": self.parent,
            "parent_session_id": self.parent_run,
            "started_at": self.started_at,
        })
    }
}

fn retry(value: &Value) -> Option<String> {
    if value.is_null() {
        return None;
    }
    Some(match (value["attempt"].as_u64(), value["max"].as_u64()) {
        (Some(a), Some(m)) => format!("{a}/{m}"),
        (Some(a), None) => a.to_string(),
        _ => String::new(),
    })
}

fn turn(status: &Value) -> Option<Turn> {
    let counters = &status["turn"];
    let count = |k: &str| counters[k].as_u64().unwrap_or(0);
    let last = &status["last_turn"];
    let last_number = last["turn"].as_u64();
    let newest = count("submitted").max(count("started"));
    if newest > count("completed") && last_number.is_none_or(|n| n < newest) {
        return Some(Turn {
            number: newest,
            outcome: Outcome::Running,
        });
    }
    let outcome = match last["outcome"].as_str()? {
        "completed" => Outcome::Completed,
        "failed" => Outcome::Failed(
            last["error"]["kind"]
                .as_str()
                .unwrap_or("error")
                .to_string(),
        ),
        "interrupted" => Outcome::Interrupted,
        "needs_input" => Outcome::NeedsInput,
        _ => return None,
    };
    Some(Turn {
        number: last_number.unwrap_or(newest),
        outcome,
    })
}

/// Every live session in `scope`, each with its status.
pub fn load(state: &StateDir, scope: &Scope) -> Vec<SessionRow> {
    registry::scan(state)
        .live
        .iter()
        .filter(|e| scope.contains(&e.repo_root))
        .map(|e| row_of(state, e))
        .collect()
}

/// The row of a live session, from its status as `harnex status` reads it.
pub fn row_of(state: &StateDir, entry: &RegistryEntry) -> SessionRow {
    let (status, source) = crate::live_status::current_of(state, entry);
    let mut row = SessionRow::from_status(entry, &status);
    row.polled = source != Source::Entry;
    row
}

/// What a file change means for one slug now.
pub enum Refreshed {
    /// Live (and in scope): its fresh row.
    Live(Box<SessionRow>),
    /// No live session by that slug: the exit record there, if any.
    Gone(Option<Box<ExitRecord>>),
    /// A live session out of scope.
    Elsewhere,
    /// Nothing to tell from its files now (its registry entry is damaged).
    Unchanged,
}

/// Look at the session `slug` again: its registry entry, and its status or exit record.
pub fn refresh(state: &StateDir, scope: &Scope, slug: &str) -> Refreshed {
    let path = state.sessions_dir().join(format!("{slug}.json"));
    match registry::parse_entry(&path) {
        Ok(entry) if entry.is_alive() => {
            if scope.contains(&entry.repo_root) {
                Refreshed::Live(Box::new(row_of(state, &entry)))
            } else {
                Refreshed::Elsewhere
            }
        }
        Ok(entry) => {
            // Its supervisor died: record the crash (once) as any reader of the registry does.
            crate::crash::settle(state, &entry);
            Refreshed::Gone(exit_record(state, slug).map(Box::new))
        }
        // Damaged: its live supervisor rewrites it within seconds; keep the row as it was.
        Err(registry::EntryError::Corrupt(_)) => Refreshed::Unchanged,
        Err(registry::EntryError::Missing) => {
            Refreshed::Gone(exit_record(state, slug).map(Box::new))
        }
    }
}

pub fn exit_record(state: &StateDir, slug: &str) -> Option<ExitRecord> {
    let path = state.root().join("exits").join(format!("{slug}.json"));
    let bytes = crate::private_fs::read(&path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The slugs of the live sessions in the registry now (to notice new ones).
pub fn live_slugs(state: &StateDir) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(state.sessions_dir()) else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|item| {
            let name = item.file_name().into_string().ok()?;
            name.strip_suffix(".json").map(str::to_string)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    pub fn entry(id: &str) -> RegistryEntry {
        serde_json::from_value(json!({
            "session_id": format!("run-{id}"), "id": id, "cli": "/usr/bin/codex",
            "repo_root": "/r", "repo_key": "k", "pid": 1, "host": "127.0.0.1", "port": 1,
            "token": "t", "started_at": "2026-01-01T00:00:00Z"
        }))
        .unwrap()
    }

    #[test]
    fn a_blocked_session_names_its_dialog_and_keys() {
        let row = SessionRow::from_status(
            &entry("a"),
            &json!({"agent_state": "blocked",
                "input_state": {"state": "workspace-trust", "input_ready": false,
                    "accept_keys": ["Enter"]},
                "dialog": {"reason": "workspace-trust", "accept_keys": ["Enter"]}}),
        );
        assert_eq!(
            row.state,
            State::Blocked {
                reason: "workspace-trust".into(),
                keys: vec!["Enter".into()]
            }
        );
        assert_eq!(row.agent, "codex");
    }

    #[test]
    fn turns_show_the_running_one_or_how_the_last_ended() {
        let status = |counters: Value, last: Value| {
            SessionRow::from_status(
                &entry("a"),
                &json!({"agent_state": "busy", "turn": counters, "last_turn": last}),
            )
            .turn
        };
        assert_eq!(
            status(
                json!({"submitted": 3, "started": 3, "completed": 2}),
                json!({"turn": 2, "outcome": "completed"})
            ),
            Some(Turn {
                number: 3,
                outcome: Outcome::Running
            })
        );
        assert_eq!(
            status(
                json!({"submitted": 2, "started": 2, "completed": 2}),
                json!({"turn": 2, "outcome": "failed", "error": {"kind": "rate_limited"}})
            ),
            Some(Turn {
                number: 2,
                outcome: Outcome::Failed("rate_limited".into())
            })
        );
        assert_eq!(status(json!({}), Value::Null), None);
    }

    #[test]
    fn a_damaged_entry_changes_nothing_and_a_missing_one_means_gone() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        let sessions = root.path().join("sessions");
        std::fs::create_dir(&sessions).unwrap();
        std::fs::set_permissions(&sessions, std::fs::Permissions::from_mode(0o700)).unwrap();
        let damaged = sessions.join("k--a.json");
        std::fs::write(&damaged, b"{\"session_id\": ").unwrap();
        std::fs::set_permissions(&damaged, std::fs::Permissions::from_mode(0o600)).unwrap();
        let state = StateDir::at(root.path().to_path_buf());
        assert!(matches!(
            refresh(&state, &Scope::All, "k--a"),
            Refreshed::Unchanged
        ));
        assert!(matches!(
            refresh(&state, &Scope::All, "k--b"),
            Refreshed::Gone(None)
        ));
    }

    #[test]
    fn tokens_are_the_total_or_input_plus_output() {
        let tokens =
            |usage: Value| SessionRow::from_status(&entry("a"), &json!({"usage": usage})).tokens;
        assert_eq!(tokens(json!({"total_tokens": 12})), Some(12));
        assert_eq!(
            tokens(json!({"input_tokens": 5, "output_tokens": 2})),
            Some(7)
        );
        assert_eq!(tokens(Value::Null), None);
    }
}

//! The registry of live sessions (`sessions/<slug>.json`), exit records (`exits/<slug>.json`),
//! liveness checks, and finding the session a command means.
//!
//! A registry entry is written by its supervisor (atomically, 0600) and removed when the session
//! ends. The supervisor holds the session lock ([`crate::session_lock`]) for its whole life, so
//! liveness is exact. An entry whose supervisor is gone is a crashed run: the lookup that finds it
//! records the crash ([`crate::crash`]) and removes it, under the lock. An entry that cannot be
//! parsed is never deleted by a reader: it is reported (`status`), its live supervisor rewrites it,
//! and the next `run` of that id replaces it once no supervisor holds the lock.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::paths::{self, SessionKey, StateDir};
use crate::session_lock::{self, Probe};

/// `::1` needs brackets in a URL.
pub fn url_host(host: &str) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

pub use crate::wire::records::{ExitRecord, RegistryEntry};

pub fn process_alive(pid: u32) -> bool {
    if pid == 0 || pid > i32::MAX as u32 {
        return false;
    }
    // Zombies count as dead: their exit is already decided.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat_fields(&stat).is_some_and(|f| f.first() != Some(&"Z")),
        Err(_) => false,
    }
}

/// Fields of /proc/<pid>/stat after the `(comm)` field: state, ppid, …
fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    let close = stat.rfind(')')?;
    Some(stat[close + 1..].split_whitespace().collect())
}

/// Whether `pid` is alive (not a zombie) and, if so, its start time in clock ticks since boot:
/// one read of /proc/<pid>/stat for both (`status` checks every live session).
pub fn process_alive_since(pid: u32) -> Option<Option<u64>> {
    if pid == 0 || pid > i32::MAX as u32 {
        return None;
    }
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields = stat_fields(&stat)?;
    if fields.first() == Some(&"Z") {
        return None;
    }
    Some(fields.get(19).and_then(|f| f.parse().ok()))
}

/// Process start time in clock ticks since boot (field 22 of /proc/<pid>/stat).
pub fn process_start_ticks(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat_fields(&stat)?.get(19)?.parse().ok()
}

/// Remove the registry entry of `session_id`: never another run's entry (a damaged one, which
/// the caller's session lock proves is not another live session's, goes too).
pub fn remove_entry(state: &StateDir, key: &SessionKey, session_id: &str) {
    let path = state.registry_path(key);
    match parse_entry(&path) {
        Ok(entry) if entry.session_id != session_id => {}
        Err(EntryError::Missing) => {}
        _ => {
            let _ = fs::remove_file(&path);
        }
    }
}

pub fn read_entry(path: &Path) -> Option<RegistryEntry> {
    parse_entry(path).ok()
}

/// Why a registry file gave no entry.
#[derive(Debug, Clone)]
pub enum EntryError {
    /// Not there (or gone between listing and reading).
    Missing,
    /// There, but not an entry: the text says why.
    Corrupt(String),
}

pub fn parse_entry(path: &Path) -> std::result::Result<RegistryEntry, EntryError> {
    let bytes = crate::private_fs::read(path).map_err(read_error)?;
    let mut entry: RegistryEntry = from_bytes(&bytes)?;
    entry.file = Some(path.to_path_buf());
    Ok(entry)
}

fn read_error(e: std::io::Error) -> EntryError {
    if e.kind() == std::io::ErrorKind::NotFound {
        EntryError::Missing
    } else {
        EntryError::Corrupt(format!("cannot read it: {e}"))
    }
}

fn from_bytes<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> std::result::Result<T, EntryError> {
    serde_json::from_slice(bytes).map_err(not_an_entry)
}

/// The error of a registry file that is not an entry.
pub fn not_an_entry(e: impl std::fmt::Display) -> EntryError {
    EntryError::Corrupt(format!("not a registry entry: {e}"))
}

/// A registry file that could not be parsed (left in place; see the module docs).
#[derive(Debug, Clone)]
pub struct CorruptEntry {
    pub path: PathBuf,
    pub error: String,
    /// Whether a supervisor holds the slug's lock (it will rewrite the entry).
    pub supervisor_alive: bool,
}

impl CorruptEntry {
    /// `<repo_key>--<id_key>` from the file name.
    pub fn slug(&self) -> String {
        self.path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default()
    }
}

/// What the registry holds: live sessions, and entries that could not be read.
#[derive(Debug)]
pub struct Scan<T = RegistryEntry> {
    pub live: Vec<T>,
    pub corrupt: Vec<CorruptEntry>,
}

impl<T> Default for Scan<T> {
    fn default() -> Self {
        Scan {
            live: Vec::new(),
            corrupt: Vec::new(),
        }
    }
}

/// Look at every registry entry. Entries of dead supervisors are settled on the way (their crash
/// recorded once, then removed); damaged ones are reported, never deleted.
pub fn scan(state: &StateDir) -> Scan {
    scan_files(state, &read_files(state))
}

/// As [`scan`], reading of each entry only what finding a session needs ([`EntryHead`]).
pub fn scan_heads(state: &StateDir) -> Scan<EntryHead> {
    scan_files(state, &read_files(state))
}

/// The registry's files as one scan reads them ([`read_files`]): a scan's entries may borrow
/// from them ([`scan_files`]).
pub struct Files {
    /// `sessions/`, opened once: each lock file is opened by name in it.
    dir: Option<crate::private_fs::Dir>,
    entries: Vec<EntryFile>,
}

/// One registry entry's file.
pub struct EntryFile {
    pub path: PathBuf,
    /// `<repo_key>--<id_key>`.
    slug: String,
    bytes: std::result::Result<Vec<u8>, EntryError>,
    /// Its supervisor could not update it (a `<slug>.stale` mark is beside it): what status it
    /// holds is out of date ([`crate::session::registry_writer`]).
    pub stale: bool,
}

/// Read every registry entry (`sessions/*.json`), noting which are marked stale.
pub fn read_files(state: &StateDir) -> Files {
    let sessions = state.sessions_dir();
    // Listed by path, opened by name in the directory opened once (see `private_fs::Dir`).
    let (Ok(listing), Ok(dir)) = (
        fs::read_dir(&sessions),
        crate::private_fs::Dir::open(&sessions),
    ) else {
        return Files {
            dir: None,
            entries: Vec::new(),
        };
    };
    let mut names: Vec<String> = listing
        .flatten()
        .filter_map(|item| item.file_name().into_string().ok())
        .collect();
    names.sort_unstable();
    let marked = |slug: &str| names.binary_search(&format!("{slug}.stale")).is_ok();
    let entries = names
        .iter()
        .filter_map(|name| name.strip_suffix(".json"))
        .map(|slug| EntryFile {
            path: sessions.join(format!("{slug}.json")),
            slug: slug.to_string(),
            bytes: dir
                .read_document(&format!("{slug}.json"))
                .map_err(read_error),
            stale: marked(slug),
        })
        .collect();
    Files {
        dir: Some(dir),
        entries,
    }
}

/// A registry entry as a scan reads it, from its file's bytes.
pub trait Listed<'a>: Sized {
    fn from_file(file: &'a EntryFile, bytes: &'a [u8]) -> std::result::Result<Self, EntryError>;
    fn head(&self) -> HeadRef<'_>;
}

/// What every scan reads of an entry: whether it is alive, and its order in the listing.
pub struct HeadRef<'e> {
    pub pid: u32,
    pub supervisor_pid: Option<u32>,
    pub supervisor_started: Option<u64>,
    pub started_at: &'e str,
    pub id: &'e str,
}

impl HeadRef<'_> {
    /// Whether its session is alive, given what its lock file showed (`None`: no file to look at).
    pub fn liveness(&self, lock: Option<Probe>) -> Liveness {
        Liveness {
            pid: self.pid,
            supervisor_pid: self.supervisor_pid,
            supervisor_started: self.supervisor_started,
            lock,
        }
    }
}

impl Listed<'_> for RegistryEntry {
    fn from_file(file: &EntryFile, bytes: &[u8]) -> std::result::Result<Self, EntryError> {
        let mut entry: RegistryEntry = from_bytes(bytes)?;
        entry.file = Some(file.path.clone());
        Ok(entry)
    }
    fn head(&self) -> HeadRef<'_> {
        HeadRef {
            pid: self.pid,
            supervisor_pid: self.supervisor_pid,
            supervisor_started: self.supervisor_started,
            started_at: &self.started_at,
            id: &self.id,
        }
    }
}

impl Listed<'_> for EntryHead {
    fn from_file(file: &EntryFile, bytes: &[u8]) -> std::result::Result<Self, EntryError> {
        let mut head: EntryHead = from_bytes(bytes)?;
        head.file = file.path.clone();
        Ok(head)
    }
    fn head(&self) -> HeadRef<'_> {
        HeadRef {
            pid: self.pid,
            supervisor_pid: self.supervisor_pid,
            supervisor_started: self.supervisor_started,
            started_at: &self.started_at,
            id: &self.id,
        }
    }
}

/// The entries in `files`, live ones as `T`s (see [`scan`]).
pub fn scan_files<'a, T: Listed<'a>>(state: &StateDir, files: &'a Files) -> Scan<T> {
    let mut scan = Scan::default();
    let Some(dir) = &files.dir else {
        return scan;
    };
    for file in &files.entries {
        let lock = || session_lock::probe_in(dir, &format!("{}.lock", file.slug));
        let read = match &file.bytes {
            Ok(bytes) => T::from_file(file, bytes),
            Err(e) => Err(e.clone()),
        };
        match read {
            Ok(entry) if entry.head().liveness(Some(lock())).is_alive() => scan.live.push(entry),
            // Settling reads the whole entry again, under the lock: rare, so not worth keeping.
            Ok(_) => {
                if let Ok(entry) = parse_entry(&file.path) {
                    crate::crash::settle(state, &entry);
                }
            }
            Err(EntryError::Missing) => {}
            Err(EntryError::Corrupt(error)) => scan.corrupt.push(CorruptEntry {
                supervisor_alive: lock() == Probe::Held,
                path: file.path.clone(),
                error,
            }),
        }
    }
    scan.live.sort_by(|a, b| {
        let (a, b) = (a.head(), b.head());
        a.started_at.cmp(b.started_at).then(a.id.cmp(b.id))
    });
    scan.corrupt.sort_by(|a, b| a.path.cmp(&b.path));
    scan
}

/// What listing sessions needs of a registry entry. An entry also carries a copy of its
/// session's whole status (about 60 fields, as the Ruby harnex's entries do); serde skips those
/// unparsed here, so a listing costs the same per session whatever an entry holds.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct EntryHead {
    pub session_id: String,
    pub id: String,
    pub cli: String,
    pub repo_root: PathBuf,
    /// The agent's PID (the PTY child).
    pub pid: u32,
    pub token: String,
    #[serde(default)]
    pub cwd: Option<PathBuf>,
    pub started_at: String,
    #[serde(default)]
    pub supervisor_pid: Option<u32>,
    #[serde(default)]
    pub supervisor_started: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmux_target: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmux_session: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmux_window: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmux_socket: Option<serde_json::Value>,
    /// The file this entry was read from.
    #[serde(skip)]
    pub file: PathBuf,
}

impl EntryHead {
    pub fn key(&self) -> SessionKey {
        SessionKey::new(self.repo_root.clone(), &self.id)
    }

    /// The head of a whole entry.
    pub fn of(entry: &RegistryEntry) -> EntryHead {
        let extra = |key: &str| entry.extra.get(key).cloned();
        EntryHead {
            session_id: entry.session_id.clone(),
            id: entry.id.clone(),
            cli: entry.cli.clone(),
            repo_root: entry.repo_root.clone(),
            pid: entry.pid,
            token: entry.token.clone(),
            cwd: entry.cwd.clone(),
            started_at: entry.started_at.clone(),
            supervisor_pid: entry.supervisor_pid,
            supervisor_started: entry.supervisor_started,
            tmux_target: extra("tmux_target"),
            tmux_session: extra("tmux_session"),
            tmux_window: extra("tmux_window"),
            tmux_socket: extra("tmux_socket"),
            file: entry.file.clone().unwrap_or_default(),
        }
    }

    /// `<repo_key>--<id_key>`, from the name of the file it was read from.
    pub fn slug(&self) -> &str {
        self.file
            .file_stem()
            .and_then(|stem| stem.to_str())
            .unwrap_or_default()
    }

    /// The whole entry (read again from its file).
    pub fn full(&self) -> std::result::Result<RegistryEntry, EntryError> {
        parse_entry(&self.file)
    }
}

/// What says whether a registry entry's session is alive.
#[derive(Debug, Clone, Copy)]
pub struct Liveness {
    /// The agent's pid (entries without a supervisor pid).
    pub pid: u32,
    pub supervisor_pid: Option<u32>,
    /// The supervisor's start time in clock ticks since boot.
    pub supervisor_started: Option<u64>,
    /// What its lock file showed; `None` for an entry read from no file.
    pub lock: Option<Probe>,
}

impl Liveness {
    /// Whether the session's supervisor (or, for entries without one, the agent) is alive.
    ///
    /// The session lock answers first: nobody holds it, or a reader settling the run's crash
    /// does, dead; a supervisor holds it, alive (its pid is checked to exist too, for a lock
    /// taken by a harnex from before readers took only its first byte). That costs one `fcntl`
    /// and one `kill(pid, 0)`, so `status` stays cheap per session; a supervisor's lock goes
    /// with its process, before it is a zombie. Without a lock file (a supervisor from before
    /// locks) the pid and its start time in `/proc` decide, so a reused pid is not taken for the
    /// supervisor.
    pub fn is_alive(&self) -> bool {
        match (self.lock, self.supervisor_pid) {
            (Some(Probe::Free | Probe::Settling), _) => false,
            (Some(Probe::Held), Some(pid)) => pid_exists(pid),
            (_, Some(pid)) => match (process_alive_since(pid), self.supervisor_started) {
                (None, _) => false,
                (Some(Some(have)), Some(want)) => want == have,
                (Some(_), _) => true,
            },
            (_, None) => process_alive(self.pid),
        }
    }
}

/// Whether a process with this pid exists (a zombie too; one that is not ours too).
fn pid_exists(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => true,
        Err(e) => e == nix::errno::Errno::EPERM,
    }
}

/// Every live session in the registry (see [`scan`]).
pub fn live_entries(state: &StateDir) -> Vec<RegistryEntry> {
    scan(state).live
}

pub fn read_exit(state: &StateDir, key: &SessionKey) -> Option<ExitRecord> {
    let bytes = crate::private_fs::read(&state.exit_path(key)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// The exit record of this run of `entry`'s session, waiting up to `within` for its supervisor
/// to write it (it does right after the agent exits). A supervisor that died without writing it
/// gets its crash recorded here. Never another run's record.
pub fn await_exit(
    state: &StateDir,
    entry: &RegistryEntry,
    within: std::time::Duration,
) -> Option<ExitRecord> {
    let deadline = std::time::Instant::now() + within;
    let mut settled = false;
    loop {
        let record = read_exit(state, &entry.key()).filter(|r| r.session_id == entry.session_id);
        if record.is_some() || std::time::Instant::now() >= deadline {
            return record;
        }
        if !settled && !entry.is_alive() {
            settled = true;
            crate::crash::settle(state, entry);
            continue;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

pub fn write_exit(state: &StateDir, record: &ExitRecord) -> Result<()> {
    let key = SessionKey::new(record.repo_root.clone(), &record.id);
    let json = serde_json::to_vec_pretty(record).map_err(|e| Error::failed(e.to_string()))?;
    paths::write_atomic(&state.exit_path(&key), &json)
}

/// Which session a command means: `--id`, optionally narrowed by `--repo` and `--cli`.
#[derive(Debug, Clone)]
pub struct Selector {
    pub id: String,
    /// The repo the user named with `--repo`; `None` means the current repo, with a fallback to a
    /// unique match in another repo.
    pub repo: Option<PathBuf>,
    pub cli: Option<String>,
}

impl Selector {
    pub fn new(id: &str, repo: Option<&Path>, cli: Option<&str>) -> Result<Selector> {
        Ok(Selector {
            id: paths::normalize_id(id)?,
            repo: repo.map(paths::repo_root_of),
            // CLIs match by program name: `--cli codex` finds a session run as /opt/bin/codex.
            cli: cli
                .map(|c| crate::adapters::cli_name(c.trim()))
                .filter(|c| !c.is_empty()),
        })
    }

    fn matches(&self, entry: &EntryHead) -> bool {
        paths::id_key(&entry.id) == paths::id_key(&self.id)
            && self
                .cli
                .as_ref()
                .is_none_or(|cli| crate::adapters::cli_name(&entry.cli) == *cli)
    }

    /// The repo to look in first.
    pub fn home_repo(&self) -> Result<PathBuf> {
        match &self.repo {
            Some(repo) => Ok(repo.clone()),
            None => paths::current_repo_root(),
        }
    }

    /// The live session this selector names, or a message that says what to do instead.
    pub fn find_live(&self, state: &StateDir) -> Result<RegistryEntry> {
        match self.resolve(state)? {
            Resolved::Live(entry) => Ok(*entry),
            Resolved::None { hint } => Err(Error::failed(hint)),
        }
    }

    pub fn resolve(&self, state: &StateDir) -> Result<Resolved> {
        let home = self.home_repo()?;
        // Heads only: the one entry this names is read whole below.
        let scan = scan_heads(state);
        let live = scan.live;
        let matching: Vec<&EntryHead> = live.iter().filter(|e| self.matches(e)).collect();
        let chosen = match matching.iter().find(|e| e.repo_root == home) {
            Some(here) => Some(*here),
            None if self.repo.is_none() && matching.len() == 1 => Some(matching[0]),
            None => None,
        };
        // Gone between the scan and this read: it just ended, and is looked up as ended below.
        if let Some(entry) = chosen.and_then(|head| head.full().ok()) {
            return Ok(Resolved::Live(Box::new(entry)));
        }
        if self.repo.is_none() && chosen.is_none() && matching.len() > 1 {
            let repos: Vec<String> = matching
                .iter()
                .map(|e| format!("{} ({})", e.repo_root.display(), e.cli))
                .collect();
            return Err(Error::failed(format!(
                "multiple active sessions found with id {:?}: {}; pass --repo PATH (or --cli NAME) to pick one",
                self.id,
                repos.join(", ")
            )));
        }
        // A damaged entry of this very session: its supervisor may be alive and about to rewrite it.
        let slug = SessionKey::new(home.clone(), &self.id).slug();
        if let Some(damaged) = scan.corrupt.iter().find(|c| c.slug() == slug) {
            let next = if damaged.supervisor_alive {
                "its supervisor is alive and rewrites it within seconds: try again"
            } else {
                "no supervisor holds it: start the session again with `harnex run`"
            };
            return Ok(Resolved::None {
                hint: format!(
                    "the registry entry of session {:?} ({}) is damaged; {next}",
                    self.id,
                    damaged.path.display()
                ),
            });
        }
        if let Some(ended) = ended_hint(state, &home, &self.id) {
            return Ok(Resolved::None { hint: ended });
        }
        Ok(Resolved::None {
            hint: self.not_found_hint(&live, &home),
        })
    }

    fn not_found_hint(&self, live: &[EntryHead], home: &Path) -> String {
        let here: Vec<&str> = live
            .iter()
            .filter(|e| e.repo_root == home)
            .map(|e| e.id.as_str())
            .collect();
        let mut msg = format!("no session found with id {:?}", self.id);
        if let Some(cli) = &self.cli {
            msg.push_str(&format!(" and cli {cli:?}"));
        }
        msg.push_str(&format!(" in {}", home.display()));
        if here.is_empty() {
            let elsewhere = live.len();
            if elsewhere > 0 {
                msg.push_str(&format!(
                    "; {elsewhere} live session(s) in other repos: see `harnex status --all`"
                ));
            } else {
                msg.push_str("; no sessions are running: start one with `harnex run <cli>`");
            }
        } else {
            msg.push_str(&format!("; live sessions here: {}", here.join(", ")));
        }
        msg
    }
}

/// "session X ended at T with code C (reason); see …" when the id's last run in `repo` left an
/// exit record: the answer a command gets for a session that is gone.
pub fn ended_hint(state: &StateDir, repo: &Path, id: &str) -> Option<String> {
    let record = read_exit(state, &SessionKey::new(repo.to_path_buf(), id))?;
    let code = record
        .exit_code
        .map_or("an unknown code".to_string(), |c| format!("code {c}"));
    let reason = record.reason.as_deref().unwrap_or("unknown");
    Some(format!(
        "session {id:?} ended at {} with {code} ({reason}); see `harnex wait --id {id}` and `harnex logs --id {id}`",
        record.exited_at
    ))
}

/// A per-session file that outlives the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionFile {
    Transcript,
    Events,
    Exit,
}

impl SessionFile {
    pub fn path(self, state: &StateDir, key: &SessionKey) -> PathBuf {
        match self {
            SessionFile::Transcript => state.output_path(key),
            SessionFile::Events => state.events_path(key),
            SessionFile::Exit => state.exit_path(key),
        }
    }

    fn dir_and_ext(self) -> (&'static str, &'static str) {
        match self {
            SessionFile::Transcript => ("output", "log"),
            SessionFile::Events => ("events", "jsonl"),
            SessionFile::Exit => ("exits", "json"),
        }
    }
}

impl Selector {
    /// The file of a session that is not live: in the home repo, else (without `--repo`) a
    /// unique match in another repo.
    pub fn find_file(&self, state: &StateDir, which: SessionFile) -> Result<Option<PathBuf>> {
        let path = which.path(state, &SessionKey::new(self.home_repo()?, &self.id));
        if path.exists() {
            return Ok(Some(path));
        }
        if self.repo.is_some() {
            return Ok(None);
        }
        let (dir, ext) = which.dir_and_ext();
        let suffix = format!("--{}.{ext}", paths::id_key(&self.id));
        let matches: Vec<PathBuf> = fs::read_dir(state.root().join(dir))
            .map(|entries| {
                entries
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| {
                        p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.ends_with(&suffix) && n.len() == 16 + suffix.len())
                    })
                    .collect()
            })
            .unwrap_or_default();
        match matches.as_slice() {
            [only] => Ok(Some(only.clone())),
            [] => Ok(None),
            _ => Err(Error::failed(format!(
                "{dir} files for id {:?} exist in several repos; pass --repo PATH",
                self.id
            ))),
        }
    }
}

pub enum Resolved {
    Live(Box<RegistryEntry>),
    None { hint: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive_and_has_a_start_time() {
        let me = std::process::id();
        assert!(process_alive(me));
        assert!(process_start_ticks(me).is_some());
    }

    /// A pid no process has: one past `pid_max` is never handed out.
    fn unused_pid() -> u32 {
        let max: u32 = fs::read_to_string("/proc/sys/kernel/pid_max")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(4_194_304);
        max + 1
    }

    fn liveness_of(file: &Path, supervisor_pid: u32, started: Option<u64>) -> bool {
        Liveness {
            pid: supervisor_pid,
            supervisor_pid: Some(supervisor_pid),
            supervisor_started: started,
            lock: Some(session_lock::probe(&session_lock::lock_path_of_entry(file))),
        }
        .is_alive()
    }

    #[test]
    fn the_session_lock_decides_liveness_before_the_pid() {
        let dir = tempfile::tempdir().unwrap();
        let entry = dir.path().join("r--s.json");
        let me = std::process::id();
        let wrong_start = process_start_ticks(me).map(|t| t + 1);
        // No lock file (a supervisor from before locks): the pid and its start time decide.
        assert!(liveness_of(&entry, me, process_start_ticks(me)));
        assert!(!liveness_of(&entry, me, wrong_start), "a reused pid");
        assert!(!liveness_of(&entry, unused_pid(), None));
        // A lock nobody holds: dead, whatever the pid.
        let lock_path = session_lock::lock_path_of_entry(&entry);
        fs::write(&lock_path, b"").unwrap();
        assert!(!liveness_of(&entry, me, process_start_ticks(me)));
        // Held: alive while the supervisor's pid exists (its start time is not read), dead when
        // the holder is a reader settling a run whose supervisor is gone.
        let lock = session_lock::SessionLock::acquire(&lock_path, std::time::Duration::ZERO)
            .unwrap()
            .expect("the lock is free");
        // The holder's own process asks: an OFD lock is per open file, so it sees it held.
        assert_eq!(session_lock::probe(&lock_path), Probe::Held);
        assert!(liveness_of(&entry, me, wrong_start));
        assert!(!liveness_of(&entry, unused_pid(), None));
        lock.release();
    }

    #[test]
    fn a_nonexistent_pid_is_dead() {
        assert!(!process_alive(0));
        assert!(!process_alive(u32::MAX));
    }

    #[test]
    fn ipv6_hosts_are_bracketed() {
        assert_eq!(url_host("::1"), "[::1]");
        assert_eq!(url_host("127.0.0.1"), "127.0.0.1");
    }
}

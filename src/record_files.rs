//! Where an agent writes its own records, and finding this session's file among everyone's.
//!
//! - Claude Code: harnex picks the agent's session id before the spawn (`--session-id`), so the
//!   file's name is known: `<CLAUDE_CONFIG_DIR>/projects/<cwd as a slug>/<id>.jsonl`. It appears
//!   at the first prompt; harnex waits for that name.
//! - Codex: the rollout's name holds a time and an id Codex picks itself
//!   (`<CODEX_HOME>/sessions/YYYY/MM/DD/rollout-<time>-<id>.jsonl`), and two sessions started in
//!   the same repo in the same second look alike. Codex keeps its rollout open while it runs, so
//!   the file is the one a process of this session's agent holds open — a fact no other session
//!   can share — confirmed by its first line (`session_meta` of a top-level thread, in our cwd).
//!
//! Neither is polled: a [`TreeWatch`] sleeps in inotify on the directories the file can appear
//! in (and on the agent's exit) and wakes only when something there changes.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify, WatchDescriptor};
use serde::{Deserialize, Serialize};

/// How a session will find its agent's records, decided before the agent starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RecordsPlan {
    /// A Codex rollout under `sessions_dir` (`$CODEX_HOME/sessions`).
    CodexRollout { sessions_dir: PathBuf },
    /// The Claude transcript named `<agent_session_id>.jsonl` under `projects_dir`.
    ClaudeTranscript {
        projects_dir: PathBuf,
        agent_session_id: String,
        /// The file the session's hooks append their calls to (`harnex hook-relay`), when the
        /// run registered them.
        #[serde(default)]
        hooks: Option<PathBuf>,
    },
    /// The Copilot CLI's `<agent_session_id>/events.jsonl` under `session_state_dir`
    /// (`$COPILOT_HOME/session-state`).
    CopilotEvents {
        session_state_dir: PathBuf,
        agent_session_id: String,
    },
    /// Gemini CLI's chat `<project>/chats/session-<time>-<id8>.jsonl` under `tmp_dir`
    /// (`~/.gemini/tmp`), whose first row names `agent_session_id`.
    GeminiChat {
        tmp_dir: PathBuf,
        agent_session_id: String,
    },
    /// OpenCode's event stream, served by the TUI on `127.0.0.1:<port>` (`--port`).
    OpenCodeEvents { port: u16 },
    /// No records for this agent or this way of starting it.
    Unavailable { why: String },
}

impl RecordsPlan {
    pub fn unavailable(why: impl Into<String>) -> RecordsPlan {
        RecordsPlan::Unavailable { why: why.into() }
    }

    /// The `source` name status shows (`None` when there are no records).
    pub fn source(&self) -> Option<&'static str> {
        match self {
            RecordsPlan::CodexRollout { .. } => Some("codex-rollout"),
            RecordsPlan::ClaudeTranscript { .. } => Some("claude-transcript"),
            RecordsPlan::CopilotEvents { .. } => Some("copilot-events"),
            RecordsPlan::GeminiChat { .. } => Some("gemini-chat"),
            RecordsPlan::OpenCodeEvents { .. } => Some("opencode-events"),
            RecordsPlan::Unavailable { .. } => None,
        }
    }
}

/// An agent's home directory: `$VAR` when set, else `~/<dot_dir>`.
pub fn agent_home(env: &dyn Fn(&str) -> Option<String>, var: &str, dot_dir: &str) -> PathBuf {
    match env(var).filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env("HOME").unwrap_or_default()).join(dot_dir),
    }
}

/// The Gemini chat file of session `agent_session_id` under `tmp_dir`, if Gemini wrote it: a
/// `session-*-<first 8 of the id>.jsonl` in some project's `chats` whose header names the id.
pub fn gemini_chat(tmp_dir: &Path, agent_session_id: &str) -> Option<PathBuf> {
    let short: String = agent_session_id.chars().take(8).collect();
    let suffix = format!("-{short}.jsonl");
    for project in subdirs(tmp_dir) {
        let chats = tmp_dir.join(project).join("chats");
        for entry in std::fs::read_dir(&chats).into_iter().flatten().flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("session-")
                && name.ends_with(&suffix)
                && first_line_names(&entry.path(), agent_session_id)
            {
                return Some(entry.path());
            }
        }
    }
    None
}

/// Whether the file's first line is a header whose `sessionId` is `id`.
fn first_line_names(path: &Path, id: &str) -> bool {
    let Ok(file) = crate::private_fs::open_read(path) else {
        return false;
    };
    let mut first = String::new();
    let read = std::io::BufRead::read_line(
        &mut std::io::BufReader::new(std::io::Read::take(file, 64 * 1024)),
        &mut first,
    );
    read.is_ok()
        && serde_json::from_str::<serde_json::Value>(&first)
            .is_ok_and(|v| v["sessionId"].as_str() == Some(id))
}

/// For Gemini's `tmp` tree: every project folder, and in each only its `chats`.
pub fn gemini_chats_only(depth: usize, names: &[String]) -> Vec<String> {
    match depth {
        1 => names.to_vec(),
        _ => names.iter().filter(|n| *n == "chats").cloned().collect(),
    }
}

/// Claude's folder name for a working directory: every character that is not an ASCII letter
/// or digit becomes `-` (as Claude Code names its project folders).
pub fn claude_project_slug(cwd: &Path) -> String {
    cwd.to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// The Codex rollouts a process of the agent's tree (`root` and its descendants) holds open,
/// among the files under `sessions_dir`.
pub fn rollouts_held_open(root: u32, sessions_dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    for pid in crate::sweep::process_tree(root) {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            let Ok(target) = std::fs::read_link(fd.path()) else {
                continue;
            };
            let is_rollout = target
                .file_name()
                .and_then(OsStr::to_str)
                .is_some_and(|n| n.starts_with("rollout-") && n.ends_with(".jsonl"));
            if is_rollout && target.starts_with(sessions_dir) && !found.contains(&target) {
                found.push(target);
            }
        }
    }
    found
}

/// Why [`TreeWatch::wait`] returned.
#[derive(Debug, PartialEq, Eq)]
pub enum TreeWake {
    /// Files at the watched depth were created or written (their paths; may be empty when the
    /// watch could not tell, and the caller should look).
    Touched(Vec<PathBuf>),
    /// The agent exited.
    OwnerExited,
}

const DIR_EVENTS: AddWatchFlags = AddWatchFlags::IN_CREATE
    .union(AddWatchFlags::IN_MOVED_TO)
    .union(AddWatchFlags::IN_MODIFY)
    .union(AddWatchFlags::IN_CLOSE_WRITE)
    .union(AddWatchFlags::IN_ONLYDIR);

/// Wakes when a file appears or grows `file_depth` levels below a root directory, descending
/// into directories as they are created (see the module docs).
pub struct TreeWatch {
    /// None when no inotify instance could be had (the user's limit, 128 by default, is shared
    /// by all their processes): then every wait is a sleep and the caller looks.
    inotify: Option<Inotify>,
    /// Without inotify: how long the next wait sleeps ([`next_poll`]).
    poll_every: std::time::Duration,
    /// Each watched directory and its depth below the root (the root is 0).
    dirs: HashMap<WatchDescriptor, (PathBuf, usize)>,
    file_depth: usize,
    owner: Option<OwnedFd>,
}

impl TreeWatch {
    /// Watch `root` (created if missing) and, below it, the existing directories `pick` chooses at
    /// each level (a sessions tree holds years of days; only today's can gain this run's file).
    pub fn new(
        root: &Path,
        file_depth: usize,
        pick: &dyn Fn(usize, &[String]) -> Vec<String>,
    ) -> std::io::Result<TreeWatch> {
        std::fs::create_dir_all(root)?;
        let inotify = Inotify::init(InitFlags::IN_CLOEXEC | InitFlags::IN_NONBLOCK)
            .map_err(|e| {
                let e = std::io::Error::from(e);
                crate::follow::warn_polling(&root.display().to_string(), NO_INOTIFY_POLL, &e);
            })
            .ok();
        let mut watch = TreeWatch {
            inotify,
            poll_every: NO_INOTIFY_POLL,
            dirs: HashMap::new(),
            file_depth,
            owner: None,
        };
        if watch.inotify.is_none() {
            return Ok(watch);
        }
        watch.add_dir(root, 0)?;
        let mut level = vec![root.to_path_buf()];
        for depth in 1..file_depth {
            let mut next = Vec::new();
            for dir in &level {
                let names = subdirs(dir);
                for name in pick(depth, &names) {
                    let path = dir.join(name);
                    if watch.add_dir(&path, depth).is_ok() {
                        next.push(path);
                    }
                }
            }
            level = next;
        }
        Ok(watch)
    }

    /// Also wake when process `pid` exits.
    pub fn until_exit_of(mut self, pid: u32) -> TreeWatch {
        // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
        if let Ok(fd) = i32::try_from(fd)
            && fd >= 0
        {
            // SAFETY: a descriptor just returned by the kernel, owned by nobody else.
            self.owner = Some(unsafe { OwnedFd::from_raw_fd(fd) });
        }
        self
    }

    fn add_dir(&mut self, dir: &Path, depth: usize) -> std::io::Result<()> {
        let Some(inotify) = &self.inotify else {
            return Ok(());
        };
        let wd = inotify
            .add_watch(dir, DIR_EVENTS)
            .map_err(std::io::Error::from)?;
        self.dirs.insert(wd, (dir.to_path_buf(), depth));
        Ok(())
    }

    /// Block until a file at the watched depth is created or written, or the agent exits.
    pub fn wait(&mut self) -> TreeWake {
        let Some(inotify) = &self.inotify else {
            let sleep = self.poll_every;
            self.poll_every = next_poll(sleep);
            return match &self.owner {
                Some(owner) if owner_exits_within(owner, sleep) => TreeWake::OwnerExited,
                Some(_) => TreeWake::Touched(Vec::new()),
                None => {
                    std::thread::sleep(sleep);
                    TreeWake::Touched(Vec::new())
                }
            };
        };
        let inotify_fd = inotify.as_fd().try_clone_to_owned();
        let Ok(inotify_fd) = inotify_fd else {
            return TreeWake::Touched(Vec::new());
        };
        loop {
            let mut fds = vec![PollFd::new(inotify_fd.as_fd(), PollFlags::POLLIN)];
            if let Some(owner) = &self.owner {
                fds.push(PollFd::new(owner.as_fd(), PollFlags::POLLIN));
            }
            // Without a pidfd, look at the agent now and then (kernels before 5.3).
            let timeout = if self.owner.is_some() {
                PollTimeout::NONE
            } else {
                PollTimeout::from(500u16)
            };
            if poll(&mut fds, timeout).is_err() {
                return TreeWake::Touched(Vec::new());
            }
            let exited = fds
                .get(1)
                .and_then(PollFd::revents)
                .is_some_and(|r| !r.is_empty());
            drop(fds);
            if exited {
                return TreeWake::OwnerExited;
            }
            let touched = self.drain();
            if !touched.is_empty() || self.owner.is_none() {
                return TreeWake::Touched(touched);
            }
        }
    }

    /// The files the pending notifications name; new directories get watches of their own (and
    /// what they already hold counts as touched: it may have been written before the watch).
    fn drain(&mut self) -> Vec<PathBuf> {
        let mut touched = Vec::new();
        let Some(inotify) = &self.inotify else {
            return touched;
        };
        let mut pending = Vec::new();
        while let Ok(events) = inotify.read_events() {
            if events.is_empty() {
                break;
            }
            pending.extend(events);
        }
        for event in pending {
            let (Some((dir, depth)), Some(name)) = (self.dirs.get(&event.wd).cloned(), event.name)
            else {
                continue;
            };
            let path = dir.join(&name);
            if event.mask.contains(AddWatchFlags::IN_ISDIR) {
                if depth + 1 < self.file_depth {
                    touched.extend(self.add_new_tree(&path, depth + 1));
                }
            } else if depth + 1 == self.file_depth && !touched.contains(&path) {
                touched.push(path);
            }
        }
        touched
    }
}

impl TreeWatch {
    /// Watch a directory that was just created, and what was made inside it before the watch
    /// was in place; returns the files already at the watched depth.
    fn add_new_tree(&mut self, dir: &Path, depth: usize) -> Vec<PathBuf> {
        if self.add_dir(dir, depth).is_err() {
            return Vec::new();
        }
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() && depth + 1 < self.file_depth {
                files.extend(self.add_new_tree(&entry.path(), depth + 1));
            } else if kind.is_file() && depth + 1 == self.file_depth {
                files.push(entry.path());
            }
        }
        files
    }
}

/// The names of the directories in `dir`, sorted.
fn subdirs(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|e| e.file_name().into_string().ok())
        .collect();
    names.sort();
    names
}

/// How often to look when no inotify instance could be had: at first, then ever less often up
/// to [`NO_INOTIFY_POLL_MAX`] — looking for an agent's records (its open files in /proc) every
/// 100 ms costs a waiting session about 5% of a core, and a machine out of inotify instances has
/// many sessions.
const NO_INOTIFY_POLL: std::time::Duration = std::time::Duration::from_millis(100);
const NO_INOTIFY_POLL_MAX: std::time::Duration = std::time::Duration::from_secs(1);

/// The sleep after one of `current`: twice as long, at most [`NO_INOTIFY_POLL_MAX`].
fn next_poll(current: std::time::Duration) -> std::time::Duration {
    (current * 2).min(NO_INOTIFY_POLL_MAX)
}

/// Whether the process behind `pidfd` exits within `within` (its pidfd becomes ready).
fn owner_exits_within(pidfd: &OwnedFd, within: std::time::Duration) -> bool {
    let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
    let millis = u16::try_from(within.as_millis()).unwrap_or(u16::MAX);
    poll(&mut fds, PollTimeout::from(millis)).is_ok_and(|n| n > 0)
}

/// For a Codex sessions tree: at each level only the newest directory (zero-padded dates sort).
pub fn newest_only(_depth: usize, names: &[String]) -> Vec<String> {
    names.last().cloned().into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_in_a_directory_created_after_the_watch_is_seen() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("2026/12/02")).unwrap();
        let mut watch = TreeWatch::new(root.path(), 4, &newest_only).unwrap();
        let day = root.path().join("2026/12/03");
        std::fs::create_dir_all(&day).unwrap();
        std::fs::write(day.join("rollout-a.jsonl"), "{}\n").unwrap();
        let mut seen = Vec::new();
        while !seen.contains(&day.join("rollout-a.jsonl")) {
            match watch.wait() {
                TreeWake::Touched(paths) => seen.extend(paths),
                TreeWake::OwnerExited => panic!("no owner was given"),
            }
        }
    }

    #[test]
    fn writes_in_the_newest_existing_day_are_seen_and_older_days_are_not_watched() {
        let root = tempfile::tempdir().unwrap();
        for day in ["2026/11/30", "2026/12/03"] {
            std::fs::create_dir_all(root.path().join(day)).unwrap();
        }
        let mut watch = TreeWatch::new(root.path(), 4, &newest_only).unwrap();
        assert_eq!(watch.dirs.len(), 4, "root, 2026, 12, 03");
        let file = root.path().join("2026/12/03/rollout-b.jsonl");
        std::fs::write(&file, "{}\n").unwrap();
        assert_eq!(watch.wait(), TreeWake::Touched(vec![file]));
    }

    #[test]
    fn the_watch_wakes_when_the_agent_exits() {
        let root = tempfile::tempdir().unwrap();
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let mut watch = TreeWatch::new(root.path(), 2, &|_, _| Vec::new())
            .unwrap()
            .until_exit_of(child.id());
        let _ = child.wait();
        assert_eq!(watch.wait(), TreeWake::OwnerExited);
    }

    #[test]
    fn without_inotify_the_watch_looks_ever_less_often_up_to_a_second() {
        let mut every = NO_INOTIFY_POLL;
        let mut sleeps = Vec::new();
        for _ in 0..6 {
            sleeps.push(every.as_millis());
            every = next_poll(every);
        }
        assert_eq!(sleeps, [100, 200, 400, 800, 1000, 1000]);
    }

    #[test]
    fn without_inotify_the_watch_still_wakes_to_look_and_sees_the_agent_exit() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "read _"])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut watch = TreeWatch {
            inotify: None,
            poll_every: NO_INOTIFY_POLL,
            dirs: HashMap::new(),
            file_depth: 2,
            owner: None,
        }
        .until_exit_of(child.id());
        assert!(matches!(watch.wait(), TreeWake::Touched(paths) if paths.is_empty()));
        drop(child.stdin.take());
        let _ = child.wait();
        assert_eq!(watch.wait(), TreeWake::OwnerExited);
    }

    #[test]
    fn the_gemini_chat_is_found_by_its_name_and_first_row() {
        let root = tempfile::tempdir().unwrap();
        let id = "59a506da-067f-416c-b5fd-6afc4f362d07";
        let chats = root.path().join("repo/chats");
        std::fs::create_dir_all(&chats).unwrap();
        // Same first 8 characters, another session: not ours.
        let other = chats.join("session-2026-12-03T12-00-59a506da.jsonl");
        std::fs::write(
            &other,
            "{\"sessionId\":\"59a506da-0000-0000-0000-000000000000\"}\n",
        )
        .unwrap();
        assert_eq!(gemini_chat(root.path(), id), None);
        let ours = chats.join("session-2026-12-03T12-34-59a506da.jsonl");
        std::fs::write(&ours, format!("{{\"sessionId\":\"{id}\"}}\n")).unwrap();
        assert_eq!(gemini_chat(root.path(), id), Some(ours));
    }

    #[test]
    fn claude_slugs_replace_every_other_character() {
        assert_eq!(
            claude_project_slug(Path::new("/tmp/my.repo_x")),
            "-tmp-my-repo-x"
        );
    }

    #[test]
    fn the_rollout_a_child_holds_open_is_found_and_no_other() {
        let root = tempfile::tempdir().unwrap();
        let sessions = root.path().join("sessions");
        std::fs::create_dir_all(&sessions).unwrap();
        let ours = sessions.join("rollout-ours.jsonl");
        let theirs = sessions.join("rollout-theirs.jsonl");
        std::fs::write(&theirs, "").unwrap();
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("exec 3>>'{}'; read _", ours.display()))
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut found = Vec::new();
        while found.is_empty() && std::time::Instant::now() < deadline {
            found = rollouts_held_open(child.id(), &sessions);
            std::thread::yield_now();
        }
        drop(child.stdin.take());
        let _ = child.wait();
        assert_eq!(found, vec![ours]);
    }
}

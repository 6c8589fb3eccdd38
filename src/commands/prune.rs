//! `harnex prune`: remove the files of sessions that ended long ago (exit record, transcript,
//! events, a detached supervisor's log, the agent's hook files), so the state dir does not grow without bound.
//!
//! A session's files are pruned when none of them changed within `--older-than` and the session
//! is not live: nobody holds its lock (`sessions/<slug>.lock`) and it has no registry entry, or
//! one whose supervisor is gone. An entry that cannot be read counts as live (it may be a session
//! being written right now). A lock file left by a killed supervisor goes too, removed only while
//! prune holds it. A status snapshot (`status/<slug>.json`) of a session that is not live goes
//! whatever its age: it only ever describes a live session. Symlinks and anything else that is not a regular file are never followed nor
//! removed.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::json;

use crate::cli::PruneArgs;
use crate::error::{Error, Result};
use crate::paths::StateDir;
use crate::registry;
use crate::session_lock;

/// The per-session directories whose files are named `<slug>.<ext>` (or `<slug>.tmp.<pid>`);
/// `hooks` holds a Claude run's hook settings and relayed calls.
const SLUG_DIRS: [&str; 5] = ["exits", "output", "events", "logs", "hooks"];

#[derive(Debug, Serialize)]
struct Pruned {
    path: PathBuf,
    bytes: u64,
}

/// Files of one session (or one supervisor log), with their newest modification time.
#[derive(Default)]
struct Group {
    files: Vec<Pruned>,
    newest: Option<SystemTime>,
}

impl Group {
    fn add(&mut self, path: PathBuf, meta: &fs::Metadata) {
        let modified = meta.modified().unwrap_or(SystemTime::now());
        self.newest = Some(self.newest.map_or(modified, |n| n.max(modified)));
        self.files.push(Pruned {
            path,
            bytes: meta.len(),
        });
    }
}

pub fn run(args: PruneArgs) -> Result<i32> {
    let state = StateDir::from_env()?;
    // Far past the epoch means nothing is that old.
    let cutoff = SystemTime::now()
        .checked_sub(args.older_than)
        .unwrap_or(SystemTime::UNIX_EPOCH);
    let live = LiveSessions::find(&state);
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for dir in SLUG_DIRS {
        for (name, path, meta) in regular_files(&state.root().join(dir)) {
            let slug = name.split('.').next().unwrap_or_default().to_string();
            if !slug.is_empty() && !live.slugs.contains(&slug) {
                groups.entry(slug).or_default().add(path, &meta);
            }
        }
    }
    // Lock files nobody holds (a supervisor killed before it could remove its own).
    for (name, path, meta) in regular_files(&state.sessions_dir()) {
        let Some(slug) = name.strip_suffix(".lock") else {
            continue;
        };
        if !live.slugs.contains(slug) && session_lock::probe(&path) == session_lock::Probe::Free {
            groups.entry(slug.to_string()).or_default().add(path, &meta);
        }
    }

    let mut old: Vec<Group> = groups
        .into_values()
        .filter(|g| g.newest.is_some_and(|t| t < cutoff))
        .collect();
    // Files that describe a live session go with it, whatever their age: the stale mark of a
    // registry entry, and the status snapshots an older harnex kept in `status/`.
    let mut stale = Group::default();
    let marks = regular_files(&state.sessions_dir())
        .into_iter()
        .filter(|(name, _, _)| name.ends_with(".stale"));
    for (name, path, meta) in marks.chain(regular_files(&state.root().join("status"))) {
        let slug = name.split('.').next().unwrap_or_default();
        if !slug.is_empty() && !live.slugs.contains(slug) {
            stale.add(path, &meta);
        }
    }
    old.push(stale);
    let mut removed = Vec::new();
    let mut failures = Vec::new();
    for file in old.into_iter().flat_map(|g| g.files) {
        if args.dry_run {
            removed.push(file);
            continue;
        }
        let removal = if file.path.extension().is_some_and(|e| e == "lock") {
            remove_free_lock(&file.path)
        } else {
            remove_regular_file(&file.path)
        };
        match removal {
            Ok(()) => removed.push(file),
            Err(e) => failures.push(format!("{}: {e}", file.path.display())),
        }
    }
    report(&args, &removed, &failures);
    if failures.is_empty() {
        Ok(0)
    } else {
        Err(Error::failed(format!(
            "could not remove {} file(s); check their permissions",
            failures.len()
        )))
    }
}

/// What prune must not touch: the slugs of live sessions.
struct LiveSessions {
    slugs: HashSet<String>,
}

impl LiveSessions {
    fn find(state: &StateDir) -> LiveSessions {
        let mut slugs = HashSet::new();
        for (name, path, _) in regular_files(&state.sessions_dir()) {
            if let Some(slug) = name.strip_suffix(".lock") {
                // A reader settling a crash: the files are still being written.
                if matches!(
                    session_lock::probe(&path),
                    session_lock::Probe::Held | session_lock::Probe::Settling
                ) {
                    slugs.insert(slug.to_string());
                }
                continue;
            }
            let Some(slug) = name.strip_suffix(".json").map(str::to_string) else {
                continue; // a stale mark, a temp file: not an entry
            };
            match registry::read_entry(&path) {
                Some(entry) if !entry.is_alive() => {}
                // Live, or unreadable (perhaps a live session's): keep its files.
                _ => {
                    slugs.insert(slug);
                }
            }
        }
        LiveSessions { slugs }
    }
}

/// Regular files directly in `dir` (not symlinks, not directories), with their names. A `dir`
/// that is itself a symlink is not entered.
fn regular_files(dir: &Path) -> Vec<(String, PathBuf, fs::Metadata)> {
    let is_real_dir = fs::symlink_metadata(dir).is_ok_and(|m| m.file_type().is_dir());
    if !is_real_dir {
        return Vec::new();
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .flatten()
        .filter_map(|entry| {
            let meta = fs::symlink_metadata(entry.path()).ok()?;
            let name = entry.file_name().to_str()?.to_string();
            meta.file_type()
                .is_file()
                .then(|| (name, entry.path(), meta))
        })
        .collect();
    files.sort_by(|a, b| a.0.cmp(&b.0));
    files
}

/// Unlink `path` if it is still a regular file (unlink never follows a symlink; the check keeps a
/// file swapped for a directory meanwhile out of it).
fn remove_regular_file(path: &Path) -> std::io::Result<()> {
    let meta = fs::symlink_metadata(path)?;
    if !meta.file_type().is_file() {
        return Err(std::io::Error::other(
            "no longer a regular file; left alone",
        ));
    }
    fs::remove_file(path)
}

/// Remove a lock file only while holding it, so a supervisor that just took it keeps it.
fn remove_free_lock(path: &Path) -> std::io::Result<()> {
    match session_lock::SessionLock::acquire_to_settle(path, Duration::ZERO)? {
        Some(lock) => {
            lock.release();
            Ok(())
        }
        None => Err(std::io::Error::other(
            "taken by a session meanwhile; left alone",
        )),
    }
}

/// Print the result; a closed stdout (`| head`) ends the listing quietly.
fn report(args: &PruneArgs, removed: &[Pruned], failures: &[String]) {
    use std::io::Write;
    let bytes: u64 = removed.iter().map(|f| f.bytes).sum();
    let mut out = std::io::stdout().lock();
    if args.json {
        let value = json!({
            "ok": failures.is_empty(),
            "dry_run": args.dry_run,
            "older_than_s": args.older_than.as_secs(),
            "files": removed,
            "file_count": removed.len(),
            "bytes": bytes,
            "errors": failures,
        });
        let _ = writeln!(out, "{value}");
        return;
    }
    let verb = if args.dry_run {
        "would remove"
    } else {
        "removed"
    };
    for file in removed {
        println!(
            "{verb} {} ({})",
            file.path.display(),
            human_bytes(file.bytes)
        );
    }
    for failure in failures {
        crate::warn!("harnex: cannot remove {failure}");
    }
    let freed = if args.dry_run { "would free" } else { "freed" };
    let _ = writeln!(
        out,
        "{} {} file(s) of sessions inactive for over {}; {freed} {}",
        if args.dry_run {
            "would prune"
        } else {
            "pruned"
        },
        removed.len(),
        humantime::format_duration(Duration::from_secs(args.older_than.as_secs())),
        human_bytes(bytes)
    );
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_bytes(12), "12 B");
        assert_eq!(human_bytes(2048), "2.0 KiB");
        assert_eq!(human_bytes(33_554_432), "32.0 MiB");
    }

    #[test]
    fn symlinks_are_neither_listed_nor_entered() {
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim");
        fs::write(&victim, b"keep").unwrap();
        let sub = dir.path().join("output");
        fs::create_dir(&sub).unwrap();
        std::os::unix::fs::symlink(&victim, sub.join("a--b.log")).unwrap();
        fs::write(sub.join("c--d.log"), b"x").unwrap();
        let names: Vec<String> = regular_files(&sub).into_iter().map(|f| f.0).collect();
        assert_eq!(names, ["c--d.log"]);
        let linked = dir.path().join("linked");
        std::os::unix::fs::symlink(&sub, &linked).unwrap();
        assert!(regular_files(&linked).is_empty());
    }
}

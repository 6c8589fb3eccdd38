//! Where harnex keeps its files, and the keys that name them (compatible with the Ruby harnex).
//!
//! State dir: `$HARNEX_STATE_DIR`, else `$XDG_STATE_HOME/harnex`, else `~/.local/state/harnex`.
//! Per session: `sessions/<slug>.json`, `exits/<slug>.json`, `output/<slug>.log`,
//! `events/<slug>.jsonl`, and `logs/<id>.log` for a detached supervisor's own stdio, where
//! `slug = <repo_key>--<id_key>`. Directories are 0700 and files 0600: the registry holds the
//! bearer token.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, IoContext, Result, state_dir_error};

/// The root of harnex's on-disk state.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// Resolve the state dir from the environment (without creating it).
    pub fn from_env() -> Result<StateDir> {
        if let Some(dir) = non_empty_env("HARNEX_STATE_DIR") {
            return Ok(StateDir::at(PathBuf::from(dir)));
        }
        if let Some(xdg) = non_empty_env("XDG_STATE_HOME") {
            return Ok(StateDir::at(PathBuf::from(xdg).join("harnex")));
        }
        let home = non_empty_env("HOME").ok_or_else(|| {
            Error::failed("cannot find a state directory: set HARNEX_STATE_DIR or HOME")
        })?;
        Ok(StateDir::at(
            PathBuf::from(home).join(".local/state/harnex"),
        ))
    }

    pub fn at(root: PathBuf) -> StateDir {
        StateDir { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Create the state dir and its subdirectories (0700), and check that it is writable.
    pub fn ensure(&self) -> Result<()> {
        for sub in ["", "sessions", "exits", "output", "events", "logs"] {
            let dir = self.root.join(sub);
            ensure_private_dir(&dir).map_err(|e| state_dir_error(&dir, e))?;
        }
        // A directory we do not own may refuse writes despite existing: find out now, not
        // halfway through starting an agent.
        let probe = self.root.join(format!(".probe.{}", std::process::id()));
        fs::write(&probe, b"")
            .and_then(|_| fs::remove_file(&probe))
            .map_err(|e| state_dir_error(&self.root, e))
    }

    pub fn sessions_dir(&self) -> PathBuf {
        self.root.join("sessions")
    }

    pub fn registry_path(&self, key: &SessionKey) -> PathBuf {
        self.root
            .join("sessions")
            .join(format!("{}.json", key.slug()))
    }

    pub fn exit_path(&self, key: &SessionKey) -> PathBuf {
        self.root.join("exits").join(format!("{}.json", key.slug()))
    }

    pub fn output_path(&self, key: &SessionKey) -> PathBuf {
        self.root.join("output").join(format!("{}.log", key.slug()))
    }

    pub fn events_path(&self, key: &SessionKey) -> PathBuf {
        self.root
            .join("events")
            .join(format!("{}.jsonl", key.slug()))
    }

    /// A detached supervisor's own stdout/stderr (not repo-keyed, as in the Ruby harnex).
    pub fn supervisor_log_path(&self, id: &str) -> PathBuf {
        self.root.join("logs").join(format!("{id}.log"))
    }
}

fn non_empty_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Names one session: the repository it works in and its id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionKey {
    pub repo_root: PathBuf,
    pub id: String,
}

impl SessionKey {
    pub fn new(repo_root: PathBuf, id: &str) -> SessionKey {
        SessionKey {
            repo_root,
            id: id.to_string(),
        }
    }

    pub fn slug(&self) -> String {
        format!("{}--{}", repo_key(&self.repo_root), id_key(&self.id))
    }
}

/// First 16 hex digits of sha256(repo_root).
pub fn repo_key(repo_root: &Path) -> String {
    let digest = Sha256::digest(repo_root.to_string_lossy().as_bytes());
    hex(&digest)[..16].to_string()
}

/// Lowercase, runs of anything but `[a-z0-9]` become `-`, trimmed; `default` when empty.
pub fn id_key(id: &str) -> String {
    let mut key = String::with_capacity(id.len());
    let mut dash = false;
    for c in id.trim().to_lowercase().chars() {
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            if dash && !key.is_empty() {
                key.push('-');
            }
            dash = false;
            key.push(c);
        } else {
            dash = true;
        }
    }
    if key.is_empty() {
        "default".to_string()
    } else {
        key
    }
}

/// Trim an id and refuse a blank one.
pub fn normalize_id(id: &str) -> Result<String> {
    let trimmed = id.trim();
    if trimmed.is_empty() {
        return Err(Error::usage("--id must not be blank"));
    }
    Ok(trimmed.to_string())
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The repository a session belongs to: the git top level of `dir`, else `dir` itself.
pub fn repo_root_of(dir: &Path) -> PathBuf {
    let dir = fs::canonicalize(dir).unwrap_or_else(|_| dir.to_path_buf());
    // Every command resolves its repo: find the `.git` (directory, or file in worktrees and
    // submodules) ourselves, and ask git only when its environment changes the answer.
    let git_env = ["GIT_DIR", "GIT_WORK_TREE", "GIT_CEILING_DIRECTORIES"]
        .iter()
        .any(|v| std::env::var_os(v).is_some());
    if !git_env {
        return dir
            .ancestors()
            .find(|d| d.join(".git").exists())
            .map_or(dir.clone(), Path::to_path_buf);
    }
    let output = std::process::Command::new("git")
        .arg("-C")
        .arg(&dir)
        .args(["rev-parse", "--show-toplevel"])
        .stderr(std::process::Stdio::null())
        .output();
    match output {
        Ok(out) if out.status.success() => {
            let top = String::from_utf8_lossy(&out.stdout).trim().to_string();
            if top.is_empty() {
                dir
            } else {
                PathBuf::from(top)
            }
        }
        _ => dir,
    }
}

/// The repository of the current working directory.
pub fn current_repo_root() -> Result<PathBuf> {
    let cwd = std::env::current_dir().context("cannot read the current directory")?;
    Ok(repo_root_of(&cwd))
}

pub fn ensure_private_dir(dir: &Path) -> std::io::Result<()> {
    match fs::metadata(dir) {
        Ok(meta) if meta.is_dir() => {
            if meta.permissions().mode() & 0o777 != 0o700 {
                fs::set_permissions(dir, fs::Permissions::from_mode(0o700))?;
            }
            Ok(())
        }
        Ok(_) => Err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "exists and is not a directory",
        )),
        Err(_) => fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir),
    }
}

/// Write a whole file atomically (temp file in the same directory, then rename), mode 0600.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    replace_file(path, bytes, true)
}

/// Like [`write_atomic`] without waiting for the disk: for files that mean nothing after a
/// crash (a live session's registry entry, rewritten on every delivery).
pub fn write_atomic_volatile(path: &Path, bytes: &[u8]) -> Result<()> {
    replace_file(path, bytes, false)
}

fn replace_file(path: &Path, bytes: &[u8], durable: bool) -> Result<()> {
    let tmp = path.with_extension(format!("tmp.{}", std::process::id()));
    let result = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(bytes)?;
        if durable {
            file.sync_data()?;
        }
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.at("cannot write", path)
}

/// Open a file for appending, creating it 0600.
pub fn open_append(path: &Path) -> Result<fs::File> {
    fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .at("cannot open", path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_key_matches_the_ruby_rules() {
        assert_eq!(id_key("My Worker"), "my-worker");
        assert_eq!(id_key("--abc--"), "abc");
        assert_eq!(id_key("a!!b@@c"), "a-b-c");
        assert_eq!(id_key("Worker-1"), id_key("worker_1"));
        assert_eq!(id_key("---"), "default");
        assert_eq!(id_key("  x  "), "x");
    }

    #[test]
    fn repo_key_is_16_hex_and_deterministic() {
        let a = repo_key(Path::new("/tmp/a"));
        assert_eq!(a.len(), 16);
        assert!(
            a.chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert_eq!(a, repo_key(Path::new("/tmp/a")));
        assert_ne!(a, repo_key(Path::new("/tmp/b")));
    }

    #[test]
    fn normalize_id_trims_and_refuses_blank() {
        assert_eq!(normalize_id("  Worker ").unwrap(), "Worker");
        assert!(normalize_id("   ").is_err());
    }

    #[test]
    fn slug_paths_land_in_their_directories() {
        let state = StateDir::at(PathBuf::from("/s"));
        let key = SessionKey::new(PathBuf::from("/repo"), "My Worker");
        let slug = format!("{}--my-worker", repo_key(Path::new("/repo")));
        assert_eq!(
            state.registry_path(&key),
            PathBuf::from(format!("/s/sessions/{slug}.json"))
        );
        assert_eq!(
            state.exit_path(&key),
            PathBuf::from(format!("/s/exits/{slug}.json"))
        );
        assert_eq!(
            state.output_path(&key),
            PathBuf::from(format!("/s/output/{slug}.log"))
        );
        assert_eq!(
            state.events_path(&key),
            PathBuf::from(format!("/s/events/{slug}.jsonl"))
        );
    }

    #[test]
    fn the_repo_root_is_the_nearest_dir_with_git() {
        let dir = tempfile::tempdir().unwrap();
        let root = fs::canonicalize(dir.path()).unwrap();
        let sub = root.join("a/b");
        fs::create_dir_all(&sub).unwrap();
        assert_eq!(repo_root_of(&sub), sub, "outside git: the dir itself");
        fs::create_dir(root.join(".git")).unwrap();
        assert_eq!(repo_root_of(&sub), root);
        // A worktree or submodule marks its top with a `.git` file.
        fs::write(root.join("a/.git"), "gitdir: elsewhere\n").unwrap();
        assert_eq!(repo_root_of(&sub), root.join("a"));
    }

    #[test]
    fn atomic_write_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.json");
        write_atomic(&path, b"{}").unwrap();
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(fs::read(&path).unwrap(), b"{}");
    }
}

//! Where harnex keeps its files, and the keys that name them (compatible with the Ruby harnex).
//!
//! State dir: `$HARNEX_STATE_DIR`, else `$XDG_STATE_HOME/harnex`, else `~/.local/state/harnex`.
//! Per session: `sessions/<slug>.json`, `exits/<slug>.json`, `output/<slug>.log`,
//! `events/<slug>.jsonl`, and `logs/<slug>.log` for a detached supervisor's own stdio, where
//! `slug = <repo_key>--<id_key>`. Directories are 0700 and files 0600 (the registry holds the
//! bearer token), opened through [`crate::private_fs`]. An id never names a path by itself: it
//! is validated ([`normalize_id`]) and only its key ([`id_key`]) goes into file names.

use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::{Error, IoContext, Result, state_dir_error};
use crate::private_fs;

/// The root of harnex's on-disk state.
#[derive(Debug, Clone)]
pub struct StateDir {
    root: PathBuf,
}

impl StateDir {
    /// Resolve the state dir from the environment (without creating it), refusing one that
    /// exists but is not ours alone ([`StateDir::verify`]).
    pub fn from_env() -> Result<StateDir> {
        let state = StateDir::at(Self::root_from_env()?);
        state.verify()?;
        Ok(state)
    }

    fn root_from_env() -> Result<PathBuf> {
        if let Some(dir) = non_empty_env("HARNEX_STATE_DIR") {
            return Ok(PathBuf::from(dir));
        }
        if let Some(xdg) = non_empty_env("XDG_STATE_HOME") {
            return Ok(PathBuf::from(xdg).join("harnex"));
        }
        let home = non_empty_env("HOME").ok_or_else(|| {
            Error::failed("cannot find a state directory: set HARNEX_STATE_DIR or HOME")
        })?;
        Ok(PathBuf::from(home).join(".local/state/harnex"))
    }

    pub fn at(root: PathBuf) -> StateDir {
        StateDir { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Create the state dir and its subdirectories (0700), check that each is ours alone, and
    /// that it is writable.
    pub fn ensure(&self) -> Result<()> {
        for sub in SUBDIRS {
            ensure_private_dir(&self.subdir(sub))?;
        }
        // A read-only filesystem refuses writes despite everything else: find out now, not
        // halfway through starting an agent.
        let probe = self.root.join(format!(
            ".probe.{}.{}",
            std::process::id(),
            crate::ids::random_hex(4)
        ));
        private_fs::create_new(&probe)
            .and_then(|_| fs::remove_file(&probe))
            .map_err(|e| state_dir_error(&self.root, e))
    }

    /// Refuse a state dir (or subdirectory) that exists but is not ours alone, before reading
    /// anything from it: someone else's registry could point `send` at their port.
    pub fn verify(&self) -> Result<()> {
        for sub in SUBDIRS {
            let dir = self.subdir(sub);
            match private_fs::check_private_dir(&dir) {
                Ok(Ok(true)) => {}
                // Nothing there yet: nothing to trust or distrust (below a missing root too).
                Ok(Ok(false)) => {}
                Ok(Err(problem)) => return Err(Error::failed(problem.describe(&dir))),
                Err(e) => return Err(state_dir_error(&dir, e)),
            }
        }
        Ok(())
    }

    /// The root itself for `""` (without the trailing `/` a join would add).
    fn subdir(&self, sub: &str) -> PathBuf {
        if sub.is_empty() {
            self.root.clone()
        } else {
            self.root.join(sub)
        }
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

    /// The agent's hooks for this session: the settings that register them, and the file their
    /// calls are appended to (`harnex hook-relay`).
    pub fn hook_paths(&self, key: &SessionKey) -> (PathBuf, PathBuf) {
        let dir = self.root.join("hooks");
        (
            dir.join(format!("{}.settings.json", key.slug())),
            dir.join(format!("{}.jsonl", key.slug())),
        )
    }

    /// The mark beside a registry entry its supervisor could not update (a full disk): its
    /// status is out of date ([`crate::session::registry_writer`]).
    pub fn stale_mark_path(&self, key: &SessionKey) -> PathBuf {
        self.sessions_dir().join(format!("{}.stale", key.slug()))
    }

    /// A detached supervisor's own stdout/stderr. The Ruby harnex used the raw id here; the
    /// slug keeps ids out of paths and apart across repos.
    pub fn supervisor_log_path(&self, key: &SessionKey) -> PathBuf {
        self.root.join("logs").join(format!("{}.log", key.slug()))
    }
}

/// The state dir itself (`""`) and its subdirectories.
const SUBDIRS: [&str; 8] = [
    "", "sessions", "exits", "output", "events", "logs", "hooks", "status",
];

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

/// The file-name key of an id. For ASCII ids it is the Ruby rule ([`ruby_id_key`]), so both
/// implementations find each other's files. The Ruby rule drops every non-ASCII character (`日本`
/// and `中文` would both be `default`), so an id with any gets a hash of the whole id appended:
/// `日本-1` → `1-<12 hex>`.
pub fn id_key(id: &str) -> String {
    let ruby = ruby_id_key(id);
    let id = id.trim();
    if id.is_ascii() {
        return ruby;
    }
    // Case-insensitive like the Ruby rule: `Ä` and `ä` name the same session.
    let digest = Sha256::digest(id.to_lowercase().as_bytes());
    let hash = &hex(&digest)[..12];
    if ruby == "default" {
        hash.to_string()
    } else {
        format!("{ruby}-{hash}")
    }
}

/// Lowercase, runs of anything but `[a-z0-9]` become `-`, trimmed; `default` when empty.
pub fn ruby_id_key(id: &str) -> String {
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

/// The longest id, in characters: keeps every file name well below the 255-byte limit.
pub const MAX_ID_CHARS: usize = 64;

const ID_RULE: &str = "an id is 1-64 characters with at least one letter or digit, no '/' and no control characters (e.g. worker-1)";

/// Trim an id and refuse one that is blank, too long, holds a `/` or a control character, or
/// has no letter or digit (`-`, `.`, `..` would all share one slug).
pub fn normalize_id(id: &str) -> Result<String> {
    let trimmed = id.trim();
    let refuse = |why: String| Err(Error::usage(format!("--id {why}: {ID_RULE}")));
    if trimmed.is_empty() {
        return refuse("must not be blank".into());
    }
    let chars = trimmed.chars().count();
    if chars > MAX_ID_CHARS {
        return refuse(format!("is {chars} characters long"));
    }
    if trimmed.contains('/') {
        return refuse(format!("{trimmed:?} contains '/'"));
    }
    if trimmed.chars().any(char::is_control) {
        return refuse(format!("{trimmed:?} contains a control character"));
    }
    if !trimmed.chars().any(char::is_alphanumeric) {
        return refuse(format!("{trimmed:?} has no letter or digit"));
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

/// Create a directory of the state dir (0700) if missing, and refuse one that is not ours alone
/// (see [`private_fs::ensure_private_dir`]) with the fix.
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    match private_fs::ensure_private_dir(dir) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(problem)) => Err(Error::failed(problem.describe(dir))),
        Err(e) => Err(state_dir_error(dir, e)),
    }
}

/// Write a whole file atomically (fresh temp file in the same directory, then rename), 0600.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    private_fs::replace(path, bytes, true).at("cannot write", path)
}

/// Like [`write_atomic`] without waiting for the disk: for files that mean nothing after a
/// crash (a live session's registry entry, rewritten on every delivery).
pub fn write_atomic_volatile(path: &Path, bytes: &[u8]) -> Result<()> {
    private_fs::replace(path, bytes, false).at("cannot write", path)
}

/// Open a file for appending, creating it 0600; a symlink is refused, not followed.
pub fn open_append(path: &Path) -> Result<fs::File> {
    private_fs::open_append(path).at("cannot open", path)
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
    fn ids_that_could_name_a_path_or_share_a_slug_are_refused() {
        let long = "a".repeat(MAX_ID_CHARS + 1);
        for bad in [
            "../../escaped",
            "a/b",
            "-",
            ".",
            "..",
            "---",
            "a\nb",
            "a\x1bb",
            &long,
        ] {
            let err = normalize_id(bad).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad:?}");
            assert!(
                err.to_string().contains("at least one letter or digit"),
                "{err}"
            );
        }
        for good in [
            "worker-1",
            "My Worker",
            "日本",
            "a.b_c",
            &"a".repeat(MAX_ID_CHARS),
        ] {
            assert_eq!(normalize_id(good).unwrap(), good);
        }
    }

    #[test]
    fn non_ascii_ids_get_keys_of_their_own() {
        assert_eq!(
            id_key("Worker-1"),
            "worker-1",
            "ASCII ids keep the Ruby key"
        );
        assert_ne!(id_key("日本"), id_key("中文"));
        assert_ne!(id_key("日本"), "default");
        assert_ne!(id_key("日本-1"), id_key("中文-1"));
        assert!(id_key("日本-1").starts_with("1-"));
        assert_eq!(
            id_key("Äx"),
            id_key("äx"),
            "case-insensitive as the Ruby rule"
        );
        assert_eq!(id_key("  日本 "), id_key("日本"));
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
        assert_eq!(
            state.supervisor_log_path(&key),
            PathBuf::from(format!("/s/logs/{slug}.log"))
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
        use std::os::unix::fs::PermissionsExt;
        let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(fs::read(&path).unwrap(), b"{}");
    }
}

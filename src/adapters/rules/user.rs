//! The user's rule overrides: `<config dir>/adapters/<agent>.toml`, where the config dir is
//! `$HARNEX_CONFIG_DIR`, else `$XDG_CONFIG_HOME/harnex`, else `~/.config/harnex`.
//!
//! The config dir is the user's own: an override is read only from directories and files that
//! are the user's (or root's) and that nobody else can write, and a symlink is followed only
//! when the user made it. Anything else is an error that says what to fix.

use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::RulesError;

/// Larger than any rule file needs to be.
const MAX_OVERRIDE_BYTES: u64 = 1 << 20;

/// harnex's config dir, from the environment.
pub fn config_dir() -> Option<PathBuf> {
    let env = |key: &str| std::env::var_os(key).filter(|v| !v.is_empty());
    if let Some(dir) = env("HARNEX_CONFIG_DIR") {
        return Some(PathBuf::from(dir));
    }
    if let Some(xdg) = env("XDG_CONFIG_HOME") {
        return Some(PathBuf::from(xdg).join("harnex"));
    }
    env("HOME").map(|home| PathBuf::from(home).join(".config/harnex"))
}

/// Where the user's override of `agent`'s rules would be.
pub fn override_path(agent: &str) -> Option<PathBuf> {
    config_dir().map(|dir| dir.join("adapters").join(format!("{agent}.toml")))
}

/// The text of the override at `path`, `None` when there is none.
pub fn read_override(path: &Path) -> Result<Option<String>, RulesError> {
    let link = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(RulesError::of_file(path, format!("cannot read it: {e}"))),
    };
    let me = nix::unistd::geteuid().as_raw();
    for dir in path.ancestors().skip(1).take(2) {
        check_not_shared(dir, me)?;
    }
    if link.file_type().is_symlink() && link.uid() != me {
        return Err(RulesError::of_file(
            path,
            format!(
                "is a symlink owned by uid {}, not you: harnex follows only your own symlinks \
                 here; remove it or replace it with your own file",
                link.uid()
            ),
        ));
    }
    let flags = libc::O_NONBLOCK | libc::O_CLOEXEC;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(flags)
        .open(path)
        .map_err(|e| RulesError::of_file(path, format!("cannot open it: {e}")))?;
    let meta = file
        .metadata()
        .map_err(|e| RulesError::of_file(path, format!("cannot read it: {e}")))?;
    if !meta.is_file() {
        return Err(RulesError::of_file(
            path,
            "is not a regular file: put the rule file there",
        ));
    }
    check_owner(path, &meta, me)?;
    if meta.len() > MAX_OVERRIDE_BYTES {
        return Err(RulesError::of_file(
            path,
            format!("is larger than {MAX_OVERRIDE_BYTES} bytes: a rule file is much smaller"),
        ));
    }
    let mut bytes = Vec::new();
    file.take(MAX_OVERRIDE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| RulesError::of_file(path, format!("cannot read it: {e}")))?;
    String::from_utf8(bytes)
        .map(Some)
        .map_err(|_| RulesError::of_file(path, "is not UTF-8 text: save it as UTF-8"))
}

/// The override's directory and the config dir above it must not be writable by anyone but
/// their owner, who must be the user (or root): else another user could swap the file.
fn check_not_shared(dir: &Path, me: u32) -> Result<(), RulesError> {
    let Ok(meta) = std::fs::metadata(dir) else {
        return Ok(());
    };
    check_owner(dir, &meta, me)
}

fn check_owner(path: &Path, meta: &std::fs::Metadata, me: u32) -> Result<(), RulesError> {
    if meta.uid() != me && meta.uid() != 0 {
        return Err(RulesError::of_file(
            path,
            format!(
                "is owned by uid {}, not you: harnex reads rule overrides only from your own \
                 files; remove it or take it over",
                meta.uid()
            ),
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(RulesError::of_file(
            path,
            format!(
                "can be changed by other users (mode {:o}): run `chmod go-w {}`",
                meta.mode() & 0o7777,
                path.display()
            ),
        ));
    }
    Ok(())
}

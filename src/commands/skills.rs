//! `harnex skills install|uninstall [--local] [NAME…]`: put the embedded SKILL.md files where
//! Claude Code (`.claude/skills/<name>/SKILL.md`) and Codex (`.codex/skills/<name>`, a symlink to
//! the same folder) find them — under `$HOME`, or the current repository with `--local`.
//!
//! Install records every file, link and directory it creates in
//! `.claude/skills/.harnex-skills.json`; uninstall removes exactly those (directories only when
//! empty), so install-then-uninstall leaves the tree as it was. The manifest also keeps a hash of
//! each SKILL.md as harnex wrote it: a SKILL.md that differs from it (the user edited it, or it
//! was never harnex's) is kept by install and uninstall, and said so, unless `--force`.

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::docs::{self, Doc};
use crate::error::{Error, Result};

const MANIFEST: &str = ".harnex-skills.json";

/// Paths install created, in creation order, and the SHA-256 of each SKILL.md it wrote.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Manifest {
    created: Vec<PathBuf>,
    #[serde(default)]
    written: std::collections::BTreeMap<PathBuf, String>,
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `file` holds something other than what harnex last wrote there.
fn edited(manifest: &Manifest, file: &Path) -> bool {
    match fs::read(file) {
        Ok(current) => manifest.written.get(file) != Some(&sha256(&current)),
        Err(_) => false,
    }
}

struct Layout {
    claude: PathBuf,
    codex: PathBuf,
}

impl Layout {
    fn new(root: &Path) -> Layout {
        Layout {
            claude: root.join(".claude/skills"),
            codex: root.join(".codex/skills"),
        }
    }

    fn manifest(&self) -> PathBuf {
        self.claude.join(MANIFEST)
    }
}

fn root(local: bool) -> Result<PathBuf> {
    if local {
        return crate::paths::current_repo_root();
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| {
            Error::failed("HOME is not set: use --local to install into this repository")
        })
}

/// The skills named (prefix or substring match), or all of them.
fn select(names: &[String]) -> Result<Vec<&'static Doc>> {
    if names.is_empty() {
        return Ok(docs::SKILLS.iter().collect());
    }
    names
        .iter()
        .map(|name| {
            // `harnex` alone means the dispatch skill, as in the Ruby harnex.
            let query = if name == "harnex" {
                "harnex-dispatch"
            } else {
                name
            };
            docs::find(&docs::SKILLS, query).map_err(|_| {
                let all: Vec<&str> = docs::SKILLS.iter().map(|s| s.name).collect();
                Error::usage(format!(
                    "no skill matching {name:?}; available: {}",
                    all.join(", ")
                ))
            })
        })
        .collect()
}

fn io_err(action: &str, path: &Path, e: std::io::Error) -> Error {
    Error::failed(format!("cannot {action} {}: {e}", path.display()))
}

fn read_manifest(layout: &Layout) -> Manifest {
    fs::read(layout.manifest())
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default()
}

/// Create `dir` and missing parents, recording each one created.
fn make_dirs(dir: &Path, manifest: &mut Manifest) -> Result<()> {
    let mut missing = Vec::new();
    let mut cursor = Some(dir);
    while let Some(path) = cursor {
        if path.exists() {
            break;
        }
        missing.push(path.to_path_buf());
        cursor = path.parent();
    }
    for path in missing.into_iter().rev() {
        fs::create_dir(&path).map_err(|e| io_err("create", &path, e))?;
        manifest.created.push(path);
    }
    Ok(())
}

fn record(manifest: &mut Manifest, path: PathBuf) {
    if !manifest.created.contains(&path) {
        manifest.created.push(path);
    }
}

pub fn install(local: bool, names: &[String], force: bool) -> Result<i32> {
    install_into(&root(local)?, names, force)
}

pub fn uninstall(local: bool, names: &[String], force: bool) -> Result<i32> {
    uninstall_from(&root(local)?, names, force)
}

fn install_into(root: &Path, names: &[String], force: bool) -> Result<i32> {
    let layout = Layout::new(root);
    let skills = select(names)?;
    let mut manifest = read_manifest(&layout);
    for skill in skills {
        let dir = layout.claude.join(skill.name);
        make_dirs(&dir, &mut manifest)?;
        let file = dir.join("SKILL.md");
        let existed = file.exists();
        let same = fs::read(&file).is_ok_and(|current| current == skill.text.as_bytes());
        if existed && !same && !force && edited(&manifest, &file) {
            println!(
                "kept {}: it differs from what harnex installed (edited?); `harnex skills install --force` replaces it",
                file.display()
            );
            continue;
        }
        if !same {
            fs::write(&file, skill.text).map_err(|e| io_err("write", &file, e))?;
        }
        manifest
            .written
            .insert(file.clone(), sha256(skill.text.as_bytes()));
        if !existed {
            record(&mut manifest, file.clone());
        }
        make_dirs(&layout.codex, &mut manifest)?;
        let link = layout.codex.join(skill.name);
        if fs::symlink_metadata(&link).is_err() {
            std::os::unix::fs::symlink(&dir, &link).map_err(|e| io_err("link", &link, e))?;
            record(&mut manifest, link.clone());
        }
        println!(
            "installed {} → {} (Codex: {})",
            skill.name,
            file.display(),
            link.display()
        );
    }
    let manifest_path = layout.manifest();
    record(&mut manifest, manifest_path.clone());
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::failed(e.to_string()))?;
    fs::write(&manifest_path, json).map_err(|e| io_err("write", &manifest_path, e))?;
    Ok(0)
}

fn uninstall_from(root: &Path, names: &[String], force: bool) -> Result<i32> {
    let layout = Layout::new(root);
    let skills = select(names)?;
    let mut manifest = read_manifest(&layout);
    if manifest.created.is_empty() {
        println!("no skills installed by harnex under {}", root.display());
        return Ok(0);
    }
    let ours = |path: &Path| {
        skills.iter().any(|s| {
            path.starts_with(layout.claude.join(s.name)) || path == layout.codex.join(s.name)
        })
    };
    // A SKILL.md the user edited stays, and so does the manifest that knows it.
    let edited_kept: Vec<PathBuf> = manifest
        .created
        .iter()
        .filter(|p| !force && ours(p) && p.ends_with("SKILL.md") && edited(&manifest, p))
        .cloned()
        .collect();
    let everything = skills.len() == docs::SKILLS.len() && edited_kept.is_empty();
    // Files and links of the chosen skills first, then directories that became empty, newest
    // first; when every skill goes, the manifest and the folders above the skills go too.
    let mut kept = Vec::new();
    for path in manifest.created.iter().rev() {
        if !everything && !ours(path) {
            kept.push(path.clone());
            continue;
        }
        if edited_kept.contains(path) {
            println!(
                "kept {}: it differs from what harnex installed (edited?); `harnex skills uninstall --force` removes it",
                path.display()
            );
            kept.push(path.clone());
            continue;
        }
        let result = if is_dir(path) {
            match fs::remove_dir(path) {
                // A directory someone else put files in stays.
                Err(e) if e.kind() == std::io::ErrorKind::DirectoryNotEmpty => Ok(()),
                other => other,
            }
        } else {
            fs::remove_file(path)
        };
        match result {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("remove", path, e)),
        }
    }
    for skill in &skills {
        println!("uninstalled {}", skill.name);
    }
    kept.reverse();
    manifest.created = kept;
    if !everything {
        let json =
            serde_json::to_vec_pretty(&manifest).map_err(|e| Error::failed(e.to_string()))?;
        let path = layout.manifest();
        fs::write(&path, json).map_err(|e| io_err("write", &path, e))?;
    }
    Ok(0)
}

/// A real directory (a symlink to one is a link, removed as a file).
fn is_dir(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.is_dir())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every path under `root`, with file contents, for before/after comparisons.
    fn tree(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                if is_dir(&path) {
                    stack.push(path.clone());
                    out.push((path, Vec::new()));
                } else {
                    out.push((path.clone(), fs::read(&path).unwrap_or_default()));
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn the_manifest_records_what_install_created() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join(".claude")).unwrap();
        let layout = Layout::new(root);
        let mut manifest = Manifest::default();
        make_dirs(&layout.claude.join("x"), &mut manifest).unwrap();
        assert_eq!(
            manifest.created,
            vec![root.join(".claude/skills"), root.join(".claude/skills/x")],
            "the pre-existing .claude is not recorded"
        );
    }

    #[test]
    fn install_then_uninstall_leaves_the_tree_as_it_was() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join(".claude")).unwrap();
        fs::write(root.join(".claude/settings.json"), "{}").unwrap();
        let before = tree(root);
        install_into(root, &[], false).unwrap();
        for skill in docs::SKILLS {
            let file = root
                .join(".claude/skills")
                .join(skill.name)
                .join("SKILL.md");
            assert_eq!(fs::read_to_string(&file).unwrap(), skill.text);
            let link = root.join(".codex/skills").join(skill.name).join("SKILL.md");
            assert_eq!(
                fs::read_to_string(&link).unwrap(),
                skill.text,
                "Codex sees it"
            );
        }
        install_into(root, &["dispatch".to_string()], false).unwrap();
        uninstall_from(root, &[], false).unwrap();
        assert_eq!(tree(root), before);
    }

    #[test]
    fn uninstalling_one_skill_keeps_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        install_into(root, &[], false).unwrap();
        uninstall_from(root, &["chain".to_string()], false).unwrap();
        assert!(!root.join(".claude/skills/harnex-chain").exists());
        assert!(fs::symlink_metadata(root.join(".codex/skills/harnex-chain")).is_err());
        assert!(root.join(".claude/skills/harnex-buddy/SKILL.md").exists());
        uninstall_from(root, &[], false).unwrap();
        assert!(tree(root).is_empty(), "{:?}", tree(root));
    }

    #[test]
    fn an_edited_skill_is_kept_unless_forced() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        install_into(root, &[], false).unwrap();
        let file = root.join(".claude/skills/harnex-dispatch/SKILL.md");
        fs::write(&file, "my own notes").unwrap();
        install_into(root, &[], false).unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "my own notes");
        uninstall_from(root, &[], false).unwrap();
        assert_eq!(fs::read_to_string(&file).unwrap(), "my own notes");
        install_into(root, &[], true).unwrap();
        assert_ne!(fs::read_to_string(&file).unwrap(), "my own notes");
        // Unedited, it is harnex's to replace and to remove.
        uninstall_from(root, &[], false).unwrap();
        assert!(!file.exists());
    }

    #[test]
    fn unknown_skills_are_usage_errors() {
        let err = select(&["nope".to_string()]).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert_eq!(
            select(&["harnex".to_string()]).unwrap()[0].name,
            "harnex-dispatch"
        );
    }
}

//! Git state at the start and end of a session: where HEAD was, and what changed since.
//! Outside a repository, or before its first commit, there is nothing to record.

use std::path::Path;
use std::process::Command;

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GitStart {
    pub sha: String,
    pub branch: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, schemars::JsonSchema)]
pub struct GitEnd {
    pub sha: String,
    pub loc_added: u64,
    pub loc_removed: u64,
    pub files_changed: u64,
    pub commits: u64,
}

fn git(repo: &Path, args: &[&str]) -> Option<String> {
    crate::program::answer_of(
        Command::new("git")
            .arg("-C")
            .arg(repo)
            .args(args)
            // Reading must not take locks a running agent may need.
            .env("GIT_OPTIONAL_LOCKS", "0"),
    )
}

pub fn capture_start(repo: &Path) -> Option<GitStart> {
    let sha = git(repo, &["rev-parse", "--verify", "-q", "HEAD"])?;
    let branch = git(repo, &["rev-parse", "--abbrev-ref", "HEAD"]).unwrap_or_default();
    Some(GitStart { sha, branch })
}

/// Changes since `start`: commits on top of it, and lines/files changed in the working tree
/// against it (committed or not).
pub fn capture_end(repo: &Path, start: &GitStart) -> Option<GitEnd> {
    let sha = git(repo, &["rev-parse", "--verify", "-q", "HEAD"])?;
    let commits = git(
        repo,
        &["rev-list", "--count", &format!("{}..HEAD", start.sha)],
    )
    .and_then(|n| n.parse().ok())
    .unwrap_or(0);
    let numstat = git(repo, &["diff", "--numstat", &start.sha]).unwrap_or_default();
    let (mut added, mut removed, mut files) = (0, 0, 0);
    for line in numstat.lines() {
        let mut parts = line.split('\t');
        // Binary files show `-`: they count as changed files without lines.
        added += parts
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
        removed += parts
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0);
        files += 1;
    }
    Some(GitEnd {
        sha,
        loc_added: added,
        loc_removed: removed,
        files_changed: files,
        commits,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(repo: &Path, args: &[&str]) {
        let ok = Command::new("git")
            .args(["-c", "user.name=t", "-c", "user.email=t@t"])
            .args(args)
            .current_dir(repo)
            .status()
            .unwrap()
            .success();
        assert!(ok, "git {args:?}");
    }

    #[test]
    fn changes_since_the_start_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path();
        run(repo, &["init", "-q"]);
        assert_eq!(capture_start(repo), None, "no commit yet");
        std::fs::write(repo.join("a.txt"), "one\n").unwrap();
        run(repo, &["add", "."]);
        run(repo, &["commit", "-qm", "first"]);
        let start = capture_start(repo).unwrap();
        assert_eq!(start.sha.len(), 40);
        assert!(!start.branch.is_empty());
        std::fs::write(repo.join("b.txt"), "two\n").unwrap();
        run(repo, &["add", "."]);
        run(repo, &["commit", "-qm", "second"]);
        let end = capture_end(repo, &start).unwrap();
        assert_eq!(
            (
                end.loc_added,
                end.loc_removed,
                end.files_changed,
                end.commits
            ),
            (1, 0, 1, 1)
        );
        assert_ne!(end.sha, start.sha);
    }

    #[test]
    fn outside_git_there_is_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(capture_start(dir.path()), None);
    }
}

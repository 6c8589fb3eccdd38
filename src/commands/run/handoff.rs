//! The plan's way to a supervisor in another process: a 0600 file in the state dir's private
//! `run/` directory, named on the supervisor's command line and deleted once read (and found
//! to be a plan). Nothing of
//! it shows in a process's argv (a tmux window's plan carries the caller's environment, API
//! keys included), and a planted symlink or FIFO is refused, not followed.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::plan::Plan;
use crate::error::{Error, Result};
use crate::paths::{self, StateDir};

/// A plan file written for a supervisor; removed when dropped, in case the supervisor never
/// got to read it.
pub struct PlanFile {
    path: PathBuf,
}

impl PlanFile {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PlanFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Write `plan` to a new private file in `<state>/run/`.
pub fn write(state: &StateDir, plan: &Plan) -> Result<PlanFile> {
    let dir = state.root().join("run");
    paths::ensure_private_dir(&dir)?;
    let path = dir.join(format!(
        "plan-{}-{}.json",
        paths::id_key(&plan.id),
        crate::ids::random_hex(4)
    ));
    let bytes = serde_json::to_vec(plan)
        .map_err(|e| Error::failed(format!("cannot encode the run plan: {e}")))?;
    let file = PlanFile { path };
    crate::private_fs::create_new(&file.path)
        .and_then(|mut f| f.write_all(&bytes))
        .map_err(|e| Error::io_path("cannot write", &file.path, e))?;
    Ok(file)
}

/// Read the plan at `path` and delete the file.
pub fn take(path: &Path) -> Result<Plan> {
    let bytes = crate::private_fs::read(path).map_err(|e| {
        Error::failed(format!(
            "cannot read the run plan {}: {e} (it is written by `harnex run`, which starts the supervisor)",
            path.display()
        ))
    })?;
    let plan = serde_json::from_slice(&bytes)
        .map_err(|e| Error::failed(format!("the run plan {} is damaged: {e}", path.display())))?;
    // Only once it proved to be a plan: a wrong path is never deleted.
    let _ = std::fs::remove_file(path);
    Ok(plan)
}

/// Our environment, for a supervisor that the tmux server starts with its own.
pub fn caller_env() -> Vec<(OsString, OsString)> {
    std::env::vars_os().collect()
}

/// Variables of the tmux window that stay: the pane's terminal type is what draws the agent.
const PANE_ENV_KEPT: [&str; 1] = ["TERM"];

/// Replace our environment with the caller's (but for [`PANE_ENV_KEPT`]).
///
/// Must run before this process starts any thread: the environment is not thread-safe.
pub fn load_caller_env(wanted: &[(OsString, OsString)]) {
    let kept = |key: &OsString| PANE_ENV_KEPT.iter().any(|k| k == key);
    for (key, _) in std::env::vars_os() {
        if !kept(&key) && !wanted.iter().any(|(k, _)| *k == key) {
            // SAFETY: called before any thread starts (see above).
            unsafe { std::env::remove_var(&key) };
        }
    }
    for (key, value) in wanted {
        if !kept(key) && !key.is_empty() {
            // SAFETY: as above, single-threaded.
            unsafe { std::env::set_var(key, value) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commands::run::plan::PlanMode;
    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;

    fn sample(state: &Path) -> Plan {
        Plan {
            id: "w1".into(),
            cli: "bash".into(),
            command: vec!["bash".into(), "--norc".into()],
            repo_root: "/repo".into(),
            cwd: "/repo/sub".into(),
            state_dir: state.to_path_buf(),
            mode: PlanMode::Tmux,
            options: crate::session::SessionOptions {
                description: Some("-a description".into()),
                host: "::1".parse().unwrap(),
                port: Some(43210),
                context: Some("do it".into()),
                inbox_ttl: Duration::from_millis(1500),
                meta: Some(serde_json::from_str(r#"{"issue":"12"}"#).unwrap()),
                summary_out: Some("/repo/koder/DISPATCH.jsonl".into()),
                watch_file: Some("/repo/NOTES.md".into()),
                auto_stop: true,
                attribution: crate::attribution::Attribution {
                    parent: Some("planner".into()),
                    parent_session_id: Some("0123456789abcdef".into()),
                    root: Some("lead".into()),
                    root_session_id: None,
                    tags: [("team".to_string(), "infra".to_string())].into(),
                },
            },
            size: Some((100, 30)),
            transcript_max: Some(1 << 20),
            caller_env: Some(vec![("KEY".into(), "value with = and \u{e9}".into())]),
            records: crate::record_files::RecordsPlan::ClaudeTranscript {
                projects_dir: "/home/u/.claude/projects".into(),
                agent_session_id: "0b7c3f4e-1d2a-4b5c-8d9e-0f1a2b3c4d5e".into(),
                hooks: Some("/state/hooks/abc--w1.jsonl".into()),
            },
        }
    }

    #[test]
    fn a_plan_survives_the_trip_and_is_deleted_once_read() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::at(dir.path().to_path_buf());
        let plan = sample(dir.path());
        let file = write(&state, &plan).unwrap();
        assert_eq!(take(file.path()).unwrap(), plan);
        assert!(!file.path().exists(), "read once, then deleted");
    }

    #[test]
    fn the_plan_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::at(dir.path().to_path_buf());
        let file = write(&state, &sample(dir.path())).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(file.path()), 0o600);
        assert_eq!(mode(&dir.path().join("run")), 0o700);
        let path = file.path().to_path_buf();
        drop(file);
        assert!(!path.exists(), "dropped unread: removed");
    }

    #[test]
    fn a_symlink_in_place_of_the_plan_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::at(dir.path().to_path_buf());
        let real = write(&state, &sample(dir.path())).unwrap();
        let link = dir.path().join("run/plan-link.json");
        std::os::unix::fs::symlink(real.path(), &link).unwrap();
        let error = take(&link).unwrap_err().to_string();
        assert!(error.contains("cannot read the run plan"), "{error}");
        assert!(real.path().exists(), "the link's target is left alone");
    }

    #[test]
    fn a_damaged_plan_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plan.json");
        std::fs::write(&path, b"{\"id\":").unwrap();
        let error = take(&path).unwrap_err().to_string();
        assert!(error.contains("is damaged"), "{error}");
        assert!(path.exists(), "what is not a plan is not deleted");
    }
}

//! Start a plan's supervisor headless: our own binary as `harnex supervise`, in a session of
//! its own (setsid) with stdio to `logs/<id>.log`, the plan in a private file and a pipe for its
//! one report. `run --detach` prints the result; `run --watch` calls this in process and
//! watches the session it returns.

use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use super::boot_failure;
use super::handoff;
use super::plan::Plan;
use super::report::{REPORT_FD, Received, Report, ReportReader};
use crate::client::Client;
use crate::error::{Error, Result};
use crate::paths;
use crate::registry::{self, RegistryEntry};

/// A detached session that is up (ready, or still starting when the deadline came).
pub struct Started {
    pub entry: RegistryEntry,
    pub agent_state: String,
    /// The supervisor's own stdout and stderr.
    pub log: PathBuf,
}

/// Start `plan` headless and wait up to `timeout` for its supervisor's report.
pub fn start(plan: &Plan, timeout: Duration) -> Result<Started> {
    plan.check_port()?;
    let state = plan.state();
    let key = plan.key();
    let log_path = state.supervisor_log_path(&key);
    let plan_file = handoff::write(&state, plan)?;
    let (report_read, report_write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| Error::failed(format!("cannot make a pipe: {e}")))?;
    let spawned_at = SystemTime::now();
    let mut child = spawn_supervisor(&log_path, plan_file.path(), report_write)?;
    let deadline = crate::time::deadline_after(timeout);
    let mut reader = ReportReader::new(report_read);
    let received = reader.next(deadline);
    drop(plan_file);
    match received {
        Received::Report(Report::Ready { agent_state, entry }) => {
            let mut entry = *entry;
            // Not part of the entry's JSON: where it lives, for the liveness check by its lock.
            entry.file = Some(state.registry_path(&key));
            Ok(Started {
                entry,
                agent_state,
                log: log_path,
            })
        }
        Received::Report(Report::BootFailure { message }) => {
            let _ = child.wait();
            Err(Error::failed(message))
        }
        Received::Closed => Err(supervisor_died(plan, &mut child, spawned_at, &log_path)),
        Received::TimedOut => {
            let Some(entry) = registry::read_entry(&state.registry_path(&key)) else {
                // Nobody could reach a session that never registered: stop it rather than
                // leave it running unseen.
                let fate = stop_unregistered(&mut child);
                return Err(Error::timeout(format!(
                    "detached session {} did not register within {}s; {fate}; see {} (a slow agent may need a longer --timeout)",
                    plan.id,
                    timeout.as_secs_f64(),
                    log_path.display()
                )));
            };
            // Registered, still starting: say how it stands now.
            let agent_state = Client::for_entry(&entry)
                .wait("ready", None, Duration::ZERO)
                .ok()
                .and_then(|body| body["state"].as_str().map(str::to_string))
                .unwrap_or_else(|| "exited".to_string());
            if agent_state != "exited" {
                return Ok(Started {
                    entry,
                    agent_state,
                    log: log_path,
                });
            }
            match reader.next(Instant::now() + EXIT_REPORT_GRACE) {
                Received::Report(Report::BootFailure { message }) => Err(Error::failed(message)),
                _ => Err(supervisor_died(plan, &mut child, spawned_at, &log_path)),
            }
        }
    }
}

/// How long a supervisor whose agent just died gets to send its report.
const EXIT_REPORT_GRACE: Duration = Duration::from_secs(5);

fn spawn_supervisor(
    log_path: &std::path::Path,
    plan: &std::path::Path,
    report: OwnedFd,
) -> Result<Child> {
    let log = paths::open_append(log_path)?;
    let log_err = log
        .try_clone()
        .map_err(|e| Error::failed(format!("cannot open {}: {e}", log_path.display())))?;
    let exe = std::env::current_exe()
        .map_err(|e| Error::failed(format!("cannot find the harnex binary: {e}")))?;
    let mut command = Command::new(exe);
    command
        .arg("supervise")
        .arg("--plan")
        .arg(plan)
        .arg("--report-fd")
        .arg(REPORT_FD.to_string())
        // A session of its own: a sweep of the session this command runs in leaves it alone.
        .env(crate::sweep::DETACHED_SUPERVISOR_ENV, "1")
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err);
    let raw = report.as_raw_fd();
    // SAFETY: setsid, dup2 and fcntl are async-signal-safe; nothing else runs between fork and
    // exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, move || {
            nix::unistd::setsid().map_err(std::io::Error::from)?;
            // The pipe's write end, at the fd the supervisor is told, kept across exec.
            let moved = if raw == REPORT_FD {
                libc::fcntl(raw, libc::F_SETFD, 0)
            } else {
                libc::dup2(raw, REPORT_FD)
            };
            if moved < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = command
        .spawn()
        .map_err(|e| Error::failed(format!("cannot start the detached supervisor: {e}")))?;
    // Only the supervisor holds the write end now: its death closes the pipe.
    drop(report);
    Ok(child)
}

/// The supervisor exited without a report: what its agent's record or its own log says.
fn supervisor_died(
    plan: &Plan,
    child: &mut Child,
    since: SystemTime,
    log: &std::path::Path,
) -> Error {
    let code = child.wait().ok().and_then(|s| s.code());
    let state = plan.state();
    let key = plan.key();
    let fresh = boot_failure::written_since(&state, &key, since);
    if let Some(message) = boot_failure::of_run(&state, &key, |_| fresh) {
        return Error::failed(message);
    }
    Error::failed(format!(
        "the detached supervisor exited{} before the session started:\n{}",
        code.map(|c| format!(" with code {c}")).unwrap_or_default(),
        boot_failure::log_tail(log)
    ))
}

/// How long a detached supervisor that missed its deadline gets to stop after SIGTERM (its stop
/// ladder ends the agent and writes the exit record) before its process group is killed.
const UNREGISTERED_STOP_GRACE: Duration = Duration::from_secs(5);

/// Stop a detached supervisor that did not register in time, and say what became of it.
fn stop_unregistered(child: &mut Child) -> String {
    use nix::sys::signal::{Signal, kill, killpg};
    use nix::unistd::Pid;
    let Ok(raw) = i32::try_from(child.id()) else {
        return "it could not be stopped".to_string();
    };
    let pid = Pid::from_raw(raw);
    let _ = kill(pid, Signal::SIGTERM);
    let give_up = Instant::now() + UNREGISTERED_STOP_GRACE;
    while Instant::now() < give_up {
        if let Ok(Some(_)) = child.try_wait() {
            return "it was stopped".to_string();
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // It is a session leader (setsid): its group is it and whatever it started there.
    let _ = killpg(pid, Signal::SIGKILL);
    match child.wait() {
        Ok(_) => "it was killed (it did not stop on SIGTERM)".to_string(),
        Err(_) => format!("it could not be stopped (pid {raw}): kill it yourself"),
    }
}

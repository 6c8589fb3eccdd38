//! Stopping is a ladder: the adapter's exit sequence → wait for the grace period → SIGTERM and
//! SIGHUP to the agent's process group → 2 s → SIGKILL. The ladder runs in its own thread inside
//! the supervisor, so it completes even if the client that asked goes away.

use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;

use super::Session;

pub const DEFAULT_GRACE: Duration = Duration::from_secs(10);
const TERM_GRACE: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy)]
pub struct StopRequest {
    /// Skip the exit sequence and signal at once.
    pub force: bool,
    pub grace: Duration,
}

/// Start the ladder once. Returns the Ruby-compatible `signal` value.
pub fn request_stop(session: &Arc<Session>, request: StopRequest) -> &'static str {
    let first = session.shared.update(|live| {
        let first = !live.stop_requested && live.exit.is_none();
        live.stop_requested = true;
        first
    });
    if !first {
        return "already_requested";
    }
    let session = Arc::clone(session);
    std::thread::spawn(move || ladder(&session, request));
    if request.force {
        "terminate_sent"
    } else {
        "exit_sequence_sent"
    }
}

fn ladder(session: &Session, request: StopRequest) {
    if !request.force {
        for key in session.adapter.exit_sequence() {
            std::thread::sleep(key.delay);
            let _ = session.write(key.bytes);
        }
        if wait_exit(session, request.grace) {
            return;
        }
    }
    signal_agent(session.child_pid, &[Signal::SIGHUP, Signal::SIGTERM]);
    if wait_exit(session, TERM_GRACE) {
        return;
    }
    signal_agent(session.child_pid, &[Signal::SIGKILL]);
}

fn wait_exit(session: &Session, within: Duration) -> bool {
    session
        .shared
        .wait_for(Some(Instant::now() + within), |live| {
            live.exit.is_some().then_some(())
        })
        .is_some()
}

/// Signal the agent's process group (it is a session leader), and the agent itself in case it
/// moved to another group. ESRCH means it is already gone, which is what we want.
pub fn signal_agent(pid: u32, signals: &[Signal]) {
    let pid = Pid::from_raw(pid as i32);
    for signal in signals {
        let _ = killpg(pid, *signal);
        let _ = kill(pid, *signal);
    }
}

//! Finding and ending the processes a session leaves behind, so nothing escapes a stop.
//!
//! Three nets, from the inside out:
//! - The supervisor is a child subreaper ([`become_subreaper`]): a background job or a daemon the
//!   agent started (even one that called `setsid`) is re-parented to the supervisor, not to
//!   pid 1, when its parent exits. Those that exit during the session are reaped
//!   ([`reap_adopted_zombies`], on SIGCHLD); at the end of every session [`kill_descendants`] ends
//!   and reaps the supervisor's remaining descendants.
//! - The agent dies with its supervisor (`PR_SET_PDEATHSIG`, set in `session::pty::spawn`), even
//!   when the supervisor is killed with SIGKILL.
//! - Every process of a session inherits `HARNEX_SESSION_ID`; when a supervisor died without
//!   cleaning up, [`sweep_session_processes`] finds the processes that carry its session id.
//!
//! Safety: only processes owned by our own uid are signalled, never ourselves or an ancestor of
//! ours, and never a detached harnex supervisor (marked by [`DETACHED_SUPERVISOR_ENV`]) started
//! from inside the session, nor anything under it: it is a session of its own.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// Set in the environment of a detached supervisor (`run --detach`); the agent does not inherit
/// it. Sweeps leave such a process and its descendants alone.
pub const DETACHED_SUPERVISOR_ENV: &str = "HARNEX_DETACHED_SUPERVISOR";
/// How long leftovers get between SIGTERM and SIGKILL.
const TERM_WAIT: Duration = Duration::from_millis(300);
/// New processes can appear while a sweep runs (a leftover forking): sweep again, this often.
const ROUNDS: usize = 5;

/// Keep orphaned descendants under this process instead of pid 1.
pub fn become_subreaper() -> std::io::Result<()> {
    nix::sys::prctl::set_child_subreaper(true).map_err(std::io::Error::from)
}

/// One row of the process table.
#[derive(Debug, Clone, Copy)]
struct Proc {
    pid: u32,
    ppid: u32,
    zombie: bool,
    uid: u32,
}

fn process_table() -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let uid = entry.metadata().ok()?.uid();
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let close = stat.rfind(')')?;
            let mut fields = stat[close + 1..].split_whitespace();
            let state = fields.next()?;
            let ppid = fields.next()?.parse().ok()?;
            Some(Proc {
                pid,
                ppid,
                zombie: state == "Z",
                uid,
            })
        })
        .collect()
}

/// Whether `/proc/<pid>/environ` holds `NAME=value` (exactly), or `NAME` at all when `value` is
/// `None`.
fn environ_has(pid: u32, name: &str, value: Option<&str>) -> bool {
    let Ok(environ) = std::fs::read(format!("/proc/{pid}/environ")) else {
        return false;
    };
    let prefix = format!("{name}=");
    environ.split(|b| *b == 0).any(|entry| match value {
        Some(value) => entry == format!("{prefix}{value}").as_bytes(),
        None => entry.starts_with(prefix.as_bytes()),
    })
}

/// Our own pid and every ancestor's: a sweep run from inside a session must not kill its caller.
fn self_and_ancestors(table: &HashMap<u32, Proc>) -> HashSet<u32> {
    let mut protected = HashSet::new();
    let mut pid = std::process::id();
    while pid > 1 && protected.insert(pid) {
        pid = match table.get(&pid) {
            Some(p) => p.ppid,
            None => break,
        };
    }
    protected
}

/// `root` and every process below it.
pub fn process_tree(root: u32) -> Vec<u32> {
    let mut pids: Vec<u32> = subtree(root, &process_table()).into_iter().collect();
    pids.sort_unstable();
    pids
}

/// `pid` and everything under it, by parent links.
fn subtree(root: u32, table: &[Proc]) -> HashSet<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    for p in table {
        children.entry(p.ppid).or_default().push(p.pid);
    }
    let mut seen = HashSet::new();
    let mut stack = vec![root];
    while let Some(pid) = stack.pop() {
        if seen.insert(pid) {
            stack.extend(children.get(&pid).into_iter().flatten().copied());
        }
    }
    seen
}

/// Detached supervisors among `candidates`, with their subtrees: sessions of their own.
fn detached_sessions(candidates: &HashSet<u32>, table: &[Proc]) -> HashSet<u32> {
    candidates
        .iter()
        .filter(|pid| environ_has(**pid, DETACHED_SUPERVISOR_ENV, None))
        .flat_map(|pid| subtree(*pid, table))
        .collect()
}

/// The live processes a sweep may signal, chosen by `select` from the table; minus ourselves,
/// our ancestors, other users' processes and detached sessions.
fn targets(select: impl Fn(&[Proc]) -> HashSet<u32>) -> Vec<u32> {
    let table = process_table();
    let by_pid: HashMap<u32, Proc> = table.iter().map(|p| (p.pid, *p)).collect();
    let protected = self_and_ancestors(&by_pid);
    let uid = nix::unistd::geteuid().as_raw();
    let chosen = select(&table);
    let detached = detached_sessions(&chosen, &table);
    let mut pids: Vec<u32> = chosen
        .into_iter()
        .filter(|pid| !protected.contains(pid) && !detached.contains(pid))
        .filter(|pid| by_pid.get(pid).is_some_and(|p| !p.zombie && p.uid == uid))
        .collect();
    pids.sort_unstable();
    pids
}

/// SIGTERM the targets, give them a moment, SIGKILL what is left; repeat while new ones appear.
/// Returns every pid that was signalled.
fn end_processes(select: impl Fn(&[Proc]) -> HashSet<u32>) -> Vec<u32> {
    let mut ended: Vec<u32> = Vec::new();
    for _ in 0..ROUNDS {
        let pids = targets(&select);
        if pids.is_empty() {
            break;
        }
        signal_all(&pids, Signal::SIGTERM);
        let deadline = Instant::now() + TERM_WAIT;
        while Instant::now() < deadline
            && pids.iter().any(|pid| crate::registry::process_alive(*pid))
        {
            reap_own_zombies(&pids);
            std::thread::sleep(Duration::from_millis(10));
        }
        signal_all(&pids, Signal::SIGKILL);
        reap_own_zombies(&pids);
        ended.extend(pids);
    }
    ended.sort_unstable();
    ended.dedup();
    ended
}

fn signal_all(pids: &[u32], signal: Signal) {
    for pid in pids {
        let _ = kill(Pid::from_raw(*pid as i32), signal);
    }
}

/// Collect the exit status of those `pids` that are our children (adopted as subreaper), so they
/// do not linger as zombies.
fn reap_own_zombies(pids: &[u32]) {
    use nix::sys::wait::{WaitPidFlag, waitpid};
    let me = std::process::id();
    for p in process_table() {
        if p.ppid == me && p.zombie && pids.contains(&p.pid) {
            let _ = waitpid(Pid::from_raw(p.pid as i32), Some(WaitPidFlag::WNOHANG));
        }
    }
}

/// Zombies among our own children, except `keep` (the agent: its waiter reaps it).
fn own_zombies(keep: u32) -> HashSet<u32> {
    let me = std::process::id();
    process_table()
        .into_iter()
        .filter(|p| p.ppid == me && p.zombie && p.pid != keep)
        .map(|p| p.pid)
        .collect()
}

/// Reap the orphans we adopted that have exited since, so they do not pile up as zombies while a
/// long session runs. Only children that stay zombies across `settle` are reaped: a child the
/// supervisor started itself (`git`) is reaped by its own waiting thread within microseconds,
/// and reaping it here would take its exit status away.
pub fn reap_adopted_zombies(keep: u32, settle: Duration) -> usize {
    let before = own_zombies(keep);
    if before.is_empty() {
        return 0;
    }
    std::thread::sleep(settle);
    let stuck: Vec<u32> = own_zombies(keep).intersection(&before).copied().collect();
    reap_own_zombies(&stuck);
    stuck.len()
}

/// End every process under this one except `keep` (the agent, reaped by its own waiter), and
/// reap the ones that were adopted. Returns the pids that were signalled.
///
/// Call it when the agent is gone: its background jobs, daemons and `setsid` grandchildren are
/// all still descendants, because the supervisor is their subreaper.
pub fn kill_descendants(keep: u32) -> Vec<u32> {
    let me = std::process::id();
    let ended = end_processes(|table| {
        let mut all = subtree(me, table);
        all.remove(&me);
        all.remove(&keep);
        all
    });
    // Zombies that were already dead before the sweep (orphans that exited by themselves).
    let orphans: Vec<u32> = own_zombies(keep).into_iter().collect();
    reap_own_zombies(&orphans);
    ended
}

/// End the processes of a session whose supervisor is gone: those of our uid whose environment
/// carries `HARNEX_SESSION_ID=<session_id>`. Returns the pids that were signalled.
///
/// For a session whose supervisor died without cleaning up (e.g. `kill -9`): the agent itself
/// dies with its supervisor, but a child that ignores SIGHUP (or called `setsid`) lives on under
/// pid 1. Never call it for a live session: it would end the agent under its supervisor.
pub fn sweep_session_processes(session_id: &str) -> Vec<u32> {
    if session_id.is_empty() {
        return Vec::new();
    }
    end_processes(|table| {
        table
            .iter()
            .filter(|p| !p.zombie && environ_has(p.pid, "HARNEX_SESSION_ID", Some(session_id)))
            .map(|p| p.pid)
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sweep_never_targets_its_caller() {
        let me = std::process::id();
        let pids = targets(|table| table.iter().map(|p| p.pid).collect());
        assert!(!pids.contains(&me));
        let parent = std::os::unix::process::parent_id();
        assert!(!pids.contains(&parent));
    }

    #[test]
    fn an_unknown_session_id_matches_nothing() {
        assert!(sweep_session_processes("").is_empty());
        assert!(sweep_session_processes("no-such-session-harnex-test").is_empty());
    }

    #[test]
    fn subtrees_follow_parent_links() {
        let table = [
            Proc {
                pid: 10,
                ppid: 1,
                zombie: false,
                uid: 0,
            },
            Proc {
                pid: 11,
                ppid: 10,
                zombie: false,
                uid: 0,
            },
            Proc {
                pid: 12,
                ppid: 11,
                zombie: false,
                uid: 0,
            },
            Proc {
                pid: 13,
                ppid: 1,
                zombie: false,
                uid: 0,
            },
        ];
        let tree = subtree(10, &table);
        assert_eq!(tree, HashSet::from([10, 11, 12]));
    }
}

//! `harnex run … --watch`: the babysitter. Starts the session headless (the same start as
//! `--detach`, in this process), then watches it from the foreground and prints one line per decision.
//!
//! A stall is the absence of progress, as the supervisor measures it (`progress_idle_s`: the
//! screen content with digits and spinner glyphs masked has not changed — see
//! `session::progress`), for `--stall-after`. On a stall the watcher records `log_idle`; if
//! resumes are left it interrupts a busy agent (the adapter's interrupt keys), sends the resume
//! message with force and records `resume`; otherwise it escalates (exit 2) and leaves the agent
//! running for a person. The stall clock restarts at each resume, so one stall is never resumed
//! twice. A turn the agent's records say failed at the model is a stall too, resumed at once with
//! what failed in the message. An agent that runs `harnex done` is stopped and the watch ends with 0 (outcome
//! `done`): a finished agent idle at its prompt is otherwise indistinguishable from a stalled one.
//!
//! Ctrl-C or SIGTERM ends the watch, not the agent: the watcher prints its summary (outcome
//! `interrupted`), says the agent is still running and how to stop it, and exits 130 (SIGINT)
//! or 143 (SIGTERM). The signals arrive on a pipe the poll sleeps on, so they wake it at once.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::plan::Plan;
use crate::cli::RunArgs;
use crate::client::{CallError, Client};
use crate::error::{Error, Result};
use crate::paths::StateDir;
use crate::registry::{self, RegistryEntry};
use crate::wire::events::{ExternalEvent, LogIdle, Resume};
use crate::wire::requests::{KeySpec, SendRequest, StopRequest};

/// Named stall policies: (stall after, max resumes).
const PRESETS: [(&str, u64, u32); 3] = [("impl", 480, 1), ("plan", 180, 2), ("gate", 900, 0)];
const DEFAULT_STALL: Duration = Duration::from_secs(480);
const DEFAULT_MAX_RESUMES: u32 = 1;
/// Consecutive failed status calls tolerated before giving up on a live supervisor.
const MAX_API_ERRORS: u32 = 5;

#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub stall_after: Duration,
    pub max_resumes: u32,
    pub resume_message: String,
}

/// The policy from `--preset`, `--stall-after`, `--max-resumes` (explicit flags win).
pub fn policy(args: &RunArgs) -> Result<Policy> {
    let (mut stall_after, mut max_resumes) = (DEFAULT_STALL, DEFAULT_MAX_RESUMES);
    if let Some(name) = &args.preset {
        if !args.watch() {
            return Err(Error::usage("harnex run: --preset requires --watch"));
        }
        let Some((_, secs, resumes)) = PRESETS.iter().find(|(n, _, _)| n == name) else {
            let valid: Vec<&str> = PRESETS.iter().map(|(n, _, _)| *n).collect();
            return Err(Error::usage(format!(
                "harnex run: unknown --preset {name:?} (valid: {})",
                valid.join(", ")
            )));
        };
        stall_after = Duration::from_secs(*secs);
        max_resumes = *resumes;
    }
    if let Some(explicit) = args.stall_after {
        if explicit.is_zero() {
            return Err(Error::usage("--stall-after must be longer than 0s"));
        }
        stall_after = explicit;
    }
    if let Some(explicit) = args.max_resumes {
        max_resumes = explicit;
    }
    Ok(Policy {
        stall_after,
        max_resumes,
        resume_message: args
            .resume_message
            .clone()
            .unwrap_or_else(|| "resume".to_string()),
    })
}

/// Start the plan's session headless (as `--detach` does, in this process) and watch it.
pub fn run(plan: &Plan, policy: Policy, timeout: Duration) -> Result<i32> {
    let clock = crate::watch_clock::WatchClock::from_env()?;
    let started = Instant::now();
    let entry = super::detach::start(plan, timeout)?.entry;
    say(&format!(
        "started {} ({} pid {}, port {}); stall after {}, at most {} resume(s)",
        entry.id,
        entry.cli,
        entry.pid,
        entry.port,
        humantime::format_duration(policy.stall_after),
        policy.max_resumes
    ));
    let mut signals = Interrupts::listen()?;
    Watcher::new(entry, policy, clock)?.watch(started, &mut signals)
}

/// SIGINT and SIGTERM, delivered as bytes on a pipe: sleeping is a read with a timeout, which a
/// signal ends at once. The pipe does not say which signal came; a flag set by SIGTERM does.
struct Interrupts {
    reader: std::os::unix::net::UnixStream,
    terminated: std::sync::Arc<std::sync::atomic::AtomicBool>,
    got: Option<i32>,
}

impl Interrupts {
    fn listen() -> Result<Interrupts> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let failed = |e: std::io::Error| Error::failed(format!("cannot watch for Ctrl-C: {e}"));
        let (reader, writer) = std::os::unix::net::UnixStream::pair().map_err(failed)?;
        let terminated = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        // The flag first: by the time the pipe wakes the reader, it is set.
        signal_hook::flag::register(SIGTERM, std::sync::Arc::clone(&terminated)).map_err(failed)?;
        for signal in [SIGINT, SIGTERM] {
            let writer = writer.try_clone().map_err(failed)?;
            signal_hook::low_level::pipe::register(signal, writer).map_err(failed)?;
        }
        Ok(Interrupts {
            reader,
            terminated,
            got: None,
        })
    }

    /// Sleep for `period`, or less if a signal comes: the signal, if one came.
    fn sleep(&mut self, period: Duration) -> Option<i32> {
        use std::io::Read;
        if self.got.is_some() {
            return self.got;
        }
        let deadline = Instant::now() + period;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            let _ = self.reader.set_read_timeout(Some(left));
            let mut byte = [0u8; 1];
            if let Ok(1) = self.reader.read(&mut byte) {
                let term = self.terminated.load(std::sync::atomic::Ordering::SeqCst);
                self.got = Some(if term {
                    signal_hook::consts::SIGTERM
                } else {
                    signal_hook::consts::SIGINT
                });
                return self.got;
            }
        }
    }
}

fn say(line: &str) {
    println!("harnex watch: {line}");
}

struct Watcher {
    entry: RegistryEntry,
    client: Client,
    policy: Policy,
    interrupt_keys: Vec<String>,
    polls: u64,
    stalls: u32,
    resumes: u32,
    resumed_at: Option<Instant>,
    /// The key of the last failed turn handled (each is resumed once).
    failure_seen: Option<String>,
    api_errors: u32,
    last_state: String,
    clock: crate::watch_clock::WatchClock,
}

enum Outcome {
    Exited,
    /// The agent reported its task finished (`harnex done`) and was stopped.
    Done,
    Escalated,
    /// Ctrl-C or SIGTERM to the watcher: the agent is left running.
    Interrupted(i32),
}

impl Watcher {
    fn new(
        entry: RegistryEntry,
        policy: Policy,
        clock: crate::watch_clock::WatchClock,
    ) -> Result<Watcher> {
        let adapter = crate::adapters::configured_for_cli(&entry.cli)?;
        Ok(Watcher {
            client: Client::for_entry(&entry),
            interrupt_keys: adapter.interrupt_keys(),
            entry,
            policy,
            polls: 0,
            stalls: 0,
            resumes: 0,
            resumed_at: None,
            failure_seen: None,
            api_errors: 0,
            last_state: "starting".into(),
            clock,
        })
    }

    /// Often enough to catch a stall within a tenth of its length, never busier than 4 Hz.
    fn poll_interval(&self) -> Duration {
        let every = (self.policy.stall_after / 10)
            .clamp(Duration::from_millis(250), Duration::from_secs(5));
        self.clock.real(every)
    }

    fn watch(mut self, started: Instant, signals: &mut Interrupts) -> Result<i32> {
        let outcome = loop {
            if let Some(signal) = signals.sleep(self.poll_interval()) {
                break Outcome::Interrupted(signal);
            }
            self.polls += 1;
            let status = match self.client.get("/status", Duration::from_secs(5)) {
                Ok(status) => {
                    self.api_errors = 0;
                    status
                }
                Err(e) => match self.after_api_error(e)? {
                    Some(outcome) => break outcome,
                    None => continue,
                },
            };
            self.last_state = status["agent_state"]
                .as_str()
                .unwrap_or("unknown")
                .to_string();
            if self.last_state == "exited" {
                self.await_record();
                break Outcome::Exited;
            }
            if status["done_at"].is_string() {
                self.stop_finished_agent();
                break Outcome::Done;
            }
            // A stop is under way (asked by someone else): the agent is taking its grace time
            // to exit, which is no stall to resume or escalate; the exit ends the watch.
            if status["stopping"] == true {
                continue;
            }
            if let Some(outcome) = self.check_failed_turn(&status)? {
                break outcome;
            }
            if let Some(outcome) = self.check_stall(&status)? {
                break outcome;
            }
        };
        let (name, code) = match outcome {
            Outcome::Exited => ("exited", 0),
            Outcome::Done => ("done", 0),
            Outcome::Escalated => ("escalated", 2),
            Outcome::Interrupted(signal) => ("interrupted", 128 + signal),
        };
        say(&format!(
            "polls={} stalls={} resumes={} final_state={} outcome={name} elapsed={:.1}s",
            self.polls,
            self.stalls,
            self.resumes,
            self.last_state,
            self.clock.watch(started.elapsed()).as_secs_f64()
        ));
        if let Outcome::Interrupted(_) = outcome {
            let id = &self.entry.id;
            say(&format!(
                "{id} is still running (pid {}): stop it with `harnex stop --id {id}`, or look at it with `harnex status --id {id}` / `harnex pane --id {id}`",
                self.entry.pid
            ));
        }
        Ok(code)
    }

    /// A failed status call: the session may have ended, or the supervisor is briefly busy.
    fn after_api_error(&mut self, error: CallError) -> Result<Option<Outcome>> {
        if !self.entry.is_alive() {
            self.last_state = "exited".into();
            // This run's record (a killed supervisor gets its crash recorded here).
            if let Ok(state) = StateDir::from_env()
                && let Some(record) =
                    registry::await_exit(&state, &self.entry, Duration::from_secs(2))
            {
                say(&format!(
                    "{} exited with code {} ({})",
                    self.entry.id,
                    record.exit_code_text(),
                    record.reason.as_deref().unwrap_or("?")
                ));
            }
            return Ok(Some(Outcome::Exited));
        }
        self.api_errors += 1;
        if self.api_errors >= MAX_API_ERRORS {
            return Err(Error::failed(format!(
                "lost contact with {} after {} tries: {error}",
                self.entry.id, self.api_errors
            )));
        }
        Ok(None)
    }

    fn check_stall(&mut self, status: &Value) -> Result<Option<Outcome>> {
        let idle = status["progress_idle_s"]
            .as_f64()
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
            .unwrap_or_default();
        // The stall clock restarts at each resume: the same stall is never resumed twice.
        let idle = self.clock.watch(match self.resumed_at {
            Some(at) => idle.min(at.elapsed()),
            None => idle,
        });
        if idle < self.policy.stall_after {
            return Ok(None);
        }
        self.stalls += 1;
        let state = self.last_state.clone();
        self.record(ExternalEvent::LogIdle(LogIdle {
            idle_s: idle.as_secs_f64(),
            state: state.clone(),
            stall: self.stalls.into(),
        }));
        let idle_text = format!("{:.1}s", idle.as_secs_f64());
        if state == "blocked" {
            let reason = status["input_state"]["state"].as_str().unwrap_or("a");
            say(&format!(
                "{} is blocked on {reason} dialog with no progress for {idle_text}: a resume cannot answer it, escalating",
                self.entry.id
            ));
            return Ok(Some(Outcome::Escalated));
        }
        if self.resumes >= self.policy.max_resumes {
            say(&format!(
                "{} {state} with no progress for {idle_text}: max resumes reached, escalating (the agent is left running)",
                self.entry.id
            ));
            return Ok(Some(Outcome::Escalated));
        }
        let interrupted = state == "busy" && self.interrupt();
        self.resume(
            interrupted,
            idle,
            "stall",
            self.policy.resume_message.clone(),
        )?;
        say(&format!(
            "{} {state} with no progress for {idle_text}: {}resume {}/{}",
            self.entry.id,
            if interrupted { "interrupted, " } else { "" },
            self.resumes,
            self.policy.max_resumes
        ));
        Ok(None)
    }

    /// The agent's last turn failed at the model (its records say so): a stall to resume at
    /// once, with a message that says what failed; each failed turn once.
    fn check_failed_turn(&mut self, status: &Value) -> Result<Option<Outcome>> {
        let last = &status["last_turn"];
        let key = last["key"].as_str().unwrap_or_default();
        if last["outcome"] != "failed" || self.failure_seen.as_deref() == Some(key) {
            return Ok(None);
        }
        self.failure_seen = Some(key.to_string());
        let what = format!(
            "{}: {}",
            last["error"]["kind"].as_str().unwrap_or("other"),
            last["error"]["message"]
                .as_str()
                .unwrap_or("the agent gave no reason")
        );
        let turn = last["turn"]
            .as_u64()
            .map_or_else(|| "its last turn".to_string(), |n| format!("turn {n}"));
        if self.resumes >= self.policy.max_resumes {
            say(&format!(
                "{} failed {turn} ({what}): max resumes reached, escalating (the agent is left running)",
                self.entry.id
            ));
            return Ok(Some(Outcome::Escalated));
        }
        let message = format!(
            "{} (your last turn failed: {what})",
            self.policy.resume_message
        );
        self.resume(false, Duration::ZERO, "failed_turn", message)?;
        say(&format!(
            "{} failed {turn} ({what}): resume {}/{}",
            self.entry.id, self.resumes, self.policy.max_resumes
        ));
        Ok(None)
    }

    /// Record a resume and send the message with force.
    fn resume(
        &mut self,
        interrupted: bool,
        idle: Duration,
        reason: &str,
        message: String,
    ) -> Result<()> {
        self.resumes += 1;
        // Recorded before the message goes out: a resume that ends the agent still shows up.
        self.record(ExternalEvent::Resume(Resume {
            resume: self.resumes.into(),
            max_resumes: self.policy.max_resumes.into(),
            interrupted,
            idle_s: idle.as_secs_f64(),
            reason: Some(reason.to_string()),
        }));
        let sent = self.client.post(
            "/send",
            &SendRequest {
                text: Some(message),
                force: Some(Some(true)),
                submit: Some(Some(true)),
                ..SendRequest::default()
            },
            Duration::from_secs(30),
        );
        if let Err(e) = sent {
            return Err(Error::failed(format!(
                "cannot resume {}: {e}",
                self.entry.id
            )));
        }
        self.resumed_at = Some(Instant::now());
        Ok(())
    }

    /// The agent said it is done: stop it (its exit sequence, then the stop ladder) and wait.
    fn stop_finished_agent(&mut self) {
        say(&format!(
            "{} reported its task done; stopping it",
            self.entry.id
        ));
        let stopped = self
            .client
            .post("/stop", &StopRequest::default(), Duration::from_secs(10))
            .is_ok();
        let exited = stopped
            && self
                .client
                .wait("exited", None, Duration::from_secs(60))
                .map_or(true, |answer| answer["state"] == "exited");
        if exited {
            self.await_record();
        }
        self.last_state = if exited { "exited" } else { "stopping" }.into();
    }

    /// The agent is gone; the supervisor is still writing the exit record and the last rows.
    /// The watch ends once they are on disk: the supervisor lets go of its lock after them.
    fn await_record(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.entry.is_alive() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Interrupt a hung turn so the resume is not queued behind it; true once it left busy.
    fn interrupt(&self) -> bool {
        let keys = self.interrupt_keys.join(",");
        if self
            .client
            .post(
                "/send",
                &SendRequest {
                    keys: Some(KeySpec::Names(keys)),
                    ..SendRequest::default()
                },
                Duration::from_secs(10),
            )
            .is_err()
        {
            return false;
        }
        self.client
            .wait("prompt", None, Duration::from_secs(10))
            .is_ok_and(|answer| answer["ok"] == true)
    }

    /// Record a watcher event in the session's own log (best effort).
    fn record(&self, event: ExternalEvent) {
        if let Err(e) = self.client.post("/events", &event, Duration::from_secs(5)) {
            crate::warn!("harnex watch: cannot record {} event: {e}", event.kind());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn run_args(extra: &[&str]) -> RunArgs {
        let mut argv = vec!["harnex", "run", "codex"];
        argv.extend_from_slice(extra);
        match crate::cli::Cli::try_parse_from(argv).unwrap().command {
            Some(crate::cli::Command::Run(args)) => *args,
            _ => panic!("not run"),
        }
    }

    #[test]
    fn presets_and_explicit_flags() {
        let p = policy(&run_args(&["--watch", "--preset", "plan"])).unwrap();
        assert_eq!(
            (p.stall_after, p.max_resumes),
            (Duration::from_secs(180), 2)
        );
        let p = policy(&run_args(&["--watch", "--preset", "gate"])).unwrap();
        assert_eq!(
            (p.stall_after, p.max_resumes),
            (Duration::from_secs(900), 0)
        );
        let p = policy(&run_args(&[
            "--watch",
            "--preset",
            "impl",
            "--stall-after",
            "20m",
        ]))
        .unwrap();
        assert_eq!(
            (p.stall_after, p.max_resumes),
            (Duration::from_secs(1200), 1)
        );
        let p = policy(&run_args(&["--watch"])).unwrap();
        assert_eq!((p.stall_after, p.max_resumes), (DEFAULT_STALL, 1));
        assert_eq!(p.resume_message, "resume");
    }

    #[test]
    fn bad_presets_are_usage_errors() {
        let unknown = policy(&run_args(&["--watch", "--preset", "foo"])).unwrap_err();
        assert_eq!(unknown.exit_code(), 2);
        assert!(unknown.to_string().contains("(valid: impl, plan, gate)"));
        let alone = policy(&run_args(&["--preset", "impl"])).unwrap_err();
        assert!(alone.to_string().contains("--preset requires --watch"));
    }
}

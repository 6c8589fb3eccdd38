//! The session core driven without a terminal: a fake clock, the agent's input as a channel the
//! test reads (or never reads), signals recorded instead of sent. Covers delivery (queue, force,
//! TTL, dialog refusal, an agent that does not read), the stop ladder and turn tracking.

use std::sync::mpsc::{self, Receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::Signal;

use super::clock::FakeClock;
use super::core::{CoreParts, WRITE_DEADLINE};
use super::inbox::{Payload, Status};
use super::monitor::MonitorMsg;
use super::pty::WriteRequest;
use super::stop::{StopRequest, request_stop};
use super::submit::{Outcome, Refusal, deliver_direct, submit};
use super::{Mode, Session, SessionConfig, SessionPaths, delivery};
use crate::adapters::{Adapter, Generic};
use crate::vocab::{AgentState, ChildExit, Dialog};

/// Long enough for any thread here to get scheduled; conditions are polled, never slept on.
const PATIENCE: Duration = Duration::from_secs(10);

struct Harness {
    session: Arc<Session>,
    clock: Arc<FakeClock>,
    /// The agent's input: what the session wrote, unanswered until the test answers.
    input: Receiver<WriteRequest>,
    monitor: Option<Receiver<MonitorMsg>>,
    signals: Arc<Mutex<Vec<Signal>>>,
    _dir: tempfile::TempDir,
}

fn harness(adapter: Box<dyn Adapter>) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let config = SessionConfig {
        id: "core-test".into(),
        cli: "sh".into(),
        command: vec!["sh".into()],
        repo_root: root.clone(),
        cwd: root.clone(),
        options: super::SessionOptions {
            description: None,
            host: "127.0.0.1".parse().unwrap(),
            port: None,
            context: None,
            inbox_ttl: Duration::from_secs(120),
            meta: None,
            summary_out: None,
            watch_file: None,
            auto_stop: false,
            attribution: Default::default(),
        },
        size: (80, 24),
        mode: Mode::Headless,
        tmux: None,
        session_id: "s1".into(),
        token: "t".into(),
        started_at: SystemTime::now(),
        transcript_max: None,
        records: crate::record_files::RecordsPlan::unavailable("a test session"),
    };
    let paths = SessionPaths {
        registry: root.join("registry.json"),
        exit: root.join("exit.json"),
        output: root.join("output.log"),
        events: root.join("events.jsonl"),
    };
    let events = crate::events::EventLog::open(&paths.events, "core-test", "s1").unwrap();
    let (writer, input) = mpsc::channel();
    let (monitor, monitor_rx) = mpsc::sync_channel(1024);
    let clock = Arc::new(FakeClock::new());
    let signals = Arc::new(Mutex::new(Vec::new()));
    let recorded = Arc::clone(&signals);
    let session = Session::new(CoreParts {
        config,
        adapter,
        events,
        state_dir: crate::paths::StateDir::at(root.join("state")),
        paths,
        port: 0,
        child_pid: 0,
        writer,
        monitor,
        clock: clock.clone(),
        signal: Box::new(move |sent| recorded.lock().unwrap().extend_from_slice(sent)),
        git_start: None,
        transcript_dropped: Arc::default(),
    });
    Harness {
        session: Arc::new(session),
        clock,
        input,
        monitor: Some(monitor_rx),
        signals,
        _dir: dir,
    }
}

impl Harness {
    fn set_state(&self, state: AgentState, dialog: Option<Dialog>) {
        self.session.shared.update(|live| {
            live.state = state;
            live.dialog = dialog;
        });
    }

    /// Play an agent that reads everything and goes busy at each Enter.
    fn agent_reads(&mut self) -> Arc<Mutex<Vec<u8>>> {
        self.agent_reads_then(|session| {
            session.shared.update(|live| {
                live.generation += 1;
                live.state = AgentState::Busy;
            })
        })
    }

    /// Play an agent that reads everything and does `on_enter` at each Enter.
    fn agent_reads_then(
        &mut self,
        on_enter: impl Fn(&Session) + Send + 'static,
    ) -> Arc<Mutex<Vec<u8>>> {
        let (_, placeholder) = mpsc::channel();
        let input = std::mem::replace(&mut self.input, placeholder);
        let typed = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&typed);
        let session = Arc::clone(&self.session);
        std::thread::spawn(move || {
            for request in input {
                seen.lock().unwrap().extend_from_slice(&request.bytes);
                if request.bytes == b"\r" {
                    on_enter(&session);
                }
                if let Some(done) = request.done {
                    let _ = done.send(Ok(()));
                }
            }
        });
        typed
    }

    fn message_status(&self, id: &str) -> Status {
        self.session.shared.lock().inbox.get(id).unwrap().status
    }

    fn exit(&self) {
        self.session.shared.update(|live| {
            live.lifecycle = live.lifecycle.exited(ChildExit {
                code: 0,
                signal: None,
            })
        });
    }
}

/// Poll `check` until it holds (real time, bounded).
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let give_up = Instant::now() + PATIENCE;
    while !check() {
        assert!(Instant::now() < give_up, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn text(t: &str) -> Payload {
    Payload::text(t)
}

fn trust_dialog(enter_is_safe: bool) -> Dialog {
    Dialog {
        reason: "workspace-trust".into(),
        accept_keys: vec!["Down".into(), "Enter".into()],
        enter_is_safe,
    }
}

fn direct(h: &Harness, payload: &Payload) -> Result<super::delivery::Delivered, String> {
    let Ok(Outcome::Direct(id)) = submit(&h.session, payload, None) else {
        panic!("expected a direct delivery");
    };
    deliver_direct(&h.session, &id, payload, |_, outcome| {
        (outcome.clone(), serde_json::Value::Null)
    })
}

#[test]
fn a_message_at_the_prompt_is_typed_then_submitted_as_a_turn() {
    let mut h = harness(Box::new(Generic));
    let typed = h.agent_reads();
    h.set_state(AgentState::Prompt, None);
    let delivered = direct(&h, &text("hello")).unwrap();
    assert_eq!(delivered.turn, 1);
    assert!(delivered.submitted);
    assert_eq!(&*typed.lock().unwrap(), b"hello\r");
    assert_eq!(h.session.shared.lock().last_turn_assigned, 1);
}

#[test]
fn a_busy_agent_gets_its_message_queued_and_delivered_when_the_prompt_returns() {
    let mut h = harness(Box::new(Generic));
    let typed = h.agent_reads();
    h.set_state(AgentState::Busy, None);
    let Ok(Outcome::Queued(id)) = submit(&h.session, &text("later"), None) else {
        panic!("expected the message queued");
    };
    let session = Arc::clone(&h.session);
    let inbox = std::thread::spawn(move || delivery::inbox_loop(session));
    assert_eq!(h.message_status(&id), Status::Queued);
    h.set_state(AgentState::Prompt, None);
    eventually("the queued message delivered", || {
        h.message_status(&id) == Status::Delivered
    });
    assert_eq!(&*typed.lock().unwrap(), b"later\r");
    h.exit();
    inbox.join().unwrap();
}

#[test]
fn force_skips_the_queue_of_a_busy_agent() {
    let mut h = harness(Box::new(Generic));
    let typed = h.agent_reads();
    h.set_state(AgentState::Busy, None);
    let forced = Payload {
        force: true,
        ..text("now")
    };
    assert!(direct(&h, &forced).is_ok());
    assert_eq!(&*typed.lock().unwrap(), b"now\r");
}

#[test]
fn a_queued_message_expires_when_its_ttl_passes_on_the_clock() {
    let h = harness(Box::new(Generic));
    h.set_state(AgentState::Busy, None);
    let ttl = Some(Duration::from_secs(5));
    let Ok(Outcome::Queued(id)) = submit(&h.session, &text("stale"), ttl) else {
        panic!("expected the message queued");
    };
    let session = Arc::clone(&h.session);
    let inbox = std::thread::spawn(move || delivery::inbox_loop(session));
    h.clock.advance(Duration::from_secs(4));
    assert_eq!(h.message_status(&id), Status::Queued);
    h.clock.advance(Duration::from_secs(2));
    eventually("the message expired", || {
        h.message_status(&id) == Status::Expired
    });
    assert_eq!(h.session.shared.lock().inbox.stats().expired_total, 1);
    h.exit();
    inbox.join().unwrap();
}

#[test]
fn text_is_refused_at_a_dialog_unless_forced() {
    let h = harness(Box::new(Generic));
    h.set_state(AgentState::Blocked, Some(trust_dialog(false)));
    let Err(Refusal::Blocked(why)) = submit(&h.session, &text("hi"), None) else {
        panic!("expected a refusal");
    };
    assert!(
        why.contains("workspace-trust") && why.contains("--keys Down,Enter"),
        "{why}"
    );
    let enter = Payload {
        enter_only: true,
        ..text("")
    };
    let Err(Refusal::Blocked(why)) = submit(&h.session, &enter, None) else {
        panic!("expected Enter refused at a dialog where it declines");
    };
    assert!(why.contains("not a safe answer"), "{why}");
    let forced = Payload {
        force: true,
        ..text("hi")
    };
    assert!(matches!(
        submit(&h.session, &forced, None),
        Ok(Outcome::Direct(_))
    ));
    h.set_state(AgentState::Blocked, Some(trust_dialog(true)));
    assert_eq!(submit(&h.session, &enter, None), Ok(Outcome::AnswerDialog));
}

#[test]
fn the_queue_is_bounded_and_an_ended_session_takes_nothing() {
    let h = harness(Box::new(Generic));
    h.set_state(AgentState::Busy, None);
    for _ in 0..super::inbox::MAX_PENDING {
        assert!(matches!(
            submit(&h.session, &text("x"), None),
            Ok(Outcome::Queued(_))
        ));
    }
    assert_eq!(
        submit(&h.session, &text("x"), None),
        Err(Refusal::InboxFull)
    );
    h.exit();
    assert_eq!(
        submit(&h.session, &text("x"), None),
        Err(Refusal::NotRunning)
    );
}

#[test]
fn a_delivery_to_an_agent_that_never_reads_fails_at_its_deadline() {
    let h = harness(Box::new(Generic));
    h.set_state(AgentState::Prompt, None);
    let Ok(Outcome::Direct(id)) = submit(&h.session, &text("hello"), None) else {
        panic!("expected a direct delivery");
    };
    let session = Arc::clone(&h.session);
    let message = id.clone();
    let (done, finished) = mpsc::channel();
    std::thread::spawn(move || {
        let outcome = deliver_direct(&session, &message, &text("hello"), |_, outcome| {
            (outcome.clone(), serde_json::Value::Null)
        });
        let _ = done.send(outcome);
    });
    // The text reaches the agent's input, which nobody reads.
    let request = h.input.recv_timeout(PATIENCE).unwrap();
    assert_eq!(request.bytes, b"hello");
    h.clock.advance(WRITE_DEADLINE);
    let outcome = finished
        .recv_timeout(PATIENCE)
        .expect("the delivery still waits on an agent that does not read");
    let error = outcome.unwrap_err();
    assert!(error.contains("not reading its input"), "{error}");
    assert_eq!(h.message_status(&id), Status::Failed);
    // The next message is not stuck behind it.
    assert_eq!(h.session.shared.lock().delivering, 0);
}

#[test]
fn the_stop_ladder_reaches_sigterm_and_sigkill_when_the_agent_never_reads() {
    let h = harness(Box::new(Generic));
    let request = StopRequest {
        force: false,
        grace: Duration::from_secs(10),
    };
    assert_eq!(request_stop(&h.session, request), "exit_sequence_sent");
    // The exit keys are offered to an input nobody reads.
    let keys = h.input.recv_timeout(PATIENCE).unwrap();
    assert_eq!(keys.bytes, vec![0x15, 0x04]);
    assert!(h.signals.lock().unwrap().is_empty());
    h.clock.advance(Duration::from_secs(10));
    eventually("SIGHUP and SIGTERM", || {
        *h.signals.lock().unwrap() == [Signal::SIGHUP, Signal::SIGTERM]
    });
    h.clock.advance(Duration::from_secs(2));
    eventually("SIGKILL", || {
        h.signals.lock().unwrap().last() == Some(&Signal::SIGKILL)
    });
    assert!(h.session.shared.lock().lifecycle.stop_requested());
}

#[test]
fn a_forced_stop_escalates_a_graceful_one_at_once() {
    let mut h = harness(Box::new(Generic));
    // It reads the exit keys but does not exit.
    h.agent_reads();
    let graceful = StopRequest {
        force: false,
        grace: Duration::from_secs(3600),
    };
    assert_eq!(request_stop(&h.session, graceful), "exit_sequence_sent");
    assert_eq!(request_stop(&h.session, graceful), "already_requested");
    let forced = StopRequest {
        force: true,
        grace: Duration::ZERO,
    };
    assert_eq!(request_stop(&h.session, forced), "terminate_sent");
    eventually("SIGTERM without waiting out the grace", || {
        h.signals.lock().unwrap().contains(&Signal::SIGTERM)
    });
    h.exit();
    assert_eq!(request_stop(&h.session, forced), "already_requested");
}

#[test]
fn turns_are_tracked_from_the_screen_on_the_fake_clock() {
    let mut h = harness(Box::new(Generic));
    // The agent echoes what it is given and starts working on Enter.
    let typed = h.agent_reads_then(|session| {
        let _ = session
            .monitor
            .send(MonitorMsg::Output(b"work\r\nworking...\r\n".to_vec()));
    });
    let messages = h.monitor.take().unwrap();
    let monitor_tx = h.session.monitor.clone();
    let session = Arc::clone(&h.session);
    let screen = super::screen::Screen::new(24, 80, false);
    let monitor = std::thread::spawn(move || super::monitor::run(session, messages, screen));
    let output = |bytes: &[u8]| monitor_tx.send(MonitorMsg::Output(bytes.to_vec())).unwrap();

    // A prompt counts only after the adapter's quiet window.
    output(b"$ ");
    eventually("the screen seen", || h.session.shared.lock().generation > 0);
    assert_ne!(h.session.shared.lock().state, AgentState::Prompt);
    h.clock.advance(Generic.quiet_window());
    eventually("the prompt", || {
        h.session.shared.lock().state == AgentState::Prompt
    });
    assert!(h.session.shared.lock().lifecycle.ever_ready());

    let delivered = direct(&h, &text("work")).unwrap();
    assert_eq!(delivered.turn, 1);
    assert_eq!(&*typed.lock().unwrap(), b"work\r");
    eventually("turn 1 started", || {
        h.session.shared.lock().turns.started == 1
    });
    let before = h.session.shared.lock().generation;
    output(b"done\r\n$ ");
    // The quiet window counts from the last change: let the monitor see it first.
    eventually("the answer seen", || {
        h.session.shared.lock().generation > before
    });
    h.clock.advance(Generic.quiet_window());
    eventually("turn 1 completed", || {
        h.session.shared.lock().turns.completed == 1
    });
    h.session.monitor.send(MonitorMsg::Shutdown).unwrap();
    monitor.join().unwrap();
}

//! The record follower thread: finds this session's record file (see [`crate::record_files`]),
//! follows it with a byte cursor as the agent appends to it, parses each whole line into facts
//! and hands them to the turn ledger. It sleeps in inotify between writes, so an idle session
//! costs nothing; it ends after reading the agent's last rows once the agent exited.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Session;
use super::monitor::MonitorMsg;
use super::turn_ledger::LedgerOut;
use crate::follow::{Appended, FileWatch, Tail, Wake};
use crate::record_files::{RecordsPlan, TreeWake, TreeWatch};
use crate::records::RecordFact;
use crate::records::claude::ClaudeRecords;
use crate::records::codex::CodexRecords;
use crate::records::copilot::CopilotRecords;
use crate::records::gemini::GeminiRecords;
use crate::wire::events::Event;
use crate::wire::turns::Source;

/// The longest line kept while waiting for its newline (a record row beyond this is dropped).
const MAX_LINE: usize = 16 * 1024 * 1024;

/// Set up before the agent starts, so not even its first write can be missed.
pub struct Finder {
    plan: RecordsPlan,
    /// None for records that are not files (OpenCode's event stream).
    watch: Option<TreeWatch>,
}

impl Finder {
    /// `Err(why)` when records cannot be watched (the session goes on with the screen alone).
    pub fn prepare(plan: &RecordsPlan) -> Result<Option<Finder>, String> {
        let watch = match plan {
            RecordsPlan::Unavailable { .. } => return Ok(None),
            RecordsPlan::OpenCodeEvents { .. } => {
                return Ok(Some(Finder {
                    plan: plan.clone(),
                    watch: None,
                }));
            }
            RecordsPlan::CodexRollout { sessions_dir } => {
                TreeWatch::new(sessions_dir, 4, &crate::record_files::newest_only)
            }
            RecordsPlan::ClaudeTranscript { projects_dir, .. } => {
                TreeWatch::new(projects_dir, 2, &|_, _| Vec::new())
            }
            RecordsPlan::CopilotEvents {
                session_state_dir, ..
            } => TreeWatch::new(session_state_dir, 2, &|_, _| Vec::new()),
            RecordsPlan::GeminiChat { tmp_dir, .. } => {
                TreeWatch::new(tmp_dir, 3, &crate::record_files::gemini_chats_only)
            }
        }
        .map_err(|e| format!("cannot watch for the agent's records: {e}"))?;
        Ok(Some(Finder {
            plan: plan.clone(),
            watch: Some(watch),
        }))
    }
}

/// Find the record file, then follow it until the agent exits (and the hooks' file, where the
/// run registered hooks, on a thread of its own).
pub fn run(session: Arc<Session>, finder: Finder) {
    let Finder { plan, watch } = finder;
    if let RecordsPlan::ClaudeTranscript {
        hooks: Some(relay), ..
    } = &plan
    {
        let (s, relay) = (Arc::clone(&session), relay.clone());
        let started = std::thread::Builder::new()
            .name("hooks".into())
            .spawn(move || follow_hooks(&s, &relay));
        if let Err(e) = started {
            crate::warn!(
                "harnex: cannot follow the agent's hooks ({e}); reading its records alone"
            );
        }
    }
    let Some(watch) = watch else {
        if let RecordsPlan::OpenCodeEvents { port } = plan {
            super::opencode_events::follow(&session, port);
        }
        session.shared.update(|live| live.records_done = true);
        return;
    };
    let found = find(&session, &plan, watch.until_exit_of(session.child_pid));
    match found {
        Ok(path) => {
            session
                .shared
                .update(|live| live.ledger.following(path.clone()));
            session.refresh_registry();
            follow(&session, &plan, &path);
        }
        Err(why) => unavailable(&session, why),
    }
    session.shared.update(|live| live.records_done = true);
}

pub(super) fn unavailable(session: &Session, why: String) {
    let ended = {
        let _order = turn_rows(session);
        let outs = session.shared.update(|live| live.ledger.unavailable(why));
        write_rows(session, outs)
    };
    finish(session, ended);
}

/// Wait until the agent's record file exists; `Err` when the agent exits first.
fn find(session: &Session, plan: &RecordsPlan, mut watch: TreeWatch) -> Result<PathBuf, String> {
    loop {
        if let Some(path) = look(session, plan) {
            return Ok(path);
        }
        let agent_gone = session.shared.lock().exit().is_some();
        if agent_gone || watch.wait() == TreeWake::OwnerExited {
            return look(session, plan)
                .ok_or_else(|| "the agent exited before it wrote its records".to_string());
        }
    }
}

/// The record file, if it is there now.
fn look(session: &Session, plan: &RecordsPlan) -> Option<PathBuf> {
    match plan {
        RecordsPlan::CodexRollout { sessions_dir } => {
            crate::record_files::rollouts_held_open(session.child_pid, sessions_dir)
                .into_iter()
                .find(|path| is_top_level_rollout(path, &session.config.cwd))
        }
        RecordsPlan::ClaudeTranscript {
            projects_dir,
            agent_session_id,
            ..
        } => {
            let name = format!("{agent_session_id}.jsonl");
            let slug = crate::record_files::claude_project_slug(&session.config.cwd);
            let expected = projects_dir.join(slug).join(&name);
            if expected.is_file() {
                return Some(expected);
            }
            // Another spelling of the folder (a long path Claude shortened): the name is ours.
            std::fs::read_dir(projects_dir)
                .ok()?
                .flatten()
                .map(|dir| dir.path().join(&name))
                .find(|path| path.is_file())
        }
        RecordsPlan::CopilotEvents {
            session_state_dir,
            agent_session_id,
        } => {
            let path = session_state_dir
                .join(agent_session_id)
                .join("events.jsonl");
            path.is_file().then_some(path)
        }
        RecordsPlan::GeminiChat {
            tmp_dir,
            agent_session_id,
        } => crate::record_files::gemini_chat(tmp_dir, agent_session_id),
        RecordsPlan::OpenCodeEvents { .. } | RecordsPlan::Unavailable { .. } => None,
    }
}

/// The rollout's first line says it is a top-level thread (not a sub-agent's) working in `cwd`.
fn is_top_level_rollout(path: &Path, cwd: &Path) -> bool {
    let Ok(file) = crate::private_fs::open_read(path) else {
        return false;
    };
    let mut first = String::new();
    let read = std::io::BufRead::read_line(
        &mut std::io::BufReader::new(std::io::Read::take(file, MAX_LINE as u64)),
        &mut first,
    );
    if read.is_err() || !first.ends_with('\n') {
        return false;
    }
    CodexRecords::new().feed(&first).iter().any(|fact| {
        matches!(fact, RecordFact::SessionMeta { cwd: Some(dir), parent_session_id: None, .. }
            if same_dir(Path::new(dir), cwd))
    })
}

fn same_dir(a: &Path, b: &Path) -> bool {
    a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
}

enum Parser {
    Codex(CodexRecords),
    Claude(Box<ClaudeRecords>),
    Copilot(CopilotRecords),
    Gemini(GeminiRecords),
}

/// What reads a followed file: its lines, and what a rewrite of the file means.
trait LineParser {
    fn feed(&mut self, line: &str) -> Vec<RecordFact>;
    /// The file was cut short under the reader.
    fn truncated(&mut self) -> Vec<RecordFact> {
        Vec::new()
    }
}

/// Claude's hooks' calls, one a line.
struct HookLines;

impl LineParser for HookLines {
    fn feed(&mut self, line: &str) -> Vec<RecordFact> {
        crate::records::claude_hooks::facts(line)
    }
}

impl LineParser for Parser {
    /// Copilot writes its events anew, without the turn, when the person rewinds it (Esc Esc
    /// while it works): the turn in progress is undone.
    fn truncated(&mut self) -> Vec<RecordFact> {
        match self {
            Parser::Copilot(p) => p.rewound(),
            _ => Vec::new(),
        }
    }

    fn feed(&mut self, line: &str) -> Vec<RecordFact> {
        match self {
            Parser::Codex(p) => p.feed(line),
            Parser::Claude(p) => p.feed(line),
            Parser::Copilot(p) => p.feed(line),
            Parser::Gemini(p) => p.feed(line),
        }
    }
}

/// Read the record file as it grows.
fn follow(session: &Session, plan: &RecordsPlan, path: &Path) {
    let mut parser = match plan {
        RecordsPlan::ClaudeTranscript { .. } => Parser::Claude(Box::default()),
        RecordsPlan::CopilotEvents { .. } => Parser::Copilot(CopilotRecords::new()),
        RecordsPlan::GeminiChat { .. } => Parser::Gemini(GeminiRecords::new()),
        _ => Parser::Codex(CodexRecords::new()),
    };
    let tail = match Tail::open(path) {
        Ok(tail) => tail,
        Err(e) => return unavailable(session, format!("cannot read {}: {e}", path.display())),
    };
    follow_lines(session, path, tail, &mut parser, Source::Record);
}

/// Read the hooks' calls as they are appended (a hook that never fires leaves it empty).
fn follow_hooks(session: &Session, relay: &Path) {
    let Ok(tail) = Tail::open(relay) else {
        return;
    };
    follow_lines(session, relay, tail, &mut HookLines, Source::Hook);
}

/// Feed each whole line of a growing file to `parse`, its facts to the ledger as `source`;
/// after the agent exits, read what is left once and stop.
fn follow_lines(
    session: &Session,
    path: &Path,
    mut tail: Tail,
    parser: &mut dyn LineParser,
    source: Source,
) {
    let mut watch = FileWatch::new_or_polling(path).until_exit_of(session.child_pid);
    let mut partial: Vec<u8> = Vec::new();
    let mut agent_gone = false;
    let mut identity = file_identity(path);
    loop {
        // The agent wrote a shorter file in the old one's place (Copilot's rewind): what was
        // read stays read, the parser hears of it, and reading goes on at the new file's end.
        let now = file_identity(path);
        if now.is_some() && now != identity {
            identity = now;
            if let Ok(mut fresh) = Tail::open(path) {
                let _ = fresh.skip_to_end();
                tail = fresh;
                partial.clear();
                let facts = parser.truncated();
                if !facts.is_empty() {
                    feed(session, facts, source);
                }
            }
        }
        match tail.read_appended() {
            Ok(Appended::Bytes(bytes)) => {
                partial.extend_from_slice(&bytes);
                let facts = whole_lines(&mut partial, &mut |line| parser.feed(line));
                if !facts.is_empty() {
                    feed(session, facts, source);
                }
            }
            // What was read stays read; follow on from the new end.
            Ok(Appended::Truncated) => {
                partial.clear();
                let _ = tail.skip_to_end();
                let facts = parser.truncated();
                if !facts.is_empty() {
                    feed(session, facts, source);
                }
            }
            Err(e) => {
                crate::warn!("harnex: cannot read {}: {e}", path.display());
                return;
            }
        }
        if agent_gone {
            return;
        }
        if watch.wait(None) == Wake::OwnerExited {
            agent_gone = true;
        }
    }
}

/// Which file `path` names now (device and inode).
fn file_identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// The facts in every whole line of `buffer`, leaving a partial last line in it.
fn whole_lines(
    buffer: &mut Vec<u8>,
    parse: &mut dyn FnMut(&str) -> Vec<RecordFact>,
) -> Vec<RecordFact> {
    let Some(last_newline) = buffer.iter().rposition(|b| *b == b'\n') else {
        if buffer.len() > MAX_LINE {
            buffer.clear();
        }
        return Vec::new();
    };
    let rest = buffer.split_off(last_newline + 1);
    let lines = std::mem::replace(buffer, rest);
    String::from_utf8_lossy(&lines)
        .lines()
        .flat_map(parse)
        .collect()
}

/// Hand facts to the ledger and carry out what it decides.
pub(super) fn feed(session: &Session, facts: Vec<RecordFact>, source: Source) {
    let now = session.clock().now();
    let (ended, deadline_moved) = {
        let _order = turn_rows(session);
        let (outs, deadline_moved) = session.shared.update(|live| {
            let assigned = live.last_turn_assigned;
            let before = live.ledger.next_deadline();
            let mut outs = Vec::new();
            for fact in facts {
                outs.extend(live.ledger.fact_at(fact, source, assigned, now));
            }
            (outs, live.ledger.next_deadline() != before)
        });
        (write_rows(session, outs), deadline_moved)
    };
    finish(session, ended);
    if deadline_moved {
        // A turn now waits for its record (a hook ended it), or waits from another time: the
        // monitor keeps that deadline.
        let _ = session.monitor.send(MonitorMsg::Wake);
    }
}

/// Lock the order of turn rows: take it before the ledger decides, and write the decided rows
/// ([`write_rows`]) before letting it go, then [`finish`].
pub fn turn_rows(session: &Session) -> std::sync::MutexGuard<'_, ()> {
    session
        .turn_rows
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// After [`write_rows`], once the order lock is let go: tell the screen tracker about
/// the turns the records ended (a message the monitor may only read once it has the lock), then
/// count the decided turns as completed: only now, so whoever waits for a turn finds its
/// `task_complete` row written when it wakes.
pub fn finish(session: &Session, ended: Vec<u64>) {
    for turn in ended {
        let _ = session.monitor.send(MonitorMsg::RecordTurnEnded(turn));
    }
    let behind = {
        let live = session.shared.lock();
        live.ledger.completed() > live.turns.completed
    };
    if behind {
        session.shared.update(|live| {
            live.turns.completed = live.turns.completed.max(live.ledger.completed());
        });
    }
}

/// Write the rows the ledger decided on, in its order; the turns the records ended, for
/// [`finish`].
pub fn write_rows(session: &Session, outs: Vec<LedgerOut>) -> Vec<u64> {
    let mut ended = Vec::new();
    for out in outs {
        match out {
            LedgerOut::Emit(event) => {
                let event = *event;
                if matches!(event, Event::TaskComplete { .. }) {
                    let now = std::time::SystemTime::now();
                    session
                        .shared
                        .update(|live| live.last_completed_at = Some(now));
                }
                session.events.emit(&event);
            }
            LedgerOut::CompleteTurn(turn) => ended.push(turn),
        }
    }
    ended
}

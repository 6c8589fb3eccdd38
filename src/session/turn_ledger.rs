//! The turn ledger: merges what the screen says about turns with what the agent's records say,
//! and decides, once per turn, how it ended. Pure logic, held in the live state and fed by the
//! monitor (screen) and the record follower (records, hooks).
//!
//! The screen is fast but cannot tell a failed turn from a finished one; the records can. So when
//! records are expected, a turn the screen saw end waits for the record of its end — the
//! adapter's record lag (given at construction: OpenCode's events come later than Codex's rollout
//! rows) from the last record of the turn at work, or as long as the records hold it open when
//! they said it started only after the screen saw it end — and a turn the records saw end is
//! over at once: the screen's grace period for very fast answers is not needed. Each fact has a key; the same fact from a second source only
//! fills in what the first lacked.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::records::{RecordFact, TurnError, TurnOutcome, Usage};
use crate::wire::events::{Event, UsageRow};
use crate::wire::turns::{
    RecordsState, RecordsStatus, Retrying, Source, TurnEnd, TurnFacts, TurnUsage,
};

/// How long a turn a hook said ended waits for the agent's record of it (which adds the usage
/// and the turn's id) before the hook's word stands alone.
pub const HOOK_LAG: Duration = Duration::from_secs(1);

/// The longest answer kept with a turn (the record file has it whole).
const ANSWER_MAX: usize = 64 * 1024;

/// How many turn ends the ledger remembers for `wait` and `status`.
const KEEP_RESULTS: usize = 64;

/// What the ledger asks of the session.
#[derive(Debug, Clone)]
pub enum LedgerOut {
    Emit(Box<Event>),
    /// The records say turn `n` is over: the screen tracker stops waiting for it.
    CompleteTurn(u64),
}

/// A turn the screen saw end, waiting for the record of its end.
#[derive(Debug, Clone, Copy)]
struct Held {
    /// When the screen saw it end, or the last record since that showed it at work.
    since: Instant,
    /// The records said the turn started only after the screen saw it end: the screen's word
    /// was its guess at a very fast answer, and it does not stand while the records hold the
    /// turn open.
    started_late: bool,
}

#[derive(Debug, Clone)]
struct OpenTurn {
    turn: Option<u64>,
    agent_turn_id: Option<String>,
    usage_at_start: Usage,
}

#[derive(Debug)]
pub struct Ledger {
    records: RecordsStatus,
    /// How long a turn the screen saw end waits for the record of its end before the screen's
    /// word stands (records unreadable, or an agent that wrote none).
    record_lag: Duration,
    session_usage: Option<Usage>,
    model: Option<String>,
    open: Option<OpenTurn>,
    /// The highest harnex turn a record turn was bound to.
    last_bound: u64,
    /// Turns the screen saw end, waiting for their record since then.
    held: BTreeMap<u64, Held>,
    /// Turns the records saw end, waiting for the screen tracker to close them (so the
    /// `turn_started` row always precedes the `task_complete` row).
    record_ends: BTreeMap<u64, TurnEnd>,
    results: VecDeque<TurnEnd>,
    /// The highest harnex turn whose end is decided.
    completed: u64,
    retrying: Option<Retrying>,
    usage_rows: u64,
    keys: HashSet<String>,
    unnumbered: u64,
    /// A turn a hook ended before the record of its start was read (Claude writes its
    /// transcript a moment after its hooks run): the record's turn is that one.
    hook_bound: Option<u64>,
    /// Turns a hook said ended, waiting (at most [`HOOK_LAG`]) for their record.
    hook_held: BTreeMap<u64, (TurnEnd, Instant)>,
    /// The time of the fact being handled.
    now: Instant,
    /// A turn waited out the record lag while the record file was still not found: later turns
    /// do not wait for a file that may never come (until it is found after all).
    gave_up_waiting: bool,
}

impl Ledger {
    pub fn new(records: RecordsStatus, record_lag: Duration) -> Ledger {
        Ledger {
            records,
            record_lag,
            session_usage: None,
            model: None,
            open: None,
            last_bound: 0,
            held: BTreeMap::new(),
            record_ends: BTreeMap::new(),
            results: VecDeque::new(),
            completed: 0,
            retrying: None,
            usage_rows: 0,
            keys: HashSet::new(),
            unnumbered: 0,
            hook_bound: None,
            hook_held: BTreeMap::new(),
            now: Instant::now(),
            gave_up_waiting: false,
        }
    }

    pub fn records(&self) -> &RecordsStatus {
        &self.records
    }

    /// The record file was found.
    pub fn following(&mut self, path: PathBuf) {
        self.records.state = RecordsState::Following;
        self.records.path = Some(path);
        self.records.why = None;
    }

    /// Records cannot be had after all: the screen alone decides from now on.
    pub fn unavailable(&mut self, why: String) -> Vec<LedgerOut> {
        self.records.state = RecordsState::Unavailable;
        self.records.why = Some(why);
        let mut out = Vec::new();
        for (turn, (end, _)) in std::mem::take(&mut self.hook_held) {
            out.extend(self.end_numbered(turn, end));
        }
        let held: Vec<u64> = self.held.keys().copied().collect();
        self.held.clear();
        out.extend(
            held.into_iter()
                .flat_map(|turn| self.finish_from_screen(turn)),
        );
        out
    }

    /// Tokens so far, as the records count them.
    pub fn session_usage(&self) -> Option<&Usage> {
        self.session_usage.as_ref()
    }

    pub fn model(&self) -> Option<&str> {
        self.model.as_deref()
    }

    pub fn retrying(&self) -> Option<&Retrying> {
        self.retrying.as_ref()
    }

    /// The highest harnex turn whose end is decided.
    pub fn completed(&self) -> u64 {
        self.completed
    }

    /// How turn `n` ended, if it did (and is still remembered).
    pub fn result(&self, turn: u64) -> Option<&TurnEnd> {
        self.results.iter().rev().find(|r| r.turn == Some(turn))
    }

    /// The last turn that ended.
    pub fn last(&self) -> Option<&TurnEnd> {
        self.results.back()
    }

    fn expects_records(&self) -> bool {
        match self.records.state {
            RecordsState::Following => true,
            RecordsState::Waiting => !self.gave_up_waiting,
            RecordsState::Unavailable => false,
        }
    }

    /// The screen saw turn `turn` end.
    pub fn screen_completed(&mut self, turn: u64, now: Instant) -> Vec<LedgerOut> {
        if turn <= self.completed && self.result(turn).is_some() {
            return Vec::new();
        }
        if let Some(end) = self.record_ends.remove(&turn) {
            return self.finish(end);
        }
        if self.expects_records() {
            self.held.entry(turn).or_insert(Held {
                since: now,
                started_late: false,
            });
            return Vec::new();
        }
        self.finish_from_screen(turn)
    }

    /// When a held turn's wait for its record runs out.
    pub fn next_deadline(&self) -> Option<Instant> {
        let screen = self
            .held
            .iter()
            .filter(|(turn, held)| !self.open_in_records(**turn, held))
            .map(|(_, held)| held.since + self.record_lag);
        let hooks = self.hook_held.values().map(|(_, since)| *since + HOOK_LAG);
        screen.chain(hooks).min()
    }

    /// Time passed: held turns whose record is overdue end on the screen's word.
    pub fn tick(&mut self, now: Instant) -> Vec<LedgerOut> {
        let overdue: Vec<u64> = self
            .held
            .iter()
            .filter(|(turn, held)| !self.open_in_records(**turn, held))
            .filter(|(_, held)| now >= held.since + self.record_lag)
            .map(|(turn, _)| *turn)
            .collect();
        let mut out = Vec::new();
        let hooks_overdue: Vec<u64> = self
            .hook_held
            .iter()
            .filter(|(_, (_, since))| now >= *since + HOOK_LAG)
            .map(|(turn, _)| *turn)
            .collect();
        for turn in hooks_overdue {
            if let Some((end, _)) = self.hook_held.remove(&turn) {
                out.extend(self.end_numbered(turn, end));
            }
        }
        for turn in overdue {
            if self.hook_held.contains_key(&turn) {
                continue;
            }
            if self.records.state == RecordsState::Waiting {
                self.gave_up_waiting = true;
            }
            self.held.remove(&turn);
            out.extend(self.finish_from_screen(turn));
        }
        out
    }

    /// A held turn the screen called over before the agent took it, and that the records still
    /// hold open: its end is theirs to tell.
    fn open_in_records(&self, turn: u64, held: &Held) -> bool {
        held.started_late && self.open.as_ref().and_then(|open| open.turn) == Some(turn)
    }

    fn finish_from_screen(&mut self, turn: u64) -> Vec<LedgerOut> {
        let end = TurnEnd {
            turn: Some(turn),
            facts: TurnFacts {
                outcome: TurnOutcome::Completed,
                error: None,
                answer: None,
                usage: self.usage_now(None),
                source: Source::Screen,
                key: format!("turn-end:{turn}"),
                agent_turn_id: None,
            },
        };
        self.finish(end)
    }

    /// A fact from the agent's records (or hooks). `assigned`: the highest turn number harnex
    /// handed to a delivery so far.
    pub fn fact(&mut self, fact: RecordFact, source: Source, assigned: u64) -> Vec<LedgerOut> {
        self.fact_at(fact, source, assigned, Instant::now())
    }

    /// [`Ledger::fact`], at `now` (the session's clock).
    pub fn fact_at(
        &mut self,
        fact: RecordFact,
        source: Source,
        assigned: u64,
        now: Instant,
    ) -> Vec<LedgerOut> {
        self.now = now;
        match fact {
            RecordFact::SessionMeta {
                agent_session_id, ..
            } => {
                self.records
                    .agent_session_id
                    .get_or_insert(agent_session_id);
                Vec::new()
            }
            RecordFact::TurnStarted { turn_id } => {
                self.retrying = None;
                let turn = self.bind(assigned).or_else(|| self.hook_bound.take());
                self.open = Some(OpenTurn {
                    turn,
                    agent_turn_id: turn_id,
                    usage_at_start: self.session_usage.clone().unwrap_or_default(),
                });
                self.turn_alive(true);
                Vec::new()
            }
            RecordFact::Retrying {
                attempt,
                max,
                error,
            } => {
                self.turn_alive(false);
                self.retrying = Some(Retrying {
                    attempt,
                    max,
                    error: Some(error),
                    source,
                });
                Vec::new()
            }
            RecordFact::Usage {
                turn,
                session,
                model,
            } => {
                self.turn_alive(false);
                self.usage(turn, session, model, source)
            }
            RecordFact::TurnEnded {
                turn_id,
                outcome,
                answer,
                error,
            } => self.turn_ended(turn_id, outcome, answer, error, source, assigned),
            RecordFact::Subagent {
                agent_session_id,
                started,
            } => {
                let key = format!(
                    "subagent:{}:{}",
                    agent_session_id.as_deref().unwrap_or("?"),
                    if started { "start" } else { "end" }
                );
                if !self.keys.insert(key.clone()) {
                    return Vec::new();
                }
                vec![LedgerOut::Emit(Box::new(Event::Subagent {
                    agent_session_id,
                    started,
                    source,
                    key,
                }))]
            }
        }
    }

    /// The records show the open turn at work (`started`: it began, else a request of it
    /// answered or is retried). If the screen saw it end already, its wait for the record's
    /// end starts again now; and if the screen saw it end before it began, that was the
    /// screen's guess at a very fast answer (a slow agent had not drawn busy yet), and the
    /// records decide it while they hold it open.
    fn turn_alive(&mut self, started: bool) {
        let Some(turn) = self.open.as_ref().and_then(|open| open.turn) else {
            return;
        };
        if let Some(held) = self.held.get_mut(&turn) {
            held.since = held.since.max(self.now);
            held.started_late |= started;
        }
    }

    /// The harnex turn a record turn that starts now belongs to: the newest delivery not bound
    /// yet, or none (a person typed it, or the agent started it itself).
    fn bind(&mut self, assigned: u64) -> Option<u64> {
        if assigned > self.last_bound {
            self.last_bound = assigned;
            Some(assigned)
        } else {
            None
        }
    }

    fn usage(
        &mut self,
        request: Option<Usage>,
        session: Option<Usage>,
        model: Option<String>,
        source: Source,
    ) -> Vec<LedgerOut> {
        self.retrying = None;
        if model.is_some() {
            self.model = model;
        }
        let total = match (session, &request) {
            (Some(session), _) => session,
            (None, Some(request)) => {
                let mut sum = self.session_usage.clone().unwrap_or_default();
                sum.add(request);
                sum
            }
            (None, None) => return Vec::new(),
        };
        if self.session_usage.as_ref() == Some(&total) {
            return Vec::new();
        }
        self.session_usage = Some(total.clone());
        self.usage_rows += 1;
        vec![LedgerOut::Emit(Box::new(Event::Usage(UsageRow {
            totals: total.exit_summary(self.records.agent_session_id.clone()),
            request,
            model: self.model.clone(),
            source: Some(source),
            key: Some(format!("usage:{}", self.usage_rows)),
        })))]
    }

    fn usage_now(&self, open: Option<&OpenTurn>) -> Option<TurnUsage> {
        let session = self.session_usage.clone()?;
        Some(TurnUsage {
            turn: open.map(|o| session.since(&o.usage_at_start)),
            session: Some(session),
            model: self.model.clone(),
        })
    }

    fn turn_ended(
        &mut self,
        turn_id: Option<String>,
        outcome: TurnOutcome,
        answer: Option<String>,
        error: Option<TurnError>,
        source: Source,
        assigned: u64,
    ) -> Vec<LedgerOut> {
        self.retrying = None;
        // A hook's word does not close the record's turn: the record's own end comes next.
        let from_hook = source == Source::Hook;
        let open = if from_hook {
            self.open.clone()
        } else {
            self.open.take()
        };
        let open = match open {
            Some(open) => open,
            // The end of a turn whose start was not seen (records found mid-turn, or a hook
            // ahead of the record).
            None => {
                let turn = self.bind(assigned);
                let turn = if from_hook {
                    self.hook_bound = turn;
                    turn
                } else {
                    turn.or_else(|| self.hook_bound.take())
                };
                OpenTurn {
                    turn,
                    agent_turn_id: turn_id.clone(),
                    usage_at_start: self.session_usage.clone().unwrap_or_default(),
                }
            }
        };
        let agent_turn_id = turn_id.or(open.agent_turn_id.clone());
        let key = match (&agent_turn_id, open.turn) {
            (Some(id), _) => format!("turn-end:{id}"),
            (None, Some(turn)) => format!("turn-end:{turn}"),
            (None, None) => {
                self.unnumbered += 1;
                format!("turn-end:agent-{}", self.unnumbered)
            }
        };
        let end = TurnEnd {
            turn: open.turn,
            facts: TurnFacts {
                outcome,
                error,
                answer: answer
                    .map(|a| crate::text::truncate_bytes(&crate::redact::redact(&a), ANSWER_MAX)),
                // A hook knows no tokens: the record of the turn brings them.
                usage: if from_hook {
                    None
                } else {
                    self.usage_now(Some(&open))
                },
                source,
                key,
                agent_turn_id,
            },
        };
        if let Some(turn) = open.turn {
            // A hook ended this turn first and waits for this record: keep its word, add what
            // the record knows, and end the turn now.
            if let Some((first, _)) = self.hook_held.get_mut(&turn) {
                if from_hook {
                    return Vec::new();
                }
                fill(&mut first.facts, end.facts);
                let (first, _) = self.hook_held.remove(&turn).expect("just found");
                return self.end_numbered(turn, first);
            }
            // Another source ended this turn first (a hook): keep its word, add what it lacked.
            if let Some(first) = self.record_ends.get_mut(&turn) {
                fill(&mut first.facts, end.facts);
                return Vec::new();
            }
            if let Some(first) = self.results.iter_mut().rev().find(|r| r.turn == Some(turn)) {
                if first.facts.source == Source::Screen {
                    // The screen's word stood when this came late: this is the truth for `wait`
                    // and `status` (the row already written stays).
                    let key = std::mem::take(&mut first.facts.key);
                    first.facts = TurnFacts { key, ..end.facts };
                } else {
                    fill(&mut first.facts, end.facts);
                }
                return Vec::new();
            }
        }
        // The same fact from a second source (keyed alike): recorded once, filled in.
        if !self.keys.insert(end.facts.key.clone()) {
            self.fill_in(end.facts);
            return Vec::new();
        }
        let Some(turn) = open.turn else {
            // A turn harnex did not start: remembered for status, no `task_complete` row.
            self.remember(end);
            return Vec::new();
        };
        // A hook is quick but knows no tokens: while records are expected, its word waits a
        // moment for theirs.
        if from_hook && self.expects_records() {
            self.hook_held.insert(turn, (end, self.now));
            return Vec::new();
        }
        self.end_numbered(turn, end)
    }

    /// A numbered turn's end is known: written at once when the screen already saw it end,
    /// else once the screen tracker closed it.
    fn end_numbered(&mut self, turn: u64, end: TurnEnd) -> Vec<LedgerOut> {
        if self.held.remove(&turn).is_some() {
            return self.finish(end);
        }
        self.record_ends.insert(turn, end);
        vec![LedgerOut::CompleteTurn(turn)]
    }

    /// A second source's word on a turn already recorded: keep the first, add what it lacked.
    fn fill_in(&mut self, later: TurnFacts) {
        if let Some(first) = self
            .results
            .iter_mut()
            .rev()
            .find(|r| r.facts.key == later.key)
        {
            fill(&mut first.facts, later);
        }
    }

    fn remember(&mut self, end: TurnEnd) {
        if self.results.len() == KEEP_RESULTS {
            self.results.pop_front();
        }
        self.results.push_back(end);
    }

    fn finish(&mut self, end: TurnEnd) -> Vec<LedgerOut> {
        let Some(turn) = end.turn else {
            self.remember(end);
            return Vec::new();
        };
        if self.result(turn).is_some() {
            return Vec::new();
        }
        self.keys.insert(end.facts.key.clone());
        self.completed = self.completed.max(turn);
        let row = Event::TaskComplete {
            turn,
            end: Some(Box::new(end.facts.clone())),
        };
        self.remember(end);
        vec![LedgerOut::Emit(Box::new(row))]
    }
}

/// Keep the first source's word on a turn; add what the later one knows and it did not.
/// A failed turn's error is the record's, though: it names the HTTP status and the agent's own
/// words, where a hook gives only an error class.
fn fill(first: &mut TurnFacts, later: TurnFacts) {
    first.answer = first.answer.take().or(later.answer);
    first.usage = first.usage.take().or(later.usage);
    first.error = match (later.source, later.error) {
        (Source::Record, Some(error)) => Some(error),
        (_, later_error) => first.error.take().or(later_error),
    };
    first.agent_turn_id = first.agent_turn_id.take().or(later.agent_turn_id);
}

#[cfg(test)]
#[path = "turn_ledger_tests.rs"]
mod tests;

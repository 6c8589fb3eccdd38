//! The debounced agent state and the turn tracker: pure logic, driven by the monitor thread with
//! verdicts, screen changes and the clock.
//!
//! Debounce is asymmetric: busy and blocked are taken at once; a prompt needs positive idle
//! evidence (a settled verdict) or a quiet screen for the adapter's window. A turn starts when a
//! submitted message is seen being worked on and completes when the agent is back at its prompt;
//! the prompt from before the Enter never completes a turn.

use std::time::{Duration, Instant};

use serde::Serialize;

use crate::adapters::{Observation, Verdict};
pub use crate::vocab::AgentState;
use crate::vocab::Dialog;

/// Turn counters: every submitted message gets the next turn number.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Turns {
    /// Highest turn whose Enter was pressed.
    pub submitted: u64,
    /// Highest turn seen being worked on.
    pub started: u64,
    /// Highest turn finished (the agent came back to its prompt after it).
    pub completed: u64,
}

/// Something the monitor reports to the rest of the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    State {
        from: AgentState,
        to: AgentState,
        reason: String,
    },
    TurnStarted(u64),
    TurnCompleted(u64),
}

/// The submitted turn not finished yet.
#[derive(Debug, Clone, Copy)]
struct Pending {
    turn: u64,
    /// The screen changed after the Enter.
    changed: bool,
    /// Busy or blocked was seen after the Enter.
    worked: bool,
    /// When the prompt was last seen after a change without busy evidence (fast answers).
    prompt_since: Option<Instant>,
}

pub struct Tracker {
    quiet: Duration,
    output_means_busy: bool,
    /// How long a prompt must hold after an unseen turn (changed screen, no busy evidence)
    /// before the turn counts as done.
    unseen_turn_grace: Duration,
    state: AgentState,
    dialog: Option<Dialog>,
    /// Which dialog the last blocked row was about ([`Verdict::dialog_key`]).
    dialog_reported: Option<(String, String, String)>,
    verdict: Verdict,
    last_change: Instant,
    turns: Turns,
    pending: Option<Pending>,
}

impl Tracker {
    pub fn new(
        quiet: Duration,
        output_means_busy: bool,
        unseen_turn_grace: Duration,
        now: Instant,
    ) -> Tracker {
        Tracker {
            quiet,
            output_means_busy,
            unseen_turn_grace,
            state: AgentState::Starting,
            dialog: None,
            dialog_reported: None,
            verdict: Verdict::new(Observation::Unknown, "start", None, "no output yet"),
            last_change: now,
            turns: Turns::default(),
            pending: None,
        }
    }

    pub fn state(&self) -> AgentState {
        self.state
    }

    pub fn dialog(&self) -> Option<&Dialog> {
        self.dialog.as_ref()
    }

    pub fn verdict(&self) -> &Verdict {
        &self.verdict
    }

    pub fn turns(&self) -> Turns {
        self.turns
    }

    /// The turn in flight, if any.
    pub fn pending_turn(&self) -> Option<u64> {
        self.pending.map(|p| p.turn)
    }

    /// A new classification of the screen; `changed` says whether the screen content moved.
    pub fn observe(&mut self, verdict: Verdict, changed: bool, now: Instant) -> Vec<Transition> {
        if changed {
            self.last_change = now;
            if let Some(p) = self.pending.as_mut() {
                p.changed = true;
                p.prompt_since = None;
            }
        }
        self.verdict = verdict;
        self.evaluate(now)
    }

    /// Time passed without new output.
    pub fn tick(&mut self, now: Instant) -> Vec<Transition> {
        self.evaluate(now)
    }

    /// The Enter of `turn` is about to be written.
    pub fn submitted(&mut self, turn: u64) {
        self.turns.submitted = self.turns.submitted.max(turn);
        self.pending = Some(Pending {
            turn,
            changed: false,
            worked: false,
            prompt_since: None,
        });
    }

    /// The agent's records say `turn` is over: it is, whatever the screen shows (no grace period
    /// for a fast answer, no wait for a spinner to stop).
    pub fn complete(&mut self, turn: u64) -> Vec<Transition> {
        let mut out = Vec::new();
        if turn <= self.turns.completed {
            return out;
        }
        if turn > self.turns.started {
            self.turns.started = turn;
            out.push(Transition::TurnStarted(turn));
        }
        self.turns.submitted = self.turns.submitted.max(turn);
        self.turns.completed = turn;
        out.push(Transition::TurnCompleted(turn));
        if self.pending.is_some_and(|p| p.turn <= turn) {
            self.pending = None;
        }
        out
    }

    /// The agent never took the Enter of `turn`: nothing to wait for.
    pub fn submit_failed(&mut self, turn: u64) {
        if self.pending.is_some_and(|p| p.turn == turn) {
            self.pending = None;
        }
    }

    /// When the state could change without new output (the quiet window ends, or an unseen
    /// turn's grace period runs out); `None` when nothing is pending after `now`.
    pub fn next_deadline(&self, now: Instant) -> Option<Instant> {
        let quiet_end = self.last_change + self.quiet_needed();
        let waiting_for_quiet = match self.verdict.observation {
            Observation::Prompt | Observation::Unknown => !self.verdict.settled,
            Observation::Blocked(_) => self.verdict.tentative,
            Observation::Busy => false,
        };
        let quiet = (waiting_for_quiet && quiet_end > now).then_some(quiet_end);
        let grace = self
            .pending
            .and_then(|p| p.prompt_since)
            .map(|since| since + self.unseen_turn_grace)
            .filter(|end| *end > now);
        match (quiet, grace) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The quiet the current verdict needs: longer for a tentative prompt.
    fn quiet_needed(&self) -> Duration {
        match self.verdict.observation {
            Observation::Prompt if self.verdict.tentative => {
                self.quiet * crate::adapters::TENTATIVE_PROMPT_QUIET
            }
            _ => self.quiet,
        }
    }

    fn evaluate(&mut self, now: Instant) -> Vec<Transition> {
        let quiet = now.duration_since(self.last_change) >= self.quiet_needed();
        let flowing = !quiet && self.output_means_busy;
        let candidate = match &self.verdict.observation {
            Observation::Busy => Some(AgentState::Busy),
            // A tentative dialog needs a quiet screen to be taken, not to be kept: full-screen
            // programs repaint around a dialog they still show.
            Observation::Blocked(_)
                if !self.verdict.tentative || quiet || self.state == AgentState::Blocked =>
            {
                Some(AgentState::Blocked)
            }
            Observation::Blocked(_) if flowing => Some(AgentState::Busy),
            Observation::Blocked(_) => None,
            Observation::Prompt if self.verdict.settled || quiet => Some(AgentState::Prompt),
            Observation::Unknown if quiet => Some(AgentState::Unknown),
            Observation::Prompt | Observation::Unknown if flowing => Some(AgentState::Busy),
            Observation::Prompt | Observation::Unknown => None,
        };
        let mut out = Vec::new();
        if let Some(next) = candidate {
            // Until the agent first shows a prompt or a dialog, it is still starting.
            let next = if self.state == AgentState::Starting
                && matches!(next, AgentState::Busy | AgentState::Unknown)
            {
                AgentState::Starting
            } else {
                next
            };
            self.dialog = match &self.verdict.observation {
                Observation::Blocked(d) if next == AgentState::Blocked => Some(d.clone()),
                _ => None,
            };
            // Another dialog in the place of the one reported: a row of its own, so whoever
            // answers the first learns there is a second.
            let key = self
                .verdict
                .dialog_key()
                .filter(|_| next == AgentState::Blocked);
            let other_dialog = self.state == AgentState::Blocked
                && key.is_some()
                && self.dialog_reported.is_some()
                && key != self.dialog_reported;
            if next == AgentState::Blocked {
                self.dialog_reported = key;
            } else {
                self.dialog_reported = None;
            }
            if next != self.state || other_dialog {
                let busy_from_output = next == AgentState::Busy
                    && !matches!(self.verdict.observation, Observation::Busy);
                out.push(Transition::State {
                    from: self.state,
                    to: next,
                    reason: if busy_from_output {
                        "output-flowing".to_string()
                    } else {
                        self.verdict.rule.clone()
                    },
                });
                self.state = next;
            }
        }
        self.follow_turn(now, &mut out);
        out
    }

    fn follow_turn(&mut self, now: Instant, out: &mut Vec<Transition>) {
        let Some(mut p) = self.pending else {
            return;
        };
        if matches!(self.state, AgentState::Busy | AgentState::Blocked) && !p.worked {
            p.worked = true;
            self.turns.started = self.turns.started.max(p.turn);
            out.push(Transition::TurnStarted(p.turn));
        }
        let done = match self.state {
            AgentState::Prompt if p.worked => true,
            // Answered faster than a busy frame could be seen: accept the prompt once it has
            // held for the grace period after the screen changed.
            AgentState::Prompt if p.changed => {
                let since = *p.prompt_since.get_or_insert(now);
                now.duration_since(since) >= self.unseen_turn_grace
            }
            _ => false,
        };
        if done {
            if !p.worked {
                self.turns.started = self.turns.started.max(p.turn);
                out.push(Transition::TurnStarted(p.turn));
            }
            self.turns.completed = self.turns.completed.max(p.turn);
            out.push(Transition::TurnCompleted(p.turn));
            self.pending = None;
        } else {
            self.pending = Some(p);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUIET: Duration = Duration::from_millis(250);

    fn prompt() -> Verdict {
        Verdict::new(Observation::Prompt, "test.prompt", Some(0), "> ")
    }

    fn busy() -> Verdict {
        Verdict::new(Observation::Busy, "test.busy", Some(0), "working")
    }

    fn unknown() -> Verdict {
        Verdict::new(Observation::Unknown, "test.unknown", None, "")
    }

    fn states(transitions: &[Transition]) -> Vec<AgentState> {
        transitions
            .iter()
            .filter_map(|t| match t {
                Transition::State { to, .. } => Some(*to),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn a_prompt_needs_a_quiet_screen_unless_settled() {
        let t0 = Instant::now();
        let mut tracker = Tracker::new(QUIET, true, Duration::ZERO, t0);
        assert!(tracker.observe(prompt(), true, t0).is_empty());
        assert_eq!(tracker.state(), AgentState::Starting);
        assert_eq!(tracker.next_deadline(t0), Some(t0 + QUIET));
        let out = tracker.tick(t0 + QUIET);
        assert_eq!(states(&out), vec![AgentState::Prompt]);
        assert_eq!(
            tracker.next_deadline(t0 + QUIET),
            None,
            "nothing left to wait for"
        );

        let mut settled = Tracker::new(QUIET, false, Duration::ZERO, t0);
        settled.observe(prompt().settled(), true, t0);
        assert_eq!(settled.state(), AgentState::Prompt);
    }

    #[test]
    fn busy_is_immediate_and_flowing_output_is_busy_for_line_agents() {
        let t0 = Instant::now();
        let mut tracker = Tracker::new(QUIET, true, Duration::ZERO, t0);
        tracker.observe(prompt(), true, t0);
        tracker.tick(t0 + QUIET);
        let t1 = t0 + Duration::from_secs(1);
        assert_eq!(
            states(&tracker.observe(unknown(), true, t1)),
            vec![AgentState::Busy]
        );
        assert_eq!(states(&tracker.tick(t1 + QUIET)), vec![AgentState::Unknown]);
        assert_eq!(
            states(&tracker.observe(busy(), false, t1 + QUIET)),
            vec![AgentState::Busy]
        );
    }

    #[test]
    fn a_tui_repainting_at_its_prompt_stays_at_the_prompt() {
        let t0 = Instant::now();
        let mut tracker = Tracker::new(QUIET, false, Duration::ZERO, t0);
        tracker.observe(prompt(), true, t0);
        tracker.tick(t0 + QUIET);
        assert_eq!(tracker.state(), AgentState::Prompt);
        assert!(tracker.observe(prompt(), true, t0 + QUIET * 2).is_empty());
        assert_eq!(tracker.state(), AgentState::Prompt);
    }

    #[test]
    fn the_prompt_before_the_enter_does_not_complete_the_turn() {
        let t0 = Instant::now();
        let mut tracker = Tracker::new(QUIET, false, Duration::from_secs(2), t0);
        tracker.observe(prompt(), true, t0);
        tracker.tick(t0 + QUIET);
        tracker.submitted(1);
        // The prompt is still drawn and nothing changed yet: not done.
        assert!(tracker.tick(t0 + QUIET * 4).is_empty());
        assert_eq!(tracker.turns().completed, 0);
        let t1 = t0 + Duration::from_secs(1);
        let out = tracker.observe(busy(), true, t1);
        assert!(out.contains(&Transition::TurnStarted(1)));
        // Prompt glyph drawn while busy evidence is gone but the screen still moves: not yet.
        tracker.observe(prompt(), true, t1 + Duration::from_millis(10));
        assert_eq!(tracker.turns().completed, 0);
        let out = tracker.tick(t1 + Duration::from_millis(10) + QUIET);
        assert!(out.contains(&Transition::TurnCompleted(1)));
        assert_eq!(
            tracker.turns(),
            Turns {
                submitted: 1,
                started: 1,
                completed: 1
            }
        );
    }

    #[test]
    fn a_fast_answer_completes_after_the_grace_period() {
        let t0 = Instant::now();
        let grace = Duration::from_secs(2);
        let mut tracker = Tracker::new(QUIET, false, grace, t0);
        tracker.observe(prompt().settled(), true, t0);
        tracker.submitted(1);
        // The answer is drawn, no busy frame was ever seen.
        let t1 = t0 + Duration::from_millis(100);
        tracker.observe(prompt().settled(), true, t1);
        assert_eq!(tracker.turns().completed, 0);
        let t2 = tracker.next_deadline(t1).expect("a grace deadline");
        let out = tracker.tick(t2.max(t1 + grace));
        assert!(out.contains(&Transition::TurnStarted(1)));
        assert!(out.contains(&Transition::TurnCompleted(1)));
    }

    #[test]
    fn a_failed_submission_leaves_nothing_pending() {
        let t0 = Instant::now();
        let mut tracker = Tracker::new(QUIET, true, Duration::ZERO, t0);
        tracker.submitted(3);
        assert_eq!(tracker.pending_turn(), Some(3));
        tracker.submit_failed(3);
        assert_eq!(tracker.pending_turn(), None);
    }

    #[test]
    fn the_records_end_a_turn_the_screen_still_shows_busy() {
        let t0 = Instant::now();
        let mut tracker = Tracker::new(QUIET, false, Duration::from_secs(3), t0);
        tracker.observe(prompt().settled(), true, t0);
        tracker.submitted(1);
        let out = tracker.complete(1);
        assert_eq!(
            out,
            vec![Transition::TurnStarted(1), Transition::TurnCompleted(1)]
        );
        assert_eq!(tracker.pending_turn(), None);
        assert!(tracker.complete(1).is_empty(), "a turn ends once");
    }

    #[test]
    fn a_tentative_dialog_counts_only_once_the_screen_is_quiet() {
        let t0 = Instant::now();
        let mut tracker = Tracker::new(QUIET, true, Duration::ZERO, t0);
        tracker.observe(prompt(), true, t0);
        tracker.tick(t0 + QUIET);
        let dialog = Dialog {
            reason: "generic-choice".into(),
            accept_keys: vec!["Enter".into()],
            enter_is_safe: true,
        };
        let verdict = Verdict::new(
            Observation::Blocked(dialog.clone()),
            "g.choice",
            Some(3),
            "",
        )
        .tentative();
        let t1 = t0 + Duration::from_secs(1);
        // Drawn while output flows: busy, not blocked (yet).
        assert_eq!(
            states(&tracker.observe(verdict.clone(), true, t1)),
            vec![AgentState::Busy]
        );
        assert_eq!(tracker.dialog(), None);
        assert_eq!(tracker.next_deadline(t1), Some(t1 + QUIET));
        assert_eq!(states(&tracker.tick(t1 + QUIET)), vec![AgentState::Blocked]);
        assert_eq!(tracker.dialog(), Some(&dialog));
        // Repainted while still shown: it stays blocked.
        let t2 = t1 + QUIET * 2;
        assert!(tracker.observe(verdict, true, t2).is_empty());
        assert_eq!(tracker.state(), AgentState::Blocked);
    }

    #[test]
    fn blocked_carries_its_dialog() {
        let t0 = Instant::now();
        let mut tracker = Tracker::new(QUIET, false, Duration::ZERO, t0);
        let dialog = Dialog {
            reason: "workspace-trust".into(),
            accept_keys: vec!["Enter".into()],
            enter_is_safe: true,
        };
        let verdict = Verdict::new(Observation::Blocked(dialog.clone()), "t.trust", Some(3), "");
        tracker.observe(verdict, true, t0);
        assert_eq!(tracker.state(), AgentState::Blocked);
        assert_eq!(tracker.dialog(), Some(&dialog));
    }

    #[test]
    fn a_tentative_prompt_needs_a_longer_quiet_screen() {
        let t0 = Instant::now();
        let mut tracker = Tracker::new(QUIET, false, Duration::ZERO, t0);
        tracker.observe(prompt().tentative(), true, t0);
        tracker.tick(t0 + QUIET);
        assert_eq!(tracker.state(), AgentState::Starting);
        assert_eq!(
            tracker.next_deadline(t0 + QUIET),
            Some(t0 + QUIET * crate::adapters::TENTATIVE_PROMPT_QUIET)
        );
        tracker.tick(t0 + QUIET * crate::adapters::TENTATIVE_PROMPT_QUIET);
        assert_eq!(tracker.state(), AgentState::Prompt);
    }

    fn choice(question: &str, highlighted: &str, keys: &[&str]) -> Verdict {
        let dialog = Dialog {
            reason: "generic-choice".into(),
            accept_keys: keys.iter().map(|k| k.to_string()).collect(),
            enter_is_safe: true,
        };
        let evidence = format!("{question} (highlighted: {highlighted})");
        Verdict::new(
            Observation::Blocked(dialog),
            "generic.choice-list",
            Some(3),
            &evidence,
        )
    }

    #[test]
    fn another_dialog_in_the_place_of_one_is_a_row_of_its_own_and_a_moved_highlight_is_not() {
        let t0 = Instant::now();
        let mut tracker = Tracker::new(QUIET, false, Duration::ZERO, t0);
        let trust = choice("Trust this folder?", "1. Yes", &["Enter"]);
        assert_eq!(
            states(&tracker.observe(trust, true, t0)),
            [AgentState::Blocked]
        );
        let moved = choice("Trust this folder?", "2. No", &["Up", "Enter"]);
        assert!(states(&tracker.observe(moved, true, t0)).is_empty());
        let command = choice("Do you want to run this command?", "1. Yes", &["Enter"]);
        let out = tracker.observe(command, true, t0);
        assert_eq!(states(&out), [AgentState::Blocked], "{out:?}");
        assert!(matches!(
            &out[0],
            Transition::State {
                from: AgentState::Blocked,
                ..
            }
        ));
        assert_eq!(
            tracker.dialog().map(|d| d.accept_keys.clone()),
            Some(vec!["Enter".into()])
        );
    }
}

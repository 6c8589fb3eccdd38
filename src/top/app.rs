//! The dashboard's state: the rows, which one is selected, what is open over the list, and the
//! last note for the footer. [`App::handle`] turns a key's [`Action`] into a new state and, where
//! the action needs the outside world (a request, a file, tmux), an [`Effect`] for
//! [`super::actions`] to carry out. No I/O here, so all of it is tested directly.
//!
//! Owned by the dashboard's main thread.

use std::time::SystemTime;

use super::keys::{Action, KeyMode};
use super::look::Look;
use super::model::{Scope, SessionRow, State};
use super::view::age_text;
use crate::commands::status_tree::{self, Node};
use crate::registry::{ExitRecord, RegistryEntry};

/// What is open over the session list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    List,
    Help,
    /// The message line, with what was typed so far.
    Compose(String),
    /// "Stop <id>?" for the session with this slug.
    ConfirmStop(String),
    Page(Page),
}

/// A page of text about one session (its screen, events or log), scrolled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub kind: PageKind,
    pub slug: String,
    pub title: String,
    pub lines: Vec<String>,
    /// Lines scrolled up from the end (0: the end is shown).
    pub back: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PageKind {
    Screen,
    Events,
    Log,
}

/// A line in the footer after an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub text: String,
    pub error: bool,
}

/// What an action needs done outside the dashboard's state.
#[derive(Debug, Clone)]
pub enum Effect {
    Send {
        entry: Box<RegistryEntry>,
        text: String,
    },
    Keys {
        entry: Box<RegistryEntry>,
        keys: Vec<String>,
    },
    Stop(Box<RegistryEntry>),
    Open(PageKind, Box<SessionRow>),
    Tmux {
        id: String,
        socket: Option<std::path::PathBuf>,
        pane: String,
    },
}

pub struct App {
    pub scope: Scope,
    pub look: Look,
    /// Every row, in no particular order (the view orders them as a tree).
    pub rows: Vec<SessionRow>,
    /// The slug of the selected row.
    pub selected: Option<String>,
    pub mode: Mode,
    pub note: Option<Note>,
    pub quit: bool,
    /// Rows of the list that fit on screen (for page up/down), set by the view.
    pub page_rows: usize,
}

impl App {
    pub fn new(scope: Scope, look: Look, rows: Vec<SessionRow>) -> App {
        let mut app = App {
            scope,
            look,
            rows,
            selected: None,
            mode: Mode::List,
            note: None,
            quit: false,
            page_rows: 10,
        };
        app.keep_selection();
        app
    }

    /// The rows as the list shows them: the tree of who started whom, oldest first.
    pub fn ordered(&self) -> Vec<(&SessionRow, Node)> {
        let fields: Vec<serde_json::Value> = self.rows.iter().map(|r| r.tree_fields()).collect();
        status_tree::walk(&fields)
            .into_iter()
            .map(|node| (&self.rows[node.index], node))
            .collect()
    }

    pub fn selected_row(&self) -> Option<&SessionRow> {
        let slug = self.selected.as_deref()?;
        self.rows.iter().find(|r| r.slug == slug)
    }

    pub fn key_mode(&self) -> KeyMode {
        match self.mode {
            Mode::List => KeyMode::Table,
            Mode::Compose(_) => KeyMode::Compose,
            Mode::ConfirmStop(_) => KeyMode::Confirm,
            Mode::Help | Mode::Page(_) => KeyMode::Page,
        }
    }

    /// A session's fresh row: replaces the row of the same slug (an ended row too: a new run
    /// of the same id takes its place). Whether the list shows it differently at `now`.
    pub fn upsert(&mut self, row: SessionRow, now: SystemTime) -> bool {
        let shown_differently = match self.rows.iter_mut().find(|r| r.slug == row.slug) {
            Some(old) => {
                let differs = shows_differently(old, &row, now);
                *old = row;
                differs
            }
            None => {
                self.rows.push(row);
                true
            }
        };
        self.keep_selection();
        shown_differently
    }

    /// The session `slug` is gone: its row stays, ended, until dismissed. Whether anything
    /// changed.
    pub fn end(&mut self, slug: &str, record: Option<&ExitRecord>, now: SystemTime) -> bool {
        let Some(index) = self.rows.iter().position(|r| r.slug == slug) else {
            return false;
        };
        let row = &self.rows[index];
        if row.state.is_ended() && record.is_none_or(|r| r.session_id != row.run) {
            return false;
        }
        let record = record.filter(|r| r.session_id == row.run);
        let ended = self.rows.remove(index).ended(record, now);
        self.rows.insert(index, ended);
        if let Mode::ConfirmStop(s) = &self.mode
            && s == slug
        {
            self.mode = Mode::List;
        }
        true
    }

    /// Keep a selection while there are rows: the first one when none (or a dismissed one) was.
    fn keep_selection(&mut self) {
        let valid = self
            .selected
            .as_deref()
            .is_some_and(|s| self.rows.iter().any(|r| r.slug == s));
        if !valid {
            self.selected = self.ordered().first().map(|(r, _)| r.slug.clone());
        }
    }

    fn move_selection(&mut self, by: isize) {
        let order: Vec<String> = self.ordered().iter().map(|(r, _)| r.slug.clone()).collect();
        if order.is_empty() {
            return;
        }
        let at = self
            .selected
            .as_ref()
            .and_then(|s| order.iter().position(|o| o == s))
            .unwrap_or(0);
        let to = (at as isize + by).clamp(0, order.len() as isize - 1) as usize;
        self.selected = Some(order[to].clone());
    }

    fn say(&mut self, text: impl Into<String>) {
        self.note = Some(Note {
            text: text.into(),
            error: false,
        });
    }

    pub fn fail(&mut self, text: impl Into<String>) {
        self.note = Some(Note {
            text: text.into(),
            error: true,
        });
    }

    pub fn done(&mut self, text: impl Into<String>) {
        self.say(text);
    }

    /// Carry out `action`; what needs the outside world comes back as an effect.
    pub fn handle(&mut self, action: Action) -> Option<Effect> {
        match action {
            Action::Nothing => None,
            Action::Quit => {
                self.quit = true;
                None
            }
            Action::Back => {
                self.mode = Mode::List;
                None
            }
            Action::Up | Action::Down | Action::First | Action::Last => {
                self.movement(action);
                None
            }
            Action::PageUp | Action::PageDown => {
                self.movement(action);
                None
            }
            Action::Help => {
                self.mode = Mode::Help;
                None
            }
            Action::Type(c) => {
                if let Mode::Compose(text) = &mut self.mode {
                    text.push(c);
                }
                None
            }
            Action::Erase => {
                if let Mode::Compose(text) = &mut self.mode {
                    text.pop();
                }
                None
            }
            Action::Submit => self.submit(),
            Action::Confirm => self.confirm_stop(),
            Action::Dismiss => {
                self.dismiss();
                None
            }
            Action::Screen | Action::Events | Action::Log => self.open(action),
            Action::Compose | Action::Answer | Action::AskStop | Action::Tmux => {
                self.act_on_live(action)
            }
        }
    }

    fn movement(&mut self, action: Action) {
        let page = self.page_rows.max(1) as isize;
        if let Mode::Page(page_text) = &mut self.mode {
            let max = page_text.lines.len();
            let back = page_text.back as isize;
            let back = match action {
                Action::Up => back + 1,
                Action::Down => back - 1,
                Action::PageUp => back + page,
                Action::PageDown => back - page,
                Action::First => max as isize,
                _ => 0,
            };
            page_text.back = back.clamp(0, max as isize) as usize;
            return;
        }
        match action {
            Action::Up => self.move_selection(-1),
            Action::Down => self.move_selection(1),
            Action::PageUp => self.move_selection(-page),
            Action::PageDown => self.move_selection(page),
            Action::First => self.move_selection(isize::MIN / 2),
            _ => self.move_selection(isize::MAX / 2),
        }
    }

    fn open(&mut self, action: Action) -> Option<Effect> {
        let row = self.selected_row()?.clone();
        let kind = match action {
            Action::Screen => PageKind::Screen,
            Action::Events => PageKind::Events,
            _ => PageKind::Log,
        };
        if kind == PageKind::Screen && row.entry.is_none() {
            self.fail(format!(
                "{} has ended, so it has no screen: l shows its log",
                row.id
            ));
            return None;
        }
        Some(Effect::Open(kind, Box::new(row)))
    }

    /// Actions on a live session: they need its registry entry.
    fn act_on_live(&mut self, action: Action) -> Option<Effect> {
        let row = self.selected_row()?.clone();
        let Some(entry) = row.entry.clone() else {
            self.fail(format!("{} has ended: d dismisses it", row.id));
            return None;
        };
        match action {
            Action::Compose => {
                self.note = None;
                self.mode = Mode::Compose(String::new());
                None
            }
            Action::AskStop => {
                self.mode = Mode::ConfirmStop(row.slug.clone());
                None
            }
            Action::Answer => match row.state {
                State::Blocked { keys, .. } if !keys.is_empty() => Some(Effect::Keys {
                    entry: Box::new(entry),
                    keys,
                }),
                State::Blocked { reason, .. } => {
                    self.fail(format!(
                        "{} is at a {reason} dialog that names no keys: open its screen (Enter) and use `harnex send --id {} --keys …`",
                        row.id, row.id
                    ));
                    None
                }
                _ => {
                    self.fail(format!("{} is not at a dialog", row.id));
                    None
                }
            },
            _ => match row.tmux {
                Some((socket, pane)) => Some(Effect::Tmux {
                    id: row.id.clone(),
                    socket,
                    pane,
                }),
                None => {
                    self.fail(format!(
                        "{} does not run in tmux: Enter shows its screen here",
                        row.id
                    ));
                    None
                }
            },
        }
    }

    fn submit(&mut self) -> Option<Effect> {
        let Mode::Compose(text) = std::mem::replace(&mut self.mode, Mode::List) else {
            return None;
        };
        if text.trim().is_empty() {
            self.fail("nothing to send: type a message, then Enter (Esc cancels)");
            return None;
        }
        let entry = self.selected_row()?.entry.clone()?;
        Some(Effect::Send {
            entry: Box::new(entry),
            text,
        })
    }

    fn confirm_stop(&mut self) -> Option<Effect> {
        let Mode::ConfirmStop(slug) = std::mem::replace(&mut self.mode, Mode::List) else {
            return None;
        };
        let row = self.rows.iter().find(|r| r.slug == slug)?;
        let entry = row.entry.clone()?;
        Some(Effect::Stop(Box::new(entry)))
    }

    fn dismiss(&mut self) {
        let Some(row) = self.selected_row() else {
            return;
        };
        if !row.state.is_ended() {
            let id = row.id.clone();
            self.fail(format!(
                "{id} is live: x stops it, d dismisses it once ended"
            ));
            return;
        }
        let slug = row.slug.clone();
        self.move_selection(1);
        if self.selected.as_deref() == Some(slug.as_str()) {
            self.move_selection(-1);
        }
        self.rows.retain(|r| r.slug != slug);
        self.keep_selection();
    }

    /// Counts per state word, in a fixed order, for the header.
    pub fn counts(&self) -> Vec<(&'static str, usize)> {
        let words = [
            "busy",
            "blocked",
            "prompt",
            "starting",
            "unknown",
            "unreachable",
            "ended",
        ];
        words
            .iter()
            .map(|w| {
                (
                    *w,
                    self.rows.iter().filter(|r| r.state.word() == *w).count(),
                )
            })
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

/// Whether `new` shows differently from `old` at `now`. Output moves a busy session's progress
/// time many times a second while its age on screen stays the same (`0s`): that is not a
/// change to draw (the clock redraws ages as they turn over).
fn shows_differently(old: &SessionRow, new: &SessionRow, now: SystemTime) -> bool {
    if old.progress_at == new.progress_at {
        return old != new;
    }
    let mut moved = old.clone();
    moved.progress_at = new.progress_at;
    moved != *new || age_text(old.progress_at, now) != age_text(new.progress_at, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn row(id: &str, run: &str) -> SessionRow {
        let entry: RegistryEntry = serde_json::from_value(json!({
            "session_id": run, "id": id, "cli": "codex", "repo_root": "/r", "repo_key": "k",
            "pid": 1, "host": "127.0.0.1", "port": 1, "token": "t",
            "started_at": "2026-01-01T00:00:00Z"
        }))
        .unwrap();
        SessionRow::from_status(&entry, &json!({"agent_state": "prompt"}))
    }

    fn record(run: &str, reason: &str) -> ExitRecord {
        serde_json::from_value(json!({
            "ok": true, "id": "a", "cli": "codex", "session_id": run, "repo_root": "/r",
            "exit_code": 0, "started_at": "2026-01-01T00:00:00Z",
            "exited_at": "2026-01-01T00:01:00Z", "injected_count": 0, "reason": reason
        }))
        .unwrap()
    }

    fn app(rows: Vec<SessionRow>) -> App {
        let look = Look {
            unicode: true,
            color: false,
        };
        App::new(Scope::All, look, rows)
    }

    #[test]
    fn an_ended_session_stays_until_dismissed() {
        let mut app = app(vec![row("a", "r1")]);
        let slug = app.rows[0].slug.clone();
        app.handle(Action::Dismiss);
        assert_eq!(app.rows.len(), 1, "a live session is not dismissed");
        assert!(app.note.as_ref().is_some_and(|n| n.error));
        app.end(&slug, Some(&record("r1", "stopped")), SystemTime::now());
        assert_eq!(
            app.rows[0].state,
            State::Ended {
                reason: "stopped".into(),
                code: Some(0)
            }
        );
        assert!(app.rows[0].entry.is_none());
        // Actions that need a live session say so instead.
        assert!(app.handle(Action::Compose).is_none());
        assert_eq!(app.mode, Mode::List);
        app.handle(Action::Dismiss);
        assert!(app.rows.is_empty());
        assert_eq!(app.selected, None);
    }

    #[test]
    fn another_runs_exit_record_does_not_name_this_runs_end_and_a_new_run_replaces_the_row() {
        let mut app = app(vec![row("a", "r2")]);
        let slug = app.rows[0].slug.clone();
        app.end(&slug, Some(&record("r1", "failure")), SystemTime::now());
        assert_eq!(
            app.rows[0].state,
            State::Ended {
                reason: "exited".into(),
                code: None
            }
        );
        app.upsert(row("a", "r3"), SystemTime::now());
        assert_eq!(app.rows.len(), 1);
        assert_eq!(app.rows[0].run, "r3");
        assert_eq!(app.rows[0].state, State::Prompt);
    }

    #[test]
    fn progress_within_the_same_age_on_screen_is_stored_but_not_drawn() {
        let now = SystemTime::now();
        let mut first = row("a", "r1");
        first.progress_at = Some(now - std::time::Duration::from_millis(300));
        let mut app = app(vec![first]);
        let mut moved = row("a", "r1");
        moved.progress_at = Some(now - std::time::Duration::from_millis(100));
        assert!(!app.upsert(moved.clone(), now), "0s stays 0s");
        assert_eq!(app.rows[0].progress_at, moved.progress_at);
        // An age that reads differently, or any other field, is drawn.
        let mut quiet = row("a", "r1");
        quiet.progress_at = Some(now - std::time::Duration::from_secs(5));
        assert!(app.upsert(quiet, now));
        let mut busy = row("a", "r1");
        busy.progress_at = Some(now - std::time::Duration::from_secs(5));
        busy.state = State::Busy;
        assert!(app.upsert(busy.clone(), now));
        assert!(!app.upsert(busy, now), "nothing changed");
    }

    #[test]
    fn a_message_is_sent_to_the_selected_session_and_an_empty_one_is_refused() {
        let mut app = app(vec![row("a", "r1"), row("b", "r2")]);
        app.handle(Action::Last);
        app.handle(Action::Compose);
        assert!(app.handle(Action::Submit).is_none());
        assert!(app.note.as_ref().is_some_and(|n| n.error));
        app.handle(Action::Compose);
        app.handle(Action::Type('h'));
        app.handle(Action::Type('x'));
        app.handle(Action::Erase);
        app.handle(Action::Type('i'));
        match app.handle(Action::Submit) {
            Some(Effect::Send { entry, text }) => {
                assert_eq!(text, "hi");
                assert_eq!(entry.id, "b");
            }
            other => panic!("{other:?}"),
        }
        // Stop asks first; only a yes stops.
        app.handle(Action::AskStop);
        assert!(app.handle(Action::Back).is_none());
        app.handle(Action::AskStop);
        assert!(matches!(app.handle(Action::Confirm), Some(Effect::Stop(e)) if e.id == "b"));
    }
}

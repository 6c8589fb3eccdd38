//! `harnex top`: a live dashboard of the sessions of this repository (or of all of them).
//!
//! - [`model`] reads the sessions (registry, status snapshots, exit records) into typed rows;
//! - [`watch`] notices, through inotify, which session's files changed;
//! - [`app`] is the dashboard's state and what each key does to it, [`keys`] which key is which;
//! - [`actions`] carries out what needs the outside world (send, stop, a page of text);
//! - [`view`] draws a frame, [`look`] decides glyphs and colours;
//! - [`terminal`] holds the terminal and restores it on every way out.
//!
//! One main thread owns the state and draws; three small threads feed it messages (key
//! presses, file changes, signals). It redraws when a message came or when an age on screen is
//! due to change its text, and otherwise sleeps.

pub mod actions;
pub mod app;
pub mod keys;
pub mod look;
pub mod model;
pub mod terminal;
pub mod view;
pub mod watch;

#[cfg(test)]
#[path = "view_tests.rs"]
mod view_tests;

use std::collections::BTreeSet;
use std::io::IsTerminal;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::crossterm::event::{self, Event};

use crate::cli::TopArgs;
use crate::error::{Error, Result};
use crate::paths::{self, StateDir};
use app::{App, Mode, PageKind};
use look::Look;
use model::{Refreshed, Scope, SessionRow, State};
use watch::Changed;

/// How often a busy session whose status comes from its API (it keeps no snapshot file) is read
/// again while nothing else changes: its progress and retry fields move without an event row.
/// A snapshot is rewritten on each such change, and the watch sees it; sessions at rest are
/// never re-read.
const BUSY_REFRESH: Duration = Duration::from_secs(2);
/// File changes are taken at most this often: a change after a quiet spell at once, the rest
/// of a burst together. A busy session rewrites its status snapshot with every change of its
/// screen (its spinner too), many times a second; reading and drawing each took a third of a
/// core for five busy sessions.
const FILE_BATCH: Duration = Duration::from_millis(50);
/// The clock alone redraws at most this often (ages on screen are whole seconds or coarser).
const CLOCK_REDRAW: Duration = Duration::from_secs(1);
/// How often an open screen page is read again.
const SCREEN_REFRESH: Duration = Duration::from_millis(250);
/// Width of a `--once` frame when neither `--width` nor the terminal says.
const DEFAULT_WIDTH: u16 = 120;

pub fn run(args: TopArgs) -> Result<i32> {
    let state = StateDir::from_env()?;
    let scope = if args.all {
        Scope::All
    } else {
        Scope::Repo(match &args.repo {
            Some(repo) => paths::repo_root_of(repo),
            None => paths::current_repo_root()?,
        })
    };
    if args.once {
        let look = Look::plain(Look::from_env(args.ascii).unicode);
        let rows = model::load(&state, &scope);
        let app = App::new(scope, look, rows);
        let width = args.width.unwrap_or_else(terminal_width);
        // A reader that went away (`| head`) is not an error worth a panic.
        let frame = once(app, width, SystemTime::now());
        let _ = std::io::Write::write_all(&mut std::io::stdout(), frame.as_bytes());
        return Ok(0);
    }
    if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
        return Err(Error::usage(
            "harnex top needs a terminal on stdin and stdout: use `harnex top --once` for one frame as text, or `harnex status` for a table",
        ));
    }
    state.ensure()?;
    interactive(state, scope, Look::from_env(args.ascii))
}

fn terminal_width() -> u16 {
    ratatui::crossterm::terminal::size()
        .ok()
        .map(|(cols, _)| cols)
        .filter(|c| *c >= 40)
        .unwrap_or(DEFAULT_WIDTH)
}

/// One frame as plain text, tall enough for every row, with trailing blanks trimmed.
pub fn once(mut app: App, width: u16, now: SystemTime) -> String {
    let height = view::lines_for(app.rows.len());
    frame_text(&mut app, width, height, now)
}

/// Draw a frame of `width` × `height` off screen and return it as text.
pub fn frame_text(app: &mut App, width: u16, height: u16, now: SystemTime) -> String {
    let mut terminal = match Terminal::new(TestBackend::new(width, height)) {
        Ok(terminal) => terminal,
        Err(never) => match never {},
    };
    if terminal.draw(|frame| view::draw(frame, app, now)).is_err() {
        return String::new();
    }
    buffer_text(terminal.backend().buffer())
}

fn buffer_text(buffer: &Buffer) -> String {
    let width = buffer.area.width as usize;
    let mut out = String::new();
    for line in buffer.content.chunks(width.max(1)) {
        let mut text = String::new();
        // A wide character covers the cells after it (drawn blank in the buffer).
        let mut covered = 0;
        for cell in line {
            if covered > 0 {
                covered -= 1;
                continue;
            }
            text.push_str(cell.symbol());
            covered = ratatui::text::Span::raw(cell.symbol())
                .width()
                .saturating_sub(1);
        }
        out.push_str(text.trim_end());
        out.push('\n');
    }
    out
}

/// What wakes the main loop.
enum Input {
    Terminal(Event),
    /// Reading the terminal failed (it went away).
    TerminalGone,
    Files(Changed),
    Signal(i32),
}

fn interactive(state: StateDir, scope: Scope, look: Look) -> Result<i32> {
    let (tx, rx) = mpsc::channel::<Input>();
    watch::spawn(state.root(), tx.clone(), Input::Files)
        .map_err(|e| Error::failed(format!("cannot start watching the state dir: {e}")))?;
    terminal::forward_signals(tx.clone(), Input::Signal)
        .map_err(|e| Error::failed(format!("cannot install signal handlers: {e}")))?;
    let rows = model::load(&state, &scope);
    let mut app = App::new(scope, look, rows);
    let mut guard = terminal::TerminalGuard::enter()
        .map_err(|e| Error::failed(format!("cannot set up the terminal: {e}")))?;
    std::thread::Builder::new()
        .name("top-keys".into())
        .spawn(move || {
            loop {
                let input = match event::read() {
                    Ok(ev) => Input::Terminal(ev),
                    Err(_) => Input::TerminalGone,
                };
                let gone = matches!(input, Input::TerminalGone);
                if tx.send(input).is_err() || gone {
                    return;
                }
            }
        })
        .map_err(|e| Error::failed(format!("cannot start the key reader: {e}")))?;
    let mut timers = Timers::new();
    let mut exit = 0;
    // Drawing is what costs: only when something on screen may have changed.
    let mut redraw = true;
    loop {
        let now = SystemTime::now();
        if redraw {
            guard
                .terminal
                .draw(|frame| view::draw(frame, &mut app, now))
                .map_err(|e| Error::failed(format!("cannot draw: {e}")))?;
            timers.drawn = Instant::now();
        }
        let wait = timers.next_wait(&app, now);
        let first = match wait {
            Some(wait) => match rx.recv_timeout(wait) {
                Ok(input) => Some(input),
                Err(mpsc::RecvTimeoutError::Timeout) => None,
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            },
            None => match rx.recv() {
                Ok(input) => Some(input),
                Err(_) => break,
            },
        };
        // A timer ran out: an age on screen, a busy row or the screen page is due.
        redraw = first.is_none();
        // Take everything already waiting, so a burst of changes costs one redraw.
        let mut inputs: Vec<Input> = first.into_iter().chain(rx.try_iter()).collect();
        if only_file_changes(&inputs) {
            gather_file_changes(&rx, &mut inputs, timers.files_read + FILE_BATCH);
            timers.files_read = Instant::now();
        }
        let mut dirty: BTreeSet<String> = BTreeSet::new();
        for input in inputs {
            match input {
                Input::Terminal(Event::Key(key)) => {
                    redraw = true;
                    if app.mode == Mode::List {
                        app.note = None;
                    }
                    let action = keys::action(app.key_mode(), key);
                    if let Some(effect) = app.handle(action) {
                        actions::perform(&mut app, &state, effect);
                        timers.screen_read = Instant::now();
                    }
                }
                // A resize, a paste, focus: drawn again as it is.
                Input::Terminal(_) => redraw = true,
                Input::TerminalGone => {
                    exit = 1;
                    app.quit = true;
                }
                Input::Files(Changed::Slugs(slugs)) => dirty.extend(slugs),
                Input::Files(Changed::Everything) => {
                    dirty.extend(model::live_slugs(&state));
                    dirty.extend(app.rows.iter().map(|r| r.slug.clone()));
                }
                Input::Signal(signal) => {
                    exit = 128 + signal;
                    app.quit = true;
                }
            }
        }
        if app.quit {
            break;
        }
        if timers.busy_due() {
            dirty.extend(
                app.rows
                    .iter()
                    .filter(|r| polled_busy(r))
                    .map(|r| r.slug.clone()),
            );
        }
        redraw |= apply_changes(&mut app, &state, &dirty);
        redraw |= refresh_page(&mut app, &state, &dirty, &mut timers);
    }
    drop(guard);
    Ok(exit)
}

fn only_file_changes(inputs: &[Input]) -> bool {
    !inputs.is_empty() && inputs.iter().all(|i| matches!(i, Input::Files(_)))
}

/// Take more file changes until `until` (a key or a signal ends the wait at once), so that a
/// burst of them is read and drawn once per [`FILE_BATCH`].
fn gather_file_changes(rx: &mpsc::Receiver<Input>, inputs: &mut Vec<Input>, until: Instant) {
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(input) => {
                let other = !matches!(input, Input::Files(_));
                inputs.push(input);
                if other {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}

/// Look again at each session whose files changed; whether a row changed.
fn apply_changes(app: &mut App, state: &StateDir, dirty: &BTreeSet<String>) -> bool {
    let mut changed = false;
    for slug in dirty {
        changed |= match model::refresh(state, &app.scope, slug) {
            Refreshed::Live(row) => app.upsert(*row, SystemTime::now()),
            Refreshed::Gone(record) => app.end(slug, record.as_deref(), SystemTime::now()),
            Refreshed::Elsewhere | Refreshed::Unchanged => false,
        };
    }
    changed
}

/// Keep an open page current: the events page when its log changed, the screen on a timer.
/// Whether it was read again.
fn refresh_page(
    app: &mut App,
    state: &StateDir,
    dirty: &BTreeSet<String>,
    timers: &mut Timers,
) -> bool {
    let Mode::Page(page) = &app.mode else {
        return false;
    };
    let due = match page.kind {
        PageKind::Events => dirty.contains(&page.slug),
        PageKind::Screen => timers.screen_read.elapsed() >= SCREEN_REFRESH,
        PageKind::Log => false,
    };
    if !due {
        return false;
    }
    let (kind, slug, back) = (page.kind, page.slug.clone(), page.back);
    let Some(row) = app.rows.iter().find(|r| r.slug == slug).cloned() else {
        return false;
    };
    if kind == PageKind::Screen {
        timers.screen_read = Instant::now();
        if row.entry.is_none() {
            app.mode = Mode::List;
            app.fail(format!("{} ended", row.id));
            return true;
        }
    }
    if let Ok(mut fresh) = actions::page(state, kind, &row) {
        fresh.back = back;
        app.mode = Mode::Page(fresh);
    }
    true
}

/// A working session whose status only a request tells (see [`BUSY_REFRESH`]).
fn polled_busy(row: &SessionRow) -> bool {
    row.polled && (matches!(row.state, State::Busy | State::Starting) || row.retry.is_some())
}

/// The clocks of the main loop.
struct Timers {
    busy_read: Instant,
    /// The last time file changes were taken.
    files_read: Instant,
    screen_read: Instant,
    /// The last redraw.
    drawn: Instant,
}

impl Timers {
    fn new() -> Timers {
        Timers {
            busy_read: Instant::now(),
            files_read: Instant::now(),
            screen_read: Instant::now(),
            drawn: Instant::now(),
        }
    }

    /// Whether busy sessions are due to be read again (and if so, restart the clock).
    fn busy_due(&mut self) -> bool {
        let due = self.busy_read.elapsed() >= BUSY_REFRESH;
        if due {
            self.busy_read = Instant::now();
        }
        due
    }

    /// How long the loop may sleep: until an age on screen changes, a busy session is due, or
    /// an open screen page is. `None`: until something happens.
    fn next_wait(&self, app: &App, now: SystemTime) -> Option<Duration> {
        let busy = app
            .rows
            .iter()
            .any(polled_busy)
            .then(|| BUSY_REFRESH.saturating_sub(self.busy_read.elapsed()));
        let screen = matches!(&app.mode, Mode::Page(p) if p.kind == PageKind::Screen)
            .then(|| SCREEN_REFRESH.saturating_sub(self.screen_read.elapsed()));
        // Ages of many sessions turn over at different moments: one redraw a second at most.
        let clock = view::next_tick(app, now)
            .map(|tick| tick.max(CLOCK_REDRAW.saturating_sub(self.drawn.elapsed())));
        [clock, busy, screen].into_iter().flatten().min()
    }
}

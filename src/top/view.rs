//! Drawing one frame of the dashboard from [`App`]: a header with the counts per state, the
//! sessions as a tree (one line each), a footer with the keys (or the message line, a question,
//! the last note), and whatever is open over the list (a session's screen, events or log; the
//! keys). A pure function of the state and the time given, so frames are tested as text.

use std::time::{Duration, SystemTime};

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Row, Table, TableState};

use super::app::{App, Mode, Page, PageKind};
use super::keys::TABLE_KEYS;
use super::look::Look;
use super::model::{Outcome, Scope, SessionRow, State, Turn};
use crate::commands::status::{format_age, truncate_repo};

/// Screens narrower than this leave out the repository column (unless every repository is
/// shown, where it tells the rows apart).
const WIDE: u16 = 120;

pub fn draw(frame: &mut Frame, app: &mut App, now: SystemTime) {
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
    ])
    .areas(frame.area());
    frame.render_widget(header_line(app, header.width), header);
    app.page_rows = body.height.saturating_sub(1) as usize;
    list(frame, app, body, now);
    frame.render_widget(footer_line(app, footer.width), footer);
    match &app.mode {
        Mode::Help => help(frame, &app.look, body),
        Mode::Page(page) => page_view(frame, &app.look, page, body),
        _ => {}
    }
}

/// The number of screen lines a frame with `rows` sessions needs to show them all.
pub fn lines_for(rows: usize) -> u16 {
    // Header, column titles, the rows (or the line that says there are none), footer.
    (3 + rows.max(1)).min(u16::MAX as usize) as u16
}

fn header_line(app: &App, width: u16) -> Paragraph<'static> {
    let look = &app.look;
    let scope = match &app.scope {
        Scope::All => "all repositories".to_string(),
        Scope::Repo(repo) => repo.display().to_string(),
    };
    let mut counts: Vec<Span> = vec![Span::raw(match app.rows.len() {
        1 => "1 session".to_string(),
        n => format!("{n} sessions"),
    })];
    for (word, n) in app.counts() {
        counts.push(Span::raw("  "));
        let style = match word {
            "busy" => look.state(&State::Busy),
            "blocked" => look.state(&State::Blocked {
                reason: String::new(),
                keys: Vec::new(),
            }),
            "prompt" => look.state(&State::Prompt),
            "unreachable" => look.state(&State::Unreachable),
            "ended" => look.ended(),
            _ => Style::new(),
        };
        counts.push(Span::styled(format!("{n} {word}"), style));
    }
    let title = "harnex top  ";
    let fits = |counts: &[Span], gap: usize| {
        let counts: usize = counts.iter().map(|s| s.width()).sum();
        (width as usize).saturating_sub(title.len() + counts + gap)
    };
    // Narrow: single spaces between the counts, to leave the repository some room.
    if fits(&counts, 2) < 16 {
        counts.retain(|s| s.content != "  ");
        let mut spaced = Vec::new();
        for (i, span) in counts.into_iter().enumerate() {
            if i > 0 {
                spaced.push(Span::raw(" "));
            }
            spaced.push(span);
        }
        counts = spaced;
    }
    let room = fits(&counts, 2);
    let scope = if scope.chars().count() > room {
        truncate_repo(&scope, room.max(3))
    } else {
        scope
    };
    let gap = fits(&counts, scope.chars().count()).max(2);
    let mut spans = vec![
        Span::styled(title, look.heading()),
        Span::raw(plain(&scope)),
        Span::raw(" ".repeat(gap)),
    ];
    spans.extend(counts);
    Paragraph::new(Line::from(spans))
}

/// Column widths for a screen `width` wide: (id, agent, state, in, turn, idle, tokens, repo).
struct Widths {
    id: u16,
    agent: u16,
    state: u16,
    since: u16,
    turn: u16,
    idle: u16,
    tokens: u16,
    repo: Option<u16>,
}

impl Widths {
    fn for_width(width: u16, all: bool, id_needed: u16) -> Widths {
        let wide = width >= WIDE;
        Widths {
            id: id_needed.clamp(6, if wide { 28 } else { 16 }),
            agent: if wide { 8 } else { 6 },
            state: match width {
                WIDE.. => 26,
                100.. => 24,
                _ => 17,
            },
            since: 4,
            turn: if wide { 14 } else { 13 },
            idle: 4,
            tokens: 6,
            repo: (wide || all).then_some(if wide { 28 } else { 16 }),
        }
    }
}

fn list(frame: &mut Frame, app: &App, area: Rect, now: SystemTime) {
    let look = &app.look;
    let ordered = app.ordered();
    let prefixes: Vec<String> = ordered
        .iter()
        .map(|(_, node)| tree_prefix(look, &node.rails, node.depth, node.last))
        .collect();
    let id_needed = ordered
        .iter()
        .zip(&prefixes)
        .map(|((row, _), prefix)| (prefix.chars().count() + row.id.chars().count()) as u16)
        .max()
        .unwrap_or(2);
    let w = Widths::for_width(area.width, app.scope == Scope::All, id_needed.max(2));
    let fixed = 2 + w.id + w.agent + w.state + w.since + w.turn + w.idle + w.tokens;
    let columns = 9 + u16::from(w.repo.is_some());
    let desc = area
        .width
        .saturating_sub(fixed + w.repo.unwrap_or(0) + columns - 1);
    let mut titles = vec!["", "ID", "AGENT", "STATE", "IN", "TURN", "IDLE", "TOKENS"];
    if w.repo.is_some() {
        titles.push("REPO");
    }
    titles.push("DESCRIPTION");
    let header = Row::new(titles).style(look.heading());
    let mut selected_index = None;
    let rows: Vec<Row> = ordered
        .iter()
        .zip(&prefixes)
        .enumerate()
        .map(|(i, ((row, _), prefix))| {
            let selected = app.selected.as_deref() == Some(row.slug.as_str());
            if selected {
                selected_index = Some(i);
            }
            table_row(look, row, prefix, selected, &w, desc, now)
        })
        .collect();
    let mut widths = vec![
        Constraint::Length(1),
        Constraint::Length(w.id),
        Constraint::Length(w.agent),
        Constraint::Length(w.state),
        Constraint::Length(w.since),
        Constraint::Length(w.turn),
        Constraint::Length(w.idle),
        Constraint::Length(w.tokens),
    ];
    if let Some(repo) = w.repo {
        widths.push(Constraint::Length(repo));
    }
    widths.push(Constraint::Min(0));
    if rows.is_empty() {
        let [titles_area, rest] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(0)]).areas(area);
        frame.render_widget(
            Table::new(Vec::<Row>::new(), widths).header(header),
            titles_area,
        );
        frame.render_widget(Paragraph::new(empty_text(app)), rest);
        return;
    }
    let table = Table::new(rows, widths)
        .header(header)
        .column_spacing(1)
        .row_highlight_style(look.selected());
    let mut state = TableState::default().with_selected(selected_index);
    frame.render_stateful_widget(table, area, &mut state);
}

fn empty_text(app: &App) -> String {
    match &app.scope {
        Scope::All => "  No live harnex sessions. Start one: harnex run codex --id NAME --tmux".into(),
        Scope::Repo(_) => "  No live harnex sessions here (harnex top --all shows every repository). Start one: harnex run codex --id NAME --tmux".into(),
    }
}

/// How long ago `at` was, as the list shows it (`-` for never).
pub fn age_text(at: Option<SystemTime>, now: SystemTime) -> String {
    at.and_then(|t| now.duration_since(t).ok())
        .map(format_age)
        .unwrap_or_else(|| "-".into())
}

fn table_row<'a>(
    look: &Look,
    row: &SessionRow,
    prefix: &str,
    selected: bool,
    w: &Widths,
    desc: u16,
    now: SystemTime,
) -> Row<'a> {
    let fit = |text: &str, width: u16| fit(look, &plain(text), width);
    let age = |at: Option<SystemTime>| age_text(at, now);
    let (turn_text, turn_failed) = turn_text(row.turn.as_ref());
    let mut cells = vec![
        Span::raw(if selected { look.selection_mark() } else { " " }),
        Span::raw(fit(&format!("{prefix}{}", row.id), w.id)),
        Span::raw(fit(&row.agent, w.agent)),
        Span::styled(fit(&state_text(row), w.state), look.state(&row.state)),
        Span::raw(age(row.state_since)),
        Span::styled(
            fit(&turn_text, w.turn),
            if turn_failed {
                look.alarm()
            } else {
                Style::new()
            },
        ),
        Span::raw(if row.state.is_ended() {
            "-".to_string()
        } else {
            age(row.progress_at)
        }),
        Span::raw(row.tokens.map(tokens).unwrap_or_else(|| "-".into())),
    ];
    if let Some(width) = w.repo {
        cells.push(Span::raw(truncate_repo(
            &plain(&row.repo_root.display().to_string()),
            width as usize,
        )));
    }
    cells.push(Span::raw(fit(
        row.description.as_deref().unwrap_or(""),
        desc,
    )));
    let line = Row::new(cells);
    if row.state.is_ended() {
        line.style(look.ended())
    } else {
        line
    }
}

/// The state column: the state, and what it is blocked on, retrying, or how it ended.
fn state_text(row: &SessionRow) -> String {
    let base = match &row.state {
        State::Blocked { reason, .. } => format!("blocked {reason}"),
        State::Ended { reason, code } => match code {
            Some(code) if *code != 0 => format!("ended {reason} ({code})"),
            _ => format!("ended {reason}"),
        },
        other => other.word().to_string(),
    };
    match &row.retry {
        Some(retry) if retry.is_empty() => format!("{base} retrying"),
        Some(retry) => format!("{base} retry {retry}"),
        None => base,
    }
}

/// The turn column, and whether the turn failed.
fn turn_text(turn: Option<&Turn>) -> (String, bool) {
    let Some(turn) = turn else {
        return ("-".into(), false);
    };
    let (word, failed) = match &turn.outcome {
        Outcome::Running => ("working".to_string(), false),
        Outcome::Completed => ("done".to_string(), false),
        Outcome::Interrupted => ("interrupted".to_string(), false),
        Outcome::NeedsInput => ("asks".to_string(), false),
        Outcome::Failed(kind) => (
            match kind.as_str() {
                "rate_limited" => "failed 429".to_string(),
                "overloaded" => "failed 529".to_string(),
                "auth" => "failed auth".to_string(),
                "disconnected" => "failed net".to_string(),
                _ => "failed".to_string(),
            },
            true,
        ),
    };
    (format!("#{} {word}", turn.number), failed)
}

/// `950`, `12.3k`, `4.1M`.
fn tokens(n: u64) -> String {
    match n {
        0..1000 => n.to_string(),
        1000..1_000_000 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

fn tree_prefix(look: &Look, rails: &[bool], depth: usize, last: bool) -> String {
    let [rail, gap, middle, end] = look.tree();
    let mut out: String = rails
        .iter()
        .map(|&last| if last { gap } else { rail })
        .collect();
    if depth > 0 {
        out.push_str(if last { end } else { middle });
    }
    out
}

/// `text` in at most `width` columns, with an ellipsis where it was cut.
fn fit(look: &Look, text: &str, width: u16) -> String {
    let width = width as usize;
    if text.chars().count() <= width {
        return text.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut cut: String = text.chars().take(width - 1).collect();
    cut.push_str(look.ellipsis());
    cut
}

/// Text with control characters shown as `?`: fields come from files other programs wrote,
/// and must not reach the terminal as escape sequences.
pub fn plain(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn footer_line(app: &App, width: u16) -> Paragraph<'static> {
    let look = &app.look;
    let id = app.selected_row().map(|r| plain(&r.id)).unwrap_or_default();
    let line = match &app.mode {
        Mode::Compose(text) => Line::from(vec![
            Span::styled(format!("message to {id}: "), look.key()),
            Span::raw(plain(text)),
            Span::raw(if look.unicode { "▏" } else { "_" }),
            Span::raw("   Enter sends, Esc cancels"),
        ]),
        Mode::ConfirmStop(_) => Line::from(vec![
            Span::styled(format!("Stop {id}?"), look.alarm()),
            Span::raw(" y stops it, any other key cancels"),
        ]),
        Mode::Help | Mode::Page(_) => Line::from(vec![
            Span::styled(look.arrows(), look.key()),
            Span::raw(" scroll  "),
            Span::styled("Esc", look.key()),
            Span::raw(" back  "),
            Span::styled("q", look.key()),
            Span::raw(" back"),
        ]),
        Mode::List => match &app.note {
            Some(note) => Line::from(Span::styled(
                plain(&note.text),
                if note.error {
                    look.alarm()
                } else {
                    Style::new()
                },
            )),
            None => keys_line(app, width),
        },
    };
    Paragraph::new(line)
}

/// The keys that apply to the selected row, as many as fit, `?` and `q` always.
fn keys_line(app: &App, width: u16) -> Line<'static> {
    let look = &app.look;
    let row = app.selected_row();
    let live = row.is_some_and(|r| r.entry.is_some());
    let applies = |key: &str| match key {
        "Enter" | "s" | "x" => live,
        "e" | "l" => row.is_some(),
        "a" => row.is_some_and(|r| live && matches!(r.state, State::Blocked { .. })),
        "t" => row.is_some_and(|r| live && r.tmux.is_some()),
        "d" => row.is_some_and(|r| r.state.is_ended()),
        _ => true,
    };
    let mut items: Vec<(String, String)> = vec![(look.arrows().to_string(), "select".into())];
    for (key, what) in TABLE_KEYS.iter().filter(|(k, _)| applies(k)) {
        let what = match (*key, row.map(|r| &r.state)) {
            ("a", Some(State::Blocked { keys, .. })) if !keys.is_empty() => {
                format!("answer ({})", keys.join(","))
            }
            _ => what.to_string(),
        };
        items.push((key.to_string(), what));
    }
    // Leave out items from the middle until the line fits; the first and the last two stay.
    let item_width = |(k, w): &(String, String)| k.chars().count() + 1 + w.chars().count() + 2;
    while items.iter().map(item_width).sum::<usize>() > width as usize && items.len() > 3 {
        items.remove(items.len() - 3);
    }
    let mut spans = Vec::new();
    for (key, what) in items {
        spans.push(Span::styled(key, look.key()));
        spans.push(Span::raw(format!(" {what}  ")));
    }
    Line::from(spans)
}

fn overlay_block(look: &Look, title: String) -> Block<'static> {
    Block::default()
        .borders(Borders::ALL)
        .border_set(look.border())
        .title(title)
}

fn help(frame: &mut Frame, look: &Look, area: Rect) {
    let mut lines: Vec<Line> = vec![Line::from(vec![
        Span::styled(format!("{:<7}", look.arrows()), look.key()),
        Span::raw("select a session (also j/k, Home/End, PgUp/PgDn)"),
    ])];
    let meaning = [
        "its screen, live (the emulated pane)",
        "send it a message: type, Enter sends, Esc cancels",
        "answer its dialog with the keys the dialog names",
        "stop it (asks first: y stops)",
        "its event log",
        "its rendered output log (logs --plain)",
        "switch tmux to its window (run --tmux sessions)",
        "remove an ended session from the list",
        "this page",
        "quit (Ctrl-C too)",
    ];
    for ((key, _), what) in TABLE_KEYS.iter().zip(meaning) {
        lines.push(Line::from(vec![
            Span::styled(format!("{key:<7}"), look.key()),
            Span::raw(what),
        ]));
    }
    lines.push(Line::raw(""));
    lines.push(Line::raw(
        "IN: time in this state; TURN: the newest turn and how it ended; IDLE: time since",
    ));
    lines.push(Line::raw(
        "the screen last made real progress; TOKENS: as the agent's records count them.",
    ));
    let height = (lines.len() as u16 + 2).min(area.height);
    let width = area.width.min(86);
    let rect = Rect::new(area.x, area.y, width, height);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).block(overlay_block(look, " keys ".into())),
        rect,
    );
}

fn page_view(frame: &mut Frame, look: &Look, page: &Page, area: Rect) {
    let what = match page.kind {
        PageKind::Screen => "screen",
        PageKind::Events => "events",
        PageKind::Log => "log",
    };
    let title = format!(" {what} of {} ", plain(&page.title));
    let inner_height = area.height.saturating_sub(2) as usize;
    let end = page.lines.len().saturating_sub(page.back);
    let start = match page.kind {
        // A screen is shown from its top; a log or events from their end.
        PageKind::Screen if page.back == 0 => 0,
        _ => end.saturating_sub(inner_height),
    };
    let shown: Vec<Line> = page.lines[start..end.max(start)]
        .iter()
        .map(|l| Line::raw(plain(l)))
        .collect();
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(shown).block(overlay_block(look, title)),
        area,
    );
}

/// How long until some age on screen changes its text (`42s` → `43s`, `5m` → `6m`): the next
/// redraw the clock alone calls for. `None` when nothing on screen shows an age.
pub fn next_tick(app: &App, now: SystemTime) -> Option<Duration> {
    let ages = app.rows.iter().flat_map(|r| {
        let progress = (!r.state.is_ended()).then_some(r.progress_at).flatten();
        [r.state_since, progress]
    });
    ages.flatten()
        .filter_map(|at| now.duration_since(at).ok())
        .map(|age| {
            let step = match age.as_secs() {
                0..60 => 1,
                60..3600 => 60,
                3600..86400 => 3600,
                _ => 86400,
            };
            let into = age.as_millis() as u64 % (step * 1000);
            Duration::from_millis(step * 1000 - into)
        })
        .min()
}

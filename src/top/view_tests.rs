//! Frames of the dashboard drawn with ratatui's test backend, compared with the text snapshots in
//! tests/fixtures/top/ (`UPDATE_SNAPSHOTS=1` rewrites them; review the diff). The sessions are
//! fake status answers and an exit record, as the supervisor writes them.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::style::{Color, Modifier};
use serde_json::{Value, json};

use super::app::{App, Mode};
use super::keys::Action;
use super::look::Look;
use super::model::{Scope, SessionRow};
use crate::registry::{ExitRecord, RegistryEntry};

/// The moment every frame is drawn at.
fn now() -> SystemTime {
    crate::time::parse_rfc3339("2026-12-03T12:00:00Z").unwrap()
}

fn at(seconds_ago: u64) -> String {
    crate::time::rfc3339(now() - Duration::from_secs(seconds_ago))
}

fn entry(
    id: &str,
    cli: &str,
    repo: &str,
    description: Option<&str>,
    started: u64,
) -> RegistryEntry {
    serde_json::from_value(json!({
        "session_id": format!("run-{id}"), "id": id, "cli": cli, "repo_root": repo,
        "repo_key": "0123456789abcdef", "pid": 100, "host": "127.0.0.1", "port": 43001,
        "token": "secret", "started_at": at(started), "description": description,
    }))
    .unwrap()
}

/// A `/status` answer with the fields the dashboard reads.
fn status(state: &str, since: u64, progress: u64, extra: Value) -> Value {
    let mut status = json!({
        "agent_state": state, "state_since": at(since), "last_progress_at": at(progress),
        "turn": {"submitted": 0, "started": 0, "completed": 0}, "last_turn": null,
        "usage": null, "retrying": null, "parent": null, "parent_session_id": null,
    });
    for (k, v) in extra.as_object().unwrap() {
        status[k] = v.clone();
    }
    status
}

/// Six sessions: a tree of three, one retrying, one that ended, one whose API is silent.
fn sessions() -> Vec<SessionRow> {
    let repo = "/home/dev/src/harnex";
    let lead = SessionRow::from_status(
        &entry(
            "lead",
            "/usr/local/bin/codex",
            repo,
            Some("refactor the event reader"),
            900,
        ),
        &status(
            "busy",
            42,
            3,
            json!({"turn": {"submitted": 3, "started": 3, "completed": 2},
                "last_turn": {"turn": 2, "outcome": "completed", "source": "record", "key": "k"},
                "usage": {"total_tokens": 48213}}),
        ),
    );
    let impl1 = SessionRow::from_status(
        &entry("impl-1", "claude", repo, Some("tests for torn rows"), 600),
        &status(
            "blocked",
            75,
            75,
            json!({"parent": "lead", "parent_session_id": "run-lead",
                "input_state": {"state": "workspace-trust", "input_ready": false,
                    "accept_keys": ["Enter"]},
                "dialog": {"reason": "workspace-trust", "accept_keys": ["Enter"],
                    "enter_is_safe": true}}),
        ),
    );
    let review = SessionRow::from_status(
        &entry(
            "review",
            "codex",
            repo,
            Some("review the diff of impl-1"),
            500,
        ),
        &status(
            "prompt",
            130,
            130,
            json!({"parent": "lead", "parent_session_id": "run-lead",
                "turn": {"submitted": 1, "started": 1, "completed": 1},
                "last_turn": {"turn": 1, "outcome": "failed",
                    "error": {"kind": "rate_limited", "message": "429"},
                    "source": "record", "key": "k"},
                "usage": {"input_tokens": 1_150_000, "output_tokens": 52_000}}),
        ),
    );
    let solo = SessionRow::from_status(
        &entry("docs", "codex", "/home/dev/src/site", None, 4000),
        &status(
            "busy",
            3700,
            20,
            json!({"retrying": {"attempt": 2, "max": 5, "source": "record"},
                "turn": {"submitted": 1, "started": 1, "completed": 0}}),
        ),
    );
    let gone_entry = entry("old-task", "codex", repo, Some("finished earlier"), 7200);
    let record: ExitRecord = serde_json::from_value(json!({
        "ok": false, "id": "old-task", "cli": "codex", "session_id": "run-old-task",
        "repo_root": repo, "exit_code": 1, "started_at": at(7200), "exited_at": at(300),
        "injected_count": 2, "reason": "failure",
    }))
    .unwrap();
    let gone = SessionRow::from_status(
        &gone_entry,
        &status(
            "prompt",
            400,
            400,
            json!({"turn": {"submitted": 2, "started": 2, "completed": 2},
            "last_turn": {"turn": 2, "outcome": "completed", "source": "screen", "key": "k"}}),
        ),
    )
    .ended(Some(&record), now());
    let mut silent = SessionRow::from_status(
        &entry("silent", "bash", repo, None, 50),
        &status("prompt", 50, 50, json!({})),
    );
    silent.state = super::model::State::Unreachable;
    vec![lead, impl1, review, solo, gone, silent]
}

fn app(look: Look, scope: Scope) -> App {
    let mut app = App::new(scope, look, sessions());
    // Select the blocked session: the footer offers its dialog's keys.
    app.selected = app
        .rows
        .iter()
        .find(|r| r.id == "impl-1")
        .map(|r| r.slug.clone());
    app
}

fn unicode() -> Look {
    Look {
        unicode: true,
        color: true,
    }
}

fn draw(app: &mut App, width: u16, height: u16) -> Terminal<TestBackend> {
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| super::view::draw(frame, app, now()))
        .unwrap();
    terminal
}

/// Compare `text` with the snapshot `name` (or write it with `UPDATE_SNAPSHOTS=1`).
fn snapshot(name: &str, text: &str) {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/top")
        .join(format!("{name}.txt"));
    if std::env::var_os("UPDATE_SNAPSHOTS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}; write it with UPDATE_SNAPSHOTS=1 and review it",
            path.display()
        )
    });
    assert_eq!(
        text,
        want,
        "frame differs from {} (UPDATE_SNAPSHOTS=1 rewrites it)",
        path.display()
    );
}

fn text(app: &mut App, width: u16, height: u16) -> String {
    super::frame_text(app, width, height, now())
}

#[test]
fn the_list_at_80_by_24() {
    let mut app = app(unicode(), Scope::Repo("/home/dev/src/harnex".into()));
    let frame = text(&mut app, 80, 24);
    snapshot("list-80x24", &frame);
    let lines: Vec<&str> = frame.lines().collect();
    assert_eq!(lines.len(), 24);
    assert!(
        lines[0].ends_with("6 sessions 2 busy 1 blocked 1 prompt 1 unreachable 1 ended"),
        "{frame}"
    );
    // The tree: both children under their parent, the blocked one selected.
    let lead = lines.iter().position(|l| l.starts_with("  lead ")).unwrap();
    assert!(lines[lead + 1].starts_with("▶ ├─impl-1"), "{frame}");
    assert!(lines[lead + 2].starts_with("  └─review"), "{frame}");
    assert!(frame.contains("blocked workspac…"), "{frame}");
    assert!(frame.contains("#1 failed 429"), "{frame}");
    assert!(frame.contains("ended failure (1)"), "{frame}");
    assert!(frame.contains("busy retry 2/5"), "{frame}");
    assert!(lines[23].contains("a answer (Enter)"), "{frame}");
    assert!(lines.iter().all(|l| l.chars().count() <= 80));
}

#[test]
fn the_list_at_160_by_48_shows_repositories_and_whole_states() {
    let mut app = app(unicode(), Scope::All);
    let frame = text(&mut app, 160, 48);
    snapshot("list-160x48", &frame);
    assert!(frame.contains("all repositories"), "{frame}");
    assert!(frame.contains("blocked workspace-trust "), "{frame}");
    assert!(frame.contains("/home/dev/src/site"), "{frame}");
    assert!(frame.contains("1.2M"), "{frame}");
    assert!(frame.contains("48.2k"), "{frame}");
    assert!(frame.contains("refactor the event reader"), "{frame}");
}

#[test]
fn ascii_draws_the_tree_and_boxes_without_unicode() {
    let look = Look {
        unicode: false,
        color: false,
    };
    let mut app = app(look, Scope::Repo("/home/dev/src/harnex".into()));
    let frame = text(&mut app, 80, 24);
    snapshot("list-80x24-ascii", &frame);
    app.handle(Action::Help);
    let help = text(&mut app, 80, 24);
    snapshot("help-80x24-ascii", &help);
    for frame in [&frame, &help] {
        assert!(frame.is_ascii(), "{frame}");
    }
    assert!(frame.contains("|-impl-1"), "{frame}");
    assert!(frame.contains("`-review"), "{frame}");
}

#[test]
fn no_color_draws_without_colours_but_keeps_ended_rows_dim() {
    let colours = |look: Look| {
        let mut app = app(look, Scope::Repo("/home/dev/src/harnex".into()));
        let terminal = draw(&mut app, 80, 24);
        let buffer = terminal.backend().buffer().clone();
        let fg: Vec<Color> = buffer
            .content
            .iter()
            .map(|c| c.fg)
            .filter(|c| *c != Color::Reset)
            .collect();
        let text = super::buffer_text(&buffer);
        let ended = text.lines().position(|l| l.contains("old-task")).unwrap() as u16;
        let ended_dim = (0..80).all(|x| buffer[(x, ended)].modifier.contains(Modifier::DIM));
        (fg, ended_dim, buffer)
    };
    let (fg, dim, buffer) = colours(Look {
        unicode: true,
        color: false,
    });
    assert!(fg.is_empty(), "NO_COLOR drew colours: {fg:?}");
    assert!(dim, "{buffer:?}");
    let (fg, _, _) = colours(unicode());
    assert!(
        fg.contains(&Color::Yellow) && fg.contains(&Color::Magenta),
        "{fg:?}"
    );
}

#[test]
fn the_message_line_and_the_stop_question_take_the_footer() {
    let mut app = app(unicode(), Scope::Repo("/home/dev/src/harnex".into()));
    app.handle(Action::Compose);
    for c in "run the tests".chars() {
        app.handle(Action::Type(c));
    }
    let frame = text(&mut app, 80, 24);
    let footer = frame.lines().last().unwrap();
    assert!(
        footer.starts_with("message to impl-1: run the tests▏"),
        "{footer}"
    );
    assert!(footer.contains("Enter sends, Esc cancels"), "{footer}");
    app.handle(Action::Back);
    app.handle(Action::AskStop);
    assert_eq!(app.mode, Mode::ConfirmStop(app.selected.clone().unwrap()));
    let frame = text(&mut app, 80, 24);
    assert!(
        frame
            .lines()
            .last()
            .unwrap()
            .starts_with("Stop impl-1? y stops it"),
        "{frame}"
    );
}

#[test]
fn no_sessions_says_how_to_start_one() {
    let app = App::new(Scope::Repo("/r".into()), unicode(), Vec::new());
    let frame = super::once(app, 80, now());
    assert_eq!(frame.lines().count(), 4, "{frame}");
    assert!(frame.contains("No live harnex sessions here"), "{frame}");
    assert!(frame.contains("0 sessions"), "{frame}");
}

#[test]
fn the_clock_wakes_the_loop_only_when_an_age_on_screen_changes() {
    let mut rows = sessions();
    rows.retain(|r| r.id == "old-task");
    // Ended 5 minutes ago: its state age turns 6m in a minute at most.
    let app = App::new(Scope::All, unicode(), rows);
    let tick = super::view::next_tick(&app, now()).unwrap();
    assert!(
        tick <= Duration::from_secs(60) && tick > Duration::from_secs(1),
        "{tick:?}"
    );
    let empty = App::new(Scope::All, unicode(), Vec::new());
    assert_eq!(super::view::next_tick(&empty, now()), None);
}

#[test]
fn tiny_terminals_draw_without_panicking() {
    for (width, height) in [(1, 1), (10, 3), (20, 5), (40, 10), (79, 23)] {
        let mut app = app(unicode(), Scope::All);
        let frame = text(&mut app, width, height);
        assert_eq!(frame.lines().count(), height as usize);
        app.handle(Action::Help);
        text(&mut app, width, height);
        app.mode = Mode::Page(super::app::Page {
            kind: super::app::PageKind::Events,
            slug: "s".into(),
            title: "impl-1".into(),
            lines: (0..100).map(|i| format!("line {i}")).collect(),
            back: 7,
        });
        let frame = text(&mut app, width, height);
        if height >= 10 {
            // The events page ends 7 lines above the last one.
            assert!(
                frame.contains("line 92") && !frame.contains("line 93"),
                "{frame}"
            );
        }
    }
}

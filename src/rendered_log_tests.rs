use super::*;
use crate::replay::Cast;

fn fixture(name: &str) -> Cast {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/agents")
        .join(name);
    Cast::load(&path).unwrap()
}

/// The recording's output, as a transcript holds it.
fn transcript(cast: &Cast) -> Vec<u8> {
    cast.events
        .iter()
        .filter(|e| e.kind == 'o')
        .flat_map(|e| e.data.bytes())
        .collect()
}

fn render(bytes: &[u8], (cols, rows): (u16, u16), chunk: usize) -> Vec<String> {
    let mut log = RenderedLog::new(cols, rows);
    let mut out = Vec::new();
    for piece in bytes.chunks(chunk) {
        log.feed(piece, &mut |row| out.push(row.to_string()));
    }
    log.flush_screen(&mut |row| out.push(row.to_string()));
    out
}

fn render_fixture(name: &str) -> Vec<String> {
    let cast = fixture(name);
    render(&transcript(&cast), (cast.width, cast.height), 4096)
}

fn count(rows: &[String], needle: &str) -> usize {
    rows.iter().filter(|r| r.contains(needle)).count()
}

#[test]
fn claude_s_answer_is_one_readable_row() {
    // Claude Code draws on the alternate screen with cursor moves: the answer lives only in the
    // frame it leaves at /exit.
    let rows = render_fixture("claude-2.1.328-turn-120x40.cast");
    let answer = "● Done. The mock agent finished the task.";
    assert_eq!(
        rows.iter().filter(|r| r.as_str() == answer).count(),
        1,
        "{rows:#?}"
    );
    assert_eq!(
        count(&rows, "❯ Summarize the repository layout in one line."),
        1,
        "{rows:#?}"
    );
    // After the alternate screen: the resume hint on the normal screen.
    assert_eq!(count(&rows, "--resume b6f9ae22"), 1, "{rows:#?}");
    // The spinner verb line and its timer were drawn dozens of times in place.
    assert!(count(&rows, "esc to interrupt") <= 1, "{rows:#?}");
    assert!(count(&rows, "Cooked for") <= 1, "{rows:#?}");
}

#[test]
fn codex_s_answer_is_one_readable_row_and_its_redraws_are_not_run_together() {
    let rows = render_fixture("codex-0.169.0-turn-120x40.cast");
    assert_eq!(
        rows.iter()
            .filter(|r| r.as_str() == "• Done. The mock agent finished the task.")
            .count(),
        1,
        "{rows:#?}"
    );
    assert_eq!(
        count(&rows, "› Summarize the repository layout in one line."),
        1,
        "{rows:#?}"
    );
    assert!(count(&rows, "Working (") <= 1, "{rows:#?}");
    assert!(
        rows.iter()
            .all(|r| !r.contains("Ask Codex to do anything←")),
        "screen redraws run together: {rows:#?}"
    );
    assert_eq!(count(&rows, "codex resume 01a1fd17"), 1, "{rows:#?}");
}

#[test]
fn the_rows_do_not_depend_on_how_the_transcript_is_cut_into_chunks() {
    for name in [
        "claude-2.1.328-turn-120x40.cast",
        "codex-0.169.0-turn-120x40.cast",
        "claude-2.1.328-dialogs-100x30.cast",
    ] {
        let cast = fixture(name);
        let bytes = transcript(&cast);
        let size = (cast.width, cast.height);
        let whole = render(&bytes, size, bytes.len());
        for chunk in [1, 3, 7, 4096] {
            assert_eq!(render(&bytes, size, chunk), whole, "{name}, chunk {chunk}");
        }
    }
}

#[test]
fn lines_that_scroll_off_come_out_in_order() {
    let text: String = (1..=12).map(|n| format!("line {n}\r\n")).collect();
    let rows = render(text.as_bytes(), (20, 5), 5);
    let want: Vec<String> = (1..=12).map(|n| format!("line {n}")).collect();
    assert_eq!(rows, want);
}

#[test]
fn a_spinner_redrawn_in_place_leaves_only_what_stays() {
    let mut bytes = b"> task\r\n".to_vec();
    for (n, spin) in "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏".chars().cycle().take(500).enumerate() {
        bytes.extend(format!("\r\x1b[2K{spin} Working ({}s)", n / 10).as_bytes());
    }
    bytes.extend(b"\r\x1b[2Kanswer: done\r\n> ");
    assert_eq!(
        render(&bytes, (40, 10), 64),
        ["> task", "answer: done", ">"]
    );
}

#[test]
fn a_row_repeated_as_it_scrolls_is_printed_once() {
    let bytes = b"a\r\nsame\r\nsame\r\nsame\r\nb\r\n\r\n\r\n\r\nc\r\n";
    assert_eq!(render(bytes, (10, 2), 4), ["a", "same", "b", "", "c"]);
}

#[test]
fn a_full_screen_frame_redrawn_after_each_wipe_is_printed_once() {
    let frame = "\x1b[2J\x1b[Hheader\r\n\r\n╭──╮\r\n│> │\r\n╰──╯";
    let mut bytes = frame.repeat(50).into_bytes();
    bytes.extend("\x1b[2J\x1b[Hheader\r\nthe answer\r\n\r\n╭──╮\r\n│> │\r\n╰──╯".as_bytes());
    let rows = render(&bytes, (20, 8), 16);
    assert_eq!(rows, ["header", "╭──╮", "│> │", "╰──╯", "the answer"]);
}

#[test]
fn what_the_alternate_screen_showed_is_kept_when_it_is_left() {
    let bytes = b"$ agent\r\n\x1b[?1049h\x1b[H\x1b[5;1Hthe answer\x1b[9;1H> \x1b[?1049lbye\r\n";
    assert_eq!(
        render(bytes, (20, 10), 3),
        ["the answer", ">", "$ agent", "bye"]
    );
}

#[test]
fn rows_printed_from_the_screen_are_not_printed_again_when_they_scroll_off() {
    let mut log = RenderedLog::new(20, 3);
    let mut out = Vec::new();
    log.feed(b"one\r\ntwo\r\n", &mut |r| out.push(r.to_string()));
    // The output pauses (following): the screen's rows are printed.
    log.flush_screen(&mut |r| out.push(r.to_string()));
    log.feed(b"three\r\nfour\r\nfive\r\n", &mut |r| {
        out.push(r.to_string())
    });
    log.flush_screen(&mut |r| out.push(r.to_string()));
    assert_eq!(out, ["one", "two", "three", "four", "five"]);
}

#[test]
fn no_control_character_reaches_the_reader_s_terminal() {
    // U+009B is CSI to some terminals, and U+0085 a newline: the emulator keeps C1 controls out
    // of its cells, so the rows carry none.
    let rows = render("a\u{9b}31mb\u{85}c\r\n".as_bytes(), (20, 5), 2);
    assert_eq!(rows, ["a31mbc"]);
}

#[test]
fn claude_s_earlier_turns_that_moved_up_its_screen_are_kept() {
    // A harnex transcript (raw PTY bytes) of three turns answered with 10, 12 and 14 lines:
    // Claude Code redraws its full-screen frame with only the cells that changed, so earlier
    // turns leave the screen without the terminal ever scrolling.
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/agents/claude-2.1.328-three-turns-120x40.log");
    let bytes = std::fs::read(path).unwrap();
    for chunk in [1, 7, 64 * 1024] {
        let rows = render(&bytes, (120, 40), chunk);
        for (turn, lines) in [(1, 10), (2, 12), (3, 14)] {
            let prompt = format!("❯ turn {turn} [lines={lines}]");
            assert!(
                count(&rows, &prompt) >= 1,
                "chunk {chunk}: {prompt}: {rows:#?}"
            );
            for k in 1..=lines {
                let line = format!("  Line {k} of the long answer ({lines} lines).");
                let seen = rows.iter().filter(|r| **r == line).count();
                assert_eq!(seen, 1, "chunk {chunk}: {line:?}: {rows:#?}");
            }
        }
        assert!(count(&rows, "esc to interrupt") <= 1, "{rows:#?}");
    }
}

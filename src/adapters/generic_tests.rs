//! The generic adapter on hand-drawn screens of shells, REPLs and the common dialog shapes, and
//! on the real Codex and Claude Code recordings read as if harnex knew neither.

use std::path::PathBuf;

use super::*;
use crate::replay::{Cast, replay};
use crate::vocab::AgentState::{self, Blocked, Prompt, Starting};

/// The cursor at the end of the last row.
fn at_end(rows: &[&str]) -> ScreenView {
    let last = rows.len() - 1;
    let col = rows[last].chars().count();
    ScreenView::for_test(rows, (last as u16, col as u16), "")
}

fn view(before_cursor: &str) -> ScreenView {
    at_end(&[before_cursor])
}

fn dialog_of(verdict: &Verdict) -> &Dialog {
    match &verdict.observation {
        Observation::Blocked(dialog) => dialog,
        other => panic!("not blocked: {other:?} ({verdict:?})"),
    }
}

#[test]
fn prompts_are_recognised() {
    for text in ["user@host:~$ ", "root# ", "% ", "> ", ">>> ", "› ", "❯ "] {
        let verdict = Generic.classify(&view(text));
        assert_eq!(verdict.observation, Observation::Prompt, "{text:?}");
        assert_eq!(verdict.rule, "generic.prompt-marker");
        assert!(!verdict.settled, "a prompt waits for a quiet screen");
    }
    assert!(Generic.classify(&view(">>> ")).evidence.contains(">>>"));
}

#[test]
fn plain_output_is_not_a_prompt() {
    for text in ["working...", "", "$", "#", "50% done", "#### 80%", "a > b"] {
        let verdict = Generic.classify(&view(text));
        assert_eq!(verdict.observation, Observation::Unknown, "{text:?}");
    }
    // A command running: the shell's line above, the cursor on an empty line below.
    let running = ScreenView::for_test(&["$ sleep 5", ""], (1, 0), "");
    assert_eq!(Generic.classify(&running).observation, Observation::Unknown);
}

#[test]
fn an_input_line_is_found_from_the_start_of_the_cursors_line() {
    let cases = [
        // Placeholder text after the cursor (Codex-like).
        (
            ScreenView::for_test(&["", "› Ask anything", "", "  ? for shortcuts"], (1, 2), ""),
            "›",
        ),
        // Text typed at a prompt.
        (view("$ echo hi"), "$"),
        (ScreenView::for_test(&["› fix the bug"], (0, 13), ""), "›"),
        // An inquirer-style question that takes text.
        (view("? Project name: my-app"), "?"),
        // Inside a box border (Gemini-like).
        (
            ScreenView::for_test(
                &[
                    "╭──────────────╮",
                    "│ >   Type your message…   │",
                    "╰──────────────╯",
                ],
                (1, 4),
                "",
            ),
            ">",
        ),
    ];
    for (view, glyph) in cases {
        let typed = prompt_marker_before_cursor(&view).is_none();
        let verdict = Generic.classify(&view);
        assert_eq!(verdict.observation, Observation::Prompt, "{:?}", view.rows);
        assert!(verdict.evidence.contains(glyph), "{}", verdict.evidence);
        if typed {
            assert_eq!(verdict.rule, "generic.input-line", "{:?}", view.rows);
        }
    }
}

#[test]
fn a_box_drawn_input_area_around_the_cursor_is_a_prompt() {
    // OpenCode-like: a thick left border on the input rows, no glyph.
    let bordered = ScreenView::for_test(
        &[
            "",
            "┃",
            "┃  Ask anything… \"Fix a TODO\"",
            "┃",
            "┃  Build · Mock Model",
        ],
        (2, 3),
        "",
    );
    // Rules above and below an empty input row.
    let ruled = ScreenView::for_test(
        &["─".repeat(40).as_str(), "  ", "─".repeat(40).as_str()],
        (1, 2),
        "",
    );
    for view in [bordered, ruled] {
        let verdict = Generic.classify(&view);
        assert_eq!(verdict.observation, Observation::Prompt, "{:?}", view.rows);
        assert_eq!(verdict.rule, "generic.input-box");
    }
    // A table row the cursor ends on is output, not an input area.
    let table = at_end(&["│ name │ size │"]);
    assert_eq!(Generic.classify(&table).observation, Observation::Unknown);
}

#[test]
fn a_numbered_list_with_a_highlighted_yes_is_answered_by_enter() {
    let screens = [
        // The fake agent's trust dialog.
        at_end(&[
            "Trust this folder?",
            "",
            "› 1. Yes, continue",
            "  2. No, exit",
            "",
            "Press enter to continue",
        ]),
        // Copilot-like command approval.
        ScreenView::for_test(
            &[
                "Do you want to run this command?",
                "",
                "❯ 1. Yes",
                "  2. Yes, and approve `touch` for the rest of the running session",
                "  3. No, and tell Copilot what to do differently (Esc)",
                "",
                "Confirm with number keys or ↑↓ keys and Enter, Cancel with Esc",
            ],
            (0, 0),
            "",
        ),
        // Gemini-like, radio marks inside a box.
        ScreenView::for_test(
            &[
                "╭─────────────────────────────────────────╮",
                "│ Allow execution of [Shell]?             │",
                "│                                         │",
                "│ ● 1. Allow once                         │",
                "│ ○ 2. Allow for this session             │",
                "│ ○ 3. No, suggest changes (esc)          │",
                "╰─────────────────────────────────────────╯",
            ],
            (3, 2),
            "",
        ),
        // `> 1)` numbering.
        at_end(&["Approve the plan?", "> 1) Approve", "  2) Reject"]),
    ];
    for view in screens {
        let verdict = Generic.classify(&view);
        let dialog = dialog_of(&verdict);
        assert_eq!(dialog.reason, "generic-choice", "{:?}", view.rows);
        assert_eq!(dialog.accept_keys, ["Enter"], "{:?}", view.rows);
        assert!(dialog.enter_is_safe, "{:?}", view.rows);
        assert_eq!(verdict.rule, "generic.choice-list");
        assert!(
            verdict.tentative,
            "a dialog read from its shape waits for quiet"
        );
    }
}

#[test]
fn a_highlighted_no_is_answered_by_the_arrows_to_yes() {
    // Claude-like: the default declines, the options carry no numbers.
    let view = ScreenView::for_test(
        &[
            " Do you trust the files in this folder?",
            "",
            " ❯ No, exit",
            "   Yes, I trust this folder",
            "",
            " Enter to confirm · Esc to cancel",
        ],
        (5, 0),
        "",
    );
    let verdict = Generic.classify(&view);
    let dialog = dialog_of(&verdict);
    assert_eq!(dialog.reason, "generic-choice");
    assert_eq!(dialog.accept_keys, ["Down", "Enter"]);
    assert!(!dialog.enter_is_safe, "Enter would pick \"No, exit\"");
    assert!(verdict.evidence.contains("trust"), "{}", verdict.evidence);
}

#[test]
fn yes_no_questions_name_their_answer() {
    let cases = [
        ("Overwrite config.toml? [y/N] ", vec!["y", "Enter"], false),
        ("Do you want to continue? [Y/n] ", vec!["Enter"], true),
        ("? Install the dependencies? (Y/n) ", vec!["Enter"], true),
        ("Proceed (yes/no)? ", vec!["y", "Enter"], false),
    ];
    for (text, keys, safe) in cases {
        let verdict = Generic.classify(&view(text));
        let dialog = dialog_of(&verdict);
        assert_eq!(dialog.reason, "generic-yes-no", "{text:?}");
        assert_eq!(dialog.accept_keys, keys, "{text:?}");
        assert_eq!(dialog.enter_is_safe, safe, "{text:?}");
        assert_eq!(verdict.rule, "generic.yes-no");
    }
}

#[test]
fn shells_and_output_that_mention_dialogs_are_not_blocked() {
    let screens = [
        // A question echoed by a command, then the shell's prompt.
        at_end(&["$ echo 'Proceed? (y/n)'", "Proceed? (y/n)", "$ "]),
        // Text typed after the question: the cursor is not waiting after it.
        view("Proceed? (y/n) is what it asks"),
        // A y/n question and then the prompt on the same line.
        view("Continue? [Y/n] user@host:~$ "),
        // Output that mentions allow, the cursor on the next line.
        at_end(&[
            "Allow list updated for 3 hosts.",
            "Do you want more? See --help.",
            "",
        ]),
        // A list printed earlier, the prompt below it.
        at_end(&["Trust this folder?", "› 1. Yes", "  2. No", "$ "]),
        // A plain numbered list: nothing highlighted.
        at_end(&["Steps:", "1. build", "2. test", "3. ship", ""]),
        // A quoted list: every row marked.
        at_end(&["> 1. first", "> 2. second", ""]),
        // A list far above the screen's last output.
        at_end(&[
            "Allow this?",
            "› 1. Yes",
            "  2. No",
            "a",
            "b",
            "c",
            "d",
            "e",
            "f",
            "g",
            "working",
        ]),
        // Python's prompt.
        at_end(&[
            "Python 3.12.3",
            ">>> print('Allow? (y/n)')",
            "Allow? (y/n)",
            ">>> ",
        ]),
    ];
    for view in screens {
        let verdict = Generic.classify(&view);
        assert!(
            !matches!(verdict.observation, Observation::Blocked(_)),
            "{:?} → {verdict:?}",
            view.rows
        );
    }
}

fn load(name: &str) -> Cast {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/agents")
        .join(name);
    Cast::load(&path).expect("fixture loads")
}

/// States up to the first `/exit` typed.
fn states_before_exit(cast: &Cast) -> (Vec<AgentState>, crate::replay::Replay) {
    let result = replay(cast, &Generic);
    let exit = cast
        .events
        .iter()
        .find(|e| e.kind == 'i' && e.data.contains("/exit"))
        .map_or(f64::INFINITY, |e| e.time);
    (result.states_until(exit), result)
}

#[test]
fn the_codex_trust_dialog_read_generically_is_blocked_and_enter_answers_it() {
    let (states, result) = states_before_exit(&load("codex-0.169.0-trust-dialog-100x30.cast"));
    assert_eq!(states[..2], [Starting, Blocked], "{:#?}", result.steps);
    let dialog = result.steps[0].dialog.clone().expect("a dialog");
    assert_eq!(dialog.reason, "generic-choice");
    assert_eq!(dialog.accept_keys, ["Enter"]);
    assert!(dialog.enter_is_safe);
    assert!(
        states.contains(&Prompt),
        "a prompt after the Enter: {states:?}"
    );
}

#[test]
fn the_claude_dialogs_read_generically_are_blocked_with_the_arrows_to_yes() {
    let (states, result) = states_before_exit(&load("claude-2.1.328-dialogs-100x30.cast"));
    assert_eq!(states[..2], [Starting, Blocked], "{:#?}", result.steps);
    let dialogs: Vec<Dialog> = result
        .steps
        .iter()
        .filter_map(|s| s.dialog.clone())
        .collect();
    assert!(!dialogs.is_empty());
    // "No, exit" is highlighted first: the arrow to yes; once Down moved it, Enter.
    assert_eq!(dialogs[0].accept_keys, ["Down", "Enter"], "{dialogs:?}");
    assert!(!dialogs[0].enter_is_safe);
    for dialog in &dialogs {
        assert_eq!(dialog.reason, "generic-choice");
        assert_eq!(dialog.enter_is_safe, dialog.accept_keys == ["Enter"]);
    }
    let declines = dialogs.iter().filter(|d| !d.enter_is_safe).count();
    assert_eq!(declines, 2, "the trust and the bypass dialogs: {dialogs:?}");
    assert!(
        states.contains(&Prompt),
        "a prompt after the dialogs: {states:?}"
    );
}

/// A screen captured from a real CLI (tests/fixtures/screens/*.json).
fn captured(name: &str) -> ScreenView {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/screens")
        .join(name);
    let text = std::fs::read_to_string(&path).expect("fixture");
    let fixture: serde_json::Value = serde_json::from_str(&text).expect("fixture JSON");
    let rows: Vec<&str> = fixture["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r.as_str().expect("a row"))
        .collect();
    let at = |key: &str| fixture["cursor"][key].as_u64().expect("cursor") as u16;
    let title = fixture["title"].as_str().unwrap_or_default();
    ScreenView::for_test(&rows, (at("row"), at("col")), title)
}

#[test]
fn real_trust_and_approval_dialogs_of_unknown_clis_are_blocked_and_enter_answers_them() {
    let trust = "Do you trust the files in this folder?";
    for (name, question) in [
        ("gemini-0.61.0-trust.json", trust),
        ("copilot-1.0.102-trust.json", trust),
        (
            "copilot-1.0.102-permission.json",
            "Do you want to run this command?",
        ),
    ] {
        let verdict = Generic.classify(&captured(name));
        let dialog = dialog_of(&verdict);
        assert_eq!(dialog.reason, "generic-choice", "{name}");
        assert_eq!(dialog.accept_keys, ["Enter"], "{name}");
        assert!(dialog.enter_is_safe, "{name}");
        assert!(
            verdict.evidence.contains(question),
            "{name}: {}",
            verdict.evidence
        );
    }
}

#[test]
fn real_input_lines_and_boxes_of_unknown_clis_are_prompts() {
    for (name, rule) in [
        ("gemini-0.61.0-prompt.json", "generic.prompt-marker"),
        ("copilot-1.0.102-prompt.json", "generic.prompt-marker"),
        ("opencode-1.18.33-prompt.json", "generic.input-box"),
    ] {
        let verdict = Generic.classify(&captured(name));
        assert_eq!(
            verdict.observation,
            Observation::Prompt,
            "{name}: {verdict:?}"
        );
        assert_eq!(verdict.rule, rule, "{name}");
    }
}

#[test]
fn a_real_permission_dialog_with_options_side_by_side_is_blocked() {
    // OpenCode: `△ Permission required` and `Allow once   Allow always   Reject`, the highlight
    // drawn in colour only, the cursor in the bordered area below (read as an input box before).
    let verdict = Generic.classify(&captured("opencode-1.18.33-permission.json"));
    let dialog = dialog_of(&verdict);
    assert_eq!(dialog.reason, "generic-choice");
    assert_eq!(dialog.accept_keys, ["Enter"]);
    assert!(!dialog.enter_is_safe, "the highlight cannot be seen");
    assert!(
        verdict.evidence.contains("Permission required")
            && verdict
                .evidence
                .contains("Allow once / Allow always / Reject"),
        "{}",
        verdict.evidence
    );
    assert_eq!(verdict.row, Some(37));
}

#[test]
fn options_side_by_side_need_a_yes_a_no_and_a_question_or_key_hint() {
    let asked = at_end(&["Allow `rm -rf build`?", "", "  Allow   Deny", ""]);
    assert!(matches!(
        Generic.classify(&asked).observation,
        Observation::Blocked(_)
    ));
    for rows in [
        // No question, no key hint.
        ["Results:", "", "  Allow   Deny", ""],
        // No option that says no.
        ["Allow this?", "", "  Allow once   Allow always", ""],
        // Words that are not options.
        ["Allow this?", "", "  Allowed hosts   3 entries", ""],
    ] {
        let verdict = Generic.classify(&at_end(&rows));
        assert!(
            !matches!(verdict.observation, Observation::Blocked(_)),
            "{rows:?} → {verdict:?}"
        );
    }
}

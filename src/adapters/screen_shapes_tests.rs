//! The shapes on their own: what counts as a rule, a yes-word, a numbered option.

use super::*;

#[test]
fn rules_are_long_runs_of_line_drawing() {
    assert!(is_horizontal_rule(&"─".repeat(20)));
    assert!(is_horizontal_rule(&format!("╭{}╮", "─".repeat(20))));
    assert!(!is_horizontal_rule("── a heading with words ──"));
    assert!(!is_horizontal_rule("───"));
}

#[test]
fn options_that_say_yes() {
    for text in [
        "Yes",
        "Yes, continue",
        "Allow once",
        "Trust folder",
        "OK",
        "Run it",
    ] {
        assert!(accepts(text), "{text:?}");
    }
    for text in [
        "No, exit",
        "Don't trust",
        "Reject",
        "Okay-ish",
        "Yesterday",
        "Running",
    ] {
        assert!(!accepts(text), "{text:?}");
    }
}

#[test]
fn numbered_options_are_read_with_their_marks() {
    assert_eq!(
        numbered_option("  › 1. Yes, continue"),
        Some((true, 1, "Yes, continue".to_string()))
    );
    assert_eq!(
        numbered_option("│ ○ 2. Allow for this session │"),
        Some((false, 2, "Allow for this session".to_string()))
    );
    assert_eq!(
        numbered_option("> 3) Reject"),
        Some((true, 3, "Reject".to_string()))
    );
    assert_eq!(numbered_option("1.5 GB free"), None);
    assert_eq!(numbered_option("v1. thing"), None);
}

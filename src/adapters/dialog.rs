//! Reading selection dialogs off the screen: which option is highlighted, which one accepts, and
//! the keys that get from one to the other.

use crate::vocab::Dialog;

/// One option row of a selection list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub row: usize,
    pub text: String,
    pub selected: bool,
}

/// Option rows below `from`: consecutive rows that start (after indentation) with the selection
/// marker or line up with it. `marker` is `›` for Codex and `❯` for Claude.
pub fn choices(rows: &[String], marker: char, from: usize) -> Vec<Choice> {
    let Some((first, indent)) = rows.iter().enumerate().skip(from).find_map(|(i, r)| {
        let trimmed = r.trim_start();
        trimmed
            .starts_with(marker)
            .then(|| (i, r.chars().count() - trimmed.chars().count()))
    }) else {
        return Vec::new();
    };
    // The highlighted row starts with the marker; others are indented to the text after it.
    let mut start = first;
    while start > from && is_option_row(&rows[start - 1], marker, indent) {
        start -= 1;
    }
    let mut out = Vec::new();
    let mut i = start;
    while i < rows.len() && is_option_row(&rows[i], marker, indent) {
        let trimmed = rows[i].trim_start();
        let selected = trimmed.starts_with(marker);
        let text = trimmed.trim_start_matches(marker).trim().to_string();
        out.push(Choice {
            row: i,
            text,
            selected,
        });
        i += 1;
    }
    out
}

fn is_option_row(row: &str, marker: char, indent: usize) -> bool {
    let trimmed = row.trim_start();
    if trimmed.is_empty() {
        return false;
    }
    let lead = row.chars().count() - trimmed.chars().count();
    trimmed.starts_with(marker) && lead == indent
        || !trimmed.starts_with(marker) && lead == indent + 2
}

/// A dialog whose accepting option is the first one whose text satisfies `accepts`.
pub fn selection_dialog(
    reason: &str,
    options: &[Choice],
    accepts: impl Fn(&str) -> bool,
) -> Dialog {
    let selected = options.iter().position(|c| c.selected);
    let target = options.iter().position(|c| accepts(&c.text));
    let (accept_keys, enter_is_safe) = match (selected, target) {
        (Some(s), Some(t)) if s == t => (vec!["Enter".to_string()], true),
        (Some(s), Some(t)) => {
            let step = if t > s { "Down" } else { "Up" };
            let mut keys = vec![step.to_string(); s.abs_diff(t)];
            keys.push("Enter".into());
            (keys, false)
        }
        // No option looks like "accept": Enter answers with whatever is highlighted.
        _ => (vec!["Enter".to_string()], false),
    };
    Dialog {
        reason: reason.to_string(),
        accept_keys,
        enter_is_safe,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(lines: &[&str]) -> Vec<String> {
        lines.iter().map(|l| l.to_string()).collect()
    }

    #[test]
    fn finds_the_highlighted_option_and_the_way_to_accept() {
        let screen = rows(&[
            " Quick safety check",
            "",
            " ❯ No, exit",
            "   Yes, I trust this folder",
            "",
            " Enter to confirm",
        ]);
        let options = choices(&screen, '❯', 0);
        assert_eq!(options.len(), 2);
        assert!(options[0].selected);
        assert_eq!(options[1].text, "Yes, I trust this folder");
        let dialog = selection_dialog("workspace-trust", &options, |t| t.starts_with("Yes"));
        assert_eq!(dialog.accept_keys, ["Down", "Enter"]);
        assert!(!dialog.enter_is_safe);
    }

    #[test]
    fn enter_is_safe_when_the_accepting_option_is_highlighted() {
        let screen = rows(&[
            "› 1. Trust and continue",
            "  2. Back to Agent Command Center",
        ]);
        let options = choices(&screen, '›', 0);
        assert_eq!(options.len(), 2);
        let dialog = selection_dialog("workspace-trust", &options, |t| t.contains("Trust"));
        assert_eq!(dialog.accept_keys, ["Enter"]);
        assert!(dialog.enter_is_safe);
    }
}

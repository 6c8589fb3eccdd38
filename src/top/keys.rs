//! Which key does what, in each mode of the dashboard: a pure mapping from a key press to an
//! [`Action`], so the keys are tested without a terminal. The footer and the `?` page are drawn
//! from [`TABLE_KEYS`], so what they say is what the keys do.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// What a key press asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Nothing,
    Quit,
    Up,
    Down,
    First,
    Last,
    PageUp,
    PageDown,
    /// The selected session's screen, live.
    Screen,
    Events,
    Log,
    /// Open the message line.
    Compose,
    /// Answer the selected session's dialog with the keys it names.
    Answer,
    /// Ask to stop the selected session (a confirmation follows).
    AskStop,
    /// The confirmation said yes.
    Confirm,
    /// Close the overlay, the message line or the question.
    Back,
    /// Remove an ended session from the list.
    Dismiss,
    /// Switch tmux to the selected session's window.
    Tmux,
    Help,
    /// A character typed into the message line.
    Type(char),
    Erase,
    /// Send the message line.
    Submit,
}

/// Where key presses go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyMode {
    Table,
    /// Typing a message.
    Compose,
    /// A yes/no question.
    Confirm,
    /// The screen, events, log or help page.
    Page,
}

/// The keys of the session list: (key, what it does, the action). The footer shows them in
/// this order, as many as fit.
pub const TABLE_KEYS: &[(&str, &str)] = &[
    ("Enter", "screen"),
    ("s", "send"),
    ("a", "answer"),
    ("x", "stop"),
    ("e", "events"),
    ("l", "log"),
    ("t", "tmux"),
    ("d", "dismiss"),
    ("?", "keys"),
    ("q", "quit"),
];

pub fn action(mode: KeyMode, key: KeyEvent) -> Action {
    if key.kind == KeyEventKind::Release {
        return Action::Nothing;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && key.code == KeyCode::Char('c') {
        // Raw mode turns Ctrl-C into a key: it quits from anywhere, as it would without raw mode.
        return Action::Quit;
    }
    match mode {
        KeyMode::Compose => match key.code {
            KeyCode::Enter => Action::Submit,
            KeyCode::Esc => Action::Back,
            KeyCode::Backspace => Action::Erase,
            KeyCode::Char(c) if !ctrl => Action::Type(c),
            _ => Action::Nothing,
        },
        KeyMode::Confirm => match key.code {
            KeyCode::Char('y') | KeyCode::Char('Y') => Action::Confirm,
            _ => Action::Back,
        },
        KeyMode::Page => match key.code {
            KeyCode::Esc | KeyCode::Char('q') | KeyCode::Enter => Action::Back,
            other => movement(other).unwrap_or(Action::Nothing),
        },
        KeyMode::Table => match key.code {
            KeyCode::Char('q') => Action::Quit,
            KeyCode::Enter => Action::Screen,
            KeyCode::Char('s') => Action::Compose,
            KeyCode::Char('a') => Action::Answer,
            KeyCode::Char('x') => Action::AskStop,
            KeyCode::Char('e') => Action::Events,
            KeyCode::Char('l') => Action::Log,
            KeyCode::Char('t') => Action::Tmux,
            KeyCode::Char('d') => Action::Dismiss,
            KeyCode::Char('?') => Action::Help,
            KeyCode::Esc => Action::Back,
            other => movement(other).unwrap_or(Action::Nothing),
        },
    }
}

fn movement(code: KeyCode) -> Option<Action> {
    Some(match code {
        KeyCode::Up | KeyCode::Char('k') => Action::Up,
        KeyCode::Down | KeyCode::Char('j') => Action::Down,
        KeyCode::Home | KeyCode::Char('g') => Action::First,
        KeyCode::End | KeyCode::Char('G') => Action::Last,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::PageDown | KeyCode::Char(' ') => Action::PageDown,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn every_footer_key_does_what_it_says() {
        let expected = [
            Action::Screen,
            Action::Compose,
            Action::Answer,
            Action::AskStop,
            Action::Events,
            Action::Log,
            Action::Tmux,
            Action::Dismiss,
            Action::Help,
            Action::Quit,
        ];
        for ((key, _), want) in TABLE_KEYS.iter().zip(expected) {
            let code = match *key {
                "Enter" => KeyCode::Enter,
                k => KeyCode::Char(k.chars().next().unwrap()),
            };
            assert_eq!(action(KeyMode::Table, press(code)), want, "{key}");
        }
    }

    #[test]
    fn the_message_line_takes_letters_that_are_keys_elsewhere() {
        assert_eq!(
            action(KeyMode::Compose, press(KeyCode::Char('q'))),
            Action::Type('q')
        );
        assert_eq!(
            action(KeyMode::Compose, press(KeyCode::Enter)),
            Action::Submit
        );
        assert_eq!(action(KeyMode::Compose, press(KeyCode::Esc)), Action::Back);
    }

    #[test]
    fn only_yes_confirms_a_stop_and_ctrl_c_always_quits() {
        assert_eq!(
            action(KeyMode::Confirm, press(KeyCode::Char('y'))),
            Action::Confirm
        );
        assert_eq!(
            action(KeyMode::Confirm, press(KeyCode::Char('x'))),
            Action::Back
        );
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        for mode in [
            KeyMode::Table,
            KeyMode::Compose,
            KeyMode::Confirm,
            KeyMode::Page,
        ] {
            assert_eq!(action(mode, ctrl_c), Action::Quit);
        }
    }
}

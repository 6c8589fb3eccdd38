//! How the dashboard draws: Unicode or ASCII glyphs, colours or none. Decided once at start
//! from `--ascii`, the locale and `NO_COLOR` (<https://no-color.org>), so the view never asks.

use ratatui::style::{Color, Modifier, Style};
use ratatui::symbols::border;

use super::model::State;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Look {
    pub unicode: bool,
    pub color: bool,
}

impl Look {
    /// From the environment: Unicode when the locale says UTF-8 (and not `--ascii`), colour
    /// unless `NO_COLOR` is set to anything non-empty.
    pub fn from_env(ascii: bool) -> Look {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        Look {
            unicode: !ascii && locale_is_utf8(var("LC_ALL"), var("LC_CTYPE"), var("LANG")),
            color: var("NO_COLOR").is_none(),
        }
    }

    /// Plain text: what `--once` prints.
    pub fn plain(unicode: bool) -> Look {
        Look {
            unicode,
            color: false,
        }
    }

    pub fn border(&self) -> border::Set<'static> {
        if self.unicode {
            border::PLAIN
        } else {
            border::Set {
                top_left: "+",
                top_right: "+",
                bottom_left: "+",
                bottom_right: "+",
                vertical_left: "|",
                vertical_right: "|",
                horizontal_top: "-",
                horizontal_bottom: "-",
            }
        }
    }

    /// Tree drawing: (rail, no rail, middle child, last child).
    pub fn tree(&self) -> [&'static str; 4] {
        if self.unicode {
            ["│ ", "  ", "├─", "└─"]
        } else {
            ["| ", "  ", "|-", "`-"]
        }
    }

    pub fn ellipsis(&self) -> &'static str {
        if self.unicode { "…" } else { "~" }
    }

    /// The arrow keys, as the footer names them.
    pub fn arrows(&self) -> &'static str {
        if self.unicode { "↑↓" } else { "up/dn" }
    }

    pub fn selection_mark(&self) -> &'static str {
        if self.unicode { "▶" } else { ">" }
    }

    /// The style of a state word.
    pub fn state(&self, state: &State) -> Style {
        if !self.color {
            return match state {
                State::Blocked { .. } => Style::new().add_modifier(Modifier::BOLD),
                _ => Style::new(),
            };
        }
        let color = match state {
            State::Starting => Color::Cyan,
            State::Prompt => Color::Green,
            State::Busy => Color::Yellow,
            State::Blocked { .. } => Color::Magenta,
            State::Unknown => Color::Gray,
            State::Unreachable => Color::Red,
            State::Ended { .. } => Color::DarkGray,
        };
        let style = Style::new().fg(color);
        match state {
            State::Blocked { .. } => style.add_modifier(Modifier::BOLD),
            _ => style,
        }
    }

    /// Ended sessions are dimmed (a modifier, not a colour: NO_COLOR keeps it).
    pub fn ended(&self) -> Style {
        Style::new().add_modifier(Modifier::DIM)
    }

    /// A failed turn or an error line.
    pub fn alarm(&self) -> Style {
        if self.color {
            Style::new().fg(Color::Red)
        } else {
            Style::new().add_modifier(Modifier::BOLD)
        }
    }

    pub fn selected(&self) -> Style {
        Style::new().add_modifier(Modifier::REVERSED)
    }

    pub fn heading(&self) -> Style {
        Style::new().add_modifier(Modifier::BOLD)
    }

    pub fn key(&self) -> Style {
        if self.color {
            Style::new().fg(Color::Cyan).add_modifier(Modifier::BOLD)
        } else {
            Style::new().add_modifier(Modifier::BOLD)
        }
    }
}

/// Whether the locale's character set is UTF-8: the first of `LC_ALL`, `LC_CTYPE`, `LANG` that
/// is set decides, as the C library does. No locale at all (the `C` locale) is not.
fn locale_is_utf8(all: Option<String>, ctype: Option<String>, lang: Option<String>) -> bool {
    all.or(ctype).or(lang).is_some_and(|l| {
        let l = l.to_ascii_lowercase();
        l.contains("utf-8") || l.contains("utf8")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_locale_variable_set_decides() {
        let s = |v: &str| Some(v.to_string());
        assert!(locale_is_utf8(None, None, s("en_US.UTF-8")));
        assert!(locale_is_utf8(None, s("C.utf8"), s("C")));
        assert!(!locale_is_utf8(s("C"), None, s("en_US.UTF-8")));
        assert!(!locale_is_utf8(None, None, None));
        assert!(!locale_is_utf8(None, None, s("POSIX")));
    }
}

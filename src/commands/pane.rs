//! `harnex pane`: what a session's screen shows now — `tmux capture-pane` on the pane a
//! `run --tmux` session recorded, or the supervisor's emulated screen (`GET /screen`) for a
//! session outside tmux. `--follow` redraws on change until the session exits.

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::cli::PaneArgs;
use crate::client::Client;
use crate::error::{Error, Result};
use crate::registry::RegistryEntry;
use crate::tmux;
use crate::wire::outputs::PaneText;
use std::io::IsTerminal;

/// Clear the terminal and home the cursor before each redraw in `--follow`.
const REDRAW: &str = "\x1b[H\x1b[2J";

pub fn run(args: PaneArgs) -> Result<i32> {
    if args.lines == Some(0) {
        return Err(Error::usage("invalid argument: --lines must be >= 1"));
    }
    if args.interval.is_zero() {
        return Err(Error::usage(
            "invalid argument: --interval must be more than 0 (e.g. 1s, 250ms)",
        ));
    }
    let (_state, entry) = super::find_live(&args.id.id, &args.target)?;
    let source = Source::of(&entry)?;
    let text = source.capture(args.lines)?;
    print(&args, &entry, &source, &text);
    if args.follow {
        follow(&args, &entry, &source, text)?;
    }
    Ok(0)
}

/// Where the text comes from.
enum Source {
    Tmux {
        socket: Option<PathBuf>,
        target: String,
    },
    Screen(Client),
}

impl Source {
    fn of(entry: &RegistryEntry) -> Result<Source> {
        let Some(target) = entry.extra.get("tmux_target").and_then(Value::as_str) else {
            return Ok(Source::Screen(Client::for_entry(entry)));
        };
        let socket = entry
            .extra
            .get("tmux_socket")
            .and_then(Value::as_str)
            .map(PathBuf::from);
        if !tmux::installed() {
            return Err(Error::failed(format!(
                "tmux is not installed (`tmux -V` failed), and session {} runs in tmux pane {target}: install tmux, or read its transcript with `harnex logs --id {}`",
                entry.id, entry.id
            )));
        }
        if !tmux::target_exists(socket.as_deref(), target) {
            return Err(Error::failed(format!(
                "tmux target {target:?} no longer exists (session {}); its transcript: `harnex logs --id {}`",
                entry.id, entry.id
            )));
        }
        Ok(Source::Tmux {
            socket,
            target: target.to_string(),
        })
    }

    fn name(&self) -> &'static str {
        match self {
            Source::Tmux { .. } => "tmux",
            Source::Screen(_) => "screen",
        }
    }

    /// The text, without trailing blank lines; with `lines`, the last `lines` rows with content.
    fn capture(&self, lines: Option<u64>) -> Result<String> {
        let text = match self {
            // The last `lines` lines of scrollback above the visible screen: at least `lines` rows
            // however blank the screen is.
            Source::Tmux { socket, target } => tmux::capture(socket.as_deref(), target, lines)?,
            Source::Screen(client) => {
                let body = client
                    .get("/screen", Duration::from_secs(5))
                    .map_err(|e| Error::failed(format!("cannot read the screen: {e}")))?;
                body["text"].as_str().unwrap_or_default().to_string()
            }
        };
        Ok(last_lines(&text, lines))
    }
}

/// The whole text without trailing blank rows; with `lines`, its last `lines` rows with content
/// (an agent such as Claude Code keeps most of its screen blank above its input box, and a
/// count of screen rows would show only blank rows and the box).
fn last_lines(text: &str, lines: Option<u64>) -> String {
    let rows = text.lines().map(str::trim_end);
    match lines {
        None => {
            let mut rows: Vec<&str> = rows.collect();
            while rows.last().is_some_and(|r| r.is_empty()) {
                rows.pop();
            }
            rows.join("\n")
        }
        Some(n) => {
            let full: Vec<&str> = rows.filter(|r| !r.trim().is_empty()).collect();
            let keep = n.min(full.len() as u64) as usize;
            full[full.len() - keep..].join("\n")
        }
    }
}

fn print(args: &PaneArgs, entry: &RegistryEntry, source: &Source, text: &str) {
    let mut out = std::io::stdout().lock();
    if args.json {
        let line = crate::wire::to_value(&PaneText {
            ok: true,
            id: entry.id.clone(),
            lines: args.lines,
            text: text.to_string(),
            captured_at: crate::time::now_rfc3339(),
            source: source.name().to_string(),
            pane: match source {
                Source::Tmux { target, .. } => Some(target.clone()),
                _ => None,
            },
        });
        let _ = writeln!(out, "{line}");
    } else {
        // A terminal is cleared for each redraw; a pipe or file gets the frames one after another.
        if args.follow && std::io::stdout().is_terminal() {
            let _ = write!(out, "{REDRAW}");
        }
        let _ = writeln!(out, "{text}");
    }
    let _ = out.flush();
}

/// Redraw whenever the text changes, until the session's supervisor is gone.
fn follow(args: &PaneArgs, entry: &RegistryEntry, source: &Source, mut last: String) -> Result<()> {
    loop {
        std::thread::sleep(args.interval);
        if !entry.is_alive() {
            return Ok(());
        }
        match source.capture(args.lines) {
            Ok(text) if text != last => {
                print(args, entry, source, &text);
                last = text;
            }
            Ok(_) => {}
            // The pane or the API goes away as the session ends.
            Err(_) if !entry.is_alive() => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_lines_drops_trailing_blank_rows() {
        assert_eq!(last_lines("a\n\nb\n\n   \n", None), "a\n\nb");
        assert_eq!(last_lines("a\nb\nc\n\n", Some(2)), "b\nc");
        assert_eq!(last_lines("a\n", Some(5)), "a");
        assert_eq!(last_lines("", Some(1)), "");
    }

    #[test]
    fn lines_counts_rows_with_content() {
        // A mostly blank screen above an input box, as Claude Code draws it.
        let screen = "answer\n\n\n\n\n\n╭───╮\n│ > │\n╰───╯\n  ? for shortcuts\n\n";
        assert_eq!(
            last_lines(screen, Some(5)),
            "answer\n╭───╮\n│ > │\n╰───╯\n  ? for shortcuts"
        );
        assert_eq!(last_lines(screen, Some(2)), "╰───╯\n  ? for shortcuts");
    }
}

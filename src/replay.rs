//! Replaying asciicast v2 recordings through the same screen, adapter and state tracker a live
//! session uses, on the recording's clock. Used by the adapter tests and by
//! `harnex explain --replay FILE` to see how harnex reads a recorded agent.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::adapters::{Adapter, ScreenView, Verdict};
use crate::error::{Error, Result};
use crate::session::screen::Screen;
use crate::session::state::{Tracker, Transition};
use crate::vocab::AgentState;

/// One recorded event: seconds since start, `o` (output) or `i` (input), data.
#[derive(Debug, Clone)]
pub struct CastEvent {
    pub time: f64,
    pub kind: char,
    pub data: String,
}

#[derive(Debug, Clone)]
pub struct Cast {
    pub width: u16,
    pub height: u16,
    /// The header's `command` (else its `title`): what was recorded, e.g. `codex --no-daemon`.
    pub command: Option<String>,
    pub events: Vec<CastEvent>,
}

impl Cast {
    pub fn load(path: &Path) -> Result<Cast> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| Error::failed(format!("cannot read {}: {e}", path.display())))?;
        Cast::parse(&text).map_err(|e| Error::failed(format!("{}: {e}", path.display())))
    }

    pub fn parse(text: &str) -> std::result::Result<Cast, String> {
        let mut lines = text.lines().filter(|l| !l.trim().is_empty());
        let header: Value = serde_json::from_str(lines.next().ok_or("empty recording")?)
            .map_err(|e| format!("bad header: {e}"))?;
        if header["version"] != 2 {
            return Err("not an asciicast v2 recording".into());
        }
        let size = |key: &str| {
            header[key]
                .as_u64()
                .and_then(|v| u16::try_from(v).ok())
                .filter(|v| (1..=1000).contains(v))
                .ok_or(format!("header has no {key} of 1-1000"))
        };
        let (width, height) = (size("width")?, size("height")?);
        let mut events = Vec::new();
        for (n, line) in lines.enumerate() {
            let row: (f64, String, String) =
                serde_json::from_str(line).map_err(|e| format!("event {}: {e}", n + 1))?;
            // The replay runs on this clock: a time it cannot represent is a broken recording.
            if !(0.0..=crate::time::MAX_DURATION.as_secs_f64()).contains(&row.0) {
                return Err(format!(
                    "event {}: time {} is not between 0 and 30 days",
                    n + 1,
                    row.0
                ));
            }
            events.push(CastEvent {
                time: row.0,
                kind: row.1.chars().next().unwrap_or('o'),
                data: row.2,
            });
        }
        let command = ["command", "title"]
            .iter()
            .find_map(|key| header[*key].as_str())
            .map(str::to_string);
        Ok(Cast {
            width,
            height,
            command,
            events,
        })
    }

    /// The agent CLI the recording shows: the program of its header's command (or title), else
    /// the name the agent draws on its screen (Codex's and Gemini's banners, Claude Code's title); `None`
    /// when neither says.
    pub fn agent(&self) -> Option<&'static str> {
        const KNOWN: [(&str, &str); 5] = [
            ("codex", "OpenAI Codex"),
            ("claude", "Claude Code"),
            ("opencode", "\u{1b}]0;OpenCode"),
            ("copilot", "GitHub Copilot"),
            ("gemini", "Gemini CLI v"),
        ];
        if let Some(program) = self
            .command
            .as_deref()
            .and_then(|c| c.split_whitespace().next())
        {
            let name = crate::adapters::cli_name(program);
            if let Some((cli, _)) = KNOWN.iter().find(|(cli, _)| *cli == name) {
                return Some(cli);
            }
        }
        self.events.iter().filter(|e| e.kind == 'o').find_map(|e| {
            KNOWN
                .iter()
                .find(|(_, drawn)| e.data.contains(drawn))
                .map(|(cli, _)| *cli)
        })
    }
}

/// A state change seen during a replay.
#[derive(Debug, Clone)]
pub struct Step {
    pub time: f64,
    pub from: AgentState,
    pub to: AgentState,
    pub verdict: Verdict,
    pub dialog: Option<crate::vocab::Dialog>,
}

/// The outcome of a replay.
#[derive(Debug, Clone, Default)]
pub struct Replay {
    pub steps: Vec<Step>,
    /// (time, turn) when each turn was seen to start and to complete.
    pub turns_started: Vec<(f64, u64)>,
    pub turns_completed: Vec<(f64, u64)>,
    /// The last screen.
    pub last_view: ScreenView,
}

impl Replay {
    /// States in order, without repeats.
    pub fn states(&self) -> Vec<AgentState> {
        self.states_until(f64::INFINITY)
    }

    /// States reached up to `time` (e.g. before the agent was told to exit).
    pub fn states_until(&self, time: f64) -> Vec<AgentState> {
        let mut states = vec![AgentState::Starting];
        states.extend(self.steps.iter().filter(|s| s.time < time).map(|s| s.to));
        states
    }
}

/// Feed a recording through `adapter` on the recording's own clock. An input event that
/// contains Enter counts as a submitted turn, as a harnex delivery would.
pub fn replay(cast: &Cast, adapter: &dyn Adapter) -> Replay {
    let base = Instant::now();
    let at = |t: f64| base + Duration::from_secs_f64(t.max(0.0));
    let mut screen = Screen::new(cast.height, cast.width, false);
    let mut tracker = Tracker::new(
        adapter.quiet_window(),
        adapter.output_means_busy(),
        adapter.unseen_turn_grace(),
        base,
    );
    let mut out = Replay::default();
    let mut last = screen.view();
    let mut turn = 0;
    // The replay's "now": the last moment the tracker was told about.
    let mut clock = base;
    let end = cast.events.last().map_or(0.0, |e| e.time) + 5.0;
    for event in cast.events.iter().map(Some).chain([None]) {
        let time = event.map_or(end, |e| e.time);
        // Let debounce windows that end before this event run out first.
        while let Some(deadline) = tracker.next_deadline(clock) {
            if deadline > at(time) {
                break;
            }
            clock = deadline;
            let t = deadline.duration_since(base).as_secs_f64();
            let transitions = tracker.tick(deadline);
            record(&mut out, &tracker, t, &transitions);
        }
        let Some(event) = event else {
            break;
        };
        clock = clock.max(at(time));
        match event.kind {
            'o' => {
                screen.feed(event.data.as_bytes());
                // A live session holds half-drawn frames back the same way.
                if screen.mid_frame() {
                    continue;
                }
                let view = screen.view();
                let changed = view.differs_from(&last);
                let transitions = tracker.observe(adapter.classify(&view), changed, at(time));
                record(&mut out, &tracker, time, &transitions);
                last = view;
            }
            'i' if event.data.contains('\r') && tracker.state() == AgentState::Prompt => {
                turn += 1;
                tracker.submitted(turn);
            }
            _ => {}
        }
    }
    out.last_view = last;
    out
}

fn record(out: &mut Replay, tracker: &Tracker, time: f64, transitions: &[Transition]) {
    for transition in transitions {
        match transition {
            Transition::State { from, to, .. } => out.steps.push(Step {
                time,
                from: *from,
                to: *to,
                verdict: tracker.verdict().clone(),
                dialog: tracker.dialog().cloned(),
            }),
            Transition::TurnStarted(turn) => out.turns_started.push((time, *turn)),
            Transition::TurnCompleted(turn) => out.turns_completed.push((time, *turn)),
        }
    }
}

/// Screens of a recording at the given times (for adapter development).
pub fn screens_at(cast: &Cast, times: &[f64]) -> Vec<(f64, ScreenView)> {
    let mut screen = Screen::new(cast.height, cast.width, false);
    let mut out = Vec::new();
    let mut pending: Vec<f64> = times.to_vec();
    pending.sort_by(f64::total_cmp);
    let mut next = pending.into_iter().peekable();
    for event in &cast.events {
        while next.peek().is_some_and(|t| *t < event.time) {
            let t = next.next().unwrap_or_default();
            out.push((t, screen.view()));
        }
        if event.kind == 'o' {
            screen.feed(event.data.as_bytes());
        }
    }
    for t in next {
        out.push((t, screen.view()));
    }
    out
}

#[cfg(test)]
mod agent_tests {
    use super::*;

    fn cast(header_extra: &str, output: &str) -> Cast {
        let header = format!(r#"{{"version": 2, "width": 80, "height": 24{header_extra}}}"#);
        let event = serde_json::to_string(&(0.1, "o", output)).unwrap();
        Cast::parse(&format!("{header}\n{event}\n")).unwrap()
    }

    #[test]
    fn the_agent_comes_from_the_command_title_or_screen() {
        let codex = cast(r#", "command": "/usr/bin/codex --no-daemon""#, "x");
        assert_eq!(codex.agent(), Some("codex"));
        let claude = cast(r#", "title": "claude --dangerously-skip-permissions""#, "x");
        assert_eq!(claude.agent(), Some("claude"));
        let drawn = cast("", "\u{1b}]0;\u{2733} Claude Code\u{7}");
        assert_eq!(drawn.agent(), Some("claude"));
        assert_eq!(cast(r#", "title": "bash""#, "$ ").agent(), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recordings_with_times_or_sizes_the_replay_cannot_use_are_refused() {
        let header = r#"{"version":2,"width":80,"height":24}"#;
        assert!(Cast::parse(&format!("{header}\n[0.5,\"o\",\"hi\"]")).is_ok());
        for event in [
            "[1e300,\"o\",\"x\"]",
            "[-1,\"o\",\"x\"]",
            "[2592001,\"o\",\"x\"]",
        ] {
            let err = Cast::parse(&format!("{header}\n{event}")).unwrap_err();
            assert!(err.contains("not between 0 and 30 days"), "{event}: {err}");
        }
        let zero = Cast::parse(r#"{"version":2,"width":0,"height":24}"#).unwrap_err();
        assert!(zero.contains("width"), "{zero}");
    }
}

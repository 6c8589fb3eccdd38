//! `harnex conversation`: who said what, turn by turn, from the agent's own records — of a live
//! session (its registry entry names the record file), of the last run of one that ended (its
//! exit record does), or of a record file named with `--file`.
//!
//! The record file can be large and is still being written while the session lives: it is read
//! once, line by line, never whole, and a line beyond [`MAX_LINE`] is skipped, not held.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::cli::{ConversationArgs, SessionFilter};
use crate::error::{Error, Result};
use crate::records::conversation::{ConversationReader, RecordKind, Turn};
use crate::records::{ErrorKind, TurnOutcome};
use crate::registry::{ExitRecord, Resolved, SessionFile};
use crate::wire::outputs::Conversation;
use crate::wire::turns::{RecordsState, RecordsStatus};

/// The longest record line read. Rows with a turn's facts are small; the longest are Claude's
/// attachments and request snapshots (tens of KiB) and tool results with whole files in them.
const MAX_LINE: usize = 32 * 1024 * 1024;

pub fn run(args: ConversationArgs) -> Result<i32> {
    let (id, records) = match (&args.file, &args.id) {
        (Some(path), _) => (None, from_file(path, args.cli.as_deref())?),
        (None, Some(id)) => {
            let target = SessionFilter {
                repo: args.repo.clone(),
                cli: args.cli.clone(),
            };
            (Some(id.clone()), of_session(id, &target)?)
        }
        (None, None) => {
            return Err(Error::usage(
                "harnex conversation: pass --id ID, or --file PATH --cli codex|claude|copilot",
            ));
        }
    };
    let (turns, skipped) = read(&records)?;
    if skipped > 0 {
        crate::warn!(
            "harnex: skipped {skipped} line(s) longer than {} MiB in {}",
            MAX_LINE >> 20,
            records.path.display()
        );
    }
    let count = turns.len();
    let turns: Vec<Turn> = match args.turn {
        Some(n) => turns.into_iter().filter(|t| t.n == n).collect(),
        None => turns,
    };
    if let (Some(n), true) = (args.turn, turns.is_empty()) {
        let whose = id
            .as_deref()
            .map_or(String::new(), |id| format!(" of {id:?}"));
        return Err(Error::failed(format!(
            "no turn {n} in the records{whose}: they hold {count} turn(s) ({})",
            records.path.display()
        )));
    }
    let turns: Vec<Turn> = turns.into_iter().map(Turn::redacted).collect();
    if args.json {
        super::print_json(&crate::wire::to_value(&Conversation {
            ok: true,
            id,
            source: records.kind.as_str().to_string(),
            path: records.path,
            turns,
        }));
        return Ok(0);
    }
    if turns.is_empty() {
        crate::warn!(
            "no turns in the agent's records yet ({})",
            records.path.display()
        );
        return Ok(0);
    }
    print!("{}", render(&turns, records.kind.agent()));
    Ok(0)
}

/// A record file and whose it is.
struct Records {
    path: PathBuf,
    kind: RecordKind,
}

fn from_file(path: &Path, cli: Option<&str>) -> Result<Records> {
    let cli = cli.map(crate::adapters::cli_name).unwrap_or_default();
    let kind = RecordKind::from_cli(&cli).ok_or_else(|| {
        Error::usage(format!(
            "--cli {cli:?} has no records harnex reads: use --cli codex (a rollout), --cli claude (a transcript) or --cli copilot (an events.jsonl)"
        ))
    })?;
    // Shown and printed as given, made absolute; never resolved through links.
    let path = std::path::absolute(path).map_err(|e| Error::io_path("find", path, e))?;
    Ok(Records { path, kind })
}

/// The record file of the live session `id`, else of its last run.
fn of_session(id: &str, target: &SessionFilter) -> Result<Records> {
    let (state, selector) = super::selector(id, target)?;
    let (cli, records) = match selector.resolve(&state)? {
        Resolved::Live(entry) => (entry.cli.clone(), entry.extra.get("records").cloned()),
        Resolved::None { hint } => {
            let Some(path) = selector.find_file(&state, SessionFile::Exit)? else {
                return Err(Error::failed(format!(
                    "{hint} (and no run of {id:?} ended there: it has no exit record)"
                )));
            };
            let record = read_exit(&path)?;
            if let Some(cli) = &selector.cli
                && crate::adapters::cli_name(&record.cli) != *cli
            {
                return Err(Error::failed(format!(
                    "the last run of {id:?} was {:?}, not {cli:?}",
                    record.cli
                )));
            }
            (record.cli.clone(), record.extra.get("records").cloned())
        }
    };
    locate(id, &cli, records.as_ref())
}

fn read_exit(path: &Path) -> Result<ExitRecord> {
    let bytes = crate::private_fs::read(path).map_err(|e| Error::io_path("read", path, e))?;
    serde_json::from_slice(&bytes).map_err(|e| {
        Error::failed(format!(
            "the exit record {} is damaged ({e}); the session's records cannot be found",
            path.display()
        ))
    })
}

/// The record file named by a registry entry's or exit record's `records`, or why there is none.
fn locate(id: &str, cli: &str, records: Option<&Value>) -> Result<Records> {
    let cli_name = crate::adapters::cli_name(cli);
    let status = records.and_then(|r| serde_json::from_value::<RecordsStatus>(r.clone()).ok());
    let Some(status) = status else {
        let why = match RecordKind::from_cli(&cli_name) {
            Some(_) => "its session recorded no record file (started by an older harnex?)".into(),
            None => format!("{cli_name:?} keeps no records harnex reads; codex and claude do"),
        };
        return Err(no_records(id, "unavailable", &why));
    };
    let state = match status.state {
        RecordsState::Following => "following",
        RecordsState::Waiting => "waiting",
        RecordsState::Unavailable => "unavailable",
    };
    let Some(path) = status.path.filter(|p| !p.as_os_str().is_empty()) else {
        let why = status.why.unwrap_or_else(|| match status.state {
            RecordsState::Waiting => {
                "the agent has not written them yet; try again after its first turn".into()
            }
            _ => "no record file was found".into(),
        });
        return Err(no_records(id, state, &why));
    };
    let kind = status
        .source
        .as_deref()
        .and_then(RecordKind::from_source)
        .or_else(|| RecordKind::from_cli(&cli_name))
        .ok_or_else(|| {
            let source = status.source.as_deref().unwrap_or("none");
            no_records(id, state, &format!("records of an unknown kind ({source})"))
        })?;
    Ok(Records { path, kind })
}

fn no_records(id: &str, state: &str, why: &str) -> Error {
    Error::failed(format!(
        "no agent records for {id} (records: {state}: {why})"
    ))
}

/// Every turn in the record file, and how many over-long lines were skipped.
fn read(records: &Records) -> Result<(Vec<Turn>, u64)> {
    let path = &records.path;
    let file = crate::private_fs::open_read(path).map_err(|e| {
        Error::failed(format!(
            "cannot read the agent's records {}: {e}",
            path.display()
        ))
    })?;
    let mut reader = ConversationReader::new(records.kind);
    let skipped = for_each_line(BufReader::new(file), MAX_LINE, |line| reader.feed(line))
        .map_err(|e| Error::io_path("read", path, e))?;
    Ok((reader.finish(), skipped))
}

/// Calls `on_line` with each line of `input` (without its newline; the last one even without
/// one), holding at most `max` bytes of a line: a longer line is skipped and counted.
fn for_each_line(
    mut input: impl BufRead,
    max: usize,
    mut on_line: impl FnMut(&str),
) -> std::io::Result<u64> {
    let mut line = Vec::new();
    let mut too_long = false;
    let mut skipped = 0;
    loop {
        let chunk = input.fill_buf()?;
        if chunk.is_empty() {
            break;
        }
        let (part, used, ends) = match chunk.iter().position(|&b| b == b'\n') {
            Some(at) => (&chunk[..at], at + 1, true),
            None => (chunk, chunk.len(), false),
        };
        if !too_long && line.len() + part.len() > max {
            too_long = true;
            line = Vec::new();
        }
        if !too_long {
            line.extend_from_slice(part);
        }
        input.consume(used);
        if ends {
            if too_long {
                skipped += 1;
            } else {
                on_line(&String::from_utf8_lossy(&line));
            }
            line.clear();
            too_long = false;
        }
    }
    if too_long {
        skipped += 1;
    } else if !line.is_empty() {
        on_line(&String::from_utf8_lossy(&line));
    }
    Ok(skipped)
}

/// The turns for people: a header per turn, then who said what.
fn render(turns: &[Turn], agent: &str) -> String {
    let mut out = String::new();
    for (i, turn) in turns.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&header(turn));
        out.push('\n');
        let asker = match turn.from.as_deref() {
            None | Some("user") => "you".to_string(),
            Some(other) => format!("[{other}]"),
        };
        if let Some(prompt) = &turn.prompt {
            out.push_str(&said(&asker, prompt));
        }
        if !turn.tools.is_empty() {
            out.push_str(&said("tools", &tool_list(&turn.tools)));
        }
        match (&turn.answer, turn.outcome) {
            (Some(answer), _) => out.push_str(&said(agent, answer)),
            (None, None) => out.push_str(&said(agent, "(working…)")),
            (None, Some(_)) => {}
        }
        if let Some(error) = &turn.error {
            let status = error
                .http_status
                .map_or(String::new(), |s| format!(", HTTP {s}"));
            out.push_str(&said(
                &format!("error ({}{status})", kind_name(error.kind)),
                &error.message,
            ));
        }
    }
    out
}

/// `turn 1 · completed · 1,290 tokens`.
fn header(turn: &Turn) -> String {
    let outcome = match turn.outcome {
        None => "in progress",
        Some(TurnOutcome::Completed) => "completed",
        Some(TurnOutcome::Failed) => "failed",
        Some(TurnOutcome::Interrupted) => "interrupted",
        Some(TurnOutcome::NeedsInput) => "needs input",
    };
    let mut text = format!("turn {} · {outcome}", turn.n);
    if let Some(total) = turn.usage.as_ref().and_then(|u| u.total_tokens) {
        text.push_str(&format!(" · {} tokens", thousands(total)));
    }
    text
}

fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::RateLimited => "rate_limited",
        ErrorKind::Overloaded => "overloaded",
        ErrorKind::Disconnected => "disconnected",
        ErrorKind::Auth => "auth",
        ErrorKind::Other => "other",
    }
}

/// `who: text`, later lines indented under the first; escapes and control characters out, so
/// an answer cannot act on the terminal it is printed to.
fn said(who: &str, text: &str) -> String {
    let text = crate::message_text::neutralize(text);
    let indent = " ".repeat(who.chars().count() + 2);
    let mut out = String::new();
    for (i, line) in text.trim_end().lines().enumerate() {
        if i == 0 {
            out.push_str(&format!("{who}: {line}"));
        } else if line.is_empty() {
            // No trailing spaces on blank lines.
        } else {
            out.push_str(&indent);
            out.push_str(line);
        }
        out.push('\n');
    }
    if out.is_empty() {
        out = format!("{who}:\n");
    }
    out
}

/// `shell ×3, apply_patch` (in order of first call).
fn tool_list(tools: &[String]) -> String {
    let mut counted: Vec<(&str, usize)> = Vec::new();
    for tool in tools {
        match counted.iter_mut().find(|(name, _)| name == tool) {
            Some((_, n)) => *n += 1,
            None => counted.push((tool, 1)),
        }
    }
    let parts: Vec<String> = counted
        .into_iter()
        .map(|(name, n)| match n {
            1 => name.to_string(),
            n => format!("{name} ×{n}"),
        })
        .collect();
    parts.join(", ")
}

/// 1290 → `1,290`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::{TurnError, Usage};

    fn lines_of(input: &[u8], max: usize) -> (Vec<String>, u64) {
        let mut lines = Vec::new();
        // A tiny buffer, so lines span many reads.
        let reader = BufReader::with_capacity(4, input);
        let skipped = for_each_line(reader, max, |l| lines.push(l.to_string())).unwrap();
        (lines, skipped)
    }

    #[test]
    fn lines_are_read_across_buffers_and_overlong_ones_skipped() {
        let (lines, skipped) = lines_of(b"one\ntwo two\n\nthree", 100);
        assert_eq!(lines, ["one", "two two", "", "three"]);
        assert_eq!(skipped, 0);
        let (lines, skipped) = lines_of(b"short\nthis one is too long\nok\nlong tail!", 8);
        assert_eq!(lines, ["short", "ok"]);
        assert_eq!(skipped, 2);
    }

    #[test]
    fn thousands_are_grouped() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1290), "1,290");
        assert_eq!(thousands(1_234_567), "1,234,567");
    }

    #[test]
    fn turns_render_as_who_said_what() {
        let turns = [
            Turn {
                n: 1,
                prompt: Some("Say hello\nplease".into()),
                from: Some("user".into()),
                answer: Some("Hello.".into()),
                outcome: Some(TurnOutcome::Completed),
                usage: Some(Usage {
                    total_tokens: Some(1290),
                    ..Usage::default()
                }),
                tools: vec!["shell".into(), "apply_patch".into(), "shell".into()],
                ..Turn::default()
            },
            Turn {
                n: 2,
                prompt: Some("again".into()),
                outcome: Some(TurnOutcome::Failed),
                error: Some(TurnError {
                    kind: ErrorKind::RateLimited,
                    message: "exceeded retry limit, last status: 429".into(),
                    http_status: Some(429),
                }),
                ..Turn::default()
            },
            Turn {
                n: 3,
                prompt: Some("<task-notification>\x1b]52;c;cGF3bmVk\x07done".into()),
                from: Some("task-notification".into()),
                ..Turn::default()
            },
        ];
        let text = render(&turns, "codex");
        assert_eq!(
            text,
            "turn 1 · completed · 1,290 tokens\n\
             you: Say hello\n     please\n\
             tools: shell ×2, apply_patch\n\
             codex: Hello.\n\
             \n\
             turn 2 · failed\n\
             you: again\n\
             error (rate_limited, HTTP 429): exceeded retry limit, last status: 429\n\
             \n\
             turn 3 · in progress\n\
             [task-notification]: <task-notification>done\n\
             codex: (working…)\n"
        );
    }
}

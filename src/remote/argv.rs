//! The remote command line: the local one with `--remote HOST` (and `run --cd PATH`) taken out,
//! `--id HOST:ID` made `--id ID`, and `run --tmux` put in when no mode is given.
//!
//! The user's own words are forwarded, so every option works remotely as it does here. Which
//! word to edit is never guessed: each candidate edit is parsed again with clap and kept only if
//! it means exactly the command the user gave, with that one change (a `--remote` inside a
//! message or after `--` is left alone).

use crate::cli::{Cli, Command};
use crate::error::{Error, Result};
use clap::Parser;

/// Parse harnex's arguments (without the program name).
pub fn parse(args: &[String]) -> Option<Command> {
    let argv = std::iter::once("harnex".to_string()).chain(args.iter().cloned());
    Cli::try_parse_from(argv).ok()?.command
}

/// The arguments of this process, without the program name.
pub fn own_args() -> Result<Vec<String>> {
    std::env::args_os()
        .skip(1)
        .map(|a| {
            a.into_string().map_err(|a| {
                Error::usage(format!(
                    "argument {a:?} is not UTF-8; --remote forwards text arguments only"
                ))
            })
        })
        .collect()
}

/// The first candidate that parses to what `args` means after `change`.
fn pick(
    args: &[String],
    candidates: Vec<Vec<String>>,
    change: impl FnOnce(&mut Command),
    what: &str,
) -> Result<Vec<String>> {
    let mut wanted =
        parse(args).ok_or_else(|| Error::usage("the command line does not parse".to_string()))?;
    change(&mut wanted);
    let wanted = format!("{wanted:?}");
    candidates
        .into_iter()
        .find(|c| parse(c).is_some_and(|p| format!("{p:?}") == wanted))
        .ok_or_else(|| {
            Error::usage(format!(
                "cannot tell which words of this command line are {what}; write it as `{what} VALUE` right after the command name"
            ))
        })
}

/// `args` without the option `flag` (`--flag VALUE` or `--flag=VALUE`).
pub fn without_option(
    args: &[String],
    flag: &str,
    change: impl FnOnce(&mut Command),
) -> Result<Vec<String>> {
    let joined = format!("{flag}=");
    let mut candidates = Vec::new();
    for (i, word) in args.iter().enumerate() {
        if word == flag && i + 1 < args.len() {
            let mut c = args.to_vec();
            c.drain(i..=i + 1);
            candidates.push(c);
        } else if word.starts_with(&joined) {
            let mut c = args.to_vec();
            c.remove(i);
            candidates.push(c);
        }
    }
    pick(args, candidates, change, flag)
}

/// `args` with the value `from` of `--id` replaced by `to`.
pub fn with_id(
    args: &[String],
    from: &str,
    to: &str,
    change: impl FnOnce(&mut Command),
) -> Result<Vec<String>> {
    let mut candidates = Vec::new();
    for (i, word) in args.iter().enumerate() {
        if word == "--id" && args.get(i + 1).is_some_and(|v| v == from) {
            let mut c = args.to_vec();
            c[i + 1] = to.to_string();
            candidates.push(c);
        } else if word.strip_prefix("--id=") == Some(from) {
            let mut c = args.to_vec();
            c[i] = format!("--id={to}");
            candidates.push(c);
        }
    }
    pick(args, candidates, change, "--id")
}

/// `args` with the bare flag `flag` added: before a `--` or at the end.
pub fn with_flag(
    args: &[String],
    flag: &str,
    change: impl FnOnce(&mut Command),
) -> Result<Vec<String>> {
    let mut positions: Vec<usize> = args
        .iter()
        .enumerate()
        .filter(|(_, w)| *w == "--")
        .map(|(i, _)| i)
        .collect();
    positions.push(args.len());
    let candidates = positions
        .into_iter()
        .map(|i| {
            let mut c = args.to_vec();
            c.insert(i, flag.to_string());
            c
        })
        .collect();
    pick(args, candidates, change, flag)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(text: &[&str]) -> Vec<String> {
        text.iter().map(|s| s.to_string()).collect()
    }

    fn clear_remote(cmd: &mut Command) {
        if let Command::Send(a) = cmd {
            a.remote.remote = None;
        }
    }

    #[test]
    fn the_remote_option_is_taken_out_where_clap_took_it() {
        let args = words(&["send", "--remote", "b1", "--id", "x", "--message", "hi"]);
        let out = without_option(&args, "--remote", clear_remote).unwrap();
        assert_eq!(out, words(&["send", "--id", "x", "--message", "hi"]));
        let args = words(&["send", "--id", "x", "--remote=b1", "hi"]);
        let out = without_option(&args, "--remote", clear_remote).unwrap();
        assert_eq!(out, words(&["send", "--id", "x", "hi"]));
    }

    #[test]
    fn a_remote_word_inside_a_message_stays() {
        // The message is "--remote"; the option comes later.
        let args = words(&[
            "send",
            "--id",
            "x",
            "--message",
            "--remote",
            "--remote",
            "b1",
        ]);
        let out = without_option(&args, "--remote", clear_remote).unwrap();
        assert_eq!(out, words(&["send", "--id", "x", "--message", "--remote"]));
    }

    #[test]
    fn ids_are_rewritten_in_either_form() {
        let set_id = |cmd: &mut Command| {
            if let Command::Wait(a) = cmd {
                a.id.id = "impl-1".into();
            }
        };
        let args = words(&["wait", "--id", "b1:impl-1", "--timeout", "5s"]);
        let out = with_id(&args, "b1:impl-1", "impl-1", set_id).unwrap();
        assert_eq!(out, words(&["wait", "--id", "impl-1", "--timeout", "5s"]));
        let args = words(&["wait", "--id=b1:impl-1"]);
        let out = with_id(&args, "b1:impl-1", "impl-1", set_id).unwrap();
        assert_eq!(out, words(&["wait", "--id=impl-1"]));
    }

    #[test]
    fn tmux_goes_before_the_agent_arguments() {
        let to_tmux = |cmd: &mut Command| {
            if let Command::Run(a) = cmd {
                a.tmux = Some(None);
            }
        };
        let args = words(&["run", "codex", "--id", "x", "--", "--model", "o3"]);
        let out = with_flag(&args, "--tmux", to_tmux).unwrap();
        assert_eq!(
            out,
            words(&["run", "codex", "--id", "x", "--tmux", "--", "--model", "o3"])
        );
        let args = words(&["run", "codex", "--id", "x"]);
        let out = with_flag(&args, "--tmux", to_tmux).unwrap();
        assert_eq!(out, words(&["run", "codex", "--id", "x", "--tmux"]));
    }
}

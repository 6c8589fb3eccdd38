use std::process::ExitCode;

use clap::{CommandFactory, Parser, error::ErrorKind};
use harnex::cli::Cli;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return exit(parse_error(e)),
    };
    let Some(command) = cli.command else {
        // Bare `harnex`: show what it can do.
        let _ = Cli::command().print_help();
        return ExitCode::SUCCESS;
    };
    match harnex::run(command) {
        Ok(code) => exit(code),
        Err(e) => {
            if e.has_message() {
                let text = e.to_string();
                if text.starts_with("harnex") {
                    harnex::warn!("{text}");
                } else {
                    harnex::warn!("harnex: {text}");
                }
            }
            exit(e.exit_code())
        }
    }
}

fn parse_error(e: clap::Error) -> i32 {
    match e.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = e.print();
            0
        }
        ErrorKind::InvalidSubcommand => {
            let name = e
                .get(clap::error::ContextKind::InvalidSubcommand)
                .map(|v| v.to_string())
                .unwrap_or_default();
            harnex::warn!("harnex: unknown command {name:?}\nTry: harnex --help");
            2
        }
        ErrorKind::UnknownArgument => {
            let _ = e.print();
            if let Some(hint) = id_hint(&e) {
                harnex::warn!("{hint}");
            }
            2
        }
        _ => {
            let _ = e.print();
            2
        }
    }
}

/// `harnex stop impl-1`: a bare word where a command wants `--id` (the Ruby harnex took it the
/// same way) gets the line to type instead.
fn id_hint(e: &clap::Error) -> Option<String> {
    const TAKES_ID: [&str; 8] = [
        "send",
        "stop",
        "wait",
        "logs",
        "events",
        "pane",
        "explain",
        "conversation",
    ];
    let word = e.get(clap::error::ContextKind::InvalidArg)?.to_string();
    if word.starts_with('-') {
        return None;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = args.first().filter(|c| TAKES_ID.contains(&c.as_str()))?;
    if args.iter().any(|a| a == "--id" || a.starts_with("--id=")) {
        return None;
    }
    Some(format!(
        "hint: the session id goes after --id: harnex {command} --id {word}"
    ))
}

fn exit(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

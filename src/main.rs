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
        _ => {
            let _ = e.print();
            2
        }
    }
}

fn exit(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

//! harnex supervises terminal AI coding agents (Codex, Claude Code, any CLI): it runs each agent
//! under a PTY, reads its screen through a terminal emulator, knows whether it is at its prompt,
//! busy or blocked, and serves a small authenticated API on loopback to send, wait and stop.
//!
//! `main` parses arguments with [`cli`] and calls [`run`]; each command lives in [`commands`];
//! the supervisor of one session is [`session`].

pub mod adapters;
pub mod attribution;
pub mod cli;
pub mod client;
pub mod commands;
pub mod crash;
pub mod diag;
pub mod docs;
pub mod error;
pub mod event_stream;
pub mod events;
pub mod follow;
pub mod ids;
pub mod json_row;
pub mod keys;
pub mod live_status;
pub mod message_text;
pub mod paths;
pub mod ports;
pub mod private_fs;
pub mod program;
pub mod record_files;
pub mod records;
pub mod redact;
pub mod registry;
pub mod remote;
pub mod rendered_log;
pub mod replay;
pub mod session;
pub mod session_lock;
pub mod sweep;
pub mod telemetry;
pub mod terminal_filter;
pub mod text;
pub mod time;
pub mod tmux;
pub mod top;
pub mod vocab;
pub mod watch_clock;
pub mod wire;

use cli::Command;
use error::Result;

/// Run one command; the `Ok` value is the process exit code.
pub fn run(command: Command) -> Result<i32> {
    if let Some(code) = remote::dispatch(&command)? {
        return Ok(code);
    }
    match command {
        Command::Run(args) => commands::run::run(*args),
        Command::Send(args) => commands::send::run(args),
        Command::Status(args) => commands::status::run(args),
        Command::Top(args) => top::run(args),
        Command::Wait(args) => commands::wait::run(args),
        Command::Stop(args) => commands::stop::run(args),
        Command::Logs(args) => commands::logs::run(args),
        Command::Done(args) => commands::done::run(args),
        Command::Events(args) => commands::events::run(args),
        Command::Explain(args) => commands::explain::run(args),
        Command::Pane(args) => commands::pane::run(args),
        Command::Conversation(args) => commands::conversation::run(args),
        Command::Guide => commands::docs::guide(),
        Command::Recipes(args) => commands::docs::recipes(&args.words),
        Command::AgentsGuide(args) => commands::docs::agents_guide(&args.words),
        Command::Skills(cli::SkillsCommand::Install(args)) => {
            commands::skills::install(args.local, &args.names, args.force)
        }
        Command::Skills(cli::SkillsCommand::Uninstall(args)) => {
            commands::skills::uninstall(args.local, &args.names, args.force)
        }
        Command::Prune(args) => commands::prune::run(args),
        Command::Doctor(args) => commands::doctor::run(args.json),
        Command::Completions(args) => commands::completions::run(args.shell),
        Command::LiveIds => commands::completions::live_ids(),
        Command::RemoteHosts => commands::completions::remote_hosts(),
        Command::HookRelay { file } => commands::hook_relay::run(&file),
        Command::Help(args) => commands::help::run(args),
        Command::Version => {
            println!("harnex {}", env!("CARGO_PKG_VERSION"));
            Ok(0)
        }
        Command::Supervise(args) => commands::run::supervise::run(args),
    }
}

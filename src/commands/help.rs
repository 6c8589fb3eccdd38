//! `harnex help [command]`.

use clap::CommandFactory;

use crate::cli::{Cli, HelpArgs};
use crate::error::{Error, Result};

pub fn run(args: HelpArgs) -> Result<i32> {
    let mut cli = Cli::command();
    match args.command.as_deref() {
        None => {
            let _ = cli.print_long_help();
        }
        Some(name) => {
            let names: Vec<String> = cli
                .get_subcommands()
                .map(|c| c.get_name().to_string())
                .collect();
            let Some(sub) = cli.find_subcommand_mut(name) else {
                return Err(Error::usage(format!(
                    "harnex: unknown command {name:?}; commands: {}",
                    names.join(", ")
                )));
            };
            let mut sub = sub.clone().bin_name(format!("harnex {name}"));
            let _ = sub.print_long_help();
        }
    }
    Ok(0)
}

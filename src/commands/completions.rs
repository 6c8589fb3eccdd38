//! `harnex completions <bash|zsh|fish|…>`: shell completion scripts (clap_complete).

use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::Result;

pub fn run(shell: clap_complete::Shell) -> Result<i32> {
    clap_complete::generate(shell, &mut Cli::command(), "harnex", &mut std::io::stdout());
    Ok(0)
}

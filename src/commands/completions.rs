//! `harnex completions <bash|zsh|fish|…>`: shell completion scripts (clap_complete), without the
//! hidden commands and flags, with `--id` completed from the live sessions (the hidden
//! `harnex __ids` lists them) where a command acts on an existing session, and `--remote` from
//! the hosts and groups of hosts.toml (the hidden `harnex __hosts`).

use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::Result;

/// What the scripts run to list the live session ids.
const IDS: &str = "harnex __ids 2>/dev/null";
/// What the scripts run to list the names `--remote` takes from hosts.toml.
const HOSTS: &str = "harnex __hosts 2>/dev/null";

pub fn run(shell: clap_complete::Shell) -> Result<i32> {
    let mut visible = without_hidden(&Cli::command());
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut visible, "harnex", &mut script);
    let script = String::from_utf8_lossy(&script);
    print!("{}", complete_values(shell, &script));
    Ok(0)
}

/// `harnex __hosts`: what `--remote` takes from hosts.toml, one per line: its hosts, its groups
/// and `all` (when it names a host). Nothing when there is no file or it cannot be read (a
/// completion has nowhere to say why; `harnex doctor --remote` does).
pub fn remote_hosts() -> Result<i32> {
    let hosts = crate::remote::hosts::HostsFile::load().unwrap_or_default();
    for name in hosts.names() {
        println!("{name}");
    }
    Ok(0)
}

/// `harnex __ids`: the ids of every live session, one per line, each once.
pub fn live_ids() -> Result<i32> {
    let state = crate::paths::StateDir::from_env()?;
    let mut ids: Vec<String> = crate::registry::live_entries(&state)
        .into_iter()
        .map(|e| e.id)
        .collect();
    ids.sort();
    ids.dedup();
    for id in ids {
        println!("{id}");
    }
    Ok(0)
}

/// A copy of `command` without its hidden arguments and subcommands (clap_complete's
/// generators offer them otherwise).
fn without_hidden(command: &clap::Command) -> clap::Command {
    let mut copy = clap::Command::new(command.get_name().to_string())
        .disable_help_subcommand(true)
        .disable_version_flag(true);
    if let Some(about) = command.get_about() {
        copy = copy.about(about.clone());
    }
    if let Some(version) = command.get_version() {
        copy = copy.version(version.to_string());
    }
    for arg in command.get_arguments().filter(|a| !a.is_hide_set()) {
        copy = copy.arg(arg.clone());
    }
    for sub in command.get_subcommands().filter(|s| !s.is_hide_set()) {
        copy = copy.subcommand(without_hidden(sub));
    }
    copy
}

/// A flag whose values the scripts complete from what a hidden command lists.
struct Listed {
    long: &'static str,
    value_name: &'static str,
    /// The command line that lists the values.
    list: &'static str,
    /// How the help of the flags of that name to leave alone starts.
    except_help: Option<&'static str>,
    /// The subcommand whose flag to leave alone (bash).
    except_command: Option<&'static str>,
}

/// `--id` of the commands that act on a live session completes its id (not file names);
/// `run --id` (a new id) and the optional ids are left alone.
const LIVE_IDS: Listed = Listed {
    long: "id",
    value_name: "ID",
    list: IDS,
    except_help: Some("Session id (default"),
    except_command: Some("run"),
};

/// `--remote` completes the names of hosts.toml.
const REMOTE_HOSTS: Listed = Listed {
    long: "remote",
    value_name: "HOST",
    list: HOSTS,
    except_help: None,
    except_command: None,
};

/// Make `flag` complete what its command lists, in the script clap_complete generated.
fn complete_listed(shell: clap_complete::Shell, script: &str, flag: &Listed) -> String {
    use clap_complete::Shell;
    let Listed {
        long,
        value_name,
        list,
        ..
    } = flag;
    let excepted = |text: &str, at: &str| {
        flag.except_help
            .is_some_and(|help| text.contains(&format!("{at}{help}")))
    };
    match shell {
        Shell::Bash => script
            .split_inclusive("\n        harnex__subcmd__")
            .map(|section| {
                if flag
                    .except_command
                    .is_some_and(|c| section.starts_with(&format!("{c})")))
                {
                    return section.to_string();
                }
                section.replace(
                    &format!("--{long})\n                    COMPREPLY=($(compgen -f \"${{cur}}\"))"),
                    &format!(
                        "--{long})\n                    COMPREPLY=($(compgen -W \"$({list})\" -- \"${{cur}}\"))"
                    ),
                )
            })
            .collect(),
        Shell::Zsh => map_lines(script, |line| {
            let start = format!("'--{long}=[");
            (line.starts_with(&start) && !excepted(line, &start)).then(|| {
                line.replace(
                    &format!(":{value_name}:_default'"),
                    &format!(":{value_name}:{{compadd -- ${{(f)\"$({list})\"}}}}'"),
                )
            })
        }),
        Shell::Fish => map_lines(script, |line| {
            (line.contains(&format!(" -l {long} -d '")) && !excepted(line, "-d '"))
                .then(|| format!("{line} -f -a '({list})'"))
        }),
        _ => script.to_string(),
    }
}

/// `script` with the lines `change` gives a new text for replaced.
fn map_lines(script: &str, change: impl Fn(&str) -> Option<String>) -> String {
    script
        .lines()
        .map(|line| change(line).unwrap_or_else(|| line.to_string()) + "\n")
        .collect()
}

/// The script with `--id` and `--remote` completing what they take.
fn complete_values(shell: clap_complete::Shell, script: &str) -> String {
    let with_ids = complete_listed(shell, script, &LIVE_IDS);
    complete_listed(shell, &with_ids, &REMOTE_HOSTS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script(shell: clap_complete::Shell) -> String {
        let mut out = Vec::new();
        clap_complete::generate(
            shell,
            &mut without_hidden(&Cli::command()),
            "harnex",
            &mut out,
        );
        complete_values(shell, &String::from_utf8_lossy(&out))
    }

    #[test]
    fn hidden_commands_and_flags_are_not_offered() {
        for shell in [
            clap_complete::Shell::Bash,
            clap_complete::Shell::Zsh,
            clap_complete::Shell::Fish,
        ] {
            let text = script(shell);
            for hidden in ["supervise", "legacy-pty", "report-fd"] {
                assert!(!text.contains(hidden), "{shell}: {hidden}");
            }
            // `__ids` is run by the script, never offered as a command.
            assert!(!text.contains("harnex,__ids"), "{shell}");
            assert!(!text.contains("'__ids:"), "{shell}");
            assert!(!text.contains("-a \"__ids\""), "{shell}");
            assert!(text.contains("wait-for-idle"), "{shell}");
            // The dashboard and its flags are offered.
            let top = [
                "harnex__subcmd__top",
                "'top:A live dashboard",
                "-f -a \"top\"",
            ];
            assert!(top.iter().any(|t| text.contains(t)), "{shell}");
            assert!(text.contains("once") && text.contains("ascii"), "{shell}");
        }
    }

    #[test]
    fn ids_of_live_sessions_are_offered_for_id_but_not_for_run() {
        let bash = script(clap_complete::Shell::Bash);
        assert!(bash.contains("compgen -W \"$(harnex __ids"), "{bash}");
        let run = bash
            .split("\n        harnex__subcmd__run)")
            .nth(1)
            .and_then(|s| s.split("\n        harnex__").next())
            .unwrap();
        assert!(!run.contains("__ids"), "{run}");
        let zsh = script(clap_complete::Shell::Zsh);
        assert!(zsh.contains("'--id=[Session id]:ID:{compadd"), "{zsh}");
        let fish = script(clap_complete::Shell::Fish);
        assert!(
            fish.contains("-l id -d 'Session id' -r -f -a '(harnex __ids"),
            "{fish}"
        );
    }

    #[test]
    fn remote_completes_the_hosts_of_hosts_toml_for_every_command_that_takes_it() {
        let bash = script(clap_complete::Shell::Bash);
        let remote = bash.matches("--remote)").count();
        assert!(remote >= 5, "{remote}");
        assert_eq!(
            bash.matches(
                "--remote)\n                    COMPREPLY=($(compgen -W \"$(harnex __hosts"
            )
            .count(),
            remote,
            "{bash}"
        );
        assert!(!bash.contains("__hosts,"), "never offered as a command");
        let zsh = script(clap_complete::Shell::Zsh);
        let lines: Vec<&str> = zsh
            .lines()
            .filter(|l| l.starts_with("'--remote=["))
            .collect();
        assert!(!lines.is_empty());
        for line in lines {
            assert!(
                line.ends_with(":HOST:{compadd -- ${(f)\"$(harnex __hosts 2>/dev/null)\"}}' \\"),
                "{line}"
            );
        }
        let fish = script(clap_complete::Shell::Fish);
        let lines: Vec<&str> = fish.lines().filter(|l| l.contains(" -l remote ")).collect();
        assert!(!lines.is_empty());
        for line in lines {
            assert!(
                line.ends_with("-r -f -a '(harnex __hosts 2>/dev/null)'"),
                "{line}"
            );
        }
    }
}

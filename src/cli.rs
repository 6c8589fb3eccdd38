//! Command-line surface (clap derive only): one Args struct per subcommand.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

const ABOUT: &str = "Supervise terminal AI coding agents (Codex, Claude Code, any CLI) under a PTY";

const LONG_ABOUT: &str = "\
harnex starts an agent under a pseudo-terminal, watches its screen through a terminal emulator,
knows whether it is at its prompt, busy, or blocked on a dialog, and lets you (or another agent)
send it messages, wait for it, read its output and stop it through a local authenticated API.";

const AFTER_HELP: &str = "\
Examples:
  harnex run bash --id demo --detach
  harnex send --id demo --message 'echo hi' --wait-for-idle
  harnex status
  harnex top
  harnex logs --id demo --lines 5
  harnex stop --id demo && harnex wait --id demo

Working with agents (dispatching tasks)? Read: harnex agents-guide
New here? Read: harnex guide    Patterns: harnex recipes    Check setup: harnex doctor

Exit codes: 0 ok, 1 failure, 2 usage error, 124 timeout; with --remote HOST also 69 unreachable,
77 login refused, 127 no harnex there, 76 another version there (docs/remote.md).
Files live in $HARNEX_STATE_DIR (default ~/.local/state/harnex); adapter rule overrides in
$HARNEX_CONFIG_DIR/adapters/<adapter>.toml (default ~/.config/harnex).";

#[derive(Debug, Parser)]
#[command(
    name = "harnex",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    after_help = AFTER_HELP,
    disable_help_subcommand = true
)]
pub struct Cli {
    /// Print the version (as `-V`, `--version` and `harnex version` do)
    #[arg(short = 'v', action = clap::ArgAction::Version)]
    pub short_version: (),

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start an agent under harnex (foreground, --detach, …)
    Run(Box<RunArgs>),
    /// Send a message to a session
    Send(SendArgs),
    /// List live sessions
    Status(StatusArgs),
    /// A live dashboard of the sessions: state, turns, tokens; act on one with a key
    Top(TopArgs),
    /// Wait for a session to exit or reach a state
    Wait(WaitArgs),
    /// Stop a session (exit sequence, then SIGTERM, then SIGKILL)
    Stop(StopArgs),
    /// Read session output transcripts
    Logs(LogsArgs),
    /// Report, from inside a session, that its task is finished
    Done(DoneArgs),
    /// Stream per-session JSONL runtime events
    Events(EventsArgs),
    /// Show why harnex thinks a session is at its prompt, busy or blocked
    Explain(ExplainArgs),
    /// Capture the current tmux pane (or the emulated screen of a session outside tmux)
    Pane(PaneArgs),
    /// Who said what, turn by turn, from the agent's own records (also after it ended)
    Conversation(ConversationArgs),
    /// Print the getting-started guide
    #[command(after_help = "Examples:\n  harnex guide\n  harnex guide | less")]
    Guide,
    /// List tested workflow patterns, or show one
    Recipes(DocArgs),
    /// Guides for agents that dispatch and monitor other agents
    AgentsGuide(DocArgs),
    /// Install or remove the harnex skills for Claude Code and Codex
    #[command(
        subcommand,
        after_help = "Examples:\n  harnex skills install\n  harnex skills install --local dispatch\n  harnex skills uninstall"
    )]
    Skills(SkillsCommand),
    /// Remove the files of sessions that ended long ago
    Prune(PruneArgs),
    /// Check tmux, the state dir and the agent CLIs
    Doctor(DoctorArgs),
    /// Print a shell completion script
    Completions(CompletionsArgs),
    /// Show help for harnex or one command
    Help(HelpArgs),
    /// Print the version
    #[command(after_help = "Examples:\n  harnex version\n  harnex -v")]
    Version,
    /// Internal: the supervisor of a run that `harnex run --detach`/`--tmux` planned
    #[command(hide = true)]
    Supervise(SuperviseArgs),
    /// Internal: what an agent's hook hands over on stdin, appended as one line to FILE (the
    /// session's supervisor follows it)
    #[command(name = "hook-relay", hide = true)]
    HookRelay {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
    /// Internal: the ids of the live sessions, one per line (for shell completion)
    #[command(name = "__ids", hide = true)]
    LiveIds,
    /// Internal: the hosts and groups of hosts.toml, one per line (for shell completion)
    #[command(name = "__hosts", hide = true)]
    RemoteHosts,
}

/// `harnex supervise`: the one way into a supervisor in a process of its own.
#[derive(Debug, Args)]
pub struct SuperviseArgs {
    /// The run plan (a private file in the state dir, deleted once read)
    #[arg(long, value_name = "FILE")]
    pub plan: PathBuf,

    /// Report ready or boot failure as one JSON line on this inherited pipe
    #[arg(long, value_name = "FD")]
    pub report_fd: Option<i32>,
}

/// `--id` of a command that acts on one session.
#[derive(Debug, Clone, Args)]
pub struct SessionId {
    /// Session id
    #[arg(long = "id", value_name = "ID", required = true)]
    pub id: String,
}

/// `--remote HOST`: run the command on another machine, over ssh (docs/remote.md).
#[derive(Debug, Clone, Default, Args)]
pub struct RemoteTarget {
    /// Run this on HOST over ssh: a host or group of ~/.config/harnex/hosts.toml, or an ssh
    /// destination (HARNEX_SSH names the ssh command). A session there is also `--id HOST:ID`
    #[arg(long, value_name = "HOST")]
    pub remote: Option<String>,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  harnex recipes
  harnex recipes show chain
  harnex agents-guide list
  harnex agents-guide dispatch

A name matches exactly, then by prefix, then by substring.")]
pub struct DocArgs {
    /// `list`, `show NAME`, or just NAME
    #[arg(value_name = "WORDS")]
    pub words: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum SkillsCommand {
    /// Copy the skills into ~/.claude/skills (visible to Codex through ~/.codex/skills)
    #[command(after_help = "\
Examples:
  harnex skills install
  harnex skills install --local dispatch

Installs SKILL.md files for harnex-dispatch, harnex-chain and harnex-buddy (or the NAMEs given)
and records what it created, so `harnex skills uninstall` removes exactly that. A SKILL.md you
edited (it differs from what harnex installed) is kept, and harnex says so; --force replaces it.")]
    Install(SkillsArgs),
    /// Remove exactly what `harnex skills install` put there
    Uninstall(SkillsArgs),
}

#[derive(Debug, Args)]
pub struct SkillsArgs {
    /// Install into this repository's .claude/ and .codex/ instead of your home
    #[arg(long)]
    pub local: bool,

    /// Replace (install) or remove (uninstall) a SKILL.md that differs from what harnex
    /// installed; without it, one you edited is kept
    #[arg(long)]
    pub force: bool,

    /// Skills to install or remove (default: all)
    #[arg(value_name = "NAME")]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  harnex prune --dry-run              # list what would go
  harnex prune                        # sessions inactive for over 30 days
  harnex prune --older-than 12h --json

Removes the exit record, transcript, events and detached-supervisor log of every session whose
files have not changed for longer than --older-than. Never touches a live session (one with a
registry entry whose supervisor is running, or an entry it cannot read), never follows or
removes symlinks. Prints each file and the space freed. Exit 1 if a file could not be removed,
2 for a bad duration.")]
pub struct PruneArgs {
    /// Remove sessions with no activity for longer than this (e.g. 30d, 12h, 90m)
    #[arg(long, value_parser = parse_age, default_value = "30d", value_name = "AGE")]
    pub older_than: Duration,

    /// List what would be removed, remove nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Print one JSON object
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  harnex doctor
  harnex doctor --json

Exit 1 when the state directory is not usable, or an agent CLI is older than the oldest
version harnex takes (codex >= 0.128.0, claude >= 2.0.0); tmux, git and the agent CLIs are
reported with their versions and whether harnex was tested with them. Then the adapters: the
CLIs that pick each, where its rules come from (built in, or your override file in
<config dir>/adapters/) and the agent versions it was tested on; a bad override is a warning.
--json has the Ruby harnex's shape, {ok, checks: [{name, required, ok, found, error, …}]},
plus adapters: [{name, agent, clis, rules, rules_file, tested_versions, rules_error?}].")]
pub struct DoctorArgs {
    /// Print JSON
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub remote: RemoteTarget,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  harnex completions bash > ~/.local/share/bash-completion/completions/harnex
  harnex completions zsh > ~/.zfunc/_harnex
  harnex completions fish > ~/.config/fish/completions/harnex.fish")]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  harnex run codex --id impl-1 --detach --context 'Implement issue 12'
  harnex run bash --id demo --detach --size 100x30
  harnex run claude --id review -- --model sonnet
  harnex run codex --id impl-2 --tmux                # a tmux window named impl-2
  harnex run codex --id impl-3 --tmux=impl-window --context 'Implement issue 13'

Wrapper options may come before or after <CLI>; the agent's own arguments go after `--`.
  harnex run codex --watch --preset impl --context 'Implement issue 12'

Foreground (default): the agent runs in this terminal and harnex exits with its exit code.
--detach: the agent runs headless; harnex prints one JSON line once the agent is ready (or
still starting when --timeout ends) and exits 0; 1 if the agent died during start-up; 124 if
the session did not register within --timeout (more than 0), and then the detached supervisor is
stopped (SIGTERM, SIGKILL after 5s) and the message says so.
--id: 1-64 characters with a letter or digit, no '/' and no control characters.
--tmux [NAME]: the agent runs under a foreground supervisor in a new tmux window named NAME
(default: the id) — in the current tmux session when run inside tmux, else in session `harnex`
(created when missing) — so you can watch it and type into it. It gets your environment, not
the tmux server's. harnex prints one JSON line (mode \"tmux\", window, pane) once the agent is
ready; exit codes as for --detach. If the agent dies during start-up, harnex prints its exit
code and last lines, and the window stays open (remain-on-exit) with its last screen until you
close it; a window whose agent got ready closes when the session ends. `--tmux WORD` with no
other <CLI> takes WORD as the CLI when it is codex, claude or a program on PATH (`run --id x
--tmux codex`, as the Ruby harnex does); otherwise WORD names the window (also --tmux=NAME,
--tmux-name NAME).
--watch: the agent runs headless (as with --detach) and harnex watches it here, one line per
decision: when the screen makes no progress for --stall-after (a ticking spinner or clock is not
progress; an agent idle at its prompt is not progressing either) it interrupts a busy agent and
sends --resume-message, at most --max-resumes times. Exit 0 when the agent exits by itself, 2
when the resumes are used up (the agent is left running for a person), 1 on errors, 130 on
Ctrl-C and 143 on SIGTERM (the watch ends with its summary; the agent is left running, and
harnex says how to stop it).
--auto-stop (with --context): stop the agent once it finished that first task.",
    // <CLI> is required but for `run --watch CLI`, where --watch's word names it.
    override_usage = "harnex run [OPTIONS] <CLI> [-- <AGENT_ARGS>...]"
)]
pub struct RunArgs {
    /// The agent CLI: codex, claude, or any program on PATH
    #[arg(value_name = "CLI", required_unless_present_any = ["watch", "tmux"])]
    pub cli_arg: Option<String>,

    /// Arguments passed to the agent (after `--`)
    #[arg(last = true, value_name = "AGENT_ARGS")]
    pub agent_args: Vec<String>,

    /// Session id (default: a random two-word id like bold-ant)
    #[arg(long)]
    pub id: Option<String>,

    /// A short description shown by `harnex status`
    #[arg(long, allow_hyphen_values = true)]
    pub description: Option<String>,

    /// Address of the local API (loopback only) [default: 127.0.0.1]
    #[arg(long, env = "HARNEX_HOST", hide_env_values = true)]
    pub host: Option<String>,

    /// API port (default: derived from repo and id, in 43000-46999)
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,

    /// First message for the agent, sent once it is ready, prefixed "[harnex session id=ID]"
    #[arg(long, allow_hyphen_values = true)]
    pub context: Option<String>,

    /// How long queued messages wait for the prompt (e.g. 120, 90s, 5m; at most 30d) [env: HARNEX_INBOX_TTL]
    #[arg(long, value_parser = parse_positive_duration)]
    pub inbox_ttl: Option<Duration>,

    /// With --detach or --tmux: how long to wait for the session to start (more than 0, at most 30d) [default: 5s]
    #[arg(long, value_parser = parse_positive_duration)]
    pub timeout: Option<Duration>,

    /// Free-form JSON object recorded with the session (e.g. '{"issue":"12"}')
    #[arg(long)]
    pub meta: Option<String>,

    /// Where to append the dispatch summary record at exit (resolved against the repo)
    #[arg(long)]
    pub summary_out: Option<PathBuf>,

    /// Run headless in the background and print a JSON line
    #[arg(long)]
    pub detach: bool,

    /// Terminal size of a headless session, COLSxROWS [default: 120x40]
    #[arg(long, value_parser = parse_size, value_name = "COLSxROWS")]
    pub size: Option<(u16, u16)>,

    /// Babysit the agent: start it headless and watch it here, nudging it when it stalls.
    /// `--watch PATH` after <CLI> (or `--watch=PATH`) is the legacy form of --watch-file
    #[arg(long = "watch", id = "watch", value_name = "PATH", num_args = 0..=1)]
    pub watch_arg: Option<Option<String>>,

    /// With --watch: no progress for this long is a stall (e.g. 90s, 8m; at most 30d) [default: 8m]
    #[arg(long, value_parser = parse_positive_duration, requires = "watch", value_name = "DUR")]
    pub stall_after: Option<Duration>,

    /// With --watch: how many times to resume a stalled agent before escalating (0-1000) [default: 1]
    #[arg(long, requires = "watch", value_name = "N", value_parser = clap::value_parser!(u32).range(0..=1000))]
    pub max_resumes: Option<u32>,

    /// With --watch: stall policy, impl (8m, 1 resume), plan (3m, 2) or gate (15m, 0)
    #[arg(long, value_name = "NAME")]
    pub preset: Option<String>,

    /// With --watch: the message that resumes a stalled agent [default: resume]
    #[arg(
        long,
        requires = "watch",
        value_name = "TEXT",
        allow_hyphen_values = true
    )]
    pub resume_message: Option<String>,

    /// When this file changes, tell the agent "file-change-hook: read <path>" (debounced 1 s);
    /// also `--watch PATH` / `--watch=PATH`
    #[arg(long = "watch-file", value_name = "PATH")]
    pub watch_file_arg: Option<PathBuf>,

    /// Run in a new tmux window named NAME (default: the id); prints a JSON line once ready.
    /// Takes NAME only when the next word is not an option; `--tmux=NAME` always works
    #[arg(
        long,
        value_name = "NAME",
        num_args = 0..=1,
        require_equals = false,
        conflicts_with_all = ["detach", "watch"]
    )]
    pub tmux: Option<Option<String>>,

    /// Same as `--tmux NAME`
    #[arg(long, value_name = "NAME", conflicts_with_all = ["detach", "watch"])]
    pub tmux_name: Option<String>,

    /// Stop the agent once it finished its first task (the --context): exit sequence, then
    /// signals as `harnex stop` does. Needs --context
    #[arg(long)]
    pub auto_stop: bool,

    /// Accepted for the Ruby harnex's Codex fallback; harnex always runs agents under a PTY
    #[arg(long, hide = true)]
    pub legacy_pty: bool,

    /// Tag the session (repeatable): KEY is 1-64 of A-Z a-z 0-9 _ . -, VALUE at most 256 bytes.
    /// Sessions started from inside it inherit its tags; their own --tag overrides a key
    #[arg(long, value_name = "KEY=VALUE", value_parser = crate::attribution::parse_tag)]
    pub tag: Vec<(String, String)>,

    #[command(flatten)]
    pub remote: RemoteTarget,

    /// With --remote: the directory (a repo) on that host to start the agent in; `~/` is the
    /// home there
    #[arg(long, value_name = "PATH", requires = "remote")]
    pub cd: Option<String>,
}

impl RunArgs {
    /// The agent CLI. `--watch WORD` or `--tmux WORD` with no other word names it
    /// (`run --watch codex`, `run --id x --tmux codex`, as the Ruby harnex takes them).
    pub fn cli(&self) -> &str {
        match (&self.cli_arg, &self.watch_arg) {
            (Some(cli), _) => cli,
            (None, Some(Some(word))) => word,
            _ => self.tmux_word_as_cli().unwrap_or(""),
        }
    }

    /// `--tmux WORD` with no <CLI>: WORD is the CLI when it names a known agent or a program
    /// on PATH (else it stays the window name, and the missing <CLI> is reported).
    fn tmux_word_as_cli(&self) -> Option<&str> {
        if self.cli_arg.is_some() || matches!(self.watch_arg, Some(Some(_))) {
            return None;
        }
        let word = self.tmux.as_ref()?.as_deref()?;
        let known = matches!(
            crate::adapters::cli_name(word).as_str(),
            "codex" | "claude" | "opencode" | "copilot" | "gemini"
        );
        (known || crate::session::pty::find_program(word).is_some()).then_some(word)
    }

    /// Whether to babysit: `--watch` as a flag, not the legacy file-hook form.
    pub fn watch(&self) -> bool {
        match &self.watch_arg {
            Some(None) => true,
            Some(Some(_)) => self.cli_arg.is_none(),
            None => false,
        }
    }

    /// The file-change hook's file: `--watch-file`, or the legacy `--watch PATH` after <CLI>.
    pub fn watch_file(&self) -> Option<PathBuf> {
        match (&self.watch_arg, &self.cli_arg) {
            (Some(Some(path)), Some(_)) => Some(PathBuf::from(path)),
            _ => self.watch_file_arg.clone(),
        }
    }

    /// Refuse a file hook named twice (`--watch PATH` is the legacy form of `--watch-file`).
    pub fn check_watch_file(&self) -> crate::error::Result<()> {
        let legacy = matches!((&self.watch_arg, &self.cli_arg), (Some(Some(_)), Some(_)));
        if legacy && self.watch_file_arg.is_some() {
            return Err(crate::error::Error::usage(
                "--watch-file is given twice (--watch PATH is its legacy form): keep one",
            ));
        }
        Ok(())
    }

    /// `Some(window name)` when the session goes into a tmux window (`None` inside: the id).
    pub fn tmux_window(&self) -> Option<Option<String>> {
        match (&self.tmux_name, &self.tmux) {
            (Some(name), _) => Some(Some(name.clone())),
            (None, Some(_)) if self.tmux_word_as_cli().is_some() => Some(None),
            (None, Some(name)) => Some(name.clone()),
            (None, None) => None,
        }
    }
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  harnex send --id demo --message 'echo hi' --wait-for-idle
  harnex send --id impl-1 'run the tests and fix what fails'
  echo 'long brief' | harnex send --id impl-1 --no-wait
  harnex send --id impl-1 --submit-only
  harnex send --id impl-1 --keys Down,Enter      # accept a dialog whose default is \"No\"

A message is text: newlines and tabs are kept, a CR becomes a newline, and escape sequences and
other control characters (ESC, C0, DEL, C1) are removed before it is typed, so it can neither
press keys nor end the bracketed paste it is wrapped in; use --keys for keys. An empty or
whitespace-only message (from --message, words or stdin) is a usage error (exit 2).

A session that is not registered yet (just started in the background) is waited for until
--timeout, as the Ruby harnex does; harnex says so on stderr, and exits 124 if it never comes.

Without --force the message waits in the session's inbox until the agent is at its prompt.
--no-wait: return immediately after queueing (HTTP 202), fire-and-forget.
--wait-for-idle: after delivery, wait until the agent has worked on this message and is back
at its prompt. On timeout the JSON result carries the message_id; exit code 124.

When a person types in the agent's terminal (a foreground or --tmux session), a delivery waits
until they pause typing for 1s (at most 5s), and keys they press while harnex writes the message
(text, Enter, check) are held and typed right after it. Both arrive whole; but a line left
half-typed is still in the agent's input, so the message is appended to it and submitted with
it.")]
pub struct SendArgs {
    #[command(flatten)]
    pub id: SessionId,

    /// Message text (or give it as words, or on stdin)
    #[arg(long, short = 'm', allow_hyphen_values = true)]
    pub message: Option<String>,

    /// Message text as words
    #[arg(value_name = "WORDS")]
    pub words: Vec<String>,

    /// Type the text without pressing Enter
    #[arg(long, conflicts_with = "submit_only")]
    pub no_submit: bool,

    /// Only press Enter (submit what is typed, or accept a dialog)
    #[arg(long)]
    pub submit_only: bool,

    /// Deliver now, even if the agent is not at its prompt
    #[arg(long)]
    pub force: bool,

    /// Return immediately after queueing (fire-and-forget)
    #[arg(long, conflicts_with = "wait_for_idle")]
    pub no_wait: bool,

    /// Wait until the agent has finished working on this message
    #[arg(long)]
    pub wait_for_idle: bool,

    /// Prefix a relay header naming the sending session (default: on when sent from another session)
    #[arg(long, overrides_with = "no_relay")]
    pub relay: bool,

    /// Never prefix a relay header
    #[arg(long)]
    pub no_relay: bool,

    /// Talk to this API port directly (with --token) instead of looking the session up
    #[arg(long, requires = "token", value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Option<u16>,

    /// Bearer token for --port
    #[arg(long)]
    pub token: Option<String>,

    /// API host for --port [default: 127.0.0.1]
    #[arg(long)]
    pub host: Option<String>,

    #[command(flatten)]
    pub target: SessionFilter,

    /// Overall deadline in seconds or with a unit (e.g. 120, 10m; more than 0, at most 30d). When
    /// it runs out: exit 124, with the message_id and `delivery`: cancelled (it was still queued
    /// and is dropped), delivering (being typed; it will still arrive, do not resend) or delivered
    #[arg(long, value_parser = parse_positive_duration, default_value = "120")]
    pub timeout: Duration,

    /// Press named keys instead of sending text, e.g. Down,Enter or Esc (answers dialogs)
    #[arg(long, value_name = "KEYS", conflicts_with_all = ["message", "words", "submit_only", "no_submit", "wait_for_idle"])]
    pub keys: Option<String>,

    /// Print progress on stderr
    #[arg(long, short = 'v')]
    pub verbose: bool,

    #[command(flatten)]
    pub remote: RemoteTarget,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  harnex status
  harnex status --json
  harnex status --all
  harnex status --tree --all               # who started whom, across repositories")]
pub struct StatusArgs {
    /// Print JSON (an array of session objects)
    #[arg(long)]
    pub json: bool,

    /// Only this session (exit 1 when it is not live, saying when it ended if it did)
    #[arg(long)]
    pub id: Option<String>,

    /// Sessions of this repository (default: the current one)
    #[arg(long)]
    pub repo: Option<PathBuf>,

    /// Sessions of every repository
    #[arg(long, conflicts_with = "repo")]
    pub all: bool,

    /// Who started whom: each session under the one it was started from (id, cli, state,
    /// tags); with --json, the sessions at the top, each with a `children` array
    #[arg(long, conflicts_with = "id")]
    pub tree: bool,

    #[command(flatten)]
    pub remote: RemoteTarget,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  harnex top                               # the sessions of this repository, live
  harnex top --all                         # of every repository
  harnex top --once                        # one frame as plain text, then exit

Keys: up/down (or j/k) select, Enter the session's screen, s send a message, a answer its
dialog, x stop it (asks first), e its events, l its rendered log, t switch tmux to its window,
d dismiss an ended session, ? all keys, q quit. The dashboard redraws when a session's registry
entry, event log or exit record changes (inotify); sessions that end stay, dimmed, until
dismissed. NO_COLOR turns colours off; --ascii (or a locale that is not UTF-8) draws with ASCII.
Exit codes: 0 after q, 1 when the terminal cannot be set up, 128+N after signal N.")]
pub struct TopArgs {
    /// Print one frame as plain text (no colours, no escape sequences) and exit
    #[arg(long)]
    pub once: bool,

    /// Sessions of this repository (default: the current one)
    #[arg(long)]
    pub repo: Option<PathBuf>,

    /// Sessions of every repository
    #[arg(long, conflicts_with = "repo")]
    pub all: bool,

    /// Draw with ASCII only (no box drawing or symbols)
    #[arg(long)]
    pub ascii: bool,

    /// With --once: the frame's width in columns, 40-1000 (default: the terminal's, else 120)
    #[arg(long, value_name = "COLS", requires = "once", value_parser = clap::value_parser!(u16).range(40..=1000))]
    pub width: Option<u16>,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  harnex wait --id demo                    # until the session exits; exits with its code
  harnex wait --id demo --until prompt --timeout 5m

Without --until, prints the exit record of the run it waits for (never an earlier run's). If that
run's supervisor died (killed), the record says reason \"crashed\" with exit_code null, and wait
exits 1.

--until STATE: prompt, busy, blocked, unknown, task_complete. `prompt` waits for the turn in
flight, if any, to finish: the prompt drawn before a message was taken does not count.
`task_complete` waits for the next turn completion after the call (a `task_complete` event, for
every agent); with --turn N it waits for turn N instead and returns at once if it is done.")]
pub struct WaitArgs {
    #[command(flatten)]
    pub id: SessionId,

    /// Wait until the agent reaches STATE instead of until it exits
    #[arg(long, value_name = "STATE")]
    pub until: Option<String>,

    /// With --until task_complete: wait for this turn's completion (at once if it is done)
    #[arg(long, value_name = "N")]
    pub turn: Option<u64>,

    /// Deadline (e.g. 30, 90s, 10m; at most 30d); none by default
    #[arg(long, value_parser = parse_duration)]
    pub timeout: Option<Duration>,

    #[command(flatten)]
    pub target: SessionFilter,

    #[command(flatten)]
    pub remote: RemoteTarget,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  harnex stop --id demo
  harnex stop --id demo --wait
  harnex stop --id demo --force

Stop types the agent's exit sequence (/exit for Codex and Claude, C-d for shells), after any
message being typed (say a --context right after `run`) is done. If the agent
has not exited after the grace period (default 10s, at most 24h), the supervisor sends SIGTERM
(and SIGHUP) to the agent's process group, then SIGKILL 2s later. The session always leaves an
exit record.

A stop under way can be escalated: a later `stop --force` signals at once, a shorter --grace
moves the signals forward; a weaker or equal request answers \"already_requested\". SIGTERM or
SIGINT to the supervisor terminates the agent; a second one kills it.

Nothing the agent started outlives the session: background jobs and setsid children still
running when it ends get SIGTERM, then SIGKILL. If the session's supervisor died (kill -9), stop
ends the processes it left behind and prints {\"status\":\"supervisor_gone\",…}.")]
pub struct StopArgs {
    #[command(flatten)]
    pub id: SessionId,

    /// Wait until the session has exited and print its exit record
    #[arg(long)]
    pub wait: bool,

    /// Skip the exit sequence: signal the agent at once
    #[arg(long)]
    pub force: bool,

    /// Time the agent gets to exit by itself before it is signalled (e.g. 10s; at most 30d)
    #[arg(long, value_parser = parse_duration)]
    pub grace: Option<Duration>,

    /// Deadline for reaching the session (and, with --wait, for its exit; more than 0, at most
    /// 30d) [default: 5s; --wait: 60s]
    #[arg(long, value_parser = parse_positive_duration)]
    pub timeout: Option<Duration>,

    #[command(flatten)]
    pub target: SessionFilter,

    #[command(flatten)]
    pub remote: RemoteTarget,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  harnex logs --id demo --lines 5
  harnex logs --id demo --follow
  harnex logs --id demo --plain --lines 20   # the last 20 rows a person would have read
  harnex logs --id demo --plain | grep 'tests pass'
  harnex logs --id demo --raw                # the transcript byte for byte

Works after the session exited: transcripts are kept.

--plain renders the transcript through a terminal emulator of the session's size: rows come out
as they scroll off the screen, as a full-screen agent moves them up and off its screen or wipes
or leaves it, and at the end (with --follow, also when the output pauses) the screen's rows with
content. A row equal to the one before is printed once, and a frame drawn again prints only the
rows the last one did not have. --lines then counts rendered rows.

The transcript holds what the agent wrote to its terminal, and replaying it makes your terminal
act on it. So by default harnex passes only what draws (text, colours, cursor movement, titles,
hyperlinks) and drops what would act for the agent: clipboard writes (OSC 52), colour and
palette changes or queries, DCS/APC strings, requests that make your terminal answer (cursor
position, device attributes, window reports, version and mode queries) and switches that would
leave it reporting mouse, focus or keyboard events to your shell. --raw prints everything.")]
pub struct LogsArgs {
    #[command(flatten)]
    pub id: SessionId,

    /// Print the last N lines (with --plain: rendered rows; 0: none, e.g. with --follow to see
    /// only new output)
    #[arg(long, short = 'n', default_value_t = 200)]
    pub lines: u64,

    /// Keep printing new output until the session exits
    #[arg(long, short = 'f')]
    pub follow: bool,

    /// Render the transcript as text: one line per screen row a person would have seen, with
    /// repaints (spinners, redrawn input boxes) collapsed
    #[arg(long, conflicts_with = "raw")]
    pub plain: bool,

    /// Print the transcript unfiltered, including clipboard writes and terminal queries
    #[arg(long)]
    pub raw: bool,

    #[command(flatten)]
    pub target: SessionFilter,

    #[command(flatten)]
    pub remote: RemoteTarget,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  harnex explain --id impl-1
  harnex explain --id impl-1 --json
  harnex explain --replay session.cast               # how harnex reads a recording

Shows the adapter's verdict (which rule matched, on which screen row, with what text, and the
rule file and line it comes from: built in, or your override in <config dir>/adapters/), the
debounced state, the turn counters and the screen. --replay feeds an asciicast v2 recording
through the same screen and state machine (with your override, if any: a way to try one) and
prints every state change with its time.")]
pub struct ExplainArgs {
    /// Session id
    #[arg(long, required_unless_present = "replay")]
    pub id: Option<String>,

    /// Replay an asciicast v2 recording instead of asking a live session
    #[arg(long, value_name = "FILE", conflicts_with = "id")]
    pub replay: Option<PathBuf>,

    /// Print the JSON answer
    #[arg(long)]
    pub json: bool,

    /// Repository of the session (default: the current one)
    #[arg(long)]
    pub repo: Option<PathBuf>,

    /// With --id: only match a session running this CLI. With --replay: the adapter to use
    /// (default: the recording's agent, from its command or title, or generic)
    #[arg(long)]
    pub cli: Option<String>,

    #[command(flatten)]
    pub remote: RemoteTarget,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  harnex events --id impl-1                 # print rows, follow until the session exits
  harnex events --id impl-1 --snapshot      # print what is there and stop
  harnex events --id impl-1 --from 2026-11-21T08:00:00Z

Rows are schema v1 JSON lines (see docs/events.md). Following ends at the `exited` row of the
session's current run (a reused id appends runs to the same stream; rows carry session_id).
Exit 1 when there is no stream, --from is not an RFC 3339 time, or the stream is truncated.")]
pub struct EventsArgs {
    #[command(flatten)]
    pub id: SessionId,

    /// Print the rows there are now and exit (no following)
    #[arg(long, visible_alias = "no-follow")]
    pub snapshot: bool,

    /// Follow until the run exits (the default; accepted as the Ruby harnex takes it)
    #[arg(long, conflicts_with = "snapshot")]
    pub follow: bool,

    /// Only rows at or after this time: RFC 3339 (2026-11-21T08:00:00Z) or a duration ago (5m, 2h)
    #[arg(long, value_name = "TS")]
    pub from: Option<String>,

    #[command(flatten)]
    pub target: SessionFilter,

    #[command(flatten)]
    pub remote: RemoteTarget,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  harnex pane --id w1                      # the pane as it looks now
  harnex pane --id w1 --lines 20           # its last 20 lines (scrollback included)
  harnex pane --id w1 --follow --interval 500ms
  harnex pane --id w1 --json

For a session started with `run --tmux` this runs `tmux capture-pane` on the pane recorded at
start-up; for any other session (foreground, --detach) it prints the supervisor's emulated
screen. Trailing blank lines are left out. --follow redraws only when the text changes (clearing
the screen first when stdout is a terminal; into a pipe or file the frames follow each other) and
ends when the session exits.")]
pub struct PaneArgs {
    #[command(flatten)]
    pub id: SessionId,

    /// Print only the last N rows with content, 1-1000000 (blank rows are left out; for tmux,
    /// scrollback above the screen counts)
    #[arg(long, short = 'n', value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    pub lines: Option<u64>,

    /// Keep redrawing when the pane changes, until the session exits
    #[arg(long, short = 'f')]
    pub follow: bool,

    /// With --follow: how often to look (e.g. 1s, 250ms; 10ms to 1h)
    #[arg(long, value_parser = parse_interval, default_value = "1s")]
    pub interval: Duration,

    /// Print JSON: {ok, id, lines, text, captured_at} (one line per change with --follow)
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub target: SessionFilter,

    #[command(flatten)]
    pub remote: RemoteTarget,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  harnex conversation --id impl-1
  harnex conversation --id impl-1 --turn 2 --json
  harnex conversation --file ~/.codex/sessions/2026/12/03/rollout-….jsonl --cli codex

Reads the agent's own records (Codex's rollout, Claude Code's transcript) of a live session, or
of the session's last run after it ended, and prints each turn: its outcome and tokens, the
prompt (`you:`) and the agent's final answer, the error of a failed turn and the tools called.
A turn still running shows as in progress. Secrets in the texts are masked. --json prints one
object {ok, id, source, path, turns}. Exit 1 when the session has no records (a generic CLI, or
records unavailable: the message says why) or has no turn N.")]
pub struct ConversationArgs {
    /// Session id
    #[arg(long, value_name = "ID", required_unless_present = "file")]
    pub id: Option<String>,

    /// Read this record file instead of a session's (with --cli codex|claude|copilot)
    #[arg(long, value_name = "PATH", conflicts_with_all = ["id", "repo"], requires = "cli")]
    pub file: Option<PathBuf>,

    /// With --id: only match a session running this CLI. With --file: whose file it is, codex,
    /// claude or copilot
    #[arg(long)]
    pub cli: Option<String>,

    /// Repository of the session (default: the current one)
    #[arg(long)]
    pub repo: Option<PathBuf>,

    /// Only turn N (1 is the first turn in the records)
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1_000_000_000))]
    pub turn: Option<u64>,

    /// Print one JSON object
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  harnex done                                  # inside a session: the task is finished
  harnex done --message 'tests pass, committed as 1a2b3c4'
  harnex done --id impl-1                      # on behalf of a session

Records a `done` event in the session's log and sets `done_at` in its status. A `run --watch`
babysitter then stops the agent and exits 0 (outcome=done), instead of taking the idle agent for
a stalled one. Inside a session --id defaults to $HARNEX_ID and the repo to
$HARNEX_SESSION_REPO_ROOT, so an agent can run plain `harnex done` when its brief says so.")]
pub struct DoneArgs {
    /// Session id (inside a session: the session's own)
    #[arg(long, env = "HARNEX_ID", hide_env_values = true)]
    pub id: Option<String>,

    /// What was done (kept in the event, secrets masked, at most 200 characters)
    #[arg(long, short = 'm', allow_hyphen_values = true)]
    pub message: Option<String>,

    /// Repository of the session [default: the session's own inside one, else the current one]
    #[arg(long, env = "HARNEX_SESSION_REPO_ROOT", hide_env_values = true)]
    pub repo: Option<PathBuf>,
}

/// `--repo` and `--cli`: which of the sessions with an id a command means.
#[derive(Debug, Clone, Default, Args)]
pub struct SessionFilter {
    /// Repository of the session (default: the current one)
    #[arg(long)]
    pub repo: Option<PathBuf>,

    /// Only match a session running this CLI
    #[arg(long)]
    pub cli: Option<String>,
}

#[derive(Debug, Args)]
pub struct HelpArgs {
    /// The command to explain
    pub command: Option<String>,
}

/// A duration flag: 0 up to [`crate::time::MAX_DURATION`] (30 days).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    crate::time::parse_duration(text)
}

/// A deadline or TTL that must leave time to act: more than 0, at most 30 days.
pub fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    let duration = crate::time::parse_duration(text)?;
    if duration.is_zero() {
        return Err(format!(
            "invalid duration {text:?}: must be more than 0 (e.g. 5s)"
        ));
    }
    Ok(duration)
}

/// How often to poll: 10 ms to 1 hour (a zero interval would spin).
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let duration = crate::time::parse_duration_within(text, Duration::from_secs(3600))?;
    if duration < Duration::from_millis(10) {
        return Err(format!(
            "invalid interval {text:?}: at least 10ms (e.g. 250ms, 1s)"
        ));
    }
    Ok(duration)
}

/// An age for `prune`: a duration of at most 100 years.
pub fn parse_age(text: &str) -> Result<Duration, String> {
    const CENTURY: Duration = Duration::from_secs(100 * 36525 * 24 * 36);
    crate::time::parse_duration_within(text, CENTURY)
        .map_err(|e| format!("{e} (an age such as 30d, 12h or 90m, at most 100 years)"))
}

/// `120x40` → (cols, rows).
pub fn parse_size(text: &str) -> Result<(u16, u16), String> {
    let bad = || format!("invalid size {text:?}: use COLSxROWS, e.g. 120x40");
    let lower = text.to_lowercase();
    let (cols, rows) = lower.split_once('x').ok_or_else(bad)?;
    let cols: u16 = cols.trim().parse().map_err(|_| bad())?;
    let rows: u16 = rows.trim().parse().map_err(|_| bad())?;
    if !(20..=1000).contains(&cols) || !(5..=1000).contains(&rows) {
        return Err(format!(
            "invalid size {text:?}: columns must be 20-1000 and rows 5-1000"
        ));
    }
    Ok((cols, rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sizes_parse() {
        assert_eq!(parse_size("120x40"), Ok((120, 40)));
        assert_eq!(parse_size("100X30"), Ok((100, 30)));
        assert!(parse_size("0x0").is_err());
        assert!(parse_size("wide").is_err());
    }

    #[test]
    fn wrapper_options_go_before_or_after_the_cli() {
        let cli = Cli::try_parse_from(["harnex", "run", "--inbox-ttl", "45", "codex", "--id", "x"])
            .unwrap();
        let Some(Command::Run(run)) = cli.command else {
            panic!("not run")
        };
        assert_eq!(run.cli(), "codex");
        assert_eq!(run.id.as_deref(), Some("x"));
        assert_eq!(run.inbox_ttl, Some(Duration::from_secs(45)));
    }

    #[test]
    fn agent_args_come_after_double_dash() {
        let cli =
            Cli::try_parse_from(["harnex", "run", "codex", "--", "--model", "o3", "-C", "/x"])
                .unwrap();
        let Some(Command::Run(run)) = cli.command else {
            panic!("not run")
        };
        assert_eq!(run.agent_args, ["--model", "o3", "-C", "/x"]);
        assert!(Cli::try_parse_from(["harnex", "run", "codex", "--model", "o3"]).is_err());
    }

    fn run_args(argv: &[&str]) -> RunArgs {
        let mut full = vec!["harnex", "run"];
        full.extend_from_slice(argv);
        match Cli::try_parse_from(full).unwrap().command {
            Some(Command::Run(run)) => *run,
            other => panic!("not run: {other:?}"),
        }
    }

    #[test]
    fn tmux_never_swallows_a_flag() {
        let run = run_args(&["codex", "--tmux", "--id", "cx-123"]);
        assert_eq!(run.tmux_window(), Some(None));
        assert_eq!(run.id.as_deref(), Some("cx-123"));
        let run = run_args(&["codex", "--tmux", "--", "--model", "o3"]);
        assert_eq!(run.tmux_window(), Some(None));
        assert_eq!(run.agent_args, ["--model", "o3"]);
        assert_eq!(run_args(&["codex"]).tmux_window(), None);
    }

    #[test]
    fn tmux_takes_a_window_name() {
        let named = |argv: &[&str]| run_args(argv).tmux_window().flatten();
        assert_eq!(
            named(&["codex", "--tmux", "mywindow"]).as_deref(),
            Some("mywindow")
        );
        assert_eq!(
            named(&["codex", "--tmux=mywindow"]).as_deref(),
            Some("mywindow")
        );
        assert_eq!(named(&["codex", "--tmux-name", "w"]).as_deref(), Some("w"));
        assert_eq!(named(&["--tmux=w", "codex"]).as_deref(), Some("w"));
    }

    #[test]
    fn bare_watch_babysits_and_a_watch_word_after_the_cli_is_the_file_hook() {
        let run = run_args(&["codex", "--watch", "--preset", "impl"]);
        assert!(run.watch() && run.cli() == "codex" && run.watch_file().is_none());
        // With no other word, the word after --watch is the CLI, whatever it looks like.
        let run = run_args(&["--watch", "codex"]);
        assert!(run.watch() && run.cli() == "codex" && run.watch_file().is_none());
        let run = run_args(&["--watch", "./my-agent.sh", "--preset", "plan"]);
        assert!(run.watch() && run.cli() == "./my-agent.sh");
        for argv in [
            &["codex", "--watch", "NOTES.md"][..],
            &["codex", "--watch=NOTES.md"],
            &["--watch", "NOTES.md", "codex"],
            &["codex", "--watch-file", "NOTES.md"],
        ] {
            let run = run_args(argv);
            assert!(!run.watch(), "{argv:?}");
            assert_eq!(run.cli(), "codex", "{argv:?}");
            assert_eq!(
                run.watch_file(),
                Some(PathBuf::from("NOTES.md")),
                "{argv:?}"
            );
            assert!(run.check_watch_file().is_ok(), "{argv:?}");
        }
        // The agent's own arguments are left alone.
        let run = run_args(&["x", "--", "--watch", "a.md"]);
        assert!(!run.watch() && run.watch_file().is_none());
        assert_eq!(run.agent_args, ["--watch", "a.md"]);
        let twice = run_args(&["codex", "--watch", "a.md", "--watch-file", "b.md"]);
        assert_eq!(twice.check_watch_file().unwrap_err().exit_code(), 2);
    }

    #[test]
    fn a_tmux_word_is_the_cli_when_no_other_names_it() {
        let run = run_args(&["--id", "x", "--tmux", "codex"]);
        assert_eq!(run.cli(), "codex");
        assert_eq!(run.tmux_window(), Some(None));
        let run = run_args(&["--tmux", "sh", "--id", "x"]);
        assert_eq!(run.cli(), "sh");
        // With a CLI, the word is the window's name; a word that is no program is one too.
        let run = run_args(&["--tmux", "codex", "claude"]);
        assert_eq!(run.cli(), "claude");
        assert_eq!(run.tmux_window(), Some(Some("codex".into())));
        let run = run_args(&["--tmux", "no-such-program-xyz"]);
        assert_eq!(run.cli(), "");
        assert_eq!(run.tmux_window(), Some(Some("no-such-program-xyz".into())));
    }

    #[test]
    fn tmux_and_detach_do_not_go_together() {
        assert!(Cli::try_parse_from(["harnex", "run", "bash", "--tmux", "--detach"]).is_err());
    }

    #[test]
    fn host_does_not_swallow_a_flag() {
        assert!(Cli::try_parse_from(["harnex", "run", "--host", "-v", "bash"]).is_err());
    }

    #[test]
    fn hyphenated_messages_are_text() {
        let cli = Cli::try_parse_from(["harnex", "send", "--id", "a", "--message", "-1"]).unwrap();
        let Some(Command::Send(send)) = cli.command else {
            panic!("not send")
        };
        assert_eq!(send.message.as_deref(), Some("-1"));
    }
}

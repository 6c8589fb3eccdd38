//! The benchmark: how light and fast harnex is, side by side with a baseline.
//!
//! `cargo run --release --example bench` first runs `cargo build --release --bin harnex
//! --example fake_agent` (a no-op when they are fresh), then drives the release binary and the
//! scripted fake agent in a private world — temp state dir, git repo, HOME and tmux socket dir —
//! and prints one table: CLI round trips, the cost of idle sessions and of 50 live ones, screen
//! throughput through the codex adapter against a bare PTY (`script`), state and event
//! latencies, each next to its target and to the Ruby harnex 0.5.0: measured in this run when it
//! is installed (`HARNEX_RUBY` or a `harnex` gem binary, see `support/bench_ruby.rs`), else the
//! figures measured in issue 8. `--ruby-only` measures the Ruby harnex alone, `--quick` with
//! small counts. It takes about five minutes (four more with the Ruby harnex);
//! `docs/performance.md` explains the method and records a run.
//!
//! It ends only processes it started: the sessions of its own state dirs (checked by the
//! `HARNEX_STATE_DIR` in their environment), by pid and process group.

#[path = "support/bench_ruby.rs"]
mod ruby;

use std::ffi::OsString;
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Value, json};

/// Samples per latency figure.
const SAMPLES: usize = 25;
/// Samples per state-latency figure (each takes about a second).
const STATE_SAMPLES: usize = 20;
const IDLE_WINDOW: Duration = Duration::from_secs(30);
/// Sessions for the status figure, and the idle window.
const SOME: usize = 20;
const MANY: usize = 50;
/// The most sessions the bench runs at once (the issue's "200 on one machine").
const CROWD: usize = 200;
const MANY_IDLE_WINDOW: Duration = Duration::from_secs(10);
const THROUGHPUT_BYTES: u64 = 20_000_000;
const THROUGHPUT_RUNS: u64 = 3;
/// Turn length of the fake agent in the state-latency runs.
const TURN_MS: u64 = 150;
/// The adapters' quiet windows (src/adapters): a prompt without positive idle evidence counts
/// only after this long without a screen change.
const GENERIC_QUIET_MS: f64 = 250.0;
const CODEX_QUIET_MS: f64 = 300.0;
/// Longest wait for anything the bench waits on.
const DEADLINE: Duration = Duration::from_secs(30);

// Targets from the issue.
const TARGET_CLI_MS: f64 = 10.0;
/// A delivered send within this share of the Ruby time.
const TARGET_SEND_VS_RUBY: f64 = 0.1;
/// `status --json` with 50 live within this multiple of its time with 1.
const TARGET_STATUS_GROWTH: f64 = 2.0;
const TARGET_IDLE_CPU_PCT: f64 = 0.1;
const TARGET_IDLE_RSS_MB: f64 = 8.0;
const TARGET_THROUGHPUT_RATIO: f64 = 1.5;
const TARGET_LATENCY_SLACK_MS: f64 = 50.0;

const USAGE: &str = "\
usage: cargo run --release --example bench [-- FLAGS]

flags:
  --ruby-only   measure the Ruby harnex alone (HARNEX_RUBY or a `harnex` gem binary)
  --quick       the Ruby part with small counts (5 samples, 5 sessions, 2 MB once): a try-out,
                not a figure to record
  -h, --help    show this help

HARNEX_RUBY     a command that runs the Ruby harnex, split at spaces,
                e.g. HARNEX_RUBY='ruby /path/to/harnex/bin/harnex'
";

struct Options {
    ruby_only: bool,
    quick: bool,
}

fn options() -> Options {
    let mut options = Options {
        ruby_only: false,
        quick: false,
    };
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--ruby-only" => options.ruby_only = true,
            "--quick" => options.quick = true,
            "-h" | "--help" => {
                print!("{USAGE}");
                std::process::exit(0);
            }
            _ => {
                say(&format!("bench: unknown argument {arg:?}\n{USAGE}"));
                std::process::exit(2);
            }
        }
    }
    options
}

fn main() {
    if cfg!(debug_assertions) {
        say("bench: build it optimised: cargo run --release --example bench");
        std::process::exit(2);
    }
    let options = options();
    let ruby = find_ruby(&options);
    let (harnex, agent) = build();
    let heading = heading(&harnex, &agent);
    install_cleanup();
    let counts = if options.quick {
        ruby::Counts::quick()
    } else {
        ruby::Counts::full()
    };
    // First, so that its sessions are gone before harnex is measured.
    let baseline = match ruby {
        Some(ruby) => ruby::measure(ruby, &agent, &counts),
        None => ruby::Baseline::Quoted,
    };
    let quick = if options.quick {
        " (--quick: small counts, a try-out, not a figure to record)"
    } else {
        ""
    };
    let heading = format!(
        "{heading}\nRuby harnex baseline: {}{quick}\n",
        baseline.heading()
    );
    let mut report = Report::new(baseline.title());
    if !options.ruby_only {
        let world = World::new(vec![harnex.into()], agent);
        say(&format!(
            "bench: private world in {}",
            world.root().display()
        ));
        run_all(&world, &mut report, &baseline);
        world.stop_all();
    }
    ruby::rows(&mut report, &baseline);
    println!("{heading}");
    print!("{}", report.render());
}

/// The Ruby harnex to measure, or none; exits 2 (with what to do) when the options and the
/// environment ask for one that cannot run.
fn find_ruby(options: &Options) -> Option<ruby::RubyHarnex> {
    let ruby = ruby::find().unwrap_or_else(|e| {
        say(&format!("bench: {e}"));
        std::process::exit(2);
    });
    if options.ruby_only && ruby.is_none() {
        say(
            "bench: --ruby-only needs the Ruby harnex: set HARNEX_RUBY to a command that runs \
             it (e.g. `ruby /path/to/harnex/bin/harnex`, a checkout of tag v0.5.0 of \
             github.com/jikkuatwork/harnex) or `gem install harnex -v 0.5.0`",
        );
        std::process::exit(2);
    }
    ruby
}

fn run_all(world: &World, report: &mut Report, baseline: &ruby::Baseline) {
    let generic = world.agent.clone();
    let codex = world.codex.clone();

    // 1. CLI round trips, one live session.
    progress("1 live session: send and status round trips");
    let (first_start, s01) = world.start("s01", &generic, &[]);
    let send_1 = send_round_trips(world, &s01, SAMPLES);
    let status_1 = status_round_trips(world, SAMPLES, 1);

    // 20 live sessions, started one after another.
    progress(&format!("starting {} more sessions", SOME - 1));
    let mut starts = vec![first_start];
    let mut sessions = vec![s01.clone()];
    let mut status_10 = Vec::new();
    for n in 2..=SOME {
        let (took, session) = world.start(&format!("s{n:02}"), &generic, &[]);
        starts.push(took);
        sessions.push(session);
        if n == 10 {
            status_10 = status_round_trips(world, SAMPLES, 10);
        }
    }
    let status_20 = status_round_trips(world, SAMPLES, SOME);

    // 2. Cost of idle sessions.
    progress(&format!(
        "{SOME} sessions idle for {} s",
        IDLE_WINDOW.as_secs()
    ));
    let idle = idle_cost(&sessions, IDLE_WINDOW);

    // Queued sends: the CLI and API alone, without the agent's typing pause.
    progress("queued sends (--no-wait to a busy agent)");
    let queued = queued_round_trips(world, &sessions[SOME - 1], SAMPLES);

    // 5. Event latency.
    progress("event latency (harnex events, following)");
    let events = event_latency(world, &s01, SAMPLES);

    // 4. State latency, generic adapter and the codex adapter.
    progress("state latency, generic adapter");
    let state_generic = state_latency(&s01, STATE_SAMPLES);
    progress("state latency, codex adapter");
    let (_, cx) = world.start(
        "cx",
        &codex,
        &["--prompt", "› ", "--title", "idle", "--bracketed-paste"],
    );
    let state_codex = state_latency(&cx, STATE_SAMPLES);
    progress("send round trips, codex adapter with bracketed paste");
    let send_codex = send_round_trips(world, &cx, SAMPLES);

    // 3. Screen throughput through the codex adapter against a bare PTY.
    progress("screen throughput: 20 MB through harnex (codex adapter) and through script");
    let (_, tp) = world.start("tp", &codex, &["--prompt", "› ", "--title", "idle"]);
    let throughput = throughput(world, &tp);

    progress("stopping all sessions");
    world.stop_all();

    // 2b. Many sessions at once.
    progress(&format!("starting {MANY} sessions at once"));
    let many = many_sessions(world, &generic, 1, MANY);
    progress(&format!(
        "starting {} more sessions at once, {CROWD} in all",
        CROWD - MANY
    ));
    let crowd = many_sessions(world, &generic, MANY + 1, CROWD);
    progress(&format!("stopping all {CROWD} sessions"));
    let stopped = stop_sessions(world, CROWD);

    report.section("1. CLI round trip (process start to exit, fake agent, generic adapter)");
    cli_rows(
        report,
        (&send_1, &send_codex),
        &queued,
        &[(1, &status_1), (10, &status_10), (SOME, &status_20)],
        baseline,
    );
    report.section("2. Cost of a session");
    idle_rows(report, &idle, &starts, baseline);
    many_rows(report, &many, (&send_1, &status_1), baseline);
    report.section(&format!("2b. {CROWD} sessions on one machine"));
    many_rows(report, &crowd, (&send_1, &status_1), baseline);
    report.row(
        &format!("stop all {CROWD} (harnex stop --wait each, at once)"),
        ms(stopped.all),
        String::new(),
        "",
        "",
    );
    report.note(
        "each: median / slowest",
        format!("{} / {}", ms(median(&stopped.each)), ms(stopped.slowest())),
    );
    report.section("3. Screen throughput (20,000,000 bytes of 80-column lines, median of 3)");
    throughput_rows(report, &throughput, baseline);
    report.section("4. State latency (median / p90 of 20)");
    state_rows(report, "generic", GENERIC_QUIET_MS, &state_generic);
    state_rows(report, "codex", CODEX_QUIET_MS, &state_codex);
    report.section("5. Event latency (row appended → printed by `harnex events`, following)");
    let (median, p90) = (median(&events), p90(&events));
    report.row(
        "row appended → line on its stdout, median",
        ms(median),
        target_ms(median, TARGET_LATENCY_SLACK_MS, "50 ms (no debounce)"),
        "",
        "",
    );
    report.note("p90", ms(p90));
}

fn progress(what: &str) {
    say(&format!("bench: {what}…"));
}

/// A line on stderr for people; a full or closed stderr is no reason to stop measuring.
fn say(line: &str) {
    let _ = writeln!(std::io::stderr(), "{line}");
}

// ---------------------------------------------------------------------------
// Building and the machine
// ---------------------------------------------------------------------------

/// Build (or check fresh) the release harnex binary and the fake agent next to this program.
fn build() -> (PathBuf, PathBuf) {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    say("bench: cargo build --release --bin harnex --example fake_agent");
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--bin",
            "harnex",
            "--example",
            "fake_agent",
        ])
        .current_dir(manifest)
        .status();
    if !status.is_ok_and(|s| s.success()) {
        say("bench: the build failed");
        std::process::exit(1);
    }
    // This program is <target>/release/examples/bench.
    let exe = std::env::current_exe().expect("own path");
    let release = exe
        .parent()
        .and_then(Path::parent)
        .expect("examples live in <target>/release/examples");
    let harnex = release.join("harnex");
    let agent = release.join("examples").join("fake_agent");
    for path in [&harnex, &agent] {
        assert!(
            path.exists(),
            "{} is missing after the build",
            path.display()
        );
    }
    (harnex, agent)
}

/// The machine and what runs, as the run begins (the baseline's line comes after it).
fn heading(harnex: &Path, agent: &Path) -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    let mem_kb = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or(0.0);
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(manifest)
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
            .unwrap_or_default()
    };
    let commit = git(&["rev-parse", "--short", "HEAD"]);
    let dirty = if git(&["status", "--porcelain", "--untracked-files=no"]).is_empty() {
        ""
    } else {
        " + uncommitted changes"
    };
    let load = std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ");
    format!(
        "harnex benchmark, {}\nmachine: {cpu}, {cores} cores, Linux {kernel}, {:.1} GiB RAM, load average {load}\nharnex: {} (commit {commit}{dirty})\nagent: {}",
        humantime::format_rfc3339_seconds(SystemTime::now()),
        mem_kb / 1024.0 / 1024.0,
        harnex.display(),
        agent.display(),
    )
}

// ---------------------------------------------------------------------------
// The private world and its sessions
// ---------------------------------------------------------------------------

struct World {
    tmp: tempfile::TempDir,
    state: PathBuf,
    repo: PathBuf,
    home: PathBuf,
    tmux: PathBuf,
    /// A symlink named `codex` to the fake agent: harnex picks the adapter from the program name
    /// (its dir leads `PATH`, where the Ruby harnex finds `codex`).
    codex: PathBuf,
    /// The harnex to run: program and leading arguments (`ruby /x/bin/harnex` for the Ruby one).
    program: Vec<OsString>,
    agent: PathBuf,
}

/// A live session, from its registry entry.
#[derive(Clone)]
struct Session {
    id: String,
    port: u16,
    token: String,
    supervisor: i32,
    agent: i32,
    transcript: PathBuf,
    events: PathBuf,
    session_id: String,
}

impl World {
    fn new(program: Vec<OsString>, agent: PathBuf) -> World {
        let tmp = tempfile::Builder::new()
            .prefix("harnex-bench-")
            .tempdir()
            .expect("temp dir");
        let dir = |name: &str| {
            let path = tmp.path().join(name);
            std::fs::create_dir_all(&path).expect("create dir");
            std::fs::canonicalize(&path).expect("canonical dir")
        };
        let (repo, home, tmux, bin) = (dir("repo"), dir("home"), dir("tmux"), dir("bin"));
        let state = tmp.path().join("state");
        let git = Command::new("git")
            .args(["init", "-q"])
            .current_dir(&repo)
            .env("HOME", &home)
            .status();
        assert!(git.is_ok_and(|s| s.success()), "git init failed");
        let codex = bin.join("codex");
        std::os::unix::fs::symlink(&agent, &codex).expect("symlink codex");
        remember_world(tmp.path(), &state);
        World {
            tmp,
            state,
            repo,
            home,
            tmux,
            codex,
            program,
            agent,
        }
    }

    fn root(&self) -> &Path {
        self.tmp.path()
    }

    /// A harnex command in this world, run from its repo.
    fn cmd(&self) -> Command {
        let mut cmd = Command::new(&self.program[0]);
        let bin = self.codex.parent().expect("the codex symlink has a dir");
        let path = std::env::var_os("PATH").unwrap_or_default();
        let path = std::env::join_paths(
            std::iter::once(bin.to_path_buf()).chain(std::env::split_paths(&path)),
        )
        .expect("PATH without a colon in its dirs");
        cmd.args(&self.program[1..])
            .current_dir(&self.repo)
            .env("HARNEX_STATE_DIR", &self.state)
            .env("HOME", &self.home)
            .env("TMUX_TMPDIR", &self.tmux)
            .env("PATH", path)
            .stdin(Stdio::null());
        for var in [
            "TMUX",
            "TMUX_PANE",
            "HARNEX_SESSION_ID",
            "HARNEX_SESSION_CLI",
            "HARNEX_ID",
            "HARNEX_HOST",
            "HARNEX_INBOX_TTL",
        ] {
            cmd.env_remove(var);
        }
        cmd
    }

    /// Run harnex to completion: how long it took, and what it printed.
    fn harnex(&self, args: &[&str]) -> (Duration, Output) {
        let started = Instant::now();
        let out = self.cmd().args(args).output().expect("run harnex");
        (started.elapsed(), out)
    }

    /// `harnex run --detach <cli> --id ID -- <agent args>`, until its JSON line.
    fn start(&self, id: &str, cli: &Path, agent_args: &[&str]) -> (Duration, Session) {
        let mut args = vec![
            "run",
            "--detach",
            "--timeout",
            "60",
            cli.to_str().expect("utf-8 path"),
            "--id",
            id,
            "--",
        ];
        args.extend_from_slice(agent_args);
        let (took, out) = self.harnex(&args);
        check(&out, "\"agent_state\":\"prompt\"", &format!("start {id}"));
        (took, self.session(id))
    }

    fn entries(&self) -> Vec<Value> {
        let Ok(dir) = std::fs::read_dir(self.state.join("sessions")) else {
            return Vec::new();
        };
        dir.flatten()
            .filter_map(|e| std::fs::read(e.path()).ok())
            .filter_map(|b| serde_json::from_slice(&b).ok())
            .collect()
    }

    fn session(&self, id: &str) -> Session {
        let entry = self
            .entries()
            .into_iter()
            .find(|e| e["id"] == id)
            .unwrap_or_else(|| panic!("no registry entry for {id}"));
        let text = |key: &str| entry[key].as_str().unwrap_or_default().to_string();
        let number = |key: &str| entry[key].as_i64().unwrap_or_default();
        let (supervisor, agent) = entry_pids(&entry).unwrap_or_default();
        Session {
            id: id.to_string(),
            port: number("port") as u16,
            token: text("token"),
            supervisor,
            agent,
            transcript: PathBuf::from(text("output_log_path")),
            events: PathBuf::from(text("events_log_path")),
            session_id: text("session_id"),
        }
    }

    /// Stop every session: SIGTERM to its supervisor (which ends the agent and writes the exit
    /// record), then SIGKILL to whatever is left after a grace period.
    fn stop_all(&self) {
        use nix::sys::signal::{Signal, kill, killpg};
        use nix::unistd::Pid;
        let pids: Vec<(i32, i32)> = self
            .entries()
            .iter()
            .filter_map(entry_pids)
            .filter(|(s, _)| started_here(*s, &self.state))
            .collect();
        for (supervisor, _) in &pids {
            let _ = kill(Pid::from_raw(*supervisor), Signal::SIGTERM);
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        let running = || {
            pids.iter()
                .flat_map(|(s, a)| [*s, *a])
                .filter(|p| started_here(*p, &self.state) && alive(*p))
                .collect::<Vec<_>>()
        };
        while !running().is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        for pid in running() {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        }
        kill_all(&self.state);
    }
}

impl Drop for World {
    fn drop(&mut self) {
        kill_all(&self.state);
        forget_world(self.tmp.path());
    }
}

/// (supervisor, agent) of a registry entry. The Ruby harnex records only the agent's pid; its
/// supervisor is the agent's parent (it forks the agent itself).
fn entry_pids(entry: &Value) -> Option<(i32, i32)> {
    let agent = entry["pid"].as_i64()? as i32;
    let supervisor = match entry["supervisor_pid"].as_i64() {
        Some(pid) => pid as i32,
        None => parent_pid(agent)?,
    };
    Some((supervisor, agent))
}

fn parent_pid(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after `(comm)`: state, ppid, …
    stat[stat.rfind(')')? + 1..]
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Whether `pid` runs with this world's state dir in its environment (a supervisor of ours, or
/// an agent it started), so that a reused pid is never signalled.
fn started_here(pid: i32, state: &Path) -> bool {
    let needle = format!("HARNEX_STATE_DIR={}", state.display());
    std::fs::read(format!("/proc/{pid}/environ"))
        .is_ok_and(|env| env.split(|b| *b == 0).any(|v| v == needle.as_bytes()))
}

/// Whether a process exists and has not exited (a zombie is waiting to be reaped, not running).
fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .is_some_and(|state| state != "Z")
    })
}

/// SIGKILL the process groups of every session of `state` that is still running.
fn kill_all(state: &Path) {
    use nix::sys::signal::{Signal, kill, killpg};
    use nix::unistd::Pid;
    let Ok(dir) = std::fs::read_dir(state.join("sessions")) else {
        return;
    };
    let entries: Vec<Value> = dir
        .flatten()
        .filter_map(|e| std::fs::read(e.path()).ok())
        .filter_map(|b| serde_json::from_slice(&b).ok())
        .collect();
    for (supervisor, agent) in entries.iter().filter_map(entry_pids) {
        for pid in [supervisor, agent] {
            if started_here(pid, state) {
                // Supervisor and agent each lead their own process group (setsid).
                let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
    }
}

/// The live worlds (root, state dir), for the cleanup on Ctrl-C.
static WORLDS: Mutex<Vec<(PathBuf, PathBuf)>> = Mutex::new(Vec::new());

fn remember_world(root: &Path, state: &Path) {
    let mut worlds = WORLDS.lock().unwrap_or_else(PoisonError::into_inner);
    worlds.push((root.to_path_buf(), state.to_path_buf()));
}

fn forget_world(root: &Path) {
    let mut worlds = WORLDS.lock().unwrap_or_else(PoisonError::into_inner);
    worlds.retain(|(r, _)| r != root);
}

/// On Ctrl-C (or SIGTERM/SIGHUP), end our sessions and remove the worlds before exiting.
fn install_cleanup() {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP]) else {
        return;
    };
    std::thread::spawn(move || {
        if let Some(signal) = signals.forever().next() {
            let worlds = WORLDS.lock().unwrap_or_else(PoisonError::into_inner);
            for (root, state) in worlds.iter() {
                kill_all(state);
                let _ = std::fs::remove_dir_all(root);
            }
            std::process::exit(128 + signal);
        }
    });
}

fn check(out: &Output, needle: &str, what: &str) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(needle),
        "{what} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Session {
    /// An authenticated request to the session API: (status, body).
    fn call(&self, method: &str, path: &str, body: &str, timeout: Duration) -> (u16, String) {
        let mut stream =
            std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("connect to the API");
        stream.set_read_timeout(Some(timeout)).expect("timeout");
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.token,
            body.len()
        );
        stream.write_all(request.as_bytes()).expect("write request");
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        let text = String::from_utf8_lossy(&response);
        let code = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_string())
            .unwrap_or_default();
        (code, body)
    }

    fn json(&self, method: &str, path: &str, body: &str, timeout: Duration) -> Value {
        let (code, text) = self.call(method, path, body, timeout);
        assert!(code == 200 || code == 202, "{method} {path}: {code} {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: {e}: {text}"))
    }

    /// Type `text` straight into the agent's terminal (the API's raw injection: one write, no
    /// inbox, no pause, no turn).
    fn type_raw(&self, text: &str, newline: bool) {
        let body = json!({"text": text, "newline": newline}).to_string();
        let answer = self.json("POST", "/send", &body, DEADLINE);
        assert_eq!(answer["status"], "delivered", "{answer}");
    }

    /// Long-poll until harnex reports `until` (`prompt` also needs nothing queued or in flight).
    fn wait_for(&self, until: &str) -> Value {
        let path = format!("/wait?until={until}&timeout_ms={}", DEADLINE.as_millis());
        let answer = self.json("GET", &path, "", DEADLINE + Duration::from_secs(5));
        assert_eq!(
            answer["ok"], true,
            "{} never reached {until}: {answer}",
            self.id
        );
        answer
    }
}

// ---------------------------------------------------------------------------
// 1. CLI round trips
// ---------------------------------------------------------------------------

/// `harnex send --id X --message …` to an agent at its prompt, until its JSON result (the
/// message delivered and its Enter taken). The fake agent answers at once ([delay=0]); between
/// samples the session is let back to a settled prompt.
fn send_round_trips(world: &World, session: &Session, n: usize) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        session.wait_for("prompt");
        let message = format!("ping{i} [delay=0]");
        let (took, out) = world.harnex(&["send", "--id", &session.id, "--message", &message]);
        check(&out, "\"status\":\"delivered\"", "send");
        samples.push(took);
    }
    session.wait_for("prompt");
    samples
}

/// `harnex status --json` with `live` sessions in the repo.
fn status_round_trips(world: &World, n: usize, live: usize) -> Vec<Duration> {
    (0..n)
        .map(|_| {
            let (took, out) = world.harnex(&["status", "--json"]);
            check(&out, "\"agent_state\"", "status --json");
            let rows: Value = serde_json::from_slice(&out.stdout).expect("status JSON");
            assert_eq!(rows.as_array().map(Vec::len), Some(live), "status rows");
            took
        })
        .collect()
}

/// `harnex send --no-wait` to a busy agent: the message is queued (202) and the command returns
/// — registry lookup, HTTP and the inbox, without the delivery's typing pause.
fn queued_round_trips(world: &World, session: &Session, n: usize) -> Vec<Duration> {
    session.wait_for("prompt");
    session.type_raw("hang", true);
    session.wait_for("busy");
    let samples = (0..n)
        .map(|i| {
            let message = format!("queued {i}");
            let (took, out) = world.harnex(&[
                "send",
                "--id",
                &session.id,
                "--no-wait",
                "--message",
                &message,
            ]);
            check(&out, "\"status\":\"queued\"", "send --no-wait");
            took
        })
        .collect();
    session.json("DELETE", "/inbox", "", DEADLINE);
    session.type_raw("\x1b", false); // Esc ends the fake agent's `hang`
    session.wait_for("prompt");
    samples
}

fn cli_rows(
    report: &mut Report,
    (send, send_codex): (&[Duration], &[Duration]),
    queued: &[Duration],
    status: &[(usize, &Vec<Duration>)],
    baseline: &ruby::Baseline,
) {
    let ruby_send = baseline.send_ms();
    let send_limit = ruby_send * TARGET_SEND_VS_RUBY;
    for (label, samples) in [
        ("send --message → JSON (delivered), median", send),
        ("same, codex adapter, bracketed paste, median", send_codex),
    ] {
        let m = median(samples);
        report.row(
            label,
            ms(m),
            target_ms(m, send_limit, &format!("0.1× Ruby = {send_limit:.1} ms")),
            &ms_f64(ruby_send),
            &ratio_to_ruby(secs(m) * 1000.0, ruby_send),
        );
        report.note("p90", ms(p90(samples)));
    }
    report.note(
        "pause before Enter",
        "none: a line program (generic) / until the paste shows at the cursor (codex)".into(),
    );
    let queued_median = median(queued);
    report.row(
        "send --no-wait → JSON (queued, agent busy), median",
        ms(queued_median),
        target_ms(queued_median, TARGET_CLI_MS, "10 ms"),
        "",
        "",
    );
    report.note("p90", ms(p90(queued)));
    for (live, samples) in status {
        let m = median(samples);
        let (ruby, vs) = match baseline.status_ms(*live) {
            Some(theirs) => (ms_f64(theirs), vs_ruby(secs(m) * 1000.0, theirs, TIME)),
            None => (String::new(), String::new()),
        };
        report.row(
            &format!("status --json, {live} live, median"),
            ms(m),
            target_ms(m, TARGET_CLI_MS, "10 ms"),
            &ruby,
            &vs,
        );
        report.note("p90", ms(p90(samples)));
    }
}

// ---------------------------------------------------------------------------
// 2. Cost of a session
// ---------------------------------------------------------------------------

struct Idle {
    window: Duration,
    /// CPU ticks each supervisor used during the window.
    ticks: Vec<u64>,
    supervisor_rss_kb: Vec<u64>,
    agent_rss_kb: Vec<u64>,
}

/// CPU (utime + stime) of every supervisor over `window` with nothing happening, and the RSS
/// of supervisors and agents at its end.
fn idle_cost(sessions: &[Session], window: Duration) -> Idle {
    let before: Vec<u64> = sessions.iter().map(|s| cpu_ticks(s.supervisor)).collect();
    std::thread::sleep(window);
    let ticks = sessions
        .iter()
        .zip(before)
        .map(|(s, b)| cpu_ticks(s.supervisor) - b)
        .collect();
    Idle {
        window,
        ticks,
        supervisor_rss_kb: sessions.iter().map(|s| rss_kb(s.supervisor)).collect(),
        agent_rss_kb: sessions.iter().map(|s| rss_kb(s.agent)).collect(),
    }
}

fn idle_rows(report: &mut Report, idle: &Idle, starts: &[Duration], baseline: &ruby::Baseline) {
    let hz = clock_ticks_per_second();
    let pct = |ticks: u64, sessions: usize| {
        ticks as f64 / hz / (idle.window.as_secs_f64() * sessions as f64) * 100.0
    };
    let first = idle.ticks[0];
    let first_pct = pct(first, 1);
    let secs_window = idle.window.as_secs();
    report.row(
        &format!("idle supervisor CPU over {secs_window} s (s01)"),
        format!("{first_pct:.3}% ({first} ticks)"),
        target(first_pct <= TARGET_IDLE_CPU_PCT, "0.1%"),
        "",
        "",
    );
    let total: u64 = idle.ticks.iter().sum();
    let n = idle.ticks.len();
    let all_pct = pct(total, n);
    report.row(
        &format!("idle CPU, mean of {n} supervisors over {secs_window} s"),
        format!("{all_pct:.4}% ({total} ticks in all)"),
        target(all_pct <= TARGET_IDLE_CPU_PCT, "0.1%"),
        "",
        "",
    );
    report.note(
        "resolution: 1 tick is",
        format!("{:.3}% (one), {:.4}% (mean)", pct(1, 1), pct(1, n)),
    );
    let rss = idle.supervisor_rss_kb[0] as f64 / 1024.0;
    report.row(
        "idle supervisor RSS (VmRSS, s01)",
        format!("{rss:.1} MB"),
        target(rss <= TARGET_IDLE_RSS_MB, "8 MB"),
        &format!("{:.1} MB", baseline.idle_rss_mb()),
        &vs_ruby(rss, baseline.idle_rss_mb(), MEMORY),
    );
    let max_rss = *idle.supervisor_rss_kb.iter().max().unwrap_or(&0) as f64 / 1024.0;
    report.note(
        &format!("largest of the {n} idle supervisors"),
        format!("{max_rss:.1} MB"),
    );
    let agent = idle.agent_rss_kb[0] as f64 / 1024.0;
    report.note("the fake agent itself (VmRSS)", format!("{agent:.1} MB"));
    report.row(
        "run --detach until its JSON line, median of 20",
        ms(median(starts)),
        "(includes the 250 ms quiet window)".into(),
        "",
        "",
    );
}

struct Many {
    /// Sessions live while measured.
    total: usize,
    /// Each `run --detach` of those launched together, and all of them.
    starts: Vec<Duration>,
    all_started: Duration,
    supervisor_rss_kb: u64,
    supervisor_pss_kb: u64,
    agent_rss_kb: u64,
    idle_ticks: u64,
    idle_window: Duration,
    send: Vec<Duration>,
    status: Vec<Duration>,
}

/// Start sessions `first..=total` at once (those before are live already), measure what all
/// `total` cost together and whether send and status slow down with them all live.
fn many_sessions(world: &World, agent: &Path, first: usize, total: usize) -> Many {
    let began = Instant::now();
    let launches: Vec<_> = (first..=total)
        .map(|n| {
            let id = format!("m{n:03}");
            let mut cmd = world.cmd();
            cmd.args(["run", "--detach", "--timeout", "60"])
                .arg(agent)
                .args(["--id", &id, "--"]);
            std::thread::spawn(move || {
                let started = Instant::now();
                let out = cmd.output().expect("run harnex");
                (started.elapsed(), out)
            })
        })
        .collect();
    let starts: Vec<Duration> = launches
        .into_iter()
        .map(|launch| {
            let (took, out) = launch.join().expect("launch thread");
            check(&out, "\"agent_state\":\"prompt\"", "start");
            took
        })
        .collect();
    let all_started = began.elapsed();
    let sessions: Vec<Session> = (1..=total)
        .map(|n| world.session(&format!("m{n:03}")))
        .collect();
    let idle = idle_cost(&sessions, MANY_IDLE_WINDOW);
    let supervisor_pss_kb = sessions.iter().map(|s| pss_kb(s.supervisor)).sum();
    progress(&format!("send and status with {total} live"));
    let send = send_round_trips(world, &sessions[0], SAMPLES);
    let status = status_round_trips(world, SAMPLES, total);
    Many {
        total,
        starts,
        all_started,
        supervisor_rss_kb: idle.supervisor_rss_kb.iter().sum(),
        supervisor_pss_kb,
        agent_rss_kb: idle.agent_rss_kb.iter().sum(),
        idle_ticks: idle.ticks.iter().sum(),
        idle_window: idle.window,
        send,
        status,
    }
}

fn many_rows(
    report: &mut Report,
    many: &Many,
    (send_1, status_1): (&[Duration], &[Duration]),
    baseline: &ruby::Baseline,
) {
    let n = many.total;
    let rss = many.supervisor_rss_kb as f64 / 1024.0;
    let ruby_rss = baseline.idle_rss_mb() * n as f64;
    report.row(
        &format!("{n} live sessions: supervisors' total RSS"),
        format!("{rss:.0} MB ({:.1} MB each)", rss / n as f64),
        target(rss / n as f64 <= TARGET_IDLE_RSS_MB, "8 MB each"),
        &format!("{ruby_rss:.0} MB ({n} × {:.1})", baseline.idle_rss_mb()),
        &vs_ruby(rss, ruby_rss, MEMORY),
    );
    let pss = many.supervisor_pss_kb as f64 / 1024.0;
    report.note(
        "supervisors' total PSS (shared pages split)",
        format!("{pss:.0} MB ({:.2} MB each)", pss / n as f64),
    );
    report.note(
        &format!("the {n} fake agents' total RSS"),
        format!("{:.0} MB", many.agent_rss_kb as f64 / 1024.0),
    );
    let hz = clock_ticks_per_second();
    let secs_window = many.idle_window.as_secs_f64();
    let pct = many.idle_ticks as f64 / hz / (secs_window * n as f64) * 100.0;
    let total_pct = many.idle_ticks as f64 / hz / secs_window * 100.0;
    report.row(
        &format!(
            "{n} idle supervisors' CPU over {} s, mean",
            many.idle_window.as_secs()
        ),
        format!("{pct:.4}% ({} ticks in all)", many.idle_ticks),
        target(pct <= TARGET_IDLE_CPU_PCT, "0.1%"),
        "",
        "",
    );
    report.note(
        &format!("all {n} together, of one core"),
        format!("{total_pct:.3}%"),
    );
    let launched = many.starts.len();
    report.row(
        &format!("{launched} × run --detach launched at once: all up"),
        ms(many.all_started),
        String::new(),
        "",
        "",
    );
    report.note(
        "each: median / slowest",
        format!(
            "{} / {}",
            ms(median(&many.starts)),
            ms(*many.starts.iter().max().unwrap_or(&Duration::ZERO))
        ),
    );
    let send = median(&many.send);
    let ruby_send = baseline.send_ms();
    let send_limit = ruby_send * TARGET_SEND_VS_RUBY;
    report.row(
        &format!("send → JSON with {n} live, median"),
        ms(send),
        target_ms(send, send_limit, &format!("{send_limit:.1} ms")),
        &format!("{} (1 live)", ms_f64(ruby_send)),
        &ratio_to_ruby(secs(send) * 1000.0, ruby_send),
    );
    report.note("p90", ms(p90(&many.send)));
    report.note("with 1 live, median", ms(median(send_1)));
    let status = median(&many.status);
    report.row(
        &format!("status --json with {n} live, median"),
        ms(status),
        target_ms(status, TARGET_CLI_MS, "10 ms"),
        &baseline
            .status_up_to(n)
            .map(|(live, theirs)| format!("{} ({live} live)", ms_f64(theirs)))
            .unwrap_or_default(),
        &baseline
            .status_up_to(n)
            .map(|(_, theirs)| ratio_to_ruby(secs(status) * 1000.0, theirs))
            .unwrap_or_default(),
    );
    report.note("p90", ms(p90(&many.status)));
    let growth = secs(status) / secs(median(status_1));
    report.row(
        &format!("status({n}) / status(1)"),
        format!("{growth:.2}"),
        if n == MANY {
            target(growth <= TARGET_STATUS_GROWTH, "2")
        } else {
            String::new()
        },
        "",
        "",
    );
    report.note("with 1 live, median", ms(median(status_1)));
}

struct Stopped {
    each: Vec<Duration>,
    all: Duration,
}

impl Stopped {
    fn slowest(&self) -> Duration {
        self.each.iter().max().copied().unwrap_or_default()
    }
}

/// `harnex stop --id X --wait` for sessions `m001..=m{total}`, all launched at once; each must
/// report its exit.
fn stop_sessions(world: &World, total: usize) -> Stopped {
    let began = Instant::now();
    let stops: Vec<_> = (1..=total)
        .map(|n| {
            let id = format!("m{n:03}");
            let mut cmd = world.cmd();
            cmd.args(["stop", "--id", &id, "--wait", "--timeout", "60"]);
            std::thread::spawn(move || {
                let started = Instant::now();
                let out = cmd.output().expect("run harnex");
                (started.elapsed(), out)
            })
        })
        .collect();
    let each = stops
        .into_iter()
        .map(|stop| {
            let (took, out) = stop.join().expect("stop thread");
            check(&out, "\"exit\"", "stop --wait");
            took
        })
        .collect();
    Stopped {
        each,
        all: began.elapsed(),
    }
}

// ---------------------------------------------------------------------------
// 3. Screen throughput
// ---------------------------------------------------------------------------

struct Throughput {
    bare: Vec<Duration>,
    /// Until `printed N` is on harnex's emulated screen.
    screen: Vec<Duration>,
    /// Until `printed N` is in harnex's transcript.
    transcript: Vec<Duration>,
    /// Supervisor CPU seconds per run.
    cpu: Vec<f64>,
    rss_after_kb: u64,
}

/// Alternate runs: the fake agent under `script -qfc … /dev/null` (a bare PTY, its output read
/// by this program), and under harnex as `codex`. Each run types `print N` + Enter in one write
/// at a prompt and stops the clock when `printed N` reaches the consumer: this program's pipe for
/// the bare PTY, harnex's emulated screen (`GET /screen`, polled every 10 ms) for harnex.
fn throughput(world: &World, session: &Session) -> Throughput {
    let mut result = Throughput {
        bare: Vec::new(),
        screen: Vec::new(),
        transcript: Vec::new(),
        cpu: Vec::new(),
        rss_after_kb: 0,
    };
    let hz = clock_ticks_per_second();
    for run in 0..THROUGHPUT_RUNS {
        let n = THROUGHPUT_BYTES + run; // a distinct final line per run
        result.bare.push(bare_pty_run(&world.agent, n));
        session.wait_for("prompt");
        let ticks = cpu_ticks(session.supervisor);
        let (screen, transcript) = harnex_print_run(session, n);
        result
            .cpu
            .push((cpu_ticks(session.supervisor) - ticks) as f64 / hz);
        result.screen.push(screen);
        result.transcript.push(transcript);
    }
    result.rss_after_kb = rss_kb(session.supervisor);
    result
}

fn harnex_print_run(session: &Session, n: u64) -> (Duration, Duration) {
    let needle = format!("printed {n}");
    let started = Instant::now();
    session.type_raw(&format!("print {n}"), true);
    let (mut screen, mut transcript) = (None, None);
    while screen.is_none() || transcript.is_none() {
        assert!(started.elapsed() < DEADLINE, "{needle} never showed");
        if transcript.is_none() && file_tail(&session.transcript, 4096).contains(&needle) {
            transcript = Some(started.elapsed());
        }
        if screen.is_none() {
            let (code, body) = session.call("GET", "/screen", "", DEADLINE);
            if code == 200 && body.contains(&needle) {
                screen = Some(started.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    (screen.unwrap_or_default(), transcript.unwrap_or_default())
}

fn file_tail(path: &Path, limit: u64) -> String {
    let Ok(mut file) = File::open(path) else {
        return String::new();
    };
    let len = file.metadata().map_or(0, |m| m.len());
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(limit)));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// The same agent, flags and command under `script` (a PTY and nothing else).
fn bare_pty_run(agent: &Path, n: u64) -> Duration {
    let command = format!(
        "'{}' --dangerously-bypass-approvals-and-sandbox --no-alt-screen --prompt '› ' --title idle",
        agent.display()
    );
    let mut child = Command::new("script")
        .args(["-qfc", &command, "/dev/null"])
        .env("TERM", "xterm-256color")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn script (util-linux)");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut seen = Vec::new();
    read_until(&mut stdout, &mut seen, "› ".as_bytes());
    let started = Instant::now();
    stdin
        .write_all(format!("print {n}\r").as_bytes())
        .expect("type into script");
    seen.clear();
    read_until(&mut stdout, &mut seen, format!("printed {n}").as_bytes());
    let took = started.elapsed();
    let _ = stdin.write_all(b"exit 0\r");
    drop(stdin);
    let _ = std::io::copy(&mut stdout, &mut std::io::sink());
    let _ = child.wait();
    took
}

/// Read until `needle` went by, keeping only a short tail of what was read.
fn read_until(pipe: &mut impl Read, tail: &mut Vec<u8>, needle: &[u8]) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = pipe.read(&mut buf).expect("read the bare PTY");
        assert!(
            n > 0,
            "the bare PTY closed before {:?}",
            String::from_utf8_lossy(needle)
        );
        tail.extend_from_slice(&buf[..n]);
        if tail.windows(needle.len()).any(|w| w == needle) {
            return;
        }
        let keep = tail.len().saturating_sub(needle.len());
        tail.drain(..keep);
    }
}

fn throughput_rows(report: &mut Report, t: &Throughput, baseline: &ruby::Baseline) {
    let bare = median(&t.bare);
    let screen = median(&t.screen);
    let mb = THROUGHPUT_BYTES as f64 / 1e6;
    report.row(
        "bare PTY (script -qfc … /dev/null)",
        format!("{} ({:.0} MB/s)", ms(bare), mb / secs(bare)),
        String::new(),
        &baseline.bare_cell(),
        "",
    );
    let ratio = secs(screen) / secs(bare);
    // Ruby's figure is until `printed N` is in its transcript (it has no screen endpoint).
    let (ruby, vs) = baseline.throughput_cells(mb / secs(screen));
    report.row(
        "harnex, codex adapter: until `printed N` on its screen",
        format!("{} ({:.0} MB/s)", ms(screen), mb / secs(screen)),
        String::new(),
        &ruby,
        &vs,
    );
    report.row(
        "  ratio harnex / bare PTY",
        format!("{ratio:.2}×"),
        target(ratio <= TARGET_THROUGHPUT_RATIO, "1.5×"),
        &baseline.throughput_ratio_cell(),
        "",
    );
    report.note(
        "harnex: until `printed N` is in its transcript",
        ms(median(&t.transcript)),
    );
    let runs = |v: &[Duration]| v.iter().map(|d| ms(*d)).collect::<Vec<_>>().join(", ");
    report.note("runs: bare PTY", runs(&t.bare));
    report.note("runs: harnex screen", runs(&t.screen));
    let cpu = t.cpu.iter().sum::<f64>() / t.cpu.len() as f64;
    // CPU time holds still on a loaded machine where wall times do not.
    let (ruby_cpu, vs) = match baseline.throughput_cpu_s() {
        Some((bytes, theirs)) if bytes == THROUGHPUT_BYTES => {
            (format!("{theirs:.2} s"), vs_ruby(cpu, theirs, CPU))
        }
        Some((bytes, theirs)) => (
            format!("{theirs:.2} s per {} MB", bytes as f64 / 1e6),
            String::new(),
        ),
        None => (String::new(), String::new()),
    };
    report.row(
        "  supervisor CPU per 20 MB (utime + stime)",
        format!("{cpu:.2} s"),
        String::new(),
        &ruby_cpu,
        &vs,
    );
    report.note(
        "supervisor RSS after the runs",
        format!("{:.1} MB", t.rss_after_kb as f64 / 1024.0),
    );
}

// ---------------------------------------------------------------------------
// 4. State latency
// ---------------------------------------------------------------------------

struct StateLatency {
    /// Enter written → harnex reports busy.
    busy: Vec<Duration>,
    /// The agent's turn-end output reached the transcript → harnex reports prompt.
    prompt: Vec<Duration>,
    /// The state harnex reported just before the Enter.
    before: String,
}

/// Per sample: type a task (`taskI [delay=150]`) without Enter and let the screen settle; arm a
/// `/wait?until=busy` long-poll and an inotify watch on the transcript; write the Enter (raw
/// injection) and take the time; busy latency = until the long-poll answers. Then long-poll
/// `/wait?until=prompt`; prompt latency = from when the agent's end-of-turn output (`answer:
/// taskI …`, which replaces its last spinner frame) appears in the transcript to that answer.
fn state_latency(session: &Session, n: usize) -> StateLatency {
    let mut result = StateLatency {
        busy: Vec::new(),
        prompt: Vec::new(),
        before: String::new(),
    };
    for i in 0..n {
        session.wait_for("prompt");
        let task = format!("task{i} [delay={TURN_MS}]");
        session.type_raw(&task, false);
        // Longer than any quiet window: the echo of the typing has settled.
        std::thread::sleep(Duration::from_millis(400));
        let status = session.json("GET", "/status", "", DEADLINE);
        result.before = status["agent_state"].as_str().unwrap_or("?").to_string();
        assert_ne!(result.before, "busy", "the typed text did not settle");
        let watch = TranscriptWatch::arm(&session.transcript, format!("answer: {task}"));
        let poller = session.clone();
        let busy_poll = std::thread::spawn(move || {
            let answer = poller.wait_for("busy");
            (Instant::now(), answer)
        });
        std::thread::sleep(Duration::from_millis(30)); // the long-poll is waiting
        let enter = Instant::now();
        session.type_raw("\r", false);
        let (busy_at, answer) = busy_poll.join().expect("busy long-poll");
        assert_eq!(answer["state"], "busy", "{answer}");
        session.wait_for("prompt");
        let prompt_at = Instant::now();
        let end = watch.finish();
        result.busy.push(busy_at.duration_since(enter));
        result.prompt.push(prompt_at.duration_since(end));
    }
    result
}

/// Notes when `needle` first appears in a growing file (inotify, no polling).
struct TranscriptWatch {
    handle: std::thread::JoinHandle<Instant>,
}

impl TranscriptWatch {
    fn arm(path: &Path, needle: String) -> TranscriptWatch {
        use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
        let inotify = Inotify::init(InitFlags::IN_CLOEXEC).expect("inotify");
        inotify
            .add_watch(path, AddWatchFlags::IN_MODIFY)
            .expect("watch the transcript");
        let mut file = File::open(path).expect("open the transcript");
        let mut offset = file.metadata().map_or(0, |m| m.len());
        let handle = std::thread::spawn(move || {
            use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
            let deadline = Instant::now() + DEADLINE;
            let mut tail = Vec::new();
            loop {
                let _ = file.seek(SeekFrom::Start(offset));
                let mut fresh = Vec::new();
                let _ = file.read_to_end(&mut fresh);
                let seen = Instant::now();
                offset += fresh.len() as u64;
                tail.extend_from_slice(&fresh);
                if tail.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                    return seen;
                }
                let keep = tail.len().saturating_sub(needle.len());
                tail.drain(..keep);
                assert!(
                    Instant::now() < deadline,
                    "{needle:?} never reached the transcript"
                );
                let mut fds = [PollFd::new(inotify.as_fd(), PollFlags::POLLIN)];
                if poll(&mut fds, PollTimeout::from(1000u16)).is_ok_and(|n| n > 0) {
                    let _ = inotify.read_events();
                }
            }
        });
        TranscriptWatch { handle }
    }

    fn finish(self) -> Instant {
        self.handle.join().expect("transcript watch")
    }
}

fn state_rows(report: &mut Report, adapter: &str, quiet_ms: f64, s: &StateLatency) {
    let budget = quiet_ms + TARGET_LATENCY_SLACK_MS;
    let label = format!("{budget:.0} ms");
    let busy = median(&s.busy);
    report.row(
        &format!("{adapter}: Enter → busy ({} before), median", s.before),
        ms(busy),
        target_ms(busy, budget, &label),
        "",
        "",
    );
    report.note("p90", ms(p90(&s.busy)));
    let prompt = median(&s.prompt);
    report.row(
        &format!("{adapter}: turn's end → prompt, median"),
        ms(prompt),
        target_ms(prompt, budget, &label),
        "",
        "",
    );
    report.note("p90", ms(p90(&s.prompt)));
}

// ---------------------------------------------------------------------------
// 5. Event latency
// ---------------------------------------------------------------------------

/// `harnex events --id X` follows the session's stream (a child with its stdout on a pipe);
/// this program appends a row to the events file itself (one `write_all` on an append-mode
/// file, as harnex does) and times until the row comes out of the pipe.
fn event_latency(world: &World, session: &Session, n: usize) -> Vec<Duration> {
    let mut child = world
        .cmd()
        .args(["events", "--id", &session.id])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn harnex events");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = mpsc::channel::<(Instant, String)>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if tx.send((Instant::now(), line)).is_err() {
                return;
            }
        }
    });
    // The rows already there come first.
    while rx.recv_timeout(Duration::from_millis(300)).is_ok() {}
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(&session.events)
        .expect("open the events file");
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let marker = format!("bench-probe-{i:03}");
        let row = json!({
            "schema_version": 1,
            "seq": 0,
            "ts": humantime::format_rfc3339_millis(SystemTime::now()).to_string(),
            "id": session.id,
            "type": "bench_probe",
            "session_id": session.session_id,
            "probe": marker,
        });
        let line = format!("{row}\n");
        let written = Instant::now();
        file.write_all(line.as_bytes()).expect("append a row");
        let printed = loop {
            let (at, text) = rx.recv_timeout(DEADLINE).expect("harnex events printed it");
            if text.contains(&marker) {
                break at;
            }
        };
        samples.push(printed.duration_since(written));
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill(); // ours, by its handle
    let _ = child.wait();
    samples
}

// ---------------------------------------------------------------------------
// /proc
// ---------------------------------------------------------------------------

fn clock_ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 { hz as f64 } else { 100.0 }
}

/// utime + stime of a process (all its threads, live and ended), in clock ticks.
fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let Some(close) = stat.rfind(')') else {
        return 0;
    };
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    // Fields after `(comm)` start at field 3 (state); utime is field 14, stime field 15.
    let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
    field(14).unwrap_or(0) + field(15).unwrap_or(0)
}

fn status_kb(pid: i32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn rss_kb(pid: i32) -> u64 {
    status_kb(pid, "VmRSS:")
}

/// Proportional set size: shared pages (the binary, libc) split among the processes sharing
/// them, so a sum over many sessions is not inflated.
fn pss_kb(pid: i32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------
// Statistics and the table
// ---------------------------------------------------------------------------

fn sorted(samples: &[Duration]) -> Vec<Duration> {
    let mut v = samples.to_vec();
    v.sort();
    v
}

fn median(samples: &[Duration]) -> Duration {
    let v = sorted(samples);
    match v.len() {
        0 => Duration::ZERO,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2,
    }
}

/// Nearest-rank 90th percentile.
fn p90(samples: &[Duration]) -> Duration {
    let v = sorted(samples);
    if v.is_empty() {
        return Duration::ZERO;
    }
    let rank = (v.len() * 9).div_ceil(10).max(1);
    v[rank - 1]
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// [`ms`] of a figure already in milliseconds.
fn ms_f64(milliseconds: f64) -> String {
    ms(Duration::from_secs_f64(milliseconds.max(0.0) / 1000.0))
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else if ms < 10_000.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.2} s", ms / 1000.0)
    }
}

fn target(met: bool, limit: &str) -> String {
    format!("≤ {limit}: {}", if met { "met" } else { "MISSED" })
}

fn target_ms(value: Duration, limit_ms: f64, label: &str) -> String {
    target(value.as_secs_f64() * 1000.0 <= limit_ms, label)
}

/// Words for "smaller is better" and "larger is worse" of a kind of figure.
const TIME: (&str, &str) = ("faster", "slower");
const MEMORY: (&str, &str) = ("less", "more");
const CPU: (&str, &str) = ("less CPU", "more CPU");

/// `ours` as a share of Ruby's `theirs` (`0.07×`; smaller is better).
fn ratio_to_ruby(ours: f64, theirs: f64) -> String {
    format!("{:.3}× Ruby", ours / theirs)
}

/// `ours` against Ruby's `theirs` (same unit; smaller is better).
fn vs_ruby(ours: f64, theirs: f64, (better, worse): (&str, &str)) -> String {
    if ours <= 0.0 || theirs <= 0.0 {
        return String::new();
    }
    if ours <= theirs {
        format!("{:.1}× {better}", theirs / ours)
    } else {
        format!("{:.1}× {worse}", ours / theirs)
    }
}

struct Report {
    rows: Vec<[String; 5]>,
    /// The Ruby column's title: where its figures come from.
    ruby_title: String,
}

impl Report {
    fn new(ruby_title: String) -> Report {
        Report {
            rows: Vec::new(),
            ruby_title,
        }
    }

    fn section(&mut self, title: &str) {
        self.rows.push([
            format!("\n{title}"),
            String::new(),
            String::new(),
            String::new(),
            String::new(),
        ]);
    }

    fn row(&mut self, figure: &str, value: String, target: String, ruby: &str, vs: &str) {
        self.rows.push([
            format!("  {figure}"),
            value,
            target,
            ruby.to_string(),
            vs.to_string(),
        ]);
    }

    /// A secondary figure under the row before.
    fn note(&mut self, figure: &str, value: String) {
        self.rows.push([
            format!("    {figure}"),
            value,
            String::new(),
            String::new(),
            String::new(),
        ]);
    }

    fn render(&self) -> String {
        let header = [
            "figure".to_string(),
            "measured".to_string(),
            "target".to_string(),
            self.ruby_title.clone(),
            "harnex vs Ruby".to_string(),
        ];
        let width = |c: usize| {
            self.rows
                .iter()
                .chain(std::iter::once(&header))
                .filter(|r| !r[0].starts_with('\n'))
                .map(|r| r[c].chars().count())
                .max()
                .unwrap_or(0)
        };
        let widths: Vec<usize> = (0..5).map(width).collect();
        let line = |r: &[String; 5]| {
            let cells: Vec<String> = r
                .iter()
                .zip(&widths)
                .map(|(cell, w)| format!("{cell:<w$}"))
                .collect();
            format!("{}\n", cells.join("  ").trim_end())
        };
        let mut out = line(&header);
        for r in &self.rows {
            if r[0].starts_with('\n') {
                out.push_str(&format!("{}\n", r[0]));
            } else {
                out.push_str(&line(r));
            }
        }
        out
    }
}

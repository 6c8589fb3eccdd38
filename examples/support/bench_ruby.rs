//! The Ruby harnex baseline of the benchmark.
//!
//! It finds the Ruby harnex — `HARNEX_RUBY` (a command, split at spaces, e.g. `ruby
//! /x/bin/harnex`) or a `harnex` gem binary (a Ruby script named `harnex` on `PATH` or in the
//! RubyGems bin dirs) — and measures it in a private world of its own (temp `HARNEX_STATE_DIR`,
//! `HOME`, `TMUX_TMPDIR` and git repo) with the same fake agent, run as `codex` through its codex
//! adapter: delivered send, `status --json` with 1, 10 and 50 live sessions, the cost of idle
//! sessions and 20 MB of screen output. Without a Ruby harnex the table keeps the figures
//! measured in issue 8. The table's rows read their Ruby column from [`Baseline`].

use std::ffi::OsString;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{
    DEADLINE, Idle, MANY_IDLE_WINDOW, Report, SAMPLES, Session, THROUGHPUT_BYTES, THROUGHPUT_RUNS,
    World, bare_pty_run, check, clock_ticks_per_second, cpu_ticks, file_tail, idle_cost, median,
    ms, p90, progress, pss_kb, say, secs,
};

// Ruby harnex 0.5.0 as measured in issue 8 on this kind of machine (Ruby was not installed on
// the reference machine then): the column's figures when no Ruby harnex is found.
const QUOTED_SEND_MS: f64 = 115.0;
const QUOTED_STATUS: (usize, f64) = (10, 119.0);
const QUOTED_IDLE_RSS_MB: f64 = 18.0;
const QUOTED_THROUGHPUT: ThroughputFigure = ThroughputFigure {
    mb: 13.8,
    secs: 11.4,
    bare_secs: 0.74,
};

/// The Ruby harnex's codex adapter counts a prompt only once Codex's banner was on the screen,
/// and its generic adapter never reports a prompt (so a delivered send to it never returns):
/// the fake agent runs as `codex` (a symlink on the world's `PATH`) and prints the banner.
const AGENT_ARGS: [&str; 6] = [
    "--prompt",
    "› ",
    "--title",
    "idle",
    "--banner",
    "OpenAI Codex",
];
/// Its codex adapter sleeps this long between the text and the Enter (`SUBMIT_DELAY_MS`).
const SUBMIT_DELAY_MS: u64 = 75;
/// Its `status` gives each session this long to answer, then prints the registry entry.
const STATUS_HTTP_TIMEOUT_MS: u64 = 250;
/// Longest wait for 20 MB through the Ruby harnex (about 1.2 MB/s on a quiet machine).
const PRINT_DEADLINE: Duration = Duration::from_secs(300);

// ---------------------------------------------------------------------------
// Finding it
// ---------------------------------------------------------------------------

/// A command that runs the Ruby harnex.
pub struct RubyHarnex {
    /// Program and leading arguments.
    argv: Vec<OsString>,
    /// `HARNEX_RUBY`, or the path of the gem binary.
    origin: String,
    /// Its `--version` line, e.g. `harnex 0.5.0 (2026-05-01)`.
    version_line: String,
}

impl RubyHarnex {
    /// `0.5.0` of `harnex 0.5.0 (2026-05-01)`.
    fn version(&self) -> &str {
        self.version_line
            .split_whitespace()
            .nth(1)
            .unwrap_or("unknown")
    }

    fn command_line(&self) -> String {
        show(&self.argv)
    }
}

fn show(argv: &[OsString]) -> String {
    argv.iter()
        .map(|a| a.to_string_lossy())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The Ruby harnex to measure: `Ok(None)` when none is installed, `Err` (with what to do) when
/// `HARNEX_RUBY` names a command that does not run it.
pub fn find() -> Result<Option<RubyHarnex>, String> {
    if let Some(command) = std::env::var_os("HARNEX_RUBY").filter(|c| !c.is_empty()) {
        let advice = "set HARNEX_RUBY to a command that runs the Ruby harnex 0.5.0, e.g. \
                      `ruby /path/to/harnex/bin/harnex`, or unset it";
        let Some(text) = command.to_str() else {
            return Err(format!("HARNEX_RUBY is not UTF-8; {advice}"));
        };
        let argv: Vec<OsString> = text.split_whitespace().map(OsString::from).collect();
        if argv.is_empty() {
            return Err(format!("HARNEX_RUBY holds only spaces; {advice}"));
        }
        return probe(argv, "HARNEX_RUBY".into())
            .map(Some)
            .map_err(|e| format!("HARNEX_RUBY={text:?}: {e}; {advice}"));
    }
    for path in gem_binaries() {
        match probe(vec![path.clone().into()], path.display().to_string()) {
            Ok(found) => return Ok(Some(found)),
            Err(e) => say(&format!(
                "bench: not the Ruby harnex: {}: {e}",
                path.display()
            )),
        }
    }
    Ok(None)
}

/// Run `<argv> --version` and check it is the Ruby harnex.
fn probe(argv: Vec<OsString>, origin: String) -> Result<RubyHarnex, String> {
    let out = Command::new(&argv[0])
        .args(&argv[1..])
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("`{} --version` did not start: {e}", show(&argv)))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().next().unwrap_or_default().trim().to_string();
    // The Ruby harnex prints `harnex 0.5.0 (2026-05-01)`; this project's binary prints no date.
    if !out.status.success() || !line.starts_with("harnex ") || !line.ends_with(')') {
        return Err(format!(
            "`{} --version` printed {line:?} ({}), not `harnex 0.5.0 (2026-05-01)`",
            show(&argv),
            out.status
        ));
    }
    Ok(RubyHarnex {
        argv,
        origin,
        version_line: line,
    })
}

/// Ruby scripts named `harnex` on `PATH` and in the RubyGems bin dirs (a gem install).
fn gem_binaries() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(rubygems_bin_dirs());
    let mut found = Vec::new();
    for path in dirs.into_iter().map(|d| d.join("harnex")) {
        if is_ruby_script(&path) && !found.contains(&path) {
            found.push(path);
        }
    }
    found
}

/// `Gem.bindir` and the user gem dir's `bin`, from Ruby itself (none without Ruby).
fn rubygems_bin_dirs() -> Vec<PathBuf> {
    let out = Command::new("ruby")
        .args(["-e", "puts Gem.bindir, File.join(Gem.user_dir, 'bin')"])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    match out {
        Ok(out) if out.status.success() => String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(PathBuf::from)
            .collect(),
        _ => Vec::new(),
    }
}

/// A file whose first line is a shebang naming ruby (this project's binary is an ELF file).
fn is_ruby_script(path: &Path) -> bool {
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let mut head = Vec::new();
    if file.take(256).read_to_end(&mut head).is_err() {
        return false;
    }
    let first = head.split(|b| *b == b'\n').next().unwrap_or_default();
    first.starts_with(b"#!") && first.windows(4).any(|w| w == b"ruby")
}

// ---------------------------------------------------------------------------
// The figures the table reads
// ---------------------------------------------------------------------------

/// How many samples and sessions the Ruby part takes.
pub struct Counts {
    samples: usize,
    /// `status --json` with this many live sessions; the last is also the idle crowd.
    live: [usize; 3],
    throughput_bytes: u64,
    throughput_runs: u64,
}

impl Counts {
    pub fn full() -> Counts {
        Counts {
            samples: SAMPLES,
            live: [1, 10, 50],
            throughput_bytes: THROUGHPUT_BYTES,
            throughput_runs: THROUGHPUT_RUNS,
        }
    }

    /// For trying the bench out: a few samples, 5 sessions, 2 MB once.
    pub fn quick() -> Counts {
        Counts {
            samples: 5,
            live: [1, 2, 5],
            throughput_bytes: 2_000_000,
            throughput_runs: 1,
        }
    }
}

struct ThroughputFigure {
    mb: f64,
    secs: f64,
    bare_secs: f64,
}

/// The Ruby column: measured in this run, or quoted from issue 8.
pub enum Baseline {
    Measured(Box<Measured>),
    Quoted,
}

impl Baseline {
    /// The column's title.
    pub fn title(&self) -> String {
        match self {
            Baseline::Measured(m) => format!("Ruby {} (this run)", m.ruby.version()),
            Baseline::Quoted => "Ruby 0.5.0 (issue 8)".into(),
        }
    }

    /// The heading's line about the baseline.
    pub fn heading(&self) -> String {
        match self {
            Baseline::Measured(m) => format!(
                "measured in this run: `{}` ({}, from {}), the fake agent as `codex` through its codex adapter",
                m.ruby.command_line(),
                m.ruby.version_line,
                m.ruby.origin
            ),
            Baseline::Quoted => {
                "not installed (no HARNEX_RUBY, no `harnex` gem binary): its column \
                                 holds the figures measured in issue 8"
                    .into()
            }
        }
    }

    /// Median delivered send.
    pub fn send_ms(&self) -> f64 {
        match self {
            Baseline::Measured(m) => secs(median(&m.send)) * 1000.0,
            Baseline::Quoted => QUOTED_SEND_MS,
        }
    }

    /// Median `status --json` with exactly `live` sessions, if measured.
    pub fn status_ms(&self, live: usize) -> Option<f64> {
        self.status_up_to(live)
            .filter(|(n, _)| *n == live)
            .map(|(_, ms)| ms)
    }

    /// Median `status --json` with the most sessions measured up to `live`: (sessions, ms).
    pub fn status_up_to(&self, live: usize) -> Option<(usize, f64)> {
        match self {
            Baseline::Measured(m) => m
                .status
                .iter()
                .filter(|run| run.live <= live)
                .max_by_key(|run| run.live)
                .map(|run| (run.live, secs(median(&run.samples)) * 1000.0)),
            Baseline::Quoted => Some(QUOTED_STATUS).filter(|(n, _)| *n <= live),
        }
    }

    /// Resident memory of an idle supervisor: the mean over the idle crowd when measured.
    pub fn idle_rss_mb(&self) -> f64 {
        match self {
            Baseline::Measured(m) => {
                let rss = &m.idle.supervisor_rss_kb;
                rss.iter().sum::<u64>() as f64 / rss.len().max(1) as f64 / 1024.0
            }
            Baseline::Quoted => QUOTED_IDLE_RSS_MB,
        }
    }

    /// Screen throughput through its codex adapter: MB, seconds, and the bare PTY's seconds.
    fn throughput(&self) -> ThroughputFigure {
        match self {
            Baseline::Measured(m) => ThroughputFigure {
                mb: m.throughput.bytes as f64 / 1e6,
                secs: secs(median(&m.throughput.ruby)),
                bare_secs: secs(median(&m.throughput.bare)),
            },
            Baseline::Quoted => QUOTED_THROUGHPUT,
        }
    }

    /// Its supervisor's mean CPU seconds for the bytes it moved: (bytes, seconds), if measured.
    pub fn throughput_cpu_s(&self) -> Option<(u64, f64)> {
        let Baseline::Measured(m) = self else {
            return None;
        };
        let cpu = &m.throughput.cpu;
        Some((
            m.throughput.bytes,
            cpu.iter().sum::<f64>() / cpu.len().max(1) as f64,
        ))
    }

    /// The Ruby cell of the bare-PTY row.
    pub fn bare_cell(&self) -> String {
        let t = self.throughput();
        format!("{:.2} s for {} MB", t.bare_secs, t.mb)
    }

    /// The Ruby cell of the throughput row, and harnex against it (`mb_per_s` is harnex's rate).
    pub fn throughput_cells(&self, mb_per_s: f64) -> (String, String) {
        let t = self.throughput();
        (
            format!("{:.1} s for {} MB", t.secs, t.mb),
            format!("{:.0}× faster", mb_per_s / (t.mb / t.secs)),
        )
    }

    /// Ruby's own ratio against the bare PTY.
    pub fn throughput_ratio_cell(&self) -> String {
        let t = self.throughput();
        format!("{:.1}×", t.secs / t.bare_secs)
    }
}

// ---------------------------------------------------------------------------
// Measuring it
// ---------------------------------------------------------------------------

pub struct Measured {
    ruby: RubyHarnex,
    send: Vec<Duration>,
    status: Vec<StatusRun>,
    /// `run --detach` until it printed its JSON (the Ruby launcher returns at registration).
    starts: Vec<Duration>,
    /// The largest crowd, idle.
    idle: Idle,
    pss_kb: Vec<u64>,
    throughput: Throughput,
}

struct StatusRun {
    live: usize,
    samples: Vec<Duration>,
    /// The fewest sessions that answered its `/status` in one call (the others are printed
    /// from the registry after a 250 ms timeout).
    answered: usize,
}

struct Throughput {
    bytes: u64,
    /// Until `printed N` is in its transcript.
    ruby: Vec<Duration>,
    bare: Vec<Duration>,
    /// Supervisor CPU seconds per run.
    cpu: Vec<f64>,
}

/// Measure the Ruby harnex in a private world of its own; every session it started is ended
/// before this returns (and on Ctrl-C, by the bench's cleanup).
pub fn measure(ruby: RubyHarnex, agent: &Path, counts: &Counts) -> Baseline {
    let world = World::new(ruby.argv.clone(), agent.to_path_buf());
    say(&format!(
        "bench: Ruby harnex `{}` in its private world {}",
        ruby.command_line(),
        world.root().display()
    ));
    let crowd = counts.live[2];
    progress("Ruby harnex: 1 live session: send and status round trips");
    let mut starts = Vec::new();
    let mut sessions = Vec::new();
    let mut status = Vec::new();
    let mut send = Vec::new();
    for n in 1..=crowd {
        let (took, session) = start(&world, &format!("r{n:02}"));
        starts.push(took);
        sessions.push(session);
        if n == 1 {
            send = send_round_trips(&world, &sessions[0], counts.samples);
        }
        if n < crowd && counts.live.contains(&n) {
            status.push(status_round_trips(&world, n, counts.samples));
            let next = counts
                .live
                .iter()
                .copied()
                .find(|l| *l > n)
                .unwrap_or(crowd);
            progress(&format!(
                "Ruby harnex: starting sessions {} to {next}, one after another",
                n + 1
            ));
        }
    }
    progress(&format!(
        "Ruby harnex: {crowd} sessions idle for {} s",
        MANY_IDLE_WINDOW.as_secs()
    ));
    let idle = idle_cost(&sessions, MANY_IDLE_WINDOW);
    let pss = sessions.iter().map(|s| pss_kb(s.supervisor)).collect();
    progress(&format!("Ruby harnex: status with {crowd} live"));
    status.push(status_round_trips(&world, crowd, counts.samples));
    progress("Ruby harnex: stopping its sessions");
    world.stop_all();
    progress(&format!(
        "Ruby harnex: screen throughput, {} bytes through its codex adapter and through script",
        counts.throughput_bytes
    ));
    let throughput = throughput(&world, agent, counts);
    world.stop_all();
    Baseline::Measured(Box::new(Measured {
        ruby,
        send,
        status,
        starts,
        idle,
        pss_kb: pss,
        throughput,
    }))
}

/// `harnex run --detach codex --id ID -- …`, then until its `/status` says prompt.
fn start(world: &World, id: &str) -> (Duration, Session) {
    let mut args = vec![
        "run",
        "--detach",
        "--timeout",
        "60",
        "codex",
        "--id",
        id,
        "--",
    ];
    args.extend_from_slice(&AGENT_ARGS);
    let (took, out) = world.harnex(&args);
    check(&out, "\"ok\":true", &format!("Ruby harnex: start {id}"));
    let session = world.session(id);
    wait_state(&session, "prompt");
    (took, session)
}

/// Poll its `/status` (it has no long-poll) until `agent_state` is `want`.
fn wait_state(session: &Session, want: &str) {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let (code, body) = session.call("GET", "/status", "", DEADLINE);
        let state = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v["agent_state"].as_str().map(str::to_string));
        if code == 200 && state.as_deref() == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "Ruby session {} never reached {want} (last: {code} {body})",
            session.id
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Until `needle` is in the last 4 KB of the session's transcript.
fn wait_transcript(session: &Session, needle: &str, limit: Duration) {
    let deadline = Instant::now() + limit;
    while !file_tail(&session.transcript, 4096).contains(needle) {
        assert!(
            Instant::now() < deadline,
            "{needle:?} never reached the transcript of Ruby session {}",
            session.id
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// `harnex send --id X --message …` at a settled prompt, until its JSON (delivered: the text
/// typed, 75 ms, the Enter). Between samples: the agent's answer in the transcript and the
/// Ruby harnex back at prompt, so every send takes its fast path.
fn send_round_trips(world: &World, session: &Session, n: usize) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let message = format!("ping{i} [delay=0]");
        let (took, out) = world.harnex(&["send", "--id", &session.id, "--message", &message]);
        check(&out, "\"status\":\"delivered\"", "Ruby harnex: send");
        samples.push(took);
        wait_transcript(session, &format!("answer: {message}"), DEADLINE);
        wait_state(session, "prompt");
    }
    samples
}

/// `harnex status --json` with `live` sessions; each answer must list them all.
fn status_round_trips(world: &World, live: usize, n: usize) -> StatusRun {
    let mut samples = Vec::with_capacity(n);
    let mut answered = live;
    for _ in 0..n {
        let (took, out) = world.harnex(&["status", "--json"]);
        check(&out, "\"agent_state\"", "Ruby harnex: status --json");
        let rows: Value = serde_json::from_slice(&out.stdout).expect("status JSON");
        let rows = rows.as_array().cloned().unwrap_or_default();
        assert_eq!(rows.len(), live, "Ruby harnex: status rows");
        // Only a live `/status` answer carries `input_state`; the registry entry does not.
        answered = answered.min(
            rows.iter()
                .filter(|r| r.get("input_state").is_some())
                .count(),
        );
        samples.push(took);
    }
    StatusRun {
        live,
        samples,
        answered,
    }
}

/// Alternate runs of the fake agent under `script` and under the Ruby harnex as `codex`:
/// `print N` + Enter in one raw write, until `printed N` reaches the bench's pipe (bare) or
/// the Ruby harnex's transcript (it has no screen endpoint; it writes each 4 KB chunk to the
/// transcript after classifying the chunk before).
fn throughput(world: &World, agent: &Path, counts: &Counts) -> Throughput {
    let (_, session) = start(world, "rtp");
    let hz = clock_ticks_per_second();
    let mut result = Throughput {
        bytes: counts.throughput_bytes,
        ruby: Vec::new(),
        bare: Vec::new(),
        cpu: Vec::new(),
    };
    for run in 0..counts.throughput_runs {
        let n = counts.throughput_bytes + run; // a distinct final line per run
        result.bare.push(bare_pty_run(agent, n));
        wait_state(&session, "prompt");
        let ticks = cpu_ticks(session.supervisor);
        let started = Instant::now();
        type_raw(&session, &format!("print {n}\r"));
        wait_transcript(&session, &format!("printed {n}"), PRINT_DEADLINE);
        result.ruby.push(started.elapsed());
        result
            .cpu
            .push((cpu_ticks(session.supervisor) - ticks) as f64 / hz);
    }
    result
}

/// Its raw injection: `POST /send {"text", "newline": false}` writes the text as it is.
fn type_raw(session: &Session, text: &str) {
    let body = json!({"text": text, "newline": false}).to_string();
    let (code, answer) = session.call("POST", "/send", &body, DEADLINE);
    assert!(
        code == 200 && answer.contains("\"ok\":true"),
        "Ruby harnex: raw send: {code} {answer}"
    );
}

// ---------------------------------------------------------------------------
// Its section of the table
// ---------------------------------------------------------------------------

/// A row of the Ruby figure alone: no target, and it is its own Ruby column.
fn figure(report: &mut Report, figure: &str, value: String) {
    report.row(figure, value, String::new(), "", "");
}

/// The Ruby figures themselves, with their spread.
pub fn rows(report: &mut Report, baseline: &Baseline) {
    let Baseline::Measured(m) = baseline else {
        return;
    };
    report.section(&format!(
        "6. Ruby harnex {}, measured in this run (the fake agent as `codex`, its codex adapter)",
        m.ruby.version()
    ));
    figure(
        report,
        "send --message → JSON (delivered), median",
        ms(median(&m.send)),
    );
    report.note("p90", ms(p90(&m.send)));
    report.note(
        "pause before Enter",
        format!("{SUBMIT_DELAY_MS} ms, fixed (its codex adapter)"),
    );
    for run in &m.status {
        figure(
            report,
            &format!("status --json, {} live, median", run.live),
            ms(median(&run.samples)),
        );
        report.note("p90", ms(p90(&run.samples)));
        if run.answered < run.live {
            report.note(
                &format!("fewest that answered within {STATUS_HTTP_TIMEOUT_MS} ms"),
                format!(
                    "{} of {} (the rest from the registry)",
                    run.answered, run.live
                ),
            );
        }
    }
    figure(
        report,
        &format!(
            "run --detach until registered, median of {}",
            m.starts.len()
        ),
        ms(median(&m.starts)),
    );
    let n = m.idle.supervisor_rss_kb.len();
    let mb = |kb: u64| kb as f64 / 1024.0;
    figure(
        report,
        "idle supervisor RSS (VmRSS, r01)",
        format!("{:.1} MB", mb(m.idle.supervisor_rss_kb[0])),
    );
    let total_rss = mb(m.idle.supervisor_rss_kb.iter().sum());
    report.note(
        &format!("{n} idle supervisors' total RSS"),
        format!("{total_rss:.0} MB ({:.1} MB each)", total_rss / n as f64),
    );
    let total_pss = mb(m.pss_kb.iter().sum());
    report.note(
        "their total PSS (shared pages split)",
        format!("{total_pss:.0} MB ({:.2} MB each)", total_pss / n as f64),
    );
    let ticks: u64 = m.idle.ticks.iter().sum();
    let window = m.idle.window.as_secs_f64();
    let pct = ticks as f64 / clock_ticks_per_second() / (window * n as f64) * 100.0;
    figure(
        report,
        &format!(
            "{n} idle supervisors' CPU over {} s, mean",
            m.idle.window.as_secs()
        ),
        format!("{pct:.4}% ({ticks} ticks in all)"),
    );
    let t = &m.throughput;
    let mb_moved = t.bytes as f64 / 1e6;
    let (ruby, bare) = (median(&t.ruby), median(&t.bare));
    figure(
        report,
        &format!(
            "{mb_moved} MB through its codex adapter: until `printed N` in its transcript, median of {}",
            t.ruby.len()
        ),
        format!("{} ({:.1} MB/s)", ms(ruby), mb_moved / secs(ruby)),
    );
    report.note(
        "same through a bare PTY (script), alternated",
        format!("{} ({:.0} MB/s)", ms(bare), mb_moved / secs(bare)),
    );
    report.note(
        "ratio Ruby / bare PTY",
        format!("{:.1}×", secs(ruby) / secs(bare)),
    );
    let runs = |v: &[Duration]| v.iter().map(|d| ms(*d)).collect::<Vec<_>>().join(", ");
    report.note("runs: Ruby", runs(&t.ruby));
    let cpu = t.cpu.iter().sum::<f64>() / t.cpu.len().max(1) as f64;
    report.note(
        &format!("supervisor CPU per {mb_moved} MB (utime + stime)"),
        format!("{cpu:.2} s"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// Executable scripts in a temporary folder of their own.
    struct Scripts(tempfile::TempDir);

    impl Scripts {
        fn new() -> Scripts {
            Scripts(tempfile::tempdir().expect("temp dir"))
        }

        fn write(&self, name: &str, body: &str) -> PathBuf {
            let path = self.path(name);
            std::fs::write(&path, body).expect("write script");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
            path
        }

        /// A path in the folder: nothing is there until it is written.
        fn path(&self, name: &str) -> PathBuf {
            self.0.path().join(name)
        }
    }

    #[test]
    fn a_ruby_script_is_told_from_a_binary_or_a_shell_script() {
        let scripts = Scripts::new();
        let gem = scripts.write("gem", "#!/usr/bin/ruby3.1\n# generated by RubyGems\n");
        let env = scripts.write("env", "#!/usr/bin/env ruby\nputs 1\n");
        let shell = scripts.write("sh", "#!/bin/sh\nexec ruby harnex \"$@\"\n");
        let elf = scripts.write("elf", "\x7fELF ruby");
        assert!(is_ruby_script(&gem));
        assert!(is_ruby_script(&env));
        assert!(!is_ruby_script(&shell), "ruby only after the first line");
        assert!(!is_ruby_script(&elf));
        assert!(!is_ruby_script(&scripts.path("missing")));
    }

    #[test]
    fn only_the_ruby_version_line_passes_the_probe() {
        let scripts = Scripts::new();
        let ruby = scripts.write(
            "ruby-harnex",
            "#!/bin/sh\necho 'harnex 0.5.0 (2026-05-01)'\n",
        );
        let found = probe(vec![ruby.into()], "test".into()).expect("the Ruby harnex");
        assert_eq!(found.version(), "0.5.0");
        let ours = scripts.write("ours", "#!/bin/sh\necho 'harnex 0.1.0'\n");
        let err = probe(vec![ours.into()], "test".into())
            .err()
            .expect("not Ruby");
        assert!(err.contains("harnex 0.1.0"), "{err}");
        let failing = scripts.write("failing", "#!/bin/sh\nexit 3\n");
        assert!(probe(vec![failing.into()], "test".into()).is_err());
        let missing = scripts.path("missing");
        let err = probe(vec![missing.into()], "test".into())
            .err()
            .expect("missing");
        assert!(err.contains("did not start"), "{err}");
    }

    fn measured(status: &[(usize, u64)]) -> Baseline {
        let ruby = RubyHarnex {
            argv: vec!["ruby".into()],
            origin: "test".into(),
            version_line: "harnex 0.5.0 (2026-05-01)".into(),
        };
        Baseline::Measured(Box::new(Measured {
            ruby,
            send: vec![Duration::from_millis(100), Duration::from_millis(120)],
            status: status
                .iter()
                .map(|(live, ms)| StatusRun {
                    live: *live,
                    samples: vec![Duration::from_millis(*ms)],
                    answered: *live,
                })
                .collect(),
            starts: Vec::new(),
            idle: Idle {
                window: Duration::from_secs(10),
                ticks: vec![0, 0],
                supervisor_rss_kb: vec![18 * 1024, 20 * 1024],
                agent_rss_kb: vec![0, 0],
            },
            pss_kb: Vec::new(),
            throughput: Throughput {
                bytes: 20_000_000,
                ruby: vec![Duration::from_secs(16)],
                bare: vec![Duration::from_millis(500)],
                cpu: vec![12.0, 14.0],
            },
        }))
    }

    #[test]
    fn the_column_reads_this_runs_figures_when_measured() {
        let b = measured(&[(1, 300), (10, 400), (50, 900)]);
        assert_eq!(b.title(), "Ruby 0.5.0 (this run)");
        assert!(b.heading().starts_with("measured in this run"));
        assert_eq!(b.send_ms(), 110.0);
        assert_eq!(b.status_ms(10), Some(400.0));
        assert_eq!(b.status_ms(20), None, "only the same number of sessions");
        assert_eq!(b.status_up_to(20), Some((10, 400.0)));
        assert_eq!(b.status_up_to(200), Some((50, 900.0)));
        assert_eq!(b.idle_rss_mb(), 19.0);
        assert_eq!(b.throughput_ratio_cell(), "32.0×");
        assert_eq!(b.bare_cell(), "0.50 s for 20 MB");
        assert_eq!(b.throughput_cpu_s(), Some((20_000_000, 13.0)));
    }

    #[test]
    fn the_column_keeps_the_quoted_figures_without_ruby() {
        let b = Baseline::Quoted;
        assert_eq!(b.title(), "Ruby 0.5.0 (issue 8)");
        assert!(b.heading().contains("issue 8"));
        assert_eq!(b.send_ms(), 115.0);
        assert_eq!(b.status_ms(1), None);
        assert_eq!(b.status_ms(10), Some(119.0));
        assert_eq!(b.status_up_to(50), Some((10, 119.0)));
        assert_eq!(b.idle_rss_mb(), 18.0);
        assert_eq!(b.throughput_ratio_cell(), "15.4×");
        assert_eq!(b.throughput_cpu_s(), None);
    }
}

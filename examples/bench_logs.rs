//! What `harnex logs` costs on a big transcript: wall time and peak RSS of the release binary.
//!
//! `cargo run --release --example bench_logs [MB]` first runs `cargo build --release --bin
//! harnex` (a no-op when it is fresh), then writes a transcript of about MB megabytes (default
//! 50) by repeating the real Codex and Claude recordings in tests/fixtures/agents, with 50 lines
//! that scroll between repeats, as the transcript of an ended session in a private state dir. It
//! prints one row per command: `logs --plain --lines 20`, `logs --plain` with every row kept, and
//! the default (filtered) and `--raw` output for comparison, reading each one's output through a
//! pipe and counting its rows. `docs/performance.md` records a run.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs per figure; the median is printed.
const RUNS: usize = 3;

fn main() {
    if cfg!(debug_assertions) {
        eprintln!("bench_logs: build it optimised: cargo run --release --example bench_logs");
        std::process::exit(2);
    }
    let megabytes: u64 = match std::env::args().nth(1).map(|a| a.parse()) {
        None => 50,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("bench_logs: the size is a whole number of megabytes, e.g. 50");
            std::process::exit(2);
        }
    };
    let harnex = build();
    let root = tempfile::tempdir().expect("temp dir");
    let state = root.path().join("state");
    let repo = std::fs::canonicalize(root.path()).expect("canonical temp dir");
    let size = write_transcript(&state, &repo, megabytes * 1_000_000);
    println!(
        "transcript: {:.1} MB, the Codex and Claude turn recordings repeated; 120x40",
        size as f64 / 1e6
    );
    println!(
        "| command | wall time (median of {RUNS}) | CPU time (same run) | peak RSS (largest) | rows printed |"
    );
    println!("|---|---|---|---|---|");
    for args in [
        &["--plain", "--lines", "20"][..],
        &["--plain", "--lines", "100000000"],
        &["--lines", "20"],
        &["--raw", "--lines", "20"],
    ] {
        let mut samples: Vec<Sample> = (0..RUNS)
            .map(|_| measure(&harnex, &state, &repo, args))
            .collect();
        samples.sort_by_key(|s| s.wall);
        let median = &samples[RUNS / 2];
        let peak = samples.iter().map(|s| s.peak_kib).max().unwrap_or(0);
        println!(
            "| `logs {}` | {:.2} s ({:.0} MB/s) | {:.2} s | {:.1} MB | {} |",
            args.join(" "),
            median.wall.as_secs_f64(),
            size as f64 / 1e6 / median.wall.as_secs_f64(),
            median.cpu.as_secs_f64(),
            peak as f64 / 1024.0,
            median.rows,
        );
    }
}

/// The transcript of session `big`, ended, of at least `bytes` bytes; returns its size.
fn write_transcript(state: &Path, repo: &Path, bytes: u64) -> u64 {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/agents");
    let mut one = Vec::new();
    for name in [
        "codex-0.169.0-turn-120x40.cast",
        "claude-2.1.328-turn-120x40.cast",
    ] {
        let cast = harnex::replay::Cast::load(&fixtures.join(name)).expect("fixture");
        for event in cast.events.iter().filter(|e| e.kind == 'o') {
            one.extend_from_slice(event.data.as_bytes());
        }
    }
    let slug = harnex::paths::SessionKey::new(repo.to_path_buf(), "big").slug();
    let dir = state.join("output");
    std::fs::create_dir_all(&dir).expect("state dir");
    for path in [state, dir.as_path()] {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    }
    let path = dir.join(format!("{slug}.log"));
    let mut file = std::fs::File::create(&path).expect("transcript");
    let mut written = 0;
    // The recordings draw at fixed rows (they were made in a fresh terminal), so each repeat
    // overwrites the last in place. Between repeats, 50 numbered lines that scroll, as a
    // program's output would: they make rows that differ from one repeat to the next.
    for n in 1.. {
        if written >= bytes {
            break;
        }
        let mark: String = (1..=50)
            .map(|i| format!("\r\nrepeat {n}, line {i}: cargo test -- output that scrolls by"))
            .collect();
        std::io::Write::write_all(&mut file, mark.as_bytes()).expect("write transcript");
        std::io::Write::write_all(&mut file, &one).expect("write transcript");
        written += (mark.len() + one.len()) as u64;
    }
    written
}

/// One run of `harnex logs`.
struct Sample {
    wall: Duration,
    /// User plus system time.
    cpu: Duration,
    peak_kib: u64,
    rows: u64,
}

/// Run `harnex logs --id big ARGS`, reading its stdout through a pipe.
// The child is reaped with wait4 (for its rusage), not Child::wait.
#[allow(clippy::zombie_processes)]
fn measure(harnex: &Path, state: &Path, repo: &Path, args: &[&str]) -> Sample {
    let start = Instant::now();
    let mut child = Command::new(harnex)
        .args(["logs", "--id", "big", "--repo"])
        .arg(repo)
        .args(args)
        .env("HARNEX_STATE_DIR", state)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn harnex");
    let mut stdout = child.stdout.take().expect("stdout");
    let mut rows = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match std::io::Read::read(&mut stdout, &mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => rows += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64,
        }
    }
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is valid, and wait4 fills it for the child we started.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 reaps our own child and writes into the two locals we pass.
    let reaped = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let wall = start.elapsed();
    assert_eq!(reaped, pid, "wait4 failed");
    let exit = std::process::ExitStatus::from_raw(status);
    assert!(exit.success(), "harnex logs {args:?} failed: {exit}");
    let time = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
    };
    Sample {
        wall,
        cpu: time(usage.ru_utime) + time(usage.ru_stime),
        peak_kib: usage.ru_maxrss as u64,
        rows,
    }
}

/// Build (or check fresh) the release harnex binary next to this program.
fn build() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!("bench_logs: cargo build --release --bin harnex");
    let status = Command::new(cargo)
        .args(["build", "--release", "--bin", "harnex"])
        .current_dir(manifest)
        .status();
    if !status.is_ok_and(|s| s.success()) {
        eprintln!("bench_logs: the build failed");
        std::process::exit(1);
    }
    // This program is <target>/release/examples/bench_logs.
    let exe = std::env::current_exe().expect("own path");
    exe.parent()
        .and_then(Path::parent)
        .expect("examples live in <target>/release/examples")
        .join("harnex")
}

//! Test support: a private harnex world per test (temp state dir, temp git repo, private tmux
//! socket dir, temp HOME), the built binaries, deadline-based polling, and cleanup of every
//! process the test started.

#![allow(dead_code)]

pub mod ssh;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const DEADLINE: Duration = Duration::from_secs(20);

/// `run --watch` in tests runs its clock ten times fast (polls, stalls, resumes; what it prints
/// and records stays in watch time): a `--stall-after 5s` example takes half a second.
pub const WATCH_TIME_SCALE: (&str, &str) = ("HARNEX_WATCH_TIME_SCALE", "0.1");

/// The harnex binary under test.
pub fn harnex_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_harnex"))
}

/// The scripted fake agent (an example, built by `cargo test`/`cargo nextest run`; never
/// installed).
pub fn fake_agent_bin() -> PathBuf {
    let dir = harnex_bin()
        .parent()
        .expect("the binary lives in a target dir")
        .join("examples");
    let path = dir.join("fake_agent");
    assert!(
        path.exists(),
        "{} is missing: build it with `cargo build --examples` (cargo test and nextest do)",
        path.display()
    );
    path
}

/// Poll `check` until it returns `Some` or the deadline passes.
pub fn wait_until<T>(what: &str, within: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub struct World {
    pub root: tempfile::TempDir,
    pub state: PathBuf,
    pub repo: PathBuf,
    pub home: PathBuf,
    pub tmux_tmpdir: PathBuf,
}

impl World {
    pub fn new() -> World {
        let root = tempfile::tempdir().expect("temp dir");
        let state = root.path().join("state");
        let repo = root.path().join("repo");
        let home = root.path().join("home");
        let tmux_tmpdir = root.path().join("tmux");
        for dir in [&repo, &home, &tmux_tmpdir] {
            std::fs::create_dir_all(dir).expect("create dir");
        }
        let git = Command::new("git")
            .args(["init", "-q"])
            .current_dir(&repo)
            .status()
            .expect("git init");
        assert!(git.success());
        World {
            state,
            repo: std::fs::canonicalize(&repo).expect("canonical repo"),
            home,
            tmux_tmpdir,
            root,
        }
    }

    /// A harnex command in this world, run from the repo.
    pub fn cmd(&self) -> Command {
        self.cmd_in(&self.repo)
    }

    pub fn cmd_in(&self, dir: &Path) -> Command {
        let mut cmd = Command::new(harnex_bin());
        cmd.current_dir(dir)
            .env("HARNEX_STATE_DIR", &self.state)
            .env("HOME", &self.home)
            // Rule overrides come from here: never the user's own config dir.
            .env("HARNEX_CONFIG_DIR", self.config_dir())
            .env("TMUX_TMPDIR", &self.tmux_tmpdir)
            .env(WATCH_TIME_SCALE.0, WATCH_TIME_SCALE.1)
            .env_remove("TMUX")
            .env_remove("TMUX_PANE")
            .env_remove("HARNEX_SESSION_ID")
            .env_remove("HARNEX_SESSION_CLI")
            .env_remove("HARNEX_ID")
            .env_remove("HARNEX_ROOT_ID")
            .env_remove("HARNEX_ROOT_SESSION_ID")
            .env_remove("HARNEX_TAGS")
            .env_remove("HARNEX_HOST")
            .env_remove("HARNEX_INBOX_TTL")
            .stdin(Stdio::null());
        cmd
    }

    /// The config dir harnex reads rule overrides from (`<it>/adapters/<agent>.toml`); not
    /// created until a test writes there.
    pub fn config_dir(&self) -> PathBuf {
        self.root.path().join("config")
    }

    /// Write `text` as the rule override of `adapter` (`<config>/adapters/<adapter>.toml`), the
    /// folders 0700 and the file 0600 as harnex requires; returns the file's path.
    pub fn write_adapter_rules(&self, adapter: &str, text: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let dir = self.config_dir().join("adapters");
        std::fs::create_dir_all(&dir).expect("config dir");
        for d in [self.config_dir(), dir.clone()] {
            std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700)).expect("chmod");
        }
        let path = dir.join(format!("{adapter}.toml"));
        std::fs::write(&path, text).expect("write rule override");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        path
    }

    /// The fake agent under the name `cli` (a symlink in the world's `bin`), so harnex gives it
    /// that CLI's adapter.
    pub fn fake_as(&self, cli: &str) -> PathBuf {
        let path = self.new_dir("bin").join(cli);
        if std::fs::symlink_metadata(&path).is_err() {
            std::os::unix::fs::symlink(fake_agent_bin(), &path).expect("symlink");
        }
        path
    }

    /// The fake agent as `codex` at a Codex-like prompt (`› `, title `idle`) with more
    /// fake-agent `flags`: `run --detach` as `id`, then until it is at its prompt.
    pub fn start_fake_codex(&self, id: &str, flags: &[&str]) -> Value {
        let codex = self.fake_as("codex");
        let mut args = vec![codex.to_str().expect("utf-8 path"), "--id", id, "--"];
        args.extend_from_slice(&["--prompt", "› ", "--title", "idle"]);
        args.extend_from_slice(flags);
        self.detach(&args);
        self.wait_state(id, "prompt")
    }

    /// Run harnex with `args` to completion.
    pub fn run(&self, args: &[&str]) -> Run {
        Run::from(self.cmd().args(args).output().expect("run harnex"))
    }

    /// `harnex run <args> --detach`, asserting it succeeded; returns its JSON line.
    pub fn detach(&self, args: &[&str]) -> Value {
        let mut full = vec!["run", "--detach"];
        full.extend_from_slice(args);
        let run = self.run(&full);
        assert_eq!(run.code, 0, "detach failed: {run:?}");
        run.json()
    }

    /// Start the fake agent detached with `id` and extra fake-agent flags.
    pub fn detach_fake(&self, id: &str, flags: &[&str]) -> Value {
        let agent = fake_agent_bin();
        let mut args = vec![agent.to_str().expect("utf-8 path"), "--id", id, "--"];
        args.extend_from_slice(flags);
        self.detach(&args)
    }

    /// bash without rc files and with a plain prompt.
    pub fn detach_bash(&self, id: &str) -> Value {
        self.detach(&["bash", "--id", id, "--", "--norc", "--noprofile"])
    }

    /// Registry entries (`sessions/*.json`; the session locks beside them are not entries).
    pub fn registry_files(&self) -> Vec<PathBuf> {
        files_in(&self.state.join("sessions"))
            .into_iter()
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect()
    }

    pub fn only_file(&self, sub: &str) -> PathBuf {
        let files = files_in(&self.state.join(sub));
        assert_eq!(files.len(), 1, "expected one file in {sub}: {files:?}");
        files.into_iter().next().expect("one file")
    }

    pub fn events(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.only_file("events")).expect("events file");
        text.lines()
            .map(|l| serde_json::from_str(l).expect("event row is JSON"))
            .collect()
    }

    /// The registry entry of a live session.
    pub fn entry(&self, id: &str) -> Value {
        self.registry_files()
            .iter()
            .filter_map(|p| std::fs::read(p).ok())
            .filter_map(|b| serde_json::from_slice::<Value>(&b).ok())
            .find(|v| v["id"] == id)
            .unwrap_or_else(|| panic!("no registry entry for {id}"))
    }

    /// The emulated screen of a live session.
    pub fn screen(&self, id: &str) -> String {
        let entry = self.entry(id);
        let port = entry["port"].as_u64().expect("port");
        let token = entry["token"].as_str().expect("token");
        let (code, body) = http("GET", port, "/screen", Some(token), b"");
        assert_eq!(code, 200, "{body}");
        let v: Value = serde_json::from_str(&body).expect("json");
        v["text"].as_str().unwrap_or("").to_string()
    }

    pub fn wait_screen(&self, id: &str, needle: &str) -> String {
        wait_until(
            &format!("{needle:?} on the screen of {id}"),
            DEADLINE,
            || {
                let screen = self.screen(id);
                screen.contains(needle).then_some(screen)
            },
        )
    }

    /// Another git repository inside this world (canonical path).
    pub fn new_repo(&self, name: &str) -> PathBuf {
        let dir = self.new_dir(name);
        let git = Command::new("git")
            .args(["init", "-q"])
            .current_dir(&dir)
            .status()
            .expect("git init");
        assert!(git.success());
        dir
    }

    /// A plain directory (no git repository) inside this world (canonical path).
    pub fn new_dir(&self, name: &str) -> PathBuf {
        let dir = self.root.path().join(name);
        std::fs::create_dir_all(&dir).expect("create dir");
        std::fs::canonicalize(&dir).expect("canonical dir")
    }

    /// Run harnex with `args` to completion, from `dir`.
    pub fn run_in(&self, dir: &Path, args: &[&str]) -> Run {
        Run::from(self.cmd_in(dir).args(args).output().expect("run harnex"))
    }

    /// Run harnex with extra environment variables.
    pub fn run_env(&self, args: &[&str], envs: &[(&str, &str)]) -> Run {
        let mut cmd = self.cmd();
        cmd.args(args);
        for (key, value) in envs {
            cmd.env(key, value);
        }
        Run::from(cmd.output().expect("run harnex"))
    }

    /// Run harnex with `input` on its stdin (a pipe, not a terminal).
    pub fn run_stdin(&self, args: &[&str], input: &str) -> Run {
        use std::io::Write;
        let mut child = self
            .cmd()
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn harnex");
        let mut stdin = child.stdin.take().expect("stdin");
        stdin.write_all(input.as_bytes()).expect("write stdin");
        drop(stdin);
        Run::from(child.wait_with_output().expect("wait harnex"))
    }

    /// `harnex run --detach --timeout 20 <args>` from `dir`, asserting it succeeded and the agent
    /// is at its prompt; returns the JSON line. The long start-up timeout keeps a loaded machine
    /// from turning into a flaky test.
    pub fn detach_in(&self, dir: &Path, args: &[&str]) -> Value {
        let mut full = vec!["run", "--detach", "--timeout", "20"];
        full.extend_from_slice(args);
        let run = self.run_in(dir, &full);
        assert_eq!(run.code, 0, "detach failed: {run:?}");
        let line = run.json();
        assert_eq!(line["agent_state"], "prompt", "{run:?}");
        line
    }

    /// Start the fake agent detached in the repo: `run --detach <fake> --id ID <harnex_args> --
    /// <flags>`.
    pub fn start_fake(&self, id: &str, harnex_args: &[&str], flags: &[&str]) -> Value {
        self.start_fake_in(&self.repo, id, harnex_args, flags)
    }

    pub fn start_fake_in(
        &self,
        dir: &Path,
        id: &str,
        harnex_args: &[&str],
        flags: &[&str],
    ) -> Value {
        let agent = fake_agent_bin();
        let mut args = vec![agent.to_str().expect("utf-8 path"), "--id", id];
        args.extend_from_slice(harnex_args);
        args.push("--");
        args.extend_from_slice(flags);
        self.detach_in(dir, &args)
    }

    /// Spawn harnex in the background (stdin, stdout and stderr are pipes).
    pub fn spawn(&self, args: &[&str]) -> Background {
        Background::spawn(self.cmd().args(args))
    }

    /// The registry entry of the live session `id` of `repo`.
    pub fn entry_in(&self, repo: &Path, id: &str) -> Value {
        self.registry_files()
            .iter()
            .filter_map(|p| std::fs::read(p).ok())
            .filter_map(|b| serde_json::from_slice::<Value>(&b).ok())
            .find(|v| v["id"] == id && v["repo_root"] == repo.to_str().expect("utf-8"))
            .unwrap_or_else(|| panic!("no registry entry for {id} in {}", repo.display()))
    }

    /// (port, token) of a live session.
    pub fn api(&self, id: &str) -> (u64, String) {
        let entry = self.entry(id);
        let port = entry["port"].as_u64().expect("port");
        let token = entry["token"].as_str().expect("token").to_string();
        (port, token)
    }

    /// An authenticated API call to a live session: (status, JSON body).
    pub fn call(&self, id: &str, method: &str, path: &str, body: &[u8]) -> (u16, Value) {
        let (port, token) = self.api(id);
        let (code, text) = http(method, port, path, Some(&token), body);
        let value = serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!("{method} {path} answered {code} with non-JSON ({e}): {text:?}")
        });
        (code, value)
    }

    /// `GET /status` of a live session.
    pub fn status(&self, id: &str) -> Value {
        let (code, body) = self.call(id, "GET", "/status", b"");
        assert_eq!(code, 200, "{body}");
        body
    }

    /// Poll until the session reports `state`.
    pub fn wait_state(&self, id: &str, state: &str) -> Value {
        wait_until(&format!("{id} to be {state}"), DEADLINE, || {
            let status = self.status(id);
            (status["agent_state"] == state).then_some(status)
        })
    }

    /// Poll until no registry entry for `id` is left.
    pub fn wait_gone(&self, id: &str) {
        self.wait_gone_within(id, DEADLINE);
    }

    pub fn wait_gone_within(&self, id: &str, within: Duration) {
        let deadline = Instant::now() + within;
        loop {
            let left = self
                .registry_files()
                .iter()
                .filter_map(|p| std::fs::read(p).ok())
                .filter_map(|b| serde_json::from_slice::<Value>(&b).ok())
                .any(|v| v["id"] == id);
            if !left {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for the registry entry of {id} to go\n{}",
                self.diagnose(id)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// What is known about session `id`: its registry entry, whether its processes still run,
    /// and its detached supervisor's own log (for failure messages).
    pub fn diagnose(&self, id: &str) -> String {
        let mut out = String::new();
        for path in self.files_of("sessions", id) {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            out.push_str(&format!("--- registry entry {}\n{text}\n", path.display()));
            if let Ok(entry) = serde_json::from_str::<Value>(&text) {
                for key in ["pid", "supervisor_pid"] {
                    if let Some(pid) = entry[key].as_u64() {
                        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                            .unwrap_or_else(|e| format!("gone ({e})"));
                        out.push_str(&format!("--- {key} {pid}: {stat}\n"));
                    }
                }
            }
        }
        for path in self.files_of("logs", id) {
            let log = std::fs::read_to_string(&path).unwrap_or_else(|e| format!("({e})"));
            out.push_str(&format!("--- supervisor log\n{log}\n"));
        }
        for path in self.files_of("exits", id) {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            out.push_str(&format!("--- exit record\n{text}\n"));
        }
        out
    }

    /// Every file under the state dir (recursively).
    pub fn state_files(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
            let Ok(entries) = std::fs::read_dir(dir) else {
                return;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else {
                    out.push(path);
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.state, &mut out);
        out.sort();
        out
    }

    /// Files in `sub` (e.g. `sessions`, `events`) whose name ends with `--<id>.<ext>` (a
    /// session's lock, `sessions/<slug>.lock`, and a file being written, `<slug>.tmp.<pid>`,
    /// are not its files).
    pub fn files_of(&self, sub: &str, id: &str) -> Vec<PathBuf> {
        let suffix = format!("--{id}.");
        files_in(&self.state.join(sub))
            .into_iter()
            .filter(|p| {
                p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                    n.contains(&suffix) && !n.ends_with(".lock") && !n.contains(".tmp.")
                })
            })
            .collect()
    }

    /// The event rows of session `id` (the only one with that id in this world).
    pub fn events_of(&self, id: &str) -> Vec<Value> {
        let files = self.files_of("events", id);
        assert_eq!(
            files.len(),
            1,
            "expected one events file for {id}: {files:?}"
        );
        let text = std::fs::read_to_string(&files[0]).expect("events file");
        text.lines()
            .map(|l| serde_json::from_str(l).expect("event row is JSON"))
            .collect()
    }

    /// The exit record of session `id` (the only one with that id in this world).
    pub fn exit_record(&self, id: &str) -> Value {
        let files = self.files_of("exits", id);
        assert_eq!(
            files.len(),
            1,
            "expected one exit record for {id}: {files:?}"
        );
        serde_json::from_slice(&std::fs::read(&files[0]).expect("exit record")).expect("JSON")
    }

    fn kill_everything(&self) {
        use nix::sys::signal::{Signal, kill, killpg};
        use nix::unistd::Pid;
        for path in self.registry_files() {
            let Ok(bytes) = std::fs::read(&path) else {
                continue;
            };
            let Ok(entry) = serde_json::from_slice::<Value>(&bytes) else {
                continue;
            };
            for key in ["pid", "supervisor_pid"] {
                if let Some(pid) = entry[key].as_i64() {
                    let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
                    let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
                }
            }
        }
        // A private tmux server, if a test started one.
        let _ = Command::new("tmux")
            .env("TMUX_TMPDIR", &self.tmux_tmpdir)
            .args(["kill-server"])
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for World {
    fn drop(&mut self) {
        self.kill_everything();
    }
}

pub fn files_in(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.is_file());
    files.sort();
    files
}

/// The outcome of one harnex invocation.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Run {
    fn from(out: Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

impl Run {
    /// stdout as one JSON value (the last non-empty line).
    pub fn json(&self) -> Value {
        let line = self
            .stdout
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_else(|| panic!("no output: {self:?}"));
        serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

/// A raw HTTP/1.1 request to a session API on loopback: (status, body).
pub fn http(
    method: &str,
    port: u64,
    path: &str,
    token: Option<&str>,
    body: &[u8],
) -> (u16, String) {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port as u16)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(token) = token {
        request.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    request.push_str("\r\n");
    stream.write_all(request.as_bytes()).expect("write");
    // The server may answer (and close) before reading a large body.
    let _ = stream.write_all(body);
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response).into_owned();
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

/// Wait until process `pid` holds an open TCP connection to `port` (a session's API): a
/// client such as `harnex wait` is in its call, e.g. its long-poll. Read from /proc: the
/// process's socket inodes, matched against the kernel's TCP tables.
pub fn wait_connected(pid: u32, port: u64) {
    wait_until(
        &format!("process {pid} to connect to port {port}"),
        DEADLINE,
        || connected(pid, port).then_some(()),
    );
}

fn connected(pid: u32, port: u64) -> bool {
    let sockets: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.flatten()
                .filter_map(|fd| std::fs::read_link(fd.path()).ok())
                .filter_map(|link| {
                    let link = link.to_string_lossy().into_owned();
                    let inode = link.strip_prefix("socket:[")?.strip_suffix(']')?;
                    Some(inode.to_string())
                })
                .collect()
        })
        .unwrap_or_default();
    let remote = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|table| {
        std::fs::read_to_string(table)
            .unwrap_or_default()
            .lines()
            .skip(1)
            .map(|line| line.split_whitespace().collect::<Vec<_>>())
            // sl local rem st tx:rx tr:when retrnsmt uid timeout inode; 01 = ESTABLISHED.
            .any(|f| {
                f.len() > 9
                    && f[2].ends_with(&remote)
                    && f[3] == "01"
                    && sockets.iter().any(|s| s == f[9])
            })
    })
}

/// A loopback port that is free right now and outside harnex's derived range (43000-46999), so
/// that no session of a parallel test takes it by chance.
pub fn free_port() -> u16 {
    loop {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        if !(43000..47000).contains(&port) {
            return port;
        }
    }
}

/// Whether a process exists and is not a zombie.
pub fn process_alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .is_some_and(|state| state != "Z")
    })
}

/// utime + stime of a process (all its threads), in clock ticks, from /proc/<pid>/stat.
pub fn cpu_ticks(pid: u64) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).expect("read /proc stat");
    let after_comm = &stat[stat.rfind(')').expect("comm") + 1..];
    let fields: Vec<&str> = after_comm.split_whitespace().collect();
    // Fields after `(comm)` start at field 3 (state); utime is field 14, stime field 15.
    let utime: u64 = fields[14 - 3].parse().expect("utime");
    let stime: u64 = fields[15 - 3].parse().expect("stime");
    utime + stime
}

/// Times the threads of a process gave up the CPU of their own accord (woke and went back to
/// sleep), from /proc/<pid>/task/*/status: a process blocked in a read or poll adds none, a
/// polling loop one per round.
pub fn voluntary_switches(pid: u32) -> u64 {
    std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("read /proc task dir")
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("status")).ok())
        .filter_map(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
                .and_then(|n| n.trim().parse::<u64>().ok())
        })
        .sum()
}

/// A harnex process running in the background; its stdout and stderr are collected as they come.
/// Dropping it kills the process if it is still running.
pub struct Background {
    child: std::process::Child,
    stdout: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    stderr: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

/// Copy everything `pipe` yields into `sink`, on a thread of its own.
fn collect(
    mut pipe: impl std::io::Read + Send + 'static,
    sink: &std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
) -> std::thread::JoinHandle<()> {
    let sink = std::sync::Arc::clone(sink);
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        loop {
            match pipe.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => sink.lock().expect("sink").extend_from_slice(&buf[..n]),
            }
        }
    })
}

impl Background {
    pub fn spawn(cmd: &mut Command) -> Background {
        use std::sync::{Arc, Mutex};
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn harnex");
        let stdout = Arc::new(Mutex::new(Vec::new()));
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let out_pipe = child.stdout.take().expect("stdout");
        let err_pipe = child.stderr.take().expect("stderr");
        let readers = vec![collect(out_pipe, &stdout), collect(err_pipe, &stderr)];
        Background {
            child,
            stdout,
            stderr,
            readers,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Write to the process's stdin.
    pub fn write_stdin(&mut self, bytes: &[u8]) {
        use std::io::Write;
        let stdin = self.child.stdin.as_mut().expect("stdin is open");
        stdin.write_all(bytes).expect("write stdin");
        stdin.flush().expect("flush stdin");
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().expect("stdout")).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().expect("stderr")).into_owned()
    }

    /// Poll until `stdout` contains `needle`.
    pub fn wait_stdout(&self, needle: &str) -> String {
        wait_until(&format!("{needle:?} on stdout"), DEADLINE, || {
            let out = self.stdout();
            out.contains(needle).then_some(out)
        })
    }

    /// Wait (with a deadline) for the process to exit by itself; returns its outcome.
    pub fn finish(mut self, within: Duration) -> Run {
        let status = wait_until("the background harnex to exit", within, || {
            self.child.try_wait().expect("try_wait")
        });
        for reader in self.readers.drain(..) {
            let _ = reader.join();
        }
        Run {
            code: status.code().unwrap_or(-1),
            stdout: self.stdout(),
            stderr: self.stderr(),
        }
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

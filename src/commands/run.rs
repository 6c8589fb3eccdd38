//! `harnex run <cli>`: check everything, then supervise in the foreground, or re-exec a detached
//! supervisor (setsid, stdio to `logs/<id>.log`) and report once it is up.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use serde_json::{Map, Value, json};

use crate::adapters::{self, Adapter};
use crate::cli::RunArgs;
use crate::client::Client;
use crate::error::{Error, Result};
use crate::paths::{self, SessionKey, StateDir};
use crate::registry;
use crate::session::{self, Mode, SessionConfig};

const DEFAULT_SIZE: (u16, u16) = (120, 40);
const DEFAULT_DETACH_TIMEOUT: Duration = Duration::from_secs(5);

pub fn run(args: RunArgs) -> Result<i32> {
    let state = StateDir::from_env()?;
    let adapter = adapters::for_cli(&args.cli);
    let plan = plan(&args, adapter.as_ref(), &state)?;
    if args.detach && !args.headless {
        return detach(&args, &plan, &state);
    }
    let listener = bind(&plan, &args)?;
    let mode = if args.headless {
        Mode::Headless
    } else {
        Mode::Foreground
    };
    let size = match mode {
        Mode::Foreground => crate::session::terminal::size()
            .map(|(rows, cols)| (cols, rows))
            .or(args.size)
            .unwrap_or(DEFAULT_SIZE),
        Mode::Headless => args.size.unwrap_or(DEFAULT_SIZE),
    };
    let config = SessionConfig {
        id: plan.id.clone(),
        cli: args.cli.clone(),
        command: plan.command.clone(),
        repo_root: plan.repo_root.clone(),
        cwd: plan.cwd.clone(),
        description: args.description.clone(),
        host: plan.host,
        port: args.port,
        context: args.context.clone(),
        inbox_ttl: plan.inbox_ttl,
        meta: plan.meta.clone(),
        summary_out: plan.summary_out.clone(),
        size,
        mode,
        session_id: crate::ids::random_hex(8),
        token: crate::ids::random_hex(16),
        started_at: SystemTime::now(),
    };
    let code = session::run(config, adapter, state, listener)?;
    Err(Error::Exit(code))
}

/// What `run` checked and decided before starting anything.
struct Plan {
    id: String,
    command: Vec<String>,
    repo_root: PathBuf,
    cwd: PathBuf,
    host: IpAddr,
    inbox_ttl: Duration,
    meta: Option<Map<String, Value>>,
    summary_out: Option<PathBuf>,
}

fn plan(args: &RunArgs, adapter: &dyn Adapter, state: &StateDir) -> Result<Plan> {
    let meta = args.meta.as_deref().map(parse_meta).transpose()?;
    let host = parse_host(args.host.as_deref())?;
    let inbox_ttl = match args.inbox_ttl {
        Some(ttl) => ttl,
        None => env_ttl()?,
    };
    if args.cli.trim().is_empty() {
        return Err(Error::usage(
            "<CLI> must not be empty: try `harnex run bash`",
        ));
    }
    let command = adapter.command(&args.cli, &args.agent_args);
    if session::pty::find_program(&command[0]).is_none() {
        return Err(Error::failed(format!(
            "{:?} was not found on PATH; install it or pass the full path to the program",
            command[0]
        )));
    }
    let cwd = std::env::current_dir()
        .map_err(|e| Error::failed(format!("cannot read the current directory: {e}")))?;
    let work_dir = adapter
        .repo_dir(&args.agent_args)
        .map(|d| if d.is_absolute() { d } else { cwd.join(d) })
        .unwrap_or_else(|| cwd.clone());
    let repo_root = paths::repo_root_of(&work_dir);
    state.ensure()?;
    let live = registry::live_entries(state);
    let id = match &args.id {
        Some(id) => paths::normalize_id(id)?,
        None => {
            let taken: Vec<String> = live
                .iter()
                .filter(|e| e.repo_root == repo_root)
                .map(|e| e.id.clone())
                .collect();
            crate::ids::generate_id(&taken)
        }
    };
    let key = SessionKey::new(repo_root.clone(), &id);
    if let Some(active) = live.iter().find(|e| e.key().slug() == key.slug()) {
        return Err(Error::failed(format!(
            "session {:?} is already active in {} (pid {}); stop it with `harnex stop --id {}` or pick another --id",
            active.id,
            repo_root.display(),
            active.pid,
            active.id
        )));
    }
    let summary_out = args
        .summary_out
        .as_ref()
        .map(|p| resolve_against(&repo_root, p))
        .or_else(|| default_summary_out(&repo_root));
    Ok(Plan {
        id,
        command,
        repo_root,
        cwd,
        host,
        inbox_ttl,
        meta,
        summary_out,
    })
}

pub fn parse_meta(text: &str) -> Result<Map<String, Value>> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Error::usage(
            "--meta must be a JSON object, e.g. --meta '{\"issue\":\"12\"}'",
        )),
        Err(e) => Err(Error::usage(format!(
            "--meta must be valid JSON ({e}), e.g. --meta '{{\"issue\":\"12\"}}'"
        ))),
    }
}

/// The API host: loopback only.
pub fn parse_host(host: Option<&str>) -> Result<IpAddr> {
    let env_host = std::env::var("HARNEX_HOST").ok().filter(|h| !h.is_empty());
    let text = host
        .map(str::to_string)
        .or(env_host)
        .unwrap_or_else(|| "127.0.0.1".into());
    let addr: IpAddr = match text.as_str() {
        "localhost" => IpAddr::from([127, 0, 0, 1]),
        other => other.trim_matches(['[', ']']).parse().map_err(|_| {
            Error::usage(format!(
                "--host {other:?} is not an IP address; use 127.0.0.1 or ::1"
            ))
        })?,
    };
    if !addr.is_loopback() {
        return Err(Error::usage(format!(
            "--host {addr} is not a loopback address: harnex serves its API on loopback only (127.0.0.1 or ::1)"
        )));
    }
    Ok(addr)
}

fn env_ttl() -> Result<Duration> {
    match std::env::var("HARNEX_INBOX_TTL") {
        Ok(v) if !v.trim().is_empty() => crate::time::parse_duration(&v)
            .map_err(|e| Error::usage(format!("HARNEX_INBOX_TTL: {e}"))),
        _ => Ok(session::inbox::DEFAULT_TTL),
    }
}

fn resolve_against(base: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    }
}

/// `<repo>/koder/DISPATCH.jsonl`, only when `koder/` exists.
pub fn default_summary_out(repo_root: &Path) -> Option<PathBuf> {
    let koder = repo_root.join("koder");
    koder.is_dir().then(|| koder.join("DISPATCH.jsonl"))
}

fn bind(plan: &Plan, args: &RunArgs) -> Result<std::net::TcpListener> {
    match args.port {
        Some(port) => std::net::TcpListener::bind((plan.host, port)).map_err(|e| {
            Error::failed(format!(
                "port {port} is not available ({e}); pick another --port or leave it out to get a free one"
            ))
        }),
        None => crate::ports::bind_first_free(
            plan.host,
            crate::ports::candidates(&plan.repo_root, &plan.id),
        )
        .map_err(|e| Error::failed(format!("no free port for the API ({e}); pass --port"))),
    }
}

/// Start a headless supervisor in its own session and report once the agent is up.
fn detach(args: &RunArgs, plan: &Plan, state: &StateDir) -> Result<i32> {
    if let Some(port) = args.port {
        // Check now: the child would only find out after we returned.
        drop(bind(plan, args).map_err(|_| {
            Error::failed(format!(
                "port {port} is not available; pick another --port or leave it out to get a free one"
            ))
        })?);
    }
    let log_path = state.supervisor_log_path(&plan.id);
    let log = paths::open_append(&log_path)?;
    let log_err = log
        .try_clone()
        .map_err(|e| Error::failed(format!("cannot open {}: {e}", log_path.display())))?;
    let exe = std::env::current_exe()
        .map_err(|e| Error::failed(format!("cannot find the harnex binary: {e}")))?;
    let mut command = Command::new(exe);
    command
        .args(child_args(&plan.id))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err);
    // SAFETY: setsid is async-signal-safe; nothing else runs between fork and exec.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut command, || {
            nix::unistd::setsid()
                .map(|_| ())
                .map_err(std::io::Error::from)
        });
    }
    let mut child = command
        .spawn()
        .map_err(|e| Error::failed(format!("cannot start the detached supervisor: {e}")))?;
    let timeout = args.timeout.unwrap_or(DEFAULT_DETACH_TIMEOUT);
    let deadline = Instant::now() + timeout;
    let key = SessionKey::new(plan.repo_root.clone(), &plan.id);
    let registry_path = state.registry_path(&key);

    // 1. The supervisor registers (or dies trying).
    let entry = loop {
        if let Some(entry) = registry::read_entry(&registry_path) {
            break entry;
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(boot_failure(state, &key, &log_path, status.code()));
        }
        if Instant::now() >= deadline {
            eprintln!(
                "harnex: detached session {} did not register within {}s; see {}",
                plan.id,
                timeout.as_secs_f64(),
                log_path.display()
            );
            return Err(Error::Exit(124));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    // 2. The agent shows its first prompt or dialog, exits, or is still starting at the deadline.
    let client = Client::for_entry(&entry);
    let remaining = deadline.saturating_duration_since(Instant::now());
    let waited = client.wait("ready", None, remaining);
    let agent_state = match &waited {
        Ok(body) => body["state"].as_str().unwrap_or("starting").to_string(),
        Err(_) => "exited".to_string(),
    };
    if agent_state == "exited" {
        let _ = child.wait();
        return Err(boot_failure(state, &key, &log_path, None));
    }
    let mut line = json!({
        "ok": true,
        "id": plan.id,
        "cli": args.cli,
        "pid": entry.pid,
        "port": entry.port,
        "mode": "headless",
        "log": log_path,
        "output_log_path": entry.output_log_path,
        "agent_state": agent_state,
    });
    if let Some(description) = &args.description {
        line["description"] = json!(description);
    }
    println!("{line}");
    Ok(0)
}

/// Our own argv for the detached child: the same options, without `--detach`, with the id fixed
/// and `--headless` added.
fn child_args(id: &str) -> Vec<String> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let split = argv.iter().position(|a| a == "--").unwrap_or(argv.len());
    let (ours, agent) = argv.split_at(split);
    let run_at = ours.iter().position(|a| a == "run").unwrap_or(0);
    let mut out: Vec<String> = Vec::new();
    let mut skip_value = false;
    for (i, arg) in ours.iter().enumerate() {
        if skip_value {
            skip_value = false;
            continue;
        }
        if arg == "--detach" {
            continue;
        }
        if arg == "--id" {
            skip_value = true;
            continue;
        }
        if arg.starts_with("--id=") {
            continue;
        }
        out.push(arg.clone());
        if i == run_at {
            out.extend(["--headless".to_string(), "--id".to_string(), id.to_string()]);
        }
    }
    out.extend(agent.iter().cloned());
    out
}

/// The agent died before it was ready: its exit code and last lines.
fn boot_failure(state: &StateDir, key: &SessionKey, log: &Path, code: Option<i32>) -> Error {
    let record = registry::read_exit(state, key);
    let tail = session::transcript_tail(&state.output_path(key), 4096);
    let lines = last_lines(&crate::text::strip_ansi(&tail), 10);
    match record {
        Some(record) => Error::failed(format!(
            "agent {} exited with code {} during start-up{}",
            record.cli,
            record.exit_code,
            if lines.is_empty() {
                String::new()
            } else {
                format!("; its last output:\n{lines}")
            }
        )),
        None => {
            let log_tail = last_lines(&session::transcript_tail(log, 4096), 10);
            Error::failed(format!(
                "the detached supervisor exited{} before the session started:\n{log_tail}",
                code.map(|c| format!(" with code {c}")).unwrap_or_default()
            ))
        }
    }
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_must_be_a_json_object() {
        assert!(parse_meta(r#"{"issue":"23"}"#).is_ok());
        let not_json = parse_meta("{").unwrap_err().to_string();
        assert!(not_json.contains("--meta must be valid JSON"), "{not_json}");
        let not_object = parse_meta("[]").unwrap_err().to_string();
        assert!(not_object.contains("--meta must be a JSON object"));
    }

    #[test]
    fn only_loopback_hosts_are_accepted() {
        assert!(parse_host(Some("127.0.0.1")).is_ok());
        assert!(parse_host(Some("::1")).is_ok());
        assert!(parse_host(Some("localhost")).is_ok());
        assert!(parse_host(Some("0.0.0.0")).is_err());
        assert!(parse_host(Some("example.com")).is_err());
    }

    #[test]
    fn summary_default_needs_koder() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(default_summary_out(dir.path()), None);
        std::fs::create_dir(dir.path().join("koder")).unwrap();
        assert_eq!(
            default_summary_out(dir.path()),
            Some(dir.path().join("koder/DISPATCH.jsonl"))
        );
    }

    #[test]
    fn last_lines_skips_blank_lines() {
        assert_eq!(last_lines("a\n\nb\nc\n", 2), "b\nc");
    }
}

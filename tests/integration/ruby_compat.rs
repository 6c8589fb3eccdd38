//! The Ruby harnex user's command lines, run unchanged: each test is one line (or one script
//! step) a Ruby harnex user writes, and asserts the result the Ruby harnex gives. Where harnex
//! differs on purpose, the test pins the documented difference (docs/compat.md).

use std::time::Duration;

use crate::support::{DEADLINE, World, fake_agent_bin, wait_until};

/// `harnex send --id w1 …` right after starting w1 in the background: send waits for the session
/// to register (saying so on stderr), then delivers.
#[test]
fn send_waits_for_a_session_that_is_not_registered_yet() {
    let world = World::new();
    let send = world.spawn(&[
        "send",
        "--id",
        "late",
        "--message",
        "hello late",
        "--timeout",
        "20",
    ]);
    wait_until("send to say it waits", DEADLINE, || {
        send.stderr().contains("waiting up to 20s").then_some(())
    });
    world.start_fake("late", &[], &["--turn-ms", "100"]);
    let run = send.finish(DEADLINE);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.json()["status"], "delivered", "{run:?}");
    world.wait_screen("late", "answer: hello late");
}

/// With no session at all, send gives up at --timeout: exit 124 and the JSON result.
#[test]
fn send_to_a_session_that_never_starts_times_out_with_124() {
    let world = World::new();
    let run = world.run(&[
        "send",
        "--id",
        "never",
        "--message",
        "hi",
        "--timeout",
        "0.3",
    ]);
    assert_eq!(run.code, 124, "{run:?}");
    let out = run.json();
    assert_eq!(out["ok"], false);
    assert_eq!(out["status"], "timeout");
    assert!(
        out["error"]
            .as_str()
            .unwrap_or("")
            .contains("did not start within"),
        "{run:?}"
    );
    assert!(
        out["waited_seconds"].as_f64().unwrap_or(0.0) >= 0.3,
        "{run:?}"
    );
    assert!(run.stderr.contains("waiting up to 300ms"), "{run:?}");
}

/// `harnex stop --id w1; harnex run … --id w1` (Ruby: works; it used to say "already active"):
/// the run waits for the stopping session to end, then starts.
#[test]
fn run_right_after_stop_waits_for_the_stopping_session() {
    let world = World::new();
    world.start_fake("w1", &["--context", "hang"], &[]);
    // Busy with a turn it never ends: the exit keys wait, and the grace (1 s) runs out first.
    world.wait_state("w1", "busy");
    let stop = world.run(&["stop", "--id", "w1", "--grace", "1"]);
    assert_eq!(stop.code, 0, "{stop:?}");
    let agent = fake_agent_bin();
    let run = world.run(&[
        "run",
        "--detach",
        agent.to_str().expect("utf-8"),
        "--id",
        "w1",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("is stopping; waiting"), "{run:?}");
    assert_eq!(run.json()["id"], "w1");
    world.wait_state("w1", "prompt");
}

/// A session that is not stopping still refuses a second run of its id, at once.
#[test]
fn run_of_a_live_id_that_is_not_stopping_is_refused_at_once() {
    let world = World::new();
    world.start_fake("w2", &[], &[]);
    let agent = fake_agent_bin();
    let started = std::time::Instant::now();
    let run = world.run(&[
        "run",
        "--detach",
        agent.to_str().expect("utf-8"),
        "--id",
        "w2",
    ]);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("already active"), "{run:?}");
    assert!(started.elapsed() < Duration::from_secs(5), "{run:?}");
}

/// `harnex run codex --context X --detach` then `harnex stop` at once: the stop lets the context
/// finish typing before it types `/exit`, so the agent takes both and exits by itself (it used to
/// get `…/exit` inside the context, and be killed after the grace).
#[test]
fn stop_right_after_a_context_waits_for_its_delivery() {
    let world = World::new();
    let codex = world.fake_as("codex");
    // 30 KB: the Codex adapter pauses 1.7 s between the text and Enter.
    let context = format!("ctx-begin {} ctx-end", "filler ".repeat(30 * 1024 / 7));
    world.detach(&[
        codex.to_str().expect("utf-8"),
        "--id",
        "cx",
        "--context",
        &context,
        "--",
        "--prompt",
        "› ",
        "--title",
        "repo",
        "--turn-ms",
        "200",
    ]);
    world.wait_screen("cx", "filler filler");
    let stop = world.run(&["stop", "--id", "cx", "--grace", "8", "--wait"]);
    assert_eq!(stop.code, 0, "{stop:?}");
    let record = world.exit_record("cx");
    assert_eq!(record["reason"], "success", "{record}");
    assert_eq!(record["exit_code"], 0, "{record}");
    // The answer repeats the 30 KB context: some 260 rendered rows, more than --lines' 200.
    let log = world
        .run(&["logs", "--id", "cx", "--plain", "--lines", "1000"])
        .stdout;
    let tail = &log[log.len().saturating_sub(300)..];
    assert!(
        log.contains("answer: [harnex session id=cx] ctx-begin"),
        "{tail}"
    );
    assert!(!log.contains("ctx-end/exit"), "{tail}");
}

/// After a session ended, `stop`, `pane`, `explain` and `send` say it ended, when and with which
/// code, and point at `harnex wait` / `harnex logs` (they used to say "no session found").
#[test]
fn commands_on_an_ended_session_say_it_ended() {
    let world = World::new();
    world.start_fake("gone", &[], &[]);
    let stop = world.run(&["stop", "--id", "gone", "--wait"]);
    assert_eq!(stop.code, 0, "{stop:?}");
    for args in [
        &["stop", "--id", "gone"][..],
        &["pane", "--id", "gone"],
        &["explain", "--id", "gone"],
    ] {
        let run = world.run(args);
        assert_eq!(run.code, 1, "{args:?}: {run:?}");
        assert!(run.stderr.contains("ended at"), "{args:?}: {run:?}");
        assert!(run.stderr.contains("with code 0"), "{args:?}: {run:?}");
        assert!(
            run.stderr.contains("harnex wait --id gone")
                && run.stderr.contains("harnex logs --id gone"),
            "{args:?}: {run:?}"
        );
    }
    // send waits for a new run of the id (Ruby does), and says at once that the last one ended.
    let send = world.run(&[
        "send",
        "--id",
        "gone",
        "--message",
        "hi",
        "--timeout",
        "0.2",
    ]);
    assert_eq!(send.code, 124, "{send:?}");
    assert!(send.stderr.contains("ended at"), "{send:?}");
}

/// `harnex run --id tx --tmux bash` (Ruby: `--tmux WORD` with no other CLI is the CLI when it is
/// an agent or a program on PATH): bash runs in a window named after the id.
#[test]
fn a_tmux_word_that_is_a_program_is_the_cli() {
    let world = World::new();
    let run = world.run(&[
        "run",
        "--id",
        "tx",
        "--tmux",
        "bash",
        "--timeout",
        "20",
        "--",
        "--norc",
        "--noprofile",
    ]);
    assert_eq!(run.code, 0, "{run:?}");
    let line = run.json();
    assert_eq!(line["cli"], "bash", "{run:?}");
    assert_eq!(line["mode"], "tmux", "{run:?}");
    assert_eq!(line["window"], "tx", "{run:?}");
    let stop = world.run(&["stop", "--id", "tx", "--wait"]);
    assert_eq!(stop.code, 0, "{stop:?}");
    // A word that is no program names the window, and the missing CLI is a usage error.
    let bad = world.run(&["run", "--id", "ty", "--tmux", "no-such-agent-xyz"]);
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stderr.contains("names the window"), "{bad:?}");
}

/// `harnex status --json` keeps the Ruby registry fields scripts use: `cwd`, `registry_path` and
/// `token` (with which they call the API).
#[test]
fn status_json_has_cwd_registry_path_and_a_working_token() {
    let world = World::new();
    world.start_fake("st", &[], &[]);
    let run = world.run(&["status", "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let row = run.json()[0].clone();
    assert_eq!(row["cwd"], world.repo.to_str().expect("utf-8"), "{row}");
    let registry = row["registry_path"].as_str().expect("registry_path");
    assert!(std::path::Path::new(registry).is_file(), "{row}");
    let token = row["token"].as_str().expect("token");
    let port = row["port"].as_u64().expect("port");
    let (code, _) = crate::support::http("GET", port, "/status", Some(token), b"");
    assert_eq!(code, 200);
}

/// `harnex status` prints Ruby's table (a dashed rule under the header) and, with no sessions,
/// "No active harnex sessions" on stdout with exit 0.
#[test]
fn status_table_has_the_ruby_rule_and_an_empty_list_is_no_error() {
    let world = World::new();
    let empty = world.run(&["status"]);
    assert_eq!(empty.code, 0, "{empty:?}");
    assert!(
        empty.stdout.starts_with("No active harnex sessions for "),
        "{empty:?}"
    );
    let all = world.run(&["status", "--all"]);
    assert_eq!(all.stdout.trim(), "No active harnex sessions.", "{all:?}");
    world.start_fake("tb", &[], &[]);
    let table = world.run(&["status"]);
    assert_eq!(table.code, 0, "{table:?}");
    let lines: Vec<&str> = table.stdout.lines().collect();
    assert!(lines[0].starts_with("ID "), "{table:?}");
    assert!(lines[1].starts_with("-- "), "{table:?}");
    assert!(lines[1].chars().all(|c| c == '-' || c == ' '), "{table:?}");
    assert!(lines[2].starts_with("tb "), "{table:?}");
}

/// `curl --data-binary 'text' …/send` (a plain-text body): typed and submitted, so the next one
/// is a message of its own (it used to be typed without Enter, and the next appended to it).
#[test]
fn a_plain_text_post_send_is_submitted() {
    let world = World::new();
    world.start_fake("plain", &[], &["--turn-ms", "100"]);
    let (code, body) = world.call("plain", "POST", "/send", b"first plain\n");
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["status"], "delivered", "{body}");
    assert_eq!(body["submitted"], true, "{body}");
    world.wait_screen("plain", "answer: first plain");
    world.wait_state("plain", "prompt");
    let (code, body) = world.call("plain", "POST", "/send", b"second plain");
    assert_eq!(code, 200, "{body}");
    let screen = world.wait_screen("plain", "answer: second plain");
    assert!(!screen.contains("first plainsecond"), "{screen}");
    let (code, body) = world.call("plain", "POST", "/send", b"  \n");
    assert_eq!(code, 400, "{body}");
}

/// A `codex` on PATH that prints `version` for `--version`.
fn codex_reporting(world: &World, dir: &str, version: &str) -> std::path::PathBuf {
    let bin = world.new_dir(dir);
    let path = bin.join("codex");
    std::fs::write(&path, format!("#!/bin/sh\necho 'codex-cli {version}'\n")).expect("write");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    bin
}

/// `harnex doctor --json` in the Ruby head's shape: `{ok, checks:[{name, required, ok, found,
/// error}]}`, exit 1 when an agent CLI is older than the oldest version harnex takes.
#[test]
fn doctor_json_has_the_ruby_shape_and_fails_on_a_too_old_codex() {
    let world = World::new();
    let path_with = |bin: &std::path::Path| {
        format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        )
    };
    let old = codex_reporting(&world, "old", "0.100.0");
    let run = crate::support::Run::from(
        world
            .cmd()
            .args(["doctor", "--json"])
            .env("PATH", path_with(&old))
            .output()
            .expect("doctor"),
    );
    assert_eq!(run.code, 1, "{run:?}");
    let report = run.json();
    assert_eq!(report["ok"], false, "{report}");
    let codex = report["checks"]
        .as_array()
        .expect("checks")
        .iter()
        .find(|c| c["name"] == "codex")
        .expect("a codex row")
        .clone();
    assert_eq!(codex["required"], ">= 0.128.0", "{codex}");
    assert_eq!(codex["ok"], false, "{codex}");
    assert_eq!(codex["found"], "0.100.0", "{codex}");
    assert!(
        codex["error"].as_str().unwrap_or("").contains("older"),
        "{codex}"
    );

    let new = codex_reporting(&world, "new", "0.169.0");
    let run = crate::support::Run::from(
        world
            .cmd()
            .args(["doctor", "--json"])
            .env("PATH", path_with(&new))
            .output()
            .expect("doctor"),
    );
    assert_eq!(run.code, 0, "{run:?}");
    let report = run.json();
    assert_eq!(report["ok"], true, "{report}");
    for check in report["checks"].as_array().expect("checks") {
        for key in ["name", "required", "ok"] {
            assert!(!check[key].is_null(), "{key} in {check}");
        }
    }
}

/// `harnex run … --context X --auto-stop` (Ruby head): the agent is stopped once it finished that
/// first task, and the session ends by itself with success.
#[test]
fn auto_stop_stops_the_agent_after_its_first_task() {
    let world = World::new();
    world.start_fake(
        "auto",
        &["--context", "the only task", "--auto-stop"],
        &["--turn-ms", "300"],
    );
    let wait = world.run(&["wait", "--id", "auto", "--timeout", "20"]);
    assert_eq!(wait.code, 0, "{wait:?}");
    let record = wait.json();
    assert_eq!(record["reason"], "success", "{record}");
    assert_eq!(record["turns"], 1, "{record}");
    let log = world.run(&["logs", "--id", "auto", "--plain"]);
    assert!(log.stdout.contains("answer: "), "{log:?}");
}

/// `--auto-stop` without `--context` is the Ruby usage error (exit 2); `--legacy-pty` is
/// accepted (harnex always runs agents under a PTY).
#[test]
fn auto_stop_needs_a_context_and_legacy_pty_is_accepted() {
    let world = World::new();
    let agent = fake_agent_bin();
    let agent = agent.to_str().expect("utf-8");
    let run = world.run(&["run", "--detach", agent, "--id", "a1", "--auto-stop"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(
        run.stderr.contains("--auto-stop requires --context"),
        "{run:?}"
    );
    let legacy = world.run(&["run", "--detach", agent, "--id", "a2", "--legacy-pty"]);
    assert_eq!(legacy.code, 0, "{legacy:?}");
}

/// `harnex run … --host 0.0.0.0` (Ruby binds it): refused on purpose, saying why and what to use.
#[test]
fn a_non_loopback_host_is_refused_with_the_reason() {
    let world = World::new();
    let run = world.run(&["run", "--detach", "bash", "--id", "h1", "--host", "0.0.0.0"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("loopback only"), "{run:?}");
    assert!(run.stderr.contains("type into the agent"), "{run:?}");
    assert!(run.stderr.contains("ssh"), "{run:?}");
}

/// Ctrl-C (or SIGTERM) on `harnex run … --watch`: the watch prints its summary, says the agent is
/// still running and how to stop it, and exits 128 + the signal (130, 143). The agent runs on.
#[test]
fn interrupting_a_watch_prints_the_summary_and_leaves_the_agent_running() {
    use nix::sys::signal::{Signal, kill};
    use nix::unistd::Pid;
    let world = World::new();
    let agent = fake_agent_bin();
    for (id, signal, code) in [("wi", Signal::SIGINT, 130), ("wt", Signal::SIGTERM, 143)] {
        let watch = world.spawn(&[
            "run",
            agent.to_str().expect("utf-8"),
            "--id",
            id,
            "--watch",
            "--stall-after",
            "1h",
        ]);
        watch.wait_stdout("harnex watch: started");
        kill(Pid::from_raw(watch.pid() as i32), signal).expect("signal the watcher");
        let run = watch.finish(DEADLINE);
        assert_eq!(run.code, code, "{run:?}");
        assert!(run.stdout.contains("outcome=interrupted"), "{run:?}");
        assert!(run.stdout.contains("is still running"), "{run:?}");
        assert!(
            run.stdout.contains(&format!("harnex stop --id {id}")),
            "{run:?}"
        );
        let status = world.run(&["status", "--id", id]);
        assert_eq!(status.code, 0, "the agent runs on: {status:?}");
    }
}

/// `harnex explain --replay FILE` without `--cli` reads a Codex or Claude recording with that
/// agent's adapter (from the recording's command or title), not the generic one.
#[test]
fn explain_replay_picks_the_adapter_from_the_recording() {
    let world = World::new();
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/agents");
    for (file, adapter) in [
        ("codex-0.169.0-turn-120x40.cast", "codex"),
        ("claude-2.1.328-turn-120x40.cast", "claude"),
    ] {
        let path = fixtures.join(file);
        let run = world.run(&[
            "explain",
            "--replay",
            path.to_str().expect("utf-8"),
            "--json",
        ]);
        assert_eq!(run.code, 0, "{run:?}");
        let report = run.json();
        assert_eq!(report["adapter"], adapter, "{file}");
        assert!(
            !report["turns_completed"]
                .as_array()
                .expect("turns")
                .is_empty(),
            "{file}: the agent's adapter sees its turn: {report}"
        );
    }
}

/// A `codex` stand-in: `--help` lists `--no-daemon` when `supports` is true; otherwise it is the
/// fake agent, with the flags the codex adapter adds stripped.
fn codex_shim(world: &World, dir: &str, supports: bool) -> std::path::PathBuf {
    let bin = world.new_dir(dir);
    let help = if supports {
        "      --no-alt-screen\n      --no-daemon\n          Run without the shared background server"
    } else {
        "      --no-alt-screen"
    };
    let fake = fake_agent_bin();
    let script = format!(
        r#"#!/bin/sh
if [ "$1" = "--help" ]; then printf '%s\n' 'Options:' '{help}'; exit 0; fi
for arg in "$@"; do
  shift
  case "$arg" in
    --dangerously-bypass-approvals-and-sandbox|--no-alt-screen|--no-daemon) ;;
    *) set -- "$@" "$arg" ;;
  esac
done
exec '{}' --prompt '› ' --title repo "$@"
"#,
        fake.display()
    );
    let path = bin.join("codex");
    std::fs::write(&path, script).expect("write shim");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

/// `harnex run codex` adds `--no-daemon` when the installed Codex has it (so its background
/// app-server does not outlive the session), and not when it does not, or was given already.
#[test]
fn codex_gets_no_daemon_when_it_supports_it() {
    let world = World::new();
    let cases = [
        ("new", true, &[][..]),
        ("old", false, &[][..]),
        ("given", true, &["--", "--no-daemon"][..]),
    ];
    for (id, supports, extra) in cases {
        let codex = codex_shim(&world, id, supports);
        let mut args = vec![codex.to_str().expect("utf-8"), "--id", id];
        args.extend_from_slice(extra);
        world.detach(&args);
        let command: Vec<String> = world.entry(id)["command"]
            .as_array()
            .expect("command")
            .iter()
            .map(|a| a.as_str().unwrap_or("").to_string())
            .collect();
        let count = command.iter().filter(|a| *a == "--no-daemon").count();
        let expected = usize::from(supports);
        assert_eq!(count, expected, "{id}: {command:?}");
    }
}

/// Bash completion offers live session ids after `--id` (it used to offer file names) and none
/// of the hidden flags.
#[test]
fn bash_completion_offers_live_ids_and_no_hidden_flags() {
    let world = World::new();
    world.start_fake("live-one", &[], &[]);
    let script = world.run(&["completions", "bash"]);
    assert_eq!(script.code, 0, "{script:?}");
    let file = world.root.path().join("harnex.bash");
    std::fs::write(&file, &script.stdout).expect("write script");
    let bin_dir = crate::support::harnex_bin()
        .parent()
        .expect("bin dir")
        .to_path_buf();
    let complete = |words: &str, cur: &str, prev: &str| {
        let code = format!(
            "source '{}'; COMP_WORDS=({words} '{cur}'); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 )); _harnex harnex '{cur}' '{prev}'; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            file.display()
        );
        let run = std::process::Command::new("bash")
            .args(["-c", &code])
            .current_dir(&world.repo)
            .env("HARNEX_STATE_DIR", &world.state)
            .env("HOME", &world.home)
            .env(
                "PATH",
                format!(
                    "{}:{}",
                    bin_dir.display(),
                    std::env::var("PATH").unwrap_or_default()
                ),
            )
            .output()
            .expect("bash");
        String::from_utf8_lossy(&run.stdout).into_owned()
    };
    let ids = complete("harnex send --id", "", "--id");
    assert_eq!(ids.trim(), "live-one", "{ids}");
    let flags = complete("harnex run", "--", "run");
    assert!(flags.contains("--auto-stop"), "{flags}");
    assert!(!flags.contains("--legacy-pty"), "{flags}");
}

/// `harnex skills install` after the user edited a SKILL.md keeps their file and says so;
/// `--force` replaces it.
#[test]
fn skills_install_keeps_an_edited_skill_unless_forced() {
    let world = World::new();
    let first = world.run(&["skills", "install"]);
    assert_eq!(first.code, 0, "{first:?}");
    let file = world.home.join(".claude/skills/harnex-dispatch/SKILL.md");
    std::fs::write(&file, "my edits").expect("edit");
    let again = world.run(&["skills", "install"]);
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.contains("kept "), "{again:?}");
    assert!(again.stdout.contains("--force"), "{again:?}");
    assert_eq!(std::fs::read_to_string(&file).expect("read"), "my edits");
    let forced = world.run(&["skills", "install", "--force"]);
    assert_eq!(forced.code, 0, "{forced:?}");
    assert_ne!(std::fs::read_to_string(&file).expect("read"), "my edits");
}

/// The crate is ready for crates.io: `cargo package` takes every guide, recipe and skill the
/// binary embeds (`include_str!`), so `cargo install harnex` builds.
#[test]
fn the_package_carries_every_embedded_document() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = std::process::Command::new(cargo)
        .args(["package", "--list", "--allow-dirty", "--offline"])
        .current_dir(root)
        .output()
        .expect("cargo package --list");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = String::from_utf8_lossy(&out.stdout);
    let listed: Vec<&str> = listed.lines().collect();
    let mut embedded = Vec::new();
    for file in ["src/docs.rs"] {
        let text = std::fs::read_to_string(root.join(file)).expect("read");
        for part in text.split("include_str!(\"../").skip(1) {
            embedded.push(part.split('"').next().expect("path").to_string());
        }
    }
    assert!(embedded.len() >= 13, "{embedded:?}");
    for path in &embedded {
        assert!(listed.contains(&path.as_str()), "{path} is not packaged");
    }
    let manifest = std::fs::read_to_string(root.join("Cargo.toml")).expect("Cargo.toml");
    assert!(!manifest.contains("publish = false"));
}

/// Command lines from the Ruby gem's guides and scripts that already ran unchanged: kept here so
/// they keep running.
#[test]
fn ruby_guide_command_lines_run_unchanged() {
    let world = World::new();
    for args in [&["-v"][..], &["version"], &["--version"]] {
        let run = world.run(args);
        assert_eq!(run.code, 0, "{args:?}: {run:?}");
        assert!(run.stdout.starts_with("harnex "), "{args:?}: {run:?}");
    }
    let list = world.run(&["recipes", "list"]);
    assert_eq!(list.code, 0, "{list:?}");
    let show: Vec<String> = ["01", "1", "fire_and_watch"]
        .iter()
        .map(|name| {
            let run = world.run(&["recipes", "show", name]);
            assert_eq!(run.code, 0, "{name}: {run:?}");
            run.stdout
        })
        .collect();
    assert!(
        show.iter().all(|s| s == &show[0]),
        "the three names show one recipe"
    );

    world.start_fake("impl-1", &[], &[]);
    let bare = world.run(&["stop", "impl-1"]);
    assert_eq!(bare.code, 2, "{bare:?}");
    assert!(bare.stderr.contains("harnex stop --id impl-1"), "{bare:?}");
    let events = world.run(&["events", "--id", "impl-1", "--no-follow", "--from", "5m"]);
    assert_eq!(events.code, 0, "{events:?}");
    assert!(events.stdout.contains("\"type\":\"started\""), "{events:?}");
    let logs = world.run(&["logs", "--id", "impl-1", "--lines", "0"]);
    assert_eq!(logs.code, 0, "{logs:?}");
    assert!(logs.stdout.is_empty(), "{logs:?}");
    let unknown = world.run(&["status", "--id", "nope"]);
    assert_eq!(unknown.code, 1, "{unknown:?}");
    let sent = world.run(&[
        "send",
        "--id",
        "impl-1",
        "--message",
        "hi",
        "--wait-for-idle",
    ]);
    assert_eq!(sent.code, 0, "{sent:?}");
    let waited = sent.json()["waited_seconds"].to_string();
    let decimals = waited.split('.').nth(1).map_or(0, str::len);
    assert!(decimals <= 3, "milliseconds: {waited}");
}

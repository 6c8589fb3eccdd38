//! Adapters as data, end to end: a user's override file changes one rule of the generic
//! adapter, the session started after it reads its screen with that rule, and `explain` and
//! `doctor` name the override file and the rule. A bad override is refused at `run` with its
//! file and line, and is a warning in `doctor`.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use std::time::Duration;

use crate::support::{World, fake_agent_bin, wait_until};

/// The fake agent's prompt here: no prompt marker the built-in generic rules know.
const PROMPT: &str = "ready: ";

/// Replaces the generic adapter's `prompt-marker` rule by name.
const OVERRIDE: &str = r#"# Our CLI's prompt is `ready: `.
[[rule]]
name = "prompt-marker"
means = "prompt"
before_cursor = 'ready: $'
evidence = 'cursor after "{match}"'
"#;

fn write_override(world: &World, text: &str) -> PathBuf {
    world.write_adapter_rules("generic", text)
}

fn start_fake(world: &World, id: &str, extra: &[&str]) -> crate::support::Run {
    let agent = fake_agent_bin();
    let mut args = vec![
        "run",
        "--detach",
        agent.to_str().expect("utf-8"),
        "--id",
        id,
    ];
    args.extend_from_slice(extra);
    args.extend(["--", "--prompt", PROMPT]);
    world.run(&args)
}

fn explain(world: &World, id: &str) -> serde_json::Value {
    let run = world.run(&["explain", "--id", id, "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    run.json()
}

#[test]
fn an_override_of_one_rule_changes_the_state_and_explain_and_doctor_name_it() {
    let world = World::new();
    // Built-in rules: `ready: ` is no prompt they know.
    let plain = start_fake(&world, "plain", &["--timeout", "2"]);
    assert_eq!(plain.code, 0, "{plain:?}");
    assert_eq!(
        plain.json()["agent_state"],
        "starting",
        "never ready: {plain:?}"
    );
    let before = wait_until("the prompt on screen", Duration::from_secs(10), || {
        let answer = explain(&world, "plain");
        let drawn = answer["rows"]
            .as_array()
            .is_some_and(|rows| rows.iter().any(|r| r.as_str() == Some(PROMPT.trim_end())));
        drawn.then_some(answer)
    });
    assert_eq!(before["verdict"]["rule"], "generic.no-prompt", "{before}");
    assert_ne!(before["state"], "prompt", "{before}");
    assert_eq!(before["rules_file"], "built-in generic.toml");
    assert_eq!(before["rule_file"], "built-in generic.toml");

    let path = write_override(&world, OVERRIDE);
    let tuned = start_fake(&world, "tuned", &[]);
    assert_eq!(tuned.code, 0, "{tuned:?}");
    assert_eq!(tuned.json()["agent_state"], "prompt", "{tuned:?}");
    let after = explain(&world, "tuned");
    let file = path.to_str().expect("utf-8");
    assert_eq!(after["verdict"]["rule"], "generic.prompt-marker", "{after}");
    assert_eq!(after["verdict"]["evidence"], "cursor after \"ready:\"");
    assert_eq!(after["rules_file"], file);
    assert_eq!(after["rule_file"], file);
    assert_eq!(after["rule_line"], 2, "the [[rule]] line in the override");
    // The session started before the override keeps the rules it started with.
    assert_eq!(
        explain(&world, "plain")["rules_file"],
        "built-in generic.toml"
    );

    let text = world.run(&["explain", "--id", "tuned"]);
    assert!(
        text.stdout.contains("rule generic.prompt-marker"),
        "{text:?}"
    );
    assert!(
        text.stdout.contains(&format!("rule from: {file}, line 2")),
        "{text:?}"
    );

    let doctor = world.run(&["doctor", "--json"]);
    let generic = doctor.json()["adapters"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["name"] == "generic").cloned())
        .expect("the generic adapter's row");
    assert_eq!(generic["rules"], "override", "{generic}");
    assert_eq!(generic["rules_file"], file, "{generic}");
    let doctor_text = world.run(&["doctor"]);
    assert!(doctor_text.stdout.contains(file), "{doctor_text:?}");

    for id in ["plain", "tuned"] {
        let stopped = world.run(&["stop", "--id", id, "--wait"]);
        assert_eq!(stopped.code, 0, "{stopped:?}");
    }
}

#[test]
fn a_bad_override_is_refused_at_run_and_a_warning_in_doctor() {
    let world = World::new();
    let path = write_override(
        &world,
        "[[rule]]\nname = \"prompt-marker\"\nmeans = \"prompt\"\nbefore_cursor = 'ready: ($'\n",
    );
    let run = start_fake(&world, "bad", &[]);
    assert_eq!(run.code, 2, "{run:?}");
    let file = path.to_str().expect("utf-8");
    assert!(
        run.stderr
            .contains(&format!("{file}, line 4, rule \"prompt-marker\"")),
        "{run:?}"
    );
    assert!(run.stderr.contains("before_cursor"), "{run:?}");
    assert!(world.registry_files().is_empty(), "nothing was started");

    let doctor = world.run(&["doctor", "--json"]);
    let generic = doctor.json()["adapters"]
        .as_array()
        .and_then(|a| a.iter().find(|r| r["name"] == "generic").cloned())
        .expect("the generic adapter's row");
    assert!(
        generic["rules_error"]
            .as_str()
            .is_some_and(|e| e.contains(file)),
        "{generic}"
    );
    let text = world.run(&["doctor"]);
    assert!(
        text.stdout.contains("warn  rules      generic:"),
        "{text:?}"
    );
}

#[test]
fn an_override_others_can_change_is_refused_with_the_fix() {
    let world = World::new();
    let path = write_override(&world, OVERRIDE);
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    let run = start_fake(&world, "shared", &[]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("chmod go-w"), "{run:?}");

    // A symlink is followed only when it is the user's own.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    let target = world.config_dir().join("real-generic.toml");
    std::fs::rename(&path, &target).expect("move");
    std::os::unix::fs::symlink(&target, &path).expect("symlink");
    let own = start_fake(&world, "own-link", &[]);
    assert_eq!(own.code, 0, "{own:?}");
    assert_eq!(
        explain(&world, "own-link")["rule_file"],
        path.to_str().expect("utf-8")
    );
    let stopped = world.run(&["stop", "--id", "own-link", "--wait"]);
    assert_eq!(stopped.code, 0, "{stopped:?}");
    // Another user's symlink (only root can make one here).
    if std::os::unix::fs::lchown(&path, Some(65534), None).is_ok() {
        let run = start_fake(&world, "their-link", &[]);
        assert_eq!(run.code, 2, "{run:?}");
        assert!(run.stderr.contains("symlink owned by uid 65534"), "{run:?}");
    }
}

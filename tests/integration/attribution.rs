//! Who started whom: a session started from inside another records its parent and root and
//! inherits the parent's tags (`run --tag`); `status --tree` draws the live sessions as a tree.

use serde_json::{Value, json};

use crate::support::{DEADLINE, World, harnex_bin, wait_until};

/// Start a detached bash with `extra` harnex flags; returns its registry entry.
fn start_bash(world: &World, id: &str, extra: &[&str]) -> Value {
    let mut args = vec!["bash", "--id", id];
    args.extend_from_slice(extra);
    args.extend_from_slice(&["--", "--norc", "--noprofile"]);
    world.detach_in(&world.repo, &args);
    world.entry(id)
}

/// Have the shell of session `inside` run `harnex run --detach bash --id <id> <extra>`, as an
/// agent would, and wait for the new session to register.
fn start_from_inside(world: &World, inside: &str, id: &str, extra: &str) -> Value {
    let command = format!(
        "{} run --detach --timeout 20 bash --id {id} {extra} -- --norc --noprofile",
        harnex_bin().display()
    );
    let sent = world.run(&["send", "--id", inside, "--message", &command]);
    assert_eq!(sent.code, 0, "{sent:?}");
    let entry = wait_until(&format!("{id} to register"), DEADLINE, || {
        world
            .registry_files()
            .iter()
            .filter_map(|p| std::fs::read(p).ok())
            .filter_map(|b| serde_json::from_slice::<Value>(&b).ok())
            .find(|v| v["id"] == id)
    });
    world.wait_state(id, "prompt");
    entry
}

fn attribution(value: &Value) -> Value {
    json!({
        "parent": value["parent"],
        "parent_session_id": value["parent_session_id"],
        "root": value["root"],
        "root_session_id": value["root_session_id"],
        "tags": value["tags"],
    })
}

#[test]
fn sessions_started_inside_others_record_parent_root_and_inherited_tags() {
    let world = World::new();
    let top = start_bash(&world, "top", &["--tag", "team=infra", "--tag", "step=1"]);
    let top_run = top["session_id"].as_str().expect("session_id").to_string();
    assert_eq!(
        attribution(&top),
        json!({"parent": null, "parent_session_id": null, "root": null,
            "root_session_id": null, "tags": {"step": "1", "team": "infra"}})
    );

    // The child overrides one inherited key; the grandchild adds none.
    let mid = start_from_inside(&world, "top", "mid", "--tag step=2");
    let mid_run = mid["session_id"].as_str().expect("session_id").to_string();
    assert_eq!(
        attribution(&mid),
        json!({"parent": "top", "parent_session_id": top_run, "root": "top",
            "root_session_id": top_run, "tags": {"step": "2", "team": "infra"}})
    );
    let leaf = start_from_inside(&world, "mid", "leaf", "");
    let leaf_expected = json!({"parent": "mid", "parent_session_id": mid_run, "root": "top",
        "root_session_id": top_run, "tags": {"step": "2", "team": "infra"}});
    assert_eq!(attribution(&leaf), leaf_expected);

    // The started row says it all, before anything else of the run.
    let started = &world.events_of("leaf")[0];
    assert_eq!(started["type"], "started");
    assert_eq!(attribution(started), leaf_expected);
    // `status --json` (the live answer) carries the same.
    let listed = world.run(&["status", "--json"]);
    assert_eq!(listed.code, 0, "{listed:?}");
    let rows = listed.json();
    let row = rows
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["id"] == "leaf")
        .expect("leaf listed")
        .clone();
    assert_eq!(attribution(&row), leaf_expected);

    // The tree, once every shell is back at its prompt.
    let expected = "top  bash  prompt  step=1 team=infra\n\
                    └── mid  bash  prompt  step=2 team=infra\n    \
                    └── leaf  bash  prompt  step=2 team=infra\n";
    wait_until(
        "the tree of three shells at their prompts",
        DEADLINE,
        || {
            let tree = world.run(&["status", "--tree"]);
            assert_eq!(tree.code, 0, "{tree:?}");
            (tree.stdout == expected).then_some(())
        },
    );
    let nested = world.run(&["status", "--tree", "--json"]).json();
    assert_eq!(nested.as_array().map(Vec::len), Some(1), "{nested}");
    assert_eq!(nested[0]["id"], "top");
    assert_eq!(nested[0]["children"][0]["id"], "mid");
    assert_eq!(nested[0]["children"][0]["children"][0]["id"], "leaf");
    assert_eq!(
        nested[0]["children"][0]["children"][0]["children"],
        json!([])
    );

    // The exit record keeps it after the session is gone, and the tree closes over the gap.
    let stopped = world.run(&["stop", "--id", "mid", "--wait"]);
    assert_eq!(stopped.code, 0, "{stopped:?}");
    assert_eq!(
        attribution(&world.exit_record("mid")),
        json!({"parent": "top", "parent_session_id": top_run, "root": "top",
            "root_session_id": top_run, "tags": {"step": "2", "team": "infra"}})
    );
    let tree = world.run(&["status", "--tree"]);
    assert_eq!(
        tree.stdout,
        "top  bash  prompt  step=1 team=infra\n\
         leaf  bash  prompt  step=2 team=infra  (started by mid, not shown)\n",
        "{tree:?}"
    );
}

#[test]
fn harnex_id_in_the_environment_is_the_parent_and_tags_are_stamped_before_the_first_turn() {
    let world = World::new();
    // A parent that is not a live session here: it is its own root.
    let run = world.run_env(
        &[
            "run",
            "--detach",
            "--timeout",
            "20",
            "bash",
            "--id",
            "child",
            "--tag",
            "a=2",
            "--tag",
            "key=sk-abcdefghijklmnop1234",
            "--context",
            "echo context-ran",
            "--",
            "--norc",
            "--noprofile",
        ],
        &[
            ("HARNEX_ID", "planner"),
            ("HARNEX_SESSION_ID", "0123456789abcdef"),
            ("HARNEX_TAGS", r#"{"a":"1","b":"x"}"#),
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let rows = wait_until("the context's send row", DEADLINE, || {
        let rows = world.events_of("child");
        rows.iter().any(|r| r["type"] == "send").then_some(rows)
    });
    assert_eq!(rows[0]["type"], "started");
    assert_eq!(
        attribution(&rows[0]),
        json!({"parent": "planner", "parent_session_id": "0123456789abcdef",
            "root": "planner", "root_session_id": "0123456789abcdef",
            "tags": {"a": "2", "b": "x", "key": "sk-[redacted]"}})
    );
    // The log masks a secret-looking value, as it does in --meta; the 0600 entry keeps it.
    assert_eq!(
        world.entry("child")["tags"]["key"],
        "sk-abcdefghijklmnop1234"
    );
    let send = rows
        .iter()
        .find(|r| r["type"] == "send")
        .expect("the context was sent");
    assert!(send["seq"].as_u64() > rows[0]["seq"].as_u64(), "{rows:?}");

    // A parent that did not pass its root and tags (an older harnex, a cleared variable): they
    // come from its registry entry.
    let child = world.entry("child");
    let grand = world.run_env(
        &[
            "run",
            "--detach",
            "--timeout",
            "20",
            "bash",
            "--id",
            "grand",
            "--",
            "--norc",
            "--noprofile",
        ],
        &[
            ("HARNEX_ID", "child"),
            (
                "HARNEX_SESSION_ID",
                child["session_id"].as_str().expect("run"),
            ),
        ],
    );
    assert_eq!(grand.code, 0, "{grand:?}");
    assert_eq!(
        attribution(&world.entry("grand")),
        json!({"parent": "child", "parent_session_id": child["session_id"],
            "root": "planner", "root_session_id": "0123456789abcdef",
            "tags": {"a": "2", "b": "x", "key": "sk-abcdefghijklmnop1234"}})
    );

    // An id that harnex would refuse is no parent.
    let odd = world.run_env(
        &[
            "run",
            "--detach",
            "--timeout",
            "20",
            "bash",
            "--id",
            "odd",
            "--",
            "--norc",
            "--noprofile",
        ],
        &[("HARNEX_ID", "a/b")],
    );
    assert_eq!(odd.code, 0, "{odd:?}");
    assert!(odd.stderr.contains("ignoring $HARNEX_ID"), "{odd:?}");
    assert_eq!(world.entry("odd")["parent"], Value::Null);
}

#[test]
fn bad_tags_are_usage_errors_and_start_nothing() {
    let world = World::new();
    let long = format!("k={}", "v".repeat(257));
    /// (flags, environment, what the error says)
    type Case<'a> = (Vec<&'a str>, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (vec!["--tag", "noequals"], vec![], "is not KEY=VALUE"),
        (vec!["--tag", "bad key=x"], vec![], "is not allowed"),
        (vec!["--tag", "=x"], vec![], "is not allowed"),
        (vec!["--tag", &long], vec![], "at most 256"),
        (vec!["--tag", "k=a\u{7}b"], vec![], "control character"),
        (vec![], vec![("HARNEX_TAGS", "[1]")], "HARNEX_TAGS"),
        (
            vec![],
            vec![("HARNEX_TAGS", r#"{"k k":"v"}"#)],
            "HARNEX_TAGS",
        ),
    ];
    for (flags, env, says) in cases {
        let mut args = vec!["run", "--detach", "bash", "--id", "t"];
        args.extend_from_slice(&flags);
        let run = world.run_env(&args, &env);
        assert_eq!(run.code, 2, "{flags:?} {env:?}: {run:?}");
        assert!(run.stderr.contains(says), "{flags:?} {env:?}: {run:?}");
    }
    let many: Vec<String> = (0..65).map(|i| format!("k{i}=v")).collect();
    let mut args = vec!["run", "--detach", "bash", "--id", "t"];
    for tag in &many {
        args.extend_from_slice(&["--tag", tag]);
    }
    let run = world.run(&args);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("at most 64"), "{run:?}");
    assert!(world.registry_files().is_empty());

    let both = world.run(&["status", "--tree", "--id", "t"]);
    assert_eq!(both.code, 2, "{both:?}");
}

#[test]
fn a_tmux_session_gets_its_attribution_from_the_caller_and_hands_it_to_its_agent() {
    let world = World::new();
    // The supervisor runs under the tmux server, whose environment is not the caller's.
    let run = world.run_env(
        &[
            "run",
            "bash",
            "--id",
            "win",
            "--tmux",
            "--timeout",
            "20",
            "--tag",
            "k=v",
            "--",
            "--norc",
            "--noprofile",
        ],
        &[
            ("HARNEX_ID", "planner"),
            ("HARNEX_SESSION_ID", "0123456789abcdef"),
            ("HARNEX_ROOT_ID", "lead"),
        ],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        attribution(&world.entry("win")),
        json!({"parent": "planner", "parent_session_id": "0123456789abcdef", "root": "lead",
            "root_session_id": null, "tags": {"k": "v"}})
    );
    // What its agent passes on to the sessions it starts.
    let sent = world.run(&[
        "send",
        "--id",
        "win",
        "--message",
        "echo \"T=$HARNEX_TAGS R=$HARNEX_ROOT_ID S=[$HARNEX_ROOT_SESSION_ID]\"",
    ]);
    assert_eq!(sent.code, 0, "{sent:?}");
    world.wait_screen("win", r#"T={"k":"v"} R=lead S=[]"#);
}

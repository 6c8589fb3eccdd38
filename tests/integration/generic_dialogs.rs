//! The generic adapter against a CLI harnex has no rules for: a small bash script that draws a
//! choice dialog, then a y/n question, then a line prompt. Each dialog is reported blocked with
//! the keys that answer it, and answering with those keys gets the script to its prompt. A shell
//! that only prints such shapes stays at its prompt.

use serde_json::json;

use crate::support::World;

/// An unknown agent (tests only): a choice dialog, a y/n question, then a line prompt.
const DIALOG_AGENT: &str = r#"#!/bin/bash
printf 'Allow this tool to run `ls`?\n\n› 1. Allow once\n  2. Reject\n\nEnter to confirm · Esc to cancel'
IFS= read -rsn1 key
if [ -n "$key" ]; then printf '\nrejected\n'; exit 1; fi
printf '\n\nallowed\n'
read -rp 'Keep going? [y/N] ' answer
[ "$answer" = y ] || { echo declined; exit 1; }
while IFS= read -rp '> ' line; do echo "answer: $line"; done
"#;

fn dialog_agent(world: &World) -> String {
    let path = world.new_dir("bin").join("dialog-agent");
    std::fs::write(&path, DIALOG_AGENT).expect("write script");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path.to_str().expect("utf-8 path").to_string()
}

#[test]
fn an_unknown_cli_at_its_dialogs_is_blocked_and_the_named_keys_answer_them() {
    let world = World::new();
    let agent = dialog_agent(&world);
    let ready = world.detach(&[&agent, "--id", "dlg"]);
    assert_eq!(ready["agent_state"], "blocked", "{ready}");

    let status = world.wait_state("dlg", "blocked");
    assert_eq!(status["adapter"], "generic");
    assert_eq!(
        status["dialog"],
        json!({"reason": "generic-choice", "accept_keys": ["Enter"], "enter_is_safe": true}),
        "{status}"
    );
    // Text is refused at a dialog, with the keys that answer it.
    let refused = world.run(&["send", "--id", "dlg", "--message", "hello"]);
    assert_ne!(refused.code, 0, "{refused:?}");
    assert!(refused.stderr.contains("--keys Enter"), "{refused:?}");

    let keys = world.run(&["send", "--id", "dlg", "--keys", "Enter"]);
    assert_eq!(keys.code, 0, "{keys:?}");
    let status = crate::support::wait_until(
        "the y/n question",
        std::time::Duration::from_secs(10),
        || {
            let status = world.status("dlg");
            (status["dialog"]["reason"] == "generic-yes-no").then_some(status)
        },
    );
    assert_eq!(status["agent_state"], "blocked");
    assert_eq!(status["dialog"]["accept_keys"], json!(["y", "Enter"]));
    assert_eq!(
        status["dialog"]["enter_is_safe"], false,
        "[y/N]: Enter declines"
    );

    let keys = world.run(&["send", "--id", "dlg", "--keys", "y,Enter"]);
    assert_eq!(keys.code, 0, "{keys:?}");
    world.wait_state("dlg", "prompt");
    let sent = world.run(&[
        "send",
        "--id",
        "dlg",
        "--message",
        "hello",
        "--wait-for-idle",
    ]);
    assert_eq!(sent.code, 0, "{sent:?}");
    assert!(world.screen("dlg").contains("answer: hello"));
    let stopped = world.run(&["stop", "--id", "dlg", "--wait"]);
    assert_eq!(stopped.code, 0, "{stopped:?}");
}

#[test]
fn a_shell_printing_dialog_shapes_stays_at_its_prompt() {
    let world = World::new();
    world.detach_bash("sh");
    world.wait_state("sh", "prompt");
    let sent = world.run(&[
        "send",
        "--id",
        "sh",
        "--message",
        r"printf 'Allow this?\n› 1. Yes\n  2. No\nEnter to confirm\nProceed? (y/n) '",
        "--wait-for-idle",
    ]);
    assert_eq!(sent.code, 0, "{sent:?}");
    world.wait_screen("sh", "Proceed? (y/n)");
    let status = world.wait_state("sh", "prompt");
    assert!(status["dialog"].is_null(), "{status}");
    let events = world.events_of("sh");
    let blocked = events
        .iter()
        .filter(|e| e["type"] == "state" && e["to"] == "blocked")
        .count();
    assert_eq!(blocked, 0, "{events:?}");
    world.run(&["stop", "--id", "sh", "--wait"]);
}

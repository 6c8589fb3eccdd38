//! Files: no id names a path outside the state dir or shares another id's files; planted
//! symlinks are refused, not followed; a state dir that is not the user's alone is refused
//! untouched.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::support::{World, fake_agent_bin, files_in};

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

/// Every path below `dir` (recursively), links included.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        out.push(path.clone());
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(walk(&path));
        }
    }
    out
}

#[test]
fn ids_that_could_name_a_path_or_share_a_slug_are_usage_errors_for_every_command() {
    let world = World::new();
    let long = "x".repeat(300);
    let bad = [
        "../../escaped",
        "a/b",
        long.as_str(),
        "-",
        ".",
        "..",
        "a\nb",
        "a\u{1b}[201~b",
    ];
    let agent = fake_agent_bin();
    let agent = agent.to_str().unwrap();
    let mut wrong = Vec::new();
    for id in bad {
        let commands: [Vec<&str>; 10] = [
            vec!["run", agent, "--detach", "--id", id],
            vec!["send", "--id", id, "--message", "hi"],
            vec![
                "send", "--id", id, "--port", "1", "--token", "t", "-m", "hi",
            ],
            vec!["wait", "--id", id],
            vec!["stop", "--id", id],
            vec!["logs", "--id", id],
            vec!["events", "--id", id],
            vec!["pane", "--id", id],
            vec!["status", "--id", id],
            vec!["done", "--id", id],
        ];
        for args in commands {
            let run = world.run(&args);
            let clear = run.code == 2
                && run.stderr.contains("--id")
                && run.stderr.contains("at least one letter or digit");
            if !clear {
                wrong.push(format!("{args:?}: {run:?}"));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "bad ids must be usage errors (2) that give the rule:\n{}",
        wrong.join("\n")
    );
    let outside: Vec<PathBuf> = walk(world.root.path())
        .into_iter()
        .filter(|p| p.to_string_lossy().contains("escaped"))
        .collect();
    assert!(
        outside.is_empty(),
        "nothing named after the id: {outside:?}"
    );
    assert!(
        !world.state.exists(),
        "a usage error creates no state: {:?}",
        world.state_files()
    );
}

#[test]
fn ids_the_ruby_rule_would_map_to_one_slug_get_files_of_their_own() {
    let world = World::new();
    for id in ["日本", "中文", "日本-1", "中文-1"] {
        let line = world.start_fake(id, &[], &[]);
        assert_eq!(line["id"], id);
    }
    let registry: Vec<String> = world
        .registry_files()
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        registry.len(),
        4,
        "four sessions, four entries: {registry:?}"
    );
    assert!(
        registry.iter().all(|n| !n.ends_with("--default.json")),
        "{registry:?}"
    );
    for sub in ["events", "output", "logs"] {
        assert_eq!(
            files_in(&world.state.join(sub)).len(),
            4,
            "{sub}: {:?}",
            world.state_files()
        );
    }
    // Each id still finds its own session.
    let run = world.run(&["status", "--id", "中文", "--json"]);
    assert_eq!(run.code, 0, "{run:?}");
    let rows = run.json();
    assert_eq!(rows.as_array().map(Vec::len), Some(1), "{rows}");
    assert_eq!(rows[0]["id"], "中文");
}

/// Start and stop a session, so its files exist; return them by directory.
fn files_of_a_finished_session(world: &World, id: &str) -> Vec<(String, PathBuf)> {
    world.start_fake(id, &[], &[]);
    let stop = world.run(&["stop", "--id", id, "--wait"]);
    assert_eq!(stop.code, 0, "{stop:?}");
    let mut out = Vec::new();
    for sub in ["events", "output", "logs", "exits"] {
        for path in world.files_of(sub, id) {
            out.push((sub.to_string(), path));
        }
    }
    assert_eq!(out.len(), 4, "{out:?}");
    out
}

#[test]
fn a_planted_symlink_is_refused_and_its_target_untouched() {
    let world = World::new();
    let files = files_of_a_finished_session(&world, "victim");
    let target = world.root.path().join("victim-target");
    for (sub, path) in files {
        std::fs::write(&target, b"precious").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::remove_file(&path).unwrap();
        std::os::unix::fs::symlink(&target, &path).unwrap();

        let agent = fake_agent_bin();
        let run = world.run(&[
            "run",
            "--detach",
            "--timeout",
            "20",
            agent.to_str().unwrap(),
            "--id",
            "victim",
        ]);
        if sub == "exits" {
            // The exit record is replaced by rename: the link itself goes, never its target.
            assert_eq!(run.code, 0, "{sub}: {run:?}");
            let stop = world.run(&["stop", "--id", "victim", "--wait"]);
            assert_eq!(stop.code, 0, "{stop:?}");
            assert!(
                !std::fs::symlink_metadata(&path)
                    .unwrap()
                    .file_type()
                    .is_symlink(),
                "the exit record is a file of its own"
            );
        } else {
            assert_eq!(run.code, 1, "{sub}: {run:?}");
            assert!(run.stderr.contains("symbolic link"), "{sub}: {run:?}");
            world.wait_gone("victim");
        }
        assert_eq!(std::fs::read(&target).unwrap(), b"precious", "{sub}");
        assert_eq!(mode(&target), 0o644, "{sub}: the target keeps its mode");
        // Readers refuse the link too.
        if sub == "output" {
            let logs = world.run(&["logs", "--id", "victim"]);
            assert_eq!(logs.code, 1, "{logs:?}");
            assert!(logs.stderr.contains("symbolic link"), "{logs:?}");
        }
        if sub == "events" {
            let events = world.run(&["events", "--id", "victim", "--snapshot"]);
            assert_eq!(events.code, 1, "{events:?}");
            assert!(events.stderr.contains("symbolic link"), "{events:?}");
        }
        let _ = std::fs::remove_file(&path);
    }
}

#[test]
fn a_state_dir_shared_with_others_is_refused_and_left_as_it_was() {
    let world = World::new();
    let shared = world.root.path().join("shared");
    std::fs::create_dir(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let victim = world.root.path().join("victim-dir");
    std::fs::create_dir(&victim).unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink(&victim, shared.join("events")).unwrap();

    let agent = fake_agent_bin();
    let agent = agent.to_str().unwrap();
    let state = shared.to_str().unwrap();
    for args in [
        vec!["run", agent, "--detach", "--id", "x"],
        vec!["status"],
        vec!["send", "--id", "x", "-m", "hi"],
    ] {
        let run = world.run_env(&args, &[("HARNEX_STATE_DIR", state)]);
        assert_eq!(run.code, 1, "{args:?}: {run:?}");
        assert!(
            run.stderr.contains("writable by group or others") && run.stderr.contains("chmod 700"),
            "says what is wrong and what to do: {run:?}"
        );
    }
    assert_eq!(mode(&shared), 0o1777, "the sticky bit and mode stay");
    assert_eq!(mode(&victim), 0o755, "the link's target is not chmod-ed");
    assert!(
        files_in(&victim).is_empty(),
        "nothing written through the link"
    );
    assert_eq!(
        walk(&shared).len(),
        1,
        "nothing created: {:?}",
        walk(&shared)
    );
}

#[test]
fn a_state_dir_that_is_a_link_or_not_ours_is_refused() {
    let world = World::new();
    let agent = fake_agent_bin();
    let agent = agent.to_str().unwrap();

    // A subdirectory replaced by a link (its target a private dir of ours: still refused).
    let state = world.root.path().join("linked");
    std::fs::create_dir(&state).unwrap();
    std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
    let elsewhere = world.root.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, state.join("events")).unwrap();
    let run = world.run_env(
        &["run", agent, "--detach", "--id", "x"],
        &[("HARNEX_STATE_DIR", state.to_str().unwrap())],
    );
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("symbolic link"), "{run:?}");
    assert!(files_in(&elsewhere).is_empty());

    // Owned by someone else (tests run as root in CI; elsewhere skip this part).
    if nix::unistd::geteuid().is_root() {
        let theirs = world.root.path().join("theirs");
        std::fs::create_dir(&theirs).unwrap();
        std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
        let run = world.run_env(
            &["run", agent, "--detach", "--id", "x"],
            &[("HARNEX_STATE_DIR", theirs.to_str().unwrap())],
        );
        assert_eq!(run.code, 1, "{run:?}");
        assert!(run.stderr.contains("owned by uid 65534"), "{run:?}");
        assert!(run.stderr.contains("HARNEX_STATE_DIR"), "{run:?}");
        assert!(
            walk(&theirs).is_empty(),
            "nothing written: {:?}",
            walk(&theirs)
        );
    }

    // A fresh state dir is made private.
    let fresh = world.root.path().join("fresh/harnex");
    world.run_env(
        &["run", agent, "--detach", "--timeout", "20", "--id", "x"],
        &[("HARNEX_STATE_DIR", fresh.to_str().unwrap())],
    );
    for sub in ["", "sessions", "exits", "output", "events", "logs"] {
        assert_eq!(mode(&fresh.join(sub)), 0o700, "{sub:?}");
    }
    let stop = world.run_env(
        &["stop", "--id", "x", "--wait"],
        &[("HARNEX_STATE_DIR", fresh.to_str().unwrap())],
    );
    assert_eq!(stop.code, 0, "{stop:?}");
}

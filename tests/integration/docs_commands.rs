//! The commands that serve documentation and setup: guide, recipes, agents-guide, skills,
//! doctor, completions.

use std::path::{Path, PathBuf};

use crate::support::World;

fn tree(root: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path.clone());
                out.push((path, Vec::new()));
            } else {
                out.push((path.clone(), std::fs::read(&path).unwrap_or_default()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn skills_install_into_home_and_uninstall_leaves_it_as_it_was() {
    let world = World::new();
    std::fs::create_dir_all(world.home.join(".claude")).unwrap();
    std::fs::write(world.home.join(".claude/CLAUDE.md"), "mine\n").unwrap();
    let before = tree(&world.home);
    let installed = world.run(&["skills", "install"]);
    assert_eq!(installed.code, 0, "{installed:?}");
    for name in ["harnex-dispatch", "harnex-chain", "harnex-buddy"] {
        let skill = world
            .home
            .join(".claude/skills")
            .join(name)
            .join("SKILL.md");
        let text = std::fs::read_to_string(&skill).unwrap();
        assert!(text.starts_with("---\n"), "{name}");
        assert!(text.contains(&format!("name: {name}")), "{name}");
        let codex = world.home.join(".codex/skills").join(name).join("SKILL.md");
        assert_eq!(
            std::fs::read_to_string(codex).unwrap(),
            text,
            "Codex sees {name}"
        );
    }
    let removed = world.run(&["skills", "uninstall"]);
    assert_eq!(removed.code, 0, "{removed:?}");
    assert_eq!(tree(&world.home), before);
}

#[test]
fn skills_install_local_goes_into_the_repo() {
    let world = World::new();
    let installed = world.run(&["skills", "install", "--local", "dispatch"]);
    assert_eq!(installed.code, 0, "{installed:?}");
    assert!(
        world
            .repo
            .join(".claude/skills/harnex-dispatch/SKILL.md")
            .exists()
    );
    assert!(!world.repo.join(".claude/skills/harnex-chain").exists());
    assert!(tree(&world.home).is_empty(), "home untouched");
    let unknown = world.run(&["skills", "install", "nope"]);
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert!(unknown.stderr.contains("no skill matching"), "{unknown:?}");
    let removed = world.run(&["skills", "uninstall", "--local"]);
    assert_eq!(removed.code, 0, "{removed:?}");
    assert!(!world.repo.join(".claude").exists());
}

#[test]
fn guides_and_recipes_are_printed_from_the_binary() {
    let world = World::new();
    let guide = world.run(&["guide"]);
    assert_eq!(guide.code, 0);
    assert!(guide.stdout.starts_with("# "), "{guide:?}");
    let list = world.run(&["agents-guide", "list"]);
    assert_eq!(list.code, 0);
    assert!(list.stdout.contains("Agent guides:"));
    assert!(list.stdout.contains("01_dispatch"));
    assert!(list.stdout.contains("05_naming"));
    let naming = world.run(&["agents-guide", "naming"]);
    assert!(naming.stdout.contains("Naming Conventions"), "{naming:?}");
    let show = world.run(&["agents-guide", "show", "01"]);
    assert!(
        show.stdout.contains("# Dispatch: Fire and Watch"),
        "{show:?}"
    );
    let monitoring = world.run(&["agents-guide", "monitoring"]);
    assert!(
        monitoring.stdout.contains("# Monitoring Patterns"),
        "{monitoring:?}"
    );
    let missing = world.run(&["agents-guide", "zzz"]);
    assert_eq!(missing.code, 1);
    assert!(
        missing.stderr.contains("no topic matching \"zzz\""),
        "{missing:?}"
    );
    let recipes = world.run(&["recipes"]);
    for name in ["fire-and-watch", "chain", "buddy", "overnight"] {
        assert!(recipes.stdout.contains(name), "{recipes:?}");
    }
    let chain = world.run(&["recipes", "show", "cha"]);
    assert_eq!(chain.code, 0, "{chain:?}");
    let missing = world.run(&["recipes", "show", "zzz"]);
    assert_eq!(missing.code, 1, "{missing:?}");
}

#[test]
fn doctor_reports_checks_and_fails_on_a_broken_state_dir() {
    let world = World::new();
    let ok = world.run(&["doctor", "--json"]);
    assert_eq!(ok.code, 0, "{ok:?}");
    let report = ok.json();
    assert_eq!(report["ok"], true);
    let names: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["state-dir", "tmux", "git", "codex", "claude"]);
    let blocker = world.root.path().join("file");
    std::fs::write(&blocker, "").unwrap();
    let broken = world
        .cmd()
        .args(["doctor"])
        .env("HARNEX_STATE_DIR", blocker.join("state"))
        .output()
        .unwrap();
    assert_eq!(broken.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&broken.stdout).contains("FAIL"));
}

#[test]
fn doctor_lists_the_adapters_with_their_rules_and_tested_versions() {
    let world = World::new();
    let json = world.run(&["doctor", "--json"]);
    assert_eq!(json.code, 0, "{json:?}");
    let report = json.json();
    let adapters = report["adapters"].as_array().expect("an adapters list");
    let row = |name: &str| {
        adapters
            .iter()
            .find(|a| a["name"] == name)
            .unwrap_or_else(|| panic!("no {name} in {adapters:?}"))
    };
    assert_eq!(row("codex")["clis"], serde_json::json!(["codex"]));
    assert_eq!(
        row("codex")["tested_versions"],
        serde_json::json!(["0.169.0", "0.171.0"])
    );
    assert_eq!(
        row("claude")["tested_versions"],
        serde_json::json!(["2.1.328", "2.1.332"])
    );
    assert_eq!(row("generic")["clis"], serde_json::json!([]));
    assert!(
        adapters.iter().all(|a| a["rules"] == "built-in"),
        "{adapters:?}"
    );
    // The Ruby shape is kept: the adapters come as a key of their own.
    assert!(report["checks"].is_array());

    let text = world.run(&["doctor"]);
    assert_eq!(text.code, 0, "{text:?}");
    let table = text
        .stdout
        .split("adapters:")
        .nth(1)
        .expect("an adapters table");
    for expected in [
        "codex",
        "0.169.0, 0.171.0",
        "claude",
        "2.1.328, 2.1.332",
        "generic",
    ] {
        assert!(table.contains(expected), "{expected} in {table}");
    }
}

#[test]
fn completions_are_generated_for_each_shell() {
    let world = World::new();
    for shell in ["bash", "zsh", "fish"] {
        let run = world.run(&["completions", shell]);
        assert_eq!(run.code, 0, "{shell}: {run:?}");
        assert!(run.stdout.contains("harnex"), "{shell}");
        assert!(
            run.stdout.contains("wait-for-idle"),
            "{shell} completes options"
        );
    }
    let bad = world.run(&["completions", "tcsh"]);
    assert_eq!(bad.code, 2);
}

/// What the completion scripts offer for `--remote`: the hosts and groups of hosts.toml, and
/// `all`; nothing (and no error) without a file.
#[test]
fn remote_hosts_for_completion_come_from_the_hosts_file() {
    let world = World::new();
    let file = world.root.path().join("hosts.toml");
    let none = world.run_env(
        &["__hosts"],
        &[("HARNEX_HOSTS_FILE", file.to_str().unwrap())],
    );
    assert_eq!((none.code, none.stdout.as_str()), (0, ""), "{none:?}");
    std::fs::write(
        &file,
        "[hosts.build-1]\nssh = \"b1.example.com\"\n[hosts.gpu]\n[groups]\nbuilders = [\"build-1\"]\n",
    )
    .unwrap();
    let run = world.run_env(
        &["__hosts"],
        &[("HARNEX_HOSTS_FILE", file.to_str().unwrap())],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(run.stdout, "build-1\ngpu\nbuilders\nall\n", "{run:?}");
}

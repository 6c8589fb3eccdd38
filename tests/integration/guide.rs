//! The documentation is tested like code.
//!
//! - Every ```sh block of GUIDE.md and recipes/*.md runs, in order, each with `bash -e` from the
//!   repo of a private `World` (one world per file, so later blocks see the sessions earlier ones
//!   started), with the harnex binary under test first on PATH and `codex` / `claude` shims that
//!   run the scripted fake agent. ```text and ```console blocks are for reading only.
//! - Every `harnex …` command line in the skills, the agent guides (guides/*.md), GUIDE.md and the
//!   recipes (```sh, ```text and ```console blocks) names a subcommand the binary has, and every
//!   `--flag` it uses is listed by that subcommand's `--help` (a nested command's, for
//!   `harnex skills install`).
//! - `harnex guide`, `harnex recipes [show NAME]` and `harnex agents-guide TOPIC` print these very
//!   files (the embedded copies are current).
//! - The files have the shape the embedding commands rely on: recipes start with `# Title` and a
//!   summary paragraph, SKILL.md files have `name` / `description` front matter, the agent guides
//!   have the H1s and sections the Ruby harnex topics had.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{self, World};

/// Longest a single shell block may run (a quick `--watch` example takes ~15 s in real time).
const BLOCK_DEADLINE: Duration = Duration::from_secs(180);

const RECIPES: [&str; 4] = ["fire-and-watch", "chain", "buddy", "overnight"];

fn source_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    let path = source_root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// A fenced block: its info string, the line its body starts on (1-based), its body.
#[derive(Debug, Clone)]
struct Block {
    lang: String,
    line: usize,
    body: String,
}

fn blocks(markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut current: Option<Block> = None;
    for (i, line) in markdown.lines().enumerate() {
        let trimmed = line.trim_start();
        match current.take() {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    current = Some(Block {
                        lang: info.trim().to_string(),
                        line: i + 2,
                        body: String::new(),
                    });
                }
            }
            Some(mut block) => {
                if trimmed.starts_with("```") {
                    out.push(block);
                } else {
                    block.body.push_str(line);
                    block.body.push('\n');
                    current = Some(block);
                }
            }
        }
    }
    assert!(current.is_none(), "unterminated code fence");
    out
}

/// `codex` and `claude` stand-ins: the fake agent, without the flags the adapters add, drawing
/// the prompt and title the real CLIs' adapters recognise. Like the real Codex, the codex shim
/// asks "Trust this folder?" the first time it starts in a folder (remembered in `$HOME`).
fn write_shims(world: &World) -> PathBuf {
    let dir = world.root.path().join("shims");
    std::fs::create_dir_all(&dir).expect("shim dir");
    let fake = support::fake_agent_bin();
    let fake = fake.to_str().expect("utf-8 path");
    let codex = format!(
        r#"#!/bin/sh
# Stand-in for the Codex CLI (tests only): the scripted fake agent.
for arg in "$@"; do
  shift
  case "$arg" in
    --dangerously-bypass-approvals-and-sandbox|--no-alt-screen|--no-daemon) ;;
    *) set -- "$@" "$arg" ;;
  esac
done
trusted="$HOME/.fake-codex-trusted"
if ! grep -qxF "$PWD" "$trusted" 2>/dev/null; then
  echo "$PWD" >> "$trusted"
  set -- --dialog "$@"
fi
exec '{fake}' --prompt '› ' --title repo --turn-ms 300 "$@"
"#
    );
    let claude = format!(
        r#"#!/bin/sh
# Stand-in for Claude Code (tests only): the scripted fake agent.
for arg in "$@"; do
  shift
  case "$arg" in
    --dangerously-skip-permissions) ;;
    *) set -- "$@" "$arg" ;;
  esac
done
exec '{fake}' --prompt '❯ ' --turn-ms 300 "$@"
"#
    );
    for (name, text) in [("codex", codex), ("claude", claude)] {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("write shim");
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755))
            .expect("chmod shim");
    }
    dir
}

/// Mark the world's repo as trusted by the codex shim (no trust dialog at the first start).
fn trust_repo(world: &World) {
    let line = format!("{}\n", world.repo.display());
    std::fs::write(world.home.join(".fake-codex-trusted"), line).expect("write trust file");
}

/// Run one shell block with `bash -e` in the world; panics with everything known on failure.
fn run_block(world: &World, shims: &Path, file: &str, block: &Block) {
    let script = world.root.path().join("block.sh");
    std::fs::write(&script, &block.body).expect("write block");
    let stdout_path = world.root.path().join("block.out");
    let stderr_path = world.root.path().join("block.err");
    let harnex_dir = support::harnex_bin()
        .parent()
        .expect("binary dir")
        .to_path_buf();
    let path = format!(
        "{}:{}:{}",
        harnex_dir.display(),
        shims.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut command = Command::new("bash");
    command
        .arg("-e")
        .arg(&script)
        .current_dir(&world.repo)
        .env("PATH", path)
        .env("HARNEX_STATE_DIR", &world.state)
        .env("HOME", &world.home)
        .env("TMUX_TMPDIR", &world.tmux_tmpdir)
        .env(support::WATCH_TIME_SCALE.0, support::WATCH_TIME_SCALE.1)
        .env("GIT_AUTHOR_NAME", "harnex guide")
        .env("GIT_AUTHOR_EMAIL", "guide@example.invalid")
        .env("GIT_COMMITTER_NAME", "harnex guide")
        .env("GIT_COMMITTER_EMAIL", "guide@example.invalid")
        .env_remove("TMUX")
        .env_remove("TMUX_PANE")
        .env_remove("HARNEX_SESSION_ID")
        .env_remove("HARNEX_SESSION_CLI")
        .env_remove("HARNEX_ID")
        .env_remove("HARNEX_SESSION_REPO_ROOT")
        .env_remove("HARNEX_SPAWNER_PANE")
        .env_remove("HARNEX_HOST")
        .env_remove("HARNEX_INBOX_TTL")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&stdout_path).expect("stdout file"))
        .stderr(std::fs::File::create(&stderr_path).expect("stderr file"));
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let started = Instant::now();
    let mut child = command.spawn().expect("spawn bash");
    let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break Some(status);
        }
        if started.elapsed() > BLOCK_DEADLINE {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // Whatever the block left running in its own process group (detached sessions have their
    // own and are ended by the world).
    let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
    let _ = child.wait();
    let stdout = std::fs::read_to_string(&stdout_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&stderr_path).unwrap_or_default();
    let ok = status.is_some_and(|s| s.success());
    assert!(
        ok,
        "{file}:{line}: shell block {outcome} after {elapsed:.1}s\n--- block\n{body}--- stdout\n{stdout}\n--- stderr\n{stderr}",
        line = block.line,
        outcome = match status {
            Some(s) => format!("failed ({s})"),
            None => "timed out".to_string(),
        },
        elapsed = started.elapsed().as_secs_f64(),
        body = block.body,
    );
}

/// Run every ```sh block of `file`, in order, in one fresh world.
fn run_shell_blocks(file: &str, trusted: bool) {
    let world = World::new();
    let shims = write_shims(&world);
    if trusted {
        trust_repo(&world);
    }
    let sh: Vec<Block> = blocks(&read(file))
        .into_iter()
        .filter(|b| b.lang == "sh")
        .collect();
    assert!(!sh.is_empty(), "{file} has no ```sh block to test");
    for block in &sh {
        run_block(&world, &shims, file, block);
    }
}

#[test]
fn guide_shell_blocks_run() {
    // The guide starts Codex in an untrusted folder and answers its trust dialog.
    run_shell_blocks("GUIDE.md", false);
}

#[test]
fn recipe_fire_and_watch_runs() {
    run_shell_blocks("recipes/fire-and-watch.md", true);
}

#[test]
fn recipe_chain_runs() {
    run_shell_blocks("recipes/chain.md", true);
}

#[test]
fn recipe_buddy_runs() {
    run_shell_blocks("recipes/buddy.md", true);
}

#[test]
fn recipe_overnight_runs() {
    run_shell_blocks("recipes/overnight.md", true);
}

fn markdown_files(dir: &str) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(source_root().join(dir))
        .unwrap_or_else(|e| panic!("read {dir}: {e}"))
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| n.ends_with(".md"))
        .map(|n| format!("{dir}/{n}"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_recipe_is_tested_and_indexed() {
    let found: BTreeSet<String> = markdown_files("recipes")
        .into_iter()
        .filter(|f| f != "recipes/README.md")
        .collect();
    let tested: BTreeSet<String> = RECIPES.iter().map(|r| format!("recipes/{r}.md")).collect();
    assert_eq!(
        found, tested,
        "every recipe needs a recipe_*_runs test (and RECIPES updated)"
    );
    let index = read("recipes/README.md");
    for recipe in RECIPES {
        assert!(
            index.contains(&format!("({recipe}.md)")),
            "recipes/README.md does not link {recipe}.md"
        );
    }
    assert!(
        blocks(&index).iter().all(|b| b.lang != "sh"),
        "recipes/README.md is an index: its commands belong in a tested recipe"
    );
}

/// The first line is `# Title`, then a blank line and a summary paragraph (not a heading, list
/// or code).
fn assert_title_and_summary(file: &str) {
    let text = read(file);
    let mut lines = text.lines();
    let title = lines.next().unwrap_or_default();
    assert!(
        title.starts_with("# ") && title.len() > 2,
        "{file}: must start with `# Title`, found {title:?}"
    );
    assert_eq!(lines.next(), Some(""), "{file}: blank line after the title");
    let summary = lines.next().unwrap_or_default();
    assert!(
        !summary.is_empty()
            && !summary.starts_with('#')
            && !summary.starts_with("```")
            && !summary.starts_with("- ")
            && !summary.starts_with('|'),
        "{file}: the title must be followed by a one-paragraph summary, found {summary:?}"
    );
}

#[test]
fn recipes_have_a_title_and_a_summary() {
    for recipe in RECIPES {
        assert_title_and_summary(&format!("recipes/{recipe}.md"));
    }
}

const SKILLS: [&str; 3] = ["harnex-dispatch", "harnex-chain", "harnex-buddy"];

#[test]
fn skills_have_front_matter_and_are_indexed() {
    let index = read("skills/README.md");
    for skill in SKILLS {
        let file = format!("skills/{skill}/SKILL.md");
        let text = read(&file);
        let rest = text
            .strip_prefix("---\n")
            .unwrap_or_else(|| panic!("{file}: must start with `---` front matter"));
        let (front, body) = rest
            .split_once("\n---\n")
            .unwrap_or_else(|| panic!("{file}: front matter is not closed by `---`"));
        let field = |name: &str| {
            front
                .lines()
                .find_map(|l| l.strip_prefix(&format!("{name}: ")))
                .map(str::trim)
                .unwrap_or_else(|| panic!("{file}: front matter has no {name}"))
                .to_string()
        };
        assert_eq!(
            field("name"),
            skill,
            "{file}: name must match its directory"
        );
        let description = field("description");
        assert!(
            description.len() > 40 && !description.contains("placeholder"),
            "{file}: description must say when to use the skill: {description:?}"
        );
        // A plain YAML scalar on one line: no `: `, no ` #`, no leading quote or indicator.
        assert!(
            !description.contains(": ")
                && !description.contains(" #")
                && !description.starts_with(['"', '\'', '&', '*', '!', '|', '>', '%', '@', '`']),
            "{file}: description must be a plain YAML scalar: {description:?}"
        );
        assert_eq!(
            front.lines().count(),
            2,
            "{file}: front matter is exactly name and description"
        );
        assert!(
            body.trim_start().starts_with("# "),
            "{file}: the body starts with a heading"
        );
        assert!(
            index.contains(&format!("({skill}/SKILL.md)")),
            "skills/README.md does not link {skill}"
        );
    }
}

#[test]
fn agent_guides_have_the_topic_titles() {
    let expected = [
        ("guides/01_dispatch.md", "# Dispatch: Fire and Watch"),
        (
            "guides/02_chain.md",
            "# Chain: Plan, Implement, Review, Fix",
        ),
        ("guides/03_buddy.md", "# Buddy Monitoring"),
        ("guides/04_monitoring.md", "# Monitoring Patterns"),
        ("guides/05_naming.md", "# Naming Conventions"),
    ];
    let found = markdown_files("guides");
    let listed: Vec<String> = expected.iter().map(|(f, _)| f.to_string()).collect();
    assert_eq!(found, listed, "guides/ holds exactly the five topics");
    for (file, title) in expected {
        let text = read(file);
        assert_eq!(text.lines().next(), Some(title), "{file}: H1");
        assert_title_and_summary(file);
    }
    assert!(read("guides/01_dispatch.md").contains("\n## Return Channel First\n"));
    assert!(read("guides/04_monitoring.md").contains("\n## Completion Test\n"));
}

// ---------------------------------------------------------------------------------------------
// Command lines in the docs against the binary's own help.

/// Split a shell line into words (quotes removed, `#` comments dropped), with `&&`, `||`, `;`,
/// `|`, `$(`, `(` and `)` as separate words so command boundaries can be found.
fn shell_words(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars().peekable();
    let flush = |word: &mut String, in_word: &mut bool, words: &mut Vec<String>| {
        if *in_word {
            words.push(std::mem::take(word));
            *in_word = false;
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                for q in chars.by_ref() {
                    if q == '\'' {
                        break;
                    }
                    word.push(q);
                }
            }
            '"' => {
                in_word = true;
                let mut depth = 0usize;
                while let Some(q) = chars.next() {
                    match q {
                        '\\' => {
                            if let Some(n) = chars.next() {
                                word.push(n);
                            }
                        }
                        '$' if chars.peek() == Some(&'(') => {
                            depth += 1;
                            word.push(q);
                        }
                        ')' if depth > 0 => {
                            depth -= 1;
                            word.push(q);
                        }
                        '"' if depth == 0 => break,
                        _ => word.push(q),
                    }
                }
            }
            '#' if !in_word => break,
            ' ' | '\t' => flush(&mut word, &mut in_word, &mut words),
            ';' | '|' | '&' | '(' | ')' | '`' => {
                flush(&mut word, &mut in_word, &mut words);
                let mut op = c.to_string();
                if (c == '|' || c == '&') && chars.peek() == Some(&c) {
                    op.push(chars.next().expect("peeked"));
                }
                words.push(op);
            }
            '$' if chars.peek() == Some(&'(') => {
                flush(&mut word, &mut in_word, &mut words);
                chars.next();
                words.push("$(".to_string());
            }
            _ => {
                in_word = true;
                word.push(c);
            }
        }
    }
    flush(&mut word, &mut in_word, &mut words);
    words
}

/// One `harnex …` invocation found in the docs.
#[derive(Debug)]
struct Invocation {
    file: String,
    line: usize,
    text: String,
    /// Subcommand words (`run`, or `skills install`).
    words: Vec<String>,
    flags: Vec<String>,
}

fn is_separator(word: &str) -> bool {
    matches!(
        word,
        ";" | "|" | "||" | "&" | "&&" | "(" | ")" | "$(" | "`" | "then" | "do" | "else"
    )
}

/// The `harnex` invocations in the code blocks of `file` (continuation lines joined).
fn invocations(file: &str) -> Vec<Invocation> {
    let mut out = Vec::new();
    for block in blocks(&read(file)) {
        if !matches!(block.lang.as_str(), "sh" | "text" | "console" | "bash") {
            continue;
        }
        let mut logical: Vec<(usize, String)> = Vec::new();
        let mut pending: Option<(usize, String)> = None;
        for (i, raw) in block.body.lines().enumerate() {
            let line = raw.trim_start();
            let line = line.strip_prefix("$ ").unwrap_or(line);
            let (start, mut text) = pending.take().unwrap_or((block.line + i, String::new()));
            if let Some(head) = line.strip_suffix('\\') {
                text.push_str(head);
                text.push(' ');
                pending = Some((start, text));
            } else {
                text.push_str(line);
                logical.push((start, text));
            }
        }
        if let Some(p) = pending {
            logical.push(p);
        }
        for (line, text) in logical {
            let words = shell_words(&text);
            let mut at_command_start = true;
            let mut i = 0;
            while i < words.len() {
                let word = &words[i];
                if is_separator(word) {
                    at_command_start = true;
                    i += 1;
                    continue;
                }
                // `VAR=value harnex …`, `if harnex …`, `! harnex …`, `nohup harnex …`
                if at_command_start
                    && (word.contains('=') && !word.starts_with('-')
                        || matches!(word.as_str(), "if" | "while" | "until" | "!" | "nohup"))
                {
                    i += 1;
                    continue;
                }
                if at_command_start && word == "harnex" {
                    let mut j = i + 1;
                    let mut sub = Vec::new();
                    let mut flags = Vec::new();
                    while j < words.len() && !is_separator(&words[j]) {
                        let w = &words[j];
                        if w == "--" {
                            // The agent's own arguments.
                            while j < words.len() && !is_separator(&words[j]) {
                                j += 1;
                            }
                            break;
                        }
                        if let Some(flag) = w.strip_prefix("--") {
                            flags.push(format!("--{}", flag.split('=').next().unwrap_or("")));
                        } else if sub.len() < 2 && !w.starts_with('-') && flags.is_empty() {
                            sub.push(w.clone());
                        }
                        j += 1;
                    }
                    out.push(Invocation {
                        file: file.to_string(),
                        line,
                        text: text.clone(),
                        words: sub,
                        flags,
                    });
                    i = j;
                    continue;
                }
                at_command_start = false;
                i += 1;
            }
        }
    }
    out
}

fn documented_files() -> Vec<String> {
    let mut files = vec!["GUIDE.md".to_string()];
    files.extend(markdown_files("recipes"));
    files.extend(markdown_files("guides"));
    files.extend(SKILLS.iter().map(|s| format!("skills/{s}/SKILL.md")));
    files.push("skills/README.md".to_string());
    files
}

fn help_of(args: &[&str]) -> Option<String> {
    let out = Command::new(support::harnex_bin())
        .args(args)
        .arg("--help")
        .stdin(Stdio::null())
        .output()
        .expect("run harnex --help");
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Names listed under `Commands:` in a clap help text.
fn listed_commands(help: &str) -> BTreeSet<String> {
    help.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

fn flag_is_listed(help: &str, flag: &str) -> bool {
    help.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .any(|w| w == flag)
}

/// Check the invocations whose subcommand `select` accepts; returns how many were checked.
fn check_invocations(select: impl Fn(&str) -> bool) -> usize {
    let top = help_of(&[]).expect("harnex --help");
    let commands = listed_commands(&top);
    let mut problems = Vec::new();
    let mut checked = 0;
    for file in documented_files() {
        for inv in invocations(&file) {
            let Some(sub) = inv.words.first() else {
                // Bare `harnex` or `harnex --help`: top-level flags.
                for flag in &inv.flags {
                    if !flag_is_listed(&top, flag) {
                        problems.push(format!(
                            "{}:{}: harnex has no {flag}: {}",
                            inv.file, inv.line, inv.text
                        ));
                    }
                }
                continue;
            };
            if !select(sub) {
                continue;
            }
            checked += 1;
            if !commands.contains(sub) {
                problems.push(format!(
                    "{}:{}: harnex has no command {sub:?}: {}",
                    inv.file, inv.line, inv.text
                ));
                continue;
            }
            // `harnex skills install`: the flags belong to the nested command, if there is one.
            let mut path = vec![sub.as_str()];
            let mut help = help_of(&path).unwrap_or_default();
            if let Some(nested) = inv.words.get(1)
                && listed_commands(&help).contains(nested)
            {
                path.push(nested);
                help = help_of(&path).unwrap_or_default();
            }
            for flag in &inv.flags {
                if !flag_is_listed(&help, flag) {
                    problems.push(format!(
                        "{}:{}: `harnex {}` has no {flag}: {}",
                        inv.file,
                        inv.line,
                        path.join(" "),
                        inv.text
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "command lines that do not match the binary:\n{}",
        problems.join("\n")
    );
    checked
}

#[test]
fn command_lines_in_the_docs_match_the_binary() {
    let checked = check_invocations(|_| true);
    assert!(
        checked > 50,
        "only {checked} harnex command lines found: is the extraction broken?"
    );
}

#[test]
fn command_line_extraction() {
    let words = shell_words(r#"x=$(harnex send --id a --message "b --c" | cut -d, -f1) # --nope"#);
    assert_eq!(
        words,
        [
            "x=",
            "$(",
            "harnex",
            "send",
            "--id",
            "a",
            "--message",
            "b --c",
            "|",
            "cut",
            "-d,",
            "-f1",
            ")"
        ]
    );
}

#[test]
fn the_binary_prints_these_files() {
    let run = |args: &[&str]| {
        let out = Command::new(support::harnex_bin())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .expect("run harnex");
        assert!(out.status.success(), "harnex {args:?} failed: {out:?}");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(run(&["guide"]).contains(read("GUIDE.md").trim()));
    let list = run(&["recipes"]);
    for recipe in RECIPES {
        assert!(
            list.contains(recipe),
            "`harnex recipes` does not list {recipe}"
        );
        let shown = run(&["recipes", "show", recipe]);
        assert!(shown.contains(read(&format!("recipes/{recipe}.md")).trim()));
    }
    for (topic, file) in [
        ("dispatch", "guides/01_dispatch.md"),
        ("chain", "guides/02_chain.md"),
        ("buddy", "guides/03_buddy.md"),
        ("monitoring", "guides/04_monitoring.md"),
        ("naming", "guides/05_naming.md"),
    ] {
        assert!(run(&["agents-guide", topic]).contains(read(file).trim()));
    }
}

use super::*;
use crate::adapters::{Observation, ScreenView};

fn err(result: Result<RuleSet, RulesError>) -> RulesError {
    match result {
        Ok(_) => panic!("the file loaded"),
        Err(e) => e,
    }
}

#[test]
fn every_builtin_file_loads_and_ends_with_a_rule_that_always_decides() {
    for (agent, file, text) in BUILTIN {
        let set = RuleSet::builtin(agent, file, text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(set.source(), Origin::BuiltIn(file));
        let last = set.rules.last().expect("rules");
        assert!(
            matches!(last.locator, Locator::AtCursor),
            "{agent}: the last rule says why nothing else matched"
        );
        assert!(
            set.rules
                .iter()
                .all(|r| r.full_name == format!("{agent}.{}", r.name)),
            "{agent}"
        );
    }
}

const BASE: &str = r#"
tested_versions = ["1.0"]
interrupt_keys = ["C-c"]
submit_delay = { base_ms = 10, per_kb_ms = 5 }
exit = [{ keys = ["C-d"] }]

[conditions]
ready = { title = '^ready' }

[[rule]]
name = "busy-line"
means = "busy"
row = 'working'

[[rule]]
name = "prompt"
means = "prompt"
before_cursor = '^> '
settled_if = ["ready"]

[[rule]]
name = "nothing"
means = "unknown"
at_cursor = true
"#;

fn base() -> RuleSet {
    RuleSet::builtin("toy", "toy.toml", BASE).expect("base loads")
}

#[test]
fn rules_decide_in_order_and_name_the_rule() {
    let set = base();
    let busy = set.classify(&ScreenView::for_test(&["working", "> "], (1, 2), "ready"));
    assert_eq!(
        (busy.observation, busy.rule.as_str(), busy.row),
        (Observation::Busy, "toy.busy-line", Some(0))
    );
    let prompt = set.classify(&ScreenView::for_test(&["done", "> "], (1, 2), "ready"));
    assert_eq!(prompt.observation, Observation::Prompt);
    assert!(prompt.settled);
    assert!(
        !set.classify(&ScreenView::for_test(&["> "], (0, 2), ""))
            .settled
    );
    let nothing = set.classify(&ScreenView::for_test(&["$ "], (0, 2), ""));
    assert_eq!(nothing.rule, "toy.nothing");
}

#[test]
fn an_override_replaces_adds_and_removes_rules_by_name() {
    let path = std::path::PathBuf::from("/cfg/adapters/toy.toml");
    let merged = base()
        .with_override(
            path.clone(),
            r#"
tested_versions = ["2.0"]

[[rule]]
name = "prompt"
means = "prompt"
before_cursor = '^READY> '

[[rule]]
name = "thinking"
means = "busy"
title = 'thinking'
before = "prompt"

[[rule]]
name = "busy-line"
enabled = false
"#,
        )
        .expect("override merges");
    let names: Vec<&str> = merged.rules.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["thinking", "prompt", "nothing"]);
    assert_eq!(merged.tested_versions, ["2.0"]);
    assert_eq!(merged.source(), Origin::Override(path.clone()));
    assert_eq!(
        merged.rule("toy.prompt").map(|r| &r.origin),
        Some(&Origin::Override(path))
    );
    assert_eq!(
        merged.rule("toy.nothing").map(|r| &r.origin),
        Some(&Origin::BuiltIn("toy.toml"))
    );
    // Settings the override leaves out stay.
    assert_eq!(merged.interrupt_keys, ["C-c"]);
    let prompt = merged.classify(&ScreenView::for_test(&["working", "READY> "], (1, 7), ""));
    assert_eq!(prompt.rule, "toy.prompt");
    assert!(!prompt.settled, "the replacement has no settled_if");
    let old = merged.classify(&ScreenView::for_test(&["> "], (0, 2), ""));
    assert_eq!(old.rule, "toy.nothing");
}

#[test]
fn a_bad_pattern_is_an_error_naming_file_rule_and_line() {
    let e = err(base().with_override(
        "/cfg/adapters/toy.toml".into(),
        "\n[[rule]]\nname = \"prompt\"\nmeans = \"prompt\"\nbefore_cursor = '(unclosed'\n",
    ));
    assert_eq!(e.file, "/cfg/adapters/toy.toml");
    assert_eq!(e.line, Some(5));
    assert_eq!(e.rule.as_deref(), Some("prompt"));
    assert!(e.message.contains("before_cursor"), "{e}");
    let text = e.to_string();
    assert!(
        text.starts_with("/cfg/adapters/toy.toml, line 5, rule \"prompt\":"),
        "{text}"
    );
}

#[test]
fn an_unknown_key_is_an_error_with_its_line() {
    let e = err(base().with_override(
        "/o.toml".into(),
        "[[rule]]\nname = \"prompt\"\nmeans = \"prompt\"\nbefore_cursr = '^> '\n",
    ));
    assert_eq!(e.line, Some(4), "{e}");
    assert_eq!(e.rule.as_deref(), Some("prompt"), "{e}");
    assert!(e.message.contains("before_cursr"), "{e}");
    let top = err(base().with_override("/o.toml".into(), "\n\ntui = true\nspeed = 3\n"));
    assert_eq!(top.line, Some(4), "{top}");
    assert!(top.message.contains("speed"), "{top}");
}

#[test]
fn overrides_that_cannot_work_say_what_to_fix() {
    let cases = [
        (
            "[[rule]]\nname = \"x\"\nmeans = \"busy\"\nrow = 'a'\nif = [\"nope\"]\n",
            "nope",
        ),
        (
            "[[rule]]\nname = \"x\"\nmeans = \"busy\"\n",
            "exactly one of",
        ),
        (
            "[[rule]]\nname = \"x\"\nmeans = \"blocked\"\nrow = 'a'\n",
            "needs a `dialog`",
        ),
        (
            "[[rule]]\nname = \"gone\"\nenabled = false\n",
            "names no rule",
        ),
        (
            "[[rule]]\nname = \"x\"\nmeans = \"busy\"\nrow = 'a'\nbefore = \"zzz\"\n",
            "names no rule",
        ),
        (
            "[[rule]]\nname = \"Bad Name\"\nmeans = \"busy\"\nrow = 'a'\n",
            "lowercase",
        ),
        (
            "[[rule]]\nname = \"x\"\nmeans = \"blocked\"\nrow = 'a'\ndialog = { reason = \"p\", keys = [\"Nope-key\"] }\n",
            "unknown key",
        ),
        (
            "[[rule]]\nname = \"x\"\nmeans = \"busy\"\nrow = 'a'\nretry = { attempt = '\\d+' }\n",
            "named group",
        ),
        (
            "[[rule]]\nname = \"x\"\nmeans = \"busy\"\nrow = 'a'\nevidence = '{nope}'\n",
            "{nope}",
        ),
    ];
    for (text, wanted) in cases {
        let e = err(base().with_override("/o.toml".into(), text));
        assert!(e.to_string().contains(wanted), "{text}: {e}");
        assert_eq!(e.file, "/o.toml");
    }
}

#[test]
fn a_new_rule_after_the_catch_all_is_refused_with_the_fix() {
    let e = err(base().with_override(
        "/o.toml".into(),
        "[[rule]]\nname = \"late\"\nmeans = \"busy\"\nrow = 'x'\n",
    ));
    assert_eq!(e.rule.as_deref(), Some("late"));
    assert!(e.message.contains("before = \"nothing\""), "{e}");
}

#[test]
fn a_builtin_file_must_be_complete_and_in_order() {
    let e = err(RuleSet::builtin("toy", "toy.toml", "tui = true\n"));
    assert!(e.message.contains("submit_delay"), "{e}");
    let before = BASE.replace(
        "name = \"prompt\"\n",
        "name = \"prompt\"\nbefore = \"busy-line\"\n",
    );
    let e = err(RuleSet::builtin("toy", "toy.toml", &before));
    assert!(e.message.contains("`before` is for overrides"), "{e}");
}

#[test]
fn fixed_dialog_keys_and_submit_delay_and_exit_come_from_the_file() {
    let set = builtin("opencode");
    let screen = ScreenView::for_test(
        &[
            "  ┃  △ Permission required",
            "  ┃   Allow once   Allow always   Reject        enter confirm",
        ],
        (0, 5),
        "",
    );
    let Observation::Blocked(dialog) = set.classify(&screen).observation else {
        panic!("not blocked")
    };
    assert_eq!(dialog.accept_keys, ["Enter"]);
    assert!(dialog.enter_is_safe);
    assert_eq!(set.submit_delay.for_bytes(0, false).as_millis(), 200);
    assert_eq!(set.submit_delay.for_bytes(1, false).as_millis(), 250);
    assert_eq!(
        builtin("generic")
            .submit_delay
            .for_bytes(1023, false)
            .as_millis(),
        75
    );
    assert_eq!(builtin("generic").exit[0].bytes, [0x15, 0x04]);
    assert_eq!(builtin("codex").exit[0].bytes, b"/exit");
    assert_eq!(builtin("codex").exit[1].delay.as_millis(), 250);
}

/// The override examples in docs/adapters.md merge into the adapter their path names.
#[test]
fn the_documented_override_examples_load() {
    let doc = include_str!("../../../docs/adapters.md");
    let mut blocks = 0;
    for block in doc.split("```toml\n").skip(1) {
        let text = block.split("```").next().expect("a closed block");
        let agent = text
            .lines()
            .next()
            .and_then(|l| l.rsplit('/').next())
            .and_then(|f| f.strip_suffix(".toml"))
            .expect("the example starts with its path");
        let path = std::path::PathBuf::from(format!("/doc/{agent}.toml"));
        builtin(agent)
            .with_override(path, text)
            .unwrap_or_else(|e| panic!("{e}"));
        blocks += 1;
    }
    assert_eq!(blocks, 2);
    // The first teaches the generic adapter a prompt.
    let generic = builtin("generic")
        .with_override(
            "/doc/generic.toml".into(),
            doc.split("```toml\n")
                .nth(1)
                .and_then(|b| b.split("```").next())
                .expect("block"),
        )
        .expect("loads");
    let verdict = generic.classify(&ScreenView::for_test(&["ready: "], (0, 7), ""));
    assert_eq!(verdict.rule, "generic.prompt-marker");
    assert_eq!(verdict.observation, Observation::Prompt);
}

#[test]
fn what_the_agent_prints_at_exit_is_read_with_the_rules_and_an_override_of_them() {
    use crate::adapters::{Adapter, Claude, Codex, WithRules};
    let tail = "Token usage: total=10 input=8 output=2\ncodex resume 0199a213-81c0-7800-8aa1-bbab2a035a53\n";
    assert_eq!(
        Codex.parse_exit_summary(tail).agent_session_id.as_deref(),
        Some("0199a213-81c0-7800-8aa1-bbab2a035a53")
    );
    // A new exit line: the override's pattern reads it, the token line is still Codex's code.
    let rules = builtin("codex")
        .with_override(
            "/o/codex.toml".into(),
            "[exit_text]\nsession_id = 'codex continue (?P<id>\\S+)'\n",
        )
        .expect("override");
    let adapter = WithRules::new(Box::new(Codex), rules);
    let summary =
        adapter.parse_exit_summary("Token usage: total=10 input=8 output=2\ncodex continue abc\n");
    assert_eq!(summary.agent_session_id.as_deref(), Some("abc"));
    assert_eq!(summary.total_tokens, Some(10));
    // The gave-up markers it leaves alone stay.
    assert!(adapter.gave_up_on_model("Worked for 1s\n■ stream disconnected before completion"));
    assert!(Claude.gave_up_on_model("✻ Worked for 3s\n⎿ API Error: Connection error."));
    assert!(!builtin("generic").exit_text.gave_up("API Error: x"));

    let e = err(builtin("codex").with_override(
        "/o/codex.toml".into(),
        "[exit_text]\nsession_id = 'codex continue \\S+'\n",
    ));
    assert_eq!(e.line, Some(2), "{e}");
    assert!(e.message.contains("(?P<id>"), "{e}");
}

#[test]
fn until_shown_and_its_placeholder_come_from_the_file() {
    let codex = builtin("codex");
    let shown = codex
        .submit_delay
        .until_shown
        .as_ref()
        .expect("codex waits");
    let placeholder = shown.placeholder.as_ref().expect("a placeholder");
    assert!(placeholder.is_match("[Pasted Content 4113 chars]"));
    assert!(placeholder.is_match("[Pasted Content 4113 chars] #2"));
    assert!(builtin("claude").submit_delay.until_shown.is_none());

    let alone = BASE.replace(
        "submit_delay = { base_ms = 10, per_kb_ms = 5 }",
        "submit_delay = { base_ms = 10, per_kb_ms = 5, paste_placeholder = 'x' }",
    );
    let e = err(RuleSet::builtin("toy", "toy.toml", &alone));
    assert!(e.message.contains("until_shown = true"), "{e}");
    let bad = BASE.replace(
        "submit_delay = { base_ms = 10, per_kb_ms = 5 }",
        "submit_delay = { base_ms = 10, per_kb_ms = 5, until_shown = true, paste_placeholder = '(' }",
    );
    let e = err(RuleSet::builtin("toy", "toy.toml", &bad));
    assert!(
        e.message.contains("`paste_placeholder` is not a valid"),
        "{e}"
    );
    assert!(e.line.is_some(), "{e}");
}

#[test]
fn the_record_lag_comes_from_the_file_and_an_override_sets_it() {
    use crate::adapters::{Adapter, Codex, OpenCode, WithRules};
    assert_eq!(base().record_lag, compile::DEFAULT_RECORD_LAG);
    assert_eq!(compile::DEFAULT_RECORD_LAG.as_millis(), 3000);
    // OpenCode's `session.idle` comes well after its answer: it waits longer than the others.
    assert_eq!(OpenCode.record_lag().as_millis(), 6000);
    for agent in ["codex", "claude", "gemini", "copilot", "generic"] {
        assert_eq!(builtin(agent).record_lag.as_millis(), 3000, "{agent}");
    }
    let with_lag = format!("{BASE}\n[records]\nlag_ms = 4500\n");
    let set = RuleSet::builtin("toy", "toy.toml", &with_lag).expect("loads");
    assert_eq!(set.record_lag.as_millis(), 4500);
    let merged = set
        .with_override("/o/toy.toml".into(), "[records]\nlag_ms = 9000\n")
        .expect("override");
    assert_eq!(merged.record_lag.as_millis(), 9000);
    // An override that leaves it out keeps the built-in one.
    let kept = set
        .with_override("/o/toy.toml".into(), "tui = true\n")
        .expect("override");
    assert_eq!(kept.record_lag.as_millis(), 4500);
    let adapter = WithRules::new(
        Box::new(Codex),
        builtin("codex")
            .with_override("/o/codex.toml".into(), "[records]\nlag_ms = 7000\n")
            .expect("override"),
    );
    assert_eq!(adapter.record_lag().as_millis(), 7000);
}

#[test]
fn a_silly_record_lag_is_refused_naming_file_and_line() {
    for (text, line, wanted) in [
        ("[records]\nlag_ms = 0\n", 2, "give 200 to 30000"),
        ("\n[records]\nlag_ms = 3600000\n", 3, "give 200 to 30000"),
        (
            "[records]\nlag_ms = -5\n",
            2,
            "`lag_ms = -5` is out of range",
        ),
        ("[records]\nlag_ms = \"6s\"\n", 2, "expected i64"),
        ("[records]\nlag = 6000\n", 2, "lag"),
    ] {
        let e = err(base().with_override("/o/toy.toml".into(), text));
        assert_eq!(e.file, "/o/toy.toml", "{text}: {e}");
        assert_eq!(e.line, Some(line), "{text}: {e}");
        assert!(e.message.contains(wanted), "{text}: {e}");
    }
    let builtin = format!("{BASE}\n[records]\nlag_ms = 50\n");
    let e = err(RuleSet::builtin("toy", "toy.toml", &builtin));
    assert_eq!(e.file, "built-in toy.toml");
    assert!(e.message.contains("`lag_ms = 50` is out of range"), "{e}");
}

//! `harnex explain`: why harnex thinks what it thinks — the adapter's verdict on the live screen,
//! or every state change of a replayed recording.

use std::time::Duration;

use serde_json::Value;

use crate::cli::ExplainArgs;
use crate::client::Client;
use crate::error::{Error, Result};
use crate::replay::{Cast, replay};
use crate::wire::outputs::{ReplayReport, ReplayStep};

pub fn run(args: ExplainArgs) -> Result<i32> {
    if let Some(path) = &args.replay {
        return explain_replay(path, args.cli.as_deref(), args.json);
    }
    let target = crate::cli::SessionFilter {
        repo: args.repo.clone(),
        cli: args.cli.clone(),
    };
    let id = args
        .id
        .as_deref()
        .ok_or_else(|| Error::usage("harnex explain: pass --id ID or --replay FILE"))?;
    let (_, entry) = super::find_live(id, &target)?;
    let answer = Client::for_entry(&entry)
        .get("/explain", Duration::from_secs(5))
        .map_err(|e| Error::failed(format!("cannot ask {}: {e}", entry.id)))?;
    if args.json {
        super::print_json(&answer);
    } else {
        print!("{}", describe(&answer));
    }
    Ok(0)
}

/// The live answer for people.
fn describe(answer: &Value) -> String {
    let verdict = &answer["verdict"];
    let observation = verdict["observation"]["kind"].as_str().unwrap_or("?");
    let mut out = format!(
        "session {} ({} adapter): {} since {}\n",
        answer["id"].as_str().unwrap_or("?"),
        answer["adapter"].as_str().unwrap_or("?"),
        answer["state"].as_str().unwrap_or("?"),
        answer["state_since"].as_str().unwrap_or("?"),
    );
    let row = match verdict["row"].as_u64() {
        Some(row) => format!(" on row {row}"),
        None => String::new(),
    };
    out.push_str(&format!(
        "rule {}{row}: {} — {:?}{}\n",
        verdict["rule"].as_str().unwrap_or("?"),
        observation,
        verdict["evidence"].as_str().unwrap_or(""),
        if verdict["settled"] == true {
            " (positive idle evidence)"
        } else {
            ""
        },
    ));
    if let (Some(file), Some(line)) = (answer["rule_file"].as_str(), answer["rule_line"].as_u64()) {
        out.push_str(&format!("rule from: {file}, line {line}\n"));
    }
    out.push_str(&format!(
        "rules: {}\n",
        answer["rules_file"].as_str().unwrap_or("?")
    ));
    if let Some(attempt) = verdict["retry"]["attempt"].as_u64() {
        let max = verdict["retry"]["max"]
            .as_u64()
            .map_or(String::new(), |m| format!(" of {m}"));
        out.push_str(&format!(
            "retrying its model request: attempt {attempt}{max}\n"
        ));
    }
    if let Some(dialog) = answer["dialog"].as_object() {
        out.push_str(&format!(
            "dialog {}: accept with keys {}{}\n",
            dialog["reason"].as_str().unwrap_or("?"),
            dialog["accept_keys"],
            if dialog["enter_is_safe"] == true {
                " (Enter is safe)"
            } else {
                " (Enter alone is NOT safe)"
            }
        ));
    }
    out.push_str(&format!(
        "debounce: prompt needs {} ms of quiet unless settled; output {} busy\n",
        answer["quiet_window_ms"],
        if answer["output_means_busy"] == true {
            "means"
        } else {
            "does not mean"
        }
    ));
    out.push_str(&format!("turns: {}\n", answer["turn"]));
    out.push_str(&format!(
        "title: {:?}\ncursor: {}\n",
        answer["title"].as_str().unwrap_or(""),
        answer["cursor"]
    ));
    out.push_str("screen:\n");
    if let Some(rows) = answer["rows"].as_array() {
        let last = rows
            .iter()
            .rposition(|r| r.as_str().is_some_and(|t| !t.is_empty()))
            .map_or(0, |i| i + 1);
        for (i, row) in rows.iter().take(last).enumerate() {
            out.push_str(&format!("{i:>3}| {}\n", row.as_str().unwrap_or("")));
        }
    }
    out
}

/// Replay with the adapter `--cli` names, else the one the recording shows (its command or
/// title, or the agent's name on its screen), else the generic one.
fn explain_replay(path: &std::path::Path, cli: Option<&str>, as_json: bool) -> Result<i32> {
    let cast = Cast::load(path)?;
    let cli = cli.or_else(|| cast.agent()).unwrap_or("generic");
    let adapter = crate::adapters::configured_for_cli(cli)?;
    let result = replay(&cast, adapter.as_ref());
    if as_json {
        let steps = result
            .steps
            .iter()
            .map(|s| ReplayStep {
                time: s.time,
                from: s.from.as_str().to_string(),
                to: s.to.as_str().to_string(),
                verdict: s.verdict.clone(),
                dialog: s.dialog.clone(),
            })
            .collect();
        super::print_json(&crate::wire::to_value(&ReplayReport {
            ok: true,
            adapter: adapter.name().to_string(),
            rules_file: adapter.rules().source().to_string(),
            steps,
            turns_started: result.turns_started,
            turns_completed: result.turns_completed,
        }));
        return Ok(0);
    }
    println!(
        "{} ({}x{}, {} adapter, rules: {})",
        path.display(),
        cast.width,
        cast.height,
        adapter.name(),
        adapter.rules().source()
    );
    for step in &result.steps {
        let row = step
            .verdict
            .row
            .map(|r| format!(" row {r}"))
            .unwrap_or_default();
        println!(
            "{:>8.3}s  {:<8} → {:<8} {}{row}: {:?}",
            step.time,
            step.from.as_str(),
            step.to.as_str(),
            step.verdict.rule,
            step.verdict.evidence
        );
    }
    for (time, turn) in &result.turns_completed {
        println!("{time:>8.3}s  turn {turn} complete");
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retrying_verdict_is_described_with_its_attempt() {
        let answer = serde_json::json!({"id": "cx", "adapter": "codex", "state": "busy",
            "verdict": {"rule": "codex.reconnecting", "observation": {"kind": "busy"},
                        "evidence": "• Reconnecting... 2/5", "retry": {"attempt": 2, "max": 5}}});
        let text = describe(&answer);
        assert!(
            text.contains("retrying its model request: attempt 2 of 5"),
            "{text}"
        );
        let mut plain = answer.clone();
        plain["verdict"]
            .as_object_mut()
            .expect("object")
            .remove("retry");
        assert!(!describe(&plain).contains("retrying"));
    }
}

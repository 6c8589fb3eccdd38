//! The adapters part of `harnex doctor`: each adapter, the CLIs that pick it, where its rules
//! come from (built in, or the user's override file) and the agent versions it was tested on.
//! A bad override is a warning here (with what to fix); `run` refuses it.

use serde_json::{Value, json};

use crate::adapters::catalog::{ADAPTERS, AdapterInfo};
use crate::adapters::{RuleSet, RulesError, rules};

/// One adapter with its rules as this user would run it.
struct Row {
    info: &'static AdapterInfo,
    /// The rules loaded (the built-in ones when the override is bad).
    rules: RuleSet,
    /// Why the user's override cannot be used.
    error: Option<RulesError>,
}

fn rows(load: &dyn Fn(&str) -> Result<RuleSet, RulesError>) -> Vec<Row> {
    ADAPTERS
        .iter()
        .map(|info| match load(info.name) {
            Ok(rules) => Row {
                info,
                rules,
                error: None,
            },
            Err(error) => Row {
                info,
                rules: rules::builtin(info.name).clone(),
                error: Some(error),
            },
        })
        .collect()
}

/// The versions an agent's adapter was tested on, as its rules say (empty for a CLI harnex has
/// no adapter for).
pub fn tested_versions(cli: &str) -> Vec<String> {
    ADAPTERS
        .iter()
        .find(|a| a.clis.contains(&cli))
        .map(|a| {
            rules::load(a.name)
                .unwrap_or_else(|_| rules::builtin(a.name).clone())
                .tested_versions
        })
        .unwrap_or_default()
}

/// `adapters` in `doctor --json`.
pub fn json_rows() -> Value {
    json_rows_with(&rules::load)
}

fn json_rows_with(load: &dyn Fn(&str) -> Result<RuleSet, RulesError>) -> Value {
    Value::Array(
        rows(load)
            .iter()
            .map(|row| {
                let mut out = json!({
                    "name": row.info.name,
                    "agent": row.info.agent,
                    "clis": row.info.clis,
                    "rules": if row.rules.override_path.is_some() { "override" } else { "built-in" },
                    "rules_file": row.rules.source().to_string(),
                    "tested_versions": row.rules.tested_versions,
                });
                if let (Some(error), Value::Object(fields)) = (&row.error, &mut out) {
                    fields.insert("rules".into(), "built-in".into());
                    fields.insert("rules_error".into(), error.to_string().into());
                }
                out
            })
            .collect(),
    )
}

/// The table `doctor` prints after its checks, and a warning line per bad override.
pub fn text_lines() -> Vec<String> {
    text_lines_with(&rules::load)
}

fn text_lines_with(load: &dyn Fn(&str) -> Result<RuleSet, RulesError>) -> Vec<String> {
    let rows = rows(load);
    let mut lines = vec!["adapters:".to_string()];
    lines.extend(rows.iter().map(text_line));
    for row in &rows {
        if let Some(error) = &row.error {
            lines.push(format!(
                "warn  rules      {}: {error} — `harnex run` refuses it until it is fixed",
                row.info.name
            ));
        }
    }
    lines
}

fn text_line(row: &Row) -> String {
    let adapter = row.info;
    let clis = if adapter.clis.is_empty() {
        "any other CLI".to_string()
    } else {
        adapter.clis.join(", ")
    };
    let tested = if row.rules.tested_versions.is_empty() {
        "reads shapes most programs share".to_string()
    } else {
        format!("tested with {}", row.rules.tested_versions.join(", "))
    };
    format!(
        "      {:<9}  {clis:<13}  rules {:<22}  {} — {tested}",
        adapter.name,
        row.rules.source(),
        adapter.agent
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn builtin(name: &str) -> Result<RuleSet, RulesError> {
        Ok(rules::builtin(name).clone())
    }

    #[test]
    fn every_adapter_is_listed_with_its_rules_and_versions() {
        let rows = json_rows_with(&builtin);
        let names: Vec<&str> = rows
            .as_array()
            .expect("an array")
            .iter()
            .filter_map(|r| r["name"].as_str())
            .collect();
        assert_eq!(
            names,
            [
                "codex", "claude", "opencode", "copilot", "gemini", "generic"
            ]
        );
        assert_eq!(rows[0]["tested_versions"], json!(["0.169.0", "0.171.0"]));
        assert_eq!(rows[1]["tested_versions"], json!(["2.1.328", "2.1.332"]));
        assert_eq!(rows[0]["rules_file"], "built-in codex.toml");
        assert_eq!(rows[5]["clis"], json!([]));
        assert!(
            rows.as_array()
                .into_iter()
                .flatten()
                .all(|r| r["rules"] == "built-in")
        );
        let text = text_lines_with(&builtin).join("\n");
        assert!(text.contains("codex") && text.contains("tested with 0.169.0, 0.171.0"));
        assert!(text.contains("any other CLI"));
    }

    #[test]
    fn an_override_is_named_and_a_bad_one_is_a_warning() {
        let path = std::path::PathBuf::from("/cfg/adapters/codex.toml");
        let load = |name: &str| {
            let base = rules::builtin(name);
            match name {
                "codex" => base.with_override(path.clone(), "tested_versions = [\"0.180.0\"]\n"),
                "claude" => base.with_override("/cfg/adapters/claude.toml".into(), "tui = 3\n"),
                _ => Ok(base.clone()),
            }
        };
        let rows = json_rows_with(&load);
        assert_eq!(rows[0]["rules"], "override");
        assert_eq!(rows[0]["rules_file"], "/cfg/adapters/codex.toml");
        assert_eq!(rows[0]["tested_versions"], json!(["0.180.0"]));
        assert_eq!(rows[1]["rules"], "built-in");
        let error = rows[1]["rules_error"].as_str().expect("an error");
        assert!(
            error.contains("/cfg/adapters/claude.toml, line 1"),
            "{error}"
        );
        let text = text_lines_with(&load).join("\n");
        assert!(text.contains("rules /cfg/adapters/codex.toml"), "{text}");
        assert!(
            text.contains("warn  rules      claude: /cfg/adapters/claude.toml"),
            "{text}"
        );
    }

    #[test]
    fn tested_versions_are_found_by_cli() {
        assert!(tested_versions("bash").is_empty());
    }
}

//! The adapters part of `harnex doctor`: each adapter, the CLIs that pick it, where its rules
//! come from and the agent versions it was tested on.

use serde_json::{Value, json};

use crate::adapters::catalog::{ADAPTERS, AdapterInfo};

/// The versions an agent's adapter was tested on (empty for a CLI harnex has no adapter for).
pub fn tested_versions(cli: &str) -> &'static [&'static str] {
    ADAPTERS
        .iter()
        .find(|a| a.clis.contains(&cli))
        .map_or(&[], |a| a.tested_versions)
}

/// `adapters` in `doctor --json`.
pub fn json_rows() -> Value {
    Value::Array(
        ADAPTERS
            .iter()
            .map(|a| {
                json!({
                    "name": a.name,
                    "agent": a.agent,
                    "clis": a.clis,
                    "rules": a.rules.as_str(),
                    "tested_versions": a.tested_versions,
                })
            })
            .collect(),
    )
}

/// The table `doctor` prints after its checks.
pub fn text_lines() -> Vec<String> {
    let mut lines = vec!["adapters:".to_string()];
    lines.extend(ADAPTERS.iter().map(text_line));
    lines
}

fn text_line(adapter: &AdapterInfo) -> String {
    let clis = if adapter.clis.is_empty() {
        "any other CLI".to_string()
    } else {
        adapter.clis.join(", ")
    };
    let tested = if adapter.tested_versions.is_empty() {
        "reads shapes most programs share".to_string()
    } else {
        format!("tested with {}", adapter.tested_versions.join(", "))
    };
    format!(
        "      {:<9}  {clis:<13}  rules {:<8}  {} — {tested}",
        adapter.name,
        adapter.rules.as_str(),
        adapter.agent
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_adapter_is_listed_with_its_rules_and_versions() {
        let rows = json_rows();
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
        assert_eq!(rows[5]["clis"], json!([]));
        assert!(
            rows.as_array()
                .into_iter()
                .flatten()
                .all(|r| r["rules"] == "built-in")
        );
        let text = text_lines().join("\n");
        assert!(text.contains("codex") && text.contains("tested with 0.169.0, 0.171.0"));
        assert!(text.contains("any other CLI"));
    }

    #[test]
    fn tested_versions_are_found_by_cli() {
        assert_eq!(tested_versions("claude"), ["2.1.328", "2.1.332"]);
        assert!(tested_versions("bash").is_empty());
    }
}

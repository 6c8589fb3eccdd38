//! The adapters harnex has, as `harnex doctor` lists them: which CLIs pick each one, where its
//! screen rules come from, and the agent versions its tests ran against.
//!
//! A new adapter gets a row here as well as its line in [`super::for_cli`]; the tests below
//! check that the two agree.

use serde::Serialize;

/// Where an adapter's rules come from. Today every adapter's rules are compiled into the binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RulesSource {
    BuiltIn,
}

impl RulesSource {
    pub fn as_str(self) -> &'static str {
        match self {
            RulesSource::BuiltIn => "built-in",
        }
    }
}

/// One adapter as `doctor` describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct AdapterInfo {
    /// The adapter key (`status --json` `adapter`).
    pub name: &'static str,
    /// The agent it reads, as people call it.
    pub agent: &'static str,
    /// CLI names that pick it (`harnex run <cli>`); empty for the generic adapter, which takes
    /// every other CLI.
    pub clis: &'static [&'static str],
    pub rules: RulesSource,
    /// Agent versions its recordings and end-to-end tests ran against (the first is the one
    /// CI pins).
    pub tested_versions: &'static [&'static str],
}

/// Every adapter, the generic one last (it takes whatever the others do not).
pub const ADAPTERS: &[AdapterInfo] = &[
    AdapterInfo {
        name: "codex",
        agent: "OpenAI Codex CLI",
        clis: &["codex"],
        rules: RulesSource::BuiltIn,
        tested_versions: &["0.169.0", "0.171.0"],
    },
    AdapterInfo {
        name: "claude",
        agent: "Claude Code",
        clis: &["claude"],
        rules: RulesSource::BuiltIn,
        tested_versions: &["2.1.328", "2.1.332"],
    },
    AdapterInfo {
        name: "opencode",
        agent: "OpenCode",
        clis: &["opencode"],
        rules: RulesSource::BuiltIn,
        tested_versions: &["1.18.33"],
    },
    AdapterInfo {
        name: "copilot",
        agent: "GitHub Copilot CLI",
        clis: &["copilot"],
        rules: RulesSource::BuiltIn,
        tested_versions: &["1.0.102"],
    },
    AdapterInfo {
        name: "gemini",
        agent: "Gemini CLI",
        clis: &["gemini"],
        rules: RulesSource::BuiltIn,
        tested_versions: &["0.61.0"],
    },
    AdapterInfo {
        name: "generic",
        agent: "shells, REPLs, unknown agents",
        clis: &[],
        rules: RulesSource::BuiltIn,
        tested_versions: &[],
    },
];

/// The row of the adapter named `name`.
pub fn info(name: &str) -> Option<&'static AdapterInfo> {
    ADAPTERS.iter().find(|a| a.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_adapter_has_a_row() {
        for name in [
            "codex", "claude", "opencode", "copilot", "gemini", "generic",
        ] {
            assert!(info(name).is_some(), "{name} has no row");
        }
    }

    #[test]
    fn every_row_names_the_adapter_its_clis_pick() {
        for row in ADAPTERS {
            for cli in row.clis {
                assert_eq!(super::super::for_cli(cli).name(), row.name, "{cli}");
            }
        }
        let generic = ADAPTERS.last().expect("rows");
        assert_eq!(
            generic.name,
            super::super::for_cli("some-unknown-cli").name()
        );
        assert!(generic.clis.is_empty());
    }
}

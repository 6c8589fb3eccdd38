//! The adapters harnex has, as `harnex doctor` lists them: which CLIs pick each one and the
//! agent it reads. Where its screen rules come from and the versions they were tested on are
//! in its rule file (`rules/<name>.toml`).
//!
//! A new adapter gets a row here as well as its line in [`super::for_cli`]; the tests below
//! check that the two agree.

use serde::Serialize;

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
}

/// Every adapter, the generic one last (it takes whatever the others do not).
pub const ADAPTERS: &[AdapterInfo] = &[
    AdapterInfo {
        name: "codex",
        agent: "OpenAI Codex CLI",
        clis: &["codex"],
    },
    AdapterInfo {
        name: "claude",
        agent: "Claude Code",
        clis: &["claude"],
    },
    AdapterInfo {
        name: "opencode",
        agent: "OpenCode",
        clis: &["opencode"],
    },
    AdapterInfo {
        name: "copilot",
        agent: "GitHub Copilot CLI",
        clis: &["copilot"],
    },
    AdapterInfo {
        name: "gemini",
        agent: "Gemini CLI",
        clis: &["gemini"],
    },
    AdapterInfo {
        name: "generic",
        agent: "shells, REPLs, unknown agents",
        clis: &[],
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
        // And a rule file.
        for (name, _, _) in super::super::rules::BUILTIN {
            assert!(info(name).is_some(), "{name} has rules but no row");
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

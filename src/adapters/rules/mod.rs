//! Adapters as data: each agent's screen rules (patterns, where they apply, what they mean,
//! dialogs and their keys, the exit sequence, the submit delay, how long a turn waits for the
//! agent's records, the versions tested) live in
//! one TOML file per agent, compiled into the binary (`rules/<agent>.toml`) and overridable by
//! the user (`<config dir>/adapters/<agent>.toml`, merged by rule name). The built-in files are
//! parsed once, on first use; an override is read when a session starts.
//!
//! `format` is the file as written, `compile` checks and merges it, `classify` runs it on a
//! screen, `user` finds and reads the user's override safely.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub mod format;

mod classify;
mod compile;
mod user;

pub use compile::{Locator, PasteShown, Rule, RuleSet};
pub use user::{config_dir, override_path};

/// The built-in rule files: adapter key, file name, text.
pub const BUILTIN: [(&str, &str, &str); 6] = [
    ("codex", "codex.toml", include_str!("codex.toml")),
    ("claude", "claude.toml", include_str!("claude.toml")),
    ("opencode", "opencode.toml", include_str!("opencode.toml")),
    ("copilot", "copilot.toml", include_str!("copilot.toml")),
    ("gemini", "gemini.toml", include_str!("gemini.toml")),
    ("generic", "generic.toml", include_str!("generic.toml")),
];

/// Where a rule (or a whole rule set) comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A file compiled into harnex (`codex.toml`).
    BuiltIn(&'static str),
    /// The user's override file.
    Override(PathBuf),
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::BuiltIn(name) => write!(f, "built-in {name}"),
            Origin::Override(path) => write!(f, "{}", path.display()),
        }
    }
}

/// A rule file that cannot be used, with where and what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.describe())]
pub struct RulesError {
    /// `built-in codex.toml` or the override's path.
    pub file: String,
    pub line: Option<usize>,
    pub rule: Option<String>,
    pub message: String,
}

impl RulesError {
    fn describe(&self) -> String {
        let mut out = self.file.clone();
        if let Some(line) = self.line {
            out.push_str(&format!(", line {line}"));
        }
        if let Some(rule) = &self.rule {
            out.push_str(&format!(", rule {rule:?}"));
        }
        out.push_str(": ");
        out.push_str(&self.message);
        out
    }

    fn of_file(path: &Path, message: impl Into<String>) -> RulesError {
        RulesError {
            file: path.display().to_string(),
            line: None,
            rule: None,
            message: message.into(),
        }
    }
}

/// A bad rule file is a usage error (exit 2): the user's file needs fixing.
impl From<RulesError> for crate::error::Error {
    fn from(e: RulesError) -> Self {
        crate::error::Error::usage(format!(
            "adapter rules: {e}\n(fix the file, or move it away to use the built-in rules; \
             the format is in docs/adapters.md)"
        ))
    }
}

/// Each built-in file compiled on first use (a session needs one).
static BUILTIN_SETS: [OnceLock<RuleSet>; BUILTIN.len()] =
    [const { OnceLock::new() }; BUILTIN.len()];

/// The built-in rules of adapter `agent` (the generic ones for a name without a file).
pub fn builtin(agent: &str) -> &'static RuleSet {
    let index = BUILTIN
        .iter()
        .position(|(name, _, _)| *name == agent)
        .or_else(|| BUILTIN.iter().position(|(name, _, _)| *name == "generic"))
        .unwrap_or(0);
    BUILTIN_SETS[index].get_or_init(|| {
        let (agent, file, text) = BUILTIN[index];
        // Proven by the unit test that loads every built-in file.
        RuleSet::builtin(agent, file, text)
            .unwrap_or_else(|e| panic!("built-in rules do not load: {e}"))
    })
}

/// The rules adapter `agent` runs with: the built-in ones, with the user's override merged in
/// when there is one. A bad override is an error, never silently skipped.
pub fn load(agent: &str) -> Result<RuleSet, RulesError> {
    let base = builtin(agent);
    let Some(path) = override_path(&base.agent) else {
        return Ok(base.clone());
    };
    match user::read_override(&path)? {
        Some(text) => base.with_override(path, &text),
        None => Ok(base.clone()),
    }
}

impl RuleSet {
    /// Where these rules come from: the override's path, else the built-in file.
    pub fn source(&self) -> Origin {
        match &self.override_path {
            Some(path) => Origin::Override(path.clone()),
            None => Origin::BuiltIn(self.builtin_file),
        }
    }

    /// The rule a verdict names (`codex.input-line`).
    pub fn rule(&self, full_name: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.full_name == full_name)
    }
}

#[cfg(test)]
#[path = "tests.rs"]
mod tests;

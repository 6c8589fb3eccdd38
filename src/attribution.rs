//! Who started a session and what it is tagged with. A session started from inside another
//! inherits `HARNEX_ID` (and `HARNEX_SESSION_ID`, `HARNEX_ROOT_ID`, `HARNEX_ROOT_SESSION_ID`,
//! `HARNEX_TAGS`) from the agent's environment; `harnex run` reads them once, while it resolves
//! its plan, merges its own `--tag`s over the inherited ones, and the supervisor hands the result
//! to its agent the same way, so a chain of sessions knows its parent, its root and its tags.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::paths::StateDir;

/// What a tag key may be, for messages.
pub const KEY_RULE: &str = "1-64 of A-Z a-z 0-9 _ . -";
/// The longest tag value, in bytes.
pub const MAX_VALUE_BYTES: usize = 256;
/// The most tags a session carries (inherited and its own): they travel in one environment
/// variable to every descendant.
pub const MAX_TAGS: usize = 64;

/// The environment variables a session's agent gets (besides `HARNEX_ID`, `HARNEX_SESSION_ID`).
pub const ROOT_ID_VAR: &str = "HARNEX_ROOT_ID";
pub const ROOT_SESSION_ID_VAR: &str = "HARNEX_ROOT_SESSION_ID";
pub const TAGS_VAR: &str = "HARNEX_TAGS";

/// Tags by key (sorted, so rows and tables are stable).
pub type Tags = BTreeMap<String, String>;

/// A session's place in the tree of sessions and its tags.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Attribution {
    /// The id of the harnex session this one was started from (its `HARNEX_ID`); null when it
    /// was not started from inside a session.
    #[serde(default)]
    pub parent: Option<String>,
    /// That session's run (its `session_id`), when known.
    #[serde(default)]
    pub parent_session_id: Option<String>,
    /// The id of the session at the top of the chain (the parent's root, or the parent); null
    /// when this session is the top.
    #[serde(default)]
    pub root: Option<String>,
    /// The top session's run (its `session_id`), when known.
    #[serde(default)]
    pub root_session_id: Option<String>,
    /// The parent's tags, overridden key by key by this run's `--tag KEY=VALUE`.
    #[serde(default)]
    pub tags: Tags,
}

impl Attribution {
    /// The attribution of a run started with `own` tags in the environment `env` (a lookup, so
    /// tests need not touch the process environment). What the environment does not say (a
    /// parent started by an older harnex, or a variable cleared on the way) comes from the
    /// parent's registry entry in `state`.
    pub fn resolve(
        env: &dyn Fn(&str) -> Option<String>,
        own: &[(String, String)],
        state: &StateDir,
    ) -> Result<Attribution> {
        let parent = env_id("HARNEX_ID", env);
        let parent_session_id = parent
            .as_ref()
            .and_then(|_| env("HARNEX_SESSION_ID"))
            .filter(|s| is_session_id(s));
        let root_env = parent.as_ref().and_then(|_| env_id(ROOT_ID_VAR, env));
        let tags_env = env(TAGS_VAR).filter(|t| !t.trim().is_empty());
        let entry = match (&parent_session_id, &root_env, &tags_env) {
            (Some(run), None, _) | (Some(run), _, None) => parent_entry(state, run),
            _ => None,
        };
        let mut tags = match &tags_env {
            Some(text) => inherited_tags(text)?,
            None => entry.as_ref().map(|e| e.tags.clone()).unwrap_or_default(),
        };
        for (key, value) in own {
            tags.insert(key.clone(), value.clone());
        }
        if tags.len() > MAX_TAGS {
            return Err(Error::usage(format!(
                "{} tags (inherited and --tag together); a session carries at most {MAX_TAGS}: \
                 drop some --tag, or override an inherited key instead of adding one",
                tags.len()
            )));
        }
        let Some(parent) = parent else {
            return Ok(Attribution {
                tags,
                ..Attribution::default()
            });
        };
        let entry_root = entry.and_then(|e| Some((e.root?, e.root_session_id)));
        let (root, root_session_id) = match (root_env, entry_root) {
            (Some(root), _) => (root, env(ROOT_SESSION_ID_VAR).filter(|s| is_session_id(s))),
            (None, Some(from_entry)) => from_entry,
            // The parent is the top of its chain.
            (None, None) => (parent.clone(), parent_session_id.clone()),
        };
        Ok(Attribution {
            parent: Some(parent),
            parent_session_id,
            root: Some(root),
            root_session_id,
            tags,
        })
    }

    /// What the session's agent gets, so sessions it starts know their parent's root and tags
    /// (`HARNEX_ID` and `HARNEX_SESSION_ID` name the parent itself).
    pub fn child_env(&self, id: &str, session_id: &str) -> Vec<(String, String)> {
        let (root, root_session_id) = match &self.root {
            Some(root) => (root.clone(), self.root_session_id.clone()),
            None => (id.to_string(), Some(session_id.to_string())),
        };
        // Each always set (the run id empty when unknown), so an outer chain's value never
        // leaks through to the agent.
        vec![
            (ROOT_ID_VAR.to_string(), root),
            (
                ROOT_SESSION_ID_VAR.to_string(),
                root_session_id.unwrap_or_default(),
            ),
            (
                TAGS_VAR.to_string(),
                serde_json::to_string(&self.tags).unwrap_or_else(|_| "{}".into()),
            ),
        ]
    }
}

/// `KEY=VALUE` of `--tag` (clap's value parser: an error here is a usage error, exit 2).
pub fn parse_tag(text: &str) -> std::result::Result<(String, String), String> {
    let Some((key, value)) = text.split_once('=') else {
        return Err(format!(
            "{text:?} is not KEY=VALUE; write e.g. --tag team=infra"
        ));
    };
    check_tag(key, value)?;
    Ok((key.to_string(), value.to_string()))
}

/// Why `key`/`value` is not a valid tag.
fn check_tag(key: &str, value: &str) -> std::result::Result<(), String> {
    let key_ok = (1..=64).contains(&key.len())
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'));
    if !key_ok {
        return Err(format!(
            "tag key {key:?} is not allowed: a key is {KEY_RULE} (e.g. team, issue.id)"
        ));
    }
    if value.len() > MAX_VALUE_BYTES {
        return Err(format!(
            "the value of tag {key:?} is {} bytes; at most {MAX_VALUE_BYTES}",
            value.len()
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(format!(
            "the value of tag {key:?} contains a control character; use plain text"
        ));
    }
    Ok(())
}

/// The parent's tags from `HARNEX_TAGS` (a JSON object of strings), each held to the same rules
/// as `--tag`: a bad value is a usage error that names the variable.
fn inherited_tags(text: &str) -> Result<Tags> {
    let refuse = |why: String| {
        Error::usage(format!(
            "{TAGS_VAR} (the tags a harnex session passes to the sessions it starts) {why}; \
             unset it or set it to a JSON object such as {{\"team\":\"infra\"}}"
        ))
    };
    let tags: Tags = serde_json::from_str(text)
        .map_err(|e| refuse(format!("is not a JSON object of strings ({e})")))?;
    for (key, value) in &tags {
        check_tag(key, value).map_err(|why| refuse(format!("holds a bad tag: {why}")))?;
    }
    Ok(tags)
}

/// A session id from the environment, when it is one harnex would accept (anything else is
/// ignored with a warning: the variable was not written by harnex).
fn env_id(var: &str, env: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let value = env(var).filter(|v| !v.is_empty())?;
    match crate::paths::normalize_id(&value) {
        Ok(id) => Some(id),
        Err(e) => {
            crate::warn!("harnex: ignoring ${var}: {e}");
            None
        }
    }
}

/// A run's `session_id`: 16 lowercase hex digits.
fn is_session_id(text: &str) -> bool {
    text.len() == 16 && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The attribution the live session of run `run` (the parent) has in its registry entry; its
/// tags held to the `--tag` rules (one that breaks them is left out).
fn parent_entry(state: &StateDir, run: &str) -> Option<Attribution> {
    let entry = crate::registry::live_entries(state)
        .into_iter()
        .find(|e| e.session_id == run)?;
    let mut found: Attribution =
        serde_json::from_value(serde_json::Value::Object(entry.extra)).ok()?;
    found
        .tags
        .retain(|key, value| check_tag(key, value).is_ok());
    Some(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |key: &str| vars.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }

    fn state() -> (tempfile::TempDir, StateDir) {
        let dir = tempfile::tempdir().unwrap();
        let state = StateDir::at(dir.path().join("state"));
        (dir, state)
    }

    #[test]
    fn tag_keys_and_values_are_checked() {
        assert_eq!(parse_tag("team=infra"), Ok(("team".into(), "infra".into())));
        assert_eq!(parse_tag("k="), Ok(("k".into(), String::new())));
        assert_eq!(
            parse_tag("a.b-c_9=x=y"),
            Ok(("a.b-c_9".into(), "x=y".into()))
        );
        assert!(parse_tag("team").unwrap_err().contains("KEY=VALUE"));
        assert!(parse_tag("=x").unwrap_err().contains("is not allowed"));
        assert!(parse_tag("te am=x").unwrap_err().contains("is not allowed"));
        assert!(parse_tag("tëam=x").unwrap_err().contains("is not allowed"));
        assert!(parse_tag(&format!("{}=x", "k".repeat(65))).is_err());
        assert!(parse_tag(&format!("{}=x", "k".repeat(64))).is_ok());
        assert!(
            parse_tag(&format!("k={}", "v".repeat(257)))
                .unwrap_err()
                .contains("257 bytes")
        );
        assert!(parse_tag(&format!("k={}", "v".repeat(256))).is_ok());
        assert!(parse_tag("k=a\x1b[2Jb").unwrap_err().contains("control"));
    }

    #[test]
    fn a_session_outside_any_other_has_no_parent_and_only_its_own_tags() {
        let (_dir, state) = state();
        let own = vec![("team".to_string(), "infra".to_string())];
        let got = Attribution::resolve(&env_of(&[]), &own, &state).unwrap();
        assert_eq!(got.parent, None);
        assert_eq!(got.root, None);
        assert_eq!(got.tags, Tags::from([("team".into(), "infra".into())]));
        // Its agent's children see it as their root.
        let env = got.child_env("top", "0123456789abcdef");
        assert!(env.contains(&(ROOT_ID_VAR.into(), "top".into())));
        assert!(env.contains(&(ROOT_SESSION_ID_VAR.into(), "0123456789abcdef".into())));
        assert!(env.contains(&(TAGS_VAR.into(), r#"{"team":"infra"}"#.into())));
    }

    #[test]
    fn a_child_inherits_root_and_tags_and_its_own_tags_win() {
        let (_dir, state) = state();
        let env = env_of(&[
            ("HARNEX_ID", "mid"),
            ("HARNEX_SESSION_ID", "1111111111111111"),
            (ROOT_ID_VAR, "top"),
            (ROOT_SESSION_ID_VAR, "2222222222222222"),
            (TAGS_VAR, r#"{"team":"infra","step":"1"}"#),
        ]);
        let own = vec![("step".to_string(), "2".to_string())];
        let got = Attribution::resolve(&env, &own, &state).unwrap();
        assert_eq!(got.parent.as_deref(), Some("mid"));
        assert_eq!(got.parent_session_id.as_deref(), Some("1111111111111111"));
        assert_eq!(got.root.as_deref(), Some("top"));
        assert_eq!(got.root_session_id.as_deref(), Some("2222222222222222"));
        assert_eq!(
            got.tags,
            Tags::from([("team".into(), "infra".into()), ("step".into(), "2".into())])
        );
        let child = got.child_env("leaf", "3333333333333333");
        assert!(child.contains(&(ROOT_ID_VAR.into(), "top".into())));
    }

    #[test]
    fn without_a_root_in_the_environment_the_parent_is_the_root() {
        let (_dir, state) = state();
        let env = env_of(&[("HARNEX_ID", "mid"), ("HARNEX_SESSION_ID", "not-hex")]);
        let got = Attribution::resolve(&env, &[], &state).unwrap();
        assert_eq!(got.root.as_deref(), Some("mid"));
        assert_eq!(got.parent_session_id, None);
    }

    #[test]
    fn a_bad_harnex_id_is_no_parent() {
        let (_dir, state) = state();
        let env = env_of(&[("HARNEX_ID", "a/b")]);
        let got = Attribution::resolve(&env, &[], &state).unwrap();
        assert_eq!(got, Attribution::default());
    }

    #[test]
    fn bad_inherited_tags_are_a_usage_error_naming_the_variable() {
        let (_dir, state) = state();
        for bad in [r#"["x"]"#, r#"{"k":1}"#, r#"{"bad key":"v"}"#, "{"] {
            let env = env_of(&[(TAGS_VAR, bad)]);
            let err = Attribution::resolve(&env, &[], &state).unwrap_err();
            assert_eq!(err.exit_code(), 2, "{bad}");
            assert!(err.to_string().contains(TAGS_VAR), "{err}");
        }
    }

    #[test]
    fn too_many_tags_are_refused() {
        let (_dir, state) = state();
        let own: Vec<(String, String)> = (0..=MAX_TAGS)
            .map(|i| (format!("k{i}"), "v".to_string()))
            .collect();
        let err = Attribution::resolve(&env_of(&[]), &own, &state).unwrap_err();
        assert_eq!(err.exit_code(), 2);
        assert!(err.to_string().contains("at most 64"), "{err}");
        assert!(Attribution::resolve(&env_of(&[]), &own[..MAX_TAGS], &state).is_ok());
    }
}

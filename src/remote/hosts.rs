//! `hosts.toml`: the hosts and groups a user named, and how `--remote NAME` resolves to hosts.
//!
//! ```toml
//! [hosts.build-1]
//! ssh = "build-1.example.com"      # the ssh destination (default: the name)
//! harnex = "~/.cargo/bin/harnex"   # the harnex to run there (default: harnex on its PATH)
//! env = { HARNEX_STATE_DIR = "/srv/harnex" }
//!
//! [groups]
//! builders = ["build-1", "build-2"]
//! ```
//!
//! A name that is neither a host nor a group here is an ssh destination as the user's `ssh`
//! knows it; `all` is every host of the file.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

/// One host as the file describes it (everything optional).
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HostConfig {
    pub ssh: Option<String>,
    pub harnex: Option<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct HostsFile {
    #[serde(default)]
    pub hosts: BTreeMap<String, HostConfig>,
    #[serde(default)]
    pub groups: BTreeMap<String, Vec<String>>,
}

/// A host to run a command on: its name (as the user wrote it, shown in output) and how to reach it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    pub name: String,
    pub destination: String,
    pub harnex: String,
    pub env: Vec<(String, String)>,
}

impl Host {
    /// A bare ssh destination, not named in hosts.toml.
    pub fn plain(name: &str) -> Host {
        Host {
            name: name.to_string(),
            destination: name.to_string(),
            harnex: "harnex".into(),
            env: Vec::new(),
        }
    }
}

/// Where hosts.toml is: `$HARNEX_HOSTS_FILE`, else `$XDG_CONFIG_HOME/harnex/hosts.toml`, else
/// `~/.config/harnex/hosts.toml`.
pub fn hosts_file_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("HARNEX_HOSTS_FILE").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let config = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(config.join("harnex").join("hosts.toml"))
}

impl HostsFile {
    /// The user's hosts.toml; an absent file is an empty one.
    pub fn load() -> Result<HostsFile> {
        match hosts_file_path() {
            Some(path) => HostsFile::load_from(&path),
            None => Ok(HostsFile::default()),
        }
    }

    pub fn load_from(path: &Path) -> Result<HostsFile> {
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HostsFile::default()),
            Err(e) => {
                return Err(Error::failed(format!(
                    "cannot read {}: {e}; fix its permissions or set HARNEX_HOSTS_FILE",
                    path.display()
                )));
            }
        };
        HostsFile::parse(&text).map_err(|why| {
            Error::usage(format!(
                "{} is not a valid hosts file: {why} (see docs/remote.md)",
                path.display()
            ))
        })
    }

    pub fn parse(text: &str) -> std::result::Result<HostsFile, String> {
        let file: HostsFile = toml::from_str(text).map_err(|e| e.message().to_string())?;
        file.check()?;
        Ok(file)
    }

    fn check(&self) -> std::result::Result<(), String> {
        for (name, host) in &self.hosts {
            check_name(name)?;
            if let Some(dest) = &host.ssh {
                check_destination(dest)?;
            }
            if host.harnex.as_deref().is_some_and(str::is_empty) {
                return Err(format!("host {name:?}: `harnex` is empty"));
            }
            for key in host.env.keys() {
                if !is_env_name(key) {
                    return Err(format!(
                        "host {name:?}: {key:?} is not an environment variable name"
                    ));
                }
            }
        }
        for (group, members) in &self.groups {
            check_name(group)?;
            if group == "all" {
                return Err("`all` means every host: name the group otherwise".into());
            }
            if self.hosts.contains_key(group) {
                return Err(format!("{group:?} is both a host and a group"));
            }
            if let Some(missing) = members.iter().find(|m| !self.hosts.contains_key(*m)) {
                return Err(format!(
                    "group {group:?} names {missing:?}, which is not under [hosts]"
                ));
            }
        }
        Ok(())
    }

    /// Every name `--remote` takes from this file: its hosts, its groups, and `all` when it
    /// names a host.
    pub fn names(&self) -> Vec<String> {
        let all = (!self.hosts.is_empty()).then(|| "all".to_string());
        self.hosts
            .keys()
            .chain(self.groups.keys())
            .cloned()
            .chain(all)
            .collect()
    }

    /// The host `name` names in this file, if it does.
    pub fn host(&self, name: &str) -> Option<Host> {
        let config = self.hosts.get(name)?;
        Some(Host {
            name: name.to_string(),
            destination: config.ssh.clone().unwrap_or_else(|| name.to_string()),
            harnex: config.harnex.clone().unwrap_or_else(|| "harnex".into()),
            env: config
                .env
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
    }

    /// `--remote NAME` for a command on many hosts: `all`, a group, a host, or an ssh destination.
    pub fn resolve_many(&self, name: &str) -> Result<Vec<Host>> {
        if name == "all" {
            if self.hosts.is_empty() {
                return Err(Error::usage(
                    "`--remote all` means every host of hosts.toml, and it names none: add [hosts.NAME] tables (see docs/remote.md)",
                ));
            }
            return Ok(self.hosts.keys().filter_map(|n| self.host(n)).collect());
        }
        if let Some(members) = self.groups.get(name) {
            return Ok(members.iter().filter_map(|n| self.host(n)).collect());
        }
        Ok(vec![self.resolve_one(name)?])
    }

    /// `--remote NAME` for a command on one host: a group is refused.
    pub fn resolve_one(&self, name: &str) -> Result<Host> {
        if name == "all" || self.groups.contains_key(name) {
            return Err(Error::usage(format!(
                "--remote {name} names several hosts; this command acts on one: pick a host (only `status` takes a group)"
            )));
        }
        if let Some(host) = self.host(name) {
            return Ok(host);
        }
        check_destination(name).map_err(Error::usage)?;
        Ok(Host::plain(name))
    }
}

fn check_name(name: &str) -> std::result::Result<(), String> {
    let fine = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('-')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c));
    if fine {
        Ok(())
    } else {
        Err(format!(
            "host or group name {name:?}: use 1-64 of A-Z a-z 0-9 . _ - @, not starting with -"
        ))
    }
}

/// An ssh destination must not look like an option (`-oProxyCommand=…`) or hold spaces or
/// control characters.
fn check_destination(dest: &str) -> std::result::Result<(), String> {
    if dest.is_empty()
        || dest.starts_with('-')
        || dest.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "{dest:?} is not an ssh destination: use a host name, user@host, ssh://user@host:port or a Host alias of your ssh config"
        ));
    }
    Ok(())
}

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
[hosts.build-1]
ssh = "ci@build-1.example.com"
harnex = "~/.cargo/bin/harnex"
env = { HARNEX_STATE_DIR = "/srv/harnex" }

[hosts.laptop]

[groups]
builders = ["build-1"]
"#;

    #[test]
    fn hosts_and_groups_parse() {
        let file = HostsFile::parse(SAMPLE).unwrap();
        let host = file.host("build-1").unwrap();
        assert_eq!(host.destination, "ci@build-1.example.com");
        assert_eq!(host.harnex, "~/.cargo/bin/harnex");
        assert_eq!(
            host.env,
            [("HARNEX_STATE_DIR".into(), "/srv/harnex".into())]
        );
        let laptop = file.host("laptop").unwrap();
        assert_eq!(
            (laptop.destination.as_str(), laptop.harnex.as_str()),
            ("laptop", "harnex")
        );
        let names = |hosts: Vec<Host>| hosts.into_iter().map(|h| h.name).collect::<Vec<_>>();
        assert_eq!(
            names(file.resolve_many("all").unwrap()),
            ["build-1", "laptop"]
        );
        assert_eq!(names(file.resolve_many("builders").unwrap()), ["build-1"]);
        assert_eq!(
            names(file.resolve_many("other.example").unwrap()),
            ["other.example"]
        );
    }

    #[test]
    fn a_group_is_refused_where_one_host_is_meant() {
        let file = HostsFile::parse(SAMPLE).unwrap();
        assert_eq!(file.resolve_one("builders").unwrap_err().exit_code(), 2);
        assert_eq!(file.resolve_one("all").unwrap_err().exit_code(), 2);
        assert_eq!(file.resolve_one("laptop").unwrap().name, "laptop");
    }

    #[test]
    fn destinations_that_look_like_options_are_refused() {
        let file = HostsFile::default();
        assert!(file.resolve_one("-oProxyCommand=touch /tmp/x").is_err());
        assert!(file.resolve_one("a b").is_err());
        assert!(HostsFile::parse("[hosts.x]\nssh = \"-oProxyCommand=x\"\n").is_err());
    }

    #[test]
    fn mistakes_in_the_file_are_named() {
        let bad = [
            ("[hosts.x]\nuser = \"a\"\n", "user"),
            ("[groups]\ng = [\"nope\"]\n", "nope"),
            ("[hosts.x]\n[groups]\nall = [\"x\"]\n", "all"),
            ("[hosts.x]\nenv = { \"A B\" = \"1\" }\n", "A B"),
            ("[hosts.\"-x\"]\n", "-x"),
        ];
        for (text, needle) in bad {
            let err = HostsFile::parse(text).unwrap_err();
            assert!(err.contains(needle), "{text:?}: {err}");
        }
        assert_eq!(
            HostsFile::default()
                .resolve_many("all")
                .unwrap_err()
                .exit_code(),
            2
        );
    }
}

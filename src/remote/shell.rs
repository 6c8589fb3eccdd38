//! The command line ssh hands to the remote login shell: every argument single-quoted, and a
//! small POSIX `sh` preamble that checks the remote harnex before it runs it.
//!
//! The preamble reports what went wrong before harnex ran as marker lines on stderr
//! (`harnex-remote: missing`, `harnex-remote: version harnex 0.0.9`, `harnex-remote: no-dir`), so
//! the local side can tell "harnex is not installed there" from a remote harnex that exited 127,
//! and a remote harnex that exited 255 (`wait` on an agent that did) from ssh's own failure.
//!
//! For a stream (`wait`, `events`, a follow), harnex runs in the background there and the
//! preamble reads the channel's stdin until it ends: when the local side goes away (ssh killed,
//! connection dropped, Ctrl-C) stdin ends and the remote harnex is terminated, instead of
//! waiting forever for a reader that is gone. (The watcher reads stdin through fd 3: a
//! background job of a non-interactive shell gets /dev/null as its stdin otherwise.)

use super::hosts::Host;

/// Prefix of the preamble's marker lines on stderr.
pub const MARKER: &str = "harnex-remote: ";

/// The preamble, run as `sh -c SCRIPT harnex-remote DIR HARNEX WANT STREAM ARGS…`.
/// No single quotes inside: it is itself single-quoted.
const PREAMBLE: &str = r#"d=$1; h=$2; want=$3; stream=$4; shift 4
case $h in "~/"*) h=$HOME/${h#"~/"};; esac
if [ -n "$d" ]; then
  case $d in "~") d=$HOME;; "~/"*) d=$HOME/${d#"~/"};; esac
  cd -- "$d" 2>/dev/null || { echo "harnex-remote: no-dir" >&2; exit 1; }
fi
v=$("$h" --version 2>/dev/null) || { echo "harnex-remote: missing" >&2; exit 127; }
[ "$v" = "$want" ] || { printf "harnex-remote: version %s\n" "$v" >&2; exit 76; }
if [ "$stream" = 1 ]; then
  exec 3<&0
  "$h" "$@" </dev/null &
  p=$!
  { cat <&3 >/dev/null 2>&1; kill -TERM "$p" 2>/dev/null; } &
  w=$!
  wait "$p"; c=$?
  kill "$w" 2>/dev/null
else
  "$h" "$@"; c=$?
fi
[ "$c" = 255 ] && echo "harnex-remote: exit 255" >&2
exit "$c""#;

/// What the remote side should run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteCall {
    /// harnex's arguments there (without the program name).
    pub args: Vec<String>,
    /// `cd` here first (`run --cd`); `~/` is the remote home.
    pub dir: Option<String>,
    /// Terminate the remote harnex when the local side goes away.
    pub stream: bool,
}

/// This harnex's `--version` line, which the remote one must print too.
pub fn local_version() -> String {
    format!("harnex {}", env!("CARGO_PKG_VERSION"))
}

/// `'text'`, with each `'` written as `'\''`: the shell takes everything inside literally.
pub fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The one string ssh sends as the remote command.
pub fn command_line(host: &Host, call: &RemoteCall) -> String {
    let mut words: Vec<String> = Vec::new();
    if !host.env.is_empty() {
        words.push("env".into());
        words.extend(host.env.iter().map(|(k, v)| quote(&format!("{k}={v}"))));
    }
    words.extend(["sh".into(), "-c".into(), quote(PREAMBLE)]);
    words.push(quote("harnex-remote"));
    words.push(quote(call.dir.as_deref().unwrap_or("")));
    words.push(quote(&host.harnex));
    words.push(quote(&local_version()));
    words.push(quote(if call.stream { "1" } else { "0" }));
    words.extend(call.args.iter().map(|a| quote(a)));
    words.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    #[test]
    fn quoting_keeps_every_byte_literal() {
        let nasty = [
            "plain",
            "it's",
            "$(touch /tmp/harnex-pwned)",
            "`id`",
            "a b\tc\nd",
            "'",
            "''",
            "\\'",
            "*",
            "--id=x;rm -rf /",
            "",
            "é ✓",
        ];
        for text in nasty {
            let out = Command::new("sh")
                .args(["-c", &format!("printf %s {}", quote(text))])
                .output()
                .unwrap();
            assert_eq!(String::from_utf8_lossy(&out.stdout), text, "{text:?}");
        }
    }

    #[test]
    fn the_preamble_has_no_single_quote() {
        assert!(!PREAMBLE.contains('\''));
    }

    /// The whole command line, run by a local sh standing in for the remote login shell,
    /// reaches the program with its arguments intact.
    #[test]
    fn the_command_line_passes_arguments_through_sh() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("harnex");
        std::fs::write(
            &fake,
            format!(
                "#!/bin/sh\nif [ \"$1\" = --version ]; then echo '{}'; exit 0; fi\nprintf '%s|' \"$PWD\" \"$X\" \"$@\"\n",
                local_version()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let host = Host {
            name: "h".into(),
            destination: "h".into(),
            harnex: fake.to_string_lossy().into_owned(),
            env: vec![("X".into(), "v'1".into())],
        };
        let call = RemoteCall {
            args: vec!["send".into(), "--message".into(), "it's $HOME `id`".into()],
            dir: Some(dir.path().to_string_lossy().into_owned()),
            stream: false,
        };
        let out = Command::new("sh")
            .args(["-c", &command_line(&host, &call)])
            .output()
            .unwrap();
        let expected = format!(
            "{}|v'1|send|--message|it's $HOME `id`|",
            dir.path().display()
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), expected);
    }

    #[test]
    fn a_missing_harnex_and_another_version_are_marked() {
        let host = |harnex: &str| Host {
            name: "h".into(),
            destination: "h".into(),
            harnex: harnex.into(),
            env: vec![],
        };
        let call = RemoteCall {
            args: vec!["status".into()],
            dir: None,
            stream: false,
        };
        let out = Command::new("sh")
            .args(["-c", &command_line(&host("/nonexistent/harnex"), &call)])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(127));
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "harnex-remote: missing\n"
        );
        // 255 is also ssh's own failure: the remote harnex's is marked.
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("harnex");
        std::fs::write(
            &fake,
            format!(
                "#!/bin/sh\n[ \"$1\" = --version ] && echo '{}' && exit 0\nexit 255\n",
                local_version()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let out = Command::new("sh")
            .args(["-c", &command_line(&host(fake.to_str().unwrap()), &call)])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(255));
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "harnex-remote: exit 255\n"
        );
        let out = Command::new("sh")
            .args(["-c", &command_line(&host("echo"), &call)])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(76));
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "harnex-remote: version --version\n"
        );
    }
}

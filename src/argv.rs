//! Argument forms clap cannot express, rewritten before parsing. `--watch` is both a flag (the
//! babysitter) and, in its legacy form, an option with a path (`--watch NOTES.md`,
//! `--watch=NOTES.md`: the file-change hook). A following word counts as that path only when it
//! looks like one, so `harnex run --watch codex` still runs codex.

/// Rewrite `harnex run` arguments: `--watch=PATH` and `--watch PATH` become `--watch-file PATH`.
pub fn normalize(args: Vec<String>) -> Vec<String> {
    if args.get(1).map(String::as_str) != Some("run") {
        return args;
    }
    let mut out = Vec::with_capacity(args.len());
    let mut iter = args.into_iter().peekable();
    let mut after_double_dash = false;
    while let Some(arg) = iter.next() {
        if after_double_dash {
            out.push(arg);
            continue;
        }
        if arg == "--" {
            after_double_dash = true;
            out.push(arg);
        } else if let Some(path) = arg.strip_prefix("--watch=") {
            out.push("--watch-file".into());
            out.push(path.to_string());
        } else if arg == "--watch" && iter.peek().is_some_and(|next| looks_like_path(next)) {
            out.push("--watch-file".into());
            out.extend(iter.next());
        } else {
            out.push(arg);
        }
    }
    out
}

/// A word that names a file rather than a CLI: it has a slash or a dot, or exists as a file.
fn looks_like_path(word: &str) -> bool {
    !word.starts_with('-')
        && (word.contains('/') || word.contains('.') || std::path::Path::new(word).is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(args: &[&str]) -> Vec<String> {
        normalize(args.iter().map(|a| a.to_string()).collect())
    }

    #[test]
    fn bare_watch_stays_a_flag() {
        assert_eq!(
            norm(&["harnex", "run", "codex", "--watch", "--preset", "impl"]),
            ["harnex", "run", "codex", "--watch", "--preset", "impl"]
        );
        assert_eq!(
            norm(&["harnex", "run", "--watch", "codex"]),
            ["harnex", "run", "--watch", "codex"]
        );
    }

    #[test]
    fn watch_with_a_path_is_the_file_hook() {
        assert_eq!(
            norm(&["harnex", "run", "codex", "--watch", "NOTES.md"]),
            ["harnex", "run", "codex", "--watch-file", "NOTES.md"]
        );
        assert_eq!(
            norm(&["harnex", "run", "codex", "--watch=notes"]),
            ["harnex", "run", "codex", "--watch-file", "notes"]
        );
    }

    #[test]
    fn agent_args_and_other_commands_are_left_alone() {
        assert_eq!(
            norm(&["harnex", "run", "x", "--", "--watch", "a.md"]),
            ["harnex", "run", "x", "--", "--watch", "a.md"]
        );
        assert_eq!(
            norm(&["harnex", "send", "--watch", "a.md"]),
            ["harnex", "send", "--watch", "a.md"]
        );
    }
}

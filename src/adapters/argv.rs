//! The agent's own flags in its command line, as the adapters' records plans read them: the
//! value a flag names (`--x v` or `--x=v`), whether a flag is there, and the session id that
//! binds the agent's records — the one the run names, or a fresh one harnex adds. Pure.

/// What the command line says of a flag.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flag<'a> {
    /// Not given.
    Absent,
    /// Given with no value: the last argument, or followed by another flag.
    NoValue,
    /// `--x v` or `--x=v`.
    Value(&'a str),
}

/// How a flag harnex adds is written: `--x v` or `--x=v` (some CLIs read only one of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Spelling {
    Separate,
    Joined,
}

/// The first of `names` in `argv` and its value. An argument after the flag that starts with
/// `-` is a flag of its own, not the value; nothing after `--` is a flag.
pub fn flag_value<'a>(argv: &'a [String], names: &[&str]) -> Flag<'a> {
    for (i, arg) in argv.iter().enumerate() {
        if arg == "--" {
            break;
        }
        for name in names {
            if arg == name {
                return match argv.get(i + 1) {
                    Some(value) if !value.starts_with('-') => Flag::Value(value),
                    _ => Flag::NoValue,
                };
            }
            if let Some(value) = arg.strip_prefix(name).and_then(|r| r.strip_prefix('=')) {
                return Flag::Value(value);
            }
        }
    }
    Flag::Absent
}

/// Whether any of `names` is given, with a value or without.
pub fn has_flag(argv: &[String], names: &[&str]) -> bool {
    flag_value(argv, names) != Flag::Absent
}

/// Add `name` with `value` at the end.
pub fn push_flag(argv: &mut Vec<String>, name: &str, value: &str, spelling: Spelling) {
    match spelling {
        Spelling::Separate => argv.extend([name.to_string(), value.to_string()]),
        Spelling::Joined => argv.push(format!("{name}={value}")),
    }
}

/// The agent's session id that names its record file before the spawn: the UUID the run gives
/// with one of `names`, else a fresh one added as the first of `names`. `Err` says why the
/// records cannot be bound this way (for [`crate::record_files::RecordsPlan::unavailable`]).
pub fn named_or_fresh_uuid(
    argv: &mut Vec<String>,
    names: &[&str],
    spelling: Spelling,
) -> Result<String, String> {
    match flag_value(argv, names) {
        Flag::Value(id) if crate::ids::is_uuid(id) => Ok(id.to_string()),
        Flag::Value(_) => {
            Err("the session named on the command line is not a session id (a UUID)".into())
        }
        Flag::NoValue => Err(format!(
            "{} is given without a session id after it",
            names.join(" / ")
        )),
        Flag::Absent => {
            let id = crate::ids::uuid_v4();
            let name = names.first().copied().unwrap_or("--session-id");
            push_flag(argv, name, &id, spelling);
            Ok(id)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|a| a.to_string()).collect()
    }

    #[test]
    fn a_flag_value_is_read_in_both_spellings() {
        let ids = ["--session-id"];
        assert_eq!(
            flag_value(&args(&["a", "--session-id", "v", "b"]), &ids),
            Flag::Value("v")
        );
        assert_eq!(
            flag_value(&args(&["a", "--session-id=v"]), &ids),
            Flag::Value("v")
        );
        assert_eq!(
            flag_value(&args(&["a", "--session-id="]), &ids),
            Flag::Value("")
        );
        // Any of the names, the first one given counts.
        assert_eq!(
            flag_value(
                &args(&["a", "-r", "x", "--resume", "y"]),
                &["--resume", "-r"]
            ),
            Flag::Value("x")
        );
    }

    #[test]
    fn a_missing_flag_is_absent_and_one_without_value_says_so() {
        let ids = ["--session-id"];
        assert_eq!(flag_value(&args(&["a", "b"]), &ids), Flag::Absent);
        // A longer flag that starts alike is another flag.
        assert_eq!(
            flag_value(&args(&["a", "--session-idx=v"]), &ids),
            Flag::Absent
        );
        assert_eq!(
            flag_value(&args(&["a", "--session-id"]), &ids),
            Flag::NoValue
        );
        assert_eq!(
            flag_value(&args(&["a", "--session-id", "--debug"]), &ids),
            Flag::NoValue
        );
        // After `--` the arguments are the agent's own words, not flags.
        assert_eq!(
            flag_value(&args(&["a", "--", "--session-id", "v"]), &ids),
            Flag::Absent
        );
        assert!(has_flag(&args(&["a", "--continue"]), &["--continue", "-c"]));
        assert!(!has_flag(&args(&["a", "--cont"]), &["--continue", "-c"]));
    }

    #[test]
    fn the_named_uuid_is_kept_and_else_a_fresh_one_added() {
        let uuid = "b6f9ae22-03a8-4b2e-88b3-f7c26e201e94";
        let mut named = args(&["claude", "--session-id", uuid]);
        assert_eq!(
            named_or_fresh_uuid(&mut named, &["--session-id"], Spelling::Separate).as_deref(),
            Ok(uuid)
        );
        assert_eq!(named.len(), 3, "nothing added");

        let mut separate = args(&["gemini"]);
        let id = named_or_fresh_uuid(&mut separate, &["--session-id"], Spelling::Separate)
            .expect("fresh");
        assert!(crate::ids::is_uuid(&id), "{id}");
        assert_eq!(separate[1..], ["--session-id".to_string(), id]);

        let mut joined = args(&["copilot"]);
        let id =
            named_or_fresh_uuid(&mut joined, &["--session-id"], Spelling::Joined).expect("fresh");
        assert_eq!(joined[1..], [format!("--session-id={id}")]);

        let mut odd = args(&["copilot", "--session-id=x"]);
        let why = named_or_fresh_uuid(&mut odd, &["--session-id"], Spelling::Joined);
        assert!(why.is_err_and(|w| w.contains("not a session id")));
        // A flag at the end without its value gets no second one beside it.
        let mut bare = args(&["gemini", "--session-id"]);
        let why = named_or_fresh_uuid(&mut bare, &["--session-id"], Spelling::Separate);
        assert!(why.is_err_and(|w| w.contains("without a session id")));
        assert_eq!(bare.len(), 2);
    }
}

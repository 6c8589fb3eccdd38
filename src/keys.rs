//! Named keys for `harnex send --keys Down,Enter`: how each is written to a terminal.

/// Key names harnex understands (besides single characters and `C-<letter>`).
pub const NAMES: &str = "Enter, Esc, Tab, BTab, Space, Backspace, Delete, Up, Down, Left, Right, \
Home, End, PageUp, PageDown, C-a … C-z (e.g. C-c), or any single character";

/// The bytes of one key. `application_cursor`: the agent asked for application cursor keys
/// (DECCKM), which changes how arrows are encoded.
pub fn key_bytes(name: &str, application_cursor: bool) -> Result<Vec<u8>, String> {
    let arrow = |c: u8| {
        if application_cursor {
            vec![0x1b, b'O', c]
        } else {
            vec![0x1b, b'[', c]
        }
    };
    let lower = name.trim().to_ascii_lowercase();
    let bytes = match lower.as_str() {
        "enter" | "return" | "cr" => vec![b'\r'],
        "esc" | "escape" => vec![0x1b],
        "tab" => vec![b'\t'],
        "btab" | "s-tab" | "backtab" => b"\x1b[Z".to_vec(),
        "space" => vec![b' '],
        "backspace" | "bspace" | "bs" => vec![0x7f],
        "delete" | "del" | "dc" => b"\x1b[3~".to_vec(),
        "up" => arrow(b'A'),
        "down" => arrow(b'B'),
        "right" => arrow(b'C'),
        "left" => arrow(b'D'),
        "home" => b"\x1b[H".to_vec(),
        "end" => b"\x1b[F".to_vec(),
        "pageup" | "pgup" | "ppage" => b"\x1b[5~".to_vec(),
        "pagedown" | "pgdn" | "npage" => b"\x1b[6~".to_vec(),
        _ => {
            if let Some(letter) = lower.strip_prefix("c-").and_then(single_char)
                && letter.is_ascii_lowercase()
            {
                vec![letter as u8 - b'a' + 1]
            } else if let Some(c) = single_char(name.trim()) {
                c.to_string().into_bytes()
            } else {
                return Err(format!("unknown key {name:?}; use {NAMES}"));
            }
        }
    };
    Ok(bytes)
}

fn single_char(text: &str) -> Option<char> {
    let mut chars = text.chars();
    let c = chars.next()?;
    chars.next().is_none().then_some(c)
}

/// Parse `Down,Enter` (commas or spaces) into key byte sequences.
pub fn parse_keys(spec: &str, application_cursor: bool) -> Result<Vec<Vec<u8>>, String> {
    let names: Vec<&str> = spec
        .split([',', ' '])
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .collect();
    if names.is_empty() {
        return Err(format!("no keys given; use {NAMES}"));
    }
    names
        .iter()
        .map(|n| key_bytes(n, application_cursor))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn named_keys_have_their_terminal_encodings() {
        assert_eq!(key_bytes("Enter", false).unwrap(), b"\r");
        assert_eq!(key_bytes("esc", false).unwrap(), b"\x1b");
        assert_eq!(key_bytes("Down", false).unwrap(), b"\x1b[B");
        assert_eq!(key_bytes("Down", true).unwrap(), b"\x1bOB");
        assert_eq!(key_bytes("C-c", false).unwrap(), [3]);
        assert_eq!(key_bytes("y", false).unwrap(), b"y");
        assert_eq!(key_bytes("1", false).unwrap(), b"1");
        assert!(
            key_bytes("Hyper", false)
                .unwrap_err()
                .contains("unknown key")
        );
    }

    #[test]
    fn key_lists_split_on_commas_and_spaces() {
        let keys = parse_keys("Down, Enter", false).unwrap();
        assert_eq!(keys, vec![b"\x1b[B".to_vec(), b"\r".to_vec()]);
        assert!(parse_keys(" , ", false).is_err());
    }
}

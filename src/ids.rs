//! Random identifiers: friendly session ids (`bold-ant`), session ids, message ids, tokens.

const ADJECTIVES: [&str; 20] = [
    "bold", "calm", "brave", "bright", "clever", "eager", "fair", "fast", "gentle", "glad", "keen",
    "kind", "lively", "lucky", "proud", "quick", "quiet", "sharp", "swift", "wise",
];
const NOUNS: [&str; 20] = [
    "ant", "bee", "cat", "crow", "deer", "dove", "eel", "elk", "fox", "frog", "hare", "hawk",
    "lark", "lynx", "mole", "newt", "owl", "seal", "wolf", "wren",
];

/// `count` random bytes as lowercase hex (2 × count characters): names that must not collide
/// (session and message ids, temp files). Not for secrets: should the system's random source ever
/// fail, these fall back to the clock and pid, which is unique enough for a name. Secrets use
/// [`token`], which fails instead.
pub fn random_hex(count: usize) -> String {
    let mut buf = vec![0u8; count];
    if getrandom::fill(&mut buf).is_err() {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
            ^ u128::from(std::process::id());
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (seed >> ((i % 16) * 8)) as u8;
        }
    }
    crate::paths::hex(&buf)
}

/// A random UUID (version 4) in its usual text form, for an agent that takes its session id
/// from harnex (Claude's `--session-id`).
pub fn uuid_v4() -> String {
    let hex = random_hex(16);
    let mut bytes: Vec<char> = hex.chars().collect();
    bytes[12] = '4';
    // The variant: 8, 9, a or b.
    let variant = bytes[16].to_digit(16).unwrap_or(0) & 0x3 | 0x8;
    bytes[16] = std::char::from_digit(variant, 16).unwrap_or('8');
    let hex: String = bytes.into_iter().collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

/// Whether `text` is a UUID in its usual text form (and so safe as a file name).
pub fn is_uuid(text: &str) -> bool {
    text.len() == 36
        && text.chars().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// A session's bearer token: 16 bytes from the system's random source, as hex. No fallback: a
/// token another local user could guess would hand them the session.
pub fn token() -> crate::error::Result<String> {
    token_from(getrandom::fill)
}

fn token_from(
    fill: impl FnOnce(&mut [u8]) -> Result<(), getrandom::Error>,
) -> crate::error::Result<String> {
    let mut buf = [0u8; 16];
    fill(&mut buf).map_err(|e| {
        crate::error::Error::failed(format!(
            "cannot read the system's random source for the session token ({e}); check that /dev/urandom or the getrandom system call is available"
        ))
    })?;
    Ok(crate::paths::hex(&buf))
}

/// A random `adjective-noun` id not in `taken`; `session-<8hex>` once all 400 are taken.
pub fn generate_id(taken: &[String]) -> String {
    let is_taken = |id: &str| taken.iter().any(|t| crate::paths::id_key(t) == id);
    let start = usize::from_str_radix(&random_hex(2), 16).unwrap_or(0);
    let total = ADJECTIVES.len() * NOUNS.len();
    for step in 0..total {
        let n = (start + step) % total;
        let id = format!("{}-{}", ADJECTIVES[n / NOUNS.len()], NOUNS[n % NOUNS.len()]);
        if !is_taken(&id) {
            return id;
        }
    }
    format!("session-{}", random_hex(4))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_have_the_usual_form() {
        let id = uuid_v4();
        assert!(is_uuid(&id), "{id}");
        assert_eq!(&id[14..15], "4");
        assert!("89ab".contains(&id[19..20]), "{id}");
        assert!(!is_uuid("../../etc/passwd-0000-0000-0000-00000"));
    }

    #[test]
    fn random_hex_has_the_asked_length() {
        let h = random_hex(16);
        assert_eq!(h.len(), 32);
        assert!(h.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(random_hex(16), h);
    }

    #[test]
    fn tokens_are_random_and_a_failing_source_is_an_error() {
        let a = token().unwrap();
        assert_eq!(a.len(), 32);
        assert_ne!(token().unwrap(), a);
        let failed = token_from(|_| Err(getrandom::Error::UNSUPPORTED));
        let message = failed.unwrap_err().to_string();
        assert!(message.contains("random source"), "{message}");
    }

    #[test]
    fn generated_ids_are_two_words_and_avoid_taken_ones() {
        let id = generate_id(&[]);
        assert_eq!(id.split('-').count(), 2);
        let all: Vec<String> = ADJECTIVES
            .iter()
            .flat_map(|a| NOUNS.iter().map(move |n| format!("{a}-{n}")))
            .collect();
        let mut taken = all.clone();
        let last = taken.pop().unwrap();
        assert_eq!(generate_id(&taken), last);
        assert!(generate_id(&all).starts_with("session-"));
    }
}

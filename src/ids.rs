//! Random identifiers: friendly session ids (`bold-ant`), session ids, message ids, tokens.

use std::io::Read;

const ADJECTIVES: [&str; 20] = [
    "bold", "calm", "brave", "bright", "clever", "eager", "fair", "fast", "gentle", "glad", "keen",
    "kind", "lively", "lucky", "proud", "quick", "quiet", "sharp", "swift", "wise",
];
const NOUNS: [&str; 20] = [
    "ant", "bee", "cat", "crow", "deer", "dove", "eel", "elk", "fox", "frog", "hare", "hawk",
    "lark", "lynx", "mole", "newt", "owl", "seal", "wolf", "wren",
];

/// `count` random bytes as lowercase hex (2 × count characters).
pub fn random_hex(count: usize) -> String {
    let mut buf = vec![0u8; count];
    let filled = std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .is_ok();
    if !filled {
        // /dev/urandom is always there on Linux; fall back to time and pid rather than panic.
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
    fn random_hex_has_the_asked_length() {
        let h = random_hex(16);
        assert_eq!(h.len(), 32);
        assert!(h.chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(random_hex(16), h);
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

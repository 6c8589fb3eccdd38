//! Masking values that look like secrets (API keys, tokens) before text reaches an event log or a
//! dispatch summary: the agent gets the real message, the record gets `sk-…[redacted]`.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value;

static SECRET: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(concat!(
        r"(?P<bearer>\b[Bb]earer\s+)[A-Za-z0-9._~+/=-]{8,}",
        r"|\b(?P<prefix>sk-(?:ant-|proj-|svcacct-)?|ghp_|gho_|ghu_|ghs_|ghr_|github_pat_|glpat-|xox[abprs]-|AKIA|ASIA|AIza|hf_)[A-Za-z0-9_-]{8,}",
        r"|(?P<assign>\b(?i:api[_-]?key|token|secret|password|passwd)\s*[=:]\s*)[^\s'\x22]{8,}",
    ))
    .expect("valid secret pattern")
});

/// `text` with secret-looking values masked, keeping a hint of what they were.
pub fn redact(text: &str) -> String {
    SECRET
        .replace_all(text, |caps: &regex::Captures<'_>| {
            let keep = ["bearer", "prefix", "assign"]
                .iter()
                .find_map(|name| caps.name(name))
                .map_or("", |m| m.as_str());
            format!("{keep}[redacted]")
        })
        .into_owned()
}

/// Redact every string inside a JSON value.
pub fn redact_value(value: &mut Value) {
    match value {
        Value::String(s) => {
            let masked = redact(s);
            if masked != *s {
                *s = masked;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact_value),
        Value::Object(map) => map.values_mut().for_each(redact_value),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_tokens_are_masked() {
        let cases = [
            ("use sk-abcdefghijklmnop1234 now", "use sk-[redacted] now"),
            ("key sk-ant-api03-AbCdEfGhIjKlMnOp", "key sk-ant-[redacted]"),
            ("gh ghp_0123456789abcdefABCDEF0123", "gh ghp_[redacted]"),
            (
                "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.x.y",
                "Authorization: Bearer [redacted]",
            ),
            ("aws AKIAIOSFODNN7EXAMPLE", "aws AKIA[redacted]"),
            (
                "export API_KEY=supersecretvalue",
                "export API_KEY=[redacted]",
            ),
            ("token: abcdefgh12345678", "token: [redacted]"),
        ];
        for (input, want) in cases {
            assert_eq!(redact(input), want, "{input}");
        }
    }

    #[test]
    fn ordinary_text_is_untouched() {
        for text in [
            "fix the tests in src/",
            "skip the task",
            "sk-short",
            "the token count is 5",
        ] {
            assert_eq!(redact(text), text);
        }
    }

    #[test]
    fn json_strings_are_redacted_deeply() {
        let mut value = serde_json::json!({"brief": ["call with sk-abcdefghijklmnop1234"], "n": 1});
        redact_value(&mut value);
        assert_eq!(value["brief"][0], "call with sk-[redacted]");
        assert_eq!(value["n"], 1);
    }
}

//! The generated schema (docs/schema/*.json, written from the wire types) holds: every status
//! and API answer a live session gives matches it, and docs/api.md names every field it has.

use std::path::PathBuf;

use serde_json::Value;

use crate::support::World;

/// A generated schema document (`docs/schema/<name>`).
pub fn load(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("docs/schema")
        .join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).expect("schema is JSON")
}

/// Why `value` does not match `node` (a part of the schema document `root`): empty when it does.
/// Covers what schemars writes: `$ref`, `type`, `properties`, `required`,
/// `additionalProperties`, `items`, `prefixItems`, `oneOf`/`anyOf`/`allOf`, `enum`, `const`,
/// `minimum`.
pub fn violations(root: &Value, node: &Value, value: &Value, at: &str) -> Vec<String> {
    let mut out = Vec::new();
    if node == &Value::Bool(true) {
        return out;
    }
    if let Some(reference) = node["$ref"].as_str() {
        let name = reference.trim_start_matches("#/$defs/");
        out.extend(violations(root, &root["$defs"][name], value, at));
    }
    for part in node["allOf"].as_array().into_iter().flatten() {
        out.extend(violations(root, part, value, at));
    }
    for (key, exactly_one) in [("oneOf", true), ("anyOf", false)] {
        if let Some(options) = node[key].as_array() {
            let matching = options
                .iter()
                .filter(|o| violations(root, o, value, at).is_empty())
                .count();
            if matching == 0 || (exactly_one && matching > 1) {
                out.push(format!(
                    "{at}: {matching} of the {key} options match {value}"
                ));
            }
        }
    }
    if let Some(kinds) = node.get("type") {
        let kinds: Vec<&str> = match kinds {
            Value::String(k) => vec![k.as_str()],
            Value::Array(ks) => ks.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let fits = kinds.iter().any(|k| match *k {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "boolean" => value.is_boolean(),
            "integer" => value.is_i64() || value.is_u64(),
            "number" => value.is_number(),
            "null" => value.is_null(),
            _ => false,
        });
        if !fits {
            out.push(format!("{at}: {value} is not {kinds:?}"));
            return out;
        }
    }
    if let Some(options) = node["enum"].as_array()
        && !options.contains(value)
    {
        out.push(format!("{at}: {value} is not one of {options:?}"));
    }
    if let Some(constant) = node.get("const")
        && constant != value
    {
        out.push(format!("{at}: {value} is not {constant}"));
    }
    if let (Some(min), Some(n)) = (node["minimum"].as_f64(), value.as_f64())
        && n < min
    {
        out.push(format!("{at}: {n} is below {min}"));
    }
    if let Value::Object(map) = value {
        let properties = node["properties"].as_object();
        for name in node["required"].as_array().into_iter().flatten() {
            let name = name.as_str().unwrap_or_default();
            if !map.contains_key(name) {
                out.push(format!("{at}: `{name}` is required but missing"));
            }
        }
        for (name, field) in map {
            let path = format!("{at}.{name}");
            match properties.and_then(|p| p.get(name)) {
                Some(schema) => out.extend(violations(root, schema, field, &path)),
                None => match node.get("additionalProperties") {
                    Some(Value::Bool(false)) => out.push(format!("{path} is not in the schema")),
                    Some(extra @ Value::Object(_)) => {
                        out.extend(violations(root, extra, field, &path))
                    }
                    _ => {}
                },
            }
        }
    }
    if let Value::Array(items) = value {
        let prefix = node["prefixItems"].as_array();
        for (i, item) in items.iter().enumerate() {
            let path = format!("{at}[{i}]");
            match prefix.and_then(|p| p.get(i)) {
                Some(schema) => out.extend(violations(root, schema, item, &path)),
                None if node["items"].is_object() => {
                    out.extend(violations(root, &node["items"], item, &path))
                }
                None => {}
            }
        }
    }
    out
}

/// Assert that `value` matches the schema document `root`.
pub fn assert_matches(root: &Value, value: &Value, what: &str) {
    let problems = violations(root, root, value, what);
    assert!(
        problems.is_empty(),
        "{what} does not match its schema:\n{}\n{value}",
        problems.join("\n")
    );
}

#[test]
fn the_validator_rejects_what_the_schema_does_not_allow() {
    let status = load("status.json");
    let mut good = serde_json::json!({});
    assert!(
        !violations(&status, &status, &good, "status").is_empty(),
        "required fields"
    );
    good = serde_json::json!({"ok": "yes"});
    let problems = violations(&status, &status, &good, "status");
    assert!(
        problems.iter().any(|p| p.contains("status.ok")),
        "{problems:?}"
    );
    let events = load("events.json");
    let row = serde_json::json!({"schema_version": 1, "seq": 1, "ts": "t", "id": "x",
        "session_id": "s", "type": "turn_started", "turn": "one"});
    assert!(!violations(&events, &events, &row, "row").is_empty());
}

#[test]
fn status_and_api_answers_match_the_generated_schema() {
    let world = World::new();
    world.detach_fake("s1", &["--turn-ms", "200"]);
    world.wait_state("s1", "prompt");
    let status = load("status.json");
    let api = load("api.json");
    let reply = |route: &str| &api["replies"][route];

    assert_matches(&status, &world.status("s1"), "GET /status");
    let listed = world.run(&["status", "--json"]);
    let rows = listed.json();
    let rows = rows.as_array().expect("status --json lists the sessions");
    assert_eq!(rows.len(), 1, "{rows:?}");
    for row in rows {
        assert_matches(&status, row, "status --json");
    }
    for (path, route) in [
        ("/health", "GET /status"),
        ("/screen", "GET /screen"),
        ("/explain", "GET /explain"),
        ("/inbox", "GET /inbox"),
        ("/wait?until=prompt&timeout_ms=5000", "GET /wait"),
    ] {
        let (code, body) = world.call("s1", "GET", path, b"");
        assert_eq!(code, 200, "{path}: {body}");
        assert_matches(reply(route), &body, route);
    }
    let (code, body) = world.call(
        "s1",
        "POST",
        "/send",
        br#"{"text": "hello", "submit": true}"#,
    );
    assert_eq!(code, 200, "{body}");
    assert_matches(reply("POST /send delivered"), &body, "POST /send");
    let id = body["message_id"].as_str().expect("message_id").to_string();
    let (_, body) = world.call("s1", "GET", &format!("/messages/{id}"), b"");
    assert_matches(reply("GET /messages/:id"), &body, "GET /messages/:id");
    let (code, body) = world.call("s1", "POST", "/send", br#"{"keys": ["Down"]}"#);
    assert_eq!(code, 200, "{body}");
    assert_matches(reply("POST /send keys"), &body, "POST /send keys");
    let (code, body) = world.call("s1", "POST", "/send", br#"{"text": "x", "forse": true}"#);
    assert_eq!(code, 400, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap_or_default()
            .starts_with("forse"),
        "{body}"
    );
    assert_matches(reply("error"), &body, "a 400");
    let event = br#"{"type": "log_idle", "idle_s": 1.5, "state": "busy", "stall": 1}"#;
    let (code, body) = world.call("s1", "POST", "/events", event);
    assert_eq!(code, 200, "{body}");
    assert_matches(reply("POST /events"), &body, "POST /events");
    let (code, body) = world.call("s1", "DELETE", "/inbox", b"");
    assert_eq!(code, 200, "{body}");
    assert_matches(reply("DELETE /inbox"), &body, "DELETE /inbox");
    let (code, body) = world.call("s1", "POST", "/stop", b"{}");
    assert_eq!(code, 200, "{body}");
    assert_matches(reply("POST /stop"), &body, "POST /stop");
    world.wait_gone("s1");
}

#[test]
fn a_blocked_status_matches_the_generated_schema() {
    let world = World::new();
    // Through a symlink named `codex`, the fake agent gets the Codex adapter, which knows its
    // trust dialog.
    let codex = world.fake_as("codex");
    world.detach(&[
        codex.to_str().expect("utf-8"),
        "--id",
        "d1",
        "--",
        "--dialog",
    ]);
    let body = world.wait_state("d1", "blocked");
    assert!(body["dialog"].is_object(), "{body}");
    assert_matches(&load("status.json"), &body, "GET /status (blocked)");
}

/// The section of docs/api.md under the heading that names `route` (`## GET /status, …`).
fn section<'a>(docs: &'a str, route: &str) -> &'a str {
    let (method, path) = route.split_once(' ').expect("METHOD /path");
    let path = path.split(' ').next().unwrap_or(path);
    let start = docs
        .match_indices("\n## ")
        .map(|(i, _)| i + 1)
        .find(|i| {
            let heading = docs[*i..].lines().next().unwrap_or_default();
            heading.contains(method) && heading.split([' ', ',', '?', '[']).any(|w| w == path)
        })
        .unwrap_or_else(|| panic!("docs/api.md has no section for {route}"));
    let end = docs[start + 3..]
        .find("\n## ")
        .map_or(docs.len(), |i| start + 3 + i);
    &docs[start..end]
}

/// The property names of a schema document: (its own, those of the types it uses).
fn field_names(schema: &Value) -> (Vec<String>, Vec<String>) {
    let mut own = Vec::new();
    let mut nodes = vec![schema];
    while let Some(node) = nodes.pop() {
        for (name, property) in node["properties"].as_object().into_iter().flatten() {
            own.push(name.clone());
            if property["properties"].is_object() {
                nodes.push(property);
            }
        }
        for key in ["oneOf", "anyOf", "allOf"] {
            nodes.extend(node[key].as_array().into_iter().flatten());
        }
    }
    let mut shared = Vec::new();
    for (_, def) in schema["$defs"].as_object().into_iter().flatten() {
        shared.extend(
            def["properties"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(n, _)| n.clone()),
        );
    }
    for list in [&mut own, &mut shared] {
        list.sort();
        list.dedup();
    }
    (own, shared)
}

fn named(text: &str, field: &str) -> bool {
    text.contains(&format!("`{field}`"))
        || text.contains(&format!("\"{field}\""))
        || text.contains(&format!("`{field}:"))
        || text.contains(&format!("{{{field},"))
        || text.contains(&format!(", {field}"))
}

#[test]
fn docs_api_md_names_every_field_of_the_schema_and_only_those_in_requests() {
    let docs =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/api.md"))
            .expect("docs/api.md");
    let api = load("api.json");
    let mut missing = Vec::new();
    for group in ["requests", "replies"] {
        for (route, schema) in api[group].as_object().expect("routes") {
            if route == "error" {
                continue;
            }
            // A route's own fields in its section; the fields of the types several routes share
            // (the dialog, `input_state`, a message, …) somewhere in the page.
            let (own, shared) = field_names(schema);
            let text = section(&docs, route);
            for field in own {
                if !named(text, &field) {
                    missing.push(format!("{route} ({group}): `{field}`"));
                }
            }
            for field in shared {
                if !named(&docs, &field) {
                    missing.push(format!("{route} ({group}, a shared type): `{field}`"));
                }
            }
        }
    }
    let status = section(&docs, "GET /status");
    let (own, shared) = field_names(&load("status.json"));
    for field in own.into_iter().chain(shared) {
        if !named(status, &field) {
            missing.push(format!("GET /status: `{field}`"));
        }
    }
    assert!(
        missing.is_empty(),
        "docs/api.md does not name:\n{}",
        missing.join("\n")
    );

    // And the other way: a request body the docs show uses only fields the schema has.
    for (route, schema) in api["requests"].as_object().expect("requests") {
        let (known, _) = field_names(schema);
        for example in section(&docs, route).split("-d '").skip(1) {
            let body = example.split('\'').next().unwrap_or_default();
            // Bodies shown to be refused are meant to be wrong.
            let answer = example.lines().nth(1).unwrap_or_default();
            if answer.contains("\"ok\":false") {
                continue;
            }
            let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(body) else {
                continue;
            };
            for name in fields.keys() {
                assert!(
                    known.contains(name),
                    "docs/api.md shows `{name}` in a {route} body; the schema has {known:?}"
                );
            }
        }
    }
}

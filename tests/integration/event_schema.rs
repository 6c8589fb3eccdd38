//! Event rows against the generated schema (docs/schema/events.json): the schema as data (the
//! envelope, each type's fields, which types other commands write), the check every row the tests
//! see goes through, and a test that docs/events.md documents exactly the schema's fields.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_json::{Value, json};

/// One documented field: its type (`integer`, `string or null`, …) and whether it is always there.
#[derive(Debug, Clone)]
pub struct Field {
    pub kind: String,
    pub always: bool,
}

/// docs/events.md as data: the envelope and each type's field table.
pub struct Schema {
    pub envelope: BTreeMap<String, Field>,
    pub types: BTreeMap<String, BTreeMap<String, Field>>,
    /// Types only other commands write (the `--watch` babysitter, `harnex done`).
    pub watcher_types: BTreeSet<String>,
}

/// The generated schema (docs/schema/events.json, written from the event types) as data.
pub fn schema() -> Schema {
    let text = std::fs::read_to_string(schema_path()).expect("docs/schema/events.json");
    from_json_schema(&serde_json::from_str(&text).expect("events.json is JSON"))
}

fn schema_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/schema/events.json")
}

fn docs_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/events.md")
}

/// A definition's properties and required names, following `$ref` and `allOf`.
fn collect(
    root: &Value,
    node: &Value,
    fields: &mut BTreeMap<String, Field>,
    required: &mut BTreeSet<String>,
) {
    if let Some(reference) = node["$ref"].as_str() {
        let name = reference.trim_start_matches("#/$defs/");
        collect(root, &root["$defs"][name], fields, required);
    }
    for part in node["allOf"].as_array().into_iter().flatten() {
        collect(root, part, fields, required);
    }
    for name in node["required"].as_array().into_iter().flatten() {
        required.insert(name.as_str().expect("name").to_string());
    }
    for (name, property) in node["properties"].as_object().into_iter().flatten() {
        fields.insert(
            name.clone(),
            Field {
                kind: kind_of(root, property),
                always: false,
            },
        );
    }
}

/// `integer`, `string or null`, … from a property's schema.
fn kind_of(root: &Value, property: &Value) -> String {
    if let Some(reference) = property["$ref"].as_str() {
        let name = reference.trim_start_matches("#/$defs/");
        return kind_of(root, &root["$defs"][name]);
    }
    if let Some(options) = property["anyOf"].as_array() {
        return options
            .iter()
            .map(|o| kind_of(root, o))
            .collect::<Vec<_>>()
            .join(" or ");
    }
    // An enum whose values carry their own docs: one of several strings.
    if let Some(options) = property["oneOf"].as_array() {
        let mut kinds: Vec<String> = options.iter().map(|o| kind_of(root, o)).collect();
        kinds.dedup();
        return kinds.join(" or ");
    }
    if property.get("const").is_some() {
        return "string".into();
    }
    match &property["type"] {
        Value::String(kind) => kind.clone(),
        Value::Array(kinds) => kinds
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => panic!("events.json: a property without a type: {property}"),
    }
}

fn from_json_schema(root: &Value) -> Schema {
    let mut envelope = BTreeMap::new();
    let mut required = BTreeSet::new();
    collect(
        root,
        &json!({"properties": root["properties"], "required": root["required"]}),
        &mut envelope,
        &mut required,
    );
    for (name, field) in envelope.iter_mut() {
        field.always = required.contains(name);
    }
    envelope.insert(
        "type".into(),
        Field {
            kind: "string".into(),
            always: true,
        },
    );
    let mut types = BTreeMap::new();
    let mut watcher_types = BTreeSet::new();
    for branch in root["oneOf"].as_array().expect("oneOf") {
        let mut fields = BTreeMap::new();
        let mut required = BTreeSet::new();
        collect(root, branch, &mut fields, &mut required);
        let kind = branch["properties"]["type"]["const"]
            .as_str()
            .expect("type const")
            .to_string();
        fields.remove("type");
        for (name, field) in fields.iter_mut() {
            field.always = required.contains(name);
        }
        if branch["description"]
            .as_str()
            .is_some_and(|d| d.starts_with("Written by"))
        {
            watcher_types.insert(kind.clone());
        }
        types.insert(kind, fields);
    }
    Schema {
        envelope,
        types,
        watcher_types,
    }
}

/// docs/events.md's tables: the envelope and each type's field names.
fn documented_fields(text: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut tables: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut section: Option<String> = None;
    for line in text.lines() {
        if line.starts_with("## Envelope") {
            section = Some(String::new());
        } else if let Some(name) = line.strip_prefix("### `").and_then(|l| l.strip_suffix('`')) {
            section = Some(name.to_string());
        } else if let (Some(row), Some(kind)) = (line.strip_prefix("| `"), &section) {
            let name = row.split('`').next().unwrap_or_default().to_string();
            tables.entry(kind.clone()).or_default().insert(name);
        }
    }
    tables
}

#[test]
fn the_docs_document_every_field_of_the_schema_and_nothing_else() {
    let schema = schema();
    let docs = documented_fields(&std::fs::read_to_string(docs_path()).expect("docs/events.md"));
    let mut generated: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    generated.insert(String::new(), schema.envelope.keys().cloned().collect());
    for (kind, fields) in &schema.types {
        generated.insert(kind.clone(), fields.keys().cloned().collect());
    }
    assert_eq!(
        docs, generated,
        "docs/events.md (left) and docs/schema/events.json (right) differ"
    );
}

fn has_kind(value: &Value, kind: &str) -> bool {
    kind.split(" or ").any(|k| match k {
        "integer" => value.is_u64() || value.is_i64(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "object" => value.is_object(),
        "number" => value.is_number(),
        "null" => value.is_null(),
        other => panic!("docs/events.md uses an unknown type {other:?}"),
    })
}

/// Every row has a documented type, only documented fields, all `always` fields, right types.
pub fn check_rows(schema: &Schema, rows: &[Value]) {
    let document = crate::schema::load("events.json");
    for row in rows {
        crate::schema::assert_matches(&document, row, "event row");
        let map = row.as_object().expect("row is an object");
        let kind = row["type"].as_str().expect("type");
        let fields = schema
            .types
            .get(kind)
            .unwrap_or_else(|| panic!("type {kind:?} is not documented in docs/events.md: {row}"));
        for (name, field) in schema.envelope.iter().chain(fields.iter()) {
            match map.get(name) {
                Some(value) => assert!(
                    has_kind(value, &field.kind),
                    "{kind}.{name} should be {}: {row}",
                    field.kind
                ),
                None => assert!(
                    !field.always,
                    "{kind}.{name} is documented as always there: {row}"
                ),
            }
        }
        for name in map.keys() {
            assert!(
                schema.envelope.contains_key(name) || fields.contains_key(name),
                "{kind}.{name} is written but not documented: {row}"
            );
        }
    }
}

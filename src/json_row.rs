//! A JSON object kept as its top-level fields, each as the JSON text it was read as, borrowed
//! from the bytes it was parsed from where it can be.
//!
//! `harnex status` lists many sessions: copying each status snapshot's field texts into the
//! output costs a fraction of parsing every value, and borrowing them (instead of allocating a
//! key and a value per field, some sixty per session) keeps the cost per session small enough that
//! listing 50 costs about what listing one does. Keys are kept sorted, as in every JSON document
//! harnex writes.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::{RawValue, to_raw_value};

/// A field's value: the JSON text as read, or one set since.
#[derive(Debug)]
enum Text<'a> {
    Read(&'a RawValue),
    Set(Box<RawValue>),
}

impl Text<'_> {
    fn raw(&self) -> &RawValue {
        match self {
            Text::Read(raw) => raw,
            Text::Set(raw) => raw,
        }
    }
}

/// The fields of one JSON object, sorted by key (see the module docs).
#[derive(Debug, Default)]
pub struct Row<'a> {
    fields: Vec<(Cow<'a, str>, Text<'a>)>,
}

impl<'a> Row<'a> {
    pub fn new() -> Row<'a> {
        Row::default()
    }

    /// The object in `bytes`; `None` when they are not a JSON object.
    pub fn parse(bytes: &'a [u8]) -> Option<Row<'a>> {
        serde_json::from_slice(bytes).ok()
    }

    /// A JSON value as a row (anything but an object as an empty one).
    pub fn of_value(value: &serde_json::Value) -> Row<'static> {
        let mut row = Row::new();
        if let Some(map) = value.as_object() {
            for (key, value) in map {
                row.set(key, value);
            }
        }
        row
    }

    fn position(&self, key: &str) -> Result<usize, usize> {
        self.fields
            .binary_search_by(|(have, _)| have.as_ref().cmp(key))
    }

    /// The JSON text of `key`.
    pub fn get(&self, key: &str) -> Option<&RawValue> {
        let at = self.position(key).ok()?;
        Some(self.fields[at].1.raw())
    }

    /// The value of `key` as a `T`, if it is there and one.
    pub fn get_as<T: serde::de::DeserializeOwned>(&self, key: &str) -> Option<T> {
        serde_json::from_str(self.get(key)?.get()).ok()
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_ok()
    }

    /// Set `key` to `value` (replacing what it held).
    pub fn set<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) {
        let Ok(raw) = to_raw_value(value) else {
            return;
        };
        match self.position(key) {
            Ok(at) => self.fields[at].1 = Text::Set(raw),
            Err(at) => self
                .fields
                .insert(at, (Cow::Owned(key.to_string()), Text::Set(raw))),
        }
    }

    /// The fields, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &RawValue)> {
        self.fields
            .iter()
            .map(|(key, text)| (key.as_ref(), text.raw()))
    }

    /// Remove `key` (if it is there).
    pub fn remove(&mut self, key: &str) {
        if let Ok(at) = self.position(key) {
            self.fields.remove(at);
        }
    }

    /// The fields of the struct `T` as a `T`, as if deserialized from the whole object: only
    /// the fields `T` names are parsed, so a few read out of a large object cost a few.
    pub fn fields_as<T: serde::de::DeserializeOwned>(&self) -> serde_json::Result<T> {
        T::deserialize(FieldsOf(self))
    }

    /// As a JSON value (for the table and the tree, which read fields by name).
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

impl Serialize for Row<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.fields.len()))?;
        for (key, text) in &self.fields {
            map.serialize_entry(key.as_ref(), text.raw())?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Row<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(RowVisitor)
    }
}

struct RowVisitor;

impl<'de> Visitor<'de> for RowVisitor {
    type Value = Row<'de>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Row<'de>, M::Error> {
        let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(64));
        while let Some((Key(key), raw)) = map.next_entry::<Key<'de>, &'de RawValue>()? {
            fields.push((key, Text::Read(raw)));
        }
        // Written sorted; a document written otherwise is sorted here. A repeated key keeps
        // its last value, as serde_json's own maps do.
        if !fields.is_sorted_by(|a, b| a.0 < b.0) {
            fields.reverse();
            fields.sort_by(|a, b| a.0.cmp(&b.0));
            fields.dedup_by(|later, earlier| later.0 == earlier.0);
        }
        Ok(Row { fields })
    }
}

/// A row as a deserializer of structs that reads only their fields ([`Row::fields_as`]).
struct FieldsOf<'de, 'a>(&'de Row<'a>);

impl<'de, 'a> FieldsOf<'de, 'a> {
    fn entries(
        &self,
        wanted: Option<&'static [&'static str]>,
    ) -> impl Iterator<Item = (&'de str, &'de RawValue)> {
        self.0
            .iter()
            .filter(move |(key, _)| wanted.is_none_or(|names| names.contains(key)))
    }
}

impl<'de> Deserializer<'de> for FieldsOf<'de, '_> {
    type Error = serde_json::Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> serde_json::Result<V::Value> {
        let mut map = serde::de::value::MapDeserializer::new(self.entries(None));
        let value = visitor.visit_map(&mut map)?;
        map.end()?;
        Ok(value)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> serde_json::Result<V::Value> {
        let mut map = serde::de::value::MapDeserializer::new(self.entries(Some(fields)));
        let value = visitor.visit_map(&mut map)?;
        map.end()?;
        Ok(value)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map enum identifier
        ignored_any
    }
}

/// An object key, borrowed unless it had escapes.
struct Key<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(key)))
            }
            fn visit_str<E>(self, key: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(key.to_string())))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    fn round_trip(text: &str) -> Value {
        let row = Row::parse(text.as_bytes()).expect("an object");
        serde_json::from_slice(&serde_json::to_vec(&row).unwrap()).unwrap()
    }

    #[test]
    fn fields_keep_their_text_and_come_out_sorted() {
        let text = r#"{"b":{"x":[1,2]},"a":"\u00e9","c":null,"a\"q":1.50}"#;
        let row = Row::parse(text.as_bytes()).unwrap();
        let out = String::from_utf8(serde_json::to_vec(&row).unwrap()).unwrap();
        assert_eq!(
            out,
            r#"{"a":"\u00e9","a\"q":1.50,"b":{"x":[1,2]},"c":null}"#
        );
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value() {
        assert_eq!(round_trip(r#"{"b":1,"a":1,"b":2}"#), json!({"a":1,"b":2}));
    }

    #[test]
    fn set_replaces_or_inserts_in_order() {
        let mut row = Row::parse(br#"{"a":1,"c":3}"#).unwrap();
        row.set("b", &2);
        row.set("c", "three");
        row.set("0", &Value::Null);
        assert_eq!(row.to_value(), json!({"0":null,"a":1,"b":2,"c":"three"}));
        assert_eq!(
            serde_json::to_string(&row).unwrap(),
            r#"{"0":null,"a":1,"b":2,"c":"three"}"#
        );
        assert_eq!(row.get_as::<String>("c").as_deref(), Some("three"));
        assert!(row.contains_key("a") && !row.contains_key("d"));
    }

    #[test]
    fn a_struct_reads_only_its_own_fields() {
        #[derive(serde::Deserialize, Debug, PartialEq)]
        struct Head {
            id: String,
            #[serde(default)]
            port: Option<u16>,
        }
        // `big` is not valid as anything `Head` could want; it is never parsed.
        let row = Row::parse(br#"{"big":{"deep":[1,2,{"x":"y"}]},"id":"a","port":43001}"#).unwrap();
        let head: Head = row.fields_as().unwrap();
        assert_eq!(
            head,
            Head {
                id: "a".into(),
                port: Some(43001)
            }
        );
        let missing = Row::parse(br#"{"port":1}"#).unwrap().fields_as::<Head>();
        assert!(
            missing
                .unwrap_err()
                .to_string()
                .contains("missing field `id`")
        );
        let wrong = Row::parse(br#"{"id":7}"#).unwrap().fields_as::<Head>();
        assert!(wrong.is_err());
    }

    #[test]
    fn remove_takes_a_field_out() {
        let mut row = Row::parse(br#"{"a":1,"b":2}"#).unwrap();
        row.remove("a");
        row.remove("zz");
        assert_eq!(row.to_value(), json!({"b":2}));
    }

    #[test]
    fn anything_but_an_object_is_refused() {
        assert!(Row::parse(b"[1,2]").is_none());
        assert!(Row::parse(b"{\"a\":").is_none());
        assert!(Row::of_value(&json!([1])).to_value() == json!({}));
    }
}

//! Path-aware reading of `serde_json::Value` trees.
//!
//! Raw events are parsed into `Value` rather than derived structs on purpose:
//! real producers repeat keys (the CloudTrail-shaped EventBridge sample has
//! two `eventName`s, and `#[derive(Deserialize)]` rejects duplicates) and mix
//! types (GCS sends `size` as a string). `Value` keeps the last duplicate, and
//! these helpers turn every surprise into an error naming the JSON path.

use serde_json::{Map, Value};

use crate::error::NormalizeError;

/// One JSON object plus where it sits in the document, for error messages.
#[derive(Clone)]
pub(crate) struct Obj<'a> {
    map: &'a Map<String, Value>,
    path: String,
    format: &'static str,
}

/// The path of `name` inside `parent` (`Records[0]` + `s3` = `Records[0].s3`).
pub(crate) fn child_path(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else if name.starts_with('[') {
        format!("{parent}{name}")
    } else {
        format!("{parent}.{name}")
    }
}

/// A short name for a JSON value's type, for "expected X, found Y" messages.
pub(crate) fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl<'a> Obj<'a> {
    /// Wraps `map`, located at `path`, read as part of a `format` event.
    pub(crate) fn new(
        map: &'a Map<String, Value>,
        path: impl Into<String>,
        format: &'static str,
    ) -> Self {
        Self {
            map,
            path: path.into(),
            format,
        }
    }

    /// The JSON path of this object (empty at the document root).
    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    /// The same object read as part of another format.
    pub(crate) fn with_format(self, format: &'static str) -> Self {
        Self { format, ..self }
    }

    /// Path of the field `name` of this object.
    pub(crate) fn field(&self, name: &str) -> String {
        child_path(&self.path, name)
    }

    /// The raw value of `name`, `None` when absent or `null`.
    pub(crate) fn get(&self, name: &str) -> Option<&'a Value> {
        self.map.get(name).filter(|value| !value.is_null())
    }

    /// Whether `name` is present (even as `null`).
    pub(crate) fn has(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    /// Top-level keys, for "unknown format" messages.
    pub(crate) fn keys(&self) -> impl Iterator<Item = &'a String> {
        self.map.keys()
    }

    fn wrong_type(&self, name: &str, expected: &str, found: &Value) -> NormalizeError {
        NormalizeError::invalid(
            self.field(name),
            format!("expected {expected}, found {}", kind(found)),
        )
    }

    /// `MissingField` for `name`.
    pub(crate) fn missing(&self, name: &str) -> NormalizeError {
        NormalizeError::MissingField {
            format: self.format,
            field: self.field(name),
        }
    }

    /// An optional string field.
    pub(crate) fn opt_str(&self, name: &str) -> Result<Option<&'a str>, NormalizeError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(text)) => Ok(Some(text)),
            Some(other) => Err(self.wrong_type(name, "a string", other)),
        }
    }

    /// An optional string field where the empty string also means "absent"
    /// (MinIO sends `"versionId": ""`, S3 test tools send `"eTag": ""`).
    pub(crate) fn opt_nonempty_str(&self, name: &str) -> Result<Option<&'a str>, NormalizeError> {
        Ok(self.opt_str(name)?.filter(|text| !text.is_empty()))
    }

    /// A required, non-empty string field.
    pub(crate) fn req_str(&self, name: &str) -> Result<&'a str, NormalizeError> {
        match self.opt_str(name)? {
            None => Err(self.missing(name)),
            Some("") => Err(NormalizeError::invalid(
                self.field(name),
                "must not be empty",
            )),
            Some(text) => Ok(text),
        }
    }

    /// An optional size: a non-negative JSON integer, or a string of digits
    /// (GCS serialises int64 fields as strings).
    pub(crate) fn opt_u64(&self, name: &str) -> Result<Option<u64>, NormalizeError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Number(number)) => number.as_u64().map(Some).ok_or_else(|| {
                NormalizeError::invalid(
                    self.field(name),
                    format!("expected a non-negative integer, found {number}"),
                )
            }),
            Some(Value::String(text)) => text.parse::<u64>().map(Some).map_err(|_| {
                NormalizeError::invalid(
                    self.field(name),
                    format!("expected a non-negative integer, found the string {text:?}"),
                )
            }),
            Some(other) => Err(self.wrong_type(name, "a non-negative integer", other)),
        }
    }

    /// An optional identifier that producers send either as a string or as a
    /// number (GCS `generation`), returned as a string.
    pub(crate) fn opt_id(&self, name: &str) -> Result<Option<String>, NormalizeError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::String(text)) if text.is_empty() => Ok(None),
            Some(Value::String(text)) => Ok(Some(text.clone())),
            Some(Value::Number(number)) => Ok(Some(number.to_string())),
            Some(other) => Err(self.wrong_type(name, "a string or a number", other)),
        }
    }

    /// An optional object field.
    pub(crate) fn opt_obj(&self, name: &str) -> Result<Option<Obj<'a>>, NormalizeError> {
        match self.get(name) {
            None => Ok(None),
            Some(Value::Object(map)) => Ok(Some(Obj::new(map, self.field(name), self.format))),
            Some(other) => Err(self.wrong_type(name, "an object", other)),
        }
    }

    /// A required object field.
    pub(crate) fn req_obj(&self, name: &str) -> Result<Obj<'a>, NormalizeError> {
        self.opt_obj(name)?.ok_or_else(|| self.missing(name))
    }

    /// An optional object of string values (user metadata); non-string
    /// values are skipped, as no producer we read sends them.
    pub(crate) fn string_map(&self, name: &str) -> Result<Vec<(&'a str, &'a str)>, NormalizeError> {
        match self.get(name) {
            None => Ok(Vec::new()),
            Some(Value::Object(map)) => Ok(map
                .iter()
                .filter_map(|(key, value)| value.as_str().map(|text| (key.as_str(), text)))
                .collect()),
            Some(other) => Err(self.wrong_type(name, "an object", other)),
        }
    }

    /// An optional list of `{"key": ..., "val": ...}` string pairs, the way
    /// Ceph RGW writes object metadata and tags.
    ///
    /// Strict on shape, as a pair we cannot read may be the generated-object
    /// marker: an entry that is not an object, has no `key`, or whose `key`
    /// or `val` is not a string, is an error naming its path. A missing or
    /// `null` `val` reads as empty; fields other than `key` and `val` are
    /// ignored.
    pub(crate) fn key_val_list(
        &self,
        name: &str,
    ) -> Result<Vec<(&'a str, &'a str)>, NormalizeError> {
        let items = match self.get(name) {
            None => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(other) => {
                return Err(self.wrong_type(name, "an array of {\"key\", \"val\"} pairs", other))
            }
        };
        let list_path = self.field(name);
        items
            .iter()
            .enumerate()
            .map(|(index, item)| {
                let path = child_path(&list_path, &format!("[{index}]"));
                match item {
                    Value::Object(map) => {
                        let pair = Obj::new(map, path, self.format);
                        let key = pair.opt_str("key")?.ok_or_else(|| pair.missing("key"))?;
                        let val = pair.opt_str("val")?.unwrap_or_default();
                        Ok((key, val))
                    }
                    other => Err(NormalizeError::invalid(
                        path,
                        format!(
                            "expected a {{\"key\", \"val\"}} object, found {}",
                            kind(other)
                        ),
                    )),
                }
            })
            .collect()
    }
}

/// Serialises `value` to compact JSON text.
///
/// `serde_json` fails only on maps with non-string keys or on `Serialize`
/// impls that return errors. Every type this crate serialises is derived
/// over strings, integers, options, vectors and `BTreeMap<String, _>`, so
/// the error arm cannot be reached; it yields `null` instead of panicking
/// (the workspace lints forbid `expect`), which any reader rejects loudly.
/// The round-trip tests of every public serialiser pin the happy path.
pub(crate) fn to_json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| String::from("null"))
}

/// Parses a whole document into a `Value`, mapping errors to
/// [`NormalizeError::NotJson`] (or `InvalidField` naming `what` for the rare
/// data errors, such as numbers too large for `serde_json`).
pub(crate) fn parse_document(bytes: &[u8], what: &str) -> Result<Value, NormalizeError> {
    serde_json::from_slice(bytes).map_err(|err| NormalizeError::from_json(&err, what))
}

/// The top-level object of a document, or an error naming what was found.
pub(crate) fn root_object<'a>(
    value: &'a Value,
    what: &str,
    format: &'static str,
) -> Result<Obj<'a>, NormalizeError> {
    match value {
        Value::Object(map) => Ok(Obj::new(map, String::new(), format)),
        other => Err(NormalizeError::invalid(
            what,
            format!("expected a JSON object, found {}", kind(other)),
        )),
    }
}

//! The serde shape of a Spin manifest version 2, as thumbflow's host reads it.
//!
//! Every table denies unknown fields, so a typo or a Spin feature this host
//! does not implement is an error naming the field rather than something
//! silently ignored. Fields Spin itself ignores at run time (`build`, `tool`,
//! `targets`, `profile`, `authors`) are accepted and dropped; fields the host
//! would have to implement (`files`, `environment`, ...) are read so that
//! [`super::Manifest::parse`] can reject them when they are not empty. Ids are
//! checked while deserializing (as Spin does), so their errors carry a line.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::{self, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

/// Just enough to check `spin_manifest_version` before the strict parse.
#[derive(Deserialize)]
pub(super) struct VersionProbe {
    /// `spin_manifest_version = 2`.
    pub spin_manifest_version: Option<toml::Value>,
    /// `spin_version = "1"`: how version 1 manifests started.
    pub spin_version: Option<IgnoredAny>,
}

/// The whole manifest.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawManifest {
    /// Checked by [`VersionProbe`] first.
    #[serde(rename = "spin_manifest_version")]
    _version: IgnoredAny,
    /// `[application]`.
    pub application: RawApplication,
    /// `[variables]`.
    #[serde(default)]
    pub variables: BTreeMap<VariableName, RawVariable>,
    /// `[[trigger.<type>]]`; required, as in Spin.
    pub trigger: RawTriggers,
    /// `[component.<id>]`.
    #[serde(default)]
    pub component: BTreeMap<ComponentId, RawComponent>,
}

/// `[application]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawApplication {
    /// `name`.
    pub name: String,
    /// `version`.
    #[serde(default)]
    pub version: String,
    /// `description`.
    #[serde(default)]
    pub description: String,
    /// `authors`: informational, ignored.
    #[serde(default, rename = "authors")]
    _authors: Vec<String>,
    /// `targets` (deployment environments `spin build` checks against): ignored.
    #[serde(default, rename = "targets")]
    _targets: Option<IgnoredAny>,
    /// `[application.tool.<name>]`: settings for other tools, ignored by Spin
    /// too (which still requires each to be a table).
    #[serde(default, rename = "tool")]
    _tool: BTreeMap<String, toml::Table>,
    /// `[application.trigger.<type>]`.
    #[serde(default)]
    pub trigger: RawAppTriggers,
}

/// `[application.trigger]`: application-wide trigger settings.
#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAppTriggers {
    /// `[application.trigger.redis]`.
    pub redis: Option<RawAppRedis>,
}

/// `[application.trigger.redis]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAppRedis {
    /// `address`: the default server of every `[[trigger.redis]]`; required
    /// when the table is there, as in Spin's Redis trigger.
    pub address: String,
}

/// One `[variables]` entry.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawVariable {
    /// `default`.
    pub default: Option<String>,
    /// `required`.
    #[serde(default)]
    pub required: bool,
    /// `secret`.
    #[serde(default)]
    pub secret: bool,
    /// `description`.
    pub description: Option<String>,
}

/// `[trigger]`: the known trigger types, and the names of the others (which
/// [`super::Manifest::parse`] rejects with a message naming them).
#[derive(Default)]
pub(super) struct RawTriggers {
    /// `[[trigger.http]]`.
    pub http: Vec<RawHttpTrigger>,
    /// `[[trigger.redis]]`.
    pub redis: Vec<RawRedisTrigger>,
    /// Every other `[[trigger.<type>]]`.
    pub unsupported: Vec<String>,
}

impl<'de> Deserialize<'de> for RawTriggers {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TriggersVisitor;

        impl<'de> Visitor<'de> for TriggersVisitor {
            type Value = RawTriggers;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a table of trigger types, such as `[[trigger.http]]`")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawTriggers, A::Error> {
                let mut triggers = RawTriggers::default();
                while let Some(kind) = map.next_key::<String>()? {
                    match kind.as_str() {
                        "http" => triggers.http.extend(map.next_value::<Vec<_>>()?),
                        "redis" => triggers.redis.extend(map.next_value::<Vec<_>>()?),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            triggers.unsupported.push(kind);
                        }
                    }
                }
                Ok(triggers)
            }
        }

        deserializer.deserialize_map(TriggersVisitor)
    }
}

/// One `[[trigger.http]]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHttpTrigger {
    /// `id`: optional trigger id, unused.
    #[serde(default, rename = "id")]
    _id: Option<String>,
    /// `route`.
    pub route: String,
    /// `component`: a component id (inline components are not supported).
    pub component: ComponentId,
    /// `executor`: only Spin's default (`{ type = "spin" }`) is supported.
    pub executor: Option<toml::Table>,
}

/// One `[[trigger.redis]]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRedisTrigger {
    /// `id`: optional trigger id, unused.
    #[serde(default, rename = "id")]
    _id: Option<String>,
    /// `channel`.
    pub channel: String,
    /// `address`: overrides `[application.trigger.redis] address`.
    pub address: Option<String>,
    /// `component`.
    pub component: ComponentId,
}

/// One `[component.<id>]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawComponent {
    /// `source`.
    pub source: RawSource,
    /// `description`.
    #[serde(default)]
    pub description: String,
    /// `variables`.
    #[serde(default)]
    pub variables: BTreeMap<VariableName, String>,
    /// `key_value_stores`.
    #[serde(default)]
    pub key_value_stores: Vec<StoreLabel>,
    /// `allowed_outbound_hosts`.
    #[serde(default)]
    pub allowed_outbound_hosts: Vec<String>,
    /// `dependencies`: checked to be local paths by the caller.
    #[serde(default)]
    pub dependencies: BTreeMap<String, toml::Value>,
    /// `environment`: must be empty.
    #[serde(default)]
    pub environment: BTreeMap<String, String>,
    /// `files`: must be empty.
    #[serde(default)]
    pub files: Vec<toml::Value>,
    /// `exclude_files`: must be empty.
    #[serde(default)]
    pub exclude_files: Vec<String>,
    /// `allowed_http_hosts` (deprecated by Spin): must be empty.
    #[serde(default)]
    pub allowed_http_hosts: Vec<String>,
    /// `sqlite_databases`: must be empty.
    #[serde(default)]
    pub sqlite_databases: Vec<String>,
    /// `ai_models`: must be empty.
    #[serde(default)]
    pub ai_models: Vec<String>,
    /// `dependencies_inherit_configuration`: must not be `true`.
    #[serde(default)]
    pub dependencies_inherit_configuration: bool,
    /// `[component.<id>.build]`: for `spin build`, ignored here.
    #[serde(default, rename = "build")]
    _build: Option<RawBuild>,
    /// `targets`: deployment compatibility for `spin build`, ignored.
    #[serde(default, rename = "targets")]
    _targets: Option<IgnoredAny>,
    /// `[component.<id>.tool.<name>]`: settings for other tools, ignored by Spin
    /// too (which still requires each to be a table).
    #[serde(default, rename = "tool")]
    _tool: BTreeMap<String, toml::Table>,
    /// `[component.<id>.profile.<name>]`: used only by `spin build/up --profile`,
    /// which this host does not have; the default profile is what it runs.
    /// Checked for unknown fields like Spin, otherwise ignored.
    #[serde(default, rename = "profile")]
    _profile: BTreeMap<String, RawProfile>,
}

/// `[component.<id>.profile.<name>]`: the fields a profile may override.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfile {
    /// `source`.
    #[serde(default, rename = "source")]
    _source: Option<RawSource>,
    /// `environment`.
    #[serde(default, rename = "environment")]
    _environment: BTreeMap<String, String>,
    /// `dependencies`.
    #[serde(default, rename = "dependencies")]
    _dependencies: BTreeMap<String, toml::Value>,
    /// `[component.<id>.profile.<name>.build]`: only `command`.
    #[serde(default, rename = "build")]
    _build: Option<RawProfileBuild>,
}

/// `[component.<id>.profile.<name>.build]`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawProfileBuild {
    /// `command`: one command or a list.
    #[serde(rename = "command", deserialize_with = "commands")]
    _command: (),
}

/// `source`: a path, or a table (URL or registry package) this host cannot fetch.
pub(super) enum RawSource {
    /// `source = "path/to/component.wasm"`.
    Local(String),
    /// `source = { url = ..., digest = ... }` or `{ registry = ..., package = ... }`.
    Remote(toml::Table),
}

impl<'de> Deserialize<'de> for RawSource {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        match toml::Value::deserialize(deserializer)? {
            toml::Value::String(path) => Ok(Self::Local(path)),
            toml::Value::Table(table) => Ok(Self::Remote(table)),
            other => Err(de::Error::custom(format!(
                "invalid `source` {other}: expected the path of a .wasm file"
            ))),
        }
    }
}

/// `[component.<id>.build]`, validated like Spin and otherwise ignored.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawBuild {
    /// `command`: one command or a list.
    #[serde(rename = "command", deserialize_with = "commands")]
    _command: (),
    /// `workdir`.
    #[serde(default, rename = "workdir")]
    _workdir: Option<String>,
    /// `watch`.
    #[serde(default, rename = "watch")]
    _watch: Vec<String>,
}

/// Checks a build `command`: a string or a list of strings.
fn commands<'de, D: Deserializer<'de>>(deserializer: D) -> Result<(), D::Error> {
    let value = toml::Value::deserialize(deserializer)?;
    let ok = match &value {
        toml::Value::String(_) => true,
        toml::Value::Array(items) => items.iter().all(toml::Value::is_str),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(de::Error::custom(format!(
            "invalid build `command` {value}: expected a command or a list of commands"
        )))
    }
}

/// A component id: kebab-case (Spin's `KebabId`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct ComponentId(pub String);

impl TryFrom<String> for ComponentId {
    type Error = String;

    fn try_from(id: String) -> Result<Self, String> {
        check_id(&id, '-', false)
            .map_err(|why| format!("component id `{id}` is not valid kebab-case: {why}"))?;
        Ok(Self(id))
    }
}

/// A variable name: lower snake_case (Spin's `LowerSnakeId`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct VariableName(pub String);

impl TryFrom<String> for VariableName {
    type Error = String;

    fn try_from(name: String) -> Result<Self, String> {
        check_id(&name, '_', true).map_err(|why| {
            format!("variable name `{name}` is not valid lower snake_case: {why}")
        })?;
        Ok(Self(name))
    }
}

/// A key-value store label: kebab-case or snake_case (as in Spin).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub(super) struct StoreLabel(pub String);

impl TryFrom<String> for StoreLabel {
    type Error = String;

    fn try_from(label: String) -> Result<Self, String> {
        if check_id(&label, '-', false).is_ok() || check_id(&label, '_', false).is_ok() {
            Ok(Self(label))
        } else {
            Err(format!(
                "key-value store label `{label}` is not valid: expected kebab-case or snake_case"
            ))
        }
    }
}

/// Spin's id rule: non-empty words separated by `delim`, each starting with an
/// ASCII letter, alphanumeric, and all lowercase or all uppercase (only
/// lowercase when `lower`). The error says what is wrong.
pub(super) fn check_id(id: &str, delim: char, lower: bool) -> Result<(), String> {
    if id.is_empty() {
        return Err("it is empty".to_owned());
    }
    let wrong = if delim == '-' { '_' } else { '-' };
    if id.contains(wrong) {
        return Err(format!(
            "words must be separated with {delim:?}, not {wrong:?}"
        ));
    }
    for word in id.split(delim) {
        let mut chars = word.chars();
        let Some(first) = chars.next() else {
            return Err(format!("{delim:?}-separated words must not be empty"));
        };
        if !first.is_ascii_alphabetic() {
            return Err(format!(
                "{delim:?}-separated words must start with an ASCII letter; got {first:?}"
            ));
        }
        let upper = first.is_ascii_uppercase();
        for ch in chars {
            if !ch.is_ascii_alphanumeric() {
                return Err(format!(
                    "{delim:?}-separated words may only contain alphanumeric ASCII; got {ch:?}"
                ));
            }
            if ch.is_ascii_alphabetic() && ch.is_ascii_uppercase() != upper {
                return Err(format!(
                    "{delim:?}-separated words must be all lowercase or all UPPERCASE; got {word:?}"
                ));
            }
        }
        if lower && upper {
            return Err("it must be all lowercase".to_owned());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_id_follows_spin_rules() {
        for ok in ["gateway", "normalizer-core", "a1-b2", "HTTP-handler"] {
            assert!(check_id(ok, '-', false).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "bad_id",
            "1-2-3",
            "a--b",
            "-a",
            "a-",
            "Mixed-case",
            "a.b",
            "a b",
        ] {
            assert!(check_id(bad, '-', false).is_err(), "{bad}");
        }
        for ok in ["redis_address", "max_pixels", "a1"] {
            assert!(check_id(ok, '_', true).is_ok(), "{ok}");
        }
        for bad in [
            "Redis_address",
            "API_TOKEN",
            "redis-address",
            "_x",
            "x__y",
            "1x",
            "bad+name",
        ] {
            assert!(check_id(bad, '_', true).is_err(), "{bad}");
        }
        let why = check_id("bad_id", '-', false).unwrap_err();
        assert_eq!(why, "words must be separated with '-', not '_'");
    }
}

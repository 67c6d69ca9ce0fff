//! Application variables, resolved the way `spin up` resolves them.
//!
//! A value comes from, in order: `--variable name=value`, the environment
//! variable `SPIN_VARIABLE_<NAME>` (name upper-cased), the `default` in
//! `[variables]`. Components see only their own `[component.<id>.variables]`,
//! whose values are templates over the application variables.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::{template, AllowedHosts, Component, Manifest, ManifestError, RedisTrigger};

/// The prefix of the environment variables that set application variables.
const ENV_PREFIX: &str = "SPIN_VARIABLE_";

/// The resolved application variables: every declared variable has a value.
///
/// `Debug` shows secret values as `<secret>`.
#[derive(Clone, PartialEq, Eq)]
pub struct Variables {
    /// Name → value, for every variable declared in `[variables]`.
    values: BTreeMap<String, String>,
    /// Names declared `secret = true`, kept out of `Debug` output.
    secrets: BTreeSet<String>,
}

impl Variables {
    /// Resolves the application variables like Spin: explicit overrides
    /// (`--variable K=V`, the last one for a name wins) first, then
    /// `SPIN_VARIABLE_<NAME uppercased>` from `env`, then the `default`.
    ///
    /// Errors: an override for a variable `[variables]` does not declare; a
    /// `required` variable with no value (naming every such variable). It then
    /// checks every template of the manifest (trigger addresses and channels,
    /// `allowed_outbound_hosts`, component variables) against the resolved
    /// values, and parses each component's expanded `allowed_outbound_hosts`,
    /// so that a bad configuration fails here, before anything starts.
    pub fn resolve(
        manifest: &Manifest,
        overrides: &[(String, String)],
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ManifestError> {
        let mut explicit = BTreeMap::new();
        for (name, value) in overrides {
            if !manifest.variables.contains_key(name) {
                return Err(ManifestError::UndeclaredOverride { name: name.clone() });
            }
            explicit.insert(name.as_str(), value);
        }
        let mut values = BTreeMap::new();
        let mut missing = Vec::new();
        for (name, declared) in &manifest.variables {
            let value = explicit
                .get(name.as_str())
                .map(|v| (*v).clone())
                .or_else(|| env(&env_name(name)))
                .or_else(|| declared.default.clone());
            match value {
                Some(value) => {
                    values.insert(name.clone(), value);
                }
                None => missing.push(name.clone()),
            }
        }
        if !missing.is_empty() {
            return Err(ManifestError::RequiredVariables { names: missing });
        }
        let secrets = manifest
            .variables
            .iter()
            .filter(|(_, v)| v.secret)
            .map(|(name, _)| name.clone())
            .collect();
        let variables = Self { values, secrets };
        variables.check(manifest)?;
        Ok(variables)
    }

    /// The value of application variable `name`, if it is declared.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// Whether application variable `name` is declared `secret = true` (its
    /// value must not be logged).
    pub fn is_secret(&self, name: &str) -> bool {
        self.secrets.contains(name)
    }

    /// Expands `{{ name }}` / `{{name}}` templates against the application
    /// variables. An undeclared name or a `{{` without `}}` is an error naming it.
    pub fn expand(&self, template: &str) -> Result<String, ManifestError> {
        template::expand(template, |name| self.get(name))
    }

    /// A component's variables: its `[component.<id>.variables]` with
    /// templates expanded.
    pub fn component_variables(
        &self,
        component: &Component,
    ) -> Result<BTreeMap<String, String>, ManifestError> {
        component
            .variables
            .iter()
            .map(|(name, value)| {
                let expanded = self.expand(value).map_err(|e| {
                    e.context(format!(
                        "variable `{name}` in [component.{}.variables]",
                        component.id
                    ))
                })?;
                Ok((name.clone(), expanded))
            })
            .collect()
    }

    /// A component's `allowed_outbound_hosts`, expanded and parsed. An entry
    /// that expands to nothing grants nothing.
    pub fn allowed_hosts(&self, component: &Component) -> Result<AllowedHosts, ManifestError> {
        let context = || format!("allowed_outbound_hosts of [component.{}]", component.id);
        let expanded = component
            .allowed_outbound_hosts
            .iter()
            .map(|entry| self.expand(entry))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| e.context(context()))?;
        AllowedHosts::parse(&expanded).map_err(|e| e.context(context()))
    }

    /// The Redis address of `trigger`, expanded: its own `address`, or else
    /// `[application.trigger.redis] address`.
    pub fn redis_address(
        &self,
        manifest: &Manifest,
        trigger: &RedisTrigger,
    ) -> Result<String, ManifestError> {
        let (raw, context) = match (&trigger.address, &manifest.redis_address) {
            (Some(own), _) => (own, trigger.describe()),
            (None, Some(app)) => (app, "[application.trigger.redis] address".to_owned()),
            (None, None) => {
                return Err(ManifestError::MissingRedisAddress {
                    component: trigger.component.clone(),
                })
            }
        };
        self.expand(raw).map_err(|e| e.context(context))
    }

    /// Expands every template of the manifest once, so that an unknown name
    /// or a bad allowed host is reported at start-up with its location.
    fn check(&self, manifest: &Manifest) -> Result<(), ManifestError> {
        if let Some(address) = &manifest.redis_address {
            self.expand(address)
                .map_err(|e| e.context("[application.trigger.redis] address"))?;
        }
        for trigger in &manifest.redis_triggers {
            self.redis_address(manifest, trigger)?;
            self.expand(&trigger.channel)
                .map_err(|e| e.context(format!("channel of {}", trigger.describe())))?;
        }
        for component in manifest.components.values() {
            self.component_variables(component)?;
            self.allowed_hosts(component)?;
        }
        Ok(())
    }
}

impl fmt::Debug for Variables {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut map = f.debug_map();
        for (name, value) in &self.values {
            if self.secrets.contains(name) {
                map.entry(name, &"<secret>");
            } else {
                map.entry(name, value);
            }
        }
        map.finish()
    }
}

/// The environment variable that sets application variable `name`.
fn env_name(name: &str) -> String {
    format!("{ENV_PREFIX}{}", name.to_ascii_uppercase())
}

/// Parses a `--variable` flag, `name=value` (the value may contain `=`).
///
/// Spin's `name=@file` and `@file.json` forms (values read from files) are
/// rejected rather than taken literally.
pub fn parse_variable_flag(s: &str) -> Result<(String, String), ManifestError> {
    let invalid = |reason: &str| ManifestError::VariableFlag {
        flag: s.to_owned(),
        reason: reason.to_owned(),
    };
    if s.starts_with('@') {
        return Err(invalid(
            "reading variables from a file is not supported by thumbflow's host: pass `name=value`",
        ));
    }
    let Some((name, value)) = s.split_once('=') else {
        return Err(invalid("expected `name=value`"));
    };
    if name.is_empty() {
        return Err(invalid("the name before `=` is empty"));
    }
    if value.starts_with('@') {
        return Err(invalid(
            "a value read from a file (`name=@path`) is not supported by thumbflow's host: pass the value itself",
        ));
    }
    Ok((name.to_owned(), value.to_owned()))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    /// The repository's own manifest, the one `thumbflow up` and Spin run.
    const SPIN_TOML: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../spin.toml");

    fn real_manifest() -> Manifest {
        Manifest::from_file(Path::new(SPIN_TOML)).unwrap()
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    fn manifest(text: &str) -> Manifest {
        Manifest::parse(text, Path::new("/app")).unwrap()
    }

    fn overrides(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    /// A minimal app: one required variable, one optional, one Redis trigger.
    const SMALL: &str = r#"
spin_manifest_version = 2
[application]
name = "small"
[application.trigger.redis]
address = "redis://{{ host }}:6379"
[variables]
host = { default = "127.0.0.1" }
token = { required = true, secret = true }
[[trigger.redis]]
channel = "{{ channel_prefix }}.raw"
component = "worker"
[component.worker]
source = "worker.wasm"
"#;

    #[test]
    fn variables_real_manifest_resolves_with_defaults() {
        let manifest = real_manifest();
        let vars = Variables::resolve(&manifest, &[], &no_env).unwrap();
        assert_eq!(vars.get("redis_address"), Some("redis://127.0.0.1:6379"));
        assert_eq!(vars.get("raw_channel"), Some("thumbflow.raw"));
        assert_eq!(vars.get("recipes"), Some("thumb=300x300,jpeg,q68"));
        assert_eq!(vars.get("api_token"), Some(""));
        assert_eq!(vars.get("no_such_variable"), None);
        assert!(vars.is_secret("api_token") && vars.is_secret("webhook_secret"));
        assert!(!vars.is_secret("bucket"));

        let channels: Vec<String> = manifest
            .redis_triggers
            .iter()
            .map(|t| vars.expand(&t.channel).unwrap())
            .collect();
        assert_eq!(
            channels,
            ["thumbflow.raw", "thumbflow.images", "thumbflow.thumbnails"]
        );
        for trigger in &manifest.redis_triggers {
            assert_eq!(
                vars.redis_address(&manifest, trigger).unwrap(),
                "redis://127.0.0.1:6379"
            );
        }

        let gateway = &manifest.components["gateway"];
        let gateway_vars = vars.component_variables(gateway).unwrap();
        assert_eq!(gateway_vars["bucket"], "thumbflow");
        assert_eq!(gateway_vars["max_object_bytes"], "67108864");
        assert_eq!(gateway_vars["redis_address"], "redis://127.0.0.1:6379");
        assert_eq!(gateway_vars.len(), 15);
        assert_eq!(gateway_vars["store"], "kv");
        let gateway_hosts = vars.allowed_hosts(gateway).unwrap();
        assert!(gateway_hosts.allows("redis://127.0.0.1:6379"));
        assert!(!gateway_hosts.allows("redis://127.0.0.1:6380"));
        assert!(!gateway_hosts.allows("http://127.0.0.1:6379/"));
        // s3_endpoint's default grants only a reserved host that never resolves.
        assert!(gateway_hosts.allows("http://s3.invalid/thumbflow/x.jpg"));
        assert!(!gateway_hosts.allows("http://127.0.0.1:7480/thumbflow/x.jpg"));

        let thumbnailer = vars
            .component_variables(&manifest.components["thumbnailer"])
            .unwrap();
        assert_eq!(thumbnailer["thumbnails_channel"], "thumbflow.thumbnails");
        assert_eq!(thumbnailer["max_pixels"], "100000000");
    }

    #[test]
    fn variables_webhook_origin_default_grants_only_a_reserved_host() {
        let manifest = real_manifest();
        let vars = Variables::resolve(&manifest, &[], &no_env).unwrap();
        let notifier = &manifest.components["notifier"];
        let hosts = vars.allowed_hosts(notifier).unwrap();
        assert!(!hosts.allows("http://127.0.0.1:8080/hook"));
        // Its queue's Redis, and nothing else that resolves.
        assert!(hosts.allows("redis://127.0.0.1:6379"));
        assert!(!hosts.allows("https://example.com/"));
        // The same path the runtime takes: expand each entry, then parse. The
        // default is under `.invalid` (RFC 6761), which never resolves.
        let expanded: Vec<String> = notifier
            .allowed_outbound_hosts
            .iter()
            .map(|h| vars.expand(h).unwrap())
            .collect();
        assert_eq!(
            expanded,
            ["redis://127.0.0.1:6379", "http://webhook.invalid"]
        );
        assert!(AllowedHosts::parse(&expanded)
            .unwrap()
            .allows("http://webhook.invalid/hook"));
        let notifier_vars = vars.component_variables(notifier).unwrap();
        assert_eq!(notifier_vars["webhook_url"], "");
    }

    #[test]
    fn variables_webhook_origin_set_empty_grants_nothing() {
        // Only the default must be a valid host: an empty value given at start-up
        // grants nothing (Spin fails each outbound request instead).
        let manifest = real_manifest();
        let set = overrides(&[("webhook_origin", "")]);
        let vars = Variables::resolve(&manifest, &set, &no_env).unwrap();
        let hosts = vars
            .allowed_hosts(&manifest.components["notifier"])
            .unwrap();
        // Only its queue's Redis is left.
        assert!(!hosts.allows("http://webhook.invalid/hook"));
        assert!(!hosts.allows("http://127.0.0.1:8080/hook"));
        assert!(hosts.allows("redis://127.0.0.1:6379"));
    }

    #[test]
    fn variables_webhook_origin_set_grants_that_origin() {
        let manifest = real_manifest();
        let set = overrides(&[
            ("webhook_origin", "http://127.0.0.1:8080"),
            ("webhook_url", "http://127.0.0.1:8080/hook"),
        ]);
        let vars = Variables::resolve(&manifest, &set, &no_env).unwrap();
        let notifier = &manifest.components["notifier"];
        let hosts = vars.allowed_hosts(notifier).unwrap();
        assert!(hosts.allows("http://127.0.0.1:8080/hook"));
        assert!(!hosts.allows("http://127.0.0.1:8081/hook"));
        assert_eq!(
            vars.component_variables(notifier).unwrap()["webhook_url"],
            "http://127.0.0.1:8080/hook"
        );
    }

    #[test]
    fn variables_env_override_changes_trigger_address_and_allowed_host() {
        let manifest = real_manifest();
        let env = |name: &str| {
            (name == "SPIN_VARIABLE_REDIS_ADDRESS").then(|| "redis://127.0.0.1:7001".to_owned())
        };
        let vars = Variables::resolve(&manifest, &[], &env).unwrap();
        assert_eq!(vars.get("redis_address"), Some("redis://127.0.0.1:7001"));
        let trigger = &manifest.redis_triggers[0];
        assert_eq!(
            vars.redis_address(&manifest, trigger).unwrap(),
            "redis://127.0.0.1:7001"
        );
        assert_eq!(
            vars.expand(manifest.redis_address.as_deref().unwrap())
                .unwrap(),
            "redis://127.0.0.1:7001"
        );
        for id in ["gateway", "normalizer", "thumbnailer"] {
            let component = &manifest.components[id];
            let hosts = vars.allowed_hosts(component).unwrap();
            assert!(hosts.allows("redis://127.0.0.1:7001"), "{id}");
            assert!(!hosts.allows("redis://127.0.0.1:6379"), "{id}");
            assert_eq!(
                vars.component_variables(component).unwrap()["redis_address"],
                "redis://127.0.0.1:7001"
            );
        }
    }

    #[test]
    fn variables_flag_wins_over_env_and_env_over_default() {
        let manifest = real_manifest();
        let env = |name: &str| match name {
            "SPIN_VARIABLE_BUCKET" => Some("from-env".to_owned()),
            "SPIN_VARIABLE_RECIPES" => Some("small=64x64".to_owned()),
            _ => None,
        };
        let set = overrides(&[("bucket", "first"), ("bucket", "from-flag")]);
        let vars = Variables::resolve(&manifest, &set, &env).unwrap();
        assert_eq!(vars.get("bucket"), Some("from-flag"), "last flag wins");
        assert_eq!(vars.get("recipes"), Some("small=64x64"));
        assert_eq!(vars.get("raw_channel"), Some("thumbflow.raw"));
    }

    #[test]
    fn variables_env_name_is_uppercased_name() {
        assert_eq!(env_name("redis_address"), "SPIN_VARIABLE_REDIS_ADDRESS");
        let m = manifest(&SMALL.replace("{{ channel_prefix }}", "app"));
        let env = |name: &str| match name {
            "SPIN_VARIABLE_TOKEN" => Some("t0ken".to_owned()),
            "SPIN_VARIABLE_token" | "token" | "SPIN_VARIABLE_HOST_" => Some("wrong".to_owned()),
            _ => None,
        };
        let vars = Variables::resolve(&m, &[], &env).unwrap();
        assert_eq!(vars.get("token"), Some("t0ken"));
        assert_eq!(vars.get("host"), Some("127.0.0.1"));
    }

    #[test]
    fn variables_required_missing_is_named() {
        let m = manifest(&SMALL.replace("{{ channel_prefix }}", "app"));
        let err = Variables::resolve(&m, &[], &no_env).unwrap_err();
        assert!(
            matches!(&err, ManifestError::RequiredVariables { names } if names == &["token"]),
            "{err:?}"
        );
        let message = err.to_string();
        assert!(
            message.contains("variable `token` is required but has no value"),
            "{message}"
        );
        assert!(message.contains("SPIN_VARIABLE_TOKEN"), "{message}");

        let vars = Variables::resolve(&m, &overrides(&[("token", "s3cret")]), &no_env).unwrap();
        assert_eq!(vars.get("token"), Some("s3cret"));
        let debug = format!("{vars:?}");
        assert!(
            !debug.contains("s3cret") && debug.contains("<secret>"),
            "{debug}"
        );
        assert!(debug.contains("127.0.0.1"), "{debug}");
    }

    #[test]
    fn variables_several_required_missing_are_all_named() {
        let text = SMALL.replace("{{ channel_prefix }}", "app").replace(
            "[[trigger.redis]]",
            "other = { required = true }\n[[trigger.redis]]",
        );
        let err = Variables::resolve(&manifest(&text), &[], &no_env).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("`other`") && message.contains("`token`"),
            "{message}"
        );
    }

    #[test]
    fn variables_override_for_undeclared_variable_is_an_error() {
        let manifest = real_manifest();
        let err =
            Variables::resolve(&manifest, &overrides(&[("bukket", "x")]), &no_env).unwrap_err();
        assert!(
            matches!(&err, ManifestError::UndeclaredOverride { name } if name == "bukket"),
            "{err:?}"
        );
        assert!(err.to_string().contains("`bukket`"), "{err}");
    }

    #[test]
    fn variables_unknown_variable_in_component_template_is_located() {
        let text = r#"
spin_manifest_version = 2
[application]
name = "t"
[variables]
known = { default = "k" }
[[trigger.http]]
route = "/..."
component = "web"
[component.web]
source = "web.wasm"
[component.web.variables]
greeting = "hello {{ unknown }}"
"#;
        let m = manifest(text);
        let err = Variables::resolve(&m, &[], &no_env).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("`unknown`"), "{message}");
        assert!(message.contains("[component.web.variables]"), "{message}");
        assert!(message.contains("`greeting`"), "{message}");
    }

    #[test]
    fn variables_unterminated_template_in_component_variable_is_located() {
        let text = r#"
spin_manifest_version = 2
[application]
name = "t"
[variables]
host = { default = "example.com" }
[[trigger.http]]
route = "/..."
component = "web"
[component.web]
source = "web.wasm"
variables = { url = "https://{{ host" }
"#;
        let err = Variables::resolve(&manifest(text), &[], &no_env).unwrap_err();
        let message = err.to_string();
        assert!(message.contains("unmatched '{{' in template"), "{message}");
        assert!(
            message.contains("variable `url` in [component.web.variables]"),
            "{message}"
        );
    }

    #[test]
    fn variables_bad_allowed_host_after_expansion_is_located() {
        let manifest = real_manifest();
        let set = overrides(&[("webhook_origin", "http://127.0.0.1:8080/hook")]);
        let err = Variables::resolve(&manifest, &set, &no_env).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("has a path but is not allowed to"),
            "{message}"
        );
        assert!(message.contains("[component.notifier]"), "{message}");
    }

    #[test]
    fn variables_unknown_variable_in_channel_is_located() {
        let err = Variables::resolve(&manifest(SMALL), &overrides(&[("token", "t")]), &no_env)
            .unwrap_err();
        let message = err.to_string();
        assert!(message.contains("`channel_prefix`"), "{message}");
        assert!(
            message.contains("channel of [[trigger.redis]]"),
            "{message}"
        );
    }

    #[test]
    fn variables_expand_reports_template_errors() {
        let vars = Variables::resolve(&real_manifest(), &[], &no_env).unwrap();
        assert_eq!(
            vars.expand("{{bucket}}/{{ thumbnail_prefix }}").unwrap(),
            "thumbflow/thumbnails/"
        );
        let err = vars.expand("{{ nope }}").unwrap_err();
        assert!(err.to_string().contains("`nope`"), "{err}");
        let err = vars.expand("{{ bucket").unwrap_err();
        assert!(
            err.to_string().contains("unmatched '{{' in template"),
            "{err}"
        );
    }

    #[test]
    fn parse_variable_flag_splits_at_first_equals() {
        assert_eq!(
            parse_variable_flag("redis_address=redis://h:1").unwrap(),
            ("redis_address".to_owned(), "redis://h:1".to_owned())
        );
        assert_eq!(
            parse_variable_flag("recipes=a=1x1;b=2x2").unwrap(),
            ("recipes".to_owned(), "a=1x1;b=2x2".to_owned())
        );
        assert_eq!(
            parse_variable_flag("api_token=").unwrap(),
            ("api_token".to_owned(), String::new())
        );
    }

    #[test]
    fn parse_variable_flag_rejects_malformed_and_file_forms() {
        for flag in ["no_equals", "=value", "@vars.json", "secret=@secret.txt"] {
            let err = parse_variable_flag(flag).unwrap_err();
            assert!(
                matches!(&err, ManifestError::VariableFlag { flag: f, .. } if f == flag),
                "{flag}: {err:?}"
            );
            assert!(err.to_string().contains("--variable"), "{err}");
        }
    }
}

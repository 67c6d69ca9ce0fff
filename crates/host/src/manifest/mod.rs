//! `spin.toml`: the Spin application manifest (version 2), parsed and resolved
//! the way `spin up` does, for `thumbflow up`.
//!
//! - [`Manifest::from_file`] / [`Manifest::parse`]: read and validate the
//!   manifest (pure: no environment, no network); unknown fields and Spin
//!   features this host does not implement are errors naming them;
//! - [`Variables::resolve`]: application variables from `--variable`,
//!   `SPIN_VARIABLE_<NAME>` and defaults, then `{{ name }}` templates in trigger
//!   addresses, channels, `allowed_outbound_hosts` and component variables;
//! - [`AllowedHosts`]: a component's outbound network grants, checked per URL.
//!
//! Private parts: `schema` (the serde shape of the TOML), `template`
//! (`{{ name }}` parsing), `variables`, `allowed_hosts`, `routes` (Spin's
//! route syntax check) and `dependencies` (dependency names and conflicts).
//!
//! Loading refuses what Spin 4's loader and triggers refuse, with Spin's
//! wording, so a manifest mistake fails `cargo test` before it meets a real
//! Spin: notably every `allowed_outbound_hosts` template must be valid with
//! the variables' *default* values (Spin checks that before `--variable` or
//! `SPIN_VARIABLE_*` apply).

mod allowed_hosts;
mod dependencies;
mod routes;
mod schema;
mod template;
mod variables;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use allowed_hosts::AllowedHosts;
pub use variables::{parse_variable_flag, Variables};

use schema::{RawComponent, RawManifest, RawSource, VersionProbe};

use crate::spin::kv::DEFAULT_STORE;

/// A parsed and validated Spin manifest (version 2). Templates are kept raw:
/// [`Variables`] expands them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// `[application]`.
    pub application: Application,
    /// `[variables]`: the application variables, by name.
    pub variables: BTreeMap<String, Variable>,
    /// `[application.trigger.redis] address`, raw (may contain templates): the
    /// server of every `[[trigger.redis]]` that does not name its own.
    pub redis_address: Option<String>,
    /// `[[trigger.http]]`, in manifest order.
    pub http_triggers: Vec<HttpTrigger>,
    /// `[[trigger.redis]]`, in manifest order.
    pub redis_triggers: Vec<RedisTrigger>,
    /// `[component.<id>]`, by id.
    pub components: BTreeMap<String, Component>,
    /// The directory of `spin.toml`: relative paths in it are relative to this.
    pub base_dir: PathBuf,
}

/// `[application]`: what the application is called, for start-up output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Application {
    /// `name`.
    pub name: String,
    /// `version` (empty when absent).
    pub version: String,
    /// `description` (empty when absent).
    pub description: String,
}

/// One `[variables]` entry: an application variable's declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Variable {
    /// Value used when neither `--variable` nor the environment sets one.
    pub default: Option<String>,
    /// Whether start-up fails when no value is given (then there is no default).
    pub required: bool,
    /// Whether the value is sensitive and must not be logged.
    pub secret: bool,
    /// What the variable is for, for humans.
    pub description: Option<String>,
}

/// One `[[trigger.http]]`: requests on `route` go to `component`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpTrigger {
    /// Spin route syntax: `/exact`, `/prefix/...`, `/items/:id`.
    pub route: String,
    /// Id of the component that handles the requests (defined in the manifest).
    pub component: String,
}

/// One `[[trigger.redis]]`: messages on `channel` go to `component`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisTrigger {
    /// Channel to subscribe to, raw (may be a template).
    pub channel: String,
    /// This trigger's own server, raw; `None` means [`Manifest::redis_address`]
    /// (the manifest is rejected when both are missing).
    pub address: Option<String>,
    /// Id of the component that handles the messages (defined in the manifest).
    pub component: String,
}

impl RedisTrigger {
    /// How errors name this trigger.
    fn describe(&self) -> String {
        format!("[[trigger.redis]] of component `{}`", self.component)
    }
}

/// One `[component.<id>]`: a Wasm component and what it may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Component {
    /// The component id (the `<id>` of `[component.<id>]`), kebab-case.
    pub id: String,
    /// The `.wasm` file, resolved against [`Manifest::base_dir`].
    pub source: PathBuf,
    /// `description` (empty when absent).
    pub description: String,
    /// Key-value store labels the component may open (`default`, ...).
    pub key_value_stores: Vec<String>,
    /// `allowed_outbound_hosts`, raw templates: expand with [`Variables`], then
    /// parse with [`AllowedHosts::parse`] (or use [`Variables::allowed_hosts`]).
    pub allowed_outbound_hosts: Vec<String>,
    /// `[component.<id>.variables]`, raw templates: see
    /// [`Variables::component_variables`].
    pub variables: BTreeMap<String, String>,
    /// `[component.<id>.dependencies]`: imported interface (or package) name →
    /// the local `.wasm` that satisfies it, resolved against [`Manifest::base_dir`].
    pub dependencies: BTreeMap<String, PathBuf>,
}

/// Why a manifest cannot be run; each message names the field, variable or
/// component concerned and, where there is one, the fix.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The manifest file could not be read: check the path (`--manifest`).
    #[error("cannot read manifest {}: {source}", path.display())]
    Read {
        /// The path tried.
        path: PathBuf,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// The text is not valid TOML.
    #[error("invalid TOML at line {line}, column {column}: {message}")]
    Syntax {
        /// 1-based line of the error.
        line: usize,
        /// 1-based column of the error.
        column: usize,
        /// The TOML parser's message.
        message: String,
    },
    /// Valid TOML that is not a manifest this host understands: an unknown or
    /// missing field, a value of the wrong type, an invalid id.
    #[error("{message}")]
    Schema {
        /// What is wrong, where (table or key path, and line).
        message: String,
    },
    /// `spin_manifest_version` is missing or is not 2.
    #[error("{found}: thumbflow's host runs Spin manifests with `spin_manifest_version = 2`")]
    Version {
        /// What the manifest has instead.
        found: String,
    },
    /// A Spin feature this host does not implement; retrying will not help.
    #[error("{what} is not supported by thumbflow's host: {fix}")]
    Unsupported {
        /// The feature, naming the field and the table it is in.
        what: String,
        /// What to do instead.
        fix: String,
    },
    /// A `[variables]` entry is neither `required` nor has a `default`, or is both.
    #[error(
        "variable `{name}` in [variables] must be `required` OR have a `default`, not {problem}"
    )]
    VariableDeclaration {
        /// The variable.
        name: String,
        /// `"both"` or `"neither"`.
        problem: &'static str,
    },
    /// A trigger names a component that the manifest does not define.
    #[error(
        "component `{component}` referenced by [[trigger.{trigger}]] is not defined: add [component.{component}] or fix the name"
    )]
    UndefinedComponent {
        /// The missing component id.
        component: String,
        /// The trigger type (`http`, `redis`).
        trigger: &'static str,
    },
    /// A `[[trigger.redis]]` has no `address`, and the application sets no default.
    #[error(
        "[[trigger.redis]] of component `{component}` has no `address` and [application.trigger.redis] sets none: add `address = \"redis://host:port\"` to one of them"
    )]
    MissingRedisAddress {
        /// The trigger's component.
        component: String,
    },
    /// `required` variables that got no value.
    #[error("{}", required_message(.names))]
    RequiredVariables {
        /// The variables without a value.
        names: Vec<String>,
    },
    /// `--variable` names a variable that `[variables]` does not declare.
    #[error(
        "--variable `{name}`: no variable `{name}` is declared in [variables] (check the spelling)"
    )]
    UndeclaredOverride {
        /// The name given.
        name: String,
    },
    /// A `--variable` flag that is not `name=value`.
    #[error("invalid --variable {flag:?}: {reason}")]
    VariableFlag {
        /// The flag as given.
        flag: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A `{{ name }}` template names a variable that `[variables]` does not declare.
    #[error("template {template:?} refers to `{name}`, which is not declared in [variables]")]
    UnknownVariable {
        /// The undeclared name.
        name: String,
        /// The whole template.
        template: String,
    },
    /// A template has `{{` without a closing `}}`.
    #[error(
        "invalid variable template {template:?}: unmatched '{{{{' in template (close it with '}}}}')"
    )]
    UnterminatedTemplate {
        /// The whole template.
        template: String,
    },
    /// An `allowed_outbound_hosts` entry (literal, or after expansion) is
    /// malformed; the reason is Spin's message, which quotes the entry.
    #[error("{reason}")]
    AllowedHost {
        /// The entry.
        entry: String,
        /// What is wrong with it.
        reason: allowed_hosts::HostReason,
    },
    /// An `allowed_outbound_hosts` template is malformed once its variables take
    /// their `default` values: Spin refuses such a manifest at load time,
    /// before `--variable` or `SPIN_VARIABLE_*` can apply, so the default must
    /// be a valid host too.
    #[error(
        "using default variable value(s) with template {template:?} results in invalid config {resolved:?}: {reason}"
    )]
    DefaultAllowedHost {
        /// The template, as Spin prints it (`{{ name }}`).
        template: String,
        /// What it expands to with the defaults.
        resolved: String,
        /// Why that is not a valid entry (Spin's message).
        reason: allowed_hosts::HostReason,
    },
    /// A `key_value_stores` label other than `default`: Spin defines no other
    /// store without a runtime config file, and this host has none.
    #[error("unknown key_value_stores label {label:?} for component {component:?}")]
    UnknownStore {
        /// The label.
        label: String,
        /// The component that lists it.
        component: String,
    },
    /// `[trigger]` has no trigger at all: there would be nothing to run.
    #[error("No triggers in app: add a [[trigger.http]] or [[trigger.redis]]")]
    NoTriggers,
    /// A `[[trigger.http]]` route that Spin's router cannot parse.
    #[error("Error parsing route {route} associated with component {component}: {reason}")]
    Route {
        /// The route as Spin's router sees it (leading `/`, no trailing `/`,
        /// `/...` written `/*`).
        route: String,
        /// The trigger's component.
        component: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A `[component.<id>.dependencies]` key that is neither a kebab-case name
    /// nor a package name `namespace:package[/interface][@version]`.
    #[error("invalid dependency name {name:?} in [component.{component}.dependencies]: {reason}")]
    DependencyName {
        /// The key.
        name: String,
        /// The component.
        component: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Two dependencies of one component could satisfy the same import.
    #[error("component {component:?} has invalid dependencies: {reason}")]
    Dependencies {
        /// The component.
        component: String,
        /// Which dependencies conflict.
        reason: String,
    },
    /// An error, with where in the manifest it comes from.
    #[error("{context}: {inner}")]
    Context {
        /// The manifest file, table or field concerned.
        context: String,
        /// The error itself.
        inner: Box<ManifestError>,
    },
}

impl ManifestError {
    /// The error's layers, outermost first, in Spin's words, as Spin prints
    /// them one per line under "Caused by:" (a context, then what it wraps);
    /// where our message names more than Spin's (the variable), the layer is
    /// Spin's text alone. `tests/real_spin.rs` checks them against real Spin.
    pub fn layers(&self) -> Vec<String> {
        match self {
            Self::Context { context, inner } => {
                let mut layers = vec![context.clone()];
                layers.extend(inner.layers());
                layers
            }
            Self::DefaultAllowedHost {
                template,
                resolved,
                reason,
            } => {
                let mut layers = vec![format!(
                    "using default variable value(s) with template {template:?} results in invalid config {resolved:?}"
                )];
                layers.extend(reason.0.iter().cloned());
                layers
            }
            Self::AllowedHost { reason, .. } => reason.0.clone(),
            Self::VariableDeclaration { .. } => {
                vec!["must be `required` OR have a `default`".to_owned()]
            }
            other => vec![other.to_string()],
        }
    }

    /// Wraps this error with where it comes from.
    pub(crate) fn context(self, context: impl Into<String>) -> Self {
        Self::Context {
            context: context.into(),
            inner: Box::new(self),
        }
    }
}

/// The message of [`ManifestError::RequiredVariables`].
fn required_message(names: &[String]) -> String {
    let fixes = |name: &String| {
        format!(
            "--variable {name}=... or SPIN_VARIABLE_{}",
            name.to_ascii_uppercase()
        )
    };
    match names {
        [name] => format!(
            "variable `{name}` is required but has no value: set it with {}",
            fixes(name)
        ),
        _ => format!(
            "variables {} are required but have no value: set each with --variable name=... or SPIN_VARIABLE_<NAME>",
            names
                .iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

impl Manifest {
    /// Reads and parses the manifest at `path` (a `spin.toml`, or a directory
    /// containing one). Relative paths in it are resolved against its directory.
    pub fn from_file(path: &Path) -> Result<Self, ManifestError> {
        let path = if path.is_dir() {
            path.join("spin.toml")
        } else {
            path.to_owned()
        };
        let path = std::path::absolute(&path).unwrap_or(path);
        let text = std::fs::read_to_string(&path).map_err(|source| ManifestError::Read {
            path: path.clone(),
            source,
        })?;
        let base_dir = path.parent().unwrap_or(Path::new("")).to_owned();
        Self::parse(&text, &base_dir).map_err(|e| e.context(path.display().to_string()))
    }

    /// Parses manifest text; relative paths are resolved against `base_dir`.
    /// Nothing is read: `source` and dependency files are checked when loaded.
    pub fn parse(text: &str, base_dir: &Path) -> Result<Self, ManifestError> {
        check_version(text)?;
        let raw = deserialize(text)?;
        Self::from_raw(raw, base_dir)
    }

    /// Checks what serde cannot: Spin's cross-field rules and the features
    /// this host does not implement.
    fn from_raw(raw: RawManifest, base_dir: &Path) -> Result<Self, ManifestError> {
        let application = Application {
            name: raw.application.name,
            version: raw.application.version,
            description: raw.application.description,
        };

        let mut variables = BTreeMap::new();
        for (name, var) in raw.variables {
            let problem = match (var.required, var.default.is_some()) {
                (true, true) => Some("both"),
                (false, false) => Some("neither"),
                _ => None,
            };
            if let Some(problem) = problem {
                return Err(ManifestError::VariableDeclaration {
                    name: name.0,
                    problem,
                });
            }
            let variable = Variable {
                default: var.default,
                required: var.required,
                secret: var.secret,
                description: var.description,
            };
            variables.insert(name.0, variable);
        }

        let mut components = BTreeMap::new();
        for (id, raw_component) in raw.component {
            let component = component(id.0.clone(), raw_component, base_dir)?;
            allowed_hosts::validate_with_defaults(&component.allowed_outbound_hosts, &variables)
                .map_err(|e| {
                    e.context("`allowed_outbound_hosts` is malformed")
                        .context(format!("Failed to load component `{}`", id.0))
                })?;
            check_stores(&component)?;
            components.insert(id.0, component);
        }

        if raw.trigger.http.is_empty()
            && raw.trigger.redis.is_empty()
            && raw.trigger.unsupported.is_empty()
        {
            return Err(ManifestError::NoTriggers);
        }
        if let Some(kind) = raw.trigger.unsupported.first() {
            return Err(ManifestError::Unsupported {
                what: format!("trigger type `{kind}` ([[trigger.{kind}]])"),
                fix: "it runs `http` and `redis` triggers".to_owned(),
            });
        }
        let check_component = |component: &str, trigger: &'static str| {
            if components.contains_key(component) {
                Ok(())
            } else {
                Err(ManifestError::UndefinedComponent {
                    component: component.to_owned(),
                    trigger,
                })
            }
        };

        let mut http_triggers = Vec::new();
        for trigger in raw.trigger.http {
            if let Some(executor) = &trigger.executor {
                // Spin's default executor is `type = "http"`, alias `"spin"`.
                let is_spin = executor.len() == 1
                    && matches!(
                        executor.get("type").and_then(toml::Value::as_str),
                        Some("spin" | "http")
                    );
                if !is_spin {
                    let kind = executor.get("type").and_then(toml::Value::as_str);
                    return Err(ManifestError::Unsupported {
                        what: format!(
                            "`executor` (type `{}`) of [[trigger.http]] route `{}`",
                            kind.unwrap_or("?"),
                            trigger.route
                        ),
                        fix: "remove `executor` (components run as Spin HTTP handlers)".to_owned(),
                    });
                }
            }
            check_component(&trigger.component.0, "http")?;
            routes::check(&trigger.route, &trigger.component.0)?;
            http_triggers.push(HttpTrigger {
                route: trigger.route,
                component: trigger.component.0,
            });
        }

        let redis_address = raw.application.trigger.redis.map(|redis| redis.address);
        let mut redis_triggers = Vec::new();
        for trigger in raw.trigger.redis {
            check_component(&trigger.component.0, "redis")?;
            if trigger.address.is_none() && redis_address.is_none() {
                return Err(ManifestError::MissingRedisAddress {
                    component: trigger.component.0,
                });
            }
            redis_triggers.push(RedisTrigger {
                channel: trigger.channel,
                address: trigger.address,
                component: trigger.component.0,
            });
        }

        Ok(Self {
            application,
            variables,
            redis_address,
            http_triggers,
            redis_triggers,
            components,
            base_dir: base_dir.to_owned(),
        })
    }
}

/// Spin's key-value factor refuses, when the app starts, a store label
/// that no runtime config defines; without one only `default` exists (and
/// this host reads none), so the same labels are refused here, at load.
fn check_stores(component: &Component) -> Result<(), ManifestError> {
    if let Some(label) = component
        .key_value_stores
        .iter()
        .find(|label| *label != DEFAULT_STORE)
    {
        return Err(ManifestError::UnknownStore {
            label: label.clone(),
            component: component.id.clone(),
        });
    }
    Ok(())
}

/// Builds a [`Component`], rejecting the fields this host does not implement.
fn component(id: String, raw: RawComponent, base_dir: &Path) -> Result<Component, ManifestError> {
    let table = format!("[component.{id}]");
    let unsupported = |what: &str, fix: &str| ManifestError::Unsupported {
        what: format!("{what} in {table}"),
        fix: fix.to_owned(),
    };
    if !raw.environment.is_empty() {
        return Err(unsupported(
            "`environment`",
            "remove it, and pass configuration as component `variables`",
        ));
    }
    if !raw.files.is_empty() || !raw.exclude_files.is_empty() {
        let field = if raw.files.is_empty() {
            "`exclude_files`"
        } else {
            "`files`"
        };
        return Err(unsupported(
            field,
            "remove it; components get no files (use key-value storage)",
        ));
    }
    if !raw.allowed_http_hosts.is_empty() {
        return Err(unsupported(
            "`allowed_http_hosts`",
            "it is deprecated by Spin: use `allowed_outbound_hosts = [\"https://host\"]`",
        ));
    }
    if !raw.sqlite_databases.is_empty() {
        return Err(unsupported("`sqlite_databases`", "remove it"));
    }
    if !raw.ai_models.is_empty() {
        return Err(unsupported("`ai_models`", "remove it"));
    }
    if raw.dependencies_inherit_configuration {
        return Err(unsupported(
            "`dependencies_inherit_configuration = true`",
            "remove it",
        ));
    }
    let source = match raw.source {
        RawSource::Local(path) => base_dir.join(path),
        RawSource::Remote(table) => {
            let keys: Vec<&str> = table.keys().map(String::as_str).collect();
            return Err(unsupported(
                &format!("a URL or registry `source` (`{}`)", keys.join("`, `")),
                "build the component and give its path, `source = \"path/to/component.wasm\"`",
            ));
        }
    };
    dependencies::check_names(&id, raw.dependencies.keys())?;
    let mut dependencies = BTreeMap::new();
    for (name, dependency) in raw.dependencies {
        let path = local_dependency(&dependency).ok_or_else(|| ManifestError::Unsupported {
            what: format!("dependency `{name}` in [component.{id}.dependencies]"),
            fix: "only local path dependencies are supported: `{ path = \"path/to/dependency.wasm\" }`"
                .to_owned(),
        })?;
        dependencies.insert(name, base_dir.join(path));
    }
    Ok(Component {
        id,
        source,
        description: raw.description,
        key_value_stores: raw.key_value_stores.into_iter().map(|l| l.0).collect(),
        allowed_outbound_hosts: raw.allowed_outbound_hosts,
        variables: raw
            .variables
            .into_iter()
            .map(|(name, value)| (name.0, value))
            .collect(),
        dependencies,
    })
}

/// The path of a `{ path = "..." }` dependency; `None` for any other form
/// (a version, a registry package, a URL, an app component, `export`, ...).
fn local_dependency(dependency: &toml::Value) -> Option<&str> {
    let table = dependency.as_table()?;
    if table.len() != 1 {
        return None;
    }
    table.get("path")?.as_str()
}

/// Rejects anything but `spin_manifest_version = 2`, before the strict parse
/// (whose errors would be confusing for a version 1 manifest).
fn check_version(text: &str) -> Result<(), ManifestError> {
    let probe: VersionProbe = toml::from_str(text).map_err(|e| syntax_error(text, &e))?;
    match probe.spin_manifest_version {
        Some(toml::Value::Integer(2)) => Ok(()),
        Some(other) => Err(ManifestError::Version {
            found: format!("`spin_manifest_version = {other}`"),
        }),
        None if probe.spin_version.is_some() => Err(ManifestError::Version {
            found: "this is a Spin manifest version 1 (`spin_version`)".to_owned(),
        }),
        None => Err(ManifestError::Version {
            found: "`spin_manifest_version` is missing".to_owned(),
        }),
    }
}

/// Deserializes the strict schema, turning errors into messages that name the
/// table and key (the TOML error alone only shows the line).
fn deserialize(text: &str) -> Result<RawManifest, ManifestError> {
    let deserializer = toml::Deserializer::parse(text).map_err(|e| syntax_error(text, &e))?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let path = e.path().clone();
        schema_error(text, &path, &e.into_inner())
    })
}

/// 1-based line and column of byte `offset` in `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

fn syntax_error(text: &str, error: &toml::de::Error) -> ManifestError {
    let (line, column) = error
        .span()
        .map_or((1, 1), |span| line_column(text, span.start));
    ManifestError::Syntax {
        line,
        column,
        message: error.message().trim_end().to_owned(),
    }
}

fn schema_error(
    text: &str,
    path: &serde_path_to_error::Path,
    error: &toml::de::Error,
) -> ManifestError {
    let segments: Vec<&serde_path_to_error::Segment> = path.iter().collect();
    let line = error
        .span()
        .map(|span| format!(" (line {})", line_column(text, span.start).0))
        .unwrap_or_default();
    let message = error.message().trim_end();
    let message = if message.starts_with("missing field") {
        format!("{message} in {}{line}", table_name(&segments))
    } else if let Some(rest) = message.strip_prefix("unknown field `") {
        // "unknown field `foo`, expected ..." → "unknown field `foo` in [t], expected ..."
        let (field, expected) = rest.split_once('`').unwrap_or((rest, ""));
        let parent = segments.split_last().map_or(&[][..], |(_, parent)| parent);
        format!(
            "unknown field `{field}` in {}{line}{expected}",
            table_name(parent)
        )
    } else if segments.is_empty() {
        format!("{message}{line}")
    } else {
        format!("{message}, at `{}`{line}", dotted(&segments))
    };
    ManifestError::Schema { message }
}

/// `[component.gateway]`, `[[trigger.redis]] #2`, or "the top level".
fn table_name(segments: &[&serde_path_to_error::Segment]) -> String {
    use serde_path_to_error::Segment;
    match segments.split_last() {
        None => "the top level".to_owned(),
        Some((Segment::Seq { index }, parent)) => {
            format!("[[{}]] #{}", dotted(parent), index + 1)
        }
        Some(_) => format!("[{}]", dotted(segments)),
    }
}

/// `component.gateway.variables`, `trigger.redis[1].channel`; keys that are
/// not bare TOML keys are quoted.
fn dotted(segments: &[&serde_path_to_error::Segment]) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in segments {
        match segment {
            Segment::Map { key } => {
                if !out.is_empty() {
                    out.push('.');
                }
                let bare = !key.is_empty()
                    && key
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                if bare {
                    out.push_str(key);
                } else {
                    out.push_str(&format!("{key:?}"));
                }
            }
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    out
}

#[cfg(test)]
mod tests;

//! Parsing and validating manifests: the repository's real `spin.toml`, the
//! Spin fields this host accepts or ignores, and every rejection's message.

use std::path::Path;

use super::*;

/// The repository's own manifest, the one `thumbflow up` and Spin run.
const SPIN_TOML: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../spin.toml");

/// A valid manifest with one HTTP and one Redis trigger; tests edit it.
const BASE: &str = r#"spin_manifest_version = 2

[application]
name = "app"

[application.trigger.redis]
address = "{{ redis_address }}"

[variables]
redis_address = { default = "redis://127.0.0.1:6379" }

[[trigger.http]]
route = "/..."
component = "web"

[[trigger.redis]]
channel = "events"
component = "worker"

[component.web]
source = "web.wasm"

[component.worker]
source = "worker.wasm"
"#;

fn parse(text: &str) -> Result<Manifest, ManifestError> {
    Manifest::parse(text, Path::new("/app"))
}

/// The error message of parsing `text`, which must fail.
fn error(text: &str) -> String {
    match parse(text) {
        Ok(m) => panic!("expected an error, parsed {m:?}"),
        Err(e) => e.to_string(),
    }
}

fn assert_contains(message: &str, parts: &[&str]) {
    for part in parts {
        assert!(message.contains(part), "{part:?} not in: {message}");
    }
}

#[test]
fn manifest_real_spin_toml_parses() {
    let m = Manifest::from_file(Path::new(SPIN_TOML)).unwrap();
    assert_eq!(m.application.name, "thumbflow");
    assert_eq!(m.application.version, "0.1.0");
    assert!(m.application.description.contains("thumbnailer"));
    assert_eq!(m.redis_address.as_deref(), Some("{{ redis_address }}"));
    assert_eq!(m.variables.len(), 24);
    assert_eq!(
        m.variables["s3_endpoint"].default.as_deref(),
        Some("http://s3.invalid")
    );
    assert!(m.variables["s3_secret_access_key"].secret);
    assert_eq!(
        m.variables["max_decode_bytes"].default.as_deref(),
        Some("402653184")
    );
    assert_eq!(
        m.variables["redis_address"].default.as_deref(),
        Some("redis://127.0.0.1:6379")
    );
    assert!(m.variables["api_token"].secret && !m.variables["api_token"].required);
    assert!(m.variables["webhook_origin"].description.is_some());

    assert_eq!(
        m.http_triggers,
        [
            HttpTrigger {
                route: "/...".to_owned(),
                component: "gateway".to_owned()
            },
            HttpTrigger {
                route: "/render".to_owned(),
                component: "render-http".to_owned()
            }
        ]
    );
    let redis: Vec<(&str, &str)> = m
        .redis_triggers
        .iter()
        .map(|t| (t.channel.as_str(), t.component.as_str()))
        .collect();
    assert_eq!(
        redis,
        [
            ("{{ raw_channel }}", "normalizer"),
            ("{{ images_channel }}", "thumbnailer"),
            ("{{ thumbnails_channel }}", "notifier"),
        ]
    );
    assert!(m.redis_triggers.iter().all(|t| t.address.is_none()));

    let ids: Vec<&str> = m.components.keys().map(String::as_str).collect();
    assert_eq!(
        ids,
        [
            "gateway",
            "normalizer",
            "notifier",
            "render-http",
            "thumbnailer"
        ]
    );
    // render-http is composed at build time and uses nothing from the host.
    let render = &m.components["render-http"];
    assert!(render.dependencies.is_empty() && render.variables.is_empty());
    assert!(render.key_value_stores.is_empty() && render.allowed_outbound_hosts.is_empty());
    let root = Path::new(SPIN_TOML).parent().unwrap();
    assert!(m.base_dir.is_absolute());
    assert_eq!(
        std::fs::canonicalize(&m.base_dir).unwrap(),
        std::fs::canonicalize(root).unwrap()
    );
    let gateway = &m.components["gateway"];
    assert_eq!(gateway.id, "gateway");
    assert_eq!(
        gateway.source,
        m.base_dir.join("target/wasm32-wasip2/release/gateway.wasm")
    );
    assert_eq!(gateway.key_value_stores, ["default"]);
    assert_eq!(
        gateway.allowed_outbound_hosts,
        ["{{ redis_address }}", "{{ s3_endpoint }}"]
    );
    assert_eq!(gateway.variables["bucket"], "{{ bucket }}");
    assert!(gateway.dependencies.is_empty());
    assert!(gateway.description.starts_with("HTTP gateway"));
    let normalizer = &m.components["normalizer"];
    assert_eq!(
        normalizer.dependencies["thumbflow:pipeline/normalize@0.1.0"],
        m.base_dir
            .join("target/wasm32-wasip2/release/normalizer_core.wasm")
    );
    assert_eq!(
        m.components["notifier"].allowed_outbound_hosts,
        ["{{ redis_address }}", "{{ webhook_origin }}"]
    );
}

#[test]
fn manifest_from_file_accepts_the_directory() {
    let dir = Path::new(SPIN_TOML).parent().unwrap();
    let m = Manifest::from_file(dir).unwrap();
    assert_eq!(m.application.name, "thumbflow");
}

#[test]
fn manifest_from_file_missing_names_the_path() {
    let err = Manifest::from_file(Path::new("/nonexistent/thumbflow/spin.toml")).unwrap_err();
    assert!(matches!(err, ManifestError::Read { .. }), "{err:?}");
    assert_contains(&err.to_string(), &["/nonexistent/thumbflow/spin.toml"]);
}

#[test]
fn manifest_base_parses_and_resolves_paths() {
    let m = parse(BASE).unwrap();
    assert_eq!(m.base_dir, Path::new("/app"));
    assert_eq!(m.components["web"].source, Path::new("/app/web.wasm"));
    assert_eq!(m.application.version, "");
    let absolute = BASE.replace("\"web.wasm\"", "\"/opt/web.wasm\"");
    assert_eq!(
        parse(&absolute).unwrap().components["web"].source,
        Path::new("/opt/web.wasm")
    );
}

#[test]
fn manifest_accepts_fields_spin_ignores_at_run_time() {
    let text = BASE
        .replace(
            "name = \"app\"",
            "name = \"app\"\nversion = \"1.2.3\"\nauthors = [\"a@example.com\"]\ndescription = \"d\"\ntargets = [\"spin-up:3.3\"]\n[application.tool.lint]\nlevel = \"x\"",
        )
        .replace(
            "source = \"web.wasm\"",
            r#"source = "web.wasm"
description = "the web part"
environment = {}
files = []
exclude_files = []
targets = ["spin-up:3.3"]
[component.web.build]
command = ["cargo build", "echo done"]
workdir = "web"
watch = ["src/**/*.rs"]
[component.web.tool.other]
x = 1
[component.web.profile.debug]
source = "debug.wasm""#,
        )
        .replace(
            "redis_address = { default",
            "redis_address = { description = \"the server\", secret = false, required = false, default",
        );
    let m = parse(&text).unwrap();
    assert_eq!(m.application.version, "1.2.3");
    assert_eq!(m.application.description, "d");
    assert_eq!(m.components["web"].description, "the web part");
    assert_eq!(m.components["web"].source, Path::new("/app/web.wasm"));
    assert_eq!(
        m.variables["redis_address"].description.as_deref(),
        Some("the server")
    );
}

#[test]
fn manifest_unknown_field_is_named_with_its_table() {
    let message = error(&BASE.replace("source = \"web.wasm\"", "source = \"web.wasm\"\nfoo = 1"));
    assert_contains(
        &message,
        &[
            "unknown field `foo` in [component.web]",
            "line 22",
            "expected one of",
        ],
    );

    let message = error(&format!("{BASE}\nbar = 2\n"));
    // A key after [component.worker] belongs to that table.
    assert_contains(&message, &["unknown field `bar` in [component.worker]"]);

    let message = error(&BASE.replace("name = \"app\"", "name = \"app\"\nnmae = \"x\""));
    assert_contains(&message, &["unknown field `nmae` in [application]"]);

    let message = error(&BASE.replace("[application]", "bogus = 1\n[application]"));
    assert_contains(&message, &["unknown field `bogus` in the top level"]);

    let message = error(&BASE.replace(
        "channel = \"events\"",
        "channel = \"events\"\nchanel = \"typo\"",
    ));
    assert_contains(
        &message,
        &["unknown field `chanel` in [[trigger.redis]] #1"],
    );

    let message = error(&BASE.replace(
        "source = \"web.wasm\"",
        "source = \"web.wasm\"\n[component.web.build]\ncommand = \"make\"\ncmd = \"x\"",
    ));
    assert_contains(&message, &["unknown field `cmd` in [component.web.build]"]);

    let message = error(&BASE.replace(
        "{ default = \"redis://127.0.0.1:6379\" }",
        "{ default = \"redis://127.0.0.1:6379\", secrett = true }",
    ));
    assert_contains(
        &message,
        &["unknown field `secrett` in [variables.redis_address]"],
    );

    let message = error(&BASE.replace(
        "address = \"{{ redis_address }}\"",
        "address = \"{{ redis_address }}\"\n[application.trigger.http]\nbase = \"/\"",
    ));
    assert_contains(&message, &["unknown field `http` in [application.trigger]"]);
}

#[test]
fn manifest_wrong_type_and_missing_field_name_the_key() {
    let message = error(&BASE.replace(
        "source = \"web.wasm\"",
        "source = \"web.wasm\"\nkey_value_stores = \"default\"",
    ));
    assert_contains(&message, &["`component.web.key_value_stores`", "line 22"]);

    let message = error(&BASE.replace(
        "source = \"web.wasm\"",
        "source = \"web.wasm\"\nvariables = { n = 1 }",
    ));
    assert_contains(&message, &["invalid type", "`component.web.variables.n`"]);

    let message = error(&BASE.replace("source = \"worker.wasm\"", "description = \"no source\""));
    assert_contains(&message, &["missing field `source` in [component.worker]"]);

    let message = error(&BASE.replace("route = \"/...\"\n", ""));
    assert_contains(&message, &["missing field `route` in [[trigger.http]] #1"]);

    let message = error(&BASE.replace("name = \"app\"\n", ""));
    assert_contains(&message, &["missing field `name` in [application]"]);

    let no_triggers: String = BASE
        .lines()
        .filter(|l| {
            !l.contains("trigger.")
                && !l.starts_with("route")
                && !l.starts_with("channel")
                && !l.starts_with("component =")
        })
        .collect::<Vec<_>>()
        .join("\n");
    let message = error(&no_triggers.replace("address = \"{{ redis_address }}\"", ""));
    assert_contains(&message, &["missing field `trigger`"]);
}

#[test]
fn manifest_unknown_trigger_type_is_named() {
    let text =
        format!("{BASE}\n[[trigger.cron]]\ncron_expression = \"* * * * *\"\ncomponent = \"web\"\n");
    let err = parse(&text).unwrap_err();
    assert!(matches!(err, ManifestError::Unsupported { .. }), "{err:?}");
    assert_contains(
        &err.to_string(),
        &["trigger type `cron`", "not supported by thumbflow's host"],
    );
}

#[test]
fn manifest_missing_component_is_named() {
    let err = parse(&BASE.replace("component = \"worker\"", "component = \"wroker\"")).unwrap_err();
    assert!(
        matches!(&err, ManifestError::UndefinedComponent { component, trigger: "redis" } if component == "wroker"),
        "{err:?}"
    );
    assert_contains(
        &err.to_string(),
        &["component `wroker` referenced by [[trigger.redis]] is not defined"],
    );
    let message = error(&BASE.replace("component = \"web\"", "component = \"api\""));
    assert_contains(
        &message,
        &["component `api` referenced by [[trigger.http]] is not defined"],
    );
}

#[test]
fn manifest_version_must_be_2() {
    for (text, expected) in [
        (
            BASE.replace("spin_manifest_version = 2", "spin_manifest_version = 3"),
            "`spin_manifest_version = 3`",
        ),
        (
            BASE.replace("spin_manifest_version = 2", "spin_manifest_version = \"2\""),
            "`spin_manifest_version = \"2\"`",
        ),
        (
            BASE.replace("spin_manifest_version = 2", ""),
            "`spin_manifest_version` is missing",
        ),
        (
            BASE.replace("spin_manifest_version = 2", "spin_version = \"1\""),
            "version 1",
        ),
        (String::new(), "`spin_manifest_version` is missing"),
    ] {
        let err = parse(&text).unwrap_err();
        assert!(matches!(err, ManifestError::Version { .. }), "{err:?}");
        assert_contains(&err.to_string(), &[expected, "`spin_manifest_version = 2`"]);
    }
}

#[test]
fn manifest_toml_syntax_error_has_line_and_column() {
    let err = parse(&BASE.replace("[component.web]", "[component.web")).unwrap_err();
    match &err {
        ManifestError::Syntax { line, column, .. } => assert_eq!((*line, *column), (20, 15)),
        other => panic!("expected a syntax error, got {other:?}"),
    }
    assert_contains(&err.to_string(), &["invalid TOML at line 20"]);
}

#[test]
fn manifest_environment_and_files_only_if_empty() {
    let message = error(&BASE.replace(
        "source = \"web.wasm\"",
        "source = \"web.wasm\"\nenvironment = { RUST_LOG = \"debug\" }",
    ));
    assert_contains(
        &message,
        &["`environment` in [component.web] is not supported by thumbflow's host"],
    );
    let message = error(&BASE.replace(
        "source = \"web.wasm\"",
        "source = \"web.wasm\"\nfiles = [{ source = \"assets\", destination = \"/\" }]",
    ));
    assert_contains(&message, &["`files` in [component.web] is not supported"]);
    let message = error(&BASE.replace(
        "source = \"web.wasm\"",
        "source = \"web.wasm\"\nexclude_files = [\"secret/*\"]",
    ));
    assert_contains(&message, &["`exclude_files` in [component.web]"]);
    for field in [
        "sqlite_databases = [\"default\"]",
        "ai_models = [\"llama2-chat\"]",
        "allowed_http_hosts = [\"example.com\"]",
        "dependencies_inherit_configuration = true",
    ] {
        let name = field.split(' ').next().unwrap();
        let message = error(&BASE.replace(
            "source = \"web.wasm\"",
            &format!("source = \"web.wasm\"\n{field}"),
        ));
        assert_contains(
            &message,
            &[&format!("`{name}"), "not supported by thumbflow's host"],
        );
    }
}

#[test]
fn manifest_only_local_sources_and_path_dependencies() {
    let message = error(&BASE.replace(
        "source = \"web.wasm\"",
        "source = { url = \"https://example.com/web.wasm\", digest = \"sha256:00\" }",
    ));
    assert_contains(&message, &["`source`", "[component.web]", "not supported"]);

    for dependency in [
        "\"x:y/z@0.1.0\" = \">= 0.1.0\"",
        "\"x:y/z@0.1.0\" = { version = \"0.1.0\", registry = \"example.com\" }",
        "\"x:y/z@0.1.0\" = { url = \"https://example.com/d.wasm\", digest = \"sha256:00\" }",
        "\"x:y/z@0.1.0\" = { component = \"worker\" }",
        "\"x:y/z@0.1.0\" = { path = \"d.wasm\", export = \"x:y/w\" }",
        "\"x:y/z@0.1.0\" = { path = 3 }",
    ] {
        let err = parse(&BASE.replace(
            "source = \"web.wasm\"",
            &format!("source = \"web.wasm\"\n[component.web.dependencies]\n{dependency}"),
        ))
        .unwrap_err();
        assert_contains(
            &err.to_string(),
            &[
                "dependency `x:y/z@0.1.0` in [component.web.dependencies]",
                "only local path dependencies are supported",
            ],
        );
    }
    let m = parse(&BASE.replace(
        "source = \"web.wasm\"",
        "source = \"web.wasm\"\ndependencies = { \"x:y/z@0.1.0\" = { path = \"deps/d.wasm\" } }",
    ))
    .unwrap();
    assert_eq!(
        m.components["web"].dependencies["x:y/z@0.1.0"],
        Path::new("/app/deps/d.wasm")
    );
}

#[test]
fn manifest_ids_follow_spin_rules() {
    let message = error(&BASE.replace("[component.web]", "[component.web_app]"));
    assert_contains(
        &message,
        &[
            "component id `web_app` is not valid kebab-case",
            "'-', not '_'",
            "line 20",
        ],
    );
    let message = error(&BASE.replace("component = \"web\"", "component = \"1-2-3\""));
    assert_contains(&message, &["component id `1-2-3`", "line 14"]);
    let message = error(&BASE.replace("redis_address = {", "Redis_Address = {"));
    assert_contains(
        &message,
        &["variable name `Redis_Address` is not valid lower snake_case"],
    );
    let message = error(&BASE.replace(
        "source = \"web.wasm\"",
        "source = \"web.wasm\"\nvariables = { \"bad-name\" = \"x\" }",
    ));
    assert_contains(&message, &["variable name `bad-name`"]);
    let message = error(&BASE.replace(
        "source = \"web.wasm\"",
        "source = \"web.wasm\"\nkey_value_stores = [\"default\", \"my store\"]",
    ));
    assert_contains(&message, &["key-value store label `my store`"]);
    // Well-formed labels pass the syntax check (and then meet the store check:
    // only `default` exists without a runtime config).
    for label in ["my-store", "other_store"] {
        let message = error(&BASE.replace(
            "source = \"web.wasm\"",
            &format!("source = \"web.wasm\"\nkey_value_stores = [\"default\", \"{label}\"]"),
        ));
        assert_contains(
            &message,
            &[&format!("unknown key_value_stores label \"{label}\"")],
        );
    }
}

#[test]
fn manifest_variable_needs_required_xor_default() {
    let message = error(&BASE.replace("[variables]", "[variables]\ntoken = { secret = true }"));
    assert_contains(
        &message,
        &[
            "variable `token`",
            "must be `required` OR have a `default`",
            "not neither",
        ],
    );
    let message = error(&BASE.replace(
        "[variables]",
        "[variables]\ntoken = { required = true, default = \"x\" }",
    ));
    assert_contains(&message, &["variable `token`", "not both"]);
    let m =
        parse(&BASE.replace("[variables]", "[variables]\ntoken = { required = true }")).unwrap();
    assert!(m.variables["token"].required && m.variables["token"].default.is_none());
}

#[test]
fn manifest_redis_trigger_needs_an_address() {
    let without_default = BASE.replace(
        "[application.trigger.redis]\naddress = \"{{ redis_address }}\"\n",
        "",
    );
    let err = parse(&without_default).unwrap_err();
    assert!(
        matches!(err, ManifestError::MissingRedisAddress { .. }),
        "{err:?}"
    );
    assert_contains(
        &err.to_string(),
        &["component `worker`", "[application.trigger.redis]"],
    );

    let own = without_default.replace(
        "channel = \"events\"",
        "channel = \"events\"\naddress = \"redis://10.0.0.5:6379\"",
    );
    let m = parse(&own).unwrap();
    assert_eq!(m.redis_address, None);
    assert_eq!(
        m.redis_triggers[0].address.as_deref(),
        Some("redis://10.0.0.5:6379")
    );
    let vars = Variables::resolve(&m, &[], &|_| None).unwrap();
    assert_eq!(
        vars.redis_address(&m, &m.redis_triggers[0]).unwrap(),
        "redis://10.0.0.5:6379"
    );
}

#[test]
fn manifest_http_executor_only_spin() {
    let spin = BASE.replace(
        "route = \"/...\"",
        "route = \"/...\"\nexecutor = { type = \"spin\" }",
    );
    assert_eq!(parse(&spin).unwrap().http_triggers.len(), 1);
    let wagi = BASE.replace(
        "route = \"/...\"",
        "route = \"/...\"\nexecutor = { type = \"wagi\", argv = \"x\" }",
    );
    assert_contains(
        &error(&wagi),
        &["`executor` (type `wagi`)", "route `/...`", "not supported"],
    );
}

#[test]
fn manifest_error_context_is_prefixed() {
    let err = ManifestError::UnterminatedTemplate {
        template: "{{ x".to_owned(),
    }
    .context("channel of [[trigger.redis]]");
    assert_eq!(
        err.to_string(),
        "channel of [[trigger.redis]]: invalid variable template \"{{ x\": unmatched '{{' in template (close it with '}}')"
    );
}

#[test]
fn manifest_bad_source_and_build_command_types_are_located() {
    let message = error(&BASE.replace("source = \"web.wasm\"", "source = 3"));
    assert_contains(
        &message,
        &["invalid `source` 3", "`component.web.source`", "line 21"],
    );
    let message = error(&BASE.replace(
        "source = \"web.wasm\"",
        "source = \"web.wasm\"\n[component.web.build]\ncommand = [\"make\", 1]",
    ));
    assert_contains(
        &message,
        &["invalid build `command`", "`component.web.build.command`"],
    );
}

/// `text` with the `default` of `[variables]` entry `name` replaced by `value`.
fn with_default(text: &str, name: &str, value: &str) -> String {
    let prefix = format!("{name} = {{ default = \"");
    let mut found = false;
    let lines: Vec<String> = text
        .lines()
        .map(|line| match line.strip_prefix(&prefix) {
            Some(rest) => {
                let (_, after) = rest.split_once('"').expect("closing quote of the default");
                found = true;
                format!("{prefix}{value}\"{after}")
            }
            None => line.to_owned(),
        })
        .collect();
    assert!(found, "no `{name} = {{ default = \"...\"` line");
    lines.join("\n")
}

fn spin_toml() -> String {
    std::fs::read_to_string(SPIN_TOML).unwrap()
}

#[test]
fn manifest_old_empty_webhook_origin_is_refused_like_spin() {
    // spin.toml before the fix: real Spin 4.0.2 refused it at load time.
    let old = with_default(&spin_toml(), "webhook_origin", "");
    assert!(old.contains("webhook_origin = { default = \"\","));
    let err = parse(&old).unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with(
            "Failed to load component `notifier`: `allowed_outbound_hosts` is malformed: using default variable value(s) with template \"{{ webhook_origin }}\" results in invalid config \"\""
        ),
        "{message}"
    );
    // The same layers as Spin's error chain.
    let ManifestError::Context { context, inner } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(context, "Failed to load component `notifier`");
    let ManifestError::Context { context, inner } = inner.as_ref() else {
        panic!("{inner:?}");
    };
    assert_eq!(context, "`allowed_outbound_hosts` is malformed");
    assert!(
        matches!(inner.as_ref(), ManifestError::DefaultAllowedHost { template, resolved, .. }
            if template == "{{ webhook_origin }}" && resolved.is_empty()),
        "{inner:?}"
    );
}

#[test]
fn manifest_real_spin_toml_loads_with_every_default() {
    let m = Manifest::from_file(Path::new(SPIN_TOML)).unwrap();
    assert!(m.variables.values().all(|v| v.default.is_some()));
    let vars = Variables::resolve(&m, &[], &|_| None).unwrap();
    for component in m.components.values() {
        let hosts = vars.allowed_hosts(component).unwrap();
        // render-http reaches nothing; every other component is granted its hosts.
        assert_eq!(
            hosts.is_empty(),
            component.id == "render-http",
            "{}",
            component.id
        );
    }
}

/// deploy/http-only/spin.toml: HTTP triggers only, no Redis address, the
/// gateway already composed with all three engines (no dependencies: Spin
/// composes one per WIT package), paths relative to its folder.
#[test]
fn manifest_http_only_app_loads_without_redis() {
    let path = Path::new(SPIN_TOML).with_file_name("deploy/http-only/spin.toml");
    let m = Manifest::from_file(&path).unwrap();
    assert_eq!(m.redis_address, None);
    assert!(m.redis_triggers.is_empty());
    let routes: Vec<(&str, &str)> = m
        .http_triggers
        .iter()
        .map(|t| (t.route.as_str(), t.component.as_str()))
        .collect();
    assert_eq!(routes, [("/...", "gateway"), ("/render", "render-http")]);
    let gateway = &m.components["gateway"];
    assert!(gateway.dependencies.is_empty());
    assert_eq!(
        gateway.source,
        m.base_dir
            .join("../../target/wasm32-wasip2/release/gateway_inline.wasm")
    );
    let vars = Variables::resolve(&m, &[], &|_| None).unwrap();
    let hosts = vars.allowed_hosts(gateway).unwrap();
    assert!(!hosts.is_empty());
}

#[test]
fn manifest_allowed_hosts_default_that_is_not_a_host_is_refused() {
    let text = BASE
        .replace(
            "[variables]",
            "[variables]\nhook = { default = \"http://127.0.0.1:8080/hook\" }",
        )
        .replace(
            "source = \"web.wasm\"",
            "source = \"web.wasm\"\nallowed_outbound_hosts = [\"{{hook}}\"]",
        );
    assert_eq!(
        error(&text),
        "Failed to load component `web`: `allowed_outbound_hosts` is malformed: using default variable value(s) with template \"{{ hook }}\" results in invalid config \"http://127.0.0.1:8080/hook\": \"http://127.0.0.1:8080/hook\" has a path but is not allowed to"
    );
}

#[test]
fn manifest_allowed_hosts_literal_entry_is_checked_at_load() {
    let message = error(&BASE.replace(
        "source = \"worker.wasm\"",
        "source = \"worker.wasm\"\nallowed_outbound_hosts = [\"redis://127.0.0.1:6379\", \"example.com\"]",
    ));
    assert_eq!(
        message,
        "Failed to load component `worker`: `allowed_outbound_hosts` is malformed: \"example.com\" does not contain a scheme (e.g., 'http://' or '*://')\nLearn more: https://spinframework.dev/v3/http-outbound#granting-http-permissions-to-components"
    );
    let message = error(&BASE.replace(
        "source = \"worker.wasm\"",
        "source = \"worker.wasm\"\nallowed_outbound_hosts = [\"insecure:allow-all\"]",
    ));
    assert_contains(
        &message,
        &[
            "Failed to load component `worker`: `allowed_outbound_hosts` is malformed: 'insecure:allow-all' is not allowed",
        ],
    );
}

#[test]
fn manifest_allowed_hosts_unmatched_braces_are_refused_at_load() {
    let message = error(&BASE.replace(
        "source = \"web.wasm\"",
        "source = \"web.wasm\"\nallowed_outbound_hosts = [\"https://{{ redis_address\"]",
    ));
    assert_contains(
        &message,
        &[
            "Failed to load component `web`: `allowed_outbound_hosts` is malformed: ",
            "unmatched '{{' in template",
        ],
    );
}

#[test]
fn manifest_allowed_hosts_with_required_variable_is_checked_at_start_up() {
    // Spin cannot resolve a variable without a default at load time, so it
    // does not check the entry then; a bad value still fails at start-up.
    let text = BASE
        .replace("[variables]", "[variables]\norigin = { required = true }")
        .replace(
            "source = \"web.wasm\"",
            "source = \"web.wasm\"\nallowed_outbound_hosts = [\"{{ origin }}\"]",
        );
    let m = parse(&text).unwrap();
    let err = Variables::resolve(&m, &[], &|_| None).unwrap_err();
    assert!(
        matches!(&err, ManifestError::RequiredVariables { names } if names == &["origin"]),
        "{err:?}"
    );
    let set = [("origin".to_owned(), "example.com".to_owned())];
    let message = Variables::resolve(&m, &set, &|_| None)
        .unwrap_err()
        .to_string();
    assert_contains(
        &message,
        &[
            "allowed_outbound_hosts of [component.web]",
            "\"example.com\" does not contain a scheme",
        ],
    );
    let set = [("origin".to_owned(), "https://example.com".to_owned())];
    let vars = Variables::resolve(&m, &set, &|_| None).unwrap();
    assert!(vars
        .allowed_hosts(&m.components["web"])
        .unwrap()
        .allows("https://example.com/x"));
}

#[test]
fn manifest_unknown_key_value_store_is_refused() {
    let message = error(&BASE.replace(
        "source = \"web.wasm\"",
        "source = \"web.wasm\"\nkey_value_stores = [\"default\", \"cache\"]",
    ));
    assert_eq!(
        message,
        "unknown key_value_stores label \"cache\" for component \"web\""
    );
}

#[test]
fn manifest_without_triggers_is_refused() {
    let no_triggers: String = BASE
        .lines()
        .filter(|l| {
            !l.starts_with("[[trigger.")
                && !l.starts_with("route")
                && !l.starts_with("channel")
                && !l.starts_with("component =")
        })
        .collect::<Vec<_>>()
        .join("\n");
    for trigger in ["[trigger]", "trigger = { http = [] }"] {
        let text = no_triggers.replace("[application]\n", &format!("{trigger}\n[application]\n"));
        let err = parse(&text).unwrap_err();
        assert!(
            matches!(err, ManifestError::NoTriggers),
            "{trigger}: {err:?}"
        );
        assert_contains(&err.to_string(), &["No triggers in app"]);
    }
}

#[test]
fn manifest_http_route_syntax_is_checked_like_spin() {
    let message = error(&BASE.replace("route = \"/...\"", "route = \"/files/*path\""));
    assert_eq!(
        message,
        "Error parsing route /files/*path associated with component web: since there can only be one wildcard, it doesn't need a name. replace `*path` with `*`"
    );
    let message = error(&BASE.replace("route = \"/...\"", "route = \"/items/:/x\""));
    assert_contains(&message, &["route /items/:/x", "params must be named"]);
    let m = parse(&BASE.replace("route = \"/...\"", "route = \"/items/:id\"")).unwrap();
    assert_eq!(m.http_triggers[0].route, "/items/:id");
}

#[test]
fn manifest_http_executor_http_is_spins_default() {
    let text = BASE.replace(
        "route = \"/...\"",
        "route = \"/...\"\nexecutor = { type = \"http\" }",
    );
    assert_eq!(parse(&text).unwrap().http_triggers.len(), 1);
}

#[test]
fn manifest_application_redis_table_needs_its_address() {
    let text = BASE
        .replace("address = \"{{ redis_address }}\"", "# no address")
        .replace(
            "channel = \"events\"",
            "channel = \"events\"\naddress = \"redis://127.0.0.1:6379\"",
        );
    let message = error(&text);
    assert_contains(
        &message,
        &["missing field `address` in [application.trigger.redis]"],
    );
}

#[test]
fn manifest_dependency_names_are_checked_like_spin() {
    let message = error(&BASE.replace(
        "source = \"web.wasm\"",
        "source = \"web.wasm\"\n[component.web.dependencies]\n\"pipeline/normalize\" = { path = \"d.wasm\" }",
    ));
    assert_contains(
        &message,
        &["invalid dependency name \"pipeline/normalize\" in [component.web.dependencies]"],
    );
    let message = error(&BASE.replace(
        "source = \"web.wasm\"",
        "source = \"web.wasm\"\n[component.web.dependencies]\n\"a:b\" = { path = \"b.wasm\" }\n\"a:b/c@1.0.0\" = { path = \"c.wasm\" }",
    ));
    assert_eq!(
        message,
        "component \"web\" has invalid dependencies: \"a:b\" dependency conflicts with \"a:b/c@1.0.0\""
    );
}

#[test]
fn manifest_tool_and_profile_tables_are_checked_like_spin() {
    let message = error(&BASE.replace(
        "source = \"web.wasm\"",
        "source = \"web.wasm\"\ntool = { lint = 1 }",
    ));
    assert_contains(&message, &["`component.web.tool.lint`"]);
    let message = error(&BASE.replace(
        "source = \"web.wasm\"",
        "source = \"web.wasm\"\n[component.web.profile.debug]\nfiles = [\"x\"]",
    ));
    assert_contains(
        &message,
        &["unknown field `files` in [component.web.profile.debug]"],
    );
    let m = parse(&BASE.replace(
        "source = \"web.wasm\"",
        "source = \"web.wasm\"\n[component.web.profile.debug]\nsource = \"debug.wasm\"\nenvironment = { A = \"1\" }\nbuild = { command = \"make debug\" }",
    ))
    .unwrap();
    assert_eq!(m.components["web"].source, Path::new("/app/web.wasm"));
}

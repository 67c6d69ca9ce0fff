//! The deployment files do what docs/deploy.md says, on real Spin:
//! `deploy/runtime-config.toml` puts every key-value store the app uses on
//! Redis, so separate `spin up` processes laid out as `deploy/spinapp.yaml`
//! lays out SpinKube's pods (two gateway-only replicas, one worker running
//! the three Redis-triggered stages) share originals, thumbnails and status,
//! and each upload is processed once. Without a Spin binary the real-Spin
//! test prints that it skipped.
//!
//! `common::spin::RealSpin` runs the whole app with no runtime config file;
//! the processes here need `--runtime-config-file` and `--component-id`, so
//! this file starts them itself ([`SpinProcess`]). The manifests themselves
//! are checked too: `deploy/spinapp.yaml` against spin.toml, and
//! docs/configuration.md against spin.toml's variables.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

mod common;

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use common::scenarios::{get_image, pipeline_done};
use common::spin;
use common::{free_port, photo, root, stage_is, Endpoint, Redis};

/// The key-value store labels spin.toml's components use.
fn store_labels() -> Vec<String> {
    let manifest = manifest();
    let mut labels: Vec<String> = manifest["component"]
        .as_table()
        .unwrap()
        .values()
        .filter_map(|c| c.get("key_value_stores")?.as_array().cloned())
        .flatten()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    labels.sort();
    labels.dedup();
    labels
}

fn runtime_config() -> toml::Table {
    std::fs::read_to_string(root().join("deploy/runtime-config.toml"))
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn runtime_config_puts_every_store_label_on_redis() {
    let labels = store_labels();
    assert!(labels.contains(&"default".to_owned()), "labels: {labels:?}");
    let config = runtime_config();
    let stores = config["key_value_store"].as_table().unwrap();
    for label in &labels {
        let store = stores.get(label).unwrap_or_else(|| {
            panic!("deploy/runtime-config.toml has no [key_value_store.{label}]")
        });
        assert_eq!(store["type"].as_str(), Some("redis"), "store {label}");
        let url = url::Url::parse(store["url"].as_str().unwrap()).unwrap();
        assert!(
            matches!(url.scheme(), "redis" | "rediss"),
            "store {label}: {url}"
        );
    }
}

fn manifest() -> toml::Table {
    std::fs::read_to_string(root().join("spin.toml"))
        .unwrap()
        .parse()
        .unwrap()
}

/// The SpinApps of `deploy/spinapp.yaml`, one per YAML document.
fn spinapps() -> Vec<yaml_rust2::Yaml> {
    let text = std::fs::read_to_string(root().join("deploy/spinapp.yaml")).unwrap();
    yaml_rust2::YamlLoader::load_from_str(&text).unwrap()
}

/// What SpinKube needs from each SpinApp, and what docs/deploy.md promises:
/// every component of spin.toml runs in exactly one SpinApp, only variables
/// spin.toml declares are set (literal values at spin.toml's defaults, so
/// the two cannot drift apart), and every key-value label is on Redis.
#[test]
fn spinapps_run_every_component_once_with_declared_variables() {
    let manifest = manifest();
    let mut components: Vec<String> = manifest["component"]
        .as_table()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    components.sort();
    let variables = manifest["variables"].as_table().unwrap();
    let redis_triggered: Vec<&str> = manifest["trigger"]["redis"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["component"].as_str().unwrap())
        .collect();
    let labels = store_labels();

    let apps = spinapps();
    assert_eq!(apps.len(), 2, "deploy/spinapp.yaml: gateway and workers");
    let mut deployed = Vec::new();
    for app in &apps {
        let name = app["metadata"]["name"].as_str().unwrap();
        assert_eq!(
            app["apiVersion"].as_str(),
            Some("core.spinkube.dev/v1alpha1"),
            "{name}"
        );
        assert_eq!(app["kind"].as_str(), Some("SpinApp"), "{name}");
        let spec = &app["spec"];
        assert_eq!(
            spec["executor"].as_str(),
            Some("containerd-shim-spin"),
            "{name}"
        );
        assert!(spec["image"].as_str().is_some(), "{name}: no image");
        let own: Vec<&str> = spec["components"]
            .as_vec()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
        for component in &own {
            assert!(
                components.iter().any(|c| c == component),
                "{name}: component {component} is not in spin.toml"
            );
            deployed.push((*component).to_owned());
        }
        if own.iter().any(|c| redis_triggered.contains(c)) {
            // Durable queues share the work across replicas: more than one is the point.
            assert!(spec["replicas"].as_i64() >= Some(1), "{name}");
        }
        for variable in spec["variables"].as_vec().unwrap() {
            let var = variable["name"].as_str().unwrap();
            let declared = variables
                .get(var)
                .unwrap_or_else(|| panic!("{name}: variable {var} is not declared in spin.toml"));
            if let Some(value) = variable["value"].as_str() {
                assert_eq!(
                    declared.get("default").and_then(|d| d.as_str()),
                    Some(value),
                    "{name}: variable {var} differs from spin.toml's default"
                );
            }
        }
        let stores = spec["runtimeConfig"]["keyValueStores"].as_vec().unwrap();
        for label in &labels {
            let store = stores
                .iter()
                .find(|s| s["name"].as_str() == Some(label.as_str()))
                .unwrap_or_else(|| panic!("{name}: no key-value store {label}"));
            assert_eq!(store["type"].as_str(), Some("redis"), "{name}: {label}");
        }
    }
    deployed.sort();
    assert_eq!(
        deployed, components,
        "each component in exactly one SpinApp"
    );
}

/// docs/configuration.md has a row for every variable spin.toml declares,
/// giving its default as the manifest does.
#[test]
fn every_spin_toml_variable_is_documented_with_its_default() {
    let doc = std::fs::read_to_string(root().join("docs/configuration.md")).unwrap();
    let manifest = manifest();
    for (name, declared) in manifest["variables"].as_table().unwrap() {
        let row = doc
            .lines()
            .find(|line| line.starts_with(&format!("| `{name}` |")))
            .unwrap_or_else(|| panic!("docs/configuration.md has no row for variable {name}"));
        let default_cell = row.split(" | ").nth(1).unwrap();
        match declared.get("default").and_then(|d| d.as_str()) {
            Some("") => assert!(
                default_cell.starts_with("empty"),
                "{name}: documented default {default_cell:?}, spin.toml's is empty"
            ),
            Some(default) => assert!(
                default_cell.contains(&format!("`{default}`")),
                "{name}: documented default {default_cell:?}, spin.toml's is {default:?}"
            ),
            None => assert!(
                default_cell.contains("required"),
                "{name}: spin.toml requires it, the doc says {default_cell:?}"
            ),
        }
    }
}

/// One `spin up` child process (and the trigger processes it starts), killed
/// as a process group on drop.
struct SpinProcess {
    child: Child,
    state: tempfile::TempDir,
}

impl SpinProcess {
    /// `spin up` on the repo's spin.toml with `runtime_config`, `redis_address`
    /// set to `redis`, only `components`, and an HTTP listener when `listen` is set.
    fn start(
        bin: &Path,
        runtime_config: &Path,
        redis: &Redis,
        components: &[&str],
        listen: Option<u16>,
    ) -> Self {
        let state = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(bin);
        cmd.arg("up")
            .arg("--from")
            .arg(root().join("spin.toml"))
            .arg("--runtime-config-file")
            .arg(runtime_config)
            .arg("--state-dir")
            .arg(state.path())
            .arg("--variable")
            .arg(format!("redis_address={}", redis.url()));
        for component in components {
            cmd.arg("--component-id").arg(component);
        }
        // Spin refuses --listen when the components it runs have no HTTP trigger.
        if let Some(port) = listen {
            cmd.arg("--listen").arg(format!("127.0.0.1:{port}"));
        }
        let log = std::fs::File::create(state.path().join("spin-up.log")).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        Self { child, state }
    }

    fn output(&self) -> String {
        spin::output(self.state.path())
    }

    fn component_log(&self, component: &str) -> String {
        spin::component_log(self.state.path(), component)
    }

    /// Fail with Spin's output if it has exited.
    fn assert_running(&mut self) {
        if let Some(exit) = self.child.try_wait().unwrap() {
            panic!("spin up exited ({exit}):\n{}", self.output());
        }
    }
}

impl Drop for SpinProcess {
    fn drop(&mut self) {
        spin::kill_group(&mut self.child);
    }
}

fn endpoint(port: u16) -> Endpoint {
    Endpoint {
        base: format!("http://127.0.0.1:{port}"),
        http: reqwest::Client::new(),
        // Unused: the store is in Redis here, and no test reads it directly.
        kv_path: PathBuf::new(),
        channels: ["thumbflow.raw", "thumbflow.images", "thumbflow.thumbnails"]
            .map(str::to_owned)
            .to_vec(),
    }
}

/// The lines of `log` that mention `key`.
fn lines_about(log: &str, key: &str) -> usize {
    log.lines().filter(|l| l.contains(key)).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicas_share_key_value_on_redis_and_process_each_upload_once() {
    let bin = match common::spin::find() {
        Ok(bin) => bin,
        Err(why) => {
            common::skip("spin", &why);
            return;
        }
    };
    let redis = Redis::start();

    // deploy/runtime-config.toml as shipped, with the URL of this test's Redis
    // (Spin does not expand variables in a runtime config file).
    let mut config = runtime_config();
    for store in config["key_value_store"]
        .as_table_mut()
        .unwrap()
        .iter_mut()
        .map(|(_, store)| store)
    {
        store
            .as_table_mut()
            .unwrap()
            .insert("url".into(), redis.url().into());
    }
    let dir = tempfile::tempdir().unwrap();
    let config_path = dir.path().join("runtime-config.toml");
    std::fs::write(&config_path, toml::to_string(&config).unwrap()).unwrap();

    let (port_a, port_b) = (free_port(), free_port());
    let mut gateway_a = SpinProcess::start(&bin, &config_path, &redis, &["gateway"], Some(port_a));
    let mut gateway_b = SpinProcess::start(&bin, &config_path, &redis, &["gateway"], Some(port_b));
    let stages = ["normalizer", "thumbnailer", "notifier"];
    let mut workers = SpinProcess::start(&bin, &config_path, &redis, &stages, None);
    let mut workers_b = SpinProcess::start(&bin, &config_path, &redis, &stages, None);
    let (a, b) = (endpoint(port_a), endpoint(port_b));
    spin::wait_serving(&mut gateway_a.child, gateway_a.state.path(), &a).await;
    spin::wait_serving(&mut gateway_b.child, gateway_b.state.path(), &b).await;
    workers.assert_running();
    workers_b.assert_running();
    a.wait_subscribed(&redis).await;
    for process in [&gateway_a, &gateway_b, &workers, &workers_b] {
        assert!(
            process.output().contains(&format!(
                "Storing default key-value data to Redis at 127.0.0.1:{}",
                redis.port
            )),
            "Spin did not put the default store on Redis:\n{}",
            process.output()
        );
    }

    // Upload through one gateway replica, follow and fetch through the other.
    let (source, bytes, expected) = photo();
    let key = "deploy/photo.jpg";
    let response = a.put(key, bytes, "image/jpeg").await;
    assert_eq!(response.status(), 201, "uploading {source}");
    let status = b.wait_status(key, "every stage done", pipeline_done).await;
    for stage in ["gateway", "normalizer", "thumbnailer", "notifier"] {
        assert!(stage_is(&status, stage, "done"), "{stage}: {status:#}");
    }
    let thumb = get_image(&b, "/objects/thumbnails/thumb/deploy/photo.jpg.jpg").await;
    assert_eq!((thumb.width(), thumb.height()), expected, "{source}");

    // The data is in Redis, and no process fell back to its own SQLite file.
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("*")
        .query_async(&mut conn)
        .await
        .unwrap();
    for wanted in [
        "status-stage/thumbflow/gateway/deploy/photo.jpg",
        "obj/thumbflow/deploy/photo.jpg",
        "obj/thumbflow/thumbnails/thumb/deploy/photo.jpg.jpg",
    ] {
        assert!(
            keys.iter().any(|k| k == wanted),
            "{wanted} not in Redis: {keys:?}"
        );
    }
    for process in [&gateway_a, &gateway_b, &workers, &workers_b] {
        assert!(
            !process.state.path().join("sqlite_key_value.db").exists(),
            "a SQLite key-value file appeared in {}",
            process.state.path().display()
        );
    }

    // Two workers subscribed, the gateways did not: each stage ran once,
    // in one worker or the other (its durable queue handed the event out once).
    for component in stages {
        let (log, log_b) = (
            workers.component_log(component),
            workers_b.component_log(component),
        );
        assert_eq!(
            lines_about(&log, key) + lines_about(&log_b, key),
            1,
            "{component} logs:\n{log}\n---\n{log_b}"
        );
        for gateway in [&gateway_a, &gateway_b] {
            assert_eq!(
                gateway.component_log(component),
                "",
                "{component} ran in a gateway pod"
            );
        }
    }
}

//! Real Spin as a child process: `spin up --from spin.toml` on the repo's
//! manifest, unchanged, with its own state directory and listen port.
//!
//! The binary is `SPIN_BIN`, else `../shared/spin/spin` beside the repo,
//! else `spin` on PATH; [`find`] says which, or why there is none, so a test
//! without Spin can say it skipped.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{free_port, root, Endpoint, Redis};

/// The Spin binary to test against, or the reason there is none.
pub fn find() -> Result<PathBuf, String> {
    if let Some(bin) = std::env::var_os("SPIN_BIN") {
        let bin = PathBuf::from(bin);
        return if bin.is_file() {
            Ok(bin)
        } else {
            Err(format!("SPIN_BIN={} is not a file", bin.display()))
        };
    }
    let shared = root().join("../shared/spin/spin");
    if shared.is_file() {
        return Ok(shared);
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|dir| dir.join("spin"))
        .find(|p| p.is_file());
    on_path.ok_or_else(|| {
        "no Spin binary: set SPIN_BIN, or put real Spin at ../shared/spin/spin or on PATH"
            .to_owned()
    })
}

/// `spin up` running the app; the whole process group is killed on drop
/// (Spin runs each trigger as a child process of its own).
pub struct RealSpin {
    child: Child,
    pub endpoint: Endpoint,
    pub state: tempfile::TempDir,
}

impl RealSpin {
    /// Run `manifest` with `variables` (plus `redis_address`) against `redis`,
    /// and wait until the HTTP routes answer and every channel is subscribed.
    /// Panics with Spin's own output when it exits or never serves.
    pub async fn start(
        bin: &Path,
        manifest: &Path,
        redis: &Redis,
        variables: &[(&str, &str)],
    ) -> Self {
        let redis_address = redis.url();
        let mut all = vec![("redis_address", redis_address.as_str())];
        all.extend_from_slice(variables);
        Self::start_with(bin, manifest, redis, &all).await
    }

    /// Run `manifest` with exactly `variables` (none: every variable at its
    /// default, as a new user's `spin up --from spin.toml`), subscribed on `redis`.
    pub async fn start_with(
        bin: &Path,
        manifest: &Path,
        redis: &Redis,
        variables: &[(&str, &str)],
    ) -> Self {
        let vars: Vec<(&str, String)> = variables
            .iter()
            .map(|(k, v)| (*k, (*v).to_owned()))
            .collect();
        let channels = ["thumbflow.raw", "thumbflow.images", "thumbflow.thumbnails"]
            .map(str::to_owned)
            .to_vec();
        let spin = Self::spawn(bin, manifest, &vars, channels).await;
        spin.endpoint.wait_subscribed(redis).await;
        spin
    }

    /// Run an app with HTTP triggers only (`deploy/http-only/spin.toml`),
    /// with no Redis, and wait until its routes answer.
    pub async fn start_http(bin: &Path, manifest: &Path, variables: &[(&str, &str)]) -> Self {
        let vars: Vec<(&str, String)> = variables
            .iter()
            .map(|(k, v)| (*k, (*v).to_owned()))
            .collect();
        Self::spawn(bin, manifest, &vars, Vec::new()).await
    }

    async fn spawn(
        bin: &Path,
        manifest: &Path,
        variables: &[(&str, String)],
        channels: Vec<String>,
    ) -> Self {
        let state = tempfile::tempdir().unwrap();
        let port = free_port();
        let mut cmd = Command::new(bin);
        cmd.arg("up")
            .arg("--from")
            .arg(manifest)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--state-dir")
            .arg(state.path());
        for (name, value) in variables {
            cmd.arg("--variable").arg(format!("{name}={value}"));
        }
        let log = state.path().join("spin-up.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", bin.display()));
        let mut spin = Self {
            child,
            endpoint: Endpoint {
                base: format!("http://127.0.0.1:{port}"),
                http: reqwest::Client::new(),
                kv_path: state.path().join("sqlite_key_value.db"),
                channels,
            },
            state,
        };
        spin.wait_serving().await;
        spin
    }

    /// What `spin up` printed so far.
    pub fn output(&self) -> String {
        output(self.state.path())
    }

    async fn wait_serving(&mut self) {
        wait_serving(&mut self.child, self.state.path(), &self.endpoint).await;
    }

    /// The stdout of one component, as Spin logs it under the state directory.
    pub fn component_log(&self, component: &str) -> String {
        component_log(self.state.path(), component)
    }
}

/// What a `spin up` started with its output in `STATE/spin-up.log` printed so far.
pub fn output(state: &Path) -> String {
    std::fs::read_to_string(state.join("spin-up.log")).unwrap_or_default()
}

/// The stdout of one component, as Spin logs it under its state directory.
pub fn component_log(state: &Path, component: &str) -> String {
    std::fs::read_to_string(state.join("logs").join(format!("{component}_stdout.txt")))
        .unwrap_or_default()
}

/// Wait until the `spin up` `child` (state directory `state`) serves
/// `/healthz` on `ep`; panic with its output if it exits first or is not
/// serving within 180 s (it compiles its components on a cold cache).
pub async fn wait_serving(child: &mut Child, state: &Path, ep: &Endpoint) {
    let deadline = Duration::from_secs(180);
    let start = Instant::now();
    loop {
        if let Some(exit) = child.try_wait().unwrap() {
            panic!("spin up exited ({exit}) before serving:\n{}", output(state));
        }
        let healthy = ep
            .http
            .get(ep.url("/healthz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200);
        if healthy {
            return;
        }
        assert!(
            start.elapsed() < deadline,
            "spin up did not serve /healthz within {deadline:?}:\n{}",
            output(state)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Kill a `spin up` started with `process_group(0)` and the trigger
/// processes it started (the group id is its pid; `kill` reaches them all
/// with no unsafe code here), then reap it.
pub fn kill_group(child: &mut Child) {
    let group = format!("-{}", child.id());
    let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
    let _ = child.kill();
    let _ = child.wait();
}

impl std::ops::Deref for RealSpin {
    type Target = Endpoint;
    fn deref(&self) -> &Endpoint {
        &self.endpoint
    }
}

impl Drop for RealSpin {
    fn drop(&mut self) {
        kill_group(&mut self.child);
    }
}

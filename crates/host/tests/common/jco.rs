//! jco, the Bytecode Alliance's JavaScript toolchain for components, from
//! npm: a host this project did not write. `make jco` installs the versions
//! locked in `tests/node/package-lock.json` into `.tools/npm`; [`find`]
//! runs it when jco is missing, so the tests install what they need.

use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use super::{free_port, root, wait_until, Endpoint};

/// Serializes installs between the tests of one binary.
static INSTALL: Mutex<()> = Mutex::new(());

/// The npm prefix the tools live in.
pub fn npm_dir() -> PathBuf {
    root().join(".tools/npm")
}

/// The `jco` CLI, installed with `make jco` if missing; `Err` (a reason to
/// skip) only when Node or npm is not on the machine.
pub fn find() -> Result<PathBuf, String> {
    let jco = npm_dir().join("node_modules/.bin/jco");
    let _guard = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if jco.is_file() {
        return Ok(jco);
    }
    for tool in ["node", "npm"] {
        let found = Command::new(tool).arg("--version").output();
        if !found.is_ok_and(|o| o.status.success()) {
            return Err(format!(
                "{tool} not found on PATH: install Node.js 20+ (apt-get install nodejs npm)"
            ));
        }
    }
    println!("installing jco from npm (make jco)");
    let status = Command::new("make")
        .arg("-C")
        .arg(root())
        .arg("jco")
        .status()
        .expect("running make jco");
    assert!(status.success(), "make jco failed: {status}");
    assert!(jco.is_file(), "make jco did not install {}", jco.display());
    Ok(jco)
}

/// The jco version, for the test output.
pub fn version(jco: &Path) -> String {
    let out = Command::new(jco).arg("--version").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// `jco serve` running one `wasi:http` component; its process group is
/// killed on drop.
pub struct JcoServe {
    child: Child,
    pub endpoint: Endpoint,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl JcoServe {
    /// Serve `wasm` on a free port and wait (up to 120 s: jco transpiles
    /// the component first) until it accepts connections.
    pub fn start(jco: &Path, wasm: &Path) -> Self {
        let dir = tempfile::tempdir_in(npm_dir()).unwrap();
        let port = free_port();
        let log = dir.path().join("jco-serve.log");
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(jco)
            .arg("serve")
            .arg("--port")
            .arg(port.to_string())
            .arg("--host")
            .arg("127.0.0.1")
            .arg("--jco-dir")
            .arg(dir.path().join("transpiled"))
            .arg(wasm)
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {} serve: {e}", jco.display()));
        let mut serve = Self {
            child,
            endpoint: Endpoint {
                base: format!("http://127.0.0.1:{port}"),
                http: reqwest::Client::new(),
                kv_path: PathBuf::new(),
                channels: Vec::new(),
            },
            log,
            _dir: dir,
        };
        let what = format!("jco serve on port {port}");
        let child = &mut serve.child;
        let log = serve.log.clone();
        wait_until(Duration::from_secs(120), &what, || {
            if let Some(exit) = child.try_wait().unwrap() {
                panic!(
                    "jco serve exited ({exit}):\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        serve
    }

    /// What jco serve printed so far.
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl std::ops::Deref for JcoServe {
    type Target = Endpoint;
    fn deref(&self) -> &Endpoint {
        &self.endpoint
    }
}

impl Drop for JcoServe {
    fn drop(&mut self) {
        super::spin::kill_group(&mut self.child);
    }
}

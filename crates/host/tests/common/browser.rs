//! Debian's headless Chromium driven over WebDriver: a `chromedriver` child
//! on a free port (its process group, so Chromium too, killed on drop) and a
//! `fantoccini` session to it. The binaries are `CHROMEDRIVER` and
//! `CHROMIUM`, else `chromedriver` and `chromium` on PATH; when either is
//! missing the test fails saying how to install them (`.ci/run` does).

use std::os::unix::process::CommandExt as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder};

use super::{free_port, wait_until};

/// `name` from the environment variable `var`, else on PATH.
fn binary(var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(var) {
        return Some(PathBuf::from(path)).filter(|p| p.is_file());
    }
    let dirs: Vec<PathBuf> = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    names
        .iter()
        .flat_map(|name| dirs.iter().map(move |dir| dir.join(name)))
        .find(|p| p.is_file())
}

/// `(chromedriver, chromium)`, or a message naming what is missing and the fix.
pub fn find() -> Result<(PathBuf, PathBuf), String> {
    let driver = binary("CHROMEDRIVER", &["chromedriver"]);
    let browser = binary("CHROMIUM", &["chromium", "chromium-browser"]);
    match (driver, browser) {
        (Some(driver), Some(browser)) => Ok((driver, browser)),
        (driver, browser) => {
            let missing: Vec<&str> = [("chromedriver", driver), ("chromium", browser)]
                .into_iter()
                .filter_map(|(name, found)| found.is_none().then_some(name))
                .collect();
            Err(format!(
                "the browser test needs Debian's headless Chromium and its WebDriver \
                 ({} not found): install them with `apt-get install -y chromium chromium-driver` \
                 (.ci/run does), or set CHROMIUM and CHROMEDRIVER to their paths",
                missing.join(" and ")
            ))
        }
    }
}

/// A headless Chromium session; the driver and browser die with it.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Start `chromedriver` and open a session of a `width`x`height` window.
    pub async fn start(width: u32, height: u32) -> Self {
        let (driver_bin, browser_bin) = find().unwrap_or_else(|why| panic!("{why}"));
        let port = free_port();
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", driver_bin.display()));
        wait_until(Duration::from_secs(20), "chromedriver to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        let profile = tempfile::tempdir().unwrap();
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": browser_bin,
                "args": [
                    "--headless=new",
                    // Tests run as root in CI containers, where the sandbox cannot start.
                    "--no-sandbox",
                    "--disable-dev-shm-usage",
                    "--disable-gpu",
                    "--force-device-scale-factor=1",
                    "--lang=en-US",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(capabilities)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .unwrap_or_else(|e| panic!("opening a Chromium session through chromedriver: {e}"));
        Self {
            client,
            driver,
            _profile: profile,
        }
    }

    /// Run `script` (a function body; `arguments` holds `args`) in the page.
    pub async fn js(&self, script: &str, args: Vec<serde_json::Value>) -> serde_json::Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("running script in the page: {e}\n{script}"))
    }

    /// Lay the page out on a `width`x`height` CSS-pixel screen, as a phone
    /// (`mobile`: the viewport meta tag applies) or a desktop. Chromium does
    /// not shrink a window below 500 px, so this emulates the screen through
    /// the DevTools protocol instead of resizing the window.
    pub async fn emulate_screen(&self, width: u32, height: u32, mobile: bool) {
        self.cdp(
            "Emulation.setDeviceMetricsOverride",
            serde_json::json!({
                "width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile,
            }),
        )
        .await;
        let inner = self.js("return window.innerWidth;", vec![]).await;
        assert_eq!(inner, width, "the emulated screen is {width} px wide");
    }

    /// A DevTools protocol command, through chromedriver's `goog/cdp/execute`.
    pub async fn cdp(&self, method: &'static str, params: serde_json::Value) -> serde_json::Value {
        self.client
            .issue_cmd(Cdp { method, params })
            .await
            .unwrap_or_else(|e| panic!("DevTools command {method}: {e}"))
    }

    /// End the session (Chromium exits), then the driver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        super::spin::kill_group(&mut self.driver);
    }
}

/// chromedriver's extension command running one DevTools protocol method.
#[derive(Debug)]
struct Cdp {
    method: &'static str,
    params: serde_json::Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for Cdp {
    fn endpoint(
        &self,
        base: &url::Url,
        session: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base.join(&format!(
            "session/{}/goog/cdp/execute",
            session.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _: &url::Url) -> (http::Method, Option<String>) {
        let body = serde_json::json!({ "cmd": self.method, "params": self.params });
        (http::Method::POST, Some(body.to_string()))
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        super::spin::kill_group(&mut self.driver);
    }
}

//! A real S3 server for the tests: Ceph RADOS Gateway started by the
//! project's `scripts/s3/rgw.sh` in a temporary directory and stopped on
//! drop, and a small S3 client (requests signed by `thumbflow_s3`, sent with
//! `reqwest`) to create buckets and put, head and list objects the way a
//! plain S3 user would.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // test helpers may panic

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use thumbflow_s3::{
    check_status, ListPage, ListedObject, ObjectHead, PutOptions, S3Client, S3Config, SignedRequest,
};

/// A Ceph RGW cluster owned by one test, killed on drop.
pub struct Rgw {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub region: String,
    dir: tempfile::TempDir,
}

/// The project's RGW script (this file is also included on its own by
/// `tests/scan.rs`, so it does not rely on `common::root`).
fn rgw_script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/s3/rgw.sh")
}

/// Whether `program` is on `PATH`.
fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

impl Rgw {
    /// Start a cluster, or `None` (after printing why) when radosgw is not
    /// installed here (`scripts/s3/rgw.sh install` installs it).
    pub fn start() -> Option<Self> {
        if !on_path("radosgw") || !on_path("ceph-mon") || !on_path("ceph-osd") {
            eprintln!(
                "SKIPPED: radosgw/ceph-mon/ceph-osd not installed; run `scripts/s3/rgw.sh install`"
            );
            return None;
        }
        let dir = tempfile::Builder::new()
            .prefix("tf-rgw")
            .tempdir_in("/tmp")
            .unwrap();
        let script = rgw_script();
        let out = Command::new("bash")
            .arg(&script)
            .arg("start")
            .arg(dir.path())
            .output()
            .expect("running scripts/s3/rgw.sh");
        assert!(
            out.status.success(),
            "scripts/s3/rgw.sh start failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let vars: BTreeMap<String, String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| line.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        let get = |name: &str| {
            vars.get(name)
                .cloned()
                .unwrap_or_else(|| panic!("rgw.sh start printed no {name}: {vars:?}"))
        };
        Some(Self {
            endpoint: get("S3_ENDPOINT"),
            access_key_id: get("S3_ACCESS_KEY_ID"),
            secret_access_key: get("S3_SECRET_ACCESS_KEY"),
            region: get("S3_REGION"),
            dir,
        })
    }

    /// The variables `rgw.sh start` printed, for a child process's environment.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("S3_ENDPOINT", self.endpoint.clone()),
            ("S3_ACCESS_KEY_ID", self.access_key_id.clone()),
            ("S3_SECRET_ACCESS_KEY", self.secret_access_key.clone()),
            ("S3_REGION", self.region.clone()),
        ]
    }

    /// The pipeline's `s3_*` variables pointing at this server.
    pub fn pipeline_variables(&self) -> Vec<(&'static str, String)> {
        vec![
            ("store", "s3".to_owned()),
            ("s3_endpoint", self.endpoint.clone()),
            ("s3_region", self.region.clone()),
            ("s3_access_key_id", self.access_key_id.clone()),
            ("s3_secret_access_key", self.secret_access_key.clone()),
            ("s3_path_style", "true".to_owned()),
        ]
    }

    /// A client with this server's credentials.
    pub fn client(&self) -> S3 {
        S3::new(
            S3Config::new(
                &self.endpoint,
                &self.region,
                &self.access_key_id,
                &self.secret_access_key,
                "true",
            )
            .unwrap(),
            &self.secret_access_key,
        )
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Rgw {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(rgw_script())
            .arg("stop")
            .arg(self.dir.path())
            .output();
    }
}

/// A plain S3 client for test set-up and checks.
#[derive(Clone)]
pub struct S3 {
    pub client: S3Client,
    config: S3Config,
    /// `S3Config` never gives its secret back; CreateBucket needs it.
    secret: String,
    http: reqwest::Client,
}

impl S3 {
    pub fn new(config: S3Config, secret: &str) -> Self {
        Self {
            client: S3Client::new(config.clone()),
            config,
            secret: secret.to_owned(),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
        }
    }

    /// Send a signed request; status, headers and body.
    pub async fn send(&self, request: SignedRequest) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let method = reqwest::Method::from_bytes(request.method.as_bytes()).unwrap();
        let mut builder = self.http.request(method, &request.url);
        for (name, value) in &request.headers {
            if name != "content-length" {
                builder = builder.header(name, value);
            }
        }
        let response = builder.body(request.body).send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        let body = response.bytes().await.unwrap().to_vec();
        (status, headers, body)
    }

    /// Create `bucket` (CreateBucket is not among thumbflow's own requests,
    /// so it is signed here with rusty-s3 directly).
    pub async fn create_bucket(&self, bucket: &str) {
        let endpoint = self.config.endpoint().clone();
        let b = rusty_s3::Bucket::new(
            endpoint,
            rusty_s3::UrlStyle::Path,
            bucket.to_owned(),
            self.config.region().to_owned(),
        )
        .unwrap();
        let credentials =
            rusty_s3::Credentials::new(self.config.access_key_id().to_owned(), self.secret.clone());
        let url = rusty_s3::actions::S3Action::sign(
            &rusty_s3::actions::CreateBucket::new(&b, &credentials),
            Duration::from_secs(300),
        );
        let response = self.http.put(url).send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(
            status.is_success(),
            "CreateBucket {bucket}: {status} {text}"
        );
    }

    /// PUT an object; returns its ETag.
    pub async fn put(
        &self,
        bucket: &str,
        key: &str,
        body: Vec<u8>,
        content_type: &str,
        metadata: &[(&str, &str)],
    ) -> String {
        let options = PutOptions {
            content_type: content_type.to_owned(),
            cache_control: None,
            metadata: metadata
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        let request = self.client.put_object(bucket, key, body, &options).unwrap();
        let (status, headers, body) = self.send(request).await;
        check_status(status, &headers, &body).unwrap_or_else(|e| panic!("PUT {bucket}/{key}: {e}"));
        thumbflow_s3::response::etag_of(&headers).unwrap()
    }

    /// HEAD an object; `None` when it does not exist.
    pub async fn head(&self, bucket: &str, key: &str) -> Option<ObjectHead> {
        let (status, headers, body) = self
            .send(self.client.head_object(bucket, key).unwrap())
            .await;
        if status == 404 {
            return None;
        }
        check_status(status, &headers, &body)
            .unwrap_or_else(|e| panic!("HEAD {bucket}/{key}: {e}"));
        Some(ObjectHead::from_headers(&headers).unwrap())
    }

    /// Every object under `prefix`.
    pub async fn list(&self, bucket: &str, prefix: &str) -> Vec<ListedObject> {
        let mut all = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let request = self
                .client
                .list_objects_v2(bucket, prefix, token.as_deref(), None)
                .unwrap();
            let (status, headers, body) = self.send(request).await;
            check_status(status, &headers, &body).unwrap();
            let page = ListPage::parse(&body).unwrap();
            all.extend(page.objects);
            match page.next_continuation_token {
                Some(next) => token = Some(next),
                None => return all,
            }
        }
    }
}

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

/// The project's RGW script.
fn rgw_script() -> std::path::PathBuf {
    super::root().join("scripts/s3/rgw.sh")
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
            super::skip(
                "rgw",
                "radosgw/ceph-mon/ceph-osd not installed; run `scripts/s3/rgw.sh install`",
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

/// Characters of an S3 key sent as they are in a request path (RFC 3986
/// unreserved, and `/` between segments); everything else is %-encoded.
const KEY_PATH: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// `key` as it goes in a path-style request URL.
pub fn encode_key(key: &str) -> String {
    percent_encoding::utf8_percent_encode(key, KEY_PATH).to_string()
}

impl Rgw {
    /// Send a request signed with SigV4 by `aws-sigv4` (header
    /// authentication, `x-amz-content-sha256` for S3): what a plain S3 or
    /// SNS client sends for requests thumbflow itself never makes.
    pub async fn signed(
        &self,
        service: &str,
        method: &str,
        path_and_query: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
    ) -> (u16, Vec<(String, String)>, String) {
        use aws_sigv4::http_request::{
            sign, PayloadChecksumKind, PercentEncodingMode, SignableBody, SignableRequest,
            SigningSettings, UriPathNormalizationMode,
        };
        let url = format!("{}{path_and_query}", self.endpoint);
        let identity = aws_credential_types::Credentials::new(
            &self.access_key_id,
            &self.secret_access_key,
            None,
            None,
            "thumbflow-tests",
        )
        .into();
        let mut settings = SigningSettings::default();
        if service == "s3" {
            settings.payload_checksum_kind = PayloadChecksumKind::XAmzSha256;
            settings.percent_encoding_mode = PercentEncodingMode::Single;
            settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
        }
        let params = aws_sigv4::sign::v4::SigningParams::builder()
            .identity(&identity)
            .region(&self.region)
            .name(service)
            .time(std::time::SystemTime::now())
            .settings(settings)
            .build()
            .unwrap()
            .into();
        let signable = SignableRequest::new(
            method,
            &url,
            headers.iter().copied(),
            SignableBody::Bytes(&body),
        )
        .unwrap();
        let (instructions, _) = sign(signable, &params).unwrap().into_parts();
        let http = reqwest::Client::new();
        let mut request = http.request(
            reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
            &url,
        );
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        for (name, value) in instructions.headers() {
            request = request.header(name, value);
        }
        let response = request.body(body).send().await.unwrap();
        let status = response.status().as_u16();
        let reply_headers = response
            .headers()
            .iter()
            .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        (status, reply_headers, response.text().await.unwrap())
    }

    /// Create an SNS-style topic on RGW that POSTs each notification to
    /// `push_endpoint` (non-persistent: delivered before the uploader's PUT
    /// returns, see `../shared/s3-facts.md`); its ARN.
    pub async fn create_topic(&self, name: &str, push_endpoint: &str) -> String {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("Action", "CreateTopic")
            .append_pair("Name", name)
            .append_pair("Attributes.entry.1.key", "push-endpoint")
            .append_pair("Attributes.entry.1.value", push_endpoint)
            .append_pair("Attributes.entry.2.key", "persistent")
            .append_pair("Attributes.entry.2.value", "false")
            .finish();
        let (status, _, text) = self
            .signed(
                "sns",
                "POST",
                "/",
                &[("content-type", "application/x-www-form-urlencoded")],
                body.into_bytes(),
            )
            .await;
        assert_eq!(status, 200, "CreateTopic {name}: {text}");
        let start = text.find("<TopicArn>").expect("TopicArn in reply") + "<TopicArn>".len();
        let end = text[start..].find("</TopicArn>").unwrap() + start;
        text[start..end].to_owned()
    }

    /// Send every `s3:ObjectCreated:*` of `bucket` to `topic_arn`, with no
    /// filter: thumbflow's own thumbnails are announced too.
    pub async fn notify_bucket(&self, bucket: &str, topic_arn: &str) {
        let xml = format!(
            "<NotificationConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <TopicConfiguration><Id>thumbflow</Id><Topic>{topic_arn}</Topic>\
             <Event>s3:ObjectCreated:*</Event></TopicConfiguration></NotificationConfiguration>"
        );
        let (status, _, text) = self
            .signed(
                "s3",
                "PUT",
                &format!("/{bucket}?notification="),
                &[],
                xml.into_bytes(),
            )
            .await;
        assert_eq!(status, 200, "PutBucketNotification {bucket}: {text}");
    }

    /// Server-side CopyObject of `from` to `to` within `bucket`.
    pub async fn copy_object(&self, bucket: &str, from: &str, to: &str) {
        let source = format!("/{bucket}/{}", encode_key(from));
        let (status, _, text) = self
            .signed(
                "s3",
                "PUT",
                &format!("/{bucket}/{}", encode_key(to)),
                &[("x-amz-copy-source", &source)],
                Vec::new(),
            )
            .await;
        assert_eq!(status, 200, "CopyObject {from} -> {to}: {text}");
    }

    /// Upload `body` as a multipart upload in `part_size` parts (S3's minimum
    /// is 5 MiB for every part but the last).
    pub async fn multipart_upload(&self, bucket: &str, key: &str, body: &[u8], part_size: usize) {
        let path = format!("/{bucket}/{}", encode_key(key));
        let (status, _, text) = self
            .signed(
                "s3",
                "POST",
                &format!("{path}?uploads="),
                &[("content-type", "image/png")],
                Vec::new(),
            )
            .await;
        assert_eq!(status, 200, "CreateMultipartUpload {key}: {text}");
        let upload_id = between(&text, "<UploadId>", "</UploadId>");
        let upload = percent_encoding::utf8_percent_encode(&upload_id, KEY_PATH).to_string();
        let mut parts = String::new();
        for (i, chunk) in body.chunks(part_size).enumerate() {
            let n = i + 1;
            let url = format!("{path}?partNumber={n}&uploadId={upload}");
            let (status, headers, text) = self.signed("s3", "PUT", &url, &[], chunk.to_vec()).await;
            assert_eq!(status, 200, "UploadPart {n} of {key}: {text}");
            let etag = headers
                .iter()
                .find(|(k, _)| k == "etag")
                .map(|(_, v)| v.clone())
                .expect("ETag of a part");
            parts.push_str(&format!(
                "<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>"
            ));
        }
        let complete = format!("<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>");
        let (status, _, text) = self
            .signed(
                "s3",
                "POST",
                &format!("{path}?uploadId={upload}"),
                &[],
                complete.into_bytes(),
            )
            .await;
        assert_eq!(status, 200, "CompleteMultipartUpload {key}: {text}");
    }
}

/// The text between `start` and `end` in `text`.
fn between(text: &str, start: &str, end: &str) -> String {
    let from = text
        .find(start)
        .unwrap_or_else(|| panic!("{start} in {text}"))
        + start.len();
    let to = text[from..].find(end).unwrap() + from;
    text[from..to].to_owned()
}

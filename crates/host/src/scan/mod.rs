//! `thumbflow scan s3://BUCKET[/PREFIX]`: the backfill for a bucket that
//! already holds images, and the repair for notifications a store dropped.
//!
//! Lists the bucket, skips every object whose thumbnails exist for the
//! current recipe versions and the object's current ETag, and publishes an
//! event for each of the others through the gateway's `POST /events`, at a
//! bounded rate. Its position is checkpointed, so a killed scan resumes where
//! it stopped, and a scan over a finished bucket publishes nothing.
//!
//! Modules:
//! - [`plan`]: which objects need an event (pure: listing entries, HEADs and
//!   recipes in, decisions out);
//! - [`checkpoint`]: the resumable position, its file, and the tracker that
//!   only ever moves it past settled objects;
//! - [`run`]: the I/O: S3 requests ([`thumbflow_s3`] signs, `reqwest` sends),
//!   bounded concurrency, the rate limit, retries, the progress bar and the
//!   summary.
//!
//! This module resolves the command line ([`ScanArgs`]) into a [`ScanConfig`]
//! before anything is sent, with errors that name the fix.

pub mod checkpoint;
pub mod plan;
pub mod run;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use thumbflow_s3::S3Config;

use self::checkpoint::Scope;
use self::plan::ScanRules;

/// The recipes `spin.toml` configures by default (its `recipes` variable).
pub const DEFAULT_RECIPES: &str = "thumb=300x300,jpeg,q68";

/// `thumbflow scan`'s command line.
#[derive(clap::Args, Debug)]
pub struct ScanArgs {
    /// What to scan: `s3://BUCKET` or `s3://BUCKET/PREFIX`.
    #[arg(value_name = "s3://BUCKET[/PREFIX]")]
    pub target: String,
    /// The thumbflow gateway that receives the events (`POST URL/events`).
    #[arg(long, env = "THUMBFLOW_URL", default_value = "http://127.0.0.1:3000")]
    pub url: String,
    /// The gateway's API token (the app's `api_token`), sent as a bearer token.
    #[arg(long, env = "THUMBFLOW_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// S3 endpoint URL (default: $THUMBFLOW_S3_ENDPOINT, then $S3_ENDPOINT;
    /// AWS: `https://s3.REGION.amazonaws.com`).
    #[arg(long)]
    pub endpoint: Option<String>,
    /// SigV4 region (default: $S3_REGION, $AWS_REGION, $AWS_DEFAULT_REGION, then us-east-1).
    #[arg(long)]
    pub region: Option<String>,
    /// Path-style URLs (`endpoint/bucket/key`); `false` for AWS virtual-hosted style.
    #[arg(long, default_value = "true", value_name = "BOOL")]
    pub path_style: String,
    /// The recipes in force, in the engine's syntax (the app's `recipes` variable).
    #[arg(long, env = "SPIN_VARIABLE_RECIPES", default_value = DEFAULT_RECIPES)]
    pub recipes: String,
    /// Where thumbnails are stored (the app's `thumbnail_prefix` variable).
    #[arg(
        long,
        env = "SPIN_VARIABLE_THUMBNAIL_PREFIX",
        default_value = "thumbnails/"
    )]
    pub thumbnail_prefix: String,
    /// Most events published per second (`20` or `20/s`).
    #[arg(long, default_value = "20/s", value_parser = parse_rate)]
    pub rate: f64,
    /// Most objects checked at once (each check is one or a few HEAD requests).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
    /// Publish nothing and write no checkpoint: report what would be published.
    #[arg(long)]
    pub dry_run: bool,
    /// Print one JSON summary object on stdout instead of text.
    #[arg(long)]
    pub json: bool,
    /// Ignore (and replace) a saved checkpoint: list from the start.
    #[arg(long)]
    pub restart: bool,
    /// Directory of the checkpoint files (one per bucket, prefix and recipe set).
    #[arg(long, default_value = ".thumbflow/scan", value_name = "DIR")]
    pub checkpoint_dir: PathBuf,
}

/// `N` or `N/s`, a positive number of events per second.
fn parse_rate(s: &str) -> Result<f64, String> {
    let number = s.trim().strip_suffix("/s").unwrap_or(s.trim());
    match number.parse::<f64>() {
        Ok(rate) if rate.is_finite() && rate > 0.0 => Ok(rate),
        _ => Err(format!(
            "{s:?} is not a rate: expected events per second, e.g. 20 or 20/s"
        )),
    }
}

/// The bucket and prefix of an `s3://` target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The bucket.
    pub bucket: String,
    /// Key prefix to list (empty: the whole bucket).
    pub prefix: String,
}

impl Target {
    /// Parse `s3://BUCKET[/PREFIX]`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let rest = s.strip_prefix("s3://").ok_or_else(|| {
            format!("{s:?} is not an S3 location: expected s3://BUCKET or s3://BUCKET/PREFIX")
        })?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!(
                "{s:?} names no bucket: expected s3://BUCKET or s3://BUCKET/PREFIX"
            ));
        }
        Ok(Self {
            bucket: bucket.to_owned(),
            prefix: prefix.to_owned(),
        })
    }
}

impl std::fmt::Display for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// Everything a scan needs, resolved and validated.
#[derive(Debug, Clone)]
pub struct ScanConfig {
    /// What to list.
    pub target: Target,
    /// Where the bucket is and how to sign for it.
    pub s3: S3Config,
    /// `…/events` of the gateway.
    pub events_url: url::Url,
    /// `…/healthz` of the gateway, checked before the first event.
    pub health_url: url::Url,
    /// Bearer token for the gateway.
    pub token: Option<String>,
    /// Prefix and recipes.
    pub rules: ScanRules,
    /// Time between two events at the configured rate.
    pub publish_interval: Duration,
    /// Objects checked at once.
    pub concurrency: usize,
    /// Publish nothing, write no checkpoint.
    pub dry_run: bool,
    /// Start over instead of resuming.
    pub restart: bool,
    /// The checkpoint's identity and file.
    pub scope: Scope,
    /// The checkpoint file.
    pub checkpoint_path: PathBuf,
}

/// The first of `names` set to a non-empty value in the environment `env`.
fn first_env(env: &dyn Fn(&str) -> Option<String>, names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|name| env(name).filter(|v| !v.trim().is_empty()))
}

impl ScanArgs {
    /// Resolve the arguments and the environment (`env`, e.g.
    /// `|n| std::env::var(n).ok()`) into a [`ScanConfig`]; every error names
    /// the flag or variable that fixes it.
    pub fn resolve(&self, env: &dyn Fn(&str) -> Option<String>) -> Result<ScanConfig, String> {
        let target = Target::parse(&self.target)?;
        let endpoint = self
            .endpoint
            .clone()
            .or_else(|| first_env(env, &["THUMBFLOW_S3_ENDPOINT", "S3_ENDPOINT"]))
            .ok_or(
                "no S3 endpoint: pass --endpoint URL or set S3_ENDPOINT \
                 (e.g. http://127.0.0.1:7480 for Ceph RGW, https://s3.REGION.amazonaws.com for AWS)",
            )?;
        let region = self
            .region
            .clone()
            .or_else(|| first_env(env, &["S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"]))
            .unwrap_or_default();
        let access_key = first_env(env, &["S3_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"]).ok_or(
            "no S3 access key: set S3_ACCESS_KEY_ID (or AWS_ACCESS_KEY_ID) and S3_SECRET_ACCESS_KEY",
        )?;
        let secret = first_env(env, &["S3_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"])
            .ok_or("no S3 secret key: set S3_SECRET_ACCESS_KEY (or AWS_SECRET_ACCESS_KEY)")?;
        let s3 = S3Config::new(&endpoint, &region, &access_key, &secret, &self.path_style)
            .map_err(|e| format!("{e} (set by --endpoint/S3_ENDPOINT, --region, --path-style)"))?;
        let recipes = thumbflow_imaging::parse_recipes(&self.recipes)
            .map_err(|e| format!("--recipes: {e}"))?;
        let rules = ScanRules::new(&self.thumbnail_prefix, &recipes);
        let base = url::Url::parse(&self.url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https"))
            .ok_or_else(|| {
                format!(
                    "--url {:?} is not an http(s) URL: give the gateway's address, e.g. http://127.0.0.1:3000",
                    self.url
                )
            })?;
        let join = |path: &str| {
            let mut url = base.clone();
            let joined = format!("{}{path}", url.path().trim_end_matches('/'));
            url.set_path(&joined);
            url
        };
        let scope = Scope {
            endpoint: s3.endpoint().to_string(),
            bucket: target.bucket.clone(),
            prefix: target.prefix.clone(),
            thumbnail_prefix: self.thumbnail_prefix.clone(),
            recipes: rules.recipe_set(),
        };
        Ok(ScanConfig {
            checkpoint_path: scope.path_in(&self.checkpoint_dir),
            scope,
            target,
            s3,
            events_url: join("/events"),
            health_url: join("/healthz"),
            token: self.token.clone().filter(|t| !t.is_empty()),
            rules,
            publish_interval: Duration::from_secs_f64(1.0 / self.rate),
            concurrency: usize::from(self.concurrency),
            dry_run: self.dry_run,
            restart: self.restart,
        })
    }
}

/// Run `thumbflow scan`: exit code 0 when every object is done, 1 when some
/// failed (or the scan was stopped), 2 for usage and configuration errors
/// (bad flags, wrong credentials, no gateway, missing bucket).
pub fn main(args: &ScanArgs) -> ExitCode {
    let config = match args.resolve(&|name| std::env::var(name).ok()) {
        Ok(config) => config,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    runtime.block_on(run::main(&config, args.json))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        scan: ScanArgs,
    }

    fn args(extra: &[&str]) -> ScanArgs {
        let mut argv = vec!["scan"];
        argv.extend_from_slice(extra);
        Cli::try_parse_from(argv).unwrap().scan
    }

    fn env(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| {
            pairs
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, v)| (*v).to_owned())
        }
    }

    const RGW: &[(&str, &str)] = &[
        ("S3_ENDPOINT", "http://127.0.0.1:7480"),
        ("S3_ACCESS_KEY_ID", "AK"),
        ("S3_SECRET_ACCESS_KEY", "SK"),
        ("S3_REGION", "us-east-1"),
    ];

    #[test]
    fn target_parse_bucket_and_prefix() {
        assert_eq!(
            Target::parse("s3://photos").unwrap(),
            Target {
                bucket: "photos".into(),
                prefix: String::new()
            }
        );
        assert_eq!(
            Target::parse("s3://photos/2026/a b/").unwrap().prefix,
            "2026/a b/"
        );
        assert!(Target::parse("photos").unwrap_err().contains("s3://BUCKET"));
        assert!(Target::parse("s3:///x").unwrap_err().contains("no bucket"));
    }

    #[test]
    fn parse_rate_accepts_per_second_suffix() {
        assert_eq!(parse_rate("20/s").unwrap(), 20.0);
        assert_eq!(parse_rate("0.5").unwrap(), 0.5);
        assert!(parse_rate("0").is_err());
        assert!(parse_rate("fast").is_err());
    }

    #[test]
    fn resolve_reads_the_rgw_script_variables() {
        let config = args(&["s3://photos/2026/"]).resolve(&env(RGW)).unwrap();
        assert_eq!(config.s3.endpoint().as_str(), "http://127.0.0.1:7480/");
        assert_eq!(config.s3.access_key_id(), "AK");
        assert!(config.s3.path_style());
        assert_eq!(config.events_url.as_str(), "http://127.0.0.1:3000/events");
        assert_eq!(config.scope.recipes, "thumb@v1.jpg");
        assert_eq!(config.publish_interval, Duration::from_millis(50));
        assert!(config.checkpoint_path.starts_with(".thumbflow/scan"));
    }

    #[test]
    fn resolve_prefers_flags_and_aws_names_work() {
        const AWS: &[(&str, &str)] = &[
            ("AWS_ACCESS_KEY_ID", "AKIA"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("AWS_REGION", "eu-west-1"),
            ("S3_ENDPOINT", "http://ignored:1"),
        ];
        let config = args(&[
            "s3://b",
            "--endpoint",
            "https://s3.eu-west-1.amazonaws.com",
            "--path-style",
            "false",
            "--url",
            "http://gw:8080/base/",
        ])
        .resolve(&env(AWS))
        .unwrap();
        assert_eq!(config.s3.region(), "eu-west-1");
        assert!(!config.s3.path_style());
        assert_eq!(
            config.s3.endpoint().as_str(),
            "https://s3.eu-west-1.amazonaws.com/"
        );
        assert_eq!(config.events_url.as_str(), "http://gw:8080/base/events");
    }

    #[test]
    fn resolve_errors_name_the_fix() {
        let err = args(&["s3://b"]).resolve(&env(&[])).unwrap_err();
        assert!(
            err.contains("--endpoint") && err.contains("S3_ENDPOINT"),
            "{err}"
        );
        const NO_KEY: &[(&str, &str)] = &[("S3_ENDPOINT", "http://127.0.0.1:7480")];
        let err = args(&["s3://b"]).resolve(&env(NO_KEY)).unwrap_err();
        assert!(err.contains("S3_ACCESS_KEY_ID"), "{err}");
        let err = args(&["s3://b", "--recipes", "thumb=0x1"])
            .resolve(&env(RGW))
            .unwrap_err();
        assert!(err.starts_with("--recipes"), "{err}");
        let err = args(&["s3://b", "--url", "localhost:3000"])
            .resolve(&env(RGW))
            .unwrap_err();
        assert!(err.contains("--url"), "{err}");
    }

    #[test]
    fn resolve_scopes_differ_by_recipe_version() {
        let a = args(&["s3://b"]).resolve(&env(RGW)).unwrap();
        let b = args(&["s3://b", "--recipes", "thumb=300x300,jpeg,q90,v2"])
            .resolve(&env(RGW))
            .unwrap();
        assert_ne!(a.checkpoint_path, b.checkpoint_path);
    }
}

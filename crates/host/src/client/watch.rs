//! `thumbflow watch`: the pipeline's stage events as they happen.
//!
//! By default through the gateway (`--url`, `--token`), so the same command
//! watches `make up`, real Spin or a remote deployment: it polls the
//! gateway's `GET /admin/activity`, where every stage notes what it did with
//! each event (the gateway `stored` an upload; a stage `processed`,
//! `ignored`, settled a `duplicate` or `superseded` one, is `retrying` it,
//! `failed` or `dead`-lettered it), and prints each new entry once.
//!
//! With `--redis` it reads the pipeline's Redis instead: every payload
//! queued for a stage is also published on the stage channel's `:feed`
//! channel ([`thumbflow_queue::Keys::feed`]), which this subscribes to; one
//! line per message: which stage the message ends, the object, and the
//! event id to look up.

use std::process::ExitCode;
use std::time::Duration;

use futures::StreamExt as _;
use serde::Serialize;
use thumbflow_events::{
    normalize, parse_thumbnail_created, CanonicalEvent, NormalizeOptions, Outcome,
};

use super::{block_on, print_json, usage, Gateway, GatewayArgs, EXIT_OK};

/// How often the gateway's activity is polled.
const POLL_EVERY: Duration = Duration::from_millis(250);

/// `thumbflow watch`'s command line.
#[derive(clap::Args, Debug)]
pub struct WatchArgs {
    /// The gateway whose activity to watch (`--url`, `--token`).
    #[command(flatten)]
    pub gateway: GatewayArgs,
    /// Read the pipeline's Redis feed channels instead of the gateway (the
    /// app's `redis_address`); shows what each stage hands on.
    #[arg(long, env = "THUMBFLOW_REDIS_URL")]
    pub redis: Option<String>,
    /// Through the gateway: print the activity the stages still keep
    /// (their last ~2000 entries each) before the live events.
    #[arg(long)]
    pub history: bool,
    /// The raw channel (the app's `raw_channel`; `--redis` only).
    #[arg(long, default_value = "thumbflow.raw")]
    pub raw_channel: String,
    /// The canonical-event channel (the app's `images_channel`; `--redis` only).
    #[arg(long, default_value = "thumbflow.images")]
    pub images_channel: String,
    /// The thumbnail-created channel (the app's `thumbnails_channel`; `--redis` only).
    #[arg(long, default_value = "thumbflow.thumbnails")]
    pub thumbnails_channel: String,
    /// Stop after this many events (default: until Ctrl-C).
    #[arg(long)]
    pub count: Option<u64>,
    /// One JSON object per line instead of text.
    #[arg(long)]
    pub json: bool,
}

/// One stage event, as printed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StageEvent {
    /// What happened: `received` (raw event), `normalized`, `thumbnailed`.
    pub event: &'static str,
    /// The channel it was read from.
    pub channel: String,
    /// Bucket of the object, when the message names one.
    pub bucket: Option<String>,
    /// Key of the object, when the message names one.
    pub key: Option<String>,
    /// Event id (the canonical event's, or the thumbnail-created one's).
    pub id: Option<String>,
    /// Anything else worth a glance: thumbnails made, why it is unreadable.
    pub detail: String,
}

/// Which stage event `payload` on `channel` is (pure; `args` names the channels).
pub fn describe(args: &WatchArgs, channel: &str, payload: &[u8]) -> StageEvent {
    let mut out = StageEvent {
        event: "received",
        channel: channel.to_owned(),
        bucket: None,
        key: None,
        id: None,
        detail: String::new(),
    };
    if channel == args.images_channel {
        out.event = "normalized";
        match CanonicalEvent::from_envelope(payload) {
            Ok(event) => {
                out.bucket = Some(event.data.bucket);
                out.key = Some(event.data.key);
                out.id = Some(event.id);
                out.detail = format!("trace {}", event.traceparent);
            }
            Err(e) => out.detail = format!("unreadable: {e}"),
        }
    } else if channel == args.thumbnails_channel {
        out.event = "thumbnailed";
        match parse_thumbnail_created(payload) {
            Ok((attrs, created)) => {
                out.detail = created
                    .thumbnails
                    .iter()
                    .map(|t| format!("{} {}x{} -> {}", t.recipe, t.width, t.height, t.key))
                    .collect::<Vec<_>>()
                    .join(", ");
                out.bucket = Some(created.bucket);
                out.key = Some(created.key);
                out.id = Some(attrs.id);
            }
            Err(e) => out.detail = format!("unreadable: {e}"),
        }
    } else {
        // A raw event in any producer's format: read it as the normalizer will.
        let options = NormalizeOptions {
            thumbnail_prefix: String::new(),
            received_at: String::new(),
            max_event_bytes: usize::MAX,
        };
        match normalize(payload, &options) {
            Ok(outcomes) => {
                let objects: Vec<(String, String)> = outcomes
                    .into_iter()
                    .filter_map(|o| match o {
                        Outcome::Accepted { event, .. } => {
                            Some((event.data.bucket, event.data.key))
                        }
                        Outcome::Ignored(i) => Some((i.bucket?, i.key?)),
                    })
                    .collect();
                if let Some((bucket, key)) = objects.first() {
                    out.bucket = Some(bucket.clone());
                    out.key = Some(key.clone());
                }
                if objects.len() > 1 {
                    out.detail = format!("{} objects", objects.len());
                }
            }
            Err(e) => out.detail = format!("will be rejected: {e}"),
        }
    }
    out
}

/// Run `thumbflow watch`.
pub fn main(args: &WatchArgs) -> ExitCode {
    block_on(async {
        match watch(args).await {
            Ok(()) => ExitCode::from(EXIT_OK),
            Err(message) => usage(message),
        }
    })
}

async fn watch(args: &WatchArgs) -> Result<(), String> {
    match &args.redis {
        Some(redis) => watch_redis(args, redis).await,
        None => watch_gateway(args).await,
    }
}

/// Poll the gateway's activity and print every new entry once.
async fn watch_gateway(args: &WatchArgs) -> Result<(), String> {
    let gateway = Gateway::new(&args.gateway)?;
    let fetch = |cursor: Option<String>| {
        let gateway = &gateway;
        async move {
            let query = cursor.map_or_else(String::new, |c| {
                format!(
                    "?after={}",
                    super::utf8_percent_encode(&c, super::KEY_IN_PATH)
                )
            });
            gateway
                .admin(false, &format!("/admin/activity{query}"))
                .await
                .map_err(|e| e.to_string())
        }
    };
    // Where the stages are now: what they already did is history.
    let first = fetch(None).await?;
    let mut cursor = first["cursor"].as_str().map(str::to_owned);
    if args.count == Some(0) {
        return Ok(());
    }
    let mut seen = 0u64;
    // Print one event; whether that was the last one asked for.
    let mut emit = |event: &serde_json::Value| -> bool {
        seen += 1;
        if args.json {
            print_json(event);
        } else {
            println!("{}", activity_line(event));
        }
        args.count.is_some_and(|count| seen >= count)
    };
    if args.history {
        for event in first["events"].as_array().into_iter().flatten() {
            if emit(event) {
                return Ok(());
            }
        }
    }
    // On stderr in both modes: stdout stays one JSON object per line.
    eprintln!(
        "watching the stages of {} (Ctrl-C to stop)",
        args.gateway.url
    );
    loop {
        tokio::time::sleep(POLL_EVERY).await;
        let answer = fetch(cursor.clone()).await?;
        for event in answer["events"].as_array().into_iter().flatten() {
            if emit(event) {
                return Ok(());
            }
        }
        if let Some(next) = answer["cursor"].as_str() {
            cursor = Some(next.to_owned());
        }
    }
}

/// One activity entry as a line of text: time, stage, outcome, object,
/// event id, detail.
pub fn activity_line(event: &serde_json::Value) -> String {
    let text = |name: &str| event[name].as_str().unwrap_or("");
    let object = match (event["bucket"].as_str(), event["key"].as_str()) {
        (Some(bucket), Some(key)) => format!("{bucket}/{key}"),
        _ => "(no object)".to_owned(),
    };
    let mut line = format!(
        "{} {:<11} {:<10} {object}",
        text("at"),
        text("stage"),
        text("outcome")
    );
    if let Some(id) = event["event"].as_str() {
        line.push_str(&format!(" event={id}"));
    }
    if let Some(detail) = event["detail"].as_str() {
        line.push_str(&format!("  {detail}"));
    }
    line
}

/// Subscribe to the stages' `:feed` channels on `redis` and print each message.
async fn watch_redis(args: &WatchArgs, redis_url: &str) -> Result<(), String> {
    let client =
        redis::Client::open(redis_url).map_err(|e| format!("--redis {redis_url:?}: {e}"))?;
    let mut pubsub = client
        .get_async_pubsub()
        .await
        .map_err(|e| format!("connecting to {redis_url}: {e}"))?;
    let channels: Vec<String> = [
        &args.raw_channel,
        &args.images_channel,
        &args.thumbnails_channel,
    ]
    .into_iter()
    .map(|c| thumbflow_queue::Keys::new(c).feed)
    .collect();
    pubsub
        .subscribe(&channels)
        .await
        .map_err(|e| format!("subscribing to {channels:?} on {redis_url}: {e}"))?;
    eprintln!("watching {channels:?} on {redis_url} (Ctrl-C to stop)");
    let mut messages = pubsub.on_message();
    let mut seen = 0u64;
    while args.count.is_none_or(|count| seen < count) {
        let Some(message) = messages.next().await else {
            return Err(format!("{redis_url} closed the connection"));
        };
        seen += 1;
        let feed = message.get_channel_name();
        let channel = feed.strip_suffix(":feed").unwrap_or(feed);
        let event = describe(args, channel, message.get_payload_bytes());
        if args.json {
            print_json(&event);
        } else {
            println!(
                "{:<11} {}/{}  {}  {}",
                event.event,
                event.bucket.as_deref().unwrap_or("?"),
                event.key.as_deref().unwrap_or("?"),
                event.id.as_deref().unwrap_or("-"),
                event.detail
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        watch: WatchArgs,
    }

    #[test]
    fn raw_events_are_read_as_the_normalizer_reads_them() {
        let args = Cli::parse_from(["watch"]).watch;
        let raw = include_bytes!("../../../events/tests/samples/s3-put-encoded-key.json");
        let event = describe(&args, "thumbflow.raw", raw);
        assert_eq!(event.event, "received");
        assert_eq!(event.bucket.as_deref(), Some("amzn-s3-demo-bucket"));
        assert_eq!(event.key.as_deref(), Some("a b/c d.jpg"));

        let broken = describe(&args, "thumbflow.raw", b"{not json");
        assert!(broken.detail.starts_with("will be rejected"), "{broken:?}");
        assert_eq!(
            describe(&args, "thumbflow.images", b"{}").event,
            "normalized"
        );
    }
}

//! `thumbflow watch`: the pipeline's stage events as they happen, read from
//! Redis (so it works the same with our host and with real Spin, which
//! share nothing else a client could ask): every payload queued for a stage
//! is also published on the stage channel's `:feed` channel
//! ([`thumbflow_queue::Keys::feed`]), which this subscribes to. One line per message: which stage the message ends, the object,
//! and the event id to look up.

use std::process::ExitCode;

use futures::StreamExt as _;
use serde::Serialize;
use thumbflow_events::{
    normalize, parse_thumbnail_created, CanonicalEvent, NormalizeOptions, Outcome,
};

use super::{block_on, print_json, usage, EXIT_OK};

/// `thumbflow watch`'s command line.
#[derive(clap::Args, Debug)]
pub struct WatchArgs {
    /// The Redis the pipeline publishes on (the app's `redis_address`).
    #[arg(
        long,
        env = "THUMBFLOW_REDIS_URL",
        default_value = "redis://127.0.0.1:6379"
    )]
    pub redis: String,
    /// The raw channel (the app's `raw_channel`).
    #[arg(long, default_value = "thumbflow.raw")]
    pub raw_channel: String,
    /// The canonical-event channel (the app's `images_channel`).
    #[arg(long, default_value = "thumbflow.images")]
    pub images_channel: String,
    /// The thumbnail-created channel (the app's `thumbnails_channel`).
    #[arg(long, default_value = "thumbflow.thumbnails")]
    pub thumbnails_channel: String,
    /// Stop after this many messages (default: until Ctrl-C).
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
    let client = redis::Client::open(args.redis.as_str())
        .map_err(|e| format!("--redis {:?}: {e}", args.redis))?;
    let mut pubsub = client
        .get_async_pubsub()
        .await
        .map_err(|e| format!("connecting to {}: {e}", args.redis))?;
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
        .map_err(|e| format!("subscribing to {channels:?} on {}: {e}", args.redis))?;
    if !args.json {
        eprintln!("watching {channels:?} on {} (Ctrl-C to stop)", args.redis);
    }
    let mut messages = pubsub.on_message();
    let mut seen = 0u64;
    while args.count.is_none_or(|count| seen < count) {
        let Some(message) = messages.next().await else {
            return Err(format!("{} closed the connection", args.redis));
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

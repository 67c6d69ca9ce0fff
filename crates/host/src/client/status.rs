//! `thumbflow status KEY` (one object's record and verdict, optionally
//! waiting for the pipeline to finish with it) and `thumbflow send
//! EVENT.json|-` (a raw storage event through `POST /events`).

use std::io::Read as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use thumbflow_events::{ObjectStatus, STAGES};

use super::verdict::{verdict, Verdict};
use super::{
    block_on, print_json, usage, Gateway, GatewayArgs, EXIT_FAILED, EXIT_NOT_FOUND, EXIT_OK,
};

/// `thumbflow status`'s command line.
#[derive(clap::Args, Debug)]
pub struct StatusArgs {
    /// The object's key (decoded, as stored: `photos/a b.jpg`).
    pub key: String,
    /// The gateway to talk to (`--url`, `--token`, `--bucket`).
    #[command(flatten)]
    pub gateway: GatewayArgs,
    /// Wait until the pipeline is finished with the object (done, ignored or failed).
    #[arg(long)]
    pub wait: bool,
    /// Longest wait with `--wait`, in seconds.
    #[arg(long, default_value_t = 120)]
    pub timeout_secs: u64,
    /// Print `{"verdict": ..., "status": ...}` as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Human lines for one record: a header with the verdict, one line per
/// stage, the thumbnails and the trace id.
pub fn describe(status: &ObjectStatus, verdict: &Verdict) -> String {
    let mut out = format!("{}/{}: {}", status.bucket, status.key, verdict.word());
    match verdict {
        Verdict::Failed { stage, reason, .. } | Verdict::Ignored { stage, reason } => {
            out.push_str(&format!(" at {stage}: {reason}"));
        }
        Verdict::Pending { .. } | Verdict::Done => {}
    }
    // Pipeline order first, then any stage this CLI does not know yet.
    let known = STAGES
        .iter()
        .filter_map(|s| Some((*s, status.stages.get(*s)?)));
    let unknown = status
        .stages
        .iter()
        .filter(|(s, _)| !STAGES.contains(&s.as_str()))
        .map(|(s, r)| (s.as_str(), r));
    for (stage, result) in known.chain(unknown) {
        let state = serde_json::to_value(result.state)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        out.push_str(&format!(
            "\n  {stage:<12} {state:<8} {}  {}",
            result.at,
            result.detail.as_deref().unwrap_or("")
        ));
    }
    for thumb in &status.thumbnails {
        out.push_str(&format!(
            "\n  thumbnail {} v{}: {}x{} {} {} bytes  {}",
            thumb.recipe,
            thumb.recipe_version,
            thumb.width,
            thumb.height,
            thumb.content_type,
            thumb.bytes,
            thumb.key
        ));
    }
    if let Some(trace) = &status.trace_id {
        out.push_str(&format!("\n  trace {trace}"));
    }
    out
}

/// Run `thumbflow status`.
pub fn main(args: &StatusArgs) -> ExitCode {
    let gateway = match Gateway::new(&args.gateway) {
        Ok(gateway) => gateway,
        Err(message) => return usage(message),
    };
    block_on(async {
        let deadline = Instant::now() + Duration::from_secs(args.timeout_secs);
        loop {
            let record = match gateway.status(&args.key).await {
                Ok(record) => record,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(e.exit_code());
                }
            };
            let found = record.as_ref().map(|s| (verdict(s, None), s));
            let settled = found.as_ref().is_some_and(|(v, _)| v.is_final());
            if !args.wait || settled || Instant::now() >= deadline {
                return report(args, found, settled);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
}

fn report(args: &StatusArgs, found: Option<(Verdict, &ObjectStatus)>, settled: bool) -> ExitCode {
    let Some((verdict, status)) = found else {
        if args.json {
            print_json(&serde_json::json!({ "key": args.key, "verdict": null, "status": null }));
        } else {
            eprintln!("no status record for {:?}", args.key);
        }
        return ExitCode::from(EXIT_NOT_FOUND);
    };
    if args.json {
        print_json(&serde_json::json!({ "verdict": verdict, "status": status }));
    } else {
        println!("{}", describe(status, &verdict));
        if args.wait && !settled {
            eprintln!("still {} after {} s", verdict.word(), args.timeout_secs);
        }
    }
    match verdict {
        Verdict::Failed { .. } => ExitCode::from(EXIT_FAILED),
        Verdict::Pending { .. } if args.wait => ExitCode::from(EXIT_FAILED),
        _ => ExitCode::from(EXIT_OK),
    }
}

/// `thumbflow send`'s command line.
#[derive(clap::Args, Debug)]
pub struct SendArgs {
    /// The raw event (S3, EventBridge, CloudEvents, MinIO, Ceph, GCS, Azure JSON), or `-` for stdin.
    #[arg(value_name = "EVENT.json|-")]
    pub event: PathBuf,
    /// The gateway to talk to (`--url`, `--token`, `--bucket`).
    #[command(flatten)]
    pub gateway: GatewayArgs,
    /// Print the gateway's answer as JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Run `thumbflow send`.
pub fn send_main(args: &SendArgs) -> ExitCode {
    let body = if args.event.as_os_str() == "-" {
        let mut body = Vec::new();
        std::io::stdin()
            .read_to_end(&mut body)
            .map(|_| body)
            .map_err(|e| format!("reading the event from stdin: {e}"))
    } else {
        std::fs::read(&args.event)
            .map_err(|e| format!("reading the event {}: {e}", args.event.display()))
    };
    let (body, gateway) = match (body, Gateway::new(&args.gateway)) {
        (Ok(body), Ok(gateway)) => (body, gateway),
        (Err(message), _) | (_, Err(message)) => return usage(message),
    };
    block_on(async {
        match gateway.post_event(body).await {
            Ok(answer) => {
                if args.json {
                    print_json(&serde_json::json!({ "accepted": true, "answer": answer }));
                } else {
                    println!("accepted: {answer}");
                }
                ExitCode::from(EXIT_OK)
            }
            Err(e) => {
                if args.json {
                    print_json(&serde_json::json!({ "accepted": false, "error": e.to_string() }));
                } else {
                    eprintln!("error: {e}");
                }
                ExitCode::from(e.exit_code())
            }
        }
    })
}

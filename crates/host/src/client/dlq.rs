//! `thumbflow dlq list`, `thumbflow dlq replay ID|--all` and `thumbflow
//! drain`: the stages' dead letters and queues, through the gateway's
//! admin routes (behind the API token when one is set), so they work the
//! same against our host and real Spin.

use std::process::ExitCode;

use super::{block_on, print_json, usage, Gateway, GatewayArgs, EXIT_FAILED, EXIT_OK};

/// `thumbflow dlq`'s command line.
#[derive(clap::Args, Debug)]
pub struct DlqArgs {
    /// What to do with the dead letters.
    #[command(subcommand)]
    pub command: DlqCommand,
}

/// The `dlq` verbs.
#[derive(clap::Subcommand, Debug)]
pub enum DlqCommand {
    /// List dead letters, oldest first: stage, id, attempts, error, object.
    List(ListArgs),
    /// Move dead letters back to their stage's queue (attempts start again).
    Replay(ReplayArgs),
}

/// `thumbflow dlq list`.
#[derive(clap::Args, Debug)]
pub struct ListArgs {
    /// The gateway to talk to (`--url`, `--token`).
    #[command(flatten)]
    pub gateway: GatewayArgs,
    /// Only this stage's dead letters (normalizer, thumbnailer, notifier).
    #[arg(long)]
    pub stage: Option<String>,
    /// Print the gateway's JSON answer instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `thumbflow dlq replay`.
#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["id", "all"])))]
pub struct ReplayArgs {
    /// The dead letter's id (from `dlq list`).
    pub id: Option<String>,
    /// Replay every dead letter (of `--stage`, or of all stages).
    #[arg(long)]
    pub all: bool,
    /// The stage of the dead letter(s).
    #[arg(long)]
    pub stage: Option<String>,
    /// The gateway to talk to (`--url`, `--token`).
    #[command(flatten)]
    pub gateway: GatewayArgs,
    /// Print the gateway's JSON answer instead of text.
    #[arg(long)]
    pub json: bool,
}

/// `thumbflow drain`.
#[derive(clap::Args, Debug)]
pub struct DrainArgs {
    /// The gateway to talk to (`--url`, `--token`).
    #[command(flatten)]
    pub gateway: GatewayArgs,
    /// Print the gateway's JSON answer instead of text.
    #[arg(long)]
    pub json: bool,
}

fn query(pairs: &[(&str, Option<&str>)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if let Some(v) = v {
            q.append_pair(k, v);
        }
    }
    let q = q.finish();
    if q.is_empty() {
        q
    } else {
        format!("?{q}")
    }
}

/// Run `thumbflow dlq`.
pub fn main(args: &DlqArgs) -> ExitCode {
    match &args.command {
        DlqCommand::List(list) => run(
            &list.gateway,
            list.json,
            false,
            &format!("/admin/dlq{}", query(&[("stage", list.stage.as_deref())])),
            describe_list,
        ),
        DlqCommand::Replay(replay) => run(
            &replay.gateway,
            replay.json,
            true,
            &format!(
                "/admin/dlq/replay{}",
                query(&[
                    ("stage", replay.stage.as_deref()),
                    ("id", replay.id.as_deref()),
                    ("all", replay.all.then_some("true")),
                ])
            ),
            describe_replay,
        ),
    }
}

/// Run `thumbflow drain`.
pub fn drain_main(args: &DrainArgs) -> ExitCode {
    run(&args.gateway, args.json, true, "/admin/drain", |answer| {
        let rung: Vec<&str> = answer["rung"]
            .as_array()
            .map(|a| a.iter().filter_map(|s| s.as_str()).collect())
            .unwrap_or_default();
        (format!("rang the doorbell of {}", rung.join(", ")), true)
    })
}

fn run(
    gateway: &GatewayArgs,
    json: bool,
    post: bool,
    path: &str,
    describe: fn(&serde_json::Value) -> (String, bool),
) -> ExitCode {
    let gateway = match Gateway::new(gateway) {
        Ok(gateway) => gateway,
        Err(message) => return usage(message),
    };
    block_on(async {
        match gateway.admin(post, path).await {
            Ok(answer) => {
                let (text, ok) = describe(&answer);
                if json {
                    print_json(&answer);
                } else {
                    println!("{text}");
                }
                ExitCode::from(if ok { EXIT_OK } else { EXIT_FAILED })
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(e.exit_code())
            }
        }
    })
}

/// Text for a listing; always a success (an empty list is an answer).
fn describe_list(answer: &serde_json::Value) -> (String, bool) {
    let letters = answer["dead_letters"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if letters.is_empty() {
        return ("no dead letters".to_owned(), true);
    }
    let lines: Vec<String> = letters
        .iter()
        .map(|l| {
            format!(
                "{:<12} {:<18} attempts {:<3} {}",
                l["stage"].as_str().unwrap_or("?"),
                l["id"].as_str().unwrap_or("?"),
                l["attempts"],
                l["error"].as_str().unwrap_or("")
            )
        })
        .collect();
    (
        format!("{}\n{} dead letter(s)", lines.join("\n"), letters.len()),
        true,
    )
}

/// Text for a replay; a success when something was replayed.
fn describe_replay(answer: &serde_json::Value) -> (String, bool) {
    let replayed = answer["replayed"].as_array().cloned().unwrap_or_default();
    let lines: Vec<String> = replayed
        .iter()
        .map(|r| {
            format!(
                "replayed {} {} as {}",
                r["stage"].as_str().unwrap_or("?"),
                r["id"].as_str().unwrap_or("?"),
                r["entry"].as_str().unwrap_or("?")
            )
        })
        .collect();
    if lines.is_empty() {
        return ("nothing to replay".to_owned(), true);
    }
    (lines.join("\n"), true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_carry_only_what_was_given_encoded() {
        assert_eq!(query(&[("stage", None)]), "");
        assert_eq!(
            query(&[
                ("stage", Some("thumbnailer")),
                ("id", Some("1-0 x")),
                ("all", None)
            ]),
            "?stage=thumbnailer&id=1-0+x"
        );
    }
}

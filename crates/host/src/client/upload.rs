//! `thumbflow upload FILES…|DIR`: upload files (folders recursively)
//! through `PUT /objects/{key}`, several at once, then wait for the
//! pipeline's verdict on each, and end with a summary that names every
//! failure and its reason. An upload is a success when its thumbnails are
//! stored and the notifier is done (or, with `--no-wait`, when the gateway
//! stored the file).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt as _};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;

use super::verdict::{verdict, Verdict};
use super::{block_on, print_json, usage, Gateway, GatewayArgs, EXIT_FAILED, EXIT_OK, EXIT_USAGE};

/// `thumbflow upload`'s command line.
#[derive(clap::Args, Debug)]
pub struct UploadArgs {
    /// Files to upload, or folders (uploaded recursively, keys keep the relative path).
    #[arg(required = true, value_name = "FILES|DIR")]
    pub paths: Vec<PathBuf>,
    /// The gateway to talk to (`--url`, `--token`, `--bucket`).
    #[command(flatten)]
    pub gateway: GatewayArgs,
    /// Key prefix: with `photos/`, `a.jpg` becomes `photos/a.jpg`.
    #[arg(long, default_value = "")]
    pub prefix: String,
    /// Uploads in flight at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub concurrency: u16,
    /// Do not wait for the pipeline: success is the gateway storing the file.
    #[arg(long)]
    pub no_wait: bool,
    /// Longest wait for the pipeline to finish with every file, in seconds.
    #[arg(long, default_value_t = 300)]
    pub timeout_secs: u64,
    /// Print one JSON summary on stdout instead of text.
    #[arg(long)]
    pub json: bool,
}

/// One file to upload and the key it goes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// The local file.
    pub path: PathBuf,
    /// Its object key.
    pub key: String,
}

/// The files `paths` name, with their keys: a file goes to `prefix` + its
/// name, a folder's files to `prefix` + their path inside it (`/`
/// separated), sorted. Hidden files and folders (`.name`) are skipped.
pub fn collect(paths: &[PathBuf], prefix: &str) -> Result<Vec<Item>, String> {
    let mut items = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if meta.is_dir() {
            let mut found = Vec::new();
            walk(path, &mut found)?;
            found.sort();
            for file in found {
                let relative = file
                    .strip_prefix(path)
                    .map_err(|e| format!("{}: {e}", file.display()))?;
                let parts: Option<Vec<&str>> = relative
                    .components()
                    .map(|c| c.as_os_str().to_str())
                    .collect();
                let parts =
                    parts.ok_or_else(|| format!("{}: file name is not UTF-8", file.display()))?;
                items.push(Item {
                    key: format!("{prefix}{}", parts.join("/")),
                    path: file,
                });
            }
        } else {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .ok_or_else(|| format!("{}: file name is not UTF-8", path.display()))?;
            items.push(Item {
                key: format!("{prefix}{name}"),
                path: path.clone(),
            });
        }
    }
    Ok(items)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let entry = entry.map_err(|e| format!("{}: {e}", dir.display()))?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        let kind = entry
            .file_type()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if kind.is_dir() {
            walk(&path, out)?;
        } else if kind.is_file() || (kind.is_symlink() && path.is_file()) {
            out.push(path);
        }
    }
    Ok(())
}

/// How one file fared.
#[derive(Debug, Clone, Serialize)]
pub struct ItemReport {
    /// The local file.
    pub path: String,
    /// Its object key.
    pub key: String,
    /// `done`, `stored` (with `--no-wait`), `ignored`, `failed` or `timed-out`.
    pub outcome: &'static str,
    /// The stage that failed or ignored it (`upload` when the gateway refused it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// Why it failed or was ignored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Keys of the thumbnails made.
    pub thumbnails: Vec<String>,
    /// The gateway could not be reached or refused the token: the file was
    /// never judged (exit code 2, not 1).
    #[serde(skip)]
    pub connection_failure: bool,
}

/// The whole run, as `--json` prints it.
#[derive(Debug, Serialize)]
pub struct Summary {
    /// Files found.
    pub files: usize,
    /// Thumbnailed and notified.
    pub done: usize,
    /// Stored, not waited for (`--no-wait`).
    pub stored: usize,
    /// Skipped by a stage on purpose.
    pub ignored: usize,
    /// Refused by the gateway, failed in a stage, or not finished in time.
    pub failed: usize,
    /// Every file, in the order found.
    pub items: Vec<ItemReport>,
}

impl Summary {
    fn of(items: Vec<ItemReport>) -> Self {
        let count = |outcome: &str| items.iter().filter(|i| i.outcome == outcome).count();
        Summary {
            files: items.len(),
            done: count("done"),
            stored: count("stored"),
            ignored: count("ignored"),
            failed: count("failed") + count("timed-out"),
            items,
        }
    }
}

/// A file the gateway stored, waiting for its verdict.
struct InFlight {
    index: usize,
    /// The gateway's time of this upload, so an earlier run's results of
    /// the same key do not count.
    since: Option<String>,
}

fn report(item: &Item, outcome: &'static str) -> ItemReport {
    ItemReport {
        path: item.path.display().to_string(),
        key: item.key.clone(),
        outcome,
        stage: None,
        reason: None,
        thumbnails: Vec::new(),
        connection_failure: false,
    }
}

fn progress_bar(total: usize, hidden: bool) -> ProgressBar {
    let bar = ProgressBar::new(total as u64);
    if hidden {
        bar.set_draw_target(ProgressDrawTarget::hidden());
    }
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} {msg:>10} [{bar:30}] {pos}/{len} {elapsed}")
    {
        bar.set_style(style.progress_chars("=> "));
    }
    bar
}

/// Upload every item, then wait for the verdicts; one report per item, in order.
pub async fn run(args: &UploadArgs, gateway: &Gateway, items: &[Item]) -> Vec<ItemReport> {
    let bar = progress_bar(items.len(), args.json);
    bar.set_message("uploading");
    let mut reports: Vec<ItemReport> = items.iter().map(|i| report(i, "failed")).collect();
    let mut waiting = Vec::new();

    let mut uploads = stream::iter(items.iter().enumerate())
        .map(|(index, item)| async move {
            let result = match std::fs::read(&item.path) {
                Ok(bytes) => gateway
                    .put(&item.key, bytes)
                    .await
                    .map_err(|e| (e.to_string(), e.exit_code() == EXIT_USAGE)),
                Err(e) => Err((format!("reading {}: {e}", item.path.display()), false)),
            };
            (index, result)
        })
        .buffer_unordered(usize::from(args.concurrency));
    while let Some((index, result)) = uploads.next().await {
        match result {
            Ok(_) if args.no_wait => {
                reports[index].outcome = "stored";
                bar.inc(1);
            }
            Ok(_) => {
                // The gateway records its stage before answering.
                let since = match gateway.status(&items[index].key).await {
                    Ok(Some(status)) => status.stages.get("gateway").map(|s| s.at.clone()),
                    _ => None,
                };
                waiting.push(InFlight { index, since });
            }
            Err((reason, connection)) => {
                reports[index].connection_failure = connection;
                reports[index].stage = Some("upload".to_owned());
                reports[index].reason = Some(reason);
                bar.inc(1);
            }
        }
    }
    drop(uploads);

    bar.set_message("processing");
    let deadline = Instant::now() + Duration::from_secs(args.timeout_secs);
    while !waiting.is_empty() {
        let mut still = Vec::new();
        for flight in waiting {
            let report = &mut reports[flight.index];
            let status = match gateway.status(&items[flight.index].key).await {
                Ok(status) => status,
                Err(e) => {
                    report.stage = Some("status".to_owned());
                    report.reason = Some(e.to_string());
                    bar.inc(1);
                    continue;
                }
            };
            let Some(status) = status else {
                still.push(flight);
                continue;
            };
            match verdict(&status, flight.since.as_deref()) {
                Verdict::Pending { .. } => still.push(flight),
                Verdict::Done => {
                    report.outcome = "done";
                    report.thumbnails = status.thumbnails.iter().map(|t| t.key.clone()).collect();
                    bar.inc(1);
                }
                Verdict::Ignored { stage, reason } => {
                    report.outcome = "ignored";
                    report.stage = Some(stage);
                    report.reason = Some(reason);
                    bar.inc(1);
                }
                Verdict::Failed { stage, reason, .. } => {
                    report.stage = Some(stage);
                    report.reason = Some(reason);
                    bar.inc(1);
                }
            }
        }
        waiting = still;
        if waiting.is_empty() {
            break;
        }
        if Instant::now() >= deadline {
            for flight in &waiting {
                let report = &mut reports[flight.index];
                report.outcome = "timed-out";
                report.reason = Some(format!(
                    "the pipeline had not finished after {} s (see thumbflow status)",
                    args.timeout_secs
                ));
            }
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    bar.finish_and_clear();
    reports
}

/// Run `thumbflow upload`.
pub fn main(args: &UploadArgs) -> ExitCode {
    let prepared = collect(&args.paths, &args.prefix).and_then(|items| {
        if items.is_empty() {
            return Err("no files to upload".to_owned());
        }
        Ok((items, Gateway::new(&args.gateway)?))
    });
    let (items, gateway) = match prepared {
        Ok(prepared) => prepared,
        Err(message) => return usage(message),
    };
    block_on(async {
        let summary = Summary::of(run(args, &gateway, &items).await);
        report_summary(args, &summary)
    })
}

/// Print the summary (text naming every file not done, or JSON); its exit code.
fn report_summary(args: &UploadArgs, summary: &Summary) -> ExitCode {
    if args.json {
        print_json(summary);
    } else {
        for item in summary
            .items
            .iter()
            .filter(|i| i.outcome != "done" && i.outcome != "stored")
        {
            println!(
                "{:<9} {} ({}): {}{}",
                item.outcome,
                item.path,
                item.key,
                item.stage
                    .as_deref()
                    .map(|s| format!("{s}: "))
                    .unwrap_or_default(),
                item.reason.as_deref().unwrap_or("")
            );
        }
        println!(
            "{} files: {} done, {} stored, {} ignored, {} failed",
            summary.files, summary.done, summary.stored, summary.ignored, summary.failed
        );
    }
    let code = if summary.items.iter().any(|i| i.connection_failure) {
        EXIT_USAGE
    } else if summary.failed == 0 {
        EXIT_OK
    } else {
        EXIT_FAILED
    };
    ExitCode::from(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collect_keys_folders_by_relative_path_and_files_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("set");
        std::fs::create_dir_all(root.join("sub dir")).unwrap();
        std::fs::create_dir_all(root.join(".hidden")).unwrap();
        for file in [
            "b.jpg",
            "a.png",
            "sub dir/c é.jpg",
            ".DS_Store",
            ".hidden/x.jpg",
        ] {
            std::fs::write(root.join(file), b"x").unwrap();
        }
        let single = dir.path().join("one.jpg");
        std::fs::write(&single, b"x").unwrap();

        let items = collect(&[root.clone(), single], "up/").unwrap();
        let keys: Vec<&str> = items.iter().map(|i| i.key.as_str()).collect();
        assert_eq!(
            keys,
            ["up/a.png", "up/b.jpg", "up/sub dir/c é.jpg", "up/one.jpg"]
        );
        assert!(collect(&[dir.path().join("missing")], "").is_err());
    }
}

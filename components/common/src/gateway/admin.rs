//! Admin routes over the stages' durable queues, behind the API token
//! when one is set: dead letters listed and replayed, queue counters.
//!
//! - `GET /admin/queues`: per stage, backlog, in flight, retrying, dead
//!   letters and counters (processed, duplicate, superseded, retried, ...);
//! - `GET /admin/dlq[?stage=S]`: the dead letters, oldest first, with
//!   their error, attempts and payload;
//! - `POST /admin/dlq/replay?stage=S&id=ID` or `?all=true[&stage=S]`: move
//!   dead letters back to their stage's queue (attempts start again);
//! - `POST /admin/drain`: ring every stage's doorbell, so work left in the
//!   queues (after an outage, retries come due, a crashed worker's lease)
//!   is picked up on a host that rings no doorbell by itself (real Spin);
//! - `GET /admin/activity[?after=CURSOR][&limit=N]`: what the stages did
//!   with each event (stored, processed, retrying, dead, ...), oldest
//!   first, after a cursor an earlier answer gave: `thumbflow watch`.

use spin_sdk::http::{Params, Request};
use thumbflow_queue::{DeadLetter, Queue, QueueConfig};

use super::{authorize, json, HttpError, Reply};
use crate::queue::SpinRedis;
use crate::vars;

/// The stages with a queue, and the variable naming each one's channel.
const STAGES: [(&str, &str); 3] = [
    ("normalizer", "raw_channel"),
    ("thumbnailer", "images_channel"),
    ("notifier", "thumbnails_channel"),
];

/// Most dead letters one listing returns per stage.
const LIST_LIMIT: usize = 1000;
/// Most activity entries one answer returns per stage, unless `limit` says fewer.
const ACTIVITY_LIMIT: usize = 500;

fn query(req: &Request, name: &str) -> Option<String> {
    form_urlencoded::parse(req.query().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The queues of the stages `stage` selects (all when `None`).
fn queues(stage: Option<&str>) -> Result<Vec<(&'static str, Queue<SpinRedis>)>, HttpError> {
    let selected: Vec<_> = STAGES
        .iter()
        .filter(|(name, _)| stage.is_none_or(|s| s == *name))
        .collect();
    if selected.is_empty() {
        let names: Vec<&str> = STAGES.iter().map(|(n, _)| *n).collect();
        return Err(HttpError(
            400,
            format!("no stage {stage:?}: one of {}", names.join(", ")),
        ));
    }
    selected
        .into_iter()
        .map(|(name, var)| {
            let channel = vars::get(var)?;
            Ok((
                *name,
                Queue::new(SpinRedis::open()?, name, &channel, QueueConfig::default()),
            ))
        })
        .collect()
}

fn unavailable(e: thumbflow_queue::QueueError) -> HttpError {
    HttpError(503, e.to_string())
}

fn letter_json(letter: &DeadLetter) -> serde_json::Value {
    serde_json::json!({
        "stage": letter.stage,
        "id": letter.id,
        "error": letter.error,
        "attempts": letter.attempts,
        "entry": letter.entry,
        "at_ms": letter.at_ms,
        "payload": String::from_utf8_lossy(&letter.payload),
    })
}

/// `GET /admin/queues`.
pub fn get_queues(req: &Request) -> Reply {
    authorize(req, false)?;
    let mut stages = serde_json::Map::new();
    for (name, queue) in queues(None)? {
        let stats = queue.stats().map_err(unavailable)?;
        let counters: serde_json::Map<String, serde_json::Value> = stats
            .counters
            .iter()
            .map(|(k, v)| (k.clone(), (*v).into()))
            .collect();
        stages.insert(
            name.to_owned(),
            serde_json::json!({
                "backlog": stats.backlog,
                "in_flight": stats.in_flight,
                "retrying": stats.retrying,
                "dead_letters": stats.dead_letters,
                "counters": counters,
            }),
        );
    }
    Ok(json(200, &serde_json::Value::Object(stages)))
}

/// `GET /admin/dlq`.
pub fn get_dead_letters(req: &Request, _: &Params) -> Reply {
    authorize(req, false)?;
    let stage = query(req, "stage");
    let mut letters = Vec::new();
    for (_, queue) in queues(stage.as_deref())? {
        let found = queue.dead_letters(None, LIST_LIMIT).map_err(unavailable)?;
        letters.extend(found.iter().map(letter_json));
    }
    Ok(json(200, &serde_json::json!({ "dead_letters": letters })))
}

/// `POST /admin/dlq/replay`.
pub fn replay(req: &Request, _: &Params) -> Reply {
    authorize(req, false)?;
    let stage = query(req, "stage");
    let all = query(req, "all").is_some_and(|v| v == "true" || v == "1");
    let id = query(req, "id");
    if all == id.is_some() {
        return Err(HttpError(
            400,
            "name one dead letter (?stage=S&id=ID) or ask for all (?all=true)".into(),
        ));
    }
    let mut replayed = Vec::new();
    for (name, queue) in queues(stage.as_deref())? {
        let ids: Vec<String> = match &id {
            Some(id) => vec![id.clone()],
            None => queue
                .dead_letters(None, LIST_LIMIT)
                .map_err(unavailable)?
                .into_iter()
                .map(|l| l.id)
                .collect(),
        };
        for dead in ids {
            if let Some(entry) = queue.replay(&dead).map_err(unavailable)? {
                println!("replayed dead letter {dead} of {name} as {entry}");
                replayed.push(serde_json::json!({ "stage": name, "id": dead, "entry": entry }));
            }
        }
    }
    if let (Some(id), true) = (&id, replayed.is_empty()) {
        return Err(HttpError(404, format!("no dead letter {id}")));
    }
    Ok(json(200, &serde_json::json!({ "replayed": replayed })))
}

/// `POST /admin/drain`.
pub fn drain(req: &Request) -> Reply {
    authorize(req, false)?;
    let mut rung = Vec::new();
    for (name, queue) in queues(None)? {
        queue.enqueue(&[]).map_err(unavailable)?;
        rung.push(name);
    }
    Ok(json(200, &serde_json::json!({ "rung": rung })))
}

/// `GET /admin/activity`: each stage's activity after the cursor
/// (`stage:id,stage:id,...`, as `cursor` in the last answer; none: from the
/// oldest kept), merged in time order, and the cursor to ask with next.
pub fn get_activity(req: &Request) -> Reply {
    authorize(req, false)?;
    let limit = query(req, "limit")
        .and_then(|l| l.parse::<usize>().ok())
        .unwrap_or(ACTIVITY_LIMIT)
        .min(ACTIVITY_LIMIT);
    let after = query(req, "after").unwrap_or_default();
    let cursor_of = |stage: &str| {
        after
            .split(',')
            .filter_map(|part| part.split_once(':'))
            .find(|(name, _)| *name == stage)
            .map(|(_, id)| id.to_owned())
    };
    let mut events = Vec::new();
    let mut cursor = Vec::new();
    for (name, queue) in queues(None)? {
        let from = cursor_of(name);
        let found = queue
            .activity(from.as_deref(), limit)
            .map_err(unavailable)?;
        if let Some(last) = found.last().map(|a| a.id.clone()).or(from) {
            cursor.push(format!("{name}:{last}"));
        }
        for activity in found {
            let mut event = serde_json::from_str::<serde_json::Value>(&activity.record)
                .unwrap_or_else(|_| serde_json::json!({ "record": activity.record }));
            event["id"] = activity.id.into();
            events.push(event);
        }
    }
    events.sort_by(|a, b| a["at"].as_str().cmp(&b["at"].as_str()));
    Ok(json(
        200,
        &serde_json::json!({ "events": events, "cursor": cursor.join(",") }),
    ))
}

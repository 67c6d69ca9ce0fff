//! Each stage's durable work queue ([`thumbflow_queue`]) over Spin's
//! outbound Redis, and the loop a stage runs when its doorbell rings.
//!
//! A stage's trigger message is either the doorbell ([`DOORBELL`]) or work
//! a producer published directly (the pre-queue way, still accepted: it is
//! added to the stream first). Either way the stage then drains its stream:
//! claim an entry, handle it, settle or fail it, until the stream has
//! nothing ready, [`MAX_PER_CALL`] entries or [`TIME_BUDGET`] have gone by
//! (then it rings its own doorbell so another invocation goes on).

use std::time::{Duration, Instant};

use anyhow::Context as _;
use spin_sdk::redis::{Connection, RedisParameter, RedisResult};
use thumbflow_events::StageState;
pub use thumbflow_queue::{Begin, Delivery, Settle, UnitOfWork, DOORBELL};
use thumbflow_queue::{Claim, Failed, Queue, QueueConfig, QueueError, Redis, Value};

use crate::{clock, stages, vars};

/// Most entries one invocation handles before handing over to the next.
pub const MAX_PER_CALL: usize = 64;
/// Longest one invocation keeps claiming new entries.
pub const TIME_BUDGET: Duration = Duration::from_secs(10);
/// Longest wait for a retry that is almost due, inside one invocation.
const MAX_WAIT_FOR_RETRY: Duration = Duration::from_secs(1);
/// How long an entry whose object another worker holds waits.
const BUSY_WAIT: Duration = Duration::from_millis(200);

/// [`Redis`] over a Spin outbound Redis connection.
pub struct SpinRedis {
    conn: Connection,
    address: String,
}

impl SpinRedis {
    /// Connect to the app's `redis_address`.
    pub fn open() -> anyhow::Result<Self> {
        let address = vars::get("redis_address")?;
        let conn = Connection::open(&address)
            .with_context(|| format!("opening outbound Redis connection to {address:?}"))?;
        Ok(Self { conn, address })
    }
}

impl Redis for SpinRedis {
    fn execute(&self, command: &str, args: &[&[u8]]) -> Result<Vec<Value>, QueueError> {
        let params: Vec<RedisParameter> = args
            .iter()
            .map(|a| RedisParameter::Binary(a.to_vec()))
            .collect();
        let reply = self
            .conn
            .execute(command, &params)
            .map_err(|e| QueueError::Redis(format!("{command} on {}: {e}", self.address)))?;
        Ok(reply
            .into_iter()
            .map(|r| match r {
                RedisResult::Nil => Value::Nil,
                RedisResult::Status(s) => Value::Status(s),
                RedisResult::Int64(i) => Value::Int(i),
                RedisResult::Binary(b) => Value::Bytes(b),
            })
            .collect())
    }
}

/// The queue settings from the app's variables (`work_lease_ms`,
/// `max_attempts`, `retry_backoff_ms`).
pub fn config() -> anyhow::Result<QueueConfig> {
    let lease: u64 = vars::parse("work_lease_ms")?;
    let backoff: u64 = vars::parse("retry_backoff_ms")?;
    Ok(QueueConfig {
        lease: Duration::from_millis(lease.max(1)),
        max_attempts: vars::parse("max_attempts")?,
        backoff_base: Duration::from_millis(backoff),
        backoff_cap: Duration::from_millis(lease.max(1)).min(Duration::from_secs(300)),
        ..QueueConfig::default()
    })
}

/// The queue of the stage reading the channel named by Spin variable `channel_var`.
pub fn open(stage: &str, channel_var: &str) -> anyhow::Result<Queue<SpinRedis>> {
    let channel = vars::get(channel_var)?;
    Ok(Queue::new(SpinRedis::open()?, stage, &channel, config()?))
}

/// Queue `payload` for the stage reading the channel named by `channel_var`
/// and ring its doorbell; once this returns, the work is durable.
pub fn enqueue(channel_var: &str, payload: &[u8]) -> anyhow::Result<String> {
    let channel = vars::get(channel_var)?;
    let queue = Queue::new(
        SpinRedis::open()?,
        "producer",
        &channel,
        QueueConfig::default(),
    );
    queue
        .enqueue(&[payload])
        .with_context(|| format!("queueing work for channel {channel:?}"))?;
    Ok(channel)
}

/// Note a stored upload in the raw stage's activity stream (stage
/// `gateway`, outcome `stored`, at `at`: when it was stored), for
/// `thumbflow watch`; best effort.
pub fn note_upload(bucket: &str, key: &str, trace: &str, detail: &str, at: &str) {
    let noted = vars::get("raw_channel").and_then(|channel| {
        let queue = Queue::new(
            SpinRedis::open()?,
            "gateway",
            &channel,
            QueueConfig::default(),
        );
        let record = serde_json::json!({
            "stage": "gateway",
            "outcome": "stored",
            "bucket": bucket,
            "key": key,
            "trace": trace,
            "detail": detail,
            "at": at,
        });
        Ok(queue.note_activity(&record.to_string())?)
    });
    if let Err(e) = noted {
        eprintln!("gateway: noting activity for watchers: {e:#}");
    }
}

/// What a stage made of one entry.
pub enum Handled {
    /// Its effects are stored (or there were none to make): settle it,
    /// forwarding `next` to the next stage.
    Done {
        /// How it ended.
        how: Settle,
        /// Its unit of work, when the stage deduplicates.
        unit: Option<UnitOfWork>,
        /// Payloads for the next stage.
        next: Vec<Vec<u8>>,
    },
    /// Another worker holds its object: try again shortly.
    Busy,
    /// It failed.
    Failed {
        /// Why.
        message: String,
        /// Whether trying the same entry again may help.
        retryable: bool,
        /// Its unit of work, when the stage deduplicates (its lock is released).
        unit: Option<UnitOfWork>,
        /// (bucket, key) whose status shows the failure, when known.
        object: Option<(String, String)>,
    },
}

/// One stage's worker: its queue, name and the channel it forwards to.
pub struct Stage {
    /// The stage's queue.
    pub queue: Queue<SpinRedis>,
    name: &'static str,
    next_channel: Option<String>,
    started: Instant,
    handled: usize,
}

impl Stage {
    /// The stage `name` reading `channel_var`, forwarding to `next_var`.
    pub fn open(
        name: &'static str,
        channel_var: &str,
        next_var: Option<&str>,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            queue: open(name, channel_var)?,
            name,
            next_channel: next_var.map(vars::get).transpose()?,
            started: Instant::now(),
            handled: 0,
        })
    }

    /// Queue `message` unless it is the doorbell.
    pub fn accept(&self, message: &[u8]) -> anyhow::Result<()> {
        if message != DOORBELL {
            self.queue
                .enqueue(&[message])
                .context("queueing a message published directly on the stage's channel")?;
        }
        Ok(())
    }

    /// The next entry to handle, or `None` when nothing is ready or this
    /// invocation has done its share (then the doorbell is rung again).
    pub fn take(&mut self) -> anyhow::Result<Option<Delivery>> {
        if self.handled >= MAX_PER_CALL || self.started.elapsed() >= TIME_BUDGET {
            let channel = &self.queue.keys().channel;
            self.queue
                .enqueue(&[])
                .with_context(|| format!("ringing the doorbell of {channel:?}"))?;
            return Ok(None);
        }
        loop {
            match self.queue.claim().context("claiming work")? {
                Claim::Work(delivery) => {
                    self.handled += 1;
                    return Ok(Some(delivery));
                }
                Claim::RetryIn(wait)
                    if wait <= MAX_WAIT_FOR_RETRY
                        && self.started.elapsed() + wait < TIME_BUDGET =>
                {
                    std::thread::sleep(wait);
                }
                Claim::RetryIn(_) | Claim::Empty => return Ok(None),
            }
        }
    }

    /// Settle, defer or fail `delivery` as `handled` says, recording
    /// failures in the object's status.
    pub fn finish(&self, delivery: &Delivery, handled: Handled) -> anyhow::Result<()> {
        match handled {
            Handled::Done { how, unit, next } => {
                // What the entry was about: what it became, when it was
                // handed on (a raw event says the least about itself), else itself.
                let about = next
                    .first()
                    .and_then(|n| Subject::of(n))
                    .or_else(|| Subject::of(&delivery.payload));
                let forward = self.next_channel.as_deref().map(|c| (c, next.as_slice()));
                self.queue
                    .settle(delivery, how, unit.as_ref(), forward)
                    .with_context(|| format!("settling entry {}", delivery.id))?;
                self.note(how.as_str(), about, None);
                Ok(())
            }
            Handled::Busy => self
                .queue
                .defer(delivery, BUSY_WAIT)
                .with_context(|| format!("deferring entry {}", delivery.id)),
            Handled::Failed {
                message,
                retryable,
                unit,
                object,
            } => {
                let failed = self
                    .queue
                    .fail(delivery, &message, retryable, unit.as_ref())
                    .with_context(|| format!("recording the failure of entry {}", delivery.id))?;
                let about = Subject::of(&delivery.payload);
                let tags = about.as_ref().map(Subject::tags).unwrap_or_default();
                let where_ = object
                    .as_ref()
                    .map_or_else(|| "(no object)".to_owned(), |(b, k)| format!("{b}/{k}"));
                let (state, detail, outcome) = match &failed {
                    Failed::Retry { delay, attempts } => {
                        let detail = format!(
                            "{message} (attempt {attempts}; retrying in {} ms)",
                            delay.as_millis()
                        );
                        eprintln!("{} {where_} failed: {detail}{tags}", self.name);
                        (StageState::Failed, detail, "retrying")
                    }
                    Failed::Dead { id, attempts } => {
                        let detail = format!(
                            "{message} (dead-lettered as {id} after {attempts} attempt(s))"
                        );
                        eprintln!("{} {where_} dead-lettered: {detail}{tags}", self.name);
                        // A rejected input failed (retrying cannot help); a
                        // transient failure that ran out of attempts is dead.
                        if retryable {
                            (StageState::Dead, detail, "dead")
                        } else {
                            (StageState::Failed, detail, "failed")
                        }
                    }
                };
                let about = about.or_else(|| {
                    object.clone().map(|(bucket, key)| Subject {
                        bucket: Some(bucket),
                        key: Some(key),
                        ..Subject::default()
                    })
                });
                self.note(outcome, about, Some(&detail));
                if let Some((bucket, key)) = object {
                    let retryable = matches!(failed, Failed::Retry { .. });
                    stages::record_failure(self.name, &bucket, &key, state, detail, retryable)?;
                }
                Ok(())
            }
        }
    }

    /// Note in the stage's activity stream what became of an event, for
    /// `thumbflow watch`; a failure to note is logged, never the stage's.
    fn note(&self, outcome: &str, about: Option<Subject>, detail: Option<&str>) {
        let about = about.unwrap_or_default();
        let record = serde_json::json!({
            "stage": self.name,
            "outcome": outcome,
            "bucket": about.bucket,
            "key": about.key,
            "event": about.event,
            "trace": about.trace,
            "detail": detail,
            "at": clock::now_rfc3339(),
        });
        if let Err(e) = self.queue.note_activity(&record.to_string()) {
            eprintln!("{}: noting activity for watchers: {e}", self.name);
        }
    }
}

/// What a stage's payload is about, as far as it says: the object, the
/// canonical event id and the upload's trace.
#[derive(Debug, Default, Clone)]
struct Subject {
    bucket: Option<String>,
    key: Option<String>,
    event: Option<String>,
    trace: Option<String>,
}

impl Subject {
    /// From a CloudEvents envelope (canonical or thumbnail-created: object
    /// in `data`, trace at the top) or a gateway upload's raw event (trace in
    /// its record); `None` for anything else (other raw events).
    fn of(payload: &[u8]) -> Option<Self> {
        let value = serde_json::from_slice::<serde_json::Value>(payload).ok()?;
        let text = |v: &serde_json::Value| v.as_str().map(str::to_owned);
        let traceparent =
            text(&value["traceparent"]).or_else(|| text(&value["Records"][0]["traceparent"]));
        let subject = Self {
            bucket: text(&value["data"]["bucket"]),
            key: text(&value["data"]["key"]),
            // The thumbnail-created event names the upload's event as its source.
            event: text(&value["data"]["source_event_id"]).or_else(|| {
                value["specversion"]
                    .is_string()
                    .then(|| text(&value["id"]))
                    .flatten()
            }),
            trace: traceparent
                .as_deref()
                .and_then(thumbflow_events::trace_id)
                .map(str::to_owned),
        };
        (subject.key.is_some() || subject.trace.is_some()).then_some(subject)
    }

    /// ` event=ID trace=TRACE` for a log line, as far as they are known.
    fn tags(&self) -> String {
        let mut tags = String::new();
        if let Some(id) = &self.event {
            tags.push_str(&format!(" event={id}"));
        }
        if let Some(trace) = &self.trace {
            tags.push_str(&format!(" trace={trace}"));
        }
        tags
    }
}

/// Run `handle` on every ready entry of the stage (see the module doc).
pub fn drain(
    name: &'static str,
    channel_var: &str,
    next_var: Option<&str>,
    message: &[u8],
    mut handle: impl FnMut(&Stage, &Delivery) -> Handled,
) -> anyhow::Result<()> {
    let mut stage = Stage::open(name, channel_var, next_var)?;
    stage.accept(message)?;
    while let Some(delivery) = stage.take()? {
        let handled = handle(&stage, &delivery);
        stage.finish(&delivery, handled)?;
    }
    Ok(())
}

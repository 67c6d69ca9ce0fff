//! [`Queue`]: one stage's work queue, as producers, workers and admins use it.

use std::time::Duration;

use crate::keys::{Keys, CONSUMER, GROUP};
use crate::redis::{QueueError, Redis, Value};
use crate::{scripts, DOORBELL};

/// How a stage's queue treats its work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueConfig {
    /// How long a taken entry belongs to its worker; after that another
    /// worker takes it (the first is presumed dead). Longer than the
    /// longest handling, shorter than the wait you accept after a crash.
    pub lease: Duration,
    /// Attempts (failures and expired leases) before an entry is dead-lettered.
    pub max_attempts: u32,
    /// Wait before the first retry; doubled for each further one.
    pub backoff_base: Duration,
    /// Longest wait before a retry.
    pub backoff_cap: Duration,
    /// How long "done" markers and newest-version tokens are kept: a
    /// duplicate arriving later than this runs again.
    pub done_ttl: Duration,
}

impl Default for QueueConfig {
    /// A 60 s lease, 5 attempts, backoff from 1 s up to 60 s, markers kept 7 days.
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(60),
            max_attempts: 5,
            backoff_base: Duration::from_secs(1),
            backoff_cap: Duration::from_secs(60),
            done_ttl: Duration::from_secs(7 * 24 * 3600),
        }
    }
}

/// An entry taken from the queue, to be settled, failed or deferred.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// Stream entry id.
    pub id: String,
    /// Failed attempts before this one.
    pub attempts: u32,
    /// The work.
    pub payload: Vec<u8>,
    /// The last attempt's error, if it failed.
    pub last_error: Option<String>,
    /// `new`, `retry` (its backoff was over) or `reclaimed` (a lease expired).
    pub how: String,
}

/// What [`Queue::claim`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// An entry to handle.
    Work(Delivery),
    /// Nothing ready; the earliest retry is due after this long.
    RetryIn(Duration),
    /// Nothing at all.
    Empty,
}

/// One unit of work's identity, for effects that must happen once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitOfWork {
    /// Same key, same work: done once, duplicates are no-ops (e.g. bucket,
    /// key, version and recipe versions, hashed).
    pub idempotency_key: String,
    /// The object it changes: one worker at a time per object.
    pub object: String,
    /// Orders versions of the object (fixed-width, compared as bytes); a
    /// version older than the newest handled is superseded. Empty: unknown.
    pub order: String,
    /// Who issued `order` (the producer: `s3`, `ceph`, `gateway`, ...):
    /// versions are ordered only against the same producer's, since only
    /// its tokens compare (an S3 sequencer and the gateway's clock do not).
    pub order_scope: String,
}

impl UnitOfWork {
    /// The object and order scope whose newest token `order` is compared with.
    fn ordered_object(&self) -> String {
        format!("{}|{}", self.object, self.order_scope)
    }
}

/// Whether a unit of work should run ([`Queue::begin`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Begin {
    /// Run it; the object is this entry's until settled or failed.
    Go,
    /// Already done: settle it as a duplicate.
    Duplicate,
    /// A newer version of the object was handled: settle it as superseded.
    Superseded,
    /// Another worker is handling the object: [`Queue::defer`] it.
    Busy,
}

/// How an entry ended, counted in the stage's stats ([`Queue::settle`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settle {
    /// Its effects are stored.
    Processed,
    /// Nothing to do for it (not an image, own output, deleted...).
    Ignored,
    /// Its unit of work was already done.
    Duplicate,
    /// A newer version of its object was already handled.
    Superseded,
}

impl Settle {
    /// The outcome's name, as counted in the stage's stats (`processed`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Settle::Processed => "processed",
            Settle::Ignored => "ignored",
            Settle::Duplicate => "duplicate",
            Settle::Superseded => "superseded",
        }
    }
}

/// What became of a failed attempt ([`Queue::fail`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failed {
    /// It will be retried after `delay`; `attempts` failed so far.
    Retry {
        /// Backoff before the retry.
        delay: Duration,
        /// Failed attempts so far.
        attempts: u32,
    },
    /// It is in the dead-letter stream as `id` after `attempts` attempts.
    Dead {
        /// Dead-letter id.
        id: String,
        /// Attempts made.
        attempts: u32,
    },
}

/// One entry of the dead-letter stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// Dead-letter id (what `replay` takes).
    pub id: String,
    /// The work as it was queued.
    pub payload: Vec<u8>,
    /// The last error.
    pub error: String,
    /// Attempts made.
    pub attempts: u32,
    /// Stage that gave up.
    pub stage: String,
    /// Its id in the work stream.
    pub entry: String,
    /// When it was dead-lettered, Unix ms (Redis's clock).
    pub at_ms: u64,
}

/// About how many entries a stage's activity stream keeps (older ones are
/// trimmed as new ones come): minutes of history for a watcher.
pub const ACTIVITY_KEPT: usize = 2000;

/// One thing a stage did with an event, from its activity stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    /// The entry's stream id (time-ordered): where to read on from.
    pub id: String,
    /// What the stage noted (the glue writes a JSON object).
    pub record: String,
}

/// Counters and backlog of one stage's queue.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Entries in the stream: waiting, in flight or waiting for a retry.
    pub backlog: u64,
    /// Entries taken by a worker and not yet settled.
    pub in_flight: u64,
    /// Entries waiting for a retry.
    pub retrying: u64,
    /// Dead letters kept.
    pub dead_letters: u64,
    /// Counters: processed, ignored, duplicate, superseded, failed (every
    /// failed attempt), retried, dead, deferred, replayed, reclaimed (taken
    /// over after a lease expired), and the `latency_*` buckets of
    /// [`latency`](Self::latency).
    pub counters: Vec<(String, u64)>,
}

impl Stats {
    /// The counter `name` (0 if never bumped).
    pub fn counter(&self, name: &str) -> u64 {
        self.counters
            .iter()
            .find(|(n, _)| n == name)
            .map_or(0, |(_, v)| *v)
    }

    /// How long settled entries waited and ran, from being queued to being
    /// settled, for every replica together.
    pub fn latency(&self) -> Latency {
        let mut buckets: Vec<(Option<u64>, u64)> = scripts::LATENCY_BOUNDS_MS
            .iter()
            .map(|&bound| (Some(bound), self.counter(&format!("latency_le_{bound}"))))
            .collect();
        buckets.push((None, self.counter("latency_le_inf")));
        Latency {
            count: self.counter("latency_count"),
            sum_ms: self.counter("latency_sum_ms"),
            buckets,
        }
    }
}

/// A stage's latency histogram, as [`Stats::latency`] reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Latency {
    /// Settled entries counted.
    pub count: u64,
    /// Their latencies added up, in ms.
    pub sum_ms: u64,
    /// Entries per bucket (not cumulative): upper bound in ms (`None`: above
    /// the last bound), count.
    pub buckets: Vec<(Option<u64>, u64)>,
}

/// One stage's queue: the stream its channel's work lives in.
pub struct Queue<R> {
    redis: R,
    keys: Keys,
    stage: String,
    config: QueueConfig,
}

fn ms(d: Duration) -> String {
    d.as_millis().to_string()
}

impl<R: Redis> Queue<R> {
    /// The queue of `stage`, whose input channel is `channel`.
    pub fn new(redis: R, stage: &str, channel: &str, config: QueueConfig) -> Self {
        Self {
            redis,
            keys: Keys::new(channel),
            stage: stage.to_owned(),
            config,
        }
    }

    /// Its keys.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    fn eval(
        &self,
        what: &'static str,
        script: &str,
        keys: &[&str],
        args: &[&[u8]],
    ) -> Result<Vec<Value>, QueueError> {
        let count = keys.len().to_string();
        let mut all: Vec<&[u8]> = vec![script.as_bytes(), count.as_bytes()];
        all.extend(keys.iter().map(|k| k.as_bytes()));
        all.extend_from_slice(args);
        self.redis.execute("EVAL", &all).map_err(|e| match e {
            QueueError::Redis(m) => QueueError::Redis(format!("{what}: {m}")),
            other => other,
        })
    }

    /// Add `payloads` to the stream and ring the stage's doorbell; answers
    /// the entry ids. Once this returns, the work survives any worker.
    pub fn enqueue(&self, payloads: &[&[u8]]) -> Result<Vec<String>, QueueError> {
        let mut args: Vec<&[u8]> = vec![self.keys.channel.as_bytes(), DOORBELL];
        args.extend_from_slice(payloads);
        let reply = self.eval("enqueue", scripts::ENQUEUE, &[&self.keys.work], &args)?;
        Ok(reply.iter().filter_map(Value::text).collect())
    }

    /// Note what the stage did with an event (`record`, the glue's JSON) in
    /// its activity stream, trimmed to about [`ACTIVITY_KEPT`] entries.
    pub fn note_activity(&self, record: &str) -> Result<(), QueueError> {
        let kept = ACTIVITY_KEPT.to_string();
        self.redis.execute(
            "XADD",
            &[
                self.keys.activity.as_bytes(),
                b"MAXLEN",
                b"~",
                kept.as_bytes(),
                b"*",
                b"r",
                record.as_bytes(),
            ],
        )?;
        Ok(())
    }

    /// Activity after the entry `after` (`None`: from the oldest kept), at
    /// most `count` entries, oldest first.
    pub fn activity(&self, after: Option<&str>, count: usize) -> Result<Vec<Activity>, QueueError> {
        let start = after.map_or_else(|| "-".to_owned(), |id| format!("({id}"));
        let count = count.to_string();
        let reply = self.redis.execute(
            "XRANGE",
            &[
                self.keys.activity.as_bytes(),
                start.as_bytes(),
                b"+",
                b"COUNT",
                count.as_bytes(),
            ],
        )?;
        // Flattened: id, field, value for each entry (one field per entry).
        if reply.len() % 3 != 0 {
            return Err(QueueError::Reply {
                what: "activity",
                reply,
            });
        }
        Ok(reply
            .chunks(3)
            .filter_map(|entry| {
                Some(Activity {
                    id: entry[0].text()?,
                    record: entry[2].text()?,
                })
            })
            .collect())
    }

    /// Take the next entry to handle: a due retry, an entry whose lease
    /// expired, or a new one.
    pub fn claim(&self) -> Result<Claim, QueueError> {
        let k = &self.keys;
        let lease = ms(self.config.lease);
        let reply = self.eval(
            "claim",
            scripts::CLAIM,
            &[&k.work, &k.retry, &k.attempts, &k.errors, &k.stats],
            &[GROUP.as_bytes(), CONSUMER.as_bytes(), lease.as_bytes()],
        )?;
        if reply.is_empty() {
            return Ok(Claim::Empty);
        }
        let bad = |reply: Vec<Value>| QueueError::Reply {
            what: "claim",
            reply,
        };
        if reply.len() == 6 && reply[4].text().as_deref() == Some("wait") {
            let wait = reply[5].int().ok_or_else(|| bad(reply.clone()))?;
            return Ok(Claim::RetryIn(Duration::from_millis(
                u64::try_from(wait).unwrap_or(0),
            )));
        }
        if reply.len() != 5 {
            return Err(bad(reply));
        }
        let mut it = reply.clone().into_iter();
        let (Some(id), Some(attempts), Some(payload), Some(error), Some(how)) =
            (it.next(), it.next(), it.next(), it.next(), it.next())
        else {
            return Err(bad(reply));
        };
        let id = id.text().ok_or_else(|| bad(reply.clone()))?;
        let attempts = attempts
            .int()
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| bad(reply.clone()))?;
        let error = error.text().filter(|e| !e.is_empty());
        Ok(Claim::Work(Delivery {
            id,
            attempts,
            payload: payload.into_bytes(),
            last_error: error,
            how: how.text().unwrap_or_default(),
        }))
    }

    /// Decide whether `unit` runs for `delivery` (see [`Begin`]).
    pub fn begin(&self, delivery: &Delivery, unit: &UnitOfWork) -> Result<Begin, QueueError> {
        let k = &self.keys;
        let lease = ms(self.config.lease);
        let reply = self.eval(
            "begin",
            scripts::BEGIN,
            &[
                &k.done(&unit.idempotency_key),
                &k.lock(&unit.object),
                &k.newest(&unit.ordered_object()),
            ],
            &[
                delivery.id.as_bytes(),
                lease.as_bytes(),
                unit.order.as_bytes(),
            ],
        )?;
        match reply.first().and_then(Value::text).as_deref() {
            Some("go") => Ok(Begin::Go),
            Some("duplicate") => Ok(Begin::Duplicate),
            Some("superseded") => Ok(Begin::Superseded),
            Some("busy") => Ok(Begin::Busy),
            _ => Err(QueueError::Reply {
                what: "begin",
                reply,
            }),
        }
    }

    /// Settle `delivery` once its effects are stored: forward `next` to the
    /// stage reading `next_channel` (atomically with the acknowledgement),
    /// mark `unit` done, count `how`.
    pub fn settle(
        &self,
        delivery: &Delivery,
        how: Settle,
        unit: Option<&UnitOfWork>,
        next: Option<(&str, &[Vec<u8>])>,
    ) -> Result<(), QueueError> {
        let k = &self.keys;
        let (done, lock, newest) = match unit {
            Some(u) if how == Settle::Processed || how == Settle::Ignored => (
                k.done(&u.idempotency_key),
                k.lock(&u.object),
                k.newest(&u.ordered_object()),
            ),
            Some(u) => (String::new(), k.lock(&u.object), String::new()),
            None => (String::new(), String::new(), String::new()),
        };
        let (next_channel, payloads) = next.unwrap_or(("", &[]));
        let next_keys = Keys::new(next_channel);
        let next_work = if next_channel.is_empty() {
            ""
        } else {
            next_keys.work.as_str()
        };
        let ttl = self.config.done_ttl.as_secs().max(1).to_string();
        let order = unit.map(|u| u.order.as_str()).unwrap_or("");
        let mut args: Vec<&[u8]> = vec![
            GROUP.as_bytes(),
            delivery.id.as_bytes(),
            how.as_str().as_bytes(),
            next_channel.as_bytes(),
            DOORBELL,
            ttl.as_bytes(),
            order.as_bytes(),
        ];
        args.extend(payloads.iter().map(Vec::as_slice));
        self.eval(
            "settle",
            scripts::SETTLE,
            &[
                &k.work,
                &k.retry,
                &k.attempts,
                &k.errors,
                &k.stats,
                next_work,
                &done,
                &lock,
                &newest,
            ],
            &args,
        )?;
        Ok(())
    }

    /// Record a failed attempt of `delivery`: retried after a backoff when
    /// `retryable` and attempts remain, else dead-lettered with `error`.
    pub fn fail(
        &self,
        delivery: &Delivery,
        error: &str,
        retryable: bool,
        unit: Option<&UnitOfWork>,
    ) -> Result<Failed, QueueError> {
        let k = &self.keys;
        let lock = unit.map(|u| k.lock(&u.object)).unwrap_or_default();
        let max = self.config.max_attempts.max(1).to_string();
        let (base, cap) = (ms(self.config.backoff_base), ms(self.config.backoff_cap));
        let reply = self.eval(
            "fail",
            scripts::FAIL,
            &[
                &k.work,
                &k.retry,
                &k.attempts,
                &k.errors,
                &k.stats,
                &k.dead,
                &lock,
            ],
            &[
                GROUP.as_bytes(),
                delivery.id.as_bytes(),
                error.as_bytes(),
                if retryable { b"1" } else { b"0" },
                max.as_bytes(),
                base.as_bytes(),
                cap.as_bytes(),
                self.stage.as_bytes(),
            ],
        )?;
        let bad = || QueueError::Reply {
            what: "fail",
            reply: reply.clone(),
        };
        let attempts = reply
            .get(2)
            .and_then(Value::int)
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(bad)?;
        match reply.first().and_then(Value::text).as_deref() {
            Some("retry") => {
                let delay = reply.get(1).and_then(Value::int).ok_or_else(bad)?;
                Ok(Failed::Retry {
                    delay: Duration::from_millis(u64::try_from(delay).unwrap_or(0)),
                    attempts,
                })
            }
            Some("dead") => Ok(Failed::Dead {
                id: reply.get(1).and_then(Value::text).ok_or_else(bad)?,
                attempts,
            }),
            _ => Err(bad()),
        }
    }

    /// Let `delivery` wait `delay` without counting an attempt (its object
    /// is busy with another worker).
    pub fn defer(&self, delivery: &Delivery, delay: Duration) -> Result<(), QueueError> {
        let k = &self.keys;
        let delay = ms(delay);
        self.eval(
            "defer",
            scripts::DEFER,
            &[&k.retry, &k.stats],
            &[delivery.id.as_bytes(), delay.as_bytes()],
        )?;
        Ok(())
    }

    /// Up to `count` dead letters after `after` (exclusive; `None`: from the first).
    pub fn dead_letters(
        &self,
        after: Option<&str>,
        count: usize,
    ) -> Result<Vec<DeadLetter>, QueueError> {
        let start = after.map_or_else(|| "-".to_owned(), |id| format!("({id}"));
        let count = count.to_string();
        let reply = self.eval(
            "dead letters",
            scripts::DEAD_LETTERS,
            &[&self.keys.dead],
            &[start.as_bytes(), count.as_bytes()],
        )?;
        if reply.len() % 7 != 0 {
            return Err(QueueError::Reply {
                what: "dead letters",
                reply,
            });
        }
        let mut letters = Vec::with_capacity(reply.len() / 7);
        let mut it = reply.into_iter();
        while let (
            Some(id),
            Some(payload),
            Some(error),
            Some(attempts),
            Some(stage),
            Some(entry),
            Some(at),
        ) = (
            it.next(),
            it.next(),
            it.next(),
            it.next(),
            it.next(),
            it.next(),
            it.next(),
        ) {
            letters.push(DeadLetter {
                id: id.text().unwrap_or_default(),
                payload: payload.into_bytes(),
                error: error.text().unwrap_or_default(),
                attempts: attempts
                    .int()
                    .and_then(|n| u32::try_from(n).ok())
                    .unwrap_or(0),
                stage: stage.text().unwrap_or_default(),
                entry: entry.text().unwrap_or_default(),
                at_ms: at.int().and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
            });
        }
        Ok(letters)
    }

    /// Move dead letter `id` back to the work stream; `None` if there is no such letter.
    pub fn replay(&self, id: &str) -> Result<Option<String>, QueueError> {
        let k = &self.keys;
        let reply = self.eval(
            "replay",
            scripts::REPLAY,
            &[&k.dead, &k.work, &k.stats],
            &[id.as_bytes(), k.channel.as_bytes(), DOORBELL],
        )?;
        Ok(reply
            .first()
            .and_then(Value::text)
            .filter(|new| !new.is_empty()))
    }

    /// The stage's counters and backlog.
    pub fn stats(&self) -> Result<Stats, QueueError> {
        let k = &self.keys;
        let reply = self.eval(
            "stats",
            scripts::STATS,
            &[&k.work, &k.retry, &k.dead, &k.stats],
            &[GROUP.as_bytes()],
        )?;
        let num = |v: &Value| v.int().and_then(|n| u64::try_from(n).ok()).unwrap_or(0);
        if reply.len() < 4 || reply.len() % 2 != 0 {
            return Err(QueueError::Reply {
                what: "stats",
                reply,
            });
        }
        let counters = reply[4..]
            .chunks(2)
            .map(|pair| (pair[0].text().unwrap_or_default(), num(&pair[1])))
            .collect();
        Ok(Stats {
            backlog: num(&reply[0]),
            in_flight: num(&reply[1]),
            retrying: num(&reply[2]),
            dead_letters: num(&reply[3]),
            counters,
        })
    }
}

//! The Redis keys of one stage's queue, all derived from the stage's input
//! channel so two apps on one Redis with different channels never meet.

/// Key names for the stage whose input channel is `channel`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keys {
    /// The channel (doorbell) of the stage.
    pub channel: String,
    /// Stream of work entries (`{channel}:work`).
    pub work: String,
    /// Stream of dead letters (`{channel}:dead`).
    pub dead: String,
    /// Sorted set of entries waiting for a retry, scored by due time in ms.
    pub retry: String,
    /// Hash: entry id -> failed attempts so far.
    pub attempts: String,
    /// Hash: entry id -> last error.
    pub errors: String,
    /// Hash of counters (processed, duplicate, superseded, retried, dead, ...).
    pub stats: String,
    /// Pub/sub channel on which every payload queued for the stage is also
    /// published, for watchers; nothing depends on anyone listening.
    pub feed: String,
    /// Capped stream of what the stage did with each event, newest last
    /// (`{channel}:activity`): what `thumbflow watch` reads through the
    /// gateway, so it needs no Redis access; nothing depends on it.
    pub activity: String,
}

/// The consumer group every replica of a stage reads through.
pub const GROUP: &str = "thumbflow";

/// The consumer name in that group. Leases are per entry (its idle time),
/// not per consumer, so replicas share one name and Redis keeps one
/// consumer per stage however many instances come and go.
pub const CONSUMER: &str = "worker";

impl Keys {
    /// The keys of the stage reading `channel`.
    pub fn new(channel: &str) -> Self {
        let k = |suffix: &str| format!("{channel}:{suffix}");
        Self {
            channel: channel.to_owned(),
            work: k("work"),
            dead: k("dead"),
            retry: k("retry"),
            attempts: k("attempts"),
            errors: k("errors"),
            stats: k("stats"),
            feed: k("feed"),
            activity: k("activity"),
        }
    }

    /// Marker that the unit of work `idempotency_key` is done.
    pub fn done(&self, idempotency_key: &str) -> String {
        format!("{}:done:{idempotency_key}", self.channel)
    }

    /// Lock held while one worker handles `object`.
    pub fn lock(&self, object: &str) -> String {
        format!("{}:lock:{object}", self.channel)
    }

    /// The newest version (ordering token) of `object` handled so far.
    pub fn newest(&self, object: &str) -> String {
        format!("{}:newest:{object}", self.channel)
    }
}

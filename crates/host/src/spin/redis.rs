//! `fermyon:spin/redis@2.0.0`: outbound Redis, limited to the component's
//! `allowed_outbound_hosts`.
//!
//! # Connections: per component, evicted when broken
//!
//! Spin opens a new connection at every `open`. Doing that per message would
//! dominate a stage's host overhead, so [`RedisPool`] keeps idle connections,
//! but per component and address: one component's connections are never
//! lent to another. A guest's `open` borrows an idle connection (or opens
//! one) for as long as it holds the resource; dropping the resource, or the
//! end of the instance, gives it back. A connection is given back only if
//! nothing went wrong on it: a connection-level failure (I/O error, protocol
//! error) drops it, and the guest's next call on the same resource opens a
//! new one; a call that was cut off mid-way (the instance hit its deadline
//! while a blocking command waited) drops it too, since its reply is still
//! due. An idle connection is checked with `PING` before it is lent, so a
//! Redis restart while it sat idle costs nothing: the guest gets a fresh
//! connection and its first call after the restart works.
//!
//! # Refused commands
//!
//! `execute` refuses, with an error naming the command and what to do
//! instead, the commands that change the state of the connection itself
//! ([`refusal`]): the next borrower of the connection would inherit it, and
//! some would break the reply order every call relies on. They are
//! `SELECT` (put the database in the address instead, `redis://host/2`),
//! `AUTH`/`HELLO`/`RESET`/`QUIT` (login, protocol, reset), `CLIENT` (`CLIENT
//! REPLY OFF` desynchronizes replies; the rest names or kills connections),
//! `MULTI`/`EXEC`/`DISCARD`/`WATCH`/`UNWATCH` (a transaction spans calls on
//! one connection; a script via `EVAL`/`FCALL` is atomic instead), the
//! `SUBSCRIBE` family and `MONITOR` (the connection would then only receive
//! pushes; subscribe with a `[[trigger.redis]]`), `SYNC`/`PSYNC`/`REPLCONF`
//! (replication takes the connection over) and `READONLY`/`READWRITE`/
//! `ASKING` (cluster connection modes). Every other command is passed
//! through, in particular the Streams commands (`XADD`, `XREADGROUP`, also
//! with `BLOCK`, `XACK`, `XAUTOCLAIM`) and scripts (`EVAL`, `EVALSHA`,
//! `FCALL`), which the reliable delivery design drives through `execute`.
//! Commands that change the server rather than the connection (`FLUSHALL`,
//! `CONFIG SET`, ...) are a matter for Redis ACLs: give each component a
//! Redis user in its address.
//!
//! # Reply size
//!
//! A reply larger than [`MAX_REPLY_BYTES`] (16 MiB; see [`reply_size`] for
//! how it is counted) is an error, never a truncated value. Like Spin
//! (128 MiB), the host has read the reply by then: the cap protects the
//! guest, whose linear memory would receive it, and bounds what one call
//! copies; it is lower than Spin's because the instance's whole memory is
//! 512 MiB by default and no pipeline message comes near it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::AsyncConnectionConfig;
use wasmtime::component::Resource;

use crate::bindings::spin::fermyon::spin2_0_0::redis::{
    Error, Host, HostConnection, Payload, RedisParameter, RedisResult,
};
use crate::state::HostState;

/// Largest reply one outbound Redis call may return to a guest, in bytes.
pub const MAX_REPLY_BYTES: usize = 16 << 20;

/// Idle connections kept per component and address; more are closed.
const MAX_IDLE: usize = 16;

/// How long opening a connection (and the `PING` of an idle one) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Whose connections: a component id and a Redis address.
type PoolKey = (String, String);

/// Idle outbound connections, kept per component and address (see the
/// module docs for when one is dropped instead).
pub struct RedisPool {
    idle: Mutex<HashMap<PoolKey, Vec<MultiplexedConnection>>>,
    max_reply_bytes: usize,
}

impl Default for RedisPool {
    fn default() -> Self {
        Self::with_max_reply_bytes(MAX_REPLY_BYTES)
    }
}

impl RedisPool {
    /// A pool whose calls refuse replies over `max_reply_bytes`.
    pub fn with_max_reply_bytes(max_reply_bytes: usize) -> Self {
        Self {
            idle: Mutex::new(HashMap::new()),
            max_reply_bytes,
        }
    }

    /// A healthy connection of `component` to `address`: an idle one that
    /// still answers `PING`, else a new one.
    async fn checkout(
        &self,
        component: &str,
        address: &str,
    ) -> Result<MultiplexedConnection, Error> {
        let key = (component.to_owned(), address.to_owned());
        while let Some(mut conn) = self.take_idle(&key) {
            let ping_cmd = redis::cmd("PING");
            let ping = ping_cmd.query_async::<redis::Value>(&mut conn);
            if let Ok(Ok(_)) = tokio::time::timeout(CONNECT_TIMEOUT, ping).await {
                return Ok(conn);
            }
            tracing::debug!(
                component,
                address,
                "idle Redis connection is broken: dropped"
            );
        }
        connect(address).await
    }

    fn take_idle(&self, key: &PoolKey) -> Option<MultiplexedConnection> {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        idle.get_mut(key).and_then(Vec::pop)
    }

    fn give_back(&self, key: PoolKey, conn: MultiplexedConnection) {
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        let list = idle.entry(key).or_default();
        if list.len() < MAX_IDLE {
            list.push(conn);
        }
    }

    /// Idle connections kept for `component` and `address`.
    pub fn idle(&self, component: &str, address: &str) -> usize {
        let idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        idle.get(&(component.to_owned(), address.to_owned()))
            .map_or(0, Vec::len)
    }
}

async fn connect(address: &str) -> Result<MultiplexedConnection, Error> {
    let client = redis::Client::open(address).map_err(|_| Error::InvalidAddress)?;
    let config = AsyncConnectionConfig::new().set_connection_timeout(CONNECT_TIMEOUT);
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(|e| Error::Other(format!("connecting to {address}: {e}")))
}

/// The host side of a guest's open `connection` resource: a connection
/// borrowed from the component's pool, given back when the resource goes.
pub struct ConnectionHandle {
    pool: Arc<RedisPool>,
    key: PoolKey,
    /// `None` after a connection-level failure: the next call opens a new one.
    conn: Option<MultiplexedConnection>,
    /// A call is under way; if the handle goes now, its reply is still due.
    in_call: bool,
}

impl Drop for ConnectionHandle {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            if !self.in_call {
                self.pool.give_back(self.key.clone(), conn);
            }
        }
    }
}

/// Why `execute` refuses `command`, if it does (case-insensitive); see the
/// module docs.
pub fn refusal(command: &str) -> Option<&'static str> {
    let why = match command.trim().to_ascii_uppercase().as_str() {
        "SELECT" => "it changes the connection's database; put the database in the address instead (redis://host:port/2)",
        "AUTH" | "HELLO" | "RESET" | "QUIT" => "it changes the connection's login, protocol or state; put credentials in the address (redis://user:password@host)",
        "CLIENT" => "CLIENT changes, names or kills connections (CLIENT REPLY OFF would desynchronize every later reply)",
        "MULTI" | "EXEC" | "DISCARD" | "WATCH" | "UNWATCH" => "a transaction spans calls on one connection; run the commands in a script (EVAL or FCALL), which Redis executes atomically",
        "SUBSCRIBE" | "PSUBSCRIBE" | "SSUBSCRIBE" | "UNSUBSCRIBE" | "PUNSUBSCRIBE" | "SUNSUBSCRIBE" => "a subscribed connection only receives messages; subscribe with a [[trigger.redis]] in spin.toml",
        "MONITOR" => "it turns the connection into a feed of every command the server runs",
        "SYNC" | "PSYNC" | "REPLCONF" => "replication takes the connection over",
        "READONLY" | "READWRITE" | "ASKING" => "it changes the connection's cluster mode",
        _ => return None,
    };
    Some(why)
}

/// Size of a reply as the reply cap counts it: the bytes of every string
/// in it plus 8 per element (so a huge array of empty strings counts too).
pub fn reply_size(value: &redis::Value) -> usize {
    use redis::Value as V;
    8 + match value {
        V::BulkString(b) => b.len(),
        V::SimpleString(s) => s.len(),
        V::VerbatimString { text, .. } => text.len(),
        V::Array(items) | V::Set(items) => items.iter().map(reply_size).sum(),
        V::Map(pairs) => pairs
            .iter()
            .map(|(k, v)| reply_size(k) + reply_size(v))
            .sum(),
        V::Attribute { data, attributes } => {
            reply_size(data)
                + attributes
                    .iter()
                    .map(|(k, v)| reply_size(k) + reply_size(v))
                    .sum::<usize>()
        }
        V::Push { data, .. } => data.iter().map(reply_size).sum(),
        _ => 0,
    }
}

/// Whether `e` leaves the connection unusable (as opposed to an error reply
/// from the server, after which the connection is fine).
fn breaks_connection(e: &redis::RedisError) -> bool {
    e.is_io_error()
        || e.is_unrecoverable_error()
        || matches!(
            e.kind(),
            redis::ErrorKind::ClientError
                | redis::ErrorKind::ParseError
                | redis::ErrorKind::InvalidClientConfig
        )
}

fn other(e: redis::RedisError) -> Error {
    Error::Other(e.to_string())
}

impl HostState {
    /// Send `cmd` on the connection behind `handle` (reopening it if an
    /// earlier failure dropped it) and return the reply, if within the cap.
    async fn query(
        &mut self,
        handle: &Resource<ConnectionHandle>,
        cmd: &redis::Cmd,
    ) -> wasmtime::Result<Result<redis::Value, Error>> {
        let state = self.table.get_mut(handle)?;
        let mut conn = match &state.conn {
            Some(conn) => conn.clone(),
            None => match state.pool.checkout(&state.key.0, &state.key.1).await {
                Ok(conn) => {
                    state.conn = Some(conn.clone());
                    conn
                }
                Err(e) => return Ok(Err(e)),
            },
        };
        state.in_call = true;
        let reply = cmd.query_async::<redis::Value>(&mut conn).await;
        state.in_call = false;
        let value = match reply {
            Ok(value) => value,
            Err(e) => {
                if breaks_connection(&e) {
                    tracing::debug!(
                        component = state.key.0,
                        address = state.key.1,
                        "outbound Redis connection failed ({e}): dropped"
                    );
                    state.conn = None;
                }
                return Ok(Err(other(e)));
            }
        };
        let size = reply_size(&value);
        if size > state.pool.max_reply_bytes {
            return Ok(Err(Error::Other(format!(
                "the reply is {size} bytes, over the host's limit of {} bytes for one Redis reply",
                state.pool.max_reply_bytes
            ))));
        }
        Ok(Ok(value))
    }

    /// [`HostState::query`], the reply converted to `T`.
    async fn query_as<T: redis::FromRedisValue>(
        &mut self,
        handle: &Resource<ConnectionHandle>,
        cmd: &redis::Cmd,
    ) -> wasmtime::Result<Result<T, Error>> {
        Ok(self
            .query(handle, cmd)
            .await?
            .and_then(|value| redis::from_owned_redis_value(value).map_err(typed)))
    }
}

/// A reply of the wrong type (e.g. `INCR` of a non-number) as Spin reports it.
fn typed(e: redis::RedisError) -> Error {
    match e.kind() {
        redis::ErrorKind::TypeError => Error::TypeError,
        _ => other(e),
    }
}

impl Host for HostState {}

impl crate::bindings::spin::fermyon::spin::redis_types::Host for HostState {}

impl HostConnection for HostState {
    async fn open(
        &mut self,
        address: String,
    ) -> wasmtime::Result<Result<Resource<ConnectionHandle>, Error>> {
        let Some(spin) = self.spin.clone() else {
            return Ok(Err(Error::InvalidAddress));
        };
        if !spin.grants.allowed_hosts.allows(&address) {
            eprintln!(
                "[{}] outbound Redis to {address:?} is not in the component's allowed_outbound_hosts: denied",
                spin.grants.component
            );
            return Ok(Err(Error::InvalidAddress));
        }
        let pool = spin.services.redis.clone();
        let conn = match pool.checkout(&spin.grants.component, &address).await {
            Ok(conn) => conn,
            Err(e) => return Ok(Err(e)),
        };
        Ok(Ok(self.table.push(ConnectionHandle {
            pool,
            key: (spin.grants.component.clone(), address),
            conn: Some(conn),
            in_call: false,
        })?))
    }

    async fn publish(
        &mut self,
        c: Resource<ConnectionHandle>,
        channel: String,
        payload: Payload,
    ) -> wasmtime::Result<Result<(), Error>> {
        let mut cmd = redis::cmd("PUBLISH");
        cmd.arg(channel).arg(payload);
        Ok(self.query_as::<i64>(&c, &cmd).await?.map(|_| ()))
    }

    async fn get(
        &mut self,
        c: Resource<ConnectionHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Payload>, Error>> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(key);
        self.query_as(&c, &cmd).await
    }

    async fn set(
        &mut self,
        c: Resource<ConnectionHandle>,
        key: String,
        value: Payload,
    ) -> wasmtime::Result<Result<(), Error>> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(key).arg(value);
        Ok(self.query(&c, &cmd).await?.map(|_| ()))
    }

    async fn incr(
        &mut self,
        c: Resource<ConnectionHandle>,
        key: String,
    ) -> wasmtime::Result<Result<i64, Error>> {
        let mut cmd = redis::cmd("INCR");
        cmd.arg(key);
        self.query_as(&c, &cmd).await
    }

    async fn del(
        &mut self,
        c: Resource<ConnectionHandle>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        let mut cmd = redis::cmd("DEL");
        cmd.arg(keys);
        self.query_as(&c, &cmd).await
    }

    async fn sadd(
        &mut self,
        c: Resource<ConnectionHandle>,
        key: String,
        values: Vec<String>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        let mut cmd = redis::cmd("SADD");
        cmd.arg(key).arg(values);
        self.query_as(&c, &cmd).await
    }

    async fn smembers(
        &mut self,
        c: Resource<ConnectionHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Vec<String>, Error>> {
        let mut cmd = redis::cmd("SMEMBERS");
        cmd.arg(key);
        self.query_as(&c, &cmd).await
    }

    async fn srem(
        &mut self,
        c: Resource<ConnectionHandle>,
        key: String,
        values: Vec<String>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        let mut cmd = redis::cmd("SREM");
        cmd.arg(key).arg(values);
        self.query_as(&c, &cmd).await
    }

    async fn execute(
        &mut self,
        c: Resource<ConnectionHandle>,
        command: String,
        arguments: Vec<RedisParameter>,
    ) -> wasmtime::Result<Result<Vec<RedisResult>, Error>> {
        if let Some(why) = refusal(&command) {
            return Ok(Err(Error::Other(format!(
                "{} is refused by thumbflow's host: {why}",
                command.trim().to_ascii_uppercase()
            ))));
        }
        let mut cmd = redis::cmd(&command);
        for argument in arguments {
            match argument {
                RedisParameter::Int64(i) => cmd.arg(i),
                RedisParameter::Binary(b) => cmd.arg(b),
            };
        }
        let value = match self.query(&c, &cmd).await? {
            Ok(value) => value,
            Err(e) => return Ok(Err(e)),
        };
        let mut out = Vec::new();
        Ok(flatten(value, &mut out).map(|()| out))
    }

    async fn drop(&mut self, c: Resource<ConnectionHandle>) -> wasmtime::Result<()> {
        // Dropping the handle gives its connection back to the pool.
        self.table.delete(c)?;
        Ok(())
    }
}

/// Spin's result flattening: nested arrays become one flat list of
/// `nil | status | int64 | binary`; maps (RESP3) are an error.
pub fn flatten(value: redis::Value, out: &mut Vec<RedisResult>) -> Result<(), Error> {
    use redis::Value as V;
    match value {
        V::Nil => out.push(RedisResult::Nil),
        V::Int(i) => out.push(RedisResult::Int64(i)),
        V::BulkString(b) => out.push(RedisResult::Binary(b)),
        V::SimpleString(s) => out.push(RedisResult::Status(s)),
        V::Okay => out.push(RedisResult::Status("OK".into())),
        V::Array(items) | V::Set(items) => {
            for item in items {
                flatten(item, out)?;
            }
        }
        V::Boolean(b) => out.push(RedisResult::Int64(i64::from(b))),
        V::Double(d) => out.push(RedisResult::Status(d.to_string())),
        V::VerbatimString { text, .. } => out.push(RedisResult::Binary(text.into_bytes())),
        V::ServerError(e) => return Err(Error::Other(format!("{e:?}"))),
        other => {
            return Err(Error::Other(format!(
                "unsupported Redis reply type: {other:?}"
            )))
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;

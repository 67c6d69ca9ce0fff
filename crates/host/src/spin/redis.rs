//! `fermyon:spin/redis@2.0.0`: outbound Redis, limited to the component's
//! `allowed_outbound_hosts`, over one pooled multiplexed connection per address.

use std::collections::HashMap;

use redis::aio::MultiplexedConnection;
use tokio::sync::Mutex;
use wasmtime::component::Resource;

use crate::bindings::spin::fermyon::spin2_0_0::redis::{
    Error, Host, HostConnection, Payload, RedisParameter, RedisResult,
};
use crate::state::HostState;

/// Outbound connections shared by every invocation: opening a TCP
/// connection per message would dominate the per-stage host overhead.
#[derive(Default)]
pub struct RedisPool {
    connections: Mutex<HashMap<String, MultiplexedConnection>>,
}

impl RedisPool {
    /// A connection to `address`, opened on first use.
    pub async fn connection(&self, address: &str) -> Result<MultiplexedConnection, Error> {
        let mut connections = self.connections.lock().await;
        if let Some(conn) = connections.get(address) {
            return Ok(conn.clone());
        }
        let client = redis::Client::open(address).map_err(|_| Error::InvalidAddress)?;
        let conn = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| Error::Other(format!("connecting to {address}: {e}")))?;
        connections.insert(address.to_owned(), conn.clone());
        Ok(conn)
    }
}

/// The host side of a guest's open `connection` resource.
pub struct ConnectionHandle {
    conn: MultiplexedConnection,
}

fn other(e: redis::RedisError) -> Error {
    Error::Other(e.to_string())
}

impl HostState {
    fn conn(&self, handle: &Resource<ConnectionHandle>) -> wasmtime::Result<MultiplexedConnection> {
        Ok(self.table.get(handle)?.conn.clone())
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
        let conn = match spin.services.redis.connection(&address).await {
            Ok(conn) => conn,
            Err(e) => return Ok(Err(e)),
        };
        Ok(Ok(self.table.push(ConnectionHandle { conn })?))
    }

    async fn publish(
        &mut self,
        c: Resource<ConnectionHandle>,
        channel: String,
        payload: Payload,
    ) -> wasmtime::Result<Result<(), Error>> {
        let mut conn = self.conn(&c)?;
        Ok(redis::cmd("PUBLISH")
            .arg(channel)
            .arg(payload)
            .query_async::<i64>(&mut conn)
            .await
            .map(|_| ())
            .map_err(other))
    }

    async fn get(
        &mut self,
        c: Resource<ConnectionHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Payload>, Error>> {
        let mut conn = self.conn(&c)?;
        Ok(redis::cmd("GET")
            .arg(key)
            .query_async::<Option<Vec<u8>>>(&mut conn)
            .await
            .map_err(other))
    }

    async fn set(
        &mut self,
        c: Resource<ConnectionHandle>,
        key: String,
        value: Payload,
    ) -> wasmtime::Result<Result<(), Error>> {
        let mut conn = self.conn(&c)?;
        Ok(redis::cmd("SET")
            .arg(key)
            .arg(value)
            .query_async::<()>(&mut conn)
            .await
            .map_err(other))
    }

    async fn incr(
        &mut self,
        c: Resource<ConnectionHandle>,
        key: String,
    ) -> wasmtime::Result<Result<i64, Error>> {
        let mut conn = self.conn(&c)?;
        Ok(redis::cmd("INCR")
            .arg(key)
            .query_async::<i64>(&mut conn)
            .await
            .map_err(|e| match e.kind() {
                redis::ErrorKind::TypeError => Error::TypeError,
                _ => other(e),
            }))
    }

    async fn del(
        &mut self,
        c: Resource<ConnectionHandle>,
        keys: Vec<String>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        let mut conn = self.conn(&c)?;
        Ok(redis::cmd("DEL")
            .arg(keys)
            .query_async::<u32>(&mut conn)
            .await
            .map_err(other))
    }

    async fn sadd(
        &mut self,
        c: Resource<ConnectionHandle>,
        key: String,
        values: Vec<String>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        let mut conn = self.conn(&c)?;
        Ok(redis::cmd("SADD")
            .arg(key)
            .arg(values)
            .query_async::<u32>(&mut conn)
            .await
            .map_err(other))
    }

    async fn smembers(
        &mut self,
        c: Resource<ConnectionHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Vec<String>, Error>> {
        let mut conn = self.conn(&c)?;
        Ok(redis::cmd("SMEMBERS")
            .arg(key)
            .query_async::<Vec<String>>(&mut conn)
            .await
            .map_err(other))
    }

    async fn srem(
        &mut self,
        c: Resource<ConnectionHandle>,
        key: String,
        values: Vec<String>,
    ) -> wasmtime::Result<Result<u32, Error>> {
        let mut conn = self.conn(&c)?;
        Ok(redis::cmd("SREM")
            .arg(key)
            .arg(values)
            .query_async::<u32>(&mut conn)
            .await
            .map_err(other))
    }

    async fn execute(
        &mut self,
        c: Resource<ConnectionHandle>,
        command: String,
        arguments: Vec<RedisParameter>,
    ) -> wasmtime::Result<Result<Vec<RedisResult>, Error>> {
        let mut conn = self.conn(&c)?;
        let mut cmd = redis::cmd(&command);
        for argument in arguments {
            match argument {
                RedisParameter::Int64(i) => cmd.arg(i),
                RedisParameter::Binary(b) => cmd.arg(b),
            };
        }
        let value = match cmd.query_async::<redis::Value>(&mut conn).await {
            Ok(value) => value,
            Err(e) => return Ok(Err(other(e))),
        };
        let mut out = Vec::new();
        Ok(flatten(value, &mut out).map(|()| out))
    }

    async fn drop(&mut self, c: Resource<ConnectionHandle>) -> wasmtime::Result<()> {
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

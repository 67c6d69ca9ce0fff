//! The one Redis call the queue needs, and decoding of its flat replies.

/// One element of a flattened Redis reply, as Spin's outbound Redis
/// `execute` returns them (nested arrays are flattened into one list).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A nil reply or element.
    Nil,
    /// A status reply (`OK`).
    Status(String),
    /// An integer.
    Int(i64),
    /// A bulk string.
    Bytes(Vec<u8>),
}

impl Value {
    /// The value as text, if it is a bulk string, status or integer.
    pub fn text(&self) -> Option<String> {
        match self {
            Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
            Value::Status(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Nil => None,
        }
    }

    /// The value as an integer, if it is one (or a bulk string holding one).
    pub fn int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Bytes(b) => std::str::from_utf8(b).ok()?.parse().ok(),
            Value::Status(s) => s.parse().ok(),
            Value::Nil => None,
        }
    }

    /// The value's bytes (empty for nil).
    pub fn into_bytes(self) -> Vec<u8> {
        match self {
            Value::Bytes(b) => b,
            Value::Status(s) => s.into_bytes(),
            Value::Int(i) => i.to_string().into_bytes(),
            Value::Nil => Vec::new(),
        }
    }
}

/// Why a queue operation failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// Redis could not be reached or refused the command: the work is where
    /// it was, and trying again later helps.
    #[error("Redis: {0}")]
    Redis(String),
    /// Redis answered something this crate's scripts never return (a
    /// different script version, or a key of the wrong type).
    #[error("unexpected reply from Redis to {what}: {reply:?}")]
    Reply {
        /// The operation.
        what: &'static str,
        /// The reply as received.
        reply: Vec<Value>,
    },
}

impl QueueError {
    /// Whether trying again later can help (always, for a Redis outage).
    pub fn is_retryable(&self) -> bool {
        matches!(self, QueueError::Redis(_))
    }
}

/// Run one Redis command and return its reply, flattened.
///
/// The components implement it over Spin's outbound Redis `execute`, the
/// host over a `redis` crate connection ([`native`](crate::redis) feature).
pub trait Redis {
    /// Run `command` with `args`.
    fn execute(&self, command: &str, args: &[&[u8]]) -> Result<Vec<Value>, QueueError>;
}

impl<R: Redis + ?Sized> Redis for &R {
    fn execute(&self, command: &str, args: &[&[u8]]) -> Result<Vec<Value>, QueueError> {
        (**self).execute(command, args)
    }
}

#[cfg(feature = "native")]
mod native {
    use super::{QueueError, Redis, Value};
    use std::sync::Mutex;

    /// A blocking `redis` crate connection, for the host and the tests.
    pub struct NativeRedis(Mutex<::redis::Connection>);

    impl NativeRedis {
        /// Connect to `url` (`redis://host:port[/db]`).
        pub fn connect(url: &str) -> Result<Self, QueueError> {
            let client =
                ::redis::Client::open(url).map_err(|e| QueueError::Redis(format!("{url}: {e}")))?;
            let conn = client
                .get_connection_with_timeout(std::time::Duration::from_secs(5))
                .map_err(|e| QueueError::Redis(format!("{url}: {e}")))?;
            Ok(Self(Mutex::new(conn)))
        }
    }

    fn flatten(value: ::redis::Value, out: &mut Vec<Value>) {
        use ::redis::Value as V;
        match value {
            V::Nil => out.push(Value::Nil),
            V::Int(i) => out.push(Value::Int(i)),
            V::BulkString(b) => out.push(Value::Bytes(b)),
            V::SimpleString(s) => out.push(Value::Status(s)),
            V::Okay => out.push(Value::Status("OK".to_owned())),
            V::Array(items) | V::Set(items) => {
                for item in items {
                    flatten(item, out);
                }
            }
            V::Map(pairs) => {
                for (k, v) in pairs {
                    flatten(k, out);
                    flatten(v, out);
                }
            }
            V::Double(d) => out.push(Value::Bytes(d.to_string().into_bytes())),
            V::Boolean(b) => out.push(Value::Int(i64::from(b))),
            V::VerbatimString { text, .. } => out.push(Value::Bytes(text.into_bytes())),
            V::BigNumber(n) => out.push(Value::Bytes(n.to_string().into_bytes())),
            V::Attribute { data, .. } => flatten(*data, out),
            V::Push { data, .. } => {
                for item in data {
                    flatten(item, out);
                }
            }
            V::ServerError(e) => out.push(Value::Status(format!("{e:?}"))),
        }
    }

    impl Redis for NativeRedis {
        fn execute(&self, command: &str, args: &[&[u8]]) -> Result<Vec<Value>, QueueError> {
            let mut cmd = ::redis::cmd(command);
            for arg in args {
                cmd.arg(*arg);
            }
            let mut conn = self
                .0
                .lock()
                .map_err(|_| QueueError::Redis("connection lock poisoned".to_owned()))?;
            let value: ::redis::Value = cmd
                .query(&mut *conn)
                .map_err(|e| QueueError::Redis(format!("{command}: {e}")))?;
            let mut out = Vec::new();
            flatten(value, &mut out);
            Ok(out)
        }
    }
}

#[cfg(feature = "native")]
pub use native::NativeRedis;

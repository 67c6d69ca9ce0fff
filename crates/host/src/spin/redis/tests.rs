//! Outbound Redis: which commands are refused, how replies are measured,
//! and, against a real `redis-server` the test starts, the host functions a
//! guest calls: refusals, the reply cap, connections kept per component and
//! replaced after a Redis restart.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::*;
use crate::manifest::AllowedHosts;
use crate::spin::kv::KvDatabase;
use crate::spin::{Grants, Services, SpinState};
use crate::InvocationLimits;

#[test]
fn refusal_names_connection_state_commands_in_any_case() {
    for command in [
        "SELECT",
        "select",
        " Select ",
        "MULTI",
        "EXEC",
        "WATCH",
        "SUBSCRIBE",
        "psubscribe",
        "SSUBSCRIBE",
        "CLIENT",
        "MONITOR",
        "RESET",
        "HELLO",
        "AUTH",
        "QUIT",
    ] {
        assert!(refusal(command).is_some(), "{command} must be refused");
    }
    assert!(refusal("SELECT").unwrap().contains("redis://host:port/2"));
}

#[test]
fn refusal_passes_streams_and_scripts() {
    for command in [
        "XADD",
        "XREADGROUP",
        "XACK",
        "XAUTOCLAIM",
        "XGROUP",
        "XPENDING",
        "EVAL",
        "EVALSHA",
        "FCALL",
        "GET",
        "SET",
        "PUBLISH",
        "BLPOP",
        "PING",
    ] {
        assert_eq!(refusal(command), None, "{command} must pass");
    }
}

#[test]
fn reply_size_counts_nested_strings_and_elements() {
    use redis::Value as V;
    assert_eq!(reply_size(&V::BulkString(vec![0; 100])), 108);
    let nested = V::Array(vec![
        V::Nil,
        V::Array(vec![V::BulkString(vec![0; 10]), V::Int(1)]),
    ]);
    assert_eq!(reply_size(&nested), 8 + 8 + (8 + 18 + 8));
}

/// A `redis-server` on a free port, killed on drop.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    fn start_on(port: u16) -> Self {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server not found on PATH: install it (apt-get install redis-server)");
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "redis-server did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Self { child, port }
    }

    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        Self::start_on(port)
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Host state for one invocation of `component`, granted any local Redis.
fn state(component: &str, pool: &Arc<RedisPool>, dir: &tempfile::TempDir) -> HostState {
    let spin = SpinState {
        grants: Grants {
            component: component.to_owned(),
            key_value_stores: Vec::new(),
            allowed_hosts: Arc::new(
                AllowedHosts::parse(&["redis://127.0.0.1:*".to_owned()]).unwrap(),
            ),
            variables: Arc::new(BTreeMap::new()),
        },
        services: Services {
            kv: Arc::new(KvDatabase::open(&dir.path().join("kv.db")).unwrap()),
            redis: pool.clone(),
        },
    };
    HostState::for_component(&InvocationLimits::default(), spin)
}

/// Another handle on the guest's resource, as a borrow.
fn b(conn: &Resource<ConnectionHandle>) -> Resource<ConnectionHandle> {
    Resource::new_borrow(conn.rep())
}

fn binary(s: &str) -> RedisParameter {
    RedisParameter::Binary(s.as_bytes().to_vec())
}

fn message(e: Error) -> String {
    match e {
        Error::Other(m) => m,
        other => format!("{other:?}"),
    }
}

#[tokio::test]
async fn execute_refuses_select_and_runs_streams_commands() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let pool = Arc::new(RedisPool::default());
    let mut host = state("normalizer", &pool, &dir);
    let conn = host.open(server.url()).await.unwrap().unwrap();

    let refused = host
        .execute(b(&conn), "select".into(), vec![RedisParameter::Int64(1)])
        .await
        .unwrap()
        .unwrap_err();
    let refused = message(refused);
    assert!(refused.contains("SELECT is refused"), "{refused}");
    assert!(
        refused.contains("redis://host:port/2"),
        "names the fix: {refused}"
    );

    let id = host
        .execute(
            b(&conn),
            "XADD".into(),
            vec![binary("work"), binary("*"), binary("key"), binary("a.jpg")],
        )
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(&id[..], [RedisResult::Binary(_)]), "{id:?}");
    let read = host
        .execute(
            b(&conn),
            "XRANGE".into(),
            vec![binary("work"), binary("-"), binary("+")],
        )
        .await
        .unwrap()
        .unwrap();
    assert!(
        read.iter()
            .any(|r| matches!(r, RedisResult::Binary(b) if b == b"a.jpg")),
        "{read:?}"
    );
    // Still database 0: the refused SELECT changed nothing.
    let mut direct = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let len: i64 = redis::cmd("XLEN")
        .arg("work")
        .query_async(&mut direct)
        .await
        .unwrap();
    assert_eq!(len, 1);
}

#[tokio::test]
async fn replies_over_the_cap_are_errors_not_truncations() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let pool = Arc::new(RedisPool::with_max_reply_bytes(1024));
    let mut host = state("thumbnailer", &pool, &dir);
    let conn = host.open(server.url()).await.unwrap().unwrap();
    host.set(b(&conn), "small".into(), vec![1; 100])
        .await
        .unwrap()
        .unwrap();
    host.set(b(&conn), "big".into(), vec![1; 4096])
        .await
        .unwrap()
        .unwrap();
    let small = host.get(b(&conn), "small".into()).await.unwrap();
    assert_eq!(small.unwrap(), Some(vec![1; 100]));
    let big = host.get(b(&conn), "big".into()).await.unwrap();
    let big = message(big.unwrap_err());
    assert!(big.contains("over the host's limit of 1024 bytes"), "{big}");
    let via_execute = host
        .execute(b(&conn), "GET".into(), vec![binary("big")])
        .await
        .unwrap();
    assert!(via_execute.is_err(), "{via_execute:?}");
    // An oversized reply is not a broken connection: the next call works.
    let again = host.get(b(&conn), "small".into()).await.unwrap();
    assert_eq!(again.unwrap(), Some(vec![1; 100]));
}

#[tokio::test]
async fn connections_are_kept_per_component_and_replaced_after_a_redis_restart() {
    let server = Server::start();
    let (port, url) = (server.port, server.url());
    let dir = tempfile::tempdir().unwrap();
    let pool = Arc::new(RedisPool::default());

    let mut gateway = state("gateway", &pool, &dir);
    let conn = gateway.open(url.clone()).await.unwrap().unwrap();
    gateway
        .publish(b(&conn), "ch".into(), b"one".to_vec())
        .await
        .unwrap()
        .unwrap();
    HostConnection::drop(&mut gateway, conn).await.unwrap();
    assert_eq!(pool.idle("gateway", &url), 1, "given back after use");
    assert_eq!(
        pool.idle("notifier", &url),
        0,
        "not lent to another component"
    );

    // Redis goes away and comes back on the same port.
    drop(server);
    let _server = Server::start_on(port);

    // The idle connection is broken: the next open replaces it, and the
    // very first call after the restart works.
    let mut gateway = state("gateway", &pool, &dir);
    let conn = gateway.open(url.clone()).await.unwrap().unwrap();
    gateway
        .publish(b(&conn), "ch".into(), b"two".to_vec())
        .await
        .unwrap()
        .unwrap();
    drop(gateway);
    assert_eq!(
        pool.idle("gateway", &url),
        1,
        "the instance's end gives it back"
    );
}

#[tokio::test]
async fn a_connection_that_failed_mid_invocation_is_reopened_on_the_next_call() {
    let server = Server::start();
    let (port, url) = (server.port, server.url());
    let dir = tempfile::tempdir().unwrap();
    let pool = Arc::new(RedisPool::default());
    let mut host = state("normalizer", &pool, &dir);
    let conn = host.open(url.clone()).await.unwrap().unwrap();
    host.incr(b(&conn), "n".into()).await.unwrap().unwrap();

    drop(server);
    let failed = host.incr(b(&conn), "n".into()).await.unwrap();
    assert!(failed.is_err(), "Redis is down: {failed:?}");
    let _server = Server::start_on(port);
    let n = host.incr(b(&conn), "n".into()).await.unwrap();
    assert_eq!(
        n.unwrap(),
        1,
        "a new connection to the restarted (empty) Redis"
    );
}

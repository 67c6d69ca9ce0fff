//! The queue's semantics against a real `redis-server` this test starts:
//! what a stage worker sees when work is new, duplicated, out of order,
//! failing, abandoned by a dead worker, or dead-lettered and replayed.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code may panic

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use thumbflow_queue::redis::NativeRedis;
use thumbflow_queue::{Begin, Claim, Failed, Queue, QueueConfig, Settle, UnitOfWork};

/// A throwaway redis-server on a free port, killed on drop.
struct Server {
    child: Child,
    url: String,
}

impl Server {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (apt-get install redis-server)");
        let server = Self {
            child,
            url: format!("redis://127.0.0.1:{port}"),
        };
        for _ in 0..100 {
            if NativeRedis::connect(&server.url).is_ok() {
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("redis-server on {port} did not start");
    }

    fn queue(&self, config: QueueConfig) -> Queue<NativeRedis> {
        Queue::new(
            NativeRedis::connect(&self.url).unwrap(),
            "thumbnailer",
            "test.images",
            config,
        )
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn fast() -> QueueConfig {
    QueueConfig {
        lease: Duration::from_millis(300),
        max_attempts: 3,
        backoff_base: Duration::from_millis(50),
        backoff_cap: Duration::from_millis(200),
        done_ttl: Duration::from_secs(60),
    }
}

fn take(q: &Queue<NativeRedis>) -> thumbflow_queue::Delivery {
    match q.claim().unwrap() {
        Claim::Work(d) => d,
        other => panic!("expected work, got {other:?}"),
    }
}

fn unit(key: &str, order: &str) -> UnitOfWork {
    UnitOfWork {
        idempotency_key: format!("{key}@{order}"),
        object: key.to_owned(),
        order: order.to_owned(),
        order_scope: "s3".to_owned(),
    }
}

#[test]
fn work_added_before_any_worker_is_handed_out_once_and_forwarded_atomically() {
    let server = Server::start();
    let q = server.queue(fast());
    q.enqueue(&[b"a", b"b"]).unwrap();
    let next = Queue::new(
        NativeRedis::connect(&server.url).unwrap(),
        "notifier",
        "test.thumbnails",
        fast(),
    );
    let a = take(&q);
    let b = take(&q);
    assert_eq!(
        (a.payload.as_slice(), b.payload.as_slice()),
        (&b"a"[..], &b"b"[..])
    );
    assert_eq!((a.attempts, a.how.as_str()), (0, "new"));
    assert_eq!(
        q.claim().unwrap(),
        Claim::Empty,
        "each entry goes to one worker"
    );
    q.settle(
        &a,
        Settle::Processed,
        None,
        Some(("test.thumbnails", &[b"a1".to_vec()])),
    )
    .unwrap();
    q.settle(&b, Settle::Ignored, None, None).unwrap();
    assert_eq!(take(&next).payload, b"a1");
    let stats = q.stats().unwrap();
    assert_eq!((stats.backlog, stats.in_flight), (0, 0), "{stats:?}");
    assert_eq!(
        (stats.counter("processed"), stats.counter("ignored")),
        (1, 1)
    );
}

#[test]
fn duplicates_and_older_versions_never_run_their_effects_twice() {
    let server = Server::start();
    let q = server.queue(fast());
    q.enqueue(&[b"v2", b"v2 again", b"v1 late"]).unwrap();
    let (v2, again, late) = (take(&q), take(&q), take(&q));
    let u2 = unit("bucket/a.jpg", "0002");
    assert_eq!(q.begin(&v2, &u2).unwrap(), Begin::Go);
    assert_eq!(
        q.begin(&again, &u2).unwrap(),
        Begin::Busy,
        "one worker per object"
    );
    q.defer(&again, Duration::from_millis(10)).unwrap();
    q.settle(&v2, Settle::Processed, Some(&u2), None).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let again = take(&q);
    assert_eq!(
        (again.payload.as_slice(), again.attempts),
        (&b"v2 again"[..], 0)
    );
    assert_eq!(q.begin(&again, &u2).unwrap(), Begin::Duplicate);
    q.settle(&again, Settle::Duplicate, Some(&u2), None)
        .unwrap();
    assert_eq!(
        q.begin(&late, &unit("bucket/a.jpg", "0001")).unwrap(),
        Begin::Superseded
    );
    q.settle(&late, Settle::Superseded, None, None).unwrap();
    let newer = unit("bucket/a.jpg", "0003");
    assert_eq!(
        q.begin(&late, &newer).unwrap(),
        Begin::Go,
        "a newer version runs"
    );
    let stats = q.stats().unwrap();
    assert_eq!(
        (
            stats.counter("processed"),
            stats.counter("duplicate"),
            stats.counter("superseded")
        ),
        (1, 1, 1)
    );
}

#[test]
fn failures_back_off_then_dead_letter_with_their_error_and_replay_re_drives() {
    let server = Server::start();
    let q = server.queue(fast());
    q.enqueue(&[b"poison"]).unwrap();
    let mut delays = Vec::new();
    loop {
        let d = loop {
            match q.claim().unwrap() {
                Claim::Work(d) => break d,
                Claim::RetryIn(wait) => std::thread::sleep(wait),
                Claim::Empty => panic!("the entry vanished"),
            }
        };
        match q
            .fail(&d, "the webhook answered HTTP 500", true, None)
            .unwrap()
        {
            Failed::Retry { delay, attempts } => {
                assert_eq!(attempts, d.attempts + 1);
                delays.push(delay.as_millis());
            }
            Failed::Dead { attempts, .. } => {
                assert_eq!(attempts, 3);
                break;
            }
        }
    }
    assert_eq!(delays, [50, 100], "exponential backoff");
    assert_eq!(
        q.claim().unwrap(),
        Claim::Empty,
        "a dead letter is not work"
    );
    let letters = q.dead_letters(None, 10).unwrap();
    assert_eq!(letters.len(), 1);
    let letter = &letters[0];
    assert_eq!(
        (
            letter.payload.as_slice(),
            letter.error.as_str(),
            letter.attempts,
            letter.stage.as_str()
        ),
        (
            &b"poison"[..],
            "the webhook answered HTTP 500",
            3,
            "thumbnailer"
        )
    );
    assert!(q.replay(&letter.id).unwrap().is_some());
    assert_eq!(q.replay(&letter.id).unwrap(), None, "replayed once");
    let again = take(&q);
    assert_eq!(
        (again.payload.as_slice(), again.attempts),
        (&b"poison"[..], 0)
    );
    q.settle(&again, Settle::Processed, None, None).unwrap();
    assert!(q.dead_letters(None, 10).unwrap().is_empty());
    // Three failed attempts; one settled entry, its latency in one bucket.
    let stats = q.stats().unwrap();
    assert_eq!(stats.counter("failed"), 3, "{stats:?}");
    let latency = stats.latency();
    assert_eq!(latency.count, 1, "{latency:?}");
    assert_eq!(latency.buckets.iter().map(|(_, n)| n).sum::<u64>(), 1);
}

#[test]
fn a_rejected_entry_is_dead_lettered_at_once() {
    let server = Server::start();
    let q = server.queue(fast());
    q.enqueue(&[b"not json"]).unwrap();
    let d = take(&q);
    let failed = q.fail(&d, "not a storage event", false, None).unwrap();
    assert!(
        matches!(failed, Failed::Dead { attempts: 1, .. }),
        "{failed:?}"
    );
}

#[test]
fn work_of_a_worker_that_died_is_taken_again_after_its_lease() {
    let server = Server::start();
    let q = server.queue(fast());
    q.enqueue(&[b"render me"]).unwrap();
    let first = take(&q);
    let u = unit("bucket/b.jpg", "");
    assert_eq!(q.begin(&first, &u).unwrap(), Begin::Go);
    // The worker dies here: no settle, no fail.
    assert_eq!(
        q.claim().unwrap(),
        Claim::Empty,
        "leased to the first worker"
    );
    std::thread::sleep(Duration::from_millis(400));
    let second = take(&q);
    assert_eq!(second.id, first.id);
    assert_eq!((second.attempts, second.how.as_str()), (1, "reclaimed"));
    assert!(second.last_error.as_deref().unwrap().contains("lease"));
    assert_eq!(
        q.begin(&second, &u).unwrap(),
        Begin::Go,
        "the object lock expired too"
    );
    q.settle(&second, Settle::Processed, Some(&u), None)
        .unwrap();
    let stats = q.stats().unwrap();
    assert_eq!(stats.counter("processed"), 1);
    assert_eq!(stats.counter("reclaimed"), 1, "{stats:?}");
}

#[test]
fn activity_is_read_on_from_a_cursor_oldest_first() {
    let server = Server::start();
    let q = server.queue(fast());
    assert!(q.activity(None, 10).unwrap().is_empty());
    for n in 0..3 {
        q.note_activity(&format!("{{\"n\":{n}}}")).unwrap();
    }
    let all = q.activity(None, 10).unwrap();
    let records: Vec<&str> = all.iter().map(|a| a.record.as_str()).collect();
    assert_eq!(records, ["{\"n\":0}", "{\"n\":1}", "{\"n\":2}"]);
    let after_first = q.activity(Some(&all[0].id), 10).unwrap();
    assert_eq!(after_first.len(), 2);
    assert_eq!(after_first[0].id, all[1].id);
    assert!(q.activity(Some(&all[2].id), 10).unwrap().is_empty());
    assert_eq!(q.activity(None, 1).unwrap().len(), 1, "COUNT is honoured");
}

#[test]
fn versions_are_ordered_only_against_the_same_producers() {
    let server = Server::start();
    let q = server.queue(fast());
    q.enqueue(&[b"gateway upload", b"bucket notification"])
        .unwrap();
    // The gateway's clock-based token is far above an S3 sequencer; still,
    // the bucket's own later event is not superseded by it.
    let gateway = UnitOfWork {
        order_scope: "gateway".to_owned(),
        ..unit("b/same.jpg", "0000000000000000187F0A9C3B2D4E5F")
    };
    let d = take(&q);
    assert_eq!(q.begin(&d, &gateway).unwrap(), Begin::Go);
    q.settle(&d, Settle::Processed, Some(&gateway), None)
        .unwrap();
    let bucket = unit("b/same.jpg", "0000000000000000000000000000005F");
    let d = take(&q);
    assert_eq!(q.begin(&d, &bucket).unwrap(), Begin::Go);
    q.settle(&d, Settle::Processed, Some(&bucket), None)
        .unwrap();
    // Within one producer, older is still superseded.
    q.enqueue(&[b"late"]).unwrap();
    let d = take(&q);
    let older = unit("b/same.jpg", "0000000000000000000000000000004A");
    assert_eq!(q.begin(&d, &older).unwrap(), Begin::Superseded);
}

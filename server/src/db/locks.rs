//! Per-machine locks shared by igord replicas on one PostgreSQL database: PostgreSQL
//! session-level advisory locks, so that one call at a time reaches a BMC across every
//! replica, and a replica that dies releases its locks with its connection.
//!
//! One thread per replica owns one dedicated connection and serves every machine's
//! acquire and release, so the locks cost one connection and one thread, never one per
//! call. A lock busy elsewhere is retried every few milliseconds until the call's deadline
//! (a blocking `pg_advisory_lock` would stall every other machine's lock on the one
//! connection). Keys: machine id N is the bigint advisory key N; -N marks "a replica is
//! waiting for N". A replica that finds waiters registers as one too instead of taking
//! the lock, so a replica that just released a machine cannot take it back ahead of the
//! others again and again (polling alone would let it starve them).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use diesel::pg::PgConnection;
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Bool};
use futures_util::future::BoxFuture;
use tokio::sync::oneshot;

use crate::bmc::ReplicaLocks;

/// Retry interval for a lock busy elsewhere: this much, plus up to as much again at random
/// so that replicas do not poll in step.
const RETRY: Duration = Duration::from_millis(2);

enum Msg {
    Acquire {
        key: i64,
        deadline: Instant,
        reply: oneshot::Sender<Result<bool, String>>,
    },
    Release(i64),
}

/// The handle igord's BMC pool takes its machine locks through.
pub struct AdvisoryLocks {
    tx: mpsc::Sender<Msg>,
    /// How many locks the lock thread holds, as it last wrote it (for metrics).
    held: Arc<AtomicUsize>,
}

impl AdvisoryLocks {
    /// Connects (once, so a wrong URL fails the start) and starts the lock thread.
    pub fn start(url: &str) -> Result<AdvisoryLocks, String> {
        // Named, so that an operator can tell it in pg_stat_activity (and its locks in
        // pg_locks).
        let sep = if url.contains('?') { '&' } else { '?' };
        let url = format!("{url}{sep}application_name=igord-locks");
        let conn = PgConnection::establish(&url).map_err(|e| e.to_string())?;
        let (tx, rx) = mpsc::channel();
        let held = Arc::new(AtomicUsize::new(0));
        let count = held.clone();
        std::thread::Builder::new()
            .name("bmc-locks".into())
            .spawn(move || Locker::new(url, conn, count).run(rx))
            .map_err(|e| format!("cannot start the lock thread: {e}"))?;
        Ok(AdvisoryLocks { tx, held })
    }
}

impl ReplicaLocks for AdvisoryLocks {
    fn acquire(&self, key: i64, deadline: Instant) -> BoxFuture<'static, Result<bool, String>> {
        let (reply, answer) = oneshot::channel();
        let sent = self.tx.send(Msg::Acquire {
            key,
            deadline,
            reply,
        });
        Box::pin(async move {
            sent.map_err(|_| "the lock thread is gone".to_owned())?;
            answer
                .await
                .unwrap_or_else(|_| Err("the lock thread is gone".to_owned()))
        })
    }

    fn release(&self, key: i64) {
        let _ = self.tx.send(Msg::Release(key));
    }

    fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }
}

struct Waiter {
    key: i64,
    deadline: Instant,
    reply: oneshot::Sender<Result<bool, String>>,
    next_try: Instant,
    /// Holds the shared "waiting" lock (-key).
    registered: bool,
}

#[derive(QueryableByName)]
struct Taken {
    #[diesel(sql_type = BigInt)]
    key: i64,
    #[diesel(sql_type = Bool)]
    taken: bool,
}

struct Locker {
    url: String,
    conn: Option<PgConnection>,
    waiters: Vec<Waiter>,
    /// Keys this replica holds.
    held: HashSet<i64>,
    /// Keys given back but not yet unlocked on the database: written in one statement
    /// before the next attempts, so that this replica never takes a key it still holds
    /// (session-level advisory locks stack).
    releasing: Vec<i64>,
    /// `held.len()`, published for metrics whenever it changes.
    count: Arc<AtomicUsize>,
    /// xorshift state for the retry jitter.
    jitter: u64,
}

// Every statement works on a batch of keys (`k`, one row each), so that a bulk call over
// a thousand machines costs a few round trips to the database, not two per machine. A
// replica serializes its own calls per machine, so a batch never holds a key twice.

/// Takes `k` unless a replica waits for it (someone holds -k shared): a probe of -k
/// exclusive, given back at once. CASE evaluates its branches in order, so the probe is
/// always released before the lock is tried.
const TAKE_IF_NOBODY_WAITS: &str = "CASE WHEN pg_try_advisory_lock(-k) THEN \
     CASE WHEN pg_advisory_unlock(-k) THEN pg_try_advisory_lock(k) \
     ELSE pg_try_advisory_lock(k) END ELSE false END";
const REGISTER: &str = "pg_try_advisory_lock_shared(-k)";
/// A registered waiter takes the lock and, if it did, stops waiting.
const TAKE_AND_UNREGISTER: &str = "CASE WHEN pg_try_advisory_lock(k) THEN \
     pg_advisory_unlock_shared(-k) OR true ELSE false END";
const UNREGISTER: &str = "pg_advisory_unlock_shared(-k)";
const RELEASE: &str = "pg_advisory_unlock(k)";

impl Locker {
    fn new(url: String, conn: PgConnection, count: Arc<AtomicUsize>) -> Locker {
        let seed = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_nanos() as u64)
            | 1;
        Locker {
            url,
            conn: Some(conn),
            waiters: Vec::new(),
            held: HashSet::new(),
            releasing: Vec::new(),
            count,
            jitter: seed,
        }
    }

    fn run(mut self, rx: mpsc::Receiver<Msg>) {
        loop {
            let wake = self
                .waiters
                .iter()
                .map(|w| w.next_try.min(w.deadline))
                .min();
            let msg = match wake {
                Some(at) => rx.recv_timeout(at.saturating_duration_since(Instant::now())),
                None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            };
            match msg {
                Ok(msg) => self.handle(msg),
                Err(RecvTimeoutError::Timeout) => {}
                // igord is stopping: the connection goes, and PostgreSQL releases every lock.
                Err(RecvTimeoutError::Disconnected) => return,
            }
            while let Ok(msg) = rx.try_recv() {
                self.handle(msg);
            }
            self.release_pending();
            self.try_due();
            self.release_pending();
        }
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Acquire {
                key,
                deadline,
                reply,
            } => self.waiters.push(Waiter {
                key,
                deadline,
                reply,
                next_try: Instant::now(),
                registered: false,
            }),
            Msg::Release(key) => {
                if self.held.remove(&key) {
                    self.publish();
                    self.releasing.push(key);
                } else if let Some(i) = self.waiters.iter().position(|w| w.key == key) {
                    let w = self.waiters.swap_remove(i);
                    self.unregister(&[w]);
                }
            }
        }
    }

    fn release_pending(&mut self) {
        if self.releasing.is_empty() {
            return;
        }
        let keys = std::mem::take(&mut self.releasing);
        if let Err(e) = self.query(RELEASE, &keys) {
            tracing::warn!(keys = keys.len(), error = %e, "cannot release machine locks");
        }
    }

    fn try_due(&mut self) {
        let now = Instant::now();
        // Waiters whose call has gone or whose deadline has passed give up.
        let (gone, waiting): (Vec<Waiter>, Vec<Waiter>) = std::mem::take(&mut self.waiters)
            .into_iter()
            .partition(|w| w.reply.is_closed() || now >= w.deadline);
        self.waiters = waiting;
        self.unregister(&gone);
        for w in gone {
            let _ = w.reply.send(Ok(false));
        }
        // One attempt per due key: registered waiters and the others differ in statement.
        for registered in [true, false] {
            let due = |w: &Waiter| w.next_try <= now && w.registered == registered;
            // Each key once, and never one this replica holds (advisory locks stack): the
            // pool serializes its calls per machine, so neither should happen.
            let mut seen = HashSet::new();
            let keys: Vec<i64> = self
                .waiters
                .iter()
                .filter(|w| due(w))
                .map(|w| w.key)
                .filter(|k| !self.held.contains(k) && seen.insert(*k))
                .collect();
            if keys.is_empty() {
                continue;
            }
            let sql = if registered {
                TAKE_AND_UNREGISTER
            } else {
                TAKE_IF_NOBODY_WAITS
            };
            let answers = match self.query(sql, &keys) {
                Ok(answers) => answers,
                Err(e) => {
                    let (failed, rest): (Vec<Waiter>, Vec<Waiter>) =
                        std::mem::take(&mut self.waiters)
                            .into_iter()
                            .partition(|w| keys.contains(&w.key));
                    self.waiters = rest;
                    for w in failed {
                        let _ = w.reply.send(Err(e.clone()));
                    }
                    return;
                }
            };
            let mut answers: HashSet<i64> = answers.into_iter().collect();
            let mut busy = Vec::new();
            let mut i = 0;
            while i < self.waiters.len() {
                let w = &self.waiters[i];
                if !due(w) {
                    i += 1;
                } else if answers.remove(&w.key) {
                    let w = self.waiters.swap_remove(i);
                    self.held.insert(w.key);
                    // Counted before the caller hears of it.
                    self.publish();
                    if w.reply.send(Ok(true)).is_err() {
                        // The caller is gone: give the lock back.
                        self.handle(Msg::Release(w.key));
                    }
                } else {
                    busy.push(w.key);
                    i += 1;
                }
            }
            // Busy elsewhere: wait in line (registered from now on if the first try found
            // no line), and try again after a short, jittered delay.
            let now_registered: HashSet<i64> = if registered || busy.is_empty() {
                HashSet::new()
            } else {
                self.query(REGISTER, &busy)
                    .unwrap_or_default()
                    .into_iter()
                    .collect()
            };
            for i in 0..self.waiters.len() {
                if due(&self.waiters[i]) {
                    let delay = self.retry_delay();
                    let w = &mut self.waiters[i];
                    w.registered |= now_registered.contains(&w.key);
                    w.next_try = now + delay;
                }
            }
        }
    }

    fn publish(&self) {
        self.count.store(self.held.len(), Ordering::Relaxed);
    }

    fn unregister(&mut self, gone: &[Waiter]) {
        let keys: Vec<i64> = gone
            .iter()
            .filter(|w| w.registered)
            .map(|w| w.key)
            .collect();
        if !keys.is_empty()
            && let Err(e) = self.query(UNREGISTER, &keys)
        {
            tracing::warn!(keys = keys.len(), error = %e, "cannot stop waiting for machine locks");
        }
    }

    fn retry_delay(&mut self) -> Duration {
        self.jitter ^= self.jitter << 13;
        self.jitter ^= self.jitter >> 7;
        self.jitter ^= self.jitter << 17;
        let spread = RETRY.as_micros() as u64;
        RETRY + Duration::from_micros(self.jitter % spread)
    }

    /// Runs one of the lock statements over a batch of keys and returns the keys for which
    /// it answered true. Any error drops the connection (PostgreSQL then releases every
    /// lock of this replica, so nothing is held by mistake), and the next attempt connects
    /// again.
    fn query(&mut self, expr: &str, keys: &[i64]) -> Result<Vec<i64>, String> {
        if self.conn.is_none() {
            let conn = PgConnection::establish(&self.url)
                .map_err(|e| format!("cannot connect for machine locks: {e}"))?;
            self.conn = Some(conn);
        }
        let Some(conn) = self.conn.as_mut() else {
            return Err("no connection for machine locks".into());
        };
        let sql = format!("SELECT k AS key, {expr} AS taken FROM unnest($1) AS t(k)");
        match diesel::sql_query(sql)
            .bind::<Array<BigInt>, _>(keys)
            .load::<Taken>(conn)
        {
            Ok(rows) => Ok(rows
                .into_iter()
                .filter(|t| t.taken)
                .map(|t| t.key)
                .collect()),
            Err(e) => {
                tracing::warn!(error = %e, held = self.held.len(), "machine lock connection failed; its locks are gone");
                self.conn = None;
                self.held.clear();
                self.releasing.clear();
                self.publish();
                for w in &mut self.waiters {
                    w.registered = false;
                }
                Err(format!("machine lock: {e}"))
            }
        }
    }
}

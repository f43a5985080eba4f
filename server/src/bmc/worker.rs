//! Per-machine workers: one std thread per machine key owns that BMC's session, so calls
//! for one machine run one at a time and the blocking ipmi-rs code never runs on a tokio
//! thread. The worker decides when a session is reused, re-opened, closed or thrown away.
//!
//! Invariants:
//! - After any link failure (timeout, socket error, reply we cannot decode) the session is
//!   never used for another request, so a late reply can never be read as the answer to a
//!   later one. Once the caller has its answer, the worker sends Close Session on that
//!   poisoned session itself (whatever comes back is ignored) and drops it with its socket.
//! - An action is sent at most once: only reads are repeated on a fresh session.
//! - A worker leaves (closing its session) after `idle_timeout` without work.

use std::collections::HashMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedMutexGuard, OwnedSemaphorePermit, Semaphore, oneshot};

use super::commands::{self, Ctx, Op, Output};
use super::session::{Fail, Session};
use super::{BmcConfig, BmcError, BmcTarget};

/// An action on a session unused for longer than this is preceded by a cheap probe, so a
/// session the BMC has forgotten (restart, its own idle timeout) is replaced before the
/// action goes out rather than making the action itself time out.
const PROBE_AFTER: Duration = Duration::from_secs(1);

pub struct Job {
    pub target: BmcTarget,
    pub op: Op,
    pub deadline: Instant,
    pub reply: oneshot::Sender<Result<Output, BmcError>>,
    /// Held while the job runs: the global cap counts work in progress, not waiting.
    pub permit: OwnedSemaphorePermit,
    /// The caller's turn for this machine, released when the job is done so the next
    /// caller only then takes a permit.
    pub turn: OwnedMutexGuard<()>,
}

pub enum Msg {
    Run(Job),
    /// Close the session and stop; the sender has already removed the worker from the map.
    Close(oneshot::Sender<()>),
}

pub struct Entry {
    pub tx: mpsc::Sender<Msg>,
    pub turn: Arc<tokio::sync::Mutex<()>>,
    generation: u64,
}

/// What a caller needs of a worker: its queue, its turn lock, and its generation (to tell
/// it from a successor when it turns out to have left).
pub type WorkerRef = (mpsc::Sender<Msg>, Arc<tokio::sync::Mutex<()>>, u64);

pub struct Shared {
    pub config: BmcConfig,
    pub semaphore: Arc<Semaphore>,
    workers: Mutex<HashMap<i64, Entry>>,
    next_generation: AtomicU64,
}

impl Shared {
    pub fn new(config: BmcConfig) -> Self {
        // Zero permits would make every call time out.
        let permits = config.max_concurrent.max(1);
        Shared {
            config,
            semaphore: Arc::new(Semaphore::new(permits)),
            workers: Mutex::new(HashMap::new()),
            next_generation: AtomicU64::new(0),
        }
    }

    pub fn workers(&self) -> MutexGuard<'_, HashMap<i64, Entry>> {
        // A panic while holding this lock cannot leave the map half-updated (every
        // critical section is a single insert/remove), so a poisoned lock is still good.
        self.workers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The sender and turn lock of `key`'s worker, starting the worker if needed.
    pub fn worker(self: &Arc<Self>, key: i64) -> Result<WorkerRef, BmcError> {
        let mut map = self.workers();
        if let Some(e) = map.get(&key) {
            return Ok((e.tx.clone(), e.turn.clone(), e.generation));
        }
        let (tx, rx) = mpsc::channel();
        let generation = self.next_generation.fetch_add(1, Ordering::Relaxed);
        let worker = Worker {
            key,
            generation,
            shared: self.clone(),
            session: None,
            poisoned: Vec::new(),
        };
        std::thread::Builder::new()
            .name(format!("bmc-{key}"))
            .spawn(move || worker.run(rx))
            .map_err(|e| BmcError::Unreachable(format!("cannot start a bmc worker: {e}")))?;
        let turn = Arc::new(tokio::sync::Mutex::new(()));
        map.insert(
            key,
            Entry {
                tx: tx.clone(),
                turn: turn.clone(),
                generation,
            },
        );
        Ok((tx, turn, generation))
    }

    /// Forgets a worker whose channel is closed, unless it was already replaced.
    pub fn drop_stale(&self, key: i64, generation: u64) {
        let mut map = self.workers();
        if map.get(&key).is_some_and(|e| e.generation == generation) {
            map.remove(&key);
        }
    }

    /// Removes workers from the map; the caller then tells them to close.
    pub fn take(&self, key: Option<i64>) -> Vec<mpsc::Sender<Msg>> {
        let mut map = self.workers();
        match key {
            Some(k) => map.remove(&k).map(|e| e.tx).into_iter().collect(),
            None => map.drain().map(|(_, e)| e.tx).collect(),
        }
    }
}

struct Worker {
    key: i64,
    generation: u64,
    shared: Arc<Shared>,
    session: Option<Session>,
    /// Sessions that failed on the link, to be closed after the caller got its answer.
    poisoned: Vec<Session>,
}

impl Worker {
    fn run(mut self, rx: mpsc::Receiver<Msg>) {
        loop {
            let msg = match rx.recv_timeout(self.shared.config.idle_timeout) {
                Ok(msg) => msg,
                Err(RecvTimeoutError::Timeout) => {
                    self.close_session();
                    // Leave only if no job arrived meanwhile; callers send while holding the
                    // map lock, so after this check under the lock none can be lost.
                    let mut map = self.shared.workers();
                    match rx.try_recv() {
                        Ok(msg) => {
                            drop(map);
                            msg
                        }
                        Err(TryRecvError::Empty | TryRecvError::Disconnected) => {
                            if map.get(&self.key).map(|e| e.generation) == Some(self.generation) {
                                map.remove(&self.key);
                            }
                            tracing::debug!(key = self.key, "bmc worker idle, leaving");
                            return;
                        }
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    self.close_session();
                    return;
                }
            };
            match msg {
                Msg::Run(job) => self.run_job(job),
                Msg::Close(done) => {
                    self.close_session();
                    let _ = done.send(());
                    // Jobs queued behind Close are dropped unanswered; their callers see
                    // the closed reply channel and dispatch again to a new worker.
                    return;
                }
            }
        }
    }

    fn run_job(&mut self, job: Job) {
        let Job {
            target,
            op,
            deadline,
            reply,
            permit,
            turn,
        } = job;
        let label = self.shared.config.deadline;
        if reply.is_closed() || Instant::now() >= deadline {
            let _ = reply.send(Err(BmcError::Timeout(label)));
            return;
        }
        let result = catch_unwind(AssertUnwindSafe(|| self.execute(&target, &op, deadline)));
        let result = result.unwrap_or_else(|_| {
            // ipmi-rs has a few unwraps on malformed input; a panic there must not take the
            // worker (or the server) down. The session state is unknown: drop it.
            tracing::error!(key = self.key, host = %target.host, "panic while talking to the bmc");
            if let Some(s) = self.session.take() {
                self.poisoned.push(s);
            }
            Err(BmcError::Protocol(
                "internal error while handling the answer".into(),
            ))
        });
        let _ = reply.send(result);
        // Close poisoned sessions on their own sockets: the BMC frees the slot if it still
        // knows the session, and a restarted BMC cannot mistake the request for another
        // client's session with the same id, since it will not authenticate. This may wait
        // one receive timeout; the permit and the machine's turn are held meanwhile, so the
        // next call for this machine waits rather than racing it.
        for s in self.poisoned.drain(..) {
            s.close();
        }
        drop(permit);
        drop(turn);
    }

    fn execute(
        &mut self,
        target: &BmcTarget,
        op: &Op,
        deadline: Instant,
    ) -> Result<Output, BmcError> {
        let label = self.shared.config.deadline;
        if self.session.as_ref().is_some_and(|s| s.target != *target) {
            tracing::debug!(key = self.key, "bmc target changed, re-opening the session");
            self.close_session();
        }
        let mut reused = self.session.is_some();
        if reused && !op.is_read() {
            let idle = self
                .session
                .as_ref()
                .is_some_and(|s| s.last_used.elapsed() > PROBE_AFTER);
            if idle && let Err(f) = self.with_session(deadline, commands::probe) {
                tracing::debug!(key = self.key, error = %DisplayFail(&f), "kept session failed its probe");
                self.discard(f);
                reused = false;
            }
        }
        loop {
            if self.session.is_none() {
                self.open(target, deadline)?;
            }
            match self.with_session(deadline, |ctx| commands::execute(ctx, op)) {
                Ok(out) => {
                    // A session opened late in a call has a short socket timeout; it would
                    // make the next call fail early, so do not keep it.
                    if self
                        .session
                        .as_ref()
                        .is_some_and(|s| s.recv_timeout < label / 4)
                    {
                        self.close_session();
                    }
                    return Ok(out);
                }
                Err(f) => {
                    tracing::debug!(key = self.key, host = %target.host, error = %DisplayFail(&f), reused, "bmc request failed");
                    let err = self.discard(f);
                    if reused && op.is_read() && Instant::now() < deadline {
                        reused = false;
                        continue;
                    }
                    return Err(err);
                }
            }
        }
    }

    fn with_session<T>(
        &mut self,
        deadline: Instant,
        f: impl FnOnce(&mut Ctx<'_>) -> Result<T, Fail>,
    ) -> Result<T, Fail> {
        let label = self.shared.config.deadline;
        let Some(session) = self.session.as_mut() else {
            return Err(Fail::Answer(BmcError::Protocol("no session".into())));
        };
        let mut ctx = Ctx {
            session,
            deadline,
            timeout_label: label,
            broken: None,
        };
        let result = f(&mut ctx);
        // An operation may answer with partial outcomes over a link that failed under it;
        // the session is then as unusable as after any other link failure.
        if let Some(fail) = ctx.broken.take() {
            tracing::debug!(key = self.key, error = %DisplayFail(&fail), "bmc link failed part-way");
            self.discard(fail);
        }
        result
    }

    fn open(&mut self, target: &BmcTarget, deadline: Instant) -> Result<(), BmcError> {
        let label = self.shared.config.deadline;
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            return Err(BmcError::Timeout(label));
        }
        // Half the deadline per receive: a kept session that silently died (BMC restarted)
        // then fails early enough for a read to be retried on a fresh one within the call.
        let recv_timeout = remaining.min(label / 2);
        let session = Session::open(target, recv_timeout, label).map_err(Fail::error)?;
        tracing::debug!(key = self.key, host = %target.host, port = target.port, id = ?session.session_id, "opened bmc session");
        self.session = Some(session);
        Ok(())
    }

    /// Throws the session away after a failure and returns the error for the caller.
    fn discard(&mut self, fail: Fail) -> BmcError {
        match fail {
            // Our own deadline check: nothing was sent, the session is fine.
            Fail::Answer(e @ BmcError::Timeout(_)) => e,
            Fail::Answer(e) => {
                self.close_session();
                e
            }
            Fail::Link(e) => {
                if let Some(s) = self.session.take() {
                    self.poisoned.push(s);
                }
                e
            }
        }
    }

    fn close_session(&mut self) {
        if let Some(s) = self.session.take() {
            s.close();
        }
    }
}

struct DisplayFail<'a>(&'a Fail);

impl std::fmt::Display for DisplayFail<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Fail::Answer(e) => write!(f, "{e}"),
            Fail::Link(e) => write!(f, "link: {e}"),
        }
    }
}

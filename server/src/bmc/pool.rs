//! [`BmcPool`]: the async entry points, and what decides per call whether a kept session
//! is reused, re-opened, closed or thrown away.
//!
//! Each BMC (machine key) has a slot: a tokio mutex, the machine's turn, around its kept
//! session. A call is one task on the pool's own small tokio runtime (`bmc` threads, about
//! one per core): it takes the machine's turn, then the cross-replica lock when replicas
//! share the database, then a global permit, and runs the operation. The caller waits for
//! the answer until the call's deadline. A kept session costs a socket and its keys, never
//! a thread: however many BMCs and calls, the runtime's few threads drive them all.
//!
//! Invariants:
//! - One call at a time per BMC: the turn is held from before the first datagram until the
//!   last one of the call, including the closing of a broken session.
//! - After any failure (timeout, socket error, an answer we cannot use) the session is
//!   never used for another request, so a late reply can never be read as the answer to a
//!   later one. Once the caller has its answer, the call sends Close Session on it (the
//!   answer, if any, is awaited briefly and otherwise ignored) and drops it with its socket.
//! - An action is sent at most once: only reads are repeated, on a fresh session.
//! - A session unused for `idle_timeout` is closed by the reaper task.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use tokio::sync::{Semaphore, oneshot};

use super::commands::{self, Ctx, Op, Output};
use super::redfish;
use super::session::{Fail, Session};
use super::{
    BmcConfig, BmcError, BmcTarget, BootDevice, BootFlags, ChassisAction, ChassisStatus,
    DeviceInfo, Identify, PowerState, SelDeletion, SelInfo, SelRecord, SensorReading,
};
use crate::metrics::{BmcMetrics, Driver};

/// An action on a session unused for longer than this is preceded by a cheap probe, so a
/// session the BMC has forgotten (restart, its own idle timeout) is replaced before the
/// action goes out rather than making the action itself time out.
const PROBE_AFTER: Duration = Duration::from_secs(1);
/// How long past the deadline the caller waits for the answer: a call whose last wait ends
/// exactly at the deadline still answers (a SEL delete then reports what it did).
const ANSWER_GRACE: Duration = Duration::from_millis(250);
/// The most threads the pool's runtime runs BMC sessions on.
const MAX_THREADS: usize = 4;

/// Serializes calls to one BMC across igord replicas sharing a database (PostgreSQL
/// advisory locks, `db::locks`). Within a replica, the machine's turn already does.
pub trait ReplicaLocks: Send + Sync {
    /// Takes `key`'s lock, waiting at most until `deadline`: `Ok(true)` when taken,
    /// `Ok(false)` when the deadline came first, `Err` when the lock cannot be asked for.
    fn acquire(&self, key: i64, deadline: Instant) -> BoxFuture<'static, Result<bool, String>>;
    /// Releases `key`'s lock, or gives up a pending `acquire` of it. Called once after
    /// every `acquire`, whatever its outcome, and before the machine's next `acquire`.
    fn release(&self, key: i64);
    /// How many locks this replica holds now (for metrics).
    fn held(&self) -> usize;
}

type Slot = Arc<tokio::sync::Mutex<Option<Session>>>;

/// Cheap to clone (Arc inside).
#[derive(Clone)]
pub struct BmcPool {
    shared: Arc<Shared>,
    /// The runtime, shut down when the last handle goes (its tasks hold only `Shared`).
    _runtime: Arc<RuntimeOwner>,
}

struct RuntimeOwner(Option<tokio::runtime::Runtime>);

impl Drop for RuntimeOwner {
    fn drop(&mut self) {
        // Does not wait for the threads, so a pool may be dropped inside async code.
        if let Some(rt) = self.0.take() {
            rt.shutdown_background();
        }
    }
}

/// A kept Redfish connection (its session or Basic credentials), used only under its
/// machine's turn.
struct KeptRedfish {
    conn: Arc<redfish::Conn>,
    last_used: Instant,
}

struct Shared {
    config: BmcConfig,
    semaphore: Arc<Semaphore>,
    slots: Mutex<HashMap<i64, Slot>>,
    /// Redfish machines' kept connections, by machine key. Taken and put back under the
    /// machine's turn, like its slot's session.
    redfish: Mutex<HashMap<i64, KeptRedfish>>,
    handle: tokio::runtime::Handle,
    locks: Option<Arc<dyn ReplicaLocks>>,
}

impl std::fmt::Debug for BmcPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BmcPool")
            .field("config", &self.shared.config)
            .field("slots", &self.shared.slots().len())
            .field("replica_locks", &self.shared.locks.is_some())
            .finish()
    }
}

fn driver_of(target: &BmcTarget) -> Driver {
    if target.redfish.is_some() {
        Driver::Redfish
    } else {
        Driver::Ipmi
    }
}

fn unexpected(op: &str) -> BmcError {
    BmcError::Protocol(format!("internal mix-up: wrong result kind for {op}"))
}

/// How long closing a session may wait for the BMC's answer.
fn close_wait(label: Duration) -> Duration {
    (label / 2).min(Duration::from_secs(1))
}

impl BmcPool {
    /// A pool for one replica (or one of several sharing a SQLite file, which igord refuses).
    pub fn new(config: BmcConfig) -> std::io::Result<Self> {
        Self::build(config, None)
    }

    /// A pool whose calls also take `locks` for their machine, for replicas sharing BMCs.
    pub fn with_replica_locks(
        config: BmcConfig,
        locks: Arc<dyn ReplicaLocks>,
    ) -> std::io::Result<Self> {
        Self::build(config, Some(locks))
    }

    fn build(config: BmcConfig, locks: Option<Arc<dyn ReplicaLocks>>) -> std::io::Result<Self> {
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, MAX_THREADS);
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            // Only name resolution of BMC host names blocks; bounded, never one per BMC.
            .max_blocking_threads(2)
            .thread_name("bmc")
            .enable_io()
            .enable_time()
            .build()?;
        // Zero permits would make every call time out.
        let permits = config.max_concurrent.max(1);
        let shared = Arc::new(Shared {
            config,
            semaphore: Arc::new(Semaphore::new(permits)),
            slots: Mutex::new(HashMap::new()),
            redfish: Mutex::new(HashMap::new()),
            handle: runtime.handle().clone(),
            locks,
        });
        runtime.spawn(reaper(Arc::downgrade(&shared)));
        Ok(BmcPool {
            shared,
            _runtime: Arc::new(RuntimeOwner(Some(runtime))),
        })
    }

    async fn call(&self, key: i64, target: &BmcTarget, op: Op) -> Result<Output, BmcError> {
        let started = Instant::now();
        let result = self.call_uncounted(key, target, op).await;
        if let Some(m) = &self.shared.config.metrics {
            let outcome = match &result {
                Ok(_) => "ok",
                Err(e) => e.code().as_str(),
            };
            m.call(driver_of(target), outcome, started.elapsed().as_secs_f64());
        }
        result
    }

    async fn call_uncounted(
        &self,
        key: i64,
        target: &BmcTarget,
        op: Op,
    ) -> Result<Output, BmcError> {
        let label = self.shared.config.deadline;
        let deadline = Instant::now() + label;
        let (reply, answer) = oneshot::channel();
        let shared = self.shared.clone();
        self.shared
            .handle
            .spawn(shared.run(key, target.clone(), op, deadline, reply));
        match tokio::time::timeout_at((deadline + ANSWER_GRACE).into(), answer).await {
            Ok(Ok(result)) => result,
            // The task ended without answering: the runtime is shutting down.
            Ok(Err(_)) => Err(BmcError::Unreachable("the bmc pool is shut down".into())),
            Err(_) => Err(BmcError::Timeout(label)),
        }
    }

    pub async fn power_status(&self, key: i64, target: &BmcTarget) -> Result<PowerState, BmcError> {
        match self.call(key, target, Op::PowerStatus).await? {
            Output::Power(p) => Ok(p),
            _ => Err(unexpected("power status")),
        }
    }

    pub async fn chassis_control(
        &self,
        key: i64,
        target: &BmcTarget,
        action: ChassisAction,
    ) -> Result<(), BmcError> {
        self.call(key, target, Op::ChassisControl(action))
            .await
            .map(|_| ())
    }

    pub async fn chassis_status(
        &self,
        key: i64,
        target: &BmcTarget,
    ) -> Result<ChassisStatus, BmcError> {
        match self.call(key, target, Op::ChassisStatus).await? {
            Output::Chassis(c) => Ok(c),
            _ => Err(unexpected("chassis status")),
        }
    }

    pub async fn device_id(&self, key: i64, target: &BmcTarget) -> Result<DeviceInfo, BmcError> {
        match self.call(key, target, Op::DeviceId).await? {
            Output::Device(d) => Ok(d),
            _ => Err(unexpected("device id")),
        }
    }

    pub async fn sel_info(&self, key: i64, target: &BmcTarget) -> Result<SelInfo, BmcError> {
        match self.call(key, target, Op::SelInfo).await? {
            Output::SelInfo(i) => Ok(i),
            _ => Err(unexpected("sel info")),
        }
    }

    pub async fn sel_list(&self, key: i64, target: &BmcTarget) -> Result<Vec<SelRecord>, BmcError> {
        match self.call(key, target, Op::SelList).await? {
            Output::SelList(l) => Ok(l),
            _ => Err(unexpected("sel list")),
        }
    }

    /// Deletes records one by one (Reserve SEL, then Delete SEL Entry with the reservation;
    /// re-reserves when the reservation is cancelled). One outcome per id, in order. A link
    /// that breaks part-way still answers: the records before it keep their outcomes, the
    /// one in flight is `Unknown`, the rest `NotAttempted`, and the session is thrown away.
    pub async fn sel_delete(
        &self,
        key: i64,
        target: &BmcTarget,
        ids: Vec<u16>,
    ) -> Result<Vec<SelDeletion>, BmcError> {
        match self.call(key, target, Op::SelDelete(ids)).await? {
            Output::SelDelete(r) => Ok(r),
            _ => Err(unexpected("sel delete")),
        }
    }

    pub async fn sel_clear(&self, key: i64, target: &BmcTarget) -> Result<(), BmcError> {
        self.call(key, target, Op::SelClear).await.map(|_| ())
    }

    pub async fn sensors(
        &self,
        key: i64,
        target: &BmcTarget,
    ) -> Result<Vec<SensorReading>, BmcError> {
        match self.call(key, target, Op::Sensors).await? {
            Output::Sensors(s) => Ok(s),
            _ => Err(unexpected("sensors")),
        }
    }

    pub async fn identify(
        &self,
        key: i64,
        target: &BmcTarget,
        mode: Identify,
    ) -> Result<(), BmcError> {
        self.call(key, target, Op::Identify(mode)).await.map(|_| ())
    }

    pub async fn set_boot_device(
        &self,
        key: i64,
        target: &BmcTarget,
        dev: BootDevice,
        persistent: bool,
        efi: bool,
    ) -> Result<(), BmcError> {
        self.call(key, target, Op::SetBootDevice(dev, persistent, efi))
            .await
            .map(|_| ())
    }

    /// The boot flags (System Boot Options parameter 5): device, persistent, EFI.
    pub async fn boot_device(&self, key: i64, target: &BmcTarget) -> Result<BootFlags, BmcError> {
        match self.call(key, target, Op::GetBootDevice).await? {
            Output::Boot(f) => Ok(f),
            _ => Err(unexpected("boot options")),
        }
    }

    /// FRU device `device`'s inventory (chassis, board and product areas).
    pub async fn fru(
        &self,
        key: i64,
        target: &BmcTarget,
        device: u8,
    ) -> Result<super::fru::Fru, BmcError> {
        match self.call(key, target, Op::Fru(device)).await? {
            Output::Fru(f) => Ok(*f),
            _ => Err(unexpected("fru")),
        }
    }

    /// Closes the session of one machine (machine deleted or credentials changed), after
    /// the call in progress on it, if any.
    /// Runs `task` on the pool's runtime (a console session: it owns a socket of its own,
    /// which must live where it is driven).
    pub fn spawn<F>(&self, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.shared.handle.spawn(task);
    }

    /// The deadline of one BMC call.
    pub fn deadline(&self) -> Duration {
        self.shared.config.deadline
    }

    pub async fn forget(&self, key: i64) {
        self.close(Some(key)).await;
    }

    /// Closes every session (server shutdown), sending Close Session to each BMC.
    pub async fn shutdown(&self) {
        self.close(None).await;
    }

    async fn close(&self, key: Option<i64>) {
        let shared = self.shared.clone();
        // Sessions are closed in parallel; a dead BMC costs at most one deadline overall.
        let _ = self
            .shared
            .handle
            .spawn(async move { shared.close_slots(key).await })
            .await;
    }

    /// How many machine locks this replica holds in PostgreSQL (0 without replicas).
    pub fn replica_locks_held(&self) -> usize {
        self.shared.locks.as_ref().map_or(0, |l| l.held())
    }

    /// Kept sessions and machines with a call in progress (for tests and figures).
    pub fn slots(&self) -> usize {
        self.shared.slots().len()
    }
}

impl Shared {
    fn slots(&self) -> MutexGuard<'_, HashMap<i64, Slot>> {
        // Every critical section is a single lookup, insert or scan, so a panic cannot leave
        // the map half-updated: a poisoned lock is still good.
        self.slots.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn slot(&self, key: i64) -> Slot {
        self.slots().entry(key).or_default().clone()
    }

    /// One call, as a task on the pool's runtime. Every wait ends by `deadline`.
    async fn run(
        self: Arc<Self>,
        key: i64,
        target: BmcTarget,
        op: Op,
        deadline: Instant,
        reply: oneshot::Sender<Result<Output, BmcError>>,
    ) {
        let label = self.config.deadline;
        let timeout = || Err(BmcError::Timeout(label));
        let until = deadline.into();
        let Ok(mut turn) = tokio::time::timeout_at(until, self.slot(key).lock_owned()).await else {
            let _ = reply.send(timeout());
            return;
        };
        let _replica = match &self.locks {
            Some(locks) => {
                let guard = ReplicaGuard(locks.clone(), key);
                match tokio::time::timeout_at(until, locks.acquire(key, deadline)).await {
                    Ok(Ok(true)) => Some(guard),
                    Ok(Ok(false)) | Err(_) => {
                        let _ = reply.send(timeout());
                        return;
                    }
                    Ok(Err(e)) => {
                        tracing::warn!(key, error = %e, "cannot take the machine's replica lock");
                        let _ = reply.send(Err(BmcError::Unreachable(format!(
                            "cannot take the machine's lock shared with other replicas: {e}"
                        ))));
                        return;
                    }
                }
            }
            None => None,
        };
        let permit = tokio::time::timeout_at(until, self.semaphore.clone().acquire_owned()).await;
        let Ok(Ok(_permit)) = permit else {
            let _ = reply.send(timeout());
            return;
        };
        // The caller gave up (or is gone): an action nobody waits for is not sent.
        if reply.is_closed() || Instant::now() >= deadline {
            let _ = reply.send(timeout());
            return;
        }
        let mut closing = Vec::new();
        let work: BoxFuture<'_, Result<Output, BmcError>> = match &target.redfish {
            Some(link) => Box::pin(self.execute_redfish(key, &target, link, &op, deadline)),
            None => Box::pin(execute(
                self.metrics(),
                &mut turn,
                &target,
                &op,
                deadline,
                label,
                &mut closing,
            )),
        };
        let result = match AssertUnwindSafe(work).catch_unwind().await {
            Ok(result) => result,
            Err(_) => {
                // The ipmi-rs parsers have a few unwraps on malformed input; a panic there
                // must not take the runtime down. The session's state is unknown: drop it.
                tracing::error!(key, host = %target.host, "panic while talking to the bmc");
                if let Some(s) = turn.take() {
                    closing.push(s);
                }
                Err(BmcError::Protocol(
                    "internal error while handling the answer".into(),
                ))
            }
        };
        let _ = reply.send(result);
        // Close broken sessions on their own sockets: the BMC frees the slot if it still
        // knows the session, and a restarted BMC cannot take the request for another
        // client's session with the same id, since it will not authenticate. The permit and
        // the machine's turn are held meanwhile, so the next call for this machine waits
        // rather than racing it.
        for s in closing {
            s.close(close_wait(label)).await;
        }
    }

    fn metrics(&self) -> Option<&BmcMetrics> {
        self.config.metrics.as_ref()
    }

    fn redfish_conns(&self) -> MutexGuard<'_, HashMap<i64, KeptRedfish>> {
        // Single inserts, removals and scans: a poisoned lock is still good.
        self.redfish.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// One operation on a Redfish machine, under its turn (held by `run`): on the kept
    /// connection if it was opened for the same target, else a new one. After a failure
    /// the connection is dropped (logged out); a read on a kept connection is tried once
    /// more on a new one (the BMC may have expired the session), an action never is.
    async fn execute_redfish(
        &self,
        key: i64,
        target: &BmcTarget,
        link: &super::RedfishLink,
        op: &Op,
        deadline: Instant,
    ) -> Result<Output, BmcError> {
        let rt = redfish::RedfishTarget {
            host: target.host.clone(),
            port: target.port,
            user: target.username.clone(),
            password: target.password.clone(),
            trust: link.trust.clone(),
        };
        let kept = self
            .redfish_conns()
            .remove(&key)
            .filter(|k| *k.conn.target() == rt);
        let mut reused = kept.is_some();
        let mut conn = kept.map(|k| k.conn);
        loop {
            let c = match conn.take() {
                Some(c) => c,
                None => {
                    let mut c = redfish::Conn::open(&rt, deadline).await?;
                    c.held = self.metrics().and_then(|m| m.opened(Driver::Redfish));
                    Arc::new(c)
                }
            };
            let path = c.system_path(&link.system)?;
            match redfish::ops::execute(&c, &path, op, deadline).await {
                Ok(out) => {
                    self.redfish_conns().insert(
                        key,
                        KeptRedfish {
                            conn: c,
                            last_used: Instant::now(),
                        },
                    );
                    return Ok(out);
                }
                // The BMC answered (it refused, or lacks the capability): the connection
                // is as good as before.
                Err(e @ (BmcError::NotSupported(_) | BmcError::Refused { .. })) => {
                    self.redfish_conns().insert(
                        key,
                        KeptRedfish {
                            conn: c,
                            last_used: Instant::now(),
                        },
                    );
                    return Err(e);
                }
                Err(e) => {
                    tracing::debug!(host = %target.host, error = %e, reused, "redfish request failed");
                    close_redfish(c);
                    if reused && op.is_read() && Instant::now() < deadline {
                        reused = false;
                        continue;
                    }
                    return Err(e);
                }
            }
        }
    }

    async fn close_slots(&self, key: Option<i64>) {
        let conns: Vec<KeptRedfish> = {
            let mut map = self.redfish_conns();
            match key {
                Some(k) => map.remove(&k).into_iter().collect(),
                None => map.drain().map(|(_, v)| v).collect(),
            }
        };
        futures_util::future::join_all(conns.into_iter().map(|k| logout(k.conn))).await;
        let slots: Vec<Slot> = {
            let map = self.slots();
            match key {
                Some(k) => map.get(&k).cloned().into_iter().collect(),
                None => map.values().cloned().collect(),
            }
        };
        let label = self.config.deadline;
        let deadline = tokio::time::Instant::now() + label;
        let closes = slots.into_iter().map(|slot| async move {
            // A call in progress finishes first (within its own deadline).
            if let Ok(mut turn) = tokio::time::timeout_at(deadline, slot.lock_owned()).await
                && let Some(s) = turn.take()
            {
                s.close(close_wait(label)).await;
            }
        });
        futures_util::future::join_all(closes).await;
    }

    /// Closes sessions idle for `idle_timeout` and forgets slots with no session and no
    /// caller. A slot busy with a call is left alone.
    async fn reap(&self) {
        let idle = self.config.idle_timeout;
        let stale: Vec<KeptRedfish> = {
            let mut map = self.redfish_conns();
            let keys: Vec<i64> = map
                .iter()
                .filter(|(_, k)| k.last_used.elapsed() >= idle)
                .map(|(key, _)| *key)
                .collect();
            keys.iter().filter_map(|k| map.remove(k)).collect()
        };
        futures_util::future::join_all(stale.into_iter().map(|k| logout(k.conn))).await;
        let mut closing = Vec::new();
        self.slots().retain(|_, slot| {
            // Callers clone a slot under this lock only: alone here, nobody waits for it.
            let alone = Arc::strong_count(slot) == 1;
            let Ok(turn) = slot.clone().try_lock_owned() else {
                return true;
            };
            match turn.as_ref() {
                Some(s) if s.last_used.elapsed() >= idle => {
                    closing.push(turn);
                    true
                }
                Some(_) => true,
                None => !alone,
            }
        });
        let label = self.config.deadline;
        let closes = closing.into_iter().map(|mut turn| async move {
            if let Some(s) = turn.take() {
                tracing::debug!(host = %s.target.host, "closing idle bmc session");
                s.close(close_wait(label)).await;
            }
        });
        futures_util::future::join_all(closes).await;
    }
}

/// Logs a Redfish connection out (deletes its session), if nothing else holds it.
async fn logout(conn: Arc<redfish::Conn>) {
    if let Ok(conn) = Arc::try_unwrap(conn) {
        conn.close().await;
    }
}

/// Logs out a connection that failed, in the background: its answer is already given.
fn close_redfish(conn: Arc<redfish::Conn>) {
    tokio::spawn(logout(conn));
}

/// Releases the machine's replica lock when the call ends, however it ends.
struct ReplicaGuard(Arc<dyn ReplicaLocks>, i64);

impl Drop for ReplicaGuard {
    fn drop(&mut self) {
        self.0.release(self.1);
    }
}

async fn reaper(shared: Weak<Shared>) {
    let tick = {
        let Some(s) = shared.upgrade() else { return };
        (s.config.idle_timeout / 4).clamp(Duration::from_millis(10), Duration::from_secs(1))
    };
    loop {
        tokio::time::sleep(tick).await;
        let Some(s) = shared.upgrade() else { return };
        s.reap().await;
    }
}

/// Runs `op` on the machine's kept session (or a fresh one), deciding what becomes of the
/// session; sessions to close once the caller has its answer go to `closing`.
async fn execute(
    metrics: Option<&BmcMetrics>,
    slot: &mut Option<Session>,
    target: &BmcTarget,
    op: &Op,
    deadline: Instant,
    label: Duration,
    closing: &mut Vec<Session>,
) -> Result<Output, BmcError> {
    if let Some(s) = slot.take_if(|s| s.target != *target) {
        tracing::debug!(host = %target.host, "bmc target changed, re-opening the session");
        closing.push(s);
    }
    let mut reused = slot.is_some();
    let idle = slot
        .as_ref()
        .is_some_and(|s| s.last_used.elapsed() > PROBE_AFTER);
    if reused
        && !op.is_read()
        && idle
        && let Err(f) = run_on(slot, None, deadline, label, closing).await
    {
        tracing::debug!(host = %target.host, error = %DisplayFail(&f), "kept session failed its probe");
        discard(slot, f, closing);
        reused = false;
    }
    loop {
        if slot.is_none() {
            let mut session = Session::open(target, deadline, label)
                .await
                .map_err(Fail::error)?;
            session.held = metrics.and_then(|m| m.opened(Driver::Ipmi));
            tracing::debug!(host = %target.host, port = target.port, id = session.bmc_session_id(), "opened bmc session");
            *slot = Some(session);
        }
        match run_on(slot, Some(op), deadline, label, closing).await {
            Ok(out) => return Ok(out),
            Err(f) => {
                tracing::debug!(host = %target.host, error = %DisplayFail(&f), reused, "bmc request failed");
                let err = discard(slot, f, closing);
                if reused && op.is_read() && Instant::now() < deadline {
                    reused = false;
                    continue;
                }
                return Err(err);
            }
        }
    }
}

/// Runs `op` (or the probe, for `None`) on the slot's session.
async fn run_on(
    slot: &mut Option<Session>,
    op: Option<&Op>,
    deadline: Instant,
    label: Duration,
    closing: &mut Vec<Session>,
) -> Result<Output, Fail> {
    let Some(session) = slot.as_mut() else {
        return Err(Fail::Answer(BmcError::Protocol("no session".into())));
    };
    let mut ctx = Ctx {
        session,
        deadline,
        timeout_label: label,
        broken: None,
    };
    let result = match op {
        Some(op) => commands::execute(&mut ctx, op).await,
        None => commands::probe(&mut ctx).await.map(|()| Output::Done),
    };
    // An operation may answer with partial outcomes over a link that failed under it;
    // the session is then as unusable as after any other link failure.
    if let Some(fail) = ctx.broken.take() {
        tracing::debug!(error = %DisplayFail(&fail), "bmc link failed part-way");
        discard(slot, fail, closing);
    }
    result
}

/// Throws the session away after a failure (to be closed after the answer) and returns
/// the error for the caller.
fn discard(slot: &mut Option<Session>, fail: Fail, closing: &mut Vec<Session>) -> BmcError {
    match fail {
        // Our own deadline check: nothing was sent, the session is fine.
        Fail::Answer(e @ BmcError::Timeout(_)) => e,
        Fail::Answer(e) | Fail::Link(e) => {
            if let Some(s) = slot.take() {
                closing.push(s);
            }
            e
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

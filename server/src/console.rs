//! The console broker. igord holds at most one Serial-over-LAN session per machine
//! (`bmc::sol`) and shares it among every client attached to it (the WebSocket
//! `GET /api/console/{machine}`, `http::console`).
//!
//! - Output goes to the machine's scrollback (the last [`SCROLLBACK`] bytes, kept after the
//!   session ends, for `console-log` and for the next attach), to the log file when
//!   `[console] log_dir` is set, and to every attached client through a bounded queue: a
//!   client that falls behind loses the oldest output and is told so; it never holds up the
//!   others or the session.
//! - One client at a time holds the keyboard. An operator gets it when it is free; otherwise
//!   it attaches read-only and is told who holds it since when. `force` takes it over, and
//!   the previous holder is told. A viewer only ever watches.
//! - The session is one task on the BMC pool's runtime, never a thread of its own. It ends
//!   when the last client leaves, after `[console] idle_timeout_secs` without input or
//!   output, when the BMC stops answering (a Get Device ID after every quiet
//!   [`KEEPALIVE`] finds out), or when another session takes SOL over; every attached
//!   client is told why.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, broadcast, mpsc, oneshot, watch};

use crate::bmc::sol::{ConsoleError, SolConsole};
use crate::bmc::{BmcPool, BmcTarget};

/// How much output of each console igord keeps in memory.
pub const SCROLLBACK: usize = 256 * 1024;
/// Output chunks queued for one client before the oldest are dropped for it.
const CLIENT_QUEUE: usize = 512;
/// A console quiet for this long asks the BMC whether it is still there.
const KEEPALIVE: Duration = Duration::from_secs(10);
/// Keystrokes waiting for the BMC beyond this are not taken from the clients' queue, which
/// then pushes back on their WebSockets: a BMC drains about 250 characters a round trip,
/// and nothing while it says it cannot take more.
const MAX_UNSENT: usize = 64 * 1024;
/// How long a detach waits for the keystrokes before it to be acknowledged by the BMC.
const SYNC_WAIT: Duration = Duration::from_secs(5);

#[derive(Clone, Debug)]
pub struct ConsoleConfig {
    /// A console without input or output for this long is released.
    pub idle: Duration,
    /// Where each machine's console output is appended (`MACHINE.log`, 0600), if anywhere.
    pub log_dir: Option<std::path::PathBuf>,
    /// A log file reaching this size is rotated (`MACHINE.log.1`, ...).
    pub log_max_bytes: u64,
    /// How many rotated files are kept.
    pub log_keep: usize,
}

/// Who holds a console's keyboard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Holder {
    pub client: u64,
    pub user: String,
    /// Unix seconds.
    pub since: i64,
}

/// What every client attached to a console hears.
#[derive(Clone, Debug)]
pub enum Event {
    Output(Arc<[u8]>),
    /// A message for one client (`Some(id)`) or for all.
    Notice {
        to: Option<u64>,
        text: String,
    },
    /// The keyboard changed hands (`None`: it is free).
    Writer(Option<Holder>),
    /// The session is over, and why.
    Ended(String),
}

/// Why an attach or a keystroke was refused.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error("{0}")]
    Console(#[from] ConsoleError),
    #[error("{0}")]
    ReadOnly(String),
    #[error("the console session ended")]
    Gone,
}

pub struct Consoles {
    slots: Mutex<HashMap<i64, Arc<Slot>>>,
    next_client: AtomicU64,
    config: ConsoleConfig,
    bmc: BmcPool,
    log: Option<crate::console_log::LogWriter>,
}

/// One machine's console: its scrollback, and its live session if there is one.
struct Slot {
    machine: String,
    /// Held while a session is being opened, so two attaches never open two.
    live: tokio::sync::Mutex<Option<Arc<Live>>>,
    scrollback: Mutex<Scrollback>,
}

#[derive(Default)]
struct Scrollback {
    bytes: VecDeque<u8>,
}

/// A live SOL session and the clients attached to it.
struct Live {
    events: broadcast::Sender<Event>,
    input: mpsc::Sender<Input>,
    release: Notify,
    state: Mutex<LiveState>,
    finished: watch::Receiver<bool>,
}

#[derive(Default)]
struct LiveState {
    clients: usize,
    writer: Option<Holder>,
    /// Set once the session is ending: nobody joins it any more.
    closing: bool,
}

enum Input {
    Keys(Vec<u8>),
    Break,
    /// Answered once every keystroke sent so far is acknowledged by the BMC.
    Sync(oneshot::Sender<()>),
}

/// A poisoned lock only means another thread panicked; the data is still ours.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One client's place at a console. Dropping it detaches.
pub struct Attachment {
    pub client: u64,
    pub user: String,
    /// Whether this client may take the keyboard (an operator).
    pub may_write: bool,
    /// The scrollback as it was at attach, followed without gap or overlap by `events`.
    pub scrollback: Vec<u8>,
    pub events: broadcast::Receiver<Event>,
    /// Who held the keyboard right after the attach (this client, someone else, nobody).
    pub writer: Option<Holder>,
    /// Whom `force` took the keyboard from.
    pub took_over_from: Option<Holder>,
    live: Arc<Live>,
}

impl Attachment {
    pub fn is_writer(&self) -> bool {
        lock(&self.live.state)
            .writer
            .as_ref()
            .is_some_and(|h| h.client == self.client)
    }

    /// Takes the keyboard if it is free and this client may type; refuses with who holds it.
    fn keyboard(&self) -> Result<(), Refused> {
        if !self.may_write {
            return Err(Refused::ReadOnly(
                "read-only: typing needs the operator role on the machine (or an attach without --read-only)".into(),
            ));
        }
        let mut st = lock(&self.live.state);
        match &st.writer {
            Some(h) if h.client == self.client => Ok(()),
            Some(h) => Err(Refused::ReadOnly(format!(
                "read-only: the keyboard is held by {} since {}",
                h.user,
                clock(h.since)
            ))),
            None => {
                let me = Holder {
                    client: self.client,
                    user: self.user.clone(),
                    since: crate::state::now(),
                };
                st.writer = Some(me.clone());
                let _ = self.live.events.send(Event::Writer(Some(me)));
                Ok(())
            }
        }
    }

    /// Types `keys` on the serial line, when this client holds the keyboard or takes it.
    pub async fn type_keys(&self, keys: Vec<u8>) -> Result<(), Refused> {
        self.keyboard()?;
        self.live
            .input
            .send(Input::Keys(keys))
            .await
            .map_err(|_| Refused::Gone)
    }

    pub async fn send_break(&self) -> Result<(), Refused> {
        self.keyboard()?;
        self.live
            .input
            .send(Input::Break)
            .await
            .map_err(|_| Refused::Gone)
    }

    /// Waits (at most a few seconds) until what this client typed is acknowledged by the
    /// BMC, so a detach at the end of input loses no keystroke.
    pub async fn sync(&self) {
        let (tx, rx) = oneshot::channel();
        if self.live.input.send(Input::Sync(tx)).await.is_ok() {
            let _ = tokio::time::timeout(SYNC_WAIT, rx).await;
        }
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        let mut st = lock(&self.live.state);
        st.clients = st.clients.saturating_sub(1);
        if st.writer.as_ref().is_some_and(|h| h.client == self.client) {
            st.writer = None;
            let _ = self.live.events.send(Event::Writer(None));
        }
        if st.clients == 0 && !st.closing {
            st.closing = true;
            self.live.release.notify_one();
        }
    }
}

/// `HH:MM` UTC of Unix seconds, as "held by alice since 10:02" says it.
pub fn clock(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%H:%M UTC").to_string())
        .unwrap_or_default()
}

impl Consoles {
    pub fn new(config: ConsoleConfig, bmc: BmcPool) -> std::io::Result<Self> {
        let log = match &config.log_dir {
            Some(dir) => Some(crate::console_log::LogWriter::start(
                dir.clone(),
                config.log_max_bytes,
                config.log_keep,
            )?),
            None => None,
        };
        Ok(Consoles {
            slots: Mutex::new(HashMap::new()),
            next_client: AtomicU64::new(1),
            config,
            bmc,
            log,
        })
    }

    fn slot(&self, key: i64, machine: &str) -> Arc<Slot> {
        lock(&self.slots)
            .entry(key)
            .or_insert_with(|| {
                Arc::new(Slot {
                    machine: machine.to_owned(),
                    live: tokio::sync::Mutex::new(None),
                    scrollback: Mutex::new(Scrollback::default()),
                })
            })
            .clone()
    }

    /// The last output of machine `key` (empty if it never had a console here), and
    /// whether a session is live.
    pub fn recent(&self, key: i64) -> (Vec<u8>, bool) {
        let Some(slot) = lock(&self.slots).get(&key).cloned() else {
            return (Vec::new(), false);
        };
        let bytes = {
            let sb = lock(&slot.scrollback);
            let (a, b) = sb.bytes.as_slices();
            [a, b].concat()
        };
        let live = slot
            .live
            .try_lock()
            .map(|l| l.as_ref().is_some_and(|l| !lock(&l.state).closing))
            // Being opened right now.
            .unwrap_or(true);
        (bytes, live)
    }

    /// Attaches a client to machine `key`'s console, opening the SOL session if there is
    /// none. `force` takes the keyboard from another client, and takes SOL over from
    /// another session on the BMC (another tool) by deactivating it there.
    pub async fn attach(
        &self,
        key: i64,
        machine: &str,
        target: &BmcTarget,
        user: &str,
        may_write: bool,
        force: bool,
    ) -> Result<Attachment, Refused> {
        let slot = self.slot(key, machine);
        let mut guard = slot.live.lock().await;
        if let Some(live) = guard.as_ref() {
            if let Some(att) = self.join(&slot, live.clone(), user, may_write, force) {
                return Ok(att);
            }
            // The session is ending: let it finish before a new one starts.
            let mut finished = live.finished.clone();
            let _ = tokio::time::timeout(Duration::from_secs(10), finished.wait_for(|done| *done))
                .await;
        }
        let live = self.open(slot.clone(), target, force).await?;
        *guard = Some(live.clone());
        // A session just opened has no client that could have released it.
        self.join(&slot, live, user, may_write, force)
            .ok_or(Refused::Gone)
    }

    /// Opens the SOL session on the BMC pool's runtime, where its socket lives, and leaves
    /// its task running there.
    async fn open(
        &self,
        slot: Arc<Slot>,
        target: &BmcTarget,
        force: bool,
    ) -> Result<Arc<Live>, Refused> {
        let (events, _) = broadcast::channel(CLIENT_QUEUE);
        let (input, input_rx) = mpsc::channel(64);
        let (done, finished) = watch::channel(false);
        let live = Arc::new(Live {
            events,
            input,
            release: Notify::new(),
            state: Mutex::new(LiveState::default()),
            finished,
        });
        let (opened, opened_rx) = oneshot::channel();
        let deadline = Instant::now() + self.bmc.deadline();
        let target = target.clone();
        let task = Session {
            slot,
            live: live.clone(),
            input: input_rx,
            idle: self.config.idle,
            log: self.log.clone(),
        };
        // Should this attach be given up while the session opens (its client went away),
        // the session finds itself released rather than running on with nobody.
        let abandoned = ReleaseUnlessKept(Some(live.clone()));
        self.bmc.spawn(async move {
            match SolConsole::activate(&target, deadline, force).await {
                Ok(sol) => {
                    let _ = opened.send(Ok(()));
                    task.run(sol).await;
                }
                Err(e) => {
                    let _ = opened.send(Err(e));
                }
            }
            let _ = done.send(true);
        });
        let opened = opened_rx.await;
        abandoned.keep();
        match opened {
            Ok(Ok(())) => Ok(live),
            Ok(Err(e)) => Err(e.into()),
            Err(_) => Err(Refused::Gone),
        }
    }

    /// Adds a client to a live session; `None` when the session is ending. The check and
    /// the count are one step under the session's lock, so a client can never join a
    /// session its last client is releasing.
    fn join(
        &self,
        slot: &Slot,
        live: Arc<Live>,
        user: &str,
        may_write: bool,
        force: bool,
    ) -> Option<Attachment> {
        let client = self.next_client.fetch_add(1, Ordering::Relaxed);
        let me = Holder {
            client,
            user: user.to_owned(),
            since: crate::state::now(),
        };
        let mut took_over_from = None;
        let writer = {
            let mut st = lock(&live.state);
            if st.closing {
                return None;
            }
            st.clients += 1;
            match (&st.writer, may_write) {
                (None, true) => {
                    st.writer = Some(me.clone());
                    let _ = live.events.send(Event::Writer(Some(me)));
                }
                (Some(h), true) if force => {
                    let _ = live.events.send(Event::Notice {
                        to: Some(h.client),
                        text: format!(
                            "the keyboard was taken over by {user}; you are watching read-only"
                        ),
                    });
                    took_over_from = Some(h.clone());
                    st.writer = Some(me.clone());
                    let _ = live.events.send(Event::Writer(Some(me)));
                }
                _ => {}
            }
            st.writer.clone()
        };
        // Snapshot and subscription under the scrollback's lock, which output is appended
        // under: the client sees every byte once.
        let (scrollback, events) = {
            let sb = lock(&slot.scrollback);
            let (a, b) = sb.bytes.as_slices();
            ([a, b].concat(), live.events.subscribe())
        };
        Some(Attachment {
            client,
            user: user.to_owned(),
            may_write,
            scrollback,
            events,
            writer,
            took_over_from,
            live,
        })
    }
}

/// Releases a session being opened unless `keep` is called (see `Consoles::open`).
struct ReleaseUnlessKept(Option<Arc<Live>>);

impl ReleaseUnlessKept {
    fn keep(mut self) {
        self.0 = None;
    }
}

impl Drop for ReleaseUnlessKept {
    fn drop(&mut self) {
        if let Some(live) = self.0.take() {
            lock(&live.state).closing = true;
            live.release.notify_one();
        }
    }
}

/// The task that drives one SOL session.
struct Session {
    slot: Arc<Slot>,
    live: Arc<Live>,
    input: mpsc::Receiver<Input>,
    idle: Duration,
    log: Option<crate::console_log::LogWriter>,
}

enum End {
    /// The last client left: nobody to tell.
    Released,
    /// Tell the clients this, then deactivate SOL.
    Closed(String),
    /// The BMC ended SOL itself (taken over): nothing to deactivate.
    TakenOver,
}

impl Session {
    async fn run(mut self, mut sol: SolConsole) {
        let mut active = Instant::now();
        let mut heard = Instant::now();
        let mut syncs: Vec<oneshot::Sender<()>> = Vec::new();
        let end = loop {
            if sol.unacknowledged() == 0 {
                for s in syncs.drain(..) {
                    let _ = s.send(());
                }
            }
            let now = Instant::now();
            if now >= active + self.idle {
                break End::Closed(format!(
                    "the console was idle for {} s and is released",
                    self.idle.as_secs()
                ));
            }
            if now >= heard + KEEPALIVE {
                if let Err(e) = sol.keepalive(now + Duration::from_secs(5)).await {
                    break End::Closed(format!("the BMC stopped answering: {e}"));
                }
                heard = Instant::now();
            }
            let until = (heard + KEEPALIVE).min(active + self.idle);
            tokio::select! {
                biased;
                () = self.live.release.notified() => break End::Released,
                input = self.input.recv(), if sol.unacknowledged() < MAX_UNSENT => match input {
                    Some(Input::Keys(k)) => {
                        sol.write(&k);
                        active = Instant::now();
                    }
                    Some(Input::Break) => {
                        sol.send_break();
                        active = Instant::now();
                    }
                    Some(Input::Sync(s)) => syncs.push(s),
                    None => break End::Released,
                },
                out = sol.pump(until) => match out {
                    Ok(out) => {
                        if !out.data.is_empty() {
                            heard = Instant::now();
                            active = heard;
                            self.output(out.data);
                        }
                        if out.break_detected {
                            let _ = self.live.events.send(Event::Notice {
                                to: None,
                                text: "the host sent a break".into(),
                            });
                        }
                        if out.deactivated {
                            break End::TakenOver;
                        }
                    }
                    Err(e) => break End::Closed(e.to_string()),
                },
            }
        };
        lock(&self.live.state).closing = true;
        let why = match &end {
            End::Released => "the last client detached".to_owned(),
            End::Closed(why) => why.clone(),
            End::TakenOver => {
                "another session took SOL over on the BMC; the console is closed".to_owned()
            }
        };
        tracing::info!(machine = %self.slot.machine, %why, "console closed");
        // Released means nobody is attached, but a client may be on its way in: it is
        // told too, rather than left on a session that will say nothing more.
        let _ = self.live.events.send(Event::Ended(why));
        if let Some(log) = &self.log {
            log.close(&self.slot.machine);
        }
        if !matches!(end, End::TakenOver) {
            sol.deactivate(Duration::from_secs(2)).await;
        }
    }

    /// Appends output to the scrollback and hands it to every client, under one lock so
    /// an attach sees each byte exactly once.
    fn output(&self, data: Vec<u8>) {
        if let Some(log) = &self.log {
            log.append(&self.slot.machine, &data);
        }
        let data: Arc<[u8]> = data.into();
        let mut sb = lock(&self.slot.scrollback);
        sb.bytes.extend(data.iter().copied());
        let over = sb.bytes.len().saturating_sub(SCROLLBACK);
        sb.bytes.drain(..over);
        let _ = self.live.events.send(Event::Output(data));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_reads_as_hours_and_minutes() {
        // 2024-06-15 10:02:33 UTC
        assert_eq!(clock(1_718_445_753), "10:02 UTC");
    }
}

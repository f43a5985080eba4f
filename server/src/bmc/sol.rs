//! A serial console over IPMI 2.0 SOL: a session of its own (never the pool's kept
//! session, which serves commands), Activate Payload for SOL instance 1, then the packet
//! layer of `rmcp::sol` driven over that session's socket, and Deactivate Payload and
//! Close Session at the end. The broker that shares one console between several clients
//! builds on this.

use std::time::{Duration, Instant};

use super::rmcp::sol::{self, Sol, SolError};
use super::session::{Fail, Session};
use super::{BmcError, BmcTarget};

/// Why a console could not be had, or ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConsoleError {
    /// The BMC's SOL is held by another session (another tool, or another igord).
    #[error("{0}")]
    InUse(&'static str),
    #[error("{0}")]
    Bmc(BmcError),
    #[error("the serial console ended: {0}")]
    Ended(String),
}

impl From<Fail> for ConsoleError {
    fn from(f: Fail) -> Self {
        ConsoleError::Bmc(f.error())
    }
}

/// What one turn of [`SolConsole::pump`] brought.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Output {
    pub data: Vec<u8>,
    pub break_detected: bool,
    /// The BMC ended SOL (another session took it over): the console is over.
    pub deactivated: bool,
}

pub struct SolConsole {
    session: Session,
    sol: Sol,
    /// What arrived and is not yet handed out: during the probe, or by a `pump` that was
    /// cancelled before it could return it.
    pending: Output,
}

/// How long a new console waits for the answer to its probe (`Sol::probe`): a BMC on the
/// LAN answers in milliseconds.
const PROBE_WAIT: Duration = Duration::from_millis(150);

const APP: u8 = 0x06;
const ACTIVATE_PAYLOAD: u8 = 0x48;
const DEACTIVATE_PAYLOAD: u8 = 0x49;

impl SolConsole {
    /// Opens a session to the BMC and activates SOL. When the BMC says SOL is active on
    /// another session, `force` deactivates it there first (taking the console over);
    /// otherwise the answer is [`ConsoleError::InUse`].
    pub async fn activate(
        target: &BmcTarget,
        deadline: Instant,
        force: bool,
    ) -> Result<SolConsole, ConsoleError> {
        let label = deadline.saturating_duration_since(Instant::now());
        let mut session = Session::open(target, deadline, label).await?;
        let mut forced = false;
        let answer = loop {
            match session
                .request(APP, ACTIVATE_PAYLOAD, &sol::activate_request(), 0, deadline)
                .await
            {
                Ok(d) => break d,
                Err(Fail::Answer(BmcError::Completion { code: 0x80, .. })) if force && !forced => {
                    forced = true;
                    session
                        .request(
                            APP,
                            DEACTIVATE_PAYLOAD,
                            &sol::deactivate_request(),
                            0,
                            deadline,
                        )
                        .await?;
                }
                Err(Fail::Answer(BmcError::Completion { code, .. }))
                    if (0x80..=0x84).contains(&code) =>
                {
                    session.close(Duration::from_millis(500)).await;
                    return Err(ConsoleError::InUse(sol::activation_refused(code)));
                }
                Err(e) => {
                    session.close(Duration::from_millis(500)).await;
                    return Err(e.into());
                }
            }
        };
        let activated = sol::activated(&answer).ok_or_else(|| {
            ConsoleError::Bmc(BmcError::Protocol(format!(
                "Activate Payload answered {} bytes, expected 10",
                answer.len()
            )))
        })?;
        let mut console = SolConsole {
            session,
            sol: Sol::new(usize::from(activated.inbound_size)),
            pending: Output::default(),
        };
        console.probe().await?;
        Ok(console)
    }

    /// Asks whether the BMC still holds our first packet number from an earlier session
    /// (`Sol::probe`), waiting at most [`PROBE_WAIT`] for the answer. Output arriving
    /// meanwhile is kept for the first `pump`.
    async fn probe(&mut self) -> Result<(), ConsoleError> {
        let probe = self.sol.probe();
        self.session.send_sol(&probe).await?;
        let until = Instant::now() + PROBE_WAIT;
        while self.sol.probing() {
            let Some(payload) = self.session.recv_sol(until).await? else {
                break;
            };
            let r = self.sol.receive(&payload).map_err(ended)?;
            self.pending.data.extend(r.data);
            self.pending.break_detected |= r.break_detected;
            self.pending.deactivated |= r.deactivating;
            while let Some(p) = self.sol.poll_transmit(Instant::now()).map_err(ended)? {
                self.session.send_sol(&p).await?;
            }
        }
        self.sol.end_probe();
        Ok(())
    }

    /// Queues keystrokes for the serial line.
    pub fn write(&mut self, bytes: &[u8]) {
        self.sol.write(bytes);
    }

    pub fn send_break(&mut self) {
        self.sol.send_break();
    }

    /// Sends what is due and takes what arrives, until `until` or until output arrived.
    ///
    /// Safe to cancel (the broker races it against keystrokes): what was received is kept
    /// in `pending` the moment the packet layer takes it, never only in this future, so a
    /// pump dropped while it sends an acknowledgement loses nothing; the next one returns it.
    pub async fn pump(&mut self, until: Instant) -> Result<Output, ConsoleError> {
        loop {
            if self.pending != Output::default() {
                // Acknowledge at once, so the BMC does not resend.
                while let Some(p) = self.sol.poll_transmit(Instant::now()).map_err(ended)? {
                    self.session.send_sol(&p).await?;
                }
                return Ok(std::mem::take(&mut self.pending));
            }
            while let Some(p) = self.sol.poll_transmit(Instant::now()).map_err(ended)? {
                self.session.send_sol(&p).await?;
            }
            let wait = self.sol.next_timeout().map_or(until, |t| t.min(until));
            match self.session.recv_sol(wait).await? {
                Some(payload) => {
                    let r = self.sol.receive(&payload).map_err(ended)?;
                    self.pending.data.extend(r.data);
                    self.pending.break_detected |= r.break_detected;
                    self.pending.deactivated |= r.deactivating;
                }
                None if Instant::now() >= until => return Ok(Output::default()),
                None => {}
            }
        }
    }

    /// Characters typed but not yet acknowledged by the BMC.
    pub fn unacknowledged(&self) -> usize {
        self.sol.unacknowledged()
    }

    /// Asks the BMC for its device id, to learn whether it still answers: a console with no
    /// traffic would otherwise never notice a BMC that went away.
    pub async fn keepalive(&mut self, deadline: Instant) -> Result<(), ConsoleError> {
        const GET_DEVICE_ID: u8 = 0x01;
        self.session
            .request(APP, GET_DEVICE_ID, &[], 0, deadline)
            .await
            .map(|_| ())
            .map_err(|f| ConsoleError::Bmc(f.error()))
    }

    /// Deactivates SOL and closes the session, waiting at most `wait` for each answer.
    pub async fn deactivate(mut self, wait: Duration) {
        let deadline = Instant::now() + wait;
        let _ = self
            .session
            .request(
                APP,
                DEACTIVATE_PAYLOAD,
                &sol::deactivate_request(),
                0,
                deadline,
            )
            .await;
        self.session.close(wait).await;
    }
}

fn ended(e: SolError) -> ConsoleError {
    ConsoleError::Ended(e.to_string())
}

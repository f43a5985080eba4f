//! One RMCP+ session to one BMC: a tokio UDP socket connected to the BMC, driving the
//! sans-io core in `rmcp`. Besides the handshake it raises the privilege to Administrator,
//! closes the session on the BMC, maps failures onto [`BmcError`], and tells "the BMC
//! answered with an error" (the session is still in step) from "the link failed" (a late
//! reply may still be on its way, so the session must never be used again).
//!
//! A datagram that is not the answer waited for (another session's, a late or replayed
//! one, one that fails its integrity check) is ignored and the wait goes on until its end;
//! only a timeout, a socket error or an authentic answer that does not decode is a failure.

use std::io::ErrorKind;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;

use super::rmcp::{
    Handshake, Inbound, MAX_PASSWORD, MAX_USERNAME, Nonces, PayloadType, SessionState, SetupError,
    Stage, Step,
};
use super::{BmcError, BmcTarget};

/// Room for any datagram a BMC sends (IPMI answers are a few hundred bytes at most).
const RECV_BUFFER: usize = 4096;

/// Why a request failed, and whether the session survived it.
#[derive(Debug)]
pub enum Fail {
    /// The BMC answered (completion code, or data we could not use): the session is in step.
    Answer(BmcError),
    /// Nothing usable came back (timeout, socket error, an authentic datagram that does not
    /// decode): a reply may still arrive later, so the session is poisoned.
    Link(BmcError),
}

impl Fail {
    pub fn error(self) -> BmcError {
        match self {
            Fail::Answer(e) | Fail::Link(e) => e,
        }
    }
}

pub struct Session {
    socket: UdpSocket,
    state: SessionState,
    pub target: BmcTarget,
    pub last_used: Instant,
    /// The call deadline, named in timeouts so the message says what the caller configured.
    timeout_label: Duration,
    /// The SDR repository as last read on this session, with the Get SDR Repository Info
    /// answer it was read under; reused while the BMC answers that info unchanged. Goes
    /// with the session, so a fresh session (after any failure) reads the SDRs again.
    pub sdr_cache: Option<SdrCache>,
    /// Counts the session in `igord_bmc_sessions_open` while it lives.
    pub held: Option<crate::metrics::Held>,
}

/// See [`Session::sdr_cache`].
pub struct SdrCache {
    /// Get SDR Repository Info bytes 1 to 12: record count, free space, last addition and
    /// last erase timestamps.
    pub info: Vec<u8>,
    pub records: Vec<Vec<u8>>,
}

fn random<const N: usize>() -> Result<[u8; N], Fail> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b)
        .map_err(|e| Fail::Answer(BmcError::Unreachable(format!("no randomness: {e}"))))?;
    Ok(b)
}

/// How long one receive may wait: half the call's deadline at most, so that a kept session
/// that silently died (a restarted BMC) fails early enough for a read to be retried on a
/// fresh session within the call; never past the deadline.
fn wait_until(deadline: Instant, label: Duration) -> Instant {
    deadline.min(Instant::now() + label / 2)
}

async fn resolve(target: &BmcTarget, deadline: Instant) -> Result<SocketAddr, Fail> {
    if let Ok(ip) = target.host.parse::<IpAddr>() {
        return Ok(SocketAddr::new(ip, target.port));
    }
    let unreachable = |why: String| {
        Fail::Link(BmcError::Unreachable(format!(
            "cannot resolve {}{why}",
            target.host
        )))
    };
    let found = tokio::time::timeout_at(
        deadline.into(),
        tokio::net::lookup_host((target.host.as_str(), target.port)),
    )
    .await
    .map_err(|_| unreachable(": no answer in time".into()))?
    .map_err(|e| unreachable(format!(": {e}")))?;
    found
        .into_iter()
        .next()
        .ok_or_else(|| unreachable(String::new()))
}

impl Session {
    /// Opens an RMCP+ session and raises it to Administrator. Every wait ends by `deadline`.
    pub async fn open(
        target: &BmcTarget,
        deadline: Instant,
        timeout_label: Duration,
    ) -> Result<Session, Fail> {
        if target.cipher_suite != 3 {
            // The only suite we speak; asking for another would silently give the caller
            // weaker or different crypto than configured.
            return Err(Fail::Answer(BmcError::Unreachable(format!(
                "cipher suite {} is not supported (only 3)",
                target.cipher_suite
            ))));
        }
        if target.username.len() > MAX_USERNAME || target.password.len() > MAX_PASSWORD {
            // Longer ones cannot be sent: no BMC could accept them.
            return Err(Fail::Answer(BmcError::AuthFailed));
        }
        let addr = resolve(target, deadline).await?;
        let local: IpAddr = match addr {
            SocketAddr::V4(_) => Ipv4Addr::UNSPECIFIED.into(),
            SocketAddr::V6(_) => Ipv6Addr::UNSPECIFIED.into(),
        };
        let what = addr.to_string();
        let socket = UdpSocket::bind((local, 0))
            .await
            .map_err(|e| io_fail(&e, &what, timeout_label))?;
        socket
            .connect(addr)
            .await
            .map_err(|e| io_fail(&e, &what, timeout_label))?;

        let session_id = loop {
            let id = u32::from_le_bytes(random()?);
            if id != 0 {
                break id;
            }
        };
        let [tag] = random::<1>()?;
        let nonces = Nonces {
            console_session_id: session_id,
            console_random: random()?,
            tag,
        };
        let (mut handshake, first) = Handshake::start(
            target.username.as_bytes(),
            target.password.as_bytes(),
            nonces,
        )
        .map_err(setup_fail)?;
        send(&socket, &first, &what, timeout_label).await?;
        let mut until = wait_until(deadline, timeout_label);
        let mut buf = vec![0u8; RECV_BUFFER];
        let state = loop {
            let n = recv(&socket, &mut buf, until, &what, timeout_label).await?;
            match handshake.receive(&buf[..n]) {
                Step::Ignore(why) => {
                    tracing::debug!(bmc = %what, %why, "ignored a datagram during session setup");
                }
                Step::Send(next) => {
                    send(&socket, &next, &what, timeout_label).await?;
                    until = wait_until(deadline, timeout_label);
                }
                Step::Fail(e, goodbye) => {
                    if let Some(goodbye) = goodbye {
                        let _ = socket.send(&goodbye).await;
                    }
                    return Err(setup_fail(e));
                }
                Step::Done(state) => break state,
            }
        };
        let mut session = Session {
            socket,
            state,
            target: target.clone(),
            last_used: Instant::now(),
            timeout_label,
            sdr_cache: None,
            held: None,
        };
        // Sessions start at User privilege; power control and SEL changes need
        // Administrator. A user not allowed that much keeps the lower level: reads still
        // work and actions get the BMC's own 0xD4.
        match session.request(0x06, 0x3B, &[0x04], 0, deadline).await {
            Ok(_) => {}
            Err(Fail::Answer(e)) => {
                tracing::debug!(host = %target.host, error = %e, "could not raise session privilege");
            }
            Err(Fail::Link(e)) => {
                // The session is active on the BMC: give its slot back before failing.
                session.close(timeout_label / 4).await;
                return Err(Fail::Link(e));
            }
        }
        Ok(session)
    }

    /// The BMC's id of this session.
    pub fn bmc_session_id(&self) -> u32 {
        self.state.bmc_session_id()
    }

    /// Sends one request to the BMC at `lun` and returns the response data after the
    /// completion code. A non-zero completion code is `Fail::Answer(Completion)`.
    pub async fn request(
        &mut self,
        netfn: u8,
        cmd: u8,
        data: &[u8],
        lun: u8,
        deadline: Instant,
    ) -> Result<Vec<u8>, Fail> {
        let label = self.timeout_label;
        let what = self.target.host.clone();
        let iv = random()?;
        let (datagram, pending) = self
            .state
            .request(netfn, lun, cmd, data, &iv)
            .map_err(|e| Fail::Answer(BmcError::Protocol(e.to_string())))?;
        send(&self.socket, &datagram, &what, label).await?;
        let until = wait_until(deadline, label);
        let mut buf = vec![0u8; RECV_BUFFER];
        loop {
            let n = recv(&self.socket, &mut buf, until, &what, label).await?;
            match self.state.answer(&pending, &buf[..n]) {
                Inbound::Accept(r) => {
                    self.last_used = Instant::now();
                    return match r.cc {
                        0 => Ok(r.data),
                        code => Err(Fail::Answer(BmcError::completion(code))),
                    };
                }
                Inbound::Ignore(why) => {
                    tracing::debug!(bmc = %what, %why, "ignored a datagram that is not the answer");
                }
                Inbound::Corrupt(e) => return Err(Fail::Link(BmcError::Protocol(e))),
            }
        }
    }

    /// Sends one Serial-over-LAN payload (see `rmcp::sol`), sealed like every packet.
    pub async fn send_sol(&mut self, payload: &[u8]) -> Result<(), Fail> {
        let iv = random()?;
        let datagram = self
            .state
            .seal(PayloadType::Sol, payload, &iv)
            .map_err(|e| Fail::Answer(BmcError::Protocol(e.to_string())))?;
        let what = self.target.host.clone();
        send(&self.socket, &datagram, &what, self.timeout_label).await
    }

    /// The next Serial-over-LAN payload from the BMC, waiting until `until` (`None` then).
    /// Datagrams that are not authentic SOL payloads of this session are ignored.
    pub async fn recv_sol(&mut self, until: Instant) -> Result<Option<Vec<u8>>, Fail> {
        let what = self.target.host.clone();
        let mut buf = vec![0u8; RECV_BUFFER];
        loop {
            let n = match recv(&self.socket, &mut buf, until, &what, self.timeout_label).await {
                Ok(n) => n,
                Err(Fail::Link(BmcError::Timeout(_))) => return Ok(None),
                Err(e) => return Err(e),
            };
            match self.state.open(&buf[..n]) {
                Inbound::Accept((pt, payload)) if pt == PayloadType::Sol as u8 => {
                    self.last_used = Instant::now();
                    return Ok(Some(payload));
                }
                Inbound::Accept((pt, _)) => {
                    tracing::debug!(bmc = %what, payload_type = pt, "ignored a non-SOL payload on a SOL session");
                }
                Inbound::Ignore(why) => {
                    tracing::debug!(bmc = %what, %why, "ignored a datagram on a SOL session");
                }
                Inbound::Corrupt(e) => return Err(Fail::Link(BmcError::Protocol(e))),
            }
        }
    }

    /// Closes the session on the BMC (Close Session, App 0x3C) so its slot is freed at once,
    /// waiting at most `wait` for the answer. Best effort: the session is gone for us either
    /// way, with its socket.
    pub async fn close(mut self, wait: Duration) {
        let id = self.bmc_session_id().to_le_bytes();
        let deadline = Instant::now() + wait;
        // The answer may be the BMC's "no such session" (it restarted): fine as well.
        match self.request(0x06, 0x3C, &id, 0, deadline).await {
            Ok(_) => tracing::debug!(host = %self.target.host, "closed bmc session"),
            Err(e) => {
                tracing::debug!(host = %self.target.host, error = %e.error(), "close session failed")
            }
        }
    }
}

async fn send(
    socket: &UdpSocket,
    datagram: &[u8],
    what: &str,
    label: Duration,
) -> Result<(), Fail> {
    socket
        .send(datagram)
        .await
        .map(|_| ())
        .map_err(|e| io_fail(&e, what, label))
}

async fn recv(
    socket: &UdpSocket,
    buf: &mut [u8],
    until: Instant,
    what: &str,
    label: Duration,
) -> Result<usize, Fail> {
    match tokio::time::timeout_at(until.into(), socket.recv(buf)).await {
        Ok(Ok(n)) => Ok(n),
        Ok(Err(e)) => Err(io_fail(&e, what, label)),
        Err(_) => Err(Fail::Link(BmcError::Timeout(label))),
    }
}

fn io_fail(e: &std::io::Error, what: &str, label: Duration) -> Fail {
    match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => Fail::Link(BmcError::Timeout(label)),
        // ICMP port unreachable on a connected socket: nobody listens there.
        ErrorKind::ConnectionRefused => {
            Fail::Link(BmcError::Unreachable(format!("{what}: connection refused")))
        }
        _ => Fail::Link(BmcError::Unreachable(format!("{what}: {e}"))),
    }
}

fn setup_fail(e: SetupError) -> Fail {
    match e {
        // RAKP 2 does not verify against our password, or the BMC refuses the user name or
        // our RAKP 3: all mean wrong credentials.
        SetupError::BadKeyExchange
        | SetupError::CredentialsTooLong
        | SetupError::Refused {
            stage: Stage::Rakp2 | Stage::Rakp4,
            ..
        } => Fail::Answer(BmcError::AuthFailed),
        other => Fail::Answer(BmcError::Protocol(format!("session setup: {other}"))),
    }
}

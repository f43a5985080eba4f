//! One RMCP+ session to one BMC over ipmi-rs, plus everything ipmi-rs leaves to us:
//! raising the privilege after activation, learning the session id so the session can be
//! closed, mapping its error zoo onto [`BmcError`], and telling "the BMC answered with an
//! error" (the session is still in step) from "the link failed" (a late reply may still be
//! on its way, so the session must never be used again).

use std::io::ErrorKind;
use std::net::ToSocketAddrs;
use std::time::{Duration, Instant};

use ipmi_rs::connection::{IpmiConnection, LogicalUnit, Message, Request, RequestTargetAddress};
use ipmi_rs::rmcp::{
    ActivationError, RakpMessage2ParseError, RakpMessage4ParseError, Rmcp, RmcpIpmiError,
    RmcpIpmiReceiveError, RmcpIpmiSendError, V2_0ActivationError, V2_0WriteError,
};
use ipmi_rs::{Ipmi, IpmiError};

use super::{BmcError, BmcTarget};

/// Why a request failed, and whether the session survived it.
#[derive(Debug)]
pub enum Fail {
    /// The BMC answered (completion code, or data we could not use): the session is in step.
    Answer(BmcError),
    /// Nothing usable came back (timeout, socket error, undecodable datagram): a reply may
    /// still arrive later, so the session is poisoned.
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
    ipmi: Ipmi<Rmcp>,
    pub target: BmcTarget,
    /// The managed system's session id, needed by Close Session; `None` if it could not be
    /// learned (then the session can only be dropped).
    pub session_id: Option<u32>,
    /// Read timeout of the socket, fixed when the session was opened (ipmi-rs offers no way
    /// to change it later).
    pub recv_timeout: Duration,
    pub last_used: Instant,
    /// Reported in timeouts so the message names the caller's deadline, not a socket detail.
    deadline_for_errors: Duration,
    /// The SDR repository as last read on this session, with the Get SDR Repository Info
    /// answer it was read under; reused while the BMC answers that info unchanged. Goes
    /// with the session, so a fresh session (after any failure) reads the SDRs again.
    pub sdr_cache: Option<SdrCache>,
}

/// See [`Session::sdr_cache`].
pub struct SdrCache {
    /// Get SDR Repository Info bytes 1 to 12: record count, free space, last addition and
    /// last erase timestamps.
    pub info: Vec<u8>,
    pub records: Vec<Vec<u8>>,
}

impl Session {
    /// Opens an RMCP+ session and raises it to Administrator.
    ///
    /// `recv_timeout` bounds every single receive, including each step of the handshake.
    pub fn open(
        target: &BmcTarget,
        recv_timeout: Duration,
        deadline_for_errors: Duration,
    ) -> Result<Session, Fail> {
        let timeout = || Fail::Link(BmcError::Timeout(deadline_for_errors));
        if target.cipher_suite != 3 {
            // ipmi-rs hard-codes the algorithms of suite 3; asking for another would silently
            // give the caller weaker or different crypto than configured.
            return Err(Fail::Answer(BmcError::Unreachable(format!(
                "cipher suite {} is not supported (only 3)",
                target.cipher_suite
            ))));
        }
        if target.username.len() > 16 {
            // ipmi-rs would silently log in as the anonymous user instead.
            return Err(Fail::Answer(BmcError::AuthFailed));
        }
        let addr = (target.host.as_str(), target.port)
            .to_socket_addrs()
            .map_err(|e| {
                Fail::Link(BmcError::Unreachable(format!(
                    "cannot resolve {}: {e}",
                    target.host
                )))
            })?
            .next()
            .ok_or_else(|| {
                Fail::Link(BmcError::Unreachable(format!(
                    "cannot resolve {}",
                    target.host
                )))
            })?;
        // A zero read timeout means "block forever" to std; never ask for that.
        let recv_timeout = recv_timeout.max(Duration::from_millis(1));
        let mut rmcp = Rmcp::new(addr, recv_timeout)
            .map_err(|e| Fail::Link(BmcError::Unreachable(format!("{addr}: {e}"))))?;
        rmcp.activate(
            true,
            Some(target.username.as_str()),
            Some(target.password.as_bytes()),
        )
        .map_err(|e| map_activation(e, addr, timeout))?;
        let session_id = session_id_of(&rmcp);
        let mut session = Session {
            ipmi: Ipmi::new(rmcp),
            target: target.clone(),
            session_id,
            recv_timeout,
            last_used: Instant::now(),
            deadline_for_errors,
            sdr_cache: None,
        };
        // ipmi-rs leaves the session at User privilege; power control and SEL changes need
        // Administrator. A user not allowed that much keeps the lower level: reads still work
        // and actions get the BMC's own 0xD4.
        match session.request(0x06, 0x3B, &[0x04]) {
            Ok(_) => {}
            Err(Fail::Answer(e)) => {
                tracing::debug!(host = %target.host, error = %e, "could not raise session privilege");
            }
            Err(Fail::Link(e)) => {
                // The session is active on the BMC: give its slot back before failing.
                session.close();
                return Err(Fail::Link(e));
            }
        }
        Ok(session)
    }

    /// Sends one request to the BMC (LUN 0) and returns the response data after the
    /// completion code. A non-zero completion code is `Fail::Answer(Completion)`.
    pub fn request(&mut self, netfn: u8, cmd: u8, data: &[u8]) -> Result<Vec<u8>, Fail> {
        self.request_lun(netfn, cmd, data, LogicalUnit::Zero)
    }

    pub fn request_lun(
        &mut self,
        netfn: u8,
        cmd: u8,
        data: &[u8],
        lun: LogicalUnit,
    ) -> Result<Vec<u8>, Fail> {
        let mut request = Request::new(
            Message::new_raw(netfn, cmd, data.to_vec()),
            RequestTargetAddress::Bmc(lun),
        );
        let response = self
            .ipmi
            .inner_mut()
            .send_recv(&mut request)
            .map_err(|e| map_link(e, self.deadline_for_errors))?;
        self.last_used = Instant::now();
        // ipmi-rs checks neither sequence numbers nor what was answered; a reply to another
        // command means the stream is out of step, so treat it as a broken link.
        if response.netfn_raw() != netfn | 1 || response.cmd() != cmd {
            return Err(Fail::Link(BmcError::Protocol(format!(
                "answer to netfn {:#04x} cmd {:#04x} while waiting for netfn {:#04x} cmd {cmd:#04x}",
                response.netfn_raw(),
                response.cmd(),
                netfn | 1
            ))));
        }
        match response.cc() {
            0 => Ok(response.data().to_vec()),
            code => Err(Fail::Answer(BmcError::completion(code))),
        }
    }

    /// Closes the session on the BMC (Close Session, App 0x3C) so its slot is freed at once.
    /// Best effort: the session is gone for us either way.
    pub fn close(mut self) {
        if let Some(id) = self.session_id {
            match self.request(0x06, 0x3C, &id.to_le_bytes()) {
                Ok(_) => tracing::debug!(host = %self.target.host, "closed bmc session"),
                Err(e) => {
                    tracing::debug!(host = %self.target.host, error = %e.error(), "close session failed")
                }
            }
        }
    }
}

/// ipmi-rs keeps the session id private, but its `Debug` output includes it
/// (`State { .., session_id: N, .. }`). That output also holds key material and the
/// password, so the string is parsed here and dropped at once, never logged.
fn session_id_of(rmcp: &Rmcp) -> Option<u32> {
    let dump = format!("{rmcp:?}");
    let start = dump.find(", session_id: ")? + ", session_id: ".len();
    let digits: String = dump[start..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

fn io_fail(e: &std::io::Error, what: &str, timeout: impl Fn() -> Fail) -> Fail {
    match e.kind() {
        // std reports a read timeout as WouldBlock on Unix, TimedOut elsewhere.
        ErrorKind::WouldBlock | ErrorKind::TimedOut => timeout(),
        ErrorKind::ConnectionRefused => {
            Fail::Link(BmcError::Unreachable(format!("{what}: connection refused")))
        }
        _ => Fail::Link(BmcError::Unreachable(format!("{what}: {e}"))),
    }
}

fn receive_fail(e: &RmcpIpmiReceiveError, what: &str, timeout: impl Fn() -> Fail) -> Fail {
    match e {
        RmcpIpmiReceiveError::Io(io) => io_fail(io, what, timeout),
        other => Fail::Link(BmcError::Protocol(format!("{what}: {other:?}"))),
    }
}

fn map_activation(
    e: ActivationError,
    addr: std::net::SocketAddr,
    timeout: impl Fn() -> Fail,
) -> Fail {
    let what = addr.to_string();
    use V2_0ActivationError as V2;
    match e {
        ActivationError::BindSocket(io)
        | ActivationError::PingSend(io)
        | ActivationError::PongReceive(io) => io_fail(&io, &what, timeout),
        ActivationError::GetChannelAuthenticationCapabilities(IpmiError::Connection(c)) => {
            map_link(c, Duration::ZERO).relabel(timeout)
        }
        ActivationError::V2_0(v2) => match v2 {
            V2::Io(io) => io_fail(&io, &what, timeout),
            V2::OpenSessionRequestSend(w) | V2::SendRakpMessage1(w) | V2::RakpMessage3Send(w) => {
                write_fail(&w, &what, timeout)
            }
            V2::OpenSessionResponseReceive(r)
            | V2::RakpMessage2Receive(r)
            | V2::RakpMessage4Receive(r) => receive_fail(&r, &what, timeout),
            // The BMC's RAKP 2 does not verify against our password, or the BMC rejects the
            // user name / our RAKP 3: all mean wrong credentials.
            V2::ServerAuthenticationFailed
            | V2::RakpMessage4InvalidIntegrityCheckValue
            | V2::RakpMessage2Parse(RakpMessage2ParseError::ErrorStatusCode(_))
            | V2::RakpMessage4Parse(RakpMessage4ParseError::ErrorStatusCode(_)) => {
                Fail::Answer(BmcError::AuthFailed)
            }
            other => Fail::Answer(BmcError::Protocol(format!("session setup: {other:?}"))),
        },
        other => Fail::Answer(BmcError::Protocol(format!("session setup: {other:?}"))),
    }
}

fn write_fail(e: &V2_0WriteError, what: &str, timeout: impl Fn() -> Fail) -> Fail {
    match e {
        V2_0WriteError::Io(io) => io_fail(io, what, timeout),
        other => Fail::Answer(BmcError::Protocol(format!("{what}: {other:?}"))),
    }
}

impl Fail {
    /// Replaces a placeholder timeout with the caller's.
    fn relabel(self, timeout: impl Fn() -> Fail) -> Fail {
        match self {
            Fail::Link(BmcError::Timeout(_)) => timeout(),
            other => other,
        }
    }
}

fn map_link(e: RmcpIpmiError, deadline: Duration) -> Fail {
    let timeout = || Fail::Link(BmcError::Timeout(deadline));
    match e {
        RmcpIpmiError::Receive(r) => receive_fail(&r, "receive", timeout),
        RmcpIpmiError::Send(RmcpIpmiSendError::V2_0(w)) => write_fail(&w, "send", timeout),
        other => Fail::Link(BmcError::Protocol(format!("{other:?}"))),
    }
}

//! Session setup for cipher suite 3 (IPMI 2.0 §13.17 to §13.24): Open Session Request and
//! Response, then RAKP messages 1 to 4 with RAKP-HMAC-SHA1, ending in the session keys.
//!
//! A state machine without I/O: [`Handshake::start`] gives the first datagram, and each
//! datagram received goes through [`Handshake::receive`], which says what to send next,
//! whether to ignore the datagram (not an answer to this handshake), or that the session
//! is established or refused.

use super::crypto::{self, AUTH_CODE_LEN, SessionKeys};
use super::packet::{self, PayloadType, Reject};
use super::session::SessionState;

/// Privilege asked for: Administrator. The role byte of RAKP 1 adds "name-only lookup"
/// (bit 4), as ipmitool does, so the BMC looks the user up by name alone.
const ADMINISTRATOR: u8 = 0x04;
const NAME_ONLY_LOOKUP: u8 = 0x10;
/// Algorithm numbers of cipher suite 3 (§13.28, table 13-17).
const RAKP_HMAC_SHA1: u8 = 0x01;
const HMAC_SHA1_96: u8 = 0x01;
const AES_CBC_128: u8 = 0x01;
/// RAKP 3 status telling the BMC that its RAKP 2 did not verify (table 13-15).
const INVALID_INTEGRITY_CHECK_VALUE: u8 = 0x0F;

pub const MAX_USERNAME: usize = 16;
pub const MAX_PASSWORD: usize = 20;

/// What the caller supplies from a random source: our session id (non-zero), our random
/// number Rm, and the message tag of this handshake.
#[derive(Clone, Debug)]
pub struct Nonces {
    pub console_session_id: u32,
    pub console_random: [u8; 16],
    pub tag: u8,
}

/// The step of the handshake at which the BMC refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    OpenSession,
    Rakp2,
    Rakp4,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stage::OpenSession => "the open session request",
            Stage::Rakp2 => "RAKP message 1",
            Stage::Rakp4 => "RAKP message 3",
        })
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SetupError {
    #[error("user names have at most 16 bytes and passwords at most 20 in IPMI 2.0")]
    CredentialsTooLong,
    #[error("our session id must not be 0")]
    ZeroSessionId,
    /// The BMC answered a step with an RMCP+ status code other than 0 (`stage` names the
    /// answer's message: RAKP 2 answers RAKP 1).
    #[error("the BMC refused {stage}: status {code:#04x} ({})", status_meaning(*.code))]
    Refused { stage: Stage, code: u8 },
    /// RAKP 2 does not verify against our password (or RAKP 4 against the session key):
    /// the password is wrong.
    #[error("the BMC's key exchange code does not match our password")]
    BadKeyExchange,
    #[error("{0}")]
    Protocol(String),
}

/// RMCP+ and RAKP status codes (table 13-15).
pub fn status_meaning(code: u8) -> &'static str {
    match code {
        0x01 => "insufficient resources to create a session",
        0x02 => "invalid session id",
        0x03 => "invalid payload type",
        0x04 => "invalid authentication algorithm",
        0x05 => "invalid integrity algorithm",
        0x06 => "no matching authentication payload",
        0x07 => "no matching integrity payload",
        0x08 => "inactive session id",
        0x09 => "invalid role",
        0x0A => "unauthorized role or privilege level requested",
        0x0B => "insufficient resources to create a session at the requested role",
        0x0C => "invalid name length",
        0x0D => "unauthorized name",
        0x0E => "unauthorized GUID",
        0x0F => "invalid integrity check value",
        0x10 => "invalid confidentiality algorithm",
        0x11 => "no cipher suite match with proposed security algorithms",
        0x12 => "illegal or unrecognized parameter",
        _ => "reserved",
    }
}

/// What to do with a received datagram.
#[derive(Debug)]
pub enum Step {
    /// Not an answer to this handshake: keep waiting for one.
    Ignore(Reject),
    /// Send this datagram and wait for the next answer.
    Send(Vec<u8>),
    /// The handshake failed. If there is a datagram, send it first (best effort): it tells
    /// the BMC to drop the half-open session.
    Fail(SetupError, Option<Vec<u8>>),
    Done(SessionState),
}

enum Expect {
    OpenSessionResponse,
    Rakp2,
    Rakp4 { sik: [u8; 20], guid: [u8; 16] },
    Finished,
}

/// A handshake in progress. Holds the password until it ends; never printed.
pub struct Handshake {
    expect: Expect,
    username: Vec<u8>,
    password: Vec<u8>,
    nonces: Nonces,
    /// The managed system's session id (SIDc), from the Open Session Response.
    bmc_session_id: u32,
}

impl std::fmt::Debug for Handshake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Handshake")
            .field("console_session_id", &self.nonces.console_session_id)
            .field("bmc_session_id", &self.bmc_session_id)
            .finish_non_exhaustive()
    }
}

fn role() -> u8 {
    ADMINISTRATOR | NAME_ONLY_LOOKUP
}

impl Handshake {
    /// Starts a handshake; returns it with the Open Session Request to send.
    pub fn start(
        username: &[u8],
        password: &[u8],
        nonces: Nonces,
    ) -> Result<(Handshake, Vec<u8>), SetupError> {
        if username.len() > MAX_USERNAME || password.len() > MAX_PASSWORD {
            return Err(SetupError::CredentialsTooLong);
        }
        if nonces.console_session_id == 0 {
            return Err(SetupError::ZeroSessionId);
        }
        let request = open_session_request(nonces.tag, nonces.console_session_id);
        let hs = Handshake {
            expect: Expect::OpenSessionResponse,
            username: username.to_vec(),
            password: password.to_vec(),
            nonces,
            bmc_session_id: 0,
        };
        Ok((hs, packet::plain(PayloadType::OpenSessionRequest, &request)))
    }

    /// Takes one datagram from the BMC.
    pub fn receive(&mut self, datagram: &[u8]) -> Step {
        let packet = match packet::parse(datagram, AUTH_CODE_LEN) {
            Ok(p) => p,
            Err(r) => return Step::Ignore(r),
        };
        if packet.authenticated || packet.encrypted || packet.session_id != 0 {
            return Step::Ignore(Reject::WrongSecurity);
        }
        let wanted = match self.expect {
            Expect::OpenSessionResponse => PayloadType::OpenSessionResponse,
            Expect::Rakp2 => PayloadType::Rakp2,
            Expect::Rakp4 { .. } => PayloadType::Rakp4,
            Expect::Finished => return Step::Ignore(Reject::WrongPayload(packet.payload_type)),
        };
        if packet.payload_type != wanted as u8 {
            return Step::Ignore(Reject::WrongPayload(packet.payload_type));
        }
        let p = packet.payload;
        // Every answer starts with our tag, a status, two reserved bytes and our session id.
        if p.len() < 8 {
            return Step::Ignore(Reject::Short);
        }
        if p[0] != self.nonces.tag {
            return Step::Ignore(Reject::WrongTag(p[0]));
        }
        let sid = u32::from_le_bytes([p[4], p[5], p[6], p[7]]);
        if sid != self.nonces.console_session_id {
            return Step::Ignore(Reject::WrongSession(sid));
        }
        let status = p[1];
        match std::mem::replace(&mut self.expect, Expect::Finished) {
            Expect::OpenSessionResponse => self.on_open_session_response(p, status),
            Expect::Rakp2 => self.on_rakp2(p, status),
            Expect::Rakp4 { sik, guid } => self.on_rakp4(p, status, &sik, &guid),
            Expect::Finished => Step::Ignore(Reject::WrongPayload(packet.payload_type)),
        }
    }

    fn on_open_session_response(&mut self, p: &[u8], status: u8) -> Step {
        if status != 0 {
            return fail(SetupError::Refused {
                stage: Stage::OpenSession,
                code: status,
            });
        }
        if p.len() < 36 {
            return fail(SetupError::Protocol(format!(
                "open session response of {} bytes",
                p.len()
            )));
        }
        let bmc_session_id = u32::from_le_bytes([p[8], p[9], p[10], p[11]]);
        // The BMC must have taken the algorithms we proposed, or we would speak another
        // suite than the one configured.
        let chosen = [
            (12, 0x00, RAKP_HMAC_SHA1),
            (20, 0x01, HMAC_SHA1_96),
            (28, 0x02, AES_CBC_128),
        ];
        for (at, kind, algorithm) in chosen {
            if p[at] != kind || p[at + 4] & 0x3F != algorithm {
                return fail(SetupError::Protocol(format!(
                    "the BMC chose algorithm {:#04x} for payload {:#04x}, not cipher suite 3",
                    p[at + 4],
                    p[at]
                )));
            }
        }
        if bmc_session_id == 0 {
            return fail(SetupError::Protocol("the BMC gave session id 0".into()));
        }
        self.bmc_session_id = bmc_session_id;
        self.expect = Expect::Rakp2;
        let mut m = Vec::with_capacity(28 + self.username.len());
        m.push(self.nonces.tag);
        m.extend_from_slice(&[0, 0, 0]);
        m.extend_from_slice(&bmc_session_id.to_le_bytes());
        m.extend_from_slice(&self.nonces.console_random);
        m.push(role());
        m.extend_from_slice(&[0, 0]);
        m.push(self.username.len() as u8);
        m.extend_from_slice(&self.username);
        Step::Send(packet::plain(PayloadType::Rakp1, &m))
    }

    fn on_rakp2(&mut self, p: &[u8], status: u8) -> Step {
        if status != 0 {
            return fail(SetupError::Refused {
                stage: Stage::Rakp2,
                code: status,
            });
        }
        if p.len() < 40 + 20 {
            return fail(SetupError::Protocol(format!(
                "RAKP message 2 of {} bytes",
                p.len()
            )));
        }
        let mut bmc_random = [0u8; 16];
        bmc_random.copy_from_slice(&p[8..24]);
        let mut guid = [0u8; 16];
        guid.copy_from_slice(&p[24..40]);
        let code = &p[40..];
        let sid_m = self.nonces.console_session_id.to_le_bytes();
        let sid_c = self.bmc_session_id.to_le_bytes();
        let user_part = [role(), self.username.len() as u8];
        let expected = [
            &sid_m[..],
            &sid_c,
            &self.nonces.console_random,
            &bmc_random,
            &guid,
            &user_part,
            &self.username,
        ];
        if code.len() != 20 || !crypto::hmac_sha1_verify(&self.password, &expected, code) {
            // Tell the BMC, so it drops the half-open session at once.
            let mut m = vec![self.nonces.tag, INVALID_INTEGRITY_CHECK_VALUE, 0, 0];
            m.extend_from_slice(&sid_c);
            return Step::Fail(
                SetupError::BadKeyExchange,
                Some(packet::plain(PayloadType::Rakp3, &m)),
            );
        }
        // One-key login (no BMC key Kg set): the SIK is keyed with the user's password.
        let sik = crypto::hmac_sha1(
            &self.password,
            &[
                &self.nonces.console_random,
                &bmc_random,
                &user_part,
                &self.username,
            ],
        );
        let auth = crypto::hmac_sha1(
            &self.password,
            &[&bmc_random, &sid_m, &user_part, &self.username],
        );
        let mut m = vec![self.nonces.tag, 0, 0, 0];
        m.extend_from_slice(&sid_c);
        m.extend_from_slice(&auth);
        self.expect = Expect::Rakp4 { sik, guid };
        Step::Send(packet::plain(PayloadType::Rakp3, &m))
    }

    fn on_rakp4(&mut self, p: &[u8], status: u8, sik: &[u8; 20], guid: &[u8; 16]) -> Step {
        if status != 0 {
            return fail(SetupError::Refused {
                stage: Stage::Rakp4,
                code: status,
            });
        }
        let icv = &p[8..];
        let sid_c = self.bmc_session_id.to_le_bytes();
        if icv.len() != AUTH_CODE_LEN
            || !crypto::hmac_sha1_verify(sik, &[&self.nonces.console_random, &sid_c, guid], icv)
        {
            return fail(SetupError::BadKeyExchange);
        }
        self.password.clear();
        Step::Done(SessionState::new(
            self.nonces.console_session_id,
            self.bmc_session_id,
            SessionKeys::from_sik(sik),
        ))
    }
}

fn fail(e: SetupError) -> Step {
    Step::Fail(e, None)
}

/// Open Session Request (table 13-9): tag, privilege, reserved, our session id, then the
/// authentication, integrity and confidentiality payloads of cipher suite 3.
fn open_session_request(tag: u8, console_session_id: u32) -> Vec<u8> {
    let mut m = Vec::with_capacity(32);
    m.extend_from_slice(&[tag, ADMINISTRATOR, 0, 0]);
    m.extend_from_slice(&console_session_id.to_le_bytes());
    for (kind, algorithm) in [
        (0x00, RAKP_HMAC_SHA1),
        (0x01, HMAC_SHA1_96),
        (0x02, AES_CBC_128),
    ] {
        m.extend_from_slice(&[kind, 0, 0, 0x08, algorithm, 0, 0, 0]);
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bmc::rmcp::crypto::hmac_sha1;

    const USER: &[u8] = b"admin";
    const PASSWORD: &[u8] = b"admin";
    const SID_M: u32 = 0x0102_0304;
    const SID_C: u32 = 0xA0B0_C0D0;
    const RM: [u8; 16] = [0x11; 16];
    const RC: [u8; 16] = [0x22; 16];
    const GUID: [u8; 16] = [0x33; 16];

    fn nonces() -> Nonces {
        Nonces {
            console_session_id: SID_M,
            console_random: RM,
            tag: 0x5A,
        }
    }

    /// Plays the BMC's side of §13.20 to §13.23 for `password`.
    fn open_response(status: u8) -> Vec<u8> {
        let mut m = vec![0x5A, status, 0x04, 0];
        m.extend_from_slice(&SID_M.to_le_bytes());
        m.extend_from_slice(&SID_C.to_le_bytes());
        for (kind, alg) in [(0, 1), (1, 1), (2, 1)] {
            m.extend_from_slice(&[kind, 0, 0, 8, alg, 0, 0, 0]);
        }
        packet::plain(PayloadType::OpenSessionResponse, &m)
    }

    fn rakp2(password: &[u8]) -> Vec<u8> {
        let mut m = vec![0x5A, 0, 0, 0];
        m.extend_from_slice(&SID_M.to_le_bytes());
        m.extend_from_slice(&RC);
        m.extend_from_slice(&GUID);
        let code = hmac_sha1(
            password,
            &[
                &SID_M.to_le_bytes(),
                &SID_C.to_le_bytes(),
                &RM,
                &RC,
                &GUID,
                &[0x14, USER.len() as u8],
                USER,
            ],
        );
        m.extend_from_slice(&code);
        packet::plain(PayloadType::Rakp2, &m)
    }

    fn sik() -> [u8; 20] {
        hmac_sha1(PASSWORD, &[&RM, &RC, &[0x14, USER.len() as u8], USER])
    }

    fn rakp4() -> Vec<u8> {
        let mut m = vec![0x5A, 0, 0, 0];
        m.extend_from_slice(&SID_M.to_le_bytes());
        let icv = hmac_sha1(&sik(), &[&RM, &SID_C.to_le_bytes(), &GUID]);
        m.extend_from_slice(&icv[..12]);
        packet::plain(PayloadType::Rakp4, &m)
    }

    fn payload_of(datagram: &[u8]) -> Vec<u8> {
        packet::parse(datagram, 12).unwrap().payload.to_vec()
    }

    #[test]
    fn open_session_request_bytes() {
        let (_, first) = Handshake::start(USER, PASSWORD, nonces()).unwrap();
        assert_eq!(
            first,
            [
                6, 0, 0xFF, 7, // RMCP
                6, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 32, 0, // session header, no session
                0x5A, 0x04, 0, 0, 0x04, 0x03, 0x02, 0x01, // tag, admin, our id
                0, 0, 0, 8, 1, 0, 0, 0, // RAKP-HMAC-SHA1
                1, 0, 0, 8, 1, 0, 0, 0, // HMAC-SHA1-96
                2, 0, 0, 8, 1, 0, 0, 0, // AES-CBC-128
            ]
        );
    }

    #[test]
    fn full_handshake_derives_the_session_keys() {
        let (mut hs, _) = Handshake::start(USER, PASSWORD, nonces()).unwrap();
        let Step::Send(rakp1) = hs.receive(&open_response(0)) else {
            panic!("no RAKP 1")
        };
        let mut want = vec![0x5A, 0, 0, 0];
        want.extend_from_slice(&SID_C.to_le_bytes());
        want.extend_from_slice(&RM);
        want.extend_from_slice(&[0x14, 0, 0, 5]);
        want.extend_from_slice(USER);
        assert_eq!(payload_of(&rakp1), want);
        // A stray datagram in between (a second Open Session Response) is ignored.
        assert!(matches!(
            hs.receive(&open_response(0)),
            Step::Ignore(Reject::WrongPayload(0x11))
        ));
        let Step::Send(rakp3) = hs.receive(&rakp2(PASSWORD)) else {
            panic!("no RAKP 3")
        };
        let auth = hmac_sha1(PASSWORD, &[&RC, &SID_M.to_le_bytes(), &[0x14, 5], USER]);
        let mut want = vec![0x5A, 0, 0, 0];
        want.extend_from_slice(&SID_C.to_le_bytes());
        want.extend_from_slice(&auth);
        assert_eq!(payload_of(&rakp3), want);
        let Step::Done(session) = hs.receive(&rakp4()) else {
            panic!("not established")
        };
        assert_eq!(session.bmc_session_id(), SID_C);
        assert_eq!(session.keys().k1, SessionKeys::from_sik(&sik()).k1);
    }

    #[test]
    fn wrong_password_answers_rakp3_with_an_error() {
        let (mut hs, _) = Handshake::start(USER, b"wrong", nonces()).unwrap();
        assert!(matches!(hs.receive(&open_response(0)), Step::Send(_)));
        let Step::Fail(SetupError::BadKeyExchange, Some(rakp3)) = hs.receive(&rakp2(PASSWORD))
        else {
            panic!("accepted a RAKP 2 made with another password")
        };
        let mut want = vec![0x5A, 0x0F, 0, 0];
        want.extend_from_slice(&SID_C.to_le_bytes());
        assert_eq!(payload_of(&rakp3), want);
    }

    #[test]
    fn refusals_and_strays() {
        let (mut hs, _) = Handshake::start(USER, PASSWORD, nonces()).unwrap();
        // Another client's answer (another session id), then one with another tag.
        let mut other = open_response(0);
        other[16 + 4] ^= 0xFF;
        assert!(matches!(
            hs.receive(&other),
            Step::Ignore(Reject::WrongSession(_))
        ));
        let mut tag = open_response(0);
        tag[16] = 0x00;
        assert!(matches!(
            hs.receive(&tag),
            Step::Ignore(Reject::WrongTag(0))
        ));
        assert!(matches!(
            hs.receive(&open_response(0x01)),
            Step::Fail(
                SetupError::Refused {
                    stage: Stage::OpenSession,
                    code: 1
                },
                None
            )
        ));
        // Unknown user: RAKP 2 with status "unauthorized name" and nothing after it.
        let (mut hs, _) = Handshake::start(b"nobody", PASSWORD, nonces()).unwrap();
        hs.receive(&open_response(0));
        let mut m = vec![0x5A, 0x0D, 0, 0];
        m.extend_from_slice(&SID_M.to_le_bytes());
        assert!(matches!(
            hs.receive(&packet::plain(PayloadType::Rakp2, &m)),
            Step::Fail(
                SetupError::Refused {
                    stage: Stage::Rakp2,
                    code: 0x0D
                },
                None
            )
        ));
        assert!(matches!(
            Handshake::start(&[b'a'; 17], PASSWORD, nonces()),
            Err(SetupError::CredentialsTooLong)
        ));
        assert!(matches!(
            Handshake::start(USER, &[b'a'; 21], nonces()),
            Err(SetupError::CredentialsTooLong)
        ));
    }

    #[test]
    fn refusals_say_what_was_refused() {
        let e = SetupError::Refused {
            stage: Stage::OpenSession,
            code: 0x01,
        };
        assert_eq!(
            e.to_string(),
            "the BMC refused the open session request: status 0x01 (insufficient resources \
             to create a session)"
        );
    }

    #[test]
    fn another_suite_is_refused() {
        let (mut hs, _) = Handshake::start(USER, PASSWORD, nonces()).unwrap();
        let mut r = open_response(0);
        // Confidentiality: none instead of AES.
        r[16 + 28 + 4] = 0;
        assert!(matches!(
            hs.receive(&r),
            Step::Fail(SetupError::Protocol(_), None)
        ));
    }
}

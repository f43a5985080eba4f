//! An established RMCP+ session (cipher suite 3) without I/O: seals what goes to the BMC
//! (sequence number, AES-CBC-128, HMAC-SHA1-96) and opens what comes back, checking in
//! this order the session id, the integrity (before anything is decrypted), the sequence
//! number (no replays), then the payload. On top of it, IPMI requests are numbered (rqSeq)
//! and an answer is taken only if its netFn, command and rqSeq are the request's.
//!
//! Payloads other than IPMI messages (SOL, type 1) go through [`SessionState::seal`] and
//! [`SessionState::open`] with the same keys and numbering.

use super::crypto::{self, AUTH_CODE_LEN, SessionKeys};
use super::packet::{self, IpmiResponse, PayloadType, Reject};

/// Payload type byte flags: encrypted, authenticated.
const SECURED: u8 = 0xC0;
/// Sequence numbers of the BMC's packets we remember, below the highest seen.
const WINDOW: u32 = 64;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    #[error("the session's sequence numbers are used up")]
    SequenceExhausted,
    #[error("payload too long for one packet")]
    TooLong,
}

/// What became of a datagram from the BMC.
#[derive(Debug, PartialEq, Eq)]
pub enum Inbound<T> {
    Accept(T),
    /// Not for us, not authentic, replayed, or an answer to something else: ignore it and
    /// keep waiting.
    Ignore(Reject),
    /// Authentic, but its contents do not decode: the BMC and we are out of step.
    Corrupt(String),
}

/// The request an answer must match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pending {
    netfn: u8,
    cmd: u8,
    rq_seq: u8,
}

/// Keys and counters of one session. Never printed with its keys.
pub struct SessionState {
    /// Our session id (SIDm): the BMC's packets carry it.
    console_id: u32,
    /// The BMC's session id (SIDc): our packets carry it.
    bmc_id: u32,
    keys: SessionKeys,
    /// Sequence number of our next packet.
    next_seq: u32,
    /// The highest sequence number accepted from the BMC, and which of the `WINDOW`
    /// numbers below it were accepted (bit n = highest - n).
    highest_in: u32,
    seen: u64,
    /// rqSeq of the next IPMI request (6 bits).
    rq_seq: u8,
}

impl std::fmt::Debug for SessionState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionState")
            .field("console_id", &self.console_id)
            .field("bmc_id", &self.bmc_id)
            .field("next_seq", &self.next_seq)
            .finish_non_exhaustive()
    }
}

impl SessionState {
    pub(super) fn new(console_id: u32, bmc_id: u32, keys: SessionKeys) -> SessionState {
        SessionState {
            console_id,
            bmc_id,
            keys,
            next_seq: 1,
            highest_in: 0,
            seen: 0,
            rq_seq: 0,
        }
    }

    /// The BMC's id of this session (Close Session names it).
    pub fn bmc_session_id(&self) -> u32 {
        self.bmc_id
    }

    #[cfg(test)]
    pub(super) fn keys(&self) -> &SessionKeys {
        &self.keys
    }

    /// Seals one payload for the BMC; `iv` must be fresh random bytes for every packet.
    pub fn seal(
        &mut self,
        payload_type: PayloadType,
        payload: &[u8],
        iv: &[u8; 16],
    ) -> Result<Vec<u8>, SealError> {
        if self.next_seq == u32::MAX {
            return Err(SealError::SequenceExhausted);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let encrypted = crypto::encrypt(&self.keys.aes, iv, payload);
        let mut out =
            packet::header_and_payload(SECURED, payload_type, self.bmc_id, seq, &encrypted)
                .ok_or(SealError::TooLong)?;
        packet::trailer_pad(&mut out);
        let code = crypto::hmac_sha1(&self.keys.k1, &[&out[packet::RMCP_HEADER.len()..]]);
        out.extend_from_slice(&code[..AUTH_CODE_LEN]);
        Ok(out)
    }

    /// Opens a datagram from the BMC: its payload type and decrypted payload.
    pub fn open(&mut self, datagram: &[u8]) -> Inbound<(u8, Vec<u8>)> {
        let p = match packet::parse(datagram, AUTH_CODE_LEN) {
            Ok(p) => p,
            Err(r) => return Inbound::Ignore(r),
        };
        if p.session_id != self.console_id {
            return Inbound::Ignore(Reject::WrongSession(p.session_id));
        }
        let Some((covered, code)) = p.signed.filter(|_| p.encrypted) else {
            return Inbound::Ignore(Reject::WrongSecurity);
        };
        if !crypto::hmac_sha1_verify(&self.keys.k1, &[covered], code) {
            return Inbound::Ignore(Reject::BadAuthCode);
        }
        if !self.fresh(p.seq) {
            return Inbound::Ignore(Reject::Replayed(p.seq));
        }
        let Some(payload) = crypto::decrypt(&self.keys.aes, p.payload) else {
            return Inbound::Corrupt("an authentic packet that does not decrypt".into());
        };
        self.mark(p.seq);
        Inbound::Accept((p.payload_type, payload))
    }

    /// Seals an IPMI request to the BMC (LUN `lun`) and returns what its answer must match.
    pub fn request(
        &mut self,
        netfn: u8,
        lun: u8,
        cmd: u8,
        data: &[u8],
        iv: &[u8; 16],
    ) -> Result<(Vec<u8>, Pending), SealError> {
        let rq_seq = self.rq_seq;
        let message = packet::ipmi_request(netfn, lun, rq_seq, cmd, data);
        let sealed = self.seal(PayloadType::Ipmi, &message, iv)?;
        self.rq_seq = (rq_seq + 1) & 0x3F;
        Ok((
            sealed,
            Pending {
                netfn: netfn | 1,
                cmd,
                rq_seq,
            },
        ))
    }

    /// Takes a datagram as the answer to `pending`, if it is that.
    pub fn answer(&mut self, pending: &Pending, datagram: &[u8]) -> Inbound<IpmiResponse> {
        let (payload_type, payload) = match self.open(datagram) {
            Inbound::Accept(x) => x,
            Inbound::Ignore(r) => return Inbound::Ignore(r),
            Inbound::Corrupt(e) => return Inbound::Corrupt(e),
        };
        if payload_type != PayloadType::Ipmi as u8 {
            return Inbound::Ignore(Reject::WrongPayload(payload_type));
        }
        let r = match packet::ipmi_response(&payload) {
            Ok(r) => r,
            Err(e) => return Inbound::Corrupt(format!("IPMI message: {e}")),
        };
        if r.netfn != pending.netfn || r.cmd != pending.cmd || r.rq_seq != pending.rq_seq {
            return Inbound::Ignore(Reject::NotOurAnswer {
                netfn: r.netfn,
                cmd: r.cmd,
                rq_seq: r.rq_seq,
            });
        }
        Inbound::Accept(r)
    }

    fn fresh(&self, seq: u32) -> bool {
        if seq == 0 {
            return false;
        }
        if seq > self.highest_in {
            return true;
        }
        let age = self.highest_in - seq;
        age < WINDOW && self.seen & (1u64 << age) == 0
    }

    fn mark(&mut self, seq: u32) {
        if seq > self.highest_in {
            let shift = seq - self.highest_in;
            self.seen = if shift >= WINDOW {
                0
            } else {
                self.seen << shift
            };
            self.seen |= 1;
            self.highest_in = seq;
        } else {
            self.seen |= 1u64 << (self.highest_in - seq);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> SessionState {
        SessionState::new(0x1111_2222, 0x3333_4444, SessionKeys::from_sik(&[1u8; 20]))
    }

    /// What the BMC would send: the same sealing with the ids swapped.
    fn from_bmc(s: &SessionState, seq: u32, payload_type: PayloadType, payload: &[u8]) -> Vec<u8> {
        let mut bmc = SessionState::new(s.bmc_id, s.console_id, s.keys.clone());
        bmc.next_seq = seq;
        bmc.seal(payload_type, payload, &[7u8; 16]).unwrap()
    }

    fn answer_bytes(netfn: u8, rq_seq: u8, cmd: u8, cc: u8, data: &[u8]) -> Vec<u8> {
        let mut m = vec![packet::CONSOLE_ADDR, netfn << 2];
        m.push(packet::checksum(&m));
        m.extend_from_slice(&[packet::BMC_ADDR, rq_seq << 2, cmd, cc]);
        m.extend_from_slice(data);
        m.push(packet::checksum(&m[3..]));
        m
    }

    #[test]
    fn opens_a_packet_sealed_by_ipmi_rs() {
        // ipmi-rs 0.6's own test vector (rmcp/v2_0/crypto/sub_state.rs, read_pad_aligned):
        // SIK = 20 × 0x01, session id 123, sequence 123, 15 zero bytes, encrypted and
        // authenticated by an implementation other than ours.
        let datagram = [
            6, 0, 0xFF, 7, 6, 192, 123, 0, 0, 0, 123, 0, 0, 0, 32, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
            10, 11, 12, 13, 14, 15, 16, 254, 89, 199, 225, 247, 211, 244, 206, 160, 55, 139, 65,
            232, 35, 220, 55, 255, 255, 2, 7, 154, 132, 72, 23, 223, 37, 194, 215, 243, 74, 161,
            168,
        ];
        let mut s = SessionState::new(123, 9, SessionKeys::from_sik(&[1u8; 20]));
        assert_eq!(s.open(&datagram), Inbound::Accept((0, vec![0u8; 15])));
        // The same packet again is a replay.
        assert_eq!(s.open(&datagram), Inbound::Ignore(Reject::Replayed(123)));
    }

    #[test]
    fn seals_like_ipmi_rs() {
        // ipmi-rs's write_empty vector: an empty payload under SIK 20 × 0x01 with IV 1..16.
        let iv: [u8; 16] = std::array::from_fn(|i| i as u8 + 1);
        let mut s = SessionState::new(1, 0x0605_0403, SessionKeys::from_sik(&[1u8; 20]));
        let sealed = s.seal(PayloadType::Ipmi, &[], &iv).unwrap();
        assert_eq!(
            sealed[..16],
            [6, 0, 0xFF, 7, 6, 0xC0, 3, 4, 5, 6, 1, 0, 0, 0, 32, 0]
        );
        assert_eq!(
            sealed[16..48],
            [
                1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 201, 89, 142, 89, 209, 209,
                28, 35, 201, 136, 6, 196, 59, 124, 245, 173
            ]
        );
        // Pad to a multiple of four from the session header on, then pad length, next
        // header and 12 bytes of AuthCode.
        assert_eq!(sealed[48..52], [0xFF, 0xFF, 2, 7]);
        assert_eq!(sealed.len(), 52 + 12);
        assert_eq!(s.next_seq, 2);
    }

    #[test]
    fn request_and_its_answer() {
        let mut s = session();
        let (sealed, pending) = s.request(0x00, 0, 0x01, &[], &[9u8; 16]).unwrap();
        // The BMC side can open what we sealed, and finds Get Chassis Status with rqSeq 0.
        let mut bmc = SessionState::new(s.bmc_id, s.console_id, s.keys.clone());
        let Inbound::Accept((0, message)) = bmc.open(&sealed) else {
            panic!("the BMC side cannot open our request")
        };
        assert_eq!(message, packet::ipmi_request(0x00, 0, 0, 0x01, &[]));

        let reply = from_bmc(
            &s,
            1,
            PayloadType::Ipmi,
            &answer_bytes(0x01, 0, 0x01, 0, &[1, 0, 0x40]),
        );
        let Inbound::Accept(r) = s.answer(&pending, &reply) else {
            panic!("answer not accepted")
        };
        assert_eq!((r.cc, r.data), (0, vec![1, 0, 0x40]));
        // The next request has the next rqSeq; the old answer, replayed, is ignored.
        let (_, next) = s.request(0x00, 0, 0x01, &[], &[9u8; 16]).unwrap();
        assert_eq!(
            s.answer(&next, &reply),
            Inbound::Ignore(Reject::Replayed(1))
        );
        // An authentic late answer to the earlier request (its rqSeq) is not this one's.
        let late = from_bmc(
            &s,
            2,
            PayloadType::Ipmi,
            &answer_bytes(0x01, 0, 0x01, 0, &[0, 0, 0]),
        );
        assert_eq!(
            s.answer(&next, &late),
            Inbound::Ignore(Reject::NotOurAnswer {
                netfn: 1,
                cmd: 1,
                rq_seq: 0
            })
        );
        // Nor is an answer to another command with the right rqSeq.
        let other = from_bmc(
            &s,
            3,
            PayloadType::Ipmi,
            &answer_bytes(0x07, 1, 0x01, 0, &[]),
        );
        assert!(matches!(
            s.answer(&next, &other),
            Inbound::Ignore(Reject::NotOurAnswer { .. })
        ));
        let good = from_bmc(
            &s,
            4,
            PayloadType::Ipmi,
            &answer_bytes(0x01, 1, 0x01, 0xC1, &[]),
        );
        assert!(matches!(
            s.answer(&next, &good),
            Inbound::Accept(IpmiResponse { cc: 0xC1, .. })
        ));
    }

    #[test]
    fn forged_foreign_and_plain_packets_are_ignored() {
        let mut s = session();
        let (_, pending) = s.request(0x06, 0, 0x01, &[], &[0u8; 16]).unwrap();
        let reply = from_bmc(
            &s,
            5,
            PayloadType::Ipmi,
            &answer_bytes(0x07, 0, 0x01, 0, &[0x20]),
        );
        let mut forged = reply.clone();
        let n = forged.len();
        forged[20] ^= 1; // inside the ciphertext: the AuthCode no longer matches
        assert_eq!(
            s.answer(&pending, &forged),
            Inbound::Ignore(Reject::BadAuthCode)
        );
        forged = reply.clone();
        forged[n - 1] ^= 1;
        assert_eq!(
            s.answer(&pending, &forged),
            Inbound::Ignore(Reject::BadAuthCode)
        );
        // Another session of ours on the same port.
        let mut other = session();
        other.console_id ^= 1;
        let foreign = from_bmc(
            &other,
            5,
            PayloadType::Ipmi,
            &answer_bytes(0x07, 0, 0x01, 0, &[]),
        );
        assert!(matches!(
            s.answer(&pending, &foreign),
            Inbound::Ignore(Reject::WrongSession(_))
        ));
        // A packet without integrity inside a session.
        let plain =
            packet::header_and_payload(0, PayloadType::Ipmi, s.console_id, 6, &[1, 2]).unwrap();
        assert_eq!(
            s.answer(&pending, &plain),
            Inbound::Ignore(Reject::WrongSecurity)
        );
        // Rejections did not burn the sequence number: the real one still gets in.
        assert!(matches!(s.answer(&pending, &reply), Inbound::Accept(_)));
    }

    #[test]
    fn sequence_window() {
        let mut s = session();
        for seq in [10, 12, 11, 80] {
            assert!(s.fresh(seq), "{seq}");
            s.mark(seq);
        }
        for seq in [0, 10, 11, 12, 80, 16] {
            assert!(!s.fresh(seq), "{seq}");
        }
        assert!(s.fresh(17) && s.fresh(79) && s.fresh(81));
        s.mark(u32::MAX - 1);
        assert!(s.fresh(u32::MAX) && !s.fresh(80));
    }

    #[test]
    fn rq_seq_wraps_at_64_and_sequence_ends() {
        let mut s = session();
        for _ in 0..64 {
            s.request(0x06, 0, 0x01, &[], &[0u8; 16]).unwrap();
        }
        let (_, p) = s.request(0x06, 0, 0x01, &[], &[0u8; 16]).unwrap();
        assert_eq!(p.rq_seq, 0);
        s.next_seq = u32::MAX;
        assert_eq!(
            s.request(0x06, 0, 0x01, &[], &[0u8; 16]),
            Err(SealError::SequenceExhausted)
        );
    }
}

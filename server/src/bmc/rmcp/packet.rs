//! Wire formats: the RMCP header (ASF, DSP0136), the IPMI 2.0 RMCP+ session wrapper
//! (IPMI 2.0 §13.6, table 13-8) and the IPMI LAN message inside it (§13.8, table 13-4).
//! Building and taking apart bytes only; no keys are checked here (`session.rs` does that).

/// RMCP version 1.0, reserved, sequence 0xFF (no RMCP ACK), class 7 (IPMI).
pub const RMCP_HEADER: [u8; 4] = [0x06, 0x00, 0xFF, 0x07];
/// Authentication type "RMCP+" in the session header.
pub const AUTH_RMCP_PLUS: u8 = 0x06;
/// The BMC's slave address, and ours as a remote console (software id 0x40, shifted).
pub const BMC_ADDR: u8 = 0x20;
pub const CONSOLE_ADDR: u8 = 0x81;
/// "Next header" in the session trailer: always 0x07.
const NEXT_HEADER: u8 = 0x07;
/// Authentication type .. payload length: the bytes before the payload, after RMCP.
const SESSION_HEADER: usize = 12;

/// Payload types (§13.27.3, table 13-16) this client sends or expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PayloadType {
    Ipmi = 0x00,
    Sol = 0x01,
    OpenSessionRequest = 0x10,
    OpenSessionResponse = 0x11,
    Rakp1 = 0x12,
    Rakp2 = 0x13,
    Rakp3 = 0x14,
    Rakp4 = 0x15,
}

/// Why a datagram was not taken as the answer being waited for. Such a datagram is
/// ignored (it may be another session's, a late one, or noise), never an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reject {
    NotRmcpIpmi,
    NotRmcpPlus,
    Short,
    BadLength,
    BadTrailer,
    WrongPayload(u8),
    WrongSession(u32),
    /// Security flags other than the session's (e.g. a plain packet inside a session).
    WrongSecurity,
    BadAuthCode,
    /// A sequence number already seen, or too old to tell.
    Replayed(u32),
    BadChecksum,
    /// An IPMI answer that is not the one waited for (netfn, command or rqSeq differ).
    NotOurAnswer {
        netfn: u8,
        cmd: u8,
        rq_seq: u8,
    },
    WrongTag(u8),
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reject::NotRmcpIpmi => write!(f, "not an RMCP IPMI datagram"),
            Reject::NotRmcpPlus => write!(f, "not an RMCP+ packet"),
            Reject::Short => write!(f, "too short"),
            Reject::BadLength => write!(f, "payload length does not match the datagram"),
            Reject::BadTrailer => write!(f, "malformed session trailer"),
            Reject::WrongPayload(t) => write!(f, "unexpected payload type {t:#04x}"),
            Reject::WrongSession(id) => write!(f, "for another session ({id:#010x})"),
            Reject::WrongSecurity => write!(f, "authentication/encryption flags differ"),
            Reject::BadAuthCode => write!(f, "integrity check failed"),
            Reject::Replayed(seq) => write!(f, "session sequence number {seq} replayed or too old"),
            Reject::BadChecksum => write!(f, "IPMI message checksum wrong"),
            Reject::NotOurAnswer { netfn, cmd, rq_seq } => write!(
                f,
                "answer to netfn {netfn:#04x} cmd {cmd:#04x} rqSeq {rq_seq}, not to ours"
            ),
            Reject::WrongTag(t) => write!(f, "message tag {t:#04x} is not ours"),
        }
    }
}

/// An RMCP+ packet taken apart, before its integrity is checked.
#[derive(Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    pub encrypted: bool,
    pub authenticated: bool,
    pub payload_type: u8,
    pub session_id: u32,
    pub seq: u32,
    pub payload: &'a [u8],
    /// Authenticated packets: the bytes the AuthCode covers (session header to next
    /// header) and the AuthCode itself.
    pub signed: Option<(&'a [u8], &'a [u8])>,
}

fn le32(b: &[u8]) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[..4]);
    u32::from_le_bytes(a)
}

/// Splits a datagram into its RMCP+ parts; `auth_code_len` is the AuthCode size of the
/// session's integrity algorithm (used only when the packet says it is authenticated).
pub fn parse(datagram: &[u8], auth_code_len: usize) -> Result<Packet<'_>, Reject> {
    if datagram.len() < 4 || datagram[0] != 0x06 || datagram[3] & 0x1F != 0x07 {
        return Err(Reject::NotRmcpIpmi);
    }
    let body = &datagram[4..];
    if body.first() != Some(&AUTH_RMCP_PLUS) {
        return Err(Reject::NotRmcpPlus);
    }
    if body.len() < SESSION_HEADER {
        return Err(Reject::Short);
    }
    let encrypted = body[1] & 0x80 != 0;
    let authenticated = body[1] & 0x40 != 0;
    let payload_type = body[1] & 0x3F;
    if payload_type == 0x02 {
        // OEM explicit: a longer header we never ask for.
        return Err(Reject::WrongPayload(payload_type));
    }
    let session_id = le32(&body[2..6]);
    let seq = le32(&body[6..10]);
    let len = usize::from(u16::from_le_bytes([body[10], body[11]]));
    let end = SESSION_HEADER + len;
    if body.len() < end {
        return Err(Reject::BadLength);
    }
    let payload = &body[SESSION_HEADER..end];
    let signed = if authenticated {
        // Integrity pad (0xFF...), pad length, next header, AuthCode.
        let trailer = &body[end..];
        if trailer.len() < 2 + auth_code_len {
            return Err(Reject::BadTrailer);
        }
        let (covered, code) = body.split_at(body.len() - auth_code_len);
        let pad_len = usize::from(covered[covered.len() - 2]);
        if covered[covered.len() - 1] != NEXT_HEADER || trailer.len() - 2 - auth_code_len != pad_len
        {
            return Err(Reject::BadTrailer);
        }
        Some((covered, code))
    } else {
        if body.len() != end {
            return Err(Reject::BadLength);
        }
        None
    };
    Ok(Packet {
        encrypted,
        authenticated,
        payload_type,
        session_id,
        seq,
        payload,
        signed,
    })
}

/// The session header and payload of a packet, after the RMCP header; the caller adds the
/// trailer of an authenticated packet (`trailer_pad` and the AuthCode).
pub fn header_and_payload(
    flags: u8,
    payload_type: PayloadType,
    session_id: u32,
    seq: u32,
    payload: &[u8],
) -> Option<Vec<u8>> {
    let len = u16::try_from(payload.len()).ok()?;
    let mut out = Vec::with_capacity(4 + SESSION_HEADER + payload.len() + 32);
    out.extend_from_slice(&RMCP_HEADER);
    out.push(AUTH_RMCP_PLUS);
    out.push(flags | payload_type as u8);
    out.extend_from_slice(&session_id.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(payload);
    Some(out)
}

/// Appends the integrity pad, pad length and next header, so that the bytes from the
/// authentication type through the next header are a multiple of four (§13.28.4).
pub fn trailer_pad(packet: &mut Vec<u8>) {
    let covered = packet.len() - RMCP_HEADER.len() + 2;
    let pad = (4 - covered % 4) % 4;
    packet.extend(std::iter::repeat_n(0xFF, pad));
    packet.push(pad as u8);
    packet.push(NEXT_HEADER);
}

/// A packet outside any session (session id and sequence 0, no trailer): the Open Session
/// Request and RAKP messages 1 and 3.
pub fn plain(payload_type: PayloadType, payload: &[u8]) -> Vec<u8> {
    // Handshake payloads are a few dozen bytes, far below the 16-bit length.
    header_and_payload(0, payload_type, 0, 0, payload).unwrap_or_default()
}

/// The IPMI checksum: the two's complement of the sum, so the bytes plus it sum to 0.
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes
        .iter()
        .fold(0u8, |s, b| s.wrapping_add(*b))
        .wrapping_neg()
}

/// An IPMI LAN request message (§13.8): rsAddr, netFn/rsLUN, checksum, rqAddr,
/// rqSeq/rqLUN, cmd, data, checksum.
pub fn ipmi_request(netfn: u8, lun: u8, rq_seq: u8, cmd: u8, data: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(7 + data.len());
    m.extend_from_slice(&[BMC_ADDR, (netfn << 2) | (lun & 0x03)]);
    m.push(checksum(&m[..2]));
    m.extend_from_slice(&[CONSOLE_ADDR, (rq_seq << 2), cmd]);
    m.extend_from_slice(data);
    m.push(checksum(&m[3..]));
    m
}

/// An IPMI LAN response message taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpmiResponse {
    pub netfn: u8,
    pub rq_seq: u8,
    pub cmd: u8,
    pub cc: u8,
    pub data: Vec<u8>,
}

/// Reads a response message: rqAddr, netFn/rqLUN, checksum, rsAddr, rqSeq/rsLUN, cmd,
/// completion code, data, checksum. Both checksums and both addresses are checked.
pub fn ipmi_response(m: &[u8]) -> Result<IpmiResponse, Reject> {
    if m.len() < 8 {
        return Err(Reject::Short);
    }
    if checksum(&m[..2]) != m[2] || checksum(&m[3..m.len() - 1]) != m[m.len() - 1] {
        return Err(Reject::BadChecksum);
    }
    if m[0] != CONSOLE_ADDR || m[3] != BMC_ADDR {
        return Err(Reject::NotRmcpIpmi);
    }
    Ok(IpmiResponse {
        netfn: m[1] >> 2,
        rq_seq: m[4] >> 2,
        cmd: m[5],
        cc: m[6],
        data: m[7..m.len() - 1].to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipmi_request_framing() {
        // Get Device ID (App 0x06, cmd 0x01), rqSeq 1: the bytes ipmitool sends.
        assert_eq!(
            ipmi_request(0x06, 0, 1, 0x01, &[]),
            [0x20, 0x18, 0xc8, 0x81, 0x04, 0x01, 0x7a]
        );
        // Chassis Control power on, LUN 1 towards the BMC.
        let m = ipmi_request(0x00, 1, 0x3F, 0x02, &[0x01]);
        assert_eq!(m[..3], [0x20, 0x01, 0xdf]);
        assert_eq!(m[4], 0xFC);
        assert_eq!(m.iter().skip(3).fold(0u8, |s, b| s.wrapping_add(*b)), 0);
    }

    #[test]
    fn ipmi_response_checks() {
        // Get Chassis Status answer, power on, rqSeq 1.
        let mut m = vec![
            0x81, 0x04, 0x7b, 0x20, 0x04, 0x01, 0x00, 0x01, 0x00, 0x40, 0x00,
        ];
        let ck = checksum(&m[3..]);
        m.push(ck);
        let r = ipmi_response(&m).unwrap();
        assert_eq!(
            r,
            IpmiResponse {
                netfn: 0x01,
                rq_seq: 1,
                cmd: 0x01,
                cc: 0,
                data: vec![0x01, 0x00, 0x40, 0x00]
            }
        );
        let mut bad = m.clone();
        bad[8] ^= 1;
        assert_eq!(ipmi_response(&bad), Err(Reject::BadChecksum));
        let mut bad = m.clone();
        bad[2] ^= 1;
        assert_eq!(ipmi_response(&bad), Err(Reject::BadChecksum));
        assert_eq!(ipmi_response(&m[..7]), Err(Reject::Short));
    }

    #[test]
    fn plain_packets_round_trip() {
        let p = plain(PayloadType::Rakp1, &[1, 2, 3]);
        assert_eq!(
            p,
            [
                6, 0, 0xFF, 7, 6, 0x12, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 1, 2, 3
            ]
        );
        let parsed = parse(&p, 12).unwrap();
        assert_eq!(parsed.payload_type, 0x12);
        assert_eq!(parsed.payload, [1, 2, 3]);
        assert_eq!(parsed.signed, None);
        assert_eq!(parse(&p[..p.len() - 1], 12), Err(Reject::BadLength));
        let mut extra = p.clone();
        extra.push(0);
        assert_eq!(parse(&extra, 12), Err(Reject::BadLength));
        // An ASF presence pong (class 6) and an IPMI 1.5 packet are not ours.
        assert_eq!(parse(&[6, 0, 0xFF, 6, 0, 0], 12), Err(Reject::NotRmcpIpmi));
        assert_eq!(parse(&[6, 0, 0xFF, 7, 0, 0], 12), Err(Reject::NotRmcpPlus));
    }

    #[test]
    fn trailer_pads_to_four() {
        for payload_len in 0..8 {
            let mut p =
                header_and_payload(0x40, PayloadType::Ipmi, 1, 1, &vec![0; payload_len]).unwrap();
            trailer_pad(&mut p);
            assert_eq!((p.len() - 4) % 4, 0, "payload {payload_len}");
            p.extend_from_slice(&[0xAA; 12]);
            let parsed = parse(&p, 12).unwrap();
            let (covered, code) = parsed.signed.unwrap();
            assert_eq!(code, [0xAA; 12]);
            assert_eq!(covered.len() % 4, 0);
            assert_eq!(parsed.payload.len(), payload_len);
        }
    }
}

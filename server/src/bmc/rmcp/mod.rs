//! Our own RMCP+ client core (IPMI 2.0 §13), cipher suite 3 only: RAKP-HMAC-SHA1,
//! HMAC-SHA1-96, AES-CBC-128. Sans-io: these modules turn bytes into bytes and decisions,
//! and never touch a socket or a clock, so any transport can drive them (igord drives them
//! with one tokio UDP socket per session in `bmc/session.rs`), they can be tested on fixed
//! vectors, and Serial over LAN can reuse an established [`SessionState`].
//!
//! - `packet`: RMCP header, RMCP+ session header and trailer, IPMI LAN message framing.
//! - `crypto`: HMAC-SHA1, AES-CBC-128 with the IPMI pad, K1/K2 from the SIK.
//! - `handshake`: Open Session and RAKP 1 to 4 as a state machine ([`Handshake`]).
//! - `session`: sealing and opening packets of an established session, rqSeq matching.
//! - `sol`: Serial over LAN's packet layer (sequence numbers, acks, accepted counts,
//!   retransmission, break), carried in the same session's sealed payloads.
//!
//! It depends on nothing of igord's; randomness (session id, RAKP nonce, IVs) is passed in.

mod crypto;
mod handshake;
mod packet;
mod session;
pub mod sol;

pub use handshake::{Handshake, MAX_PASSWORD, MAX_USERNAME, Nonces, SetupError, Stage, Step};
pub use packet::{IpmiResponse, PayloadType, Reject};
pub use session::{Inbound, Pending, SealError, SessionState};

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(hex: &str) -> Vec<u8> {
        ::hex::decode(hex).unwrap()
    }

    /// A whole session with ipmi_sim 1.0.13 (OpenIPMI 2.0.33, tests/bmc-sim/lan.conf, user
    /// admin/admin), captured on loopback by driving this core over a std UDP socket with
    /// the nonces below and the IV 16 × 0x5A: the handshake, Set Session Privilege Level,
    /// Get Device ID, Get Chassis Status and Close Session. Replaying the BMC's datagrams
    /// must make us send the very bytes we sent then, and read the same answers.
    const CAPTURE: &[(bool, &str)] = &[
        (
            true,
            "0600ff07061000000000000000002000420400000d0c0b0a000000080100000001000008010000000200000801000000",
        ),
        (
            false,
            "0600ff07061100000000000000002400420004000d0c0b0a02000000000000080100000001000008010000000200000801000000",
        ),
        (
            true,
            "0600ff070612000000000000000021004200000002000000000102030405060708090a0b0c0d0e0f1400000561646d696e",
        ),
        (
            false,
            "0600ff07061300000000000000003c00420000000d0c0b0ab3ad5a72e2856a81efea63b999015fd6a123456789abcdefa123456789abcdefdf2000d349d4eb3e3a3a6d0541b685782903a759",
        ),
        (
            true,
            "0600ff07061400000000000000001c004200000002000000fc15448dcb3cb9c1a8984d75808ee8c4c08da1de",
        ),
        (
            false,
            "0600ff07061500000000000000001400420000000d0c0b0a2642a1870f05cc4b68d1ce9e",
        ),
        (
            true,
            "0600ff0706c0020000000100000020005a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a35cfa095c516f9c3b0ce6941538a1460ffff02072af62dc53d8a0e5fce2f5736",
        ),
        (
            false,
            "0600ff0706c00d0c0b0a0100000020000420b2ac76e63beb548a8e8d3210a2cde5abe3c96e058af7cb16932f738578cbffff02071399554266cc2cc05dabc995",
        ),
        (
            true,
            "0600ff0706c0020000000200000020005a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a3ffb1bd7cab587b5528dae964852e299ffff0207d158537e2486040f98a61174",
        ),
        (
            false,
            "0600ff0706c00d0c0b0a02000000300055aaf31f00a1016d0c3be5b1aa21fee76b1ce770025de2d003f234e21849ad67b238d2613ebc409920c1888223aa50e4ffff02078d8ee36195b1cc4efa026b60",
        ),
        (
            true,
            "0600ff0706c0020000000300000020005a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5ac01133eae3487853536ebb179dcb5448ffff0207f51e6136921cd8a1e9431718",
        ),
        (
            false,
            "0600ff0706c00d0c0b0a030000002000bb897b2df030170308c6132d9a93f9d8ac576555fc32e134cce6f8a6c0222199ffff0207fa17e08e2359adb9c1c4dd1e",
        ),
        (
            true,
            "0600ff0706c0020000000400000020005a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5ae1d9dd1cfc2d67906d7b83ae5d683c0effff02075434c3b92e3e589fd625bb05",
        ),
        (
            false,
            "0600ff0706c00d0c0b0a0400000020001bb2ec8696231e5844a402de357b60abfeb4c0f36c3db1f9effd83c6ed7b748affff02071bd0a1bcf663aa540be6113b",
        ),
    ];

    #[test]
    fn replays_a_session_captured_from_ipmi_sim() {
        let ours: Vec<Vec<u8>> = CAPTURE.iter().filter(|c| c.0).map(|c| bytes(c.1)).collect();
        let bmc: Vec<Vec<u8>> = CAPTURE
            .iter()
            .filter(|c| !c.0)
            .map(|c| bytes(c.1))
            .collect();
        let nonces = Nonces {
            console_session_id: 0x0A0B_0C0D,
            console_random: std::array::from_fn(|i| i as u8),
            tag: 0x42,
        };
        let (mut hs, first) = Handshake::start(b"admin", b"admin", nonces).unwrap();
        assert_eq!(first, ours[0]);
        let Step::Send(rakp1) = hs.receive(&bmc[0]) else {
            panic!("open session response refused")
        };
        assert_eq!(rakp1, ours[1]);
        let Step::Send(rakp3) = hs.receive(&bmc[1]) else {
            panic!("RAKP 2 refused")
        };
        assert_eq!(rakp3, ours[2], "RAKP 3 key exchange code");
        let Step::Done(mut session) = hs.receive(&bmc[2]) else {
            panic!("RAKP 4 refused")
        };
        assert_eq!(session.bmc_session_id(), 2);
        let close = session.bmc_session_id().to_le_bytes();
        let requests: [(u8, u8, &[u8], &[u8]); 4] = [
            // Set Session Privilege Level: Administrator granted.
            (0x06, 0x3B, &[0x04], &[0x04]),
            // Get Device ID: device 0, revision 3, firmware 9.08, IPMI 2.0, ...
            (
                0x06,
                0x01,
                &[],
                &[0, 3, 9, 8, 2, 0x9F, 0x91, 0x12, 0, 2, 0x0F, 0, 0, 0, 0],
            ),
            // Get Chassis Status: power off.
            (0x00, 0x01, &[], &[0, 0, 0]),
            (0x06, 0x3C, &close, &[]),
        ];
        for (i, (netfn, cmd, data, answer)) in requests.into_iter().enumerate() {
            let (sealed, pending) = session.request(netfn, 0, cmd, data, &[0x5A; 16]).unwrap();
            assert_eq!(sealed, ours[3 + i], "request {i}");
            match session.answer(&pending, &bmc[3 + i]) {
                Inbound::Accept(r) => assert_eq!((r.cc, r.data.as_slice()), (0, answer), "{i}"),
                other => panic!("answer {i}: {other:?}"),
            }
        }
        // Each answer once: a replayed one is refused.
        let (_, pending) = session.request(0x06, 0, 0x01, &[], &[0x5A; 16]).unwrap();
        assert_eq!(
            session.answer(&pending, &bmc[4]),
            Inbound::Ignore(Reject::Replayed(2))
        );
    }
}

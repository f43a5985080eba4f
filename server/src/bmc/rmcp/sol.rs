//! Serial over LAN, the packet layer (IPMI 2.0 §15): what goes inside RMCP+ payloads of
//! type 1 once Activate Payload has succeeded. Sans-io like the rest of this core: bytes
//! and instants in, payloads and decisions out; the caller seals them with the session's
//! keys ([`super::SessionState::seal`] with [`super::PayloadType::Sol`]) and owns the
//! socket and the clock.
//!
//! Each SOL payload starts with four bytes: the packet's sequence number (1 to 15; 0 for
//! a packet that only acknowledges), the sequence number it acknowledges (0: none), the
//! count of characters accepted from that packet, and operation/status bits; character
//! data follows. One data packet of ours is in flight at a time (as ipmitool does): it is
//! retransmitted until acknowledged, and what the BMC did not accept is sent again in the
//! next packet. Each data packet of the BMC's is acknowledged; a retransmitted one (same
//! sequence number and length as the last) is acknowledged again but delivered once.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Console to BMC, operation bit (byte 4): generate a break.
const OP_BREAK: u8 = 0x10;
/// BMC to console, status bits (byte 4).
const ST_NACK: u8 = 0x40;
const ST_UNAVAILABLE: u8 = 0x20;
const ST_DEACTIVATING: u8 = 0x10;
const ST_OVERRUN: u8 = 0x08;
const ST_BREAK: u8 = 0x04;

/// How long an unacknowledged packet waits before it is sent again, and how many times
/// it is sent in all before the BMC is taken for gone.
pub const RETRY_AFTER: Duration = Duration::from_millis(500);
pub const MAX_TRIES: u8 = 7;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SolError {
    #[error("the BMC did not acknowledge serial console data after {0} tries")]
    Unanswered(u8),
    #[error("a SOL packet of {0} bytes is shorter than its 4-byte header")]
    Short(usize),
}

/// What a packet from the BMC brought.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Received {
    /// New console output (empty for an acknowledgement or a retransmission).
    pub data: Vec<u8>,
    /// The BMC is ending the SOL session (another session took it, or it was deactivated).
    pub deactivating: bool,
    /// The BMC reports a break on the serial line.
    pub break_detected: bool,
    /// The BMC dropped characters it could not pass on.
    pub overrun: bool,
    /// The BMC cannot take characters now (flow control); ours wait.
    pub unavailable: bool,
}

struct InFlight {
    seq: u8,
    data: Vec<u8>,
    brk: bool,
    sent_at: Instant,
    tries: u8,
}

/// One SOL session's packet state.
pub struct Sol {
    /// The most character data one packet may carry (from Activate Payload's answer).
    max_data: usize,
    queued: VecDeque<u8>,
    in_flight: Option<InFlight>,
    next_seq: u8,
    break_wanted: bool,
    /// An acknowledgement owed to the BMC: its packet's sequence number and length.
    ack_owed: Option<(u8, u8)>,
    /// The BMC's last data packet (sequence number, length), to tell a retransmission.
    last_in: Option<(u8, usize)>,
    paused: bool,
    /// The number a probe asked about (see [`Sol::probe`]), until it is answered or given up.
    probing: Option<u8>,
}

impl Sol {
    /// `inbound_payload_size`: what Activate Payload said the BMC accepts in one packet,
    /// header included (ipmi_sim says 255 at most in a byte count).
    pub fn new(inbound_payload_size: usize) -> Sol {
        Sol {
            max_data: inbound_payload_size.saturating_sub(4).clamp(1, 255),
            queued: VecDeque::new(),
            in_flight: None,
            next_seq: 1,
            probing: None,
            break_wanted: false,
            ack_owed: None,
            last_in: None,
            paused: false,
        }
    }

    /// Characters typed for the serial console.
    pub fn write(&mut self, bytes: &[u8]) {
        self.queued.extend(bytes);
    }

    /// A break, sent with the next packet.
    pub fn send_break(&mut self) {
        self.break_wanted = true;
    }

    /// Characters not yet acknowledged by the BMC (queued or in flight).
    pub fn unacknowledged(&self) -> usize {
        self.queued.len() + self.in_flight.as_ref().map_or(0, |f| f.data.len())
    }

    /// A packet that types nothing and asks whether the BMC still holds our next sequence
    /// number as the one it last acknowledged. ipmi_sim keeps that number across SOL
    /// sessions and takes a new session's packet carrying it for a retransmission: it
    /// acknowledges the packet and drops its characters. It acknowledges an empty packet
    /// only in that case, so an answer to the probe moves our numbering past it
    /// (`receive`); no answer leaves it. A BMC that acknowledges every packet costs us one
    /// number, nothing else.
    pub fn probe(&mut self) -> Vec<u8> {
        self.probing = Some(self.next_seq);
        vec![self.next_seq, 0, 0, 0]
    }

    /// Whether a probe is still unanswered.
    pub fn probing(&self) -> bool {
        self.probing.is_some()
    }

    /// Gives up waiting for the probe's answer: the number is free.
    pub fn end_probe(&mut self) {
        self.probing = None;
    }

    fn seq(&mut self) -> u8 {
        let s = self.next_seq;
        self.next_seq = if s >= 15 { 1 } else { s + 1 };
        s
    }

    /// The next SOL payload to send now, if any: a retransmission that is due, a new data
    /// packet (carrying any acknowledgement owed), or a bare acknowledgement.
    pub fn poll_transmit(&mut self, now: Instant) -> Result<Option<Vec<u8>>, SolError> {
        let (ack, accepted) = self.ack_owed.unwrap_or((0, 0));
        if let Some(f) = &mut self.in_flight {
            if now.duration_since(f.sent_at) < RETRY_AFTER {
                return Ok(self.bare_ack());
            }
            if f.tries >= MAX_TRIES {
                return Err(SolError::Unanswered(f.tries));
            }
            f.tries += 1;
            f.sent_at = now;
            let op = if f.brk { OP_BREAK } else { 0 };
            let mut p = vec![f.seq, ack, accepted, op];
            p.extend_from_slice(&f.data);
            self.ack_owed = None;
            return Ok(Some(p));
        }
        if self.queued.is_empty() && self.break_wanted {
            // A break alone carries no character to acknowledge, and BMCs do not (ipmi_sim
            // acknowledges only characters): it is sent once, never waited for.
            self.break_wanted = false;
            let seq = self.seq();
            self.ack_owed = None;
            return Ok(Some(vec![seq, ack, accepted, OP_BREAK]));
        }
        if self.queued.is_empty() || self.paused {
            return Ok(self.bare_ack());
        }
        let n = self.queued.len().min(self.max_data);
        let data: Vec<u8> = self.queued.drain(..n).collect();
        let brk = std::mem::take(&mut self.break_wanted);
        let seq = self.seq();
        let mut p = vec![seq, ack, accepted, if brk { OP_BREAK } else { 0 }];
        p.extend_from_slice(&data);
        self.in_flight = Some(InFlight {
            seq,
            data,
            brk,
            sent_at: now,
            tries: 1,
        });
        self.ack_owed = None;
        Ok(Some(p))
    }

    fn bare_ack(&mut self) -> Option<Vec<u8>> {
        self.ack_owed
            .take()
            .map(|(ack, accepted)| vec![0, ack, accepted, 0])
    }

    /// When `poll_transmit` has something to do next without anything arriving: the
    /// retransmission time of the packet in flight.
    pub fn next_timeout(&self) -> Option<Instant> {
        self.in_flight.as_ref().map(|f| f.sent_at + RETRY_AFTER)
    }

    /// Takes one SOL payload from the BMC (already opened with the session's keys).
    pub fn receive(&mut self, payload: &[u8]) -> Result<Received, SolError> {
        let [seq, ack, accepted, status] = *payload
            .first_chunk::<4>()
            .ok_or(SolError::Short(payload.len()))?;
        let (seq, ack) = (seq & 0x0F, ack & 0x0F);
        let data = &payload[4..];
        let mut r = Received {
            deactivating: status & ST_DEACTIVATING != 0,
            break_detected: status & ST_BREAK != 0,
            overrun: status & ST_OVERRUN != 0,
            unavailable: status & ST_UNAVAILABLE != 0,
            data: Vec::new(),
        };
        self.paused = r.unavailable;
        // The answer to a probe: the BMC holds this number from an earlier session.
        if ack != 0 && self.in_flight.is_none() && self.probing.take_if(|p| *p == ack).is_some() {
            self.seq();
        }
        // An acknowledgement of our packet in flight.
        if ack != 0
            && let Some(f) = self.in_flight.take_if(|f| f.seq == ack)
        {
            let taken = usize::from(accepted).min(f.data.len());
            if status & ST_NACK != 0 || taken < f.data.len() {
                // What the BMC did not take goes first in the next packet.
                let rest = if status & ST_NACK != 0 {
                    &f.data[..]
                } else {
                    &f.data[taken..]
                };
                for b in rest.iter().rev() {
                    self.queued.push_front(*b);
                }
                if status & ST_NACK != 0 && f.brk {
                    self.break_wanted = true;
                }
            }
        }
        // Character data of the BMC's.
        if seq != 0 {
            let len = u8::try_from(data.len()).unwrap_or(u8::MAX);
            self.ack_owed = Some((seq, len));
            if self.last_in != Some((seq, data.len())) {
                self.last_in = Some((seq, data.len()));
                r.data = data.to_vec();
            }
        }
        Ok(r)
    }
}

/// Activate Payload (App 0x48) data for SOL instance 1, encrypted and authenticated as the
/// session is, with serial alerts deferred while SOL is active (as ipmitool asks).
pub fn activate_request() -> [u8; 6] {
    [0x01, 0x01, 0xC4, 0x00, 0x00, 0x00]
}

/// Deactivate Payload (App 0x49) data for SOL instance 1.
pub fn deactivate_request() -> [u8; 6] {
    [0x01, 0x01, 0x00, 0x00, 0x00, 0x00]
}

/// Activate Payload's answer: the most the BMC accepts in one inbound packet, the most it
/// sends, and the UDP port the payload uses (623 unless the BMC says otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Activated {
    pub inbound_size: u16,
    pub outbound_size: u16,
    pub port: u16,
}

pub fn activated(data: &[u8]) -> Option<Activated> {
    let d = data.get(..10)?;
    Some(Activated {
        inbound_size: u16::from_le_bytes([d[4], d[5]]),
        outbound_size: u16::from_le_bytes([d[6], d[7]]),
        port: u16::from_le_bytes([d[8], d[9]]),
    })
}

/// Activate Payload's completion codes, in words (IPMI 2.0 table 24-2).
pub fn activation_refused(code: u8) -> &'static str {
    match code {
        0x80 => "SOL is already active on another session (another console is attached)",
        0x81 => "SOL is disabled on this BMC",
        0x82 => "the BMC's limit of active SOL sessions is reached",
        0x83 => "SOL cannot be activated with encryption on this BMC",
        0x84 => "SOL requires encryption on this BMC",
        _ => "SOL could not be activated",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t0() -> Instant {
        Instant::now()
    }

    #[test]
    fn data_goes_out_one_packet_at_a_time_and_leaves_when_acknowledged() {
        let now = t0();
        let mut s = Sol::new(8); // 4 bytes of data per packet
        s.write(b"root\r\n");
        let p = s.poll_transmit(now).unwrap().unwrap();
        assert_eq!(p, [1, 0, 0, 0, b'r', b'o', b'o', b't']);
        // Nothing more until it is acknowledged.
        assert_eq!(s.poll_transmit(now).unwrap(), None);
        // The BMC took 3 of the 4: the fourth goes first in the next packet.
        s.receive(&[0, 1, 3, 0]).unwrap();
        let p = s.poll_transmit(now).unwrap().unwrap();
        assert_eq!(p, [2, 0, 0, 0, b't', b'\r', b'\n']);
        s.receive(&[0, 2, 3, 0]).unwrap();
        assert_eq!(s.unacknowledged(), 0);
        assert_eq!(s.poll_transmit(now).unwrap(), None);
    }

    #[test]
    fn unacknowledged_packets_are_sent_again_then_given_up() {
        let now = t0();
        let mut s = Sol::new(255);
        s.write(b"x");
        let first = s.poll_transmit(now).unwrap().unwrap();
        assert_eq!(s.poll_transmit(now + RETRY_AFTER / 2).unwrap(), None);
        let mut at = now;
        for _ in 1..MAX_TRIES {
            at += RETRY_AFTER;
            assert_eq!(s.poll_transmit(at).unwrap(), Some(first.clone()));
        }
        at += RETRY_AFTER;
        assert_eq!(s.poll_transmit(at), Err(SolError::Unanswered(MAX_TRIES)));
    }

    #[test]
    fn output_is_acknowledged_and_delivered_once() {
        let now = t0();
        let mut s = Sol::new(255);
        let r = s
            .receive(&[5, 0, 0, 0, b'l', b'o', b'g', b'i', b'n'])
            .unwrap();
        assert_eq!(r.data, b"login");
        assert_eq!(s.poll_transmit(now).unwrap(), Some(vec![0, 5, 5, 0]));
        // The BMC did not hear the ack and sends the packet again: acked, not delivered.
        let r = s
            .receive(&[5, 0, 0, 0, b'l', b'o', b'g', b'i', b'n'])
            .unwrap();
        assert!(r.data.is_empty());
        assert_eq!(s.poll_transmit(now).unwrap(), Some(vec![0, 5, 5, 0]));
        // An acknowledgement owed rides on our next data packet.
        s.receive(&[6, 0, 0, 0, b':']).unwrap();
        s.write(b"a");
        assert_eq!(s.poll_transmit(now).unwrap(), Some(vec![1, 6, 1, 0, b'a']));
    }

    #[test]
    fn break_nack_pause_and_deactivation() {
        let now = t0();
        let mut s = Sol::new(255);
        s.send_break();
        assert_eq!(s.poll_transmit(now).unwrap(), Some(vec![1, 0, 0, OP_BREAK]));
        // A break alone is sent once: there is no character to acknowledge.
        assert_eq!(s.poll_transmit(now + RETRY_AFTER * 2).unwrap(), None);
        assert_eq!(s.unacknowledged(), 0);
        // With characters it rides along; a nack sends both again, with a new number.
        s.write(b"q");
        s.send_break();
        assert_eq!(
            s.poll_transmit(now).unwrap(),
            Some(vec![2, 0, 0, OP_BREAK, b'q'])
        );
        s.receive(&[0, 2, 0, ST_NACK]).unwrap();
        assert_eq!(
            s.poll_transmit(now).unwrap(),
            Some(vec![3, 0, 0, OP_BREAK, b'q'])
        );
        s.receive(&[0, 3, 1, 0]).unwrap();
        // Flow control: nothing goes while the BMC says characters are unavailable.
        s.receive(&[0, 0, 0, ST_UNAVAILABLE]).unwrap();
        s.write(b"y");
        assert_eq!(s.poll_transmit(now).unwrap(), None);
        s.receive(&[0, 0, 0, 0]).unwrap();
        assert!(s.poll_transmit(now).unwrap().is_some());
        let r = s.receive(&[0, 0, 0, ST_DEACTIVATING | ST_BREAK]).unwrap();
        assert!(r.deactivating && r.break_detected);
        assert_eq!(s.receive(&[1, 2]), Err(SolError::Short(2)));
    }

    #[test]
    fn a_probe_answered_moves_the_numbering_on() {
        let now = t0();
        // Answered: the BMC still holds number 1, so our first packet carries 2.
        let mut s = Sol::new(255);
        assert_eq!(s.probe(), vec![1, 0, 0, 0]);
        s.receive(&[0, 1, 5, 0]).unwrap();
        assert!(!s.probing());
        s.write(b"a");
        assert_eq!(s.poll_transmit(now).unwrap(), Some(vec![2, 0, 0, 0, b'a']));
        // Unanswered: 1 is free.
        let mut s = Sol::new(255);
        s.probe();
        s.end_probe();
        s.receive(&[0, 1, 5, 0]).unwrap();
        s.write(b"a");
        assert_eq!(s.poll_transmit(now).unwrap(), Some(vec![1, 0, 0, 0, b'a']));
    }

    #[test]
    fn sequence_numbers_wrap_from_15_to_1() {
        let now = t0();
        let mut s = Sol::new(255);
        let mut seqs = vec![];
        for _ in 0..16 {
            s.write(b"z");
            let p = s.poll_transmit(now).unwrap().unwrap();
            seqs.push(p[0]);
            s.receive(&[0, p[0], 1, 0]).unwrap();
        }
        assert_eq!(seqs[14], 15);
        assert_eq!(seqs[15], 1);
    }

    #[test]
    fn activation_answer() {
        // Aux data (4), inbound 0x00ff, outbound 0x00ff, port 623, VLAN 0xffff.
        let a = activated(&[0, 0, 0, 0, 0xff, 0, 0xff, 0, 0x6f, 0x02, 0xff, 0xff]).unwrap();
        assert_eq!(
            a,
            Activated {
                inbound_size: 255,
                outbound_size: 255,
                port: 623
            }
        );
        assert!(activated(&[0; 9]).is_none());
        assert!(activation_refused(0x80).contains("already active"));
    }
}

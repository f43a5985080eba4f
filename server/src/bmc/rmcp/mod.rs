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
//!
//! It depends on nothing of igord's; randomness (session id, RAKP nonce, IVs) is passed in.

mod crypto;
mod handshake;
mod packet;
mod session;

pub use handshake::{Handshake, MAX_PASSWORD, MAX_USERNAME, Nonces, SetupError, Stage, Step};
pub use packet::{IpmiResponse, PayloadType, Reject};
pub use session::{Inbound, Pending, SealError, SessionState};

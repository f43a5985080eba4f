//! `CutRelay`: a UDP relay between igord and a real BMC that forwards a set number of
//! datagrams towards the BMC and then drops every one after it, as a link that breaks in
//! the middle of a call does. It counts what it forwarded, so a test can learn how many
//! datagrams a step costs instead of assuming it.

use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct CutRelay {
    pub port: u16,
    /// Datagrams from the client forwarded to the BMC so far.
    forwarded: Arc<AtomicUsize>,
    /// How many client datagrams may pass in all; `usize::MAX` for no cut.
    budget: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl CutRelay {
    /// A relay to the BMC at `127.0.0.1:upstream` that forwards everything until `cut_after`.
    pub fn start(upstream: u16) -> CutRelay {
        let front = UdpSocket::bind("127.0.0.1:0").expect("bind relay front");
        let port = front.local_addr().expect("relay address").port();
        let back = UdpSocket::bind("127.0.0.1:0").expect("bind relay back");
        back.connect(("127.0.0.1", upstream))
            .expect("connect relay to the bmc");
        // Short timeouts so the threads notice `stop` when the relay is dropped.
        for s in [&front, &back] {
            s.set_read_timeout(Some(Duration::from_millis(50)))
                .expect("relay read timeout");
        }
        let relay = CutRelay {
            port,
            forwarded: Arc::new(AtomicUsize::new(0)),
            budget: Arc::new(AtomicUsize::new(usize::MAX)),
            stop: Arc::new(AtomicBool::new(false)),
        };
        let client: Arc<Mutex<Option<SocketAddr>>> = Arc::new(Mutex::new(None));
        {
            let (front, back) = (
                front.try_clone().expect("clone"),
                back.try_clone().expect("clone"),
            );
            let (client, forwarded, budget, stop) = (
                client.clone(),
                relay.forwarded.clone(),
                relay.budget.clone(),
                relay.stop.clone(),
            );
            std::thread::spawn(move || {
                let mut buf = [0u8; 2048];
                while !stop.load(Ordering::SeqCst) {
                    let Ok((n, from)) = front.recv_from(&mut buf) else {
                        continue;
                    };
                    *client.lock().expect("relay lock") = Some(from);
                    if forwarded.load(Ordering::SeqCst) < budget.load(Ordering::SeqCst) {
                        forwarded.fetch_add(1, Ordering::SeqCst);
                        let _ = back.send(&buf[..n]);
                    }
                }
            });
        }
        {
            let stop = relay.stop.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 2048];
                while !stop.load(Ordering::SeqCst) {
                    let Ok(n) = back.recv(&mut buf) else { continue };
                    let to = *client.lock().expect("relay lock");
                    if let Some(to) = to {
                        let _ = front.send_to(&buf[..n], to);
                    }
                }
            });
        }
        relay
    }

    /// Client datagrams forwarded so far.
    pub fn forwarded(&self) -> usize {
        self.forwarded.load(Ordering::SeqCst)
    }

    /// Lets `more` further client datagrams through, then drops everything.
    pub fn cut_after(&self, more: usize) {
        self.budget.store(self.forwarded() + more, Ordering::SeqCst);
    }
}

impl Drop for CutRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// A UDP relay between any number of clients and one BMC that counts requests in flight:
/// a client's datagram forwarded and not yet answered. When one call at a time reaches
/// the BMC, the most in flight at once is 1, whichever processes and sockets the calls
/// come from.
pub struct OverlapRelay {
    pub port: u16,
    pending: Arc<Mutex<std::collections::HashMap<SocketAddr, bool>>>,
    most: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl OverlapRelay {
    pub fn start(upstream: u16) -> OverlapRelay {
        let front = UdpSocket::bind("127.0.0.1:0").expect("bind relay front");
        let port = front.local_addr().expect("relay address").port();
        front
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("relay read timeout");
        let relay = OverlapRelay {
            port,
            pending: Arc::default(),
            most: Arc::default(),
            stop: Arc::default(),
        };
        let (pending, most, stop) = (
            relay.pending.clone(),
            relay.most.clone(),
            relay.stop.clone(),
        );
        std::thread::spawn(move || {
            // One socket towards the BMC per client, so each answer finds its way back.
            let mut backs: std::collections::HashMap<SocketAddr, UdpSocket> =
                std::collections::HashMap::new();
            let mut buf = [0u8; 2048];
            while !stop.load(Ordering::SeqCst) {
                let Ok((n, from)) = front.recv_from(&mut buf) else {
                    continue;
                };
                let back = backs.entry(from).or_insert_with(|| {
                    let back = UdpSocket::bind("127.0.0.1:0").expect("bind relay back");
                    back.connect(("127.0.0.1", upstream))
                        .expect("connect relay to the bmc");
                    back.set_read_timeout(Some(Duration::from_millis(50)))
                        .expect("relay read timeout");
                    let (reader, front, pending, stop) = (
                        back.try_clone().expect("clone"),
                        front.try_clone().expect("clone"),
                        pending.clone(),
                        stop.clone(),
                    );
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 2048];
                        while !stop.load(Ordering::SeqCst) {
                            let Ok(n) = reader.recv(&mut buf) else {
                                continue;
                            };
                            pending.lock().expect("relay lock").insert(from, false);
                            let _ = front.send_to(&buf[..n], from);
                        }
                    });
                    back
                });
                {
                    let mut pending = pending.lock().expect("relay lock");
                    pending.insert(from, true);
                    let now = pending.values().filter(|p| **p).count();
                    most.fetch_max(now, Ordering::SeqCst);
                }
                let _ = back.send(&buf[..n]);
            }
        });
        relay
    }

    /// The most requests that were in flight at the same time so far.
    pub fn most_in_flight(&self) -> usize {
        self.most.load(Ordering::SeqCst)
    }

    /// Client sockets seen so far (one per session).
    pub fn clients(&self) -> usize {
        self.pending.lock().expect("relay lock").len()
    }
}

impl Drop for OverlapRelay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

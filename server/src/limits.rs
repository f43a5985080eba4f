//! Abuse resistance: what one client can make igord do. Failed logins are throttled per
//! source address and per user name at that address, with an exponential delay; each user
//! has a budget of work per minute (a bulk call costs one unit per machine it names); and
//! each source address may hold a bounded number of connections. All of it is in memory,
//! per replica, and bounded in size.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Failures forgotten after this long without a new one.
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);
/// The longest lock-out one more failure can cause.
const MAX_DELAY: Duration = Duration::from_secs(15 * 60);
/// Bounds the memory a flood of distinct names or addresses can take.
const MAX_ENTRIES: usize = 100_000;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Addr(IpAddr),
    UserAt(String, IpAddr),
}

struct Entry {
    failures: u32,
    last: Instant,
    locked_until: Instant,
}

/// Throttles password guessing. A source address gets `addr_free` failures (over any user
/// names) and a user name gets `user_free` failures from one address before each further
/// failure locks that key for 1 s, 2 s, 4 s... (at most 15 min). The user-name key is per
/// address, so a flood from one address never locks the user out from another one; the
/// address key stops one client from spraying many names.
pub struct LoginThrottle {
    entries: Mutex<HashMap<Key, Entry>>,
    addr_free: u32,
    user_free: u32,
}

impl Default for LoginThrottle {
    fn default() -> Self {
        LoginThrottle::new(10, 3)
    }
}

impl LoginThrottle {
    pub fn new(addr_free: u32, user_free: u32) -> Self {
        LoginThrottle {
            entries: Mutex::new(HashMap::new()),
            addr_free,
            user_free,
        }
    }

    fn keys(user: &str, addr: IpAddr) -> [Key; 2] {
        [Key::Addr(addr), Key::UserAt(user.to_owned(), addr)]
    }

    /// `Err(wait)` while `user` at `addr` is locked out. Asked before any password is
    /// hashed, so a locked-out flood costs no hashing.
    pub fn check(&self, user: &str, addr: IpAddr, now: Instant) -> Result<(), Duration> {
        let Ok(entries) = self.entries.lock() else {
            return Ok(());
        };
        let wait = Self::keys(user, addr)
            .iter()
            .filter_map(|k| entries.get(k))
            .map(|e| e.locked_until.saturating_duration_since(now))
            .max()
            .unwrap_or_default();
        if wait.is_zero() { Ok(()) } else { Err(wait) }
    }

    /// Records a failure; returns the lock-out it causes (zero while still free).
    pub fn failed(&self, user: &str, addr: IpAddr, now: Instant) -> Duration {
        let Ok(mut entries) = self.entries.lock() else {
            return Duration::ZERO;
        };
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, e| now.duration_since(e.last) < FORGET_AFTER);
            if entries.len() >= MAX_ENTRIES {
                // Still full of live entries: keep only the locked ones.
                entries.retain(|_, e| e.locked_until > now);
            }
        }
        let mut worst = Duration::ZERO;
        for key in Self::keys(user, addr) {
            let free = match key {
                Key::Addr(_) => self.addr_free,
                Key::UserAt(..) => self.user_free,
            };
            let e = entries.entry(key).or_insert(Entry {
                failures: 0,
                last: now,
                locked_until: now,
            });
            if now.duration_since(e.last) >= FORGET_AFTER {
                e.failures = 0;
            }
            e.failures = e.failures.saturating_add(1);
            e.last = now;
            if e.failures > free {
                let exp = (e.failures - free - 1).min(20);
                let delay = Duration::from_secs(1u64 << exp).min(MAX_DELAY);
                e.locked_until = now + delay;
                worst = worst.max(delay);
            }
        }
        worst
    }

    /// How many keys (addresses, user names at an address) are locked out at `now`. A scan
    /// of every entry: for a scrape of the metrics, never a request.
    pub fn locked_keys(&self, now: Instant) -> usize {
        self.entries
            .lock()
            .map_or(0, |e| e.values().filter(|e| e.locked_until > now).count())
    }

    /// A correct password clears the user's failures at that address (not the address's
    /// own count: a client spraying names stays throttled).
    pub fn succeeded(&self, user: &str, addr: IpAddr) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(&Key::UserAt(user.to_owned(), addr));
        }
    }
}

/// How much work one user may ask of igord per minute: every call costs one unit, and a
/// bulk call one more per machine its selectors name. A token bucket per user, refilled
/// continuously.
pub struct WorkBudget {
    per_minute: u64,
    buckets: Mutex<HashMap<i64, (f64, Instant)>>,
}

impl WorkBudget {
    pub fn new(per_minute: u64) -> Self {
        WorkBudget {
            per_minute,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes `units` from the user's bucket, or says how long until they would be there.
    /// A charge larger than a whole minute's budget is refused with no wait that helps.
    pub fn charge(&self, user_id: i64, units: u64, now: Instant) -> Result<(), Duration> {
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        let cap = self.per_minute as f64;
        if buckets.len() >= MAX_ENTRIES {
            buckets.retain(|_, (_, at)| now.duration_since(*at) < Duration::from_secs(60));
        }
        let (level, at) = buckets.entry(user_id).or_insert((cap, now));
        let refill = now.duration_since(*at).as_secs_f64() * cap / 60.0;
        *level = (*level + refill).min(cap);
        *at = now;
        let want = units as f64;
        if want <= *level {
            *level -= want;
            return Ok(());
        }
        let missing = (want - *level).min(cap);
        Err(Duration::from_secs_f64(missing * 60.0 / cap).max(Duration::from_secs(1)))
    }

    pub fn per_minute(&self) -> u64 {
        self.per_minute
    }
}

/// Connections held per source address. `open` is called for every accepted connection;
/// the slot it returns is dropped with the connection.
pub struct ConnLimiter {
    per_addr: usize,
    counts: Mutex<HashMap<IpAddr, usize>>,
}

/// One connection's place in the count; `over` when the address already held its share
/// when this one came (its requests are answered 429 and the connection closed).
pub struct ConnSlot {
    limiter: Arc<ConnLimiter>,
    addr: IpAddr,
    pub over: bool,
}

impl ConnLimiter {
    pub fn new(per_addr: usize) -> Arc<Self> {
        Arc::new(ConnLimiter {
            per_addr,
            counts: Mutex::new(HashMap::new()),
        })
    }

    pub fn open(self: &Arc<Self>, addr: IpAddr) -> ConnSlot {
        let over = match self.counts.lock() {
            Ok(mut counts) => {
                let n = counts.entry(addr).or_insert(0);
                *n += 1;
                *n > self.per_addr
            }
            Err(_) => false,
        };
        ConnSlot {
            limiter: self.clone(),
            addr,
            over,
        }
    }

    pub fn per_addr(&self) -> usize {
        self.per_addr
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        if let Ok(mut counts) = self.limiter.counts.lock()
            && let Some(n) = counts.get_mut(&self.addr)
        {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.addr);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 2));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 3));

    #[test]
    fn failures_lock_exponentially_per_user_and_address() {
        let t = LoginThrottle::new(10, 3);
        let now = Instant::now();
        let delays: Vec<u64> = (0..6)
            .map(|_| t.failed("alice", A, now).as_secs())
            .collect();
        assert_eq!(delays, [0, 0, 0, 1, 2, 4]);
        assert_eq!(t.check("alice", A, now), Err(Duration::from_secs(4)));
        // Another address, or another user at this address, is not locked by alice's pair.
        assert_eq!(t.check("alice", B, now), Ok(()));
        assert_eq!(t.check("bob", A, now), Ok(()));
        assert_eq!(t.check("alice", A, now + Duration::from_secs(5)), Ok(()));
        t.succeeded("alice", A);
        assert_eq!(t.failed("alice", A, now).as_secs(), 0);
    }

    #[test]
    fn an_address_spraying_names_is_locked() {
        let t = LoginThrottle::new(10, 3);
        let now = Instant::now();
        for i in 0..10 {
            assert_eq!(t.failed(&format!("u{i}"), A, now), Duration::ZERO);
        }
        assert_eq!(t.failed("u10", A, now), Duration::from_secs(1));
        assert!(t.check("anyone", A, now).is_err());
        assert!(t.check("anyone", B, now).is_ok());
        assert!(t.failed("u11", A, now + FORGET_AFTER) == Duration::ZERO);
    }

    #[test]
    fn work_budget_refills() {
        let b = WorkBudget::new(600);
        let now = Instant::now();
        assert!(b.charge(1, 600, now).is_ok());
        let wait = b.charge(1, 10, now).unwrap_err();
        assert_eq!(wait, Duration::from_secs(1));
        assert!(b.charge(2, 10, now).is_ok(), "budgets are per user");
        assert!(b.charge(1, 10, now + Duration::from_secs(1)).is_ok());
        assert!(b.charge(1, 601, now + Duration::from_secs(120)).is_err());
    }

    #[test]
    fn connection_slots_count_and_release() {
        let l = ConnLimiter::new(2);
        let a1 = l.open(A);
        let a2 = l.open(A);
        let a3 = l.open(A);
        let b1 = l.open(B);
        assert!(!a1.over && !a2.over && a3.over && !b1.over);
        drop(a3);
        drop(a2);
        assert!(!l.open(A).over);
    }
}

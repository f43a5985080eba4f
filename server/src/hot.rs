//! The rows almost every call reads, kept in memory: which machine a name is, and the
//! caller's role on it. Tokens have their own cache (`auth::TokenCache`); both are emptied
//! together by [`Invalidation::changed`].
//!
//! Every change to users, machines, permissions or tokens empties them: on this replica
//! when its transaction commits, and on every other replica sharing a PostgreSQL database
//! through `NOTIFY igor_changed`, sent inside that transaction (so it is delivered when,
//! and only if, the change commits) and heard by each replica's listener
//! ([`crate::db::listen`]). While a replica's listener is not connected the caches are off
//! (every call reads the database), and they are emptied when it connects again, so a
//! notification missed in between cannot leave a stale row behind. SQLite is one process
//! (igord holds a lock on its file), so there the local emptying is the whole story.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::auth::TokenCache;
use crate::db::models::Machine;

/// What a lookup of `(caller, machine name)` found: the machine (if it exists) and the
/// caller's role on it (always `None` for an admin, who needs none).
pub type Found = Option<(Machine, Option<String>)>;

/// Bounds the memory a caller naming many distinct machines (or missing names) can take.
const MAX_ENTRIES: usize = 100_000;

/// Machine lookups by `(user id, or 0 for admins; machine name)`.
#[derive(Default)]
pub struct HotRows {
    entries: Mutex<HashMap<(i64, String), Found>>,
}

/// The caches and whether they may be used; see the module docs.
pub struct Invalidation {
    pub rows: HotRows,
    pub tokens: TokenCache,
    /// Bumped by every change: a lookup that started before a change must not put back
    /// what the change removed.
    generation: AtomicU64,
    /// False while changes made elsewhere could go unheard (a shared database whose
    /// listener is not connected).
    live: AtomicBool,
}

impl Invalidation {
    /// `shared`: other processes may change the database (PostgreSQL); the caches stay off
    /// until the listener reports it is listening.
    pub fn new(shared: bool) -> Self {
        Invalidation {
            rows: HotRows::default(),
            tokens: TokenCache::default(),
            generation: AtomicU64::new(0),
            live: AtomicBool::new(!shared),
        }
    }

    pub fn is_live(&self) -> bool {
        self.live.load(Ordering::SeqCst)
    }

    /// The listener's state: on (after emptying, since notifications may have been missed
    /// while it was away) or off.
    pub fn set_live(&self, live: bool) {
        self.changed();
        self.live.store(live, Ordering::SeqCst);
    }

    /// Taken before a database lookup and handed to `put` after it.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Something changed here or on another replica: forget everything.
    pub fn changed(&self) {
        if let Ok(mut e) = self.rows.entries.lock() {
            self.generation.fetch_add(1, Ordering::SeqCst);
            e.clear();
        }
        self.tokens.clear();
    }

    pub fn machine(&self, uid: Option<i64>, name: &str) -> Option<Found> {
        if !self.is_live() {
            return None;
        }
        let e = self.rows.entries.lock().ok()?;
        e.get(&(uid.unwrap_or(0), name.to_owned())).cloned()
    }

    pub fn put_machine(&self, uid: Option<i64>, name: &str, found: Found, generation: u64) {
        if !self.is_live() {
            return;
        }
        if let Ok(mut e) = self.rows.entries.lock() {
            // Checked under the lock `changed` takes, so no change can slip in between.
            if self.generation() != generation {
                return;
            }
            if e.len() >= MAX_ENTRIES {
                e.clear();
            }
            e.insert((uid.unwrap_or(0), name.to_owned()), found);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_during_a_lookup_wins() {
        let inv = Invalidation::new(false);
        let g = inv.generation();
        inv.changed();
        inv.put_machine(
            Some(7),
            "m1",
            Some((Machine::sample(), Some("viewer".into()))),
            g,
        );
        assert!(
            inv.machine(Some(7), "m1").is_none(),
            "a stale row was put back"
        );
        let g = inv.generation();
        inv.put_machine(
            Some(7),
            "m1",
            Some((Machine::sample(), Some("viewer".into()))),
            g,
        );
        assert!(inv.machine(Some(7), "m1").is_some());
        // Per caller: another user's role is not this one's.
        assert!(inv.machine(Some(8), "m1").is_none());
        inv.changed();
        assert!(inv.machine(Some(7), "m1").is_none());
    }

    #[test]
    fn a_shared_database_caches_nothing_until_its_listener_listens() {
        let inv = Invalidation::new(true);
        let g = inv.generation();
        inv.put_machine(None, "m1", None, g);
        assert!(inv.machine(None, "m1").is_none());
        inv.set_live(true);
        let g = inv.generation();
        inv.put_machine(None, "m1", None, g);
        assert!(inv.machine(None, "m1").is_some_and(|f| f.is_none()));
        inv.set_live(false);
        assert!(inv.machine(None, "m1").is_none());
    }
}

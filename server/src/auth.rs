//! Passwords (argon2id), bearer tokens (random, stored only as SHA-256 hashes), the
//! caller of a request, and the bounded pool that hashes passwords.

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc::PasswordHash};
use sha2::{Digest, Sha256};

/// Who is calling. Built from a valid token; never from anything the client asserts.
#[derive(Clone, Debug)]
pub struct Caller {
    pub id: i64,
    pub name: String,
    pub role: Role,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Admin,
    User,
}

impl Role {
    pub fn parse(s: &str) -> Role {
        // Anything but 'admin' gets the least privilege: the CHECK constraint keeps the
        // column to these two values anyway.
        if s == "admin" {
            Role::Admin
        } else {
            Role::User
        }
    }
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}

pub fn hash_password(password: &str) -> Result<String, String> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| format!("password hashing failed: {e}"))
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    match PasswordHash::new(hash) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// The pool that runs every argon2 hash and verification: a few threads of its own (never
/// actix's blocking pool, which the database calls use) and a short queue. Each hash takes
/// about 19 MiB and tens of milliseconds of a core, so a login flood must queue here and
/// be refused when the queue is full, instead of taking memory and every core.
pub struct Hasher {
    queue: std::sync::mpsc::SyncSender<Job>,
    /// One permit per job running or queued: taken before the caller does any other work
    /// for the hash (a login's database read), so a flood is refused before it costs that.
    slots: std::sync::Arc<tokio::sync::Semaphore>,
}

type Job = Box<dyn FnOnce() + Send>;

/// The hashing queue is full.
#[derive(Debug)]
pub struct HasherBusy;

/// A place on the hashing pool, held from [`Hasher::reserve`] until its job is done.
pub struct HashSlot {
    queue: std::sync::mpsc::SyncSender<Job>,
    permit: tokio::sync::OwnedSemaphorePermit,
}

impl Hasher {
    pub fn new(threads: usize, queue: usize) -> std::io::Result<Hasher> {
        let threads = threads.max(1);
        // The channel holds every permitted job, so a send with a permit never fails.
        let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(threads + queue);
        let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
        for i in 0..threads {
            let rx = rx.clone();
            std::thread::Builder::new()
                .name(format!("igord-hash-{i}"))
                .spawn(move || {
                    loop {
                        // The lock is held only while waiting for the next job.
                        let job = match rx.lock() {
                            Ok(rx) => rx.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })?;
        }
        Ok(Hasher {
            queue: tx,
            slots: std::sync::Arc::new(tokio::sync::Semaphore::new(threads + queue)),
        })
    }

    /// A place for one job, or `HasherBusy` at once when every place is taken.
    pub fn reserve(&self) -> Result<HashSlot, HasherBusy> {
        let permit = self
            .slots
            .clone()
            .try_acquire_owned()
            .map_err(|_| HasherBusy)?;
        Ok(HashSlot {
            queue: self.queue.clone(),
            permit,
        })
    }

    /// Runs `f` on the pool, or refuses at once when the queue is full.
    pub async fn run<T, F>(&self, f: F) -> Result<T, HasherBusy>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        self.reserve()?.run(f).await
    }
}

impl HashSlot {
    /// Runs `f` in the reserved place; the place is free again once `f` has returned.
    pub async fn run<T, F>(self, f: F) -> Result<T, HasherBusy>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let permit = self.permit;
        self.queue
            .try_send(Box::new(move || {
                let out = f();
                // Freed before the caller hears back, so a caller that goes on to reserve
                // again finds the place it just used.
                drop(permit);
                let _ = tx.send(out);
            }))
            .map_err(|_| HasherBusy)?;
        rx.await.map_err(|_| HasherBusy)
    }
}

/// Checked tokens (by hash), so calls cost no database lookup. An entry lives
/// `TOKEN_CACHE_TTL` at most, never past the token's expiry; logout and every change empty
/// it at once, on every replica (`crate::hot`).
#[derive(Default)]
pub struct TokenCache {
    entries: std::sync::Mutex<std::collections::HashMap<String, (Caller, std::time::Instant, i64)>>,
    /// Bumped by `clear`: a lookup that started before a clear must not put back what the
    /// clear removed (a user disabled while its token was being checked).
    generation: std::sync::atomic::AtomicU64,
}

/// A safety net only: revocation reaches every replica's cache through `crate::hot`.
pub const TOKEN_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(300);
/// Bounds the memory a flood of distinct tokens can take.
const TOKEN_CACHE_MAX: usize = 10_000;

impl TokenCache {
    pub fn get(&self, hash: &str, now_secs: i64) -> Option<Caller> {
        let entries = self.entries.lock().ok()?;
        let (caller, at, expires) = entries.get(hash)?;
        (at.elapsed() < TOKEN_CACHE_TTL && *expires > now_secs).then(|| caller.clone())
    }

    /// Taken before a database lookup, and handed to `put` after it.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    pub fn put(&self, hash: String, caller: Caller, expires_at: i64, generation: u64) {
        if let Ok(mut entries) = self.entries.lock() {
            // Checked under the lock that `clear` takes, so no clear can slip in between.
            if self.generation() != generation {
                return;
            }
            if entries.len() >= TOKEN_CACHE_MAX {
                entries.clear();
            }
            entries.insert(hash, (caller, std::time::Instant::now(), expires_at));
        }
    }

    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            self.generation
                .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            entries.clear();
        }
    }
}

/// A new bearer token: 256 random bits, `igor_` + hex.
pub fn new_token() -> Result<String, String> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness: {e}"))?;
    Ok(format!("igor_{}", hex::encode(bytes)))
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// A random password for the first admin when none is given: 20 characters from an
/// unambiguous alphabet (about 110 bits).
pub fn generate_password() -> Result<String, String> {
    const ALPHABET: &[u8] = b"abcdefghijkmnopqrstuvwxyzACDEFGHJKLMNPQRSTUVWXYZ23456789";
    let mut out = String::with_capacity(20);
    while out.len() < 20 {
        let mut b = [0u8; 32];
        getrandom::fill(&mut b).map_err(|e| format!("no randomness: {e}"))?;
        // Rejection sampling keeps the distribution uniform.
        for x in b {
            let limit = 256 - (256 % ALPHABET.len());
            if (x as usize) < limit && out.len() < 20 {
                out.push(ALPHABET[x as usize % ALPHABET.len()] as char);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_roundtrip() {
        let h = hash_password("s3cret").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_password("s3cret", &h));
        assert!(!verify_password("s3cret!", &h));
        assert!(!verify_password("s3cret", "not a hash"));
    }

    #[test]
    fn tokens_and_generated_passwords() {
        let a = new_token().unwrap();
        assert!(a.starts_with("igor_") && a.len() == 5 + 64);
        assert_ne!(a, new_token().unwrap());
        assert_eq!(token_hash(&a).len(), 64);
        let p = generate_password().unwrap();
        assert_eq!(p.len(), 20);
        assert_ne!(p, generate_password().unwrap());
    }

    /// Places are counted from the reservation, not from the send: with every place
    /// reserved the next caller is refused before it does anything, and a finished job
    /// frees its place.
    #[tokio::test]
    async fn hashing_places_are_taken_at_reservation() {
        let hasher = Hasher::new(1, 2).unwrap();
        let held: Vec<HashSlot> = (0..3).map(|_| hasher.reserve().unwrap()).collect();
        assert!(
            hasher.reserve().is_err(),
            "a fourth place beyond 1 thread + 2 queued"
        );
        let mut held = held.into_iter();
        let first = held.next().unwrap();
        assert_eq!(first.run(|| 7).await.unwrap(), 7);
        let again = hasher.reserve().expect("the finished job's place is free");
        assert_eq!(again.run(|| 8).await.unwrap(), 8);
    }
}

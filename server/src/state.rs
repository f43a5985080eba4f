//! Application state shared by every request, and `Ctx`, what a command handler gets: the
//! state, the authenticated caller, and helpers for the database and machine access.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::auth::{Caller, HashSlot, Hasher};
use crate::bmc::{BmcError, BmcPool, BmcTarget};
use crate::config::Config;
use crate::crypto::SecretKey;
use crate::db::models::{self, Machine};
use crate::db::{DbConn, DbError, Pool};
use crate::error::ApiError;
use crate::limits::{LoginThrottle, WorkBudget};
use crate::registry::{Access, Registry};

pub struct AppState {
    pub config: Config,
    /// The commands of the served level (the pin, or the newest).
    pub registry: Registry,
    pub pool: Pool,
    pub key: SecretKey,
    pub bmc: BmcPool,
    pub tokens: TokenCache,
    /// Every argon2 hash and verification runs here (bounded threads and queue).
    pub hasher: Hasher,
    pub logins: LoginThrottle,
    pub work: WorkBudget,
}

/// Recently checked tokens (by hash), so a burst of calls costs one database lookup. An
/// entry lives `TOKEN_CACHE_TTL` at most, never past the token's expiry; logout, and any
/// change to users, empty it here at once. Another replica sharing the database may honour
/// a revoked token for up to the TTL.
#[derive(Default)]
pub struct TokenCache {
    entries: std::sync::Mutex<std::collections::HashMap<String, (Caller, std::time::Instant, i64)>>,
    /// Bumped by `clear`: a lookup that started before a clear must not put back what the
    /// clear removed (a user disabled while its token was being checked).
    generation: std::sync::atomic::AtomicU64,
}

pub const TOKEN_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(2);
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

    pub fn forget(&self, hash: &str) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(hash);
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

/// One audit record of a call, waiting to be written.
pub struct AuditRow {
    pub at_ms: i64,
    pub machine: Option<String>,
    /// `ok` or the error code.
    pub outcome: String,
    pub duration_ms: u64,
    /// What the outcome alone cannot say (a bulk call's selector and counts).
    pub detail: Option<String>,
}

impl AppState {
    /// Writes the audit records of one call (one row, or one per machine of a bulk call)
    /// in one transaction. A failure is logged: the call has already happened.
    pub async fn audit(&self, user: String, command: String, rows: Vec<AuditRow>) {
        let written = self
            .db(move |c| {
                let rows: Vec<models::NewAudit<'_>> = rows
                    .iter()
                    .map(|r| models::NewAudit {
                        at_ms: r.at_ms,
                        user_name: &user,
                        command: &command,
                        machine: r.machine.as_deref(),
                        outcome: &r.outcome,
                        duration_ms: i64::try_from(r.duration_ms).unwrap_or(i64::MAX),
                        detail: r.detail.as_deref(),
                    })
                    .collect();
                models::audit_insert_many(c, &rows).map_err(ApiError::from)
            })
            .await;
        if let Err(e) = written {
            tracing::error!(error = %e, "audit records not written");
        }
    }

    /// Runs a password hash or verification on the bounded hashing pool; a full queue is
    /// 503 `busy` with `Retry-After`.
    pub async fn hash<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        self.hash_slot()?.run(f).await.map_err(|_| hasher_busy())
    }

    /// A place on the hashing pool, taken before the work that leads to the hash (a
    /// login's database read), so a flood beyond the pool is refused before it costs that.
    pub fn hash_slot(&self) -> Result<HashSlot, ApiError> {
        self.hasher.reserve().map_err(|_| hasher_busy())
    }

    /// Runs blocking diesel code on actix's blocking pool, never on an async worker.
    pub async fn db<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, ApiError> + Send + 'static,
    {
        let pool = self.pool.clone();
        actix_web::web::block(move || {
            let mut conn = pool
                .get()
                .map_err(|e| ApiError::internal(format!("database pool: {e}")))?;
            f(&mut conn)
        })
        .await
        .map_err(ApiError::internal)?
    }
}

#[derive(Clone)]
pub struct Ctx {
    pub state: Arc<AppState>,
    pub caller: Caller,
    /// The hash of the token this call came with.
    pub token_hash: String,
    /// Where the call came from (the TCP peer; no forwarding header is trusted).
    pub peer: Option<IpAddr>,
    /// Set for audited commands: the audit row a change writes in its own transaction.
    pub audit: Option<Arc<CallAudit>>,
}

/// The audit record of one call in progress. A change writes it in the same transaction
/// as the change (`Ctx::write`), so a change is never without its row nor a row without
/// its change; otherwise the HTTP edge writes it when the call ends.
pub struct CallAudit {
    pub command: String,
    pub machine: Option<String>,
    pub started: Instant,
    written: AtomicBool,
}

impl CallAudit {
    pub fn new(command: String, machine: Option<String>) -> Self {
        CallAudit {
            command,
            machine,
            started: Instant::now(),
            written: AtomicBool::new(false),
        }
    }

    /// Whether the row is already committed with the call's change.
    pub fn written(&self) -> bool {
        self.written.load(Ordering::SeqCst)
    }

    pub fn elapsed_ms(&self) -> u64 {
        u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX)
    }
}

impl Ctx {
    pub async fn db<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, ApiError> + Send + 'static,
    {
        self.state.db(f).await
    }

    /// Runs a change in one transaction together with the call's audit row (outcome `ok`):
    /// both are committed or neither is. A failed change rolls back, and the edge then
    /// records the failure.
    pub async fn write<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<T, ApiError> + Send + 'static,
    {
        let audit = self.audit.clone();
        let user = self.caller.name.clone();
        let written = self
            .db(move |c| {
                crate::db::transaction(c, |c| {
                    let value = f(c)?;
                    if let Some(a) = &audit {
                        models::audit_insert(
                            c,
                            &models::NewAudit {
                                at_ms: chrono::Utc::now().timestamp_millis(),
                                user_name: &user,
                                command: &a.command,
                                machine: a.machine.as_deref(),
                                outcome: "ok",
                                duration_ms: i64::try_from(a.elapsed_ms()).unwrap_or(i64::MAX),
                                detail: None,
                            },
                        )?;
                    }
                    Ok(value)
                })
            })
            .await?;
        if let Some(a) = &self.audit {
            a.written.store(true, Ordering::SeqCst);
        }
        Ok(written)
    }

    /// Runs a password hash or verification on the bounded hashing pool.
    pub async fn hash<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce() -> T + Send + 'static,
    {
        self.state.hash(f).await
    }

    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.caller.is_admin() {
            Ok(())
        } else {
            Err(ApiError::Forbidden(
                "this command needs the admin role".into(),
            ))
        }
    }

    /// The machine `name` if the caller may act on it with `need` (viewer or operator).
    /// A user without permission learns nothing: the answer is the same 403 whether or not
    /// the machine exists. Admins pass, and get 404 for a machine that does not exist.
    pub async fn machine(&self, name: &str, need: Access) -> Result<Machine, ApiError> {
        let caller = self.caller.clone();
        let name = name.to_owned();
        self.db(move |c| {
            let denied = || ApiError::Forbidden(format!("not permitted on machine '{name}'"));
            let machine = match models::machine_by_name(c, &name) {
                Ok(m) => m,
                Err(DbError::NotFound) if !caller.is_admin() => return Err(denied()),
                Err(e) => return Err(ApiError::db(e, "machine", &name)),
            };
            if caller.is_admin() {
                return Ok(machine);
            }
            let role = models::permission_role(c, caller.id, machine.id)?;
            if need.allowed_by(role.as_deref()) {
                Ok(machine)
            } else if role.is_some() {
                Err(ApiError::Forbidden(format!(
                    "not permitted on machine '{name}': this needs the operator role"
                )))
            } else {
                Err(denied())
            }
        })
        .await
    }
}

impl Ctx {
    /// How to reach a machine's BMC, with its password decrypted for this call only.
    pub fn target(&self, m: &Machine) -> Result<BmcTarget, ApiError> {
        let password = self
            .state
            .key
            .decrypt(&m.bmc_password_enc)
            .map_err(|e| ApiError::internal(format!("machine '{}': {e}", m.name)))?;
        Ok(BmcTarget {
            host: m.bmc_host.clone(),
            port: u16::try_from(m.bmc_port).unwrap_or(623),
            username: m.bmc_user.clone(),
            password,
            cipher_suite: u8::try_from(m.cipher_suite).unwrap_or(3),
        })
    }
}

/// Maps a BMC failure on machine `name` to its HTTP answer: the BMC's error is
/// 502 with the completion code named, silence is 504, a missing record 404.
pub fn bmc_error(name: &str, e: BmcError) -> ApiError {
    let message = format!("machine '{name}': {e}");
    match e {
        BmcError::Timeout(_) => ApiError::BmcTimeout(message),
        BmcError::AuthFailed => ApiError::Bmc {
            code: "bmc_auth_failed",
            message: format!(
                "machine '{name}': the BMC refused the credentials; check the BMC user and password (machine-mod)"
            ),
            details: None,
        },
        BmcError::Completion { code, meaning } => ApiError::Bmc {
            code: "bmc_completion_code",
            message,
            details: Some(serde_json::json!({
                "completion_code": format!("{code:#04x}"),
                "meaning": meaning,
            })),
        },
        BmcError::NotFound => ApiError::NotFound(message),
        BmcError::Unreachable(_) => ApiError::Bmc {
            code: "bmc_unreachable",
            message,
            details: None,
        },
        BmcError::Protocol(_) => ApiError::Bmc {
            code: "bmc_protocol_error",
            message,
            details: None,
        },
    }
}

/// Seconds since the Unix epoch.
pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// RFC 3339 of Unix seconds, for outputs.
pub fn rfc3339(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// The answer when the hashing pool has no place left: 503 `busy` with `Retry-After`.
pub fn hasher_busy() -> ApiError {
    ApiError::Busy("too many password checks at once; try again".into())
}

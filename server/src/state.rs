//! Application state shared by every request, and `Ctx`, what a command handler gets: the
//! state, the authenticated caller, and helpers for the database and machine access.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use crate::access::{self, Access, Who};
use crate::auth::{Caller, HashSlot, Hasher};
use crate::bmc::{BmcPool, BmcTarget};
use crate::config::Config;
use crate::crypto::SecretKey;
use crate::db::models::{self, Machine};
use crate::db::{DbConn, Pool};
use crate::error::ApiError;
use crate::hot::{Found, Invalidation};
use crate::limits::{LoginThrottle, WorkBudget};

pub struct AppState {
    pub config: Config,
    /// What the served level (the pin, or the newest) publishes. The commands themselves
    /// (`registry::Registry`) live at the HTTP edge, which dispatches to them.
    pub published: Arc<Published>,
    pub pool: Pool,
    pub key: SecretKey,
    pub bmc: BmcPool,
    /// Serial consoles: one SOL session per machine, shared by its clients.
    pub consoles: Arc<crate::console::Consoles>,
    /// Tokens and machine lookups kept in memory, and what empties them (`crate::hot`).
    pub caches: Arc<Invalidation>,
    /// Every argon2 hash and verification runs here (bounded threads and queue).
    pub hasher: Hasher,
    pub logins: LoginThrottle,
    pub work: WorkBudget,
    /// What `GET /metrics` exports (the BMC pool holds its own share).
    pub metrics: Arc<crate::metrics::Metrics>,
}

/// The served level's schema document, and its JSON as `GET /api/schema` answers it.
pub struct Published {
    pub document: schema::SchemaDocument,
    pub document_json: Vec<u8>,
}

impl Published {
    pub fn level(&self) -> schema::ApiLevel {
        self.document.api_level
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
    /// The call's parameters as JSON, secrets masked (`Entry::audit_params`); one copy
    /// shared by every row of a bulk call.
    pub params: Option<Arc<str>>,
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
                        params: r.params.as_deref(),
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

/// What `names` are for the caller `uid` (`None`: an admin), in their order: read in one
/// query and kept in the hot rows, under the generation taken before the read (so a change
/// made meanwhile is not undone). What single-machine calls and bulk calls both use when
/// the hot rows do not have a name.
pub fn load_machines(
    c: &mut DbConn,
    caches: &Invalidation,
    uid: Option<i64>,
    names: Vec<String>,
    generation: u64,
) -> Result<Vec<Found>, ApiError> {
    let mut by_name: std::collections::HashMap<String, (Machine, Option<String>)> =
        models::machines_named(c, uid, &names)?
            .into_iter()
            .map(|f| (f.0.name.clone(), f))
            .collect();
    Ok(names
        .into_iter()
        .map(|name| {
            let found = by_name.remove(&name);
            caches.put_machine(uid, &name, found.clone(), generation);
            found
        })
        .collect())
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
    /// The call's parameters as its audit records keep them (secrets masked).
    pub audit_params: Option<Arc<str>>,
}

/// The audit record of one call in progress. A change writes it in the same transaction
/// as the change (`Ctx::write`), so a change is never without its row nor a row without
/// its change; otherwise the HTTP edge writes it when the call ends.
pub struct CallAudit {
    pub command: String,
    pub machine: Option<String>,
    /// The call's parameters as JSON, secrets masked; recorded from level 1.5's audit on.
    pub params: Option<Arc<str>>,
    pub started: Instant,
    written: AtomicBool,
}

impl CallAudit {
    pub fn new(command: String, machine: Option<String>) -> Self {
        CallAudit {
            command,
            machine,
            params: None,
            started: Instant::now(),
            written: AtomicBool::new(false),
        }
    }

    pub fn with_params(mut self, params: Option<Arc<str>>) -> Self {
        self.params = params;
        self
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
        self.write_recorded(move |c| f(c).map(|v| (v, None))).await
    }

    /// As [`Ctx::write`], with the audit row's detail saying what the change created or
    /// removed (ids included), as only the transaction knows it.
    pub async fn write_recorded<T, F>(&self, f: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConn) -> Result<(T, Option<String>), ApiError> + Send + 'static,
    {
        let audit = self.audit.clone();
        let user = self.caller.name.clone();
        let written = self
            .db(move |c| {
                crate::db::transaction(c, |c| {
                    let (value, detail) = f(c)?;
                    crate::db::notify_changed(c)?;
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
                                detail: detail.as_deref(),
                                params: a.params.as_deref(),
                            },
                        )?;
                    }
                    Ok(value)
                })
            })
            .await?;
        self.state.caches.changed();
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

    /// The machine `name` if the caller may act on it with `need` (viewer or operator),
    /// decided by `access::on_machine` like every other machine access.
    pub async fn machine(&self, name: &str, need: Access) -> Result<Machine, ApiError> {
        let who = self.who();
        // Admins need no role, so one cached answer serves them all.
        let uid = (!who.admin).then_some(self.caller.id);
        let caches = self.state.caches.clone();
        let found = match caches.machine(uid, name) {
            Some(found) => found,
            None => {
                let generation = caches.generation();
                let key = name.to_owned();
                self.db(move |c| {
                    let mut found = load_machines(c, &caches, uid, vec![key], generation)?;
                    Ok(found.pop().flatten())
                })
                .await?
            }
        };
        access::on_machine(
            who,
            name,
            found.as_ref().map(|(m, role)| (m, role.as_deref())),
            need,
        )
    }

    /// The caller, as machine access sees it.
    pub fn who(&self) -> Who {
        Who {
            admin: self.caller.is_admin(),
        }
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
        // The schemas bound both columns; a row outside them was written by something else,
        // and guessing a port or cipher suite would send the password somewhere unintended.
        let port = u16::try_from(m.bmc_port).map_err(|_| {
            ApiError::internal(format!(
                "machine '{}': stored BMC port {} is out of range",
                m.name, m.bmc_port
            ))
        })?;
        let cipher_suite = u8::try_from(m.cipher_suite).map_err(|_| {
            ApiError::internal(format!(
                "machine '{}': stored cipher suite {} is out of range",
                m.name, m.cipher_suite
            ))
        })?;
        let redfish = match m.driver.as_str() {
            "ipmi" => None,
            "redfish" => {
                use crate::bmc::redfish::tls::Trust;
                // Never a Redfish call without a way to trust the certificate: machine-add
                // and machine-mod always store one.
                let trust = match (&m.tls_ca, &m.tls_pin) {
                    (Some(ca), _) => Trust::Ca(ca.clone()),
                    (None, Some(pin)) => Trust::Pinned(pin.clone()),
                    (None, None) => {
                        return Err(ApiError::internal(format!(
                            "machine '{}': a Redfish BMC with neither a pinned certificate nor a CA",
                            m.name
                        )));
                    }
                };
                let system = m.redfish_system.clone().ok_or_else(|| {
                    ApiError::internal(format!(
                        "machine '{}': a Redfish BMC without its ComputerSystem",
                        m.name
                    ))
                })?;
                Some(crate::bmc::RedfishLink { trust, system })
            }
            other => {
                return Err(ApiError::internal(format!(
                    "machine '{}': unknown driver '{other}'",
                    m.name
                )));
            }
        };
        Ok(BmcTarget {
            host: m.bmc_host.clone(),
            port,
            username: m.bmc_user.clone(),
            password,
            cipher_suite,
            redfish,
        })
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

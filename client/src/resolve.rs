//! Where the command tree comes from, in this order: a fresh cache, a
//! conditional refresh, a bundled schema for a server that publishes none, and a stale
//! cache or bundle when the server cannot be reached. The clock and the HTTP client are
//! parameters, so every branch is testable without a server.

use std::fmt;

use anyhow::{Result, anyhow};
use schema::{ApiLevel, LazyDocument, PingResponse};
use schema_compat::{PickError, pick_from};

use crate::cache::{Cache, Cached, Meta, Origin, parse_verified};
use crate::diag::Diag;
use crate::http::{Http, HttpRequest, HttpResponse, Unreachable};

/// The TTL when the server sends no `Cache-Control: max-age`.
pub const DEFAULT_TTL_SECS: u64 = 3600;

/// How the document of this run was obtained, as `-v` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    Cache,
    Refreshed,
    Revalidated,
    Bundled(ApiLevel),
    StaleCache,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Cache => f.write_str("cache"),
            Source::Refreshed => f.write_str("refreshed"),
            Source::Revalidated => f.write_str("revalidated (304)"),
            Source::Bundled(l) => write!(f, "bundled {l}"),
            Source::StaleCache => f.write_str("stale cache"),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Resolved {
    pub doc: LazyDocument,
    pub source: Source,
    /// Set when the server could not be reached: the document serves `--help` and
    /// completion, but a call must fail with this reason (`exit::offline`).
    pub offline: Option<Unreachable>,
}

/// One run's view of one server's schema.
pub struct Resolver<'a> {
    pub server: &'a str,
    pub cache: &'a Cache,
    pub http: &'a dyn Http,
    /// Unix seconds.
    pub now: u64,
    /// The bundles this client may use (already limited by `IGOR_KNOWN_LEVEL`).
    pub bundles: &'a dyn crate::version::BundleSet,
    pub diag: &'a Diag,
}

impl Resolver<'_> {
    /// Steps 1 to 4. Errors only when nothing at all can serve: no schema anywhere, or a
    /// server that publishes none and that no bundle fits.
    pub fn resolve(&self, force: bool) -> Result<Resolved> {
        let mut cached = self.cache.load(self.server, self.diag);
        if !force
            && let Some(c) = &mut cached
            && c.meta.is_fresh(self.now)
            && let Some(doc) = self.take_doc(c)
        {
            return Ok(Resolved {
                doc,
                source: match c.meta.origin {
                    Origin::Server => Source::Cache,
                    Origin::Bundled => Source::Bundled(c.meta.api_level),
                },
                offline: None,
            });
        }
        self.refresh(cached.as_ref())
    }

    /// Only what is on disk or in the binary, for completion: no network at all.
    pub fn offline_only(&self) -> Option<Resolved> {
        let cached = self.cache.load(self.server, self.diag);
        cached.as_ref().and_then(|c| {
            Some(Resolved {
                doc: self.doc_of(c)?,
                source: if c.meta.is_fresh(self.now) {
                    Source::Cache
                } else {
                    Source::StaleCache
                },
                offline: None,
            })
        })
    }

    /// `doc_of` without copying a document read from disk: the fresh-cache path of every
    /// start, where the entry is not needed afterwards.
    fn take_doc(&self, c: &mut Cached) -> Option<LazyDocument> {
        match c.meta.origin {
            Origin::Server => c.doc.take(),
            Origin::Bundled => self.doc_of(c),
        }
    }

    /// The document a cache entry stands for; a bundled entry whose bundle this client no
    /// longer offers (another `IGOR_KNOWN_LEVEL`) is a miss.
    fn doc_of(&self, c: &Cached) -> Option<LazyDocument> {
        match c.meta.origin {
            Origin::Server => c.doc.clone(),
            Origin::Bundled => self
                .bundles
                .docs()
                .iter()
                .find(|b| b.api_level == c.meta.api_level && b.fingerprint == c.meta.fingerprint)
                .cloned(),
        }
    }

    /// Step 2 (conditional GET) and what follows from its answer.
    pub fn refresh(&self, cached: Option<&Cached>) -> Result<Resolved> {
        let mut req = HttpRequest::get(format!("{}/api/schema", self.server));
        let cached_server_doc = cached.filter(|c| c.meta.origin == Origin::Server);
        if let Some(c) = cached_server_doc {
            req = req.header("If-None-Match", format!("\"{}\"", c.meta.fingerprint));
        }
        let resp = match self.http.send(req) {
            Ok(r) => r,
            Err(e) => return self.fallback(cached, e),
        };
        match resp.status {
            304 => {
                if let Some(c) = cached_server_doc
                    && let Some(doc) = c.doc.clone()
                {
                    let meta = Meta {
                        fetched_at: self.now,
                        ttl_secs: ttl_of(&resp),
                        ..c.meta.clone()
                    };
                    self.cache.store_meta(self.server, &meta, self.diag);
                    return Ok(Resolved {
                        doc,
                        source: Source::Revalidated,
                        offline: None,
                    });
                }
                // A 304 to a request without If-None-Match is a server bug; ask plainly.
                self.fetch_unconditional()
            }
            200 => self.accept(&resp),
            404 => self.bundled_for_server(),
            status => self.fallback(
                cached,
                Unreachable::answer(format!("GET /api/schema answered HTTP {status}")),
            ),
        }
    }

    fn fetch_unconditional(&self) -> Result<Resolved> {
        let req = HttpRequest::get(format!("{}/api/schema", self.server));
        match self.http.send(req) {
            Ok(resp) if resp.status == 200 => self.accept(&resp),
            Ok(resp) => self.fallback(
                None,
                Unreachable::answer(format!("GET /api/schema answered HTTP {}", resp.status)),
            ),
            Err(e) => self.fallback(None, e),
        }
    }

    /// A 200: verify, cache, use. A document failing its own checksum is not cached, and
    /// not trusted either: it falls back like an unusable server.
    fn accept(&self, resp: &HttpResponse) -> Result<Resolved> {
        let doc = match parse_verified(&resp.body) {
            Ok(doc) => doc,
            Err(e) => {
                return self.fallback(
                    self.cache.load(self.server, self.diag).as_ref(),
                    Unreachable::answer(format!("the server's schema is unusable: {e}")),
                );
            }
        };
        let meta = Meta {
            fetched_at: self.now,
            ttl_secs: ttl_of(resp),
            fingerprint: doc.fingerprint.clone(),
            api_level: doc.api_level,
            origin: Origin::Server,
            file_sha256: None,
        };
        self.cache
            .store_schema(self.server, &resp.body, &meta, self.diag);
        Ok(Resolved {
            doc,
            source: Source::Refreshed,
            offline: None,
        })
    }

    /// Step 3: the server has no schema endpoint; ask its level and take the floor bundle.
    fn bundled_for_server(&self) -> Result<Resolved> {
        let level = match self.ping() {
            Ok(p) => p.api_level,
            Err(e) => return self.fallback(None, e),
        };
        let doc = pick_from(self.bundles.docs(), level).map_err(|e| match e {
            PickError::NoBundles => anyhow!(
                "the server at {} has API level {level} and publishes no schema, and this client carries no bundled schema (newest known level: none)",
                self.server
            ),
            too_old @ PickError::ServerTooOld { .. } => {
                anyhow!("server at {}: {too_old}", self.server)
            }
        })?;
        let meta = Meta {
            fetched_at: self.now,
            ttl_secs: DEFAULT_TTL_SECS,
            fingerprint: doc.fingerprint.clone(),
            api_level: doc.api_level,
            origin: Origin::Bundled,
            file_sha256: None,
        };
        self.cache.store_meta(self.server, &meta, self.diag);
        Ok(Resolved {
            doc: doc.clone(),
            source: Source::Bundled(doc.api_level),
            offline: None,
        })
    }

    pub fn ping(&self) -> Result<PingResponse, Unreachable> {
        let resp = self
            .http
            .send(HttpRequest::get(format!("{}/api/ping", self.server)))?;
        if resp.status != 200 {
            return Err(Unreachable::answer(format!(
                "GET /api/ping answered HTTP {}",
                resp.status
            )));
        }
        serde_json::from_str(&resp.body)
            .map_err(|e| Unreachable::answer(format!("GET /api/ping answered something else: {e}")))
    }

    /// Step 4: whatever we have, with one warning; the call itself will be refused.
    fn fallback(&self, cached: Option<&Cached>, why: Unreachable) -> Result<Resolved> {
        // A refused certificate is no outage: working on from a cache would only bury the
        // refusal under a warning.
        if self.http.tls().is_some_and(|t| t.peek_refusal().is_some()) {
            return Err(anyhow!("refusing {}: {why}", self.server));
        }
        let reason = format!("cannot reach the server at {}: {why}", self.server);
        let offline = Unreachable {
            message: reason.clone(),
            ..why
        };
        if let Some(c) = cached
            && let Some(doc) = self.doc_of(c)
        {
            self.diag
                .warn(format_args!("{reason}; using the cached schema"));
            return Ok(Resolved {
                doc,
                source: Source::StaleCache,
                offline: Some(offline),
            });
        }
        if let Some(doc) = self.bundles.docs().iter().max_by_key(|d| d.api_level) {
            self.diag.warn(format_args!(
                "{reason}; using the bundled schema of level {}",
                doc.api_level
            ));
            return Ok(Resolved {
                doc: doc.clone(),
                source: Source::Bundled(doc.api_level),
                offline: Some(offline),
            });
        }
        Err(crate::exit::offline(Unreachable {
            message: format!("{reason}, and no schema is cached for it"),
            ..offline
        }))
    }
}

/// `Cache-Control: max-age=N`; `no-cache`/`no-store` mean revalidate every time.
pub fn ttl_of(resp: &HttpResponse) -> u64 {
    let Some(cc) = resp.header("Cache-Control") else {
        return DEFAULT_TTL_SECS;
    };
    let mut ttl = DEFAULT_TTL_SECS;
    for directive in cc.split(',').map(str::trim) {
        if directive.eq_ignore_ascii_case("no-cache") || directive.eq_ignore_ascii_case("no-store")
        {
            return 0;
        }
        if let Some(n) = directive.strip_prefix("max-age=")
            && let Ok(n) = n.trim_matches('"').parse()
        {
            ttl = n;
        }
    }
    ttl
}

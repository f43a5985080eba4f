//! The context of one run of `igor` (not to be confused with the contexts of
//! `config.toml`): `App`, which carries everything with side effects (HTTP, clock, prompts,
//! stdout) so tests can drive a run, the helpers the built-ins and the dispatch share
//! (configuration, target, tokens, schema resolution), the exit codes, and how errors are
//! printed. `app.rs` (the dispatch) and `cmd/*` (the built-ins) both build on this module;
//! neither `cmd/*` nor this module imports `app.rs`.

use std::io::Write;

use anyhow::Result;

use crate::auth::{Loaded, TokenState, TokenStore};
use crate::cache::Cache;
use crate::call::ApiError;
use crate::config::{Config, EnvVars, Paths, Target, resolve_target};
use crate::diag::Diag;
use crate::http::Http;
use crate::prompt::Prompter;
use crate::resolve::{Resolved, Resolver};
use crate::scan::Scan;

pub struct App<'a> {
    pub env: EnvVars,
    pub paths: Paths,
    pub scan: Scan,
    pub diag: &'a Diag,
    pub http: &'a dyn Http,
    /// Unix seconds.
    pub now: u64,
    /// Bundles this client may use, and the newest known one (see `version.rs`).
    pub bundles: crate::version::Bundles,
    pub known: Option<crate::version::Known>,
    pub prompter: &'a mut dyn Prompter,
    pub out: &'a mut dyn Write,
    /// Whether stdout is a terminal: tables are boxed there, plain columns elsewhere.
    pub tty: bool,
    /// Colours for stdout and for stderr, each decided for its own stream (`color.rs`).
    pub paint_out: crate::color::Paint,
    pub paint_err: crate::color::Paint,
}

pub use crate::exit::{EXIT_FAILED, EXIT_OK, EXIT_PARTIAL, EXIT_UNREACHABLE, EXIT_USAGE};

/// Prints an error the way users see every error: `error: ...` with its causes, never a
/// Debug dump or backtrace; a server refusal adds its details line by line. `paint` is
/// stderr's (red on a terminal).
pub fn print_error(e: &anyhow::Error, paint: crate::color::Paint) {
    crate::exit::stderr_line(format_args!("{} {e:#}", paint.bad("error:")));
    if let Some(api) = e.downcast_ref::<ApiError>() {
        for line in api.detail_lines() {
            crate::exit::stderr_line(format_args!("  {line}"));
        }
    }
}

impl App<'_> {
    pub fn config(&self) -> Result<Config> {
        Config::load(&self.paths.config_file)
    }

    /// The server, identity and trust of this run. Every path that talks to a server comes
    /// through here: it hands the trust to the HTTP layer and warns about cleartext.
    pub fn target(&self) -> Result<Target> {
        let mut t = resolve_target(
            &self.config()?,
            self.scan.server.as_deref(),
            self.scan.context.as_deref(),
            &self.env,
        )?;
        if let Some(ca) = &self.scan.certificate_authority {
            t.certificate_authority = Some(std::path::PathBuf::from(ca));
        }
        if crate::config::is_cleartext_remote(&t.server) {
            self.diag.warn(format_args!(
                "{} is plain http to another host: passwords and tokens travel in clear; use https",
                t.server
            ));
        }
        if let Some(tls) = self.http.tls() {
            let known = crate::tls::KnownServers::load(&self.paths.known_servers)?;
            tls.set_trust(crate::tls::trust_for(
                &t.server,
                t.certificate_authority.clone(),
                self.scan.trust_fingerprint.as_deref(),
                &known,
            )?);
        }
        Ok(t)
    }

    pub fn cache(&self) -> Cache {
        Cache::new(self.paths.cache_dir.clone())
    }

    pub fn tokens(&self) -> TokenStore {
        TokenStore::new(self.paths.token_dir.clone())
    }

    /// The stored login of the target's identity (context, or bare URL).
    pub fn stored_login(&self, t: &Target) -> Option<Loaded> {
        let loaded = self
            .tokens()
            .load(&t.identity, &t.server, t.user.as_deref())?;
        if let Some(from) = &loaded.adopted_from {
            self.diag.info(format_args!(
                "moved the login of {} from the per-server file {} to {}",
                loaded.token.user,
                from.display(),
                t.identity
            ));
        }
        Some(loaded)
    }

    /// `IGOR_TOKEN` first (CI), then the stored token of the target's identity. Says under
    /// `-v` who the call runs as.
    pub fn token(&self, t: &Target) -> (Option<String>, TokenState) {
        if let Some(tok) = &self.env.token {
            self.diag.info("as: the user of the token in IGOR_TOKEN");
            return (Some(tok.clone()), TokenState::None);
        }
        let loaded = self.stored_login(t);
        let state = TokenState::of(loaded.as_ref().map(|l| &l.token), self.now);
        self.diag.info(format_args!(
            "as: {} ({})",
            match &state {
                TokenState::Valid { user, .. } | TokenState::Expired { user, .. } => user.as_str(),
                TokenState::None => "nobody",
            },
            match &state {
                TokenState::None => format!("{}: not logged in", t.identity),
                other => format!("{}: {other}", t.identity),
            }
        ));
        (loaded.map(|l| l.token.token), state)
    }

    pub fn force_schema_check(&self) -> bool {
        self.scan.force_schema_check || self.env.force_schema_check
    }

    pub fn with_resolver<T>(&self, server: &str, f: impl FnOnce(&Resolver<'_>) -> T) -> T {
        let cache = self.cache();
        let r = Resolver {
            server,
            cache: &cache,
            http: self.http,
            now: self.now,
            bundles: &self.bundles,
            diag: self.diag,
        };
        f(&r)
    }

    pub fn resolve(&self, server: &str, force: bool) -> Result<Resolved> {
        self.with_resolver(server, |r| r.resolve(force))
    }
}

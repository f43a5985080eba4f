//! Bearer tokens on disk: one file per identity in the config folder's `tokens/`, readable by
//! the user alone (0600 in a 0700 folder). An identity is a context (`context-NAME.toml`), or
//! a bare `--server URL` used without one (`server-URL.toml`), so two contexts for the same
//! server never share or overwrite a login, as kubectl keeps users apart from clusters.
//! `IGOR_TOKEN` beats the file (CI). Token values are never printed or logged; this
//! module's token types do not even implement `Debug`.
//!
//! Files of the older layout (one per server URL, `tokens/URL.toml`) are adopted by the first
//! identity of that server that asks for a token and whose context names the same user (or
//! none): the file is moved, so no second context can inherit it.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result};
use serde::{Deserialize, Serialize};

use crate::cache::sanitize;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredToken {
    pub server: String,
    pub user: String,
    pub expires_at: String,
    pub token: String,
}

/// Whose login a run uses: a context's, or a bare server URL's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Identity {
    Context(String),
    Server(String),
}

impl Identity {
    fn file_name(&self) -> String {
        match self {
            Identity::Context(name) => format!("context-{}.toml", escape_name(name)),
            Identity::Server(url) => format!("server-{}.toml", escape_name(url)),
        }
    }
}

impl Identity {
    /// ` in context 'NAME'` for messages that already name the server; empty for a bare URL.
    pub fn suffix(&self) -> String {
        match self {
            Identity::Context(name) => format!(" in context '{name}'"),
            Identity::Server(_) => String::new(),
        }
    }
}

impl std::fmt::Display for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Identity::Context(name) => write!(f, "context '{name}'"),
            Identity::Server(url) => write!(f, "{url} (no context)"),
        }
    }
}

/// A file name that is a function of the name and of nothing else: `a b` and `a_b` must not
/// share a token file, so everything but `[A-Za-z0-9.-]` is hex-escaped as `_XX`.
fn escape_name(name: &str) -> String {
    let mut out = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b == b'.' || b == b'-' {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("_{b:02x}"));
        }
    }
    out
}

/// What `igor config show` and `-v` say about a login.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenState {
    Valid { user: String, until: String },
    Expired { user: String, at: String },
    None,
}

impl TokenState {
    pub fn of(t: Option<&StoredToken>, now: u64) -> Self {
        let Some(t) = t else { return TokenState::None };
        // An expiry we cannot read is shown as it is, and trusted to the server to judge.
        let expired = parse_rfc3339(&t.expires_at).is_some_and(|at| at <= now as i64);
        if expired {
            TokenState::Expired {
                user: t.user.clone(),
                at: t.expires_at.clone(),
            }
        } else {
            TokenState::Valid {
                user: t.user.clone(),
                until: t.expires_at.clone(),
            }
        }
    }
}

impl std::fmt::Display for TokenState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenState::Valid { user, until } => {
                write!(f, "logged in as {user}, valid until {until}")
            }
            TokenState::Expired { user, at } => {
                write!(f, "the token of {user} expired at {at}; run 'igor login'")
            }
            TokenState::None => f.write_str("not logged in"),
        }
    }
}

/// Unix seconds of an RFC 3339 time as igord writes it (`2030-01-01T00:00:00Z`, or with a
/// `+HH:MM` offset and fractional seconds).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { s.get(r)?.parse().ok() };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes().first()? {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let (oh, om) = rest[1..].split_once(':')?;
            sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60)
        }
    };
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + sec - offset)
}

/// A token found for an identity, and the legacy file it was adopted from, if any.
pub struct Loaded {
    pub token: StoredToken,
    pub adopted_from: Option<PathBuf>,
}

pub struct TokenStore {
    dir: PathBuf,
}

impl TokenStore {
    pub fn new(dir: PathBuf) -> Self {
        TokenStore { dir }
    }

    pub fn path(&self, id: &Identity) -> PathBuf {
        self.dir.join(id.file_name())
    }

    /// The older layout: one file per server URL, shared by every context of that server.
    fn legacy_path(&self, server: &str) -> PathBuf {
        self.dir.join(format!("{}.toml", sanitize(server)))
    }

    /// The stored token of `id` for `server`; an unreadable or malformed file, or one kept
    /// for another server (the context's URL changed since), counts as logged out.
    /// `want_user`: the context's user, which a legacy file must match to be adopted.
    pub fn load(&self, id: &Identity, server: &str, want_user: Option<&str>) -> Option<Loaded> {
        if let Some(t) = read(&self.path(id)) {
            return (t.server == server).then_some(Loaded {
                token: t,
                adopted_from: None,
            });
        }
        let legacy = self.legacy_path(server);
        let t = read(&legacy)?;
        if t.server != server || want_user.is_some_and(|u| u != t.user) {
            return None;
        }
        // Moved, not copied: the old file was everybody's, the new one is this identity's.
        fs::rename(&legacy, self.path(id)).ok()?;
        Some(Loaded {
            token: t,
            adopted_from: Some(legacy),
        })
    }

    pub fn save(&self, id: &Identity, t: &StoredToken) -> Result<PathBuf> {
        create_private_dir(&self.dir)?;
        let path = self.path(id);
        let text = toml::to_string(t).context("cannot encode the token file")?;
        crate::cache::write_atomic_with_mode(&path, text.as_bytes(), Some(0o600))
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    }

    /// Deletes the token file; `Ok(false)` when there was none.
    pub fn delete(&self, id: &Identity) -> Result<bool> {
        let path = self.path(id);
        match fs::remove_file(&path) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e).with_context(|| format!("cannot delete {}", path.display())),
        }
    }
}

fn read(path: &Path) -> Option<StoredToken> {
    let text = fs::read_to_string(path).ok()?;
    toml::from_str(&text).ok()
}

pub fn create_private_dir(dir: &Path) -> Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
        .with_context(|| format!("cannot create {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(server: &str, user: &str) -> StoredToken {
        StoredToken {
            server: server.into(),
            user: user.into(),
            expires_at: "2030-01-01T00:00:00Z".into(),
            token: format!("secret-of-{user}"),
        }
    }

    #[test]
    fn token_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path().join("tokens"));
        let id = Identity::Context("lab".into());
        let path = store.save(&id, &token("http://h:1", "u")).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
        let got = |id: &Identity| store.load(id, "http://h:1", None).map(|l| l.token.token);
        assert_eq!(got(&id).as_deref(), Some("secret-of-u"));
        // Another server under the same context name: not this token.
        assert!(store.load(&id, "http://other:1", None).is_none());
        assert!(store.delete(&id).unwrap());
        assert!(!store.delete(&id).unwrap());
        assert!(got(&id).is_none());
    }

    #[test]
    fn identities_of_one_server_are_apart() {
        let dir = tempfile::tempdir().unwrap();
        let store = TokenStore::new(dir.path().join("tokens"));
        let (admin, alice) = (
            Identity::Context("prod-admin".into()),
            Identity::Context("prod-alice".into()),
        );
        let bare = Identity::Server("http://h:1".into());
        store.save(&admin, &token("http://h:1", "admin")).unwrap();
        store.save(&alice, &token("http://h:1", "alice")).unwrap();
        let user = |id: &Identity| store.load(id, "http://h:1", None).map(|l| l.token.user);
        assert_eq!(user(&admin).as_deref(), Some("admin"));
        assert_eq!(user(&alice).as_deref(), Some("alice"));
        assert!(user(&bare).is_none());
        // Names that would sanitize alike keep their own files.
        assert_ne!(
            Identity::Context("a b".into()).file_name(),
            Identity::Context("a_b".into()).file_name()
        );
    }

    #[test]
    fn legacy_file_is_adopted_once_by_a_matching_identity() {
        let dir = tempfile::tempdir().unwrap();
        let tokens = dir.path().join("tokens");
        let store = TokenStore::new(tokens.clone());
        create_private_dir(&tokens).unwrap();
        let legacy = tokens.join(format!("{}.toml", sanitize("http://h:1")));
        fs::write(
            &legacy,
            toml::to_string(&token("http://h:1", "alice")).unwrap(),
        )
        .unwrap();
        let admin = Identity::Context("admin-ctx".into());
        let alice = Identity::Context("alice-ctx".into());
        // A context of another user does not inherit alice's login.
        assert!(store.load(&admin, "http://h:1", Some("admin")).is_none());
        let l = store.load(&alice, "http://h:1", Some("alice")).unwrap();
        assert_eq!(l.token.user, "alice");
        assert_eq!(l.adopted_from.as_deref(), Some(legacy.as_path()));
        assert!(!legacy.exists(), "moved, not copied");
        // Adopted once: now it is alice-ctx's, found without the legacy path.
        let again = store.load(&alice, "http://h:1", Some("alice")).unwrap();
        assert!(again.adopted_from.is_none());
        assert!(store.load(&admin, "http://h:1", None).is_none());
    }

    #[test]
    fn expiry_is_read_and_reported() {
        let at = parse_rfc3339("2030-01-01T00:00:00Z").unwrap();
        assert_eq!(at, 1_893_456_000);
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2024-02-29T12:30:15+01:00"),
            Some(1_709_206_215)
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T11:30:15.250Z"),
            Some(1_709_206_215)
        );
        assert_eq!(parse_rfc3339("soon"), None);
        let t = token("http://h:1", "bob");
        let state = |now| TokenState::of(Some(&t), now).to_string();
        assert_eq!(
            state(at as u64 - 1),
            "logged in as bob, valid until 2030-01-01T00:00:00Z"
        );
        assert_eq!(
            state(at as u64),
            "the token of bob expired at 2030-01-01T00:00:00Z; run 'igor login'"
        );
        assert_eq!(TokenState::of(None, 0), TokenState::None);
    }
}

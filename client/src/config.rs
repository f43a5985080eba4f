//! The configuration file (`config.toml`: named server contexts and the current one, like
//! kubectl's), the paths of config, tokens, pins and cache, and which server a run talks to
//! as whom.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, Result, bail};
use serde::{Deserialize, Serialize};

use crate::auth::Identity;
use crate::cache::write_atomic;

/// The environment variables igor reads, captured once so that nothing deeper reads the
/// process environment (and tests can pass their own).
#[derive(Clone, Debug, Default)]
pub struct EnvVars {
    pub config: Option<String>,
    pub cache_dir: Option<String>,
    pub server: Option<String>,
    pub context: Option<String>,
    pub token: Option<String>,
    pub force_schema_check: bool,
    pub known_level: Option<String>,
}

impl EnvVars {
    pub fn from_process() -> Self {
        let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        EnvVars {
            config: get("IGOR_CONFIG"),
            cache_dir: get("IGOR_CACHE_DIR"),
            server: get("IGOR_SERVER"),
            context: get("IGOR_CONTEXT"),
            token: get("IGOR_TOKEN"),
            force_schema_check: get("IGOR_FORCE_SCHEMA_CHECK")
                .is_some_and(|v| !matches!(v.as_str(), "0" | "false" | "no")),
            known_level: get("IGOR_KNOWN_LEVEL"),
        }
    }
}

/// Where igor keeps its files. Tokens live beside the config file, so `IGOR_CONFIG`
/// isolates a whole setup (tests, CI jobs) in one folder.
#[derive(Clone, Debug)]
pub struct Paths {
    pub config_file: PathBuf,
    pub token_dir: PathBuf,
    /// Pinned certificate fingerprints of servers (see `tls.rs`), beside the config file.
    pub known_servers: PathBuf,
    pub cache_dir: PathBuf,
}

impl Paths {
    pub fn new(env: &EnvVars) -> Result<Self> {
        let dirs = directories::ProjectDirs::from("", "", "igor");
        let config_file = match (&env.config, &dirs) {
            (Some(p), _) => PathBuf::from(p),
            (None, Some(d)) => d.config_dir().join("config.toml"),
            (None, None) => bail!("cannot find a home directory: set IGOR_CONFIG"),
        };
        let cache_dir = match (&env.cache_dir, &dirs) {
            (Some(p), _) => PathBuf::from(p),
            (None, Some(d)) => d.cache_dir().to_owned(),
            (None, None) => bail!("cannot find a home directory: set IGOR_CACHE_DIR"),
        };
        let dir = config_file.parent().unwrap_or(Path::new("."));
        let token_dir = dir.join("tokens");
        let known_servers = dir.join("known_servers.toml");
        Ok(Paths {
            config_file,
            token_dir,
            known_servers,
            cache_dir,
        })
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    /// The default output format (`table`, `json`, `yaml`, `name`) where neither `-o` nor
    /// the context says one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    #[serde(default)]
    pub contexts: BTreeMap<String, ContextConfig>,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ContextConfig {
    pub server: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// A PEM file of CA certificates trusted for this server, besides the system roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_authority: Option<String>,
    /// The default output format of this context's runs; `-o` wins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

impl Config {
    /// A missing file is an empty configuration; a malformed one is an error naming it.
    pub fn load(path: &Path) -> Result<Self> {
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
        };
        toml::from_str(&text).with_context(|| format!("invalid configuration {}", path.display()))
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        let text = toml::to_string_pretty(self).context("cannot encode the configuration")?;
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        }
        write_atomic(path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

/// The server a run talks to, as whom, and where that choice came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub server: String,
    pub user: Option<String>,
    pub context: Option<String>,
    /// Whose stored login the run uses: the context's, or the bare URL's.
    pub identity: Identity,
    pub certificate_authority: Option<PathBuf>,
    /// The configured default output format: the context's, else the file's.
    pub output: Option<String>,
}

/// Server URLs are compared and used as folder names, so one server has one spelling:
/// no trailing slash.
pub fn normalize_server(url: &str) -> Result<String> {
    let url = url.trim().trim_end_matches('/');
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        bail!("invalid server URL '{url}': expected http://HOST[:PORT] or https://...");
    }
    if host_of(url).is_empty() {
        bail!("invalid server URL '{url}': no host");
    }
    Ok(url.to_owned())
}

/// The host of a normalized server URL, without brackets, port or user info.
pub fn host_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or_default();
    }
    authority.split(':').next().unwrap_or_default()
}

/// Whether passwords and tokens sent to `url` travel in clear over a network: plain
/// `http://` to anything but a loopback address.
pub fn is_cleartext_remote(url: &str) -> bool {
    if !url.starts_with("http://") {
        return false;
    }
    let host = host_of(url);
    let loopback = host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip: std::net::IpAddr| ip.to_canonical().is_loopback());
    !loopback
}

/// Precedence: `--server`, then `--context`, then `IGOR_SERVER`, then `IGOR_CONTEXT`, then
/// the current context. A flag beats the environment, and a URL beats a name.
pub fn resolve_target(
    cfg: &Config,
    server_flag: Option<&str>,
    context_flag: Option<&str>,
    env: &EnvVars,
) -> Result<Target> {
    let by_context = |name: &str| -> Result<Target> {
        let c = cfg.contexts.get(name).with_context(|| {
            format!("no context '{name}' in the configuration (see 'igor config get-contexts')")
        })?;
        Ok(Target {
            server: normalize_server(&c.server)?,
            user: c.user.clone(),
            context: Some(name.to_owned()),
            identity: Identity::Context(name.to_owned()),
            certificate_authority: c.certificate_authority.as_ref().map(PathBuf::from),
            output: c.output.clone().or_else(|| cfg.output.clone()),
        })
    };
    // A URL typed as --server or IGOR_SERVER that is not one is a usage error (exit 2).
    let by_url = |url: &str| -> Result<Target> {
        let server = normalize_server(url).map_err(crate::exit::Exit::usage)?;
        // A context for the same server still lends its user name to `igor login` and its
        // CA file; its login stays its own.
        let same = cfg
            .contexts
            .values()
            .find(|c| normalize_server(&c.server).ok().as_deref() == Some(server.as_str()));
        Ok(Target {
            identity: Identity::Server(server.clone()),
            server,
            user: same.and_then(|c| c.user.clone()),
            context: None,
            certificate_authority: same
                .and_then(|c| c.certificate_authority.as_ref())
                .map(PathBuf::from),
            output: cfg.output.clone(),
        })
    };
    if let Some(url) = server_flag {
        return by_url(url);
    }
    if let Some(name) = context_flag {
        return by_context(name);
    }
    if let Some(url) = &env.server {
        return by_url(url);
    }
    if let Some(name) = &env.context {
        return by_context(name);
    }
    if let Some(name) = &cfg.current {
        return by_context(name);
    }
    Err(NoServer.into())
}

/// No `--server`, `--context`, `IGOR_SERVER`, `IGOR_CONTEXT` nor current context: help can
/// still be had (from the newest bundle), a call cannot.
#[derive(Debug)]
pub struct NoServer;

impl std::fmt::Display for NoServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "no server configured: pass --server URL, set IGOR_SERVER, or run 'igor config set-context NAME --server URL'",
        )
    }
}

impl std::error::Error for NoServer {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleartext_is_loopback_only() {
        for (url, clear) in [
            ("http://10.0.0.1:8623", true),
            ("http://igord.example:8623", true),
            ("http://user@igord/x", true),
            ("http://127.0.0.1:8623", false),
            ("http://127.8.0.1", false),
            ("http://localhost:1", false),
            ("http://[::1]:8623", false),
            ("http://[fe80::1]:8623", true),
            ("http://[::ffff:127.0.0.1]:8623", false),
            ("https://10.0.0.1:8623", false),
        ] {
            assert_eq!(is_cleartext_remote(url), clear, "{url}");
        }
        assert!(normalize_server("https://h:1/").is_ok());
        assert!(normalize_server("http://").is_err());
    }

    #[test]
    fn config_round_trip_and_unknown_fields() {
        let text = "current = \"lab\"\n[contexts.lab]\nserver = \"http://a:1\"\nuser = \"u\"\n";
        let cfg: Config = toml::from_str(text).unwrap();
        assert_eq!(cfg.current.as_deref(), Some("lab"));
        let back: Config = toml::from_str(&toml::to_string_pretty(&cfg).unwrap()).unwrap();
        assert_eq!(back, cfg);
        let typo = "[contexts.lab]\nserver = \"http://a:1\"\nusr = \"u\"\n";
        assert!(toml::from_str::<Config>(typo).is_err());
    }

    #[test]
    fn target_precedence() {
        let cfg: Config = toml::from_str(
            "current = \"a\"\n[contexts.a]\nserver = \"http://a:1/\"\nuser = \"ua\"\n[contexts.b]\nserver = \"http://b:2\"\n",
        )
        .unwrap();
        let env = EnvVars::default();
        let server = |s: Option<&str>, c: Option<&str>, env: &EnvVars| {
            resolve_target(&cfg, s, c, env)
                .map(|t| t.server)
                .map_err(|e| e.to_string())
        };
        assert_eq!(server(None, None, &env).unwrap(), "http://a:1");
        assert_eq!(server(None, Some("b"), &env).unwrap(), "http://b:2");
        assert_eq!(
            server(Some("http://x:3"), Some("b"), &env).unwrap(),
            "http://x:3"
        );
        let env_srv = EnvVars {
            server: Some("http://e:4".into()),
            ..EnvVars::default()
        };
        assert_eq!(server(None, None, &env_srv).unwrap(), "http://e:4");
        assert_eq!(server(None, Some("b"), &env_srv).unwrap(), "http://b:2");
        assert!(
            server(None, Some("zz"), &env)
                .unwrap_err()
                .contains("no context 'zz'")
        );
        let t = resolve_target(&cfg, Some("http://a:1"), None, &env).unwrap();
        assert_eq!(t.user.as_deref(), Some("ua"));
        assert_eq!(t.identity, Identity::Server("http://a:1".into()));
        let t = resolve_target(&cfg, None, None, &env).unwrap();
        assert_eq!(t.identity, Identity::Context("a".into()));
        let empty = Config::default();
        assert!(resolve_target(&empty, None, None, &env).is_err());
        let bad = resolve_target(&cfg, Some("ftp://x"), None, &env).unwrap_err();
        assert_eq!(
            crate::exit::code_of(&bad),
            crate::exit::EXIT_USAGE,
            "{bad:#}"
        );
    }

    #[test]
    fn output_of_the_context_else_the_file() {
        let cfg: Config = toml::from_str(
            "current = \"a\"\noutput = \"yaml\"\n[contexts.a]\nserver = \"http://a:1\"\noutput = \"json\"\n[contexts.b]\nserver = \"http://b:2\"\n",
        )
        .unwrap();
        let env = EnvVars::default();
        let output =
            |s: Option<&str>, c: Option<&str>| resolve_target(&cfg, s, c, &env).unwrap().output;
        assert_eq!(output(None, None).as_deref(), Some("json"));
        assert_eq!(output(None, Some("b")).as_deref(), Some("yaml"));
        assert_eq!(output(Some("http://a:1"), None).as_deref(), Some("yaml"));
        assert_eq!(
            resolve_target(&Config::default(), Some("http://x:1"), None, &env)
                .unwrap()
                .output,
            None
        );
    }
}

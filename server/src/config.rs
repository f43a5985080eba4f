//! igord's configuration: a typed struct built from defaults, then the TOML file, then
//! environment and flags (the last one given wins). Passed into the app state, never global.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use schema::ApiLevel;
use serde::Deserialize;

use crate::tls::TlsSource;

/// The TOML file. Unknown keys are refused so that a typo fails loudly.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub listen: Option<String>,
    pub database_url: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub pin_api_level: Option<String>,
    pub token_ttl_secs: Option<u64>,
    pub schema_ttl_secs: Option<u64>,
    pub secret_key_file: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub insecure_http: Option<bool>,
    #[serde(default)]
    pub bmc: FileBmcConfig,
    #[serde(default)]
    pub limits: FileLimits,
    #[serde(default)]
    pub metrics: FileMetrics,
    #[serde(default)]
    pub console: FileConsole,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConsole {
    pub idle_timeout_secs: Option<u64>,
    pub log_dir: Option<PathBuf>,
    pub log_max_bytes: Option<u64>,
    pub log_keep: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileMetrics {
    pub listen: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileLimits {
    pub work_per_minute: Option<u64>,
    pub connections_per_address: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileBmcConfig {
    pub max_concurrent: Option<usize>,
    pub deadline_ms: Option<u64>,
    pub idle_timeout_secs: Option<u64>,
    pub default_user: Option<String>,
    pub default_port: Option<u16>,
}

/// What flags and environment gave (clap fills it).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    pub database_url: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub pin_api_level: Option<String>,
    pub config_file: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub insecure_http: bool,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    /// Never logged as is: it may hold a password (see `db::redact_url`).
    pub database_url: String,
    pub data_dir: PathBuf,
    pub pin_api_level: Option<ApiLevel>,
    pub token_ttl: Duration,
    pub schema_ttl: Duration,
    pub secret_key_file: PathBuf,
    pub bmc_max_concurrent: usize,
    pub bmc_deadline: Duration,
    pub bmc_idle_timeout: Duration,
    /// The BMC user `machine-add/3` applies when none is given; `None`: it must be given.
    pub bmc_default_user: Option<String>,
    /// The BMC port `machine-add/3` applies when none is given.
    pub bmc_default_port: u16,
    /// `None`: plain HTTP (`--insecure-http`, loopback only).
    pub tls: Option<TlsSource>,
    /// Units of work one user may ask for per minute (a call is one, a bulk call one more
    /// per machine it names).
    pub work_per_minute: u64,
    /// Connections one source address may hold at once.
    pub connections_per_address: usize,
    /// Where `GET /metrics` is served (`None`: nowhere): plain HTTP on a loopback
    /// address, else HTTPS with igord's certificate. Never on the API's listener.
    pub metrics_listen: Option<SocketAddr>,
    /// The serial console broker's settings (`[console]`).
    pub console: crate::console::ConsoleConfig,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8623";
pub const DEFAULT_DATA_DIR: &str = "igor-data";

impl Config {
    pub fn load(o: Overrides) -> anyhow::Result<Config> {
        let file = match &o.config_file {
            Some(path) => read_file(path)?,
            None => FileConfig::default(),
        };
        let listen_text = o
            .listen
            .or(file.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.to_owned());
        let listen: SocketAddr = listen_text.parse().with_context(|| {
            format!("invalid listen address '{listen_text}': expected IP:PORT, e.g. 127.0.0.1:8623")
        })?;
        let data_dir = o
            .data_dir
            .or(file.data_dir)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
        let database_url = o
            .database_url
            .or(file.database_url)
            .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("igor.db").display()));
        let pin_api_level = match o.pin_api_level.or(file.pin_api_level) {
            Some(text) => Some(text.parse::<ApiLevel>()?),
            None => None,
        };
        let secret_key_file = file
            .secret_key_file
            .unwrap_or_else(|| data_dir.join("secret.key"));
        let positive = |v: Option<u64>, default: u64, what: &str| -> anyhow::Result<u64> {
            let v = v.unwrap_or(default);
            if v == 0 {
                bail!("{what} must be greater than 0");
            }
            Ok(v)
        };
        let max_concurrent = file.bmc.max_concurrent.unwrap_or(64);
        if max_concurrent == 0 {
            bail!("bmc.max_concurrent must be greater than 0");
        }
        let bmc_default_user = file.bmc.default_user;
        if let Some(u) = &bmc_default_user
            && (u.is_empty() || u.len() > 16 || !u.chars().all(|c| (' '..='~').contains(&c)))
        {
            bail!("bmc.default_user must be 1 to 16 printable ASCII characters");
        }
        let bmc_default_port = file.bmc.default_port.unwrap_or(623);
        if bmc_default_port == 0 {
            bail!("bmc.default_port must be greater than 0");
        }
        let tls = tls_source(
            o.tls_cert.or(file.tls_cert),
            o.tls_key.or(file.tls_key),
            o.insecure_http || file.insecure_http.unwrap_or(false),
            listen,
            &data_dir,
        )?;
        let metrics_listen = match file.metrics.listen {
            Some(text) => Some(metrics_listen(&text, listen, tls.is_some())?),
            None => None,
        };
        let connections_per_address = file.limits.connections_per_address.unwrap_or(256);
        if connections_per_address == 0 {
            bail!("limits.connections_per_address must be greater than 0");
        }
        let console = crate::console::ConsoleConfig {
            idle: Duration::from_secs(positive(
                file.console.idle_timeout_secs,
                3600,
                "console.idle_timeout_secs",
            )?),
            log_dir: file.console.log_dir,
            log_max_bytes: positive(
                file.console.log_max_bytes,
                16 * 1024 * 1024,
                "console.log_max_bytes",
            )?,
            log_keep: file.console.log_keep.unwrap_or(4),
        };
        Ok(Config {
            console,
            metrics_listen,
            work_per_minute: positive(
                file.limits.work_per_minute,
                60_000,
                "limits.work_per_minute",
            )?,
            connections_per_address,
            tls,
            listen,
            database_url,
            data_dir,
            pin_api_level,
            token_ttl: Duration::from_secs(positive(
                file.token_ttl_secs,
                12 * 3600,
                "token_ttl_secs",
            )?),
            schema_ttl: Duration::from_secs(positive(
                file.schema_ttl_secs,
                3600,
                "schema_ttl_secs",
            )?),
            secret_key_file,
            bmc_max_concurrent: max_concurrent,
            bmc_deadline: Duration::from_millis(positive(
                file.bmc.deadline_ms,
                5000,
                "bmc.deadline_ms",
            )?),
            bmc_idle_timeout: Duration::from_secs(positive(
                file.bmc.idle_timeout_secs,
                20,
                "bmc.idle_timeout_secs",
            )?),
            bmc_default_user,
            bmc_default_port,
        })
    }
}

/// HTTPS unless plain HTTP is asked for, and plain HTTP only where nothing crosses a
/// network: passwords and tokens travel in every request.
fn tls_source(
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    insecure_http: bool,
    listen: SocketAddr,
    data_dir: &Path,
) -> anyhow::Result<Option<TlsSource>> {
    match (cert, key, insecure_http) {
        (Some(_), _, true) | (_, Some(_), true) => {
            bail!("--insecure-http cannot be combined with --tls-cert/--tls-key: choose one")
        }
        (None, None, true) => {
            if !listen.ip().is_loopback() {
                bail!(
                    "refusing plain HTTP on {listen}: passwords and tokens would cross the network in clear; \
                     --insecure-http is allowed only on a loopback address (127.0.0.1, ::1), \
                     otherwise serve HTTPS (the default, or --tls-cert/--tls-key)"
                );
            }
            Ok(None)
        }
        (Some(cert), Some(key), false) => Ok(Some(TlsSource::Files { cert, key })),
        (Some(_), None, false) => bail!("--tls-cert needs --tls-key (IGOR_TLS_KEY, tls_key)"),
        (None, Some(_), false) => bail!("--tls-key needs --tls-cert (IGOR_TLS_CERT, tls_cert)"),
        (None, None, false) => Ok(Some(TlsSource::Generated {
            dir: data_dir.to_owned(),
        })),
    }
}

/// The metrics listener: its own address, and plain HTTP only on loopback (as for the
/// API); elsewhere it needs the certificate igord serves the API with.
fn metrics_listen(text: &str, api: SocketAddr, tls: bool) -> anyhow::Result<SocketAddr> {
    let addr: SocketAddr = text.parse().with_context(|| {
        format!("invalid metrics.listen '{text}': expected IP:PORT, e.g. 127.0.0.1:9623")
    })?;
    // Port 0 is "any free port": two of them never clash.
    if addr == api && addr.port() != 0 {
        bail!("metrics.listen {addr} is the API's listen address: give the metrics their own");
    }
    if !addr.ip().is_loopback() && !tls {
        bail!(
            "metrics.listen {addr} is not a loopback address: off loopback the metrics are \
             served over HTTPS with igord's certificate, and igord serves plain HTTP \
             (--insecure-http)"
        );
    }
    Ok(addr)
}

fn read_file(path: &Path) -> anyhow::Result<FileConfig> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config file {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_refused() {
        let err = toml::from_str::<FileConfig>("listn = '1'").unwrap_err();
        assert!(err.to_string().contains("listn"), "{err}");
        let err = toml::from_str::<FileConfig>("[bmc]\ndeadline = 3").unwrap_err();
        assert!(err.to_string().contains("deadline"), "{err}");
    }

    #[test]
    fn defaults_and_precedence() {
        let c = Config::load(Overrides::default()).unwrap();
        assert_eq!(c.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(c.database_url, "sqlite://igor-data/igor.db");
        assert_eq!(c.token_ttl, Duration::from_secs(43200));
        let c = Config::load(Overrides {
            data_dir: Some("/tmp/x".into()),
            pin_api_level: Some("1.1".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.database_url, "sqlite:///tmp/x/igor.db");
        assert_eq!(c.pin_api_level, Some(ApiLevel::new(1, 1)));
        assert!(
            Config::load(Overrides {
                listen: Some("nope".into()),
                ..Default::default()
            })
            .is_err()
        );
    }

    #[test]
    fn metrics_listener() {
        let api: SocketAddr = "127.0.0.1:8623".parse().unwrap();
        assert_eq!(
            metrics_listen("127.0.0.1:9623", api, false).unwrap(),
            "127.0.0.1:9623".parse().unwrap()
        );
        assert!(metrics_listen("10.0.0.1:9623", api, true).is_ok());
        let refused = format!(
            "{:#}",
            metrics_listen("10.0.0.1:9623", api, false).unwrap_err()
        );
        assert!(refused.contains("not a loopback"), "{refused}");
        assert!(metrics_listen("127.0.0.1:8623", api, false).is_err());
        assert!(metrics_listen("nope", api, false).is_err());
        let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
        assert!(metrics_listen("127.0.0.1:0", any, false).is_ok());
        let c = Config::load(Overrides::default()).unwrap();
        assert_eq!(c.metrics_listen, None);
        let err = toml::from_str::<FileConfig>("[metrics]\nlisten_on = '1'").unwrap_err();
        assert!(err.to_string().contains("listen_on"), "{err}");
    }

    #[test]
    fn https_by_default_and_plain_http_only_on_loopback() {
        let load = |listen: &str, insecure: bool, cert: Option<&str>, key: Option<&str>| {
            Config::load(Overrides {
                listen: Some(listen.into()),
                insecure_http: insecure,
                tls_cert: cert.map(PathBuf::from),
                tls_key: key.map(PathBuf::from),
                ..Default::default()
            })
            .map(|c| c.tls)
            .map_err(|e| format!("{e:#}"))
        };
        assert_eq!(
            load("0.0.0.0:1", false, None, None),
            Ok(Some(TlsSource::Generated {
                dir: PathBuf::from(DEFAULT_DATA_DIR)
            }))
        );
        assert_eq!(load("127.0.0.1:1", true, None, None), Ok(None));
        assert_eq!(load("[::1]:1", true, None, None), Ok(None));
        let refused = load("0.0.0.0:1", true, None, None).unwrap_err();
        assert!(refused.contains("only on a loopback"), "{refused}");
        let refused = load("10.1.2.3:1", true, None, None).unwrap_err();
        assert!(refused.contains("in clear"), "{refused}");
        assert_eq!(
            load("10.1.2.3:1", false, Some("c"), Some("k")),
            Ok(Some(TlsSource::Files {
                cert: "c".into(),
                key: "k".into()
            }))
        );
        assert!(load("10.1.2.3:1", false, Some("c"), None).is_err());
        assert!(load("10.1.2.3:1", false, None, Some("k")).is_err());
        assert!(load("127.0.0.1:1", true, Some("c"), Some("k")).is_err());
    }
}

//! igord's configuration: a typed struct built from defaults, then the TOML file, then
//! environment and flags (the last one given wins). Passed into the app state, never global.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use schema::ApiLevel;
use serde::Deserialize;

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
    #[serde(default)]
    pub bmc: FileBmcConfig,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileBmcConfig {
    pub max_concurrent: Option<usize>,
    pub deadline_ms: Option<u64>,
    pub idle_timeout_secs: Option<u64>,
}

/// What flags and environment gave (clap fills it).
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub listen: Option<String>,
    pub database_url: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub pin_api_level: Option<String>,
    pub config_file: Option<PathBuf>,
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
        Ok(Config {
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
        })
    }
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
}

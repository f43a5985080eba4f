//! `igord`: serve the API, or export the schema document of an API level.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use schema::ApiLevel;
use server::config::{Config, Overrides};

#[derive(Parser)]
#[command(
    name = "igord",
    version,
    about = "igor's server: users, machines, permissions, and IPMI commands against BMCs",
    long_about = "igor's server: users, machines, permissions, and IPMI commands against BMCs.\n\n\
        With no options it serves https://127.0.0.1:8623 from an embedded SQLite database in \
        ./igor-data/, created on first start with an 'admin' user whose password comes from \
        IGOR_ADMIN_PASSWORD or is generated and printed once. Without --tls-cert/--tls-key it \
        generates a self-signed certificate into the data folder on first start and logs its \
        SHA-256 fingerprint at every start (clients pin it; 'igord tls-fingerprint' prints it).\n\n\
        Other environment: IGOR_SECRET_KEY (64 hex digits; the key that encrypts BMC passwords, \
        else a 0600 key file in the data folder), IGOR_LOG (log filter, default 'info')."
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,
    #[command(flatten)]
    serve: ServeArgs,
}

/// Global, so a subcommand takes them after its name too (`igord tls-fingerprint
/// --data-dir DIR`), not only before it.
#[derive(Args)]
struct ServeArgs {
    /// Address to listen on (IP:PORT)
    #[arg(long, global = true, env = "IGOR_LISTEN", value_name = "ADDR")]
    listen: Option<String>,
    /// Database URL: sqlite://PATH or postgres://USER@HOST/DB [default: sqlite://DATA_DIR/igor.db]
    #[arg(
        long,
        global = true,
        env = "IGOR_DATABASE_URL",
        value_name = "URL",
        hide_env_values = true
    )]
    database: Option<String>,
    /// Folder for the SQLite database and the key file [default: ./igor-data]
    #[arg(long, global = true, env = "IGOR_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// TOML configuration file (unknown keys are refused)
    #[arg(long, global = true, env = "IGOR_CONFIG_FILE", value_name = "FILE")]
    config: Option<PathBuf>,
    /// Serve exactly this older API level (rolling upgrades)
    #[arg(long, global = true, env = "IGOR_PIN_API_LEVEL", value_name = "X.Y")]
    pin_api_level: Option<String>,
    /// TLS certificate chain, PEM (leaf first) [default: a self-signed one in the data folder]
    #[arg(long, global = true, env = "IGOR_TLS_CERT", value_name = "PATH")]
    tls_cert: Option<PathBuf>,
    /// TLS private key, PEM (PKCS#8, RSA or EC)
    #[arg(long, global = true, env = "IGOR_TLS_KEY", value_name = "PATH")]
    tls_key: Option<PathBuf>,
    /// Serve plain HTTP instead of HTTPS; refused unless the listen address is loopback
    #[arg(long, global = true)]
    insecure_http: bool,
}

#[derive(Subcommand)]
enum Cmd {
    /// Work with the schema document
    Schema {
        #[command(subcommand)]
        command: SchemaCmd,
    },
    /// Print the SHA-256 fingerprint of the TLS certificate igord serves (generating the
    /// self-signed one if it does not exist yet), for clients to pin
    TlsFingerprint,
    /// Offline recovery: give user NAME the admin role, enable it, set a new password and
    /// revoke its tokens (created if missing). Run on the server machine with the same
    /// database settings as igord; the password is read from standard input, or generated
    /// and printed once
    AdminReset {
        /// The user to make an enabled admin
        name: String,
        /// Read the new password from the first line of standard input
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Subcommand)]
enum SchemaCmd {
    /// Print the schema document that an API level publishes
    Export {
        /// The level, e.g. 1.1 [default: the newest]
        #[arg(long, value_name = "X.Y")]
        api_level: Option<ApiLevel>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("igord: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    if let Some(Cmd::Schema {
        command: SchemaCmd::Export { api_level },
    }) = cli.command
    {
        let doc = server::export_schema(api_level)?;
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(());
    }
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("IGOR_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let s = cli.serve;
    let config = Config::load(Overrides {
        listen: s.listen,
        database_url: s.database,
        data_dir: s.data_dir,
        pin_api_level: s.pin_api_level,
        config_file: s.config,
        tls_cert: s.tls_cert,
        tls_key: s.tls_key,
        insecure_http: s.insecure_http,
    })?;
    match cli.command {
        Some(Cmd::TlsFingerprint) => {
            println!("{}", server::tls_fingerprint(&config)?);
            return Ok(());
        }
        Some(Cmd::AdminReset {
            name,
            password_stdin,
        }) => {
            let password = if password_stdin {
                let mut line = String::new();
                std::io::stdin().read_line(&mut line)?;
                let line = line.trim_end_matches(['\r', '\n']).to_owned();
                if line.is_empty() {
                    anyhow::bail!("no password on standard input");
                }
                Some(line)
            } else {
                None
            };
            return server::admin_reset(&config, &name, password);
        }
        _ => {}
    }
    let admin_password = std::env::var("IGOR_ADMIN_PASSWORD").ok();
    let secret = std::env::var("IGOR_SECRET_KEY").ok();
    actix_web::rt::System::new().block_on(server::serve(config, admin_password, secret))
}

//! Machines: `machine-add`, `machine-show`, `machine-find`, `machine-mod`, `machine-del`.
//! The BMC password is write-only: encrypted before it reaches the database, never returned.
//! Level 1.4 adds `machine-add/2`, `machine-mod/2` and `machine-find/2`, whose schemas
//! publish what the server refuses in every version (control characters, overlong text).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Deleted;
use crate::access::Access;
use crate::db::models::{self, Machine, MachineChanges, NewMachine};
use crate::error::ApiError;
use crate::registry::{CommandSpec, OnMachine, Out, Verb, command, on_machine};
use crate::state::{Ctx, now, rfc3339};

#[derive(Serialize, JsonSchema)]
pub struct MachineOut {
    /// Machine name.
    pub name: String,
    /// BMC host name or IP address.
    pub bmc_host: String,
    /// BMC UDP port (RMCP+).
    pub bmc_port: u16,
    /// BMC user name.
    pub bmc_user: String,
    /// RMCP+ cipher suite.
    pub cipher_suite: u8,
    /// Free text.
    pub description: String,
    /// When the machine was added (RFC 3339).
    pub created_at: String,
}

/// A machine as level 1.6 shows it: version 1's fields, plus its driver, how its BMC's
/// certificate is trusted (Redfish), and what igor can do on it.
#[derive(Serialize, JsonSchema)]
pub struct MachineOut2 {
    /// Machine name.
    pub name: String,
    /// ipmi or redfish.
    pub driver: Driver,
    /// BMC host name or IP address.
    pub bmc_host: String,
    /// BMC port: UDP (RMCP+) for ipmi, HTTPS for redfish.
    pub bmc_port: u16,
    /// BMC user name.
    pub bmc_user: String,
    /// RMCP+ cipher suite (ipmi).
    pub cipher_suite: u8,
    /// Redfish: the ComputerSystem managed.
    pub redfish_system: Option<String>,
    /// Redfish: the pinned SHA-256 fingerprint of the BMC's certificate.
    pub tls_fingerprint: Option<String>,
    /// Redfish: the BMC's certificate is trusted through a CA given by an admin.
    pub tls_ca: bool,
    /// What igor's commands can do on this machine: power, chassis-status, identify,
    /// bootdev, sel, sel-delete, sensors, fru, bmc-info, console. A command needing
    /// something else is refused as not_supported.
    pub capabilities: Vec<String>,
    /// Free text.
    pub description: String,
    /// When the machine was added (RFC 3339).
    pub created_at: String,
}

/// A machine as `machine-find/4` lists it: `machine-show/2`'s fields, and what the caller
/// may do there, so that a client offers only the actions it may take.
#[derive(Serialize, JsonSchema)]
#[schemars(extend("x-igor-columns" = ["name", "driver", "bmc_host", "access", "description"]))]
pub struct MachineListed {
    #[serde(flatten)]
    pub machine: MachineOut2,
    /// What you may do on this machine: admin (everything), operator (act on it: power,
    /// boot device, SEL changes, typing on its console) or viewer (look).
    pub access: String,
}

pub fn out2(m: &Machine) -> MachineOut2 {
    let driver = Driver::of(m);
    MachineOut2 {
        name: m.name.clone(),
        driver,
        bmc_host: m.bmc_host.clone(),
        bmc_port: u16::try_from(m.bmc_port).unwrap_or_default(),
        bmc_user: m.bmc_user.clone(),
        cipher_suite: u8::try_from(m.cipher_suite).unwrap_or_default(),
        redfish_system: m.redfish_system.clone(),
        tls_fingerprint: m.tls_pin.clone(),
        tls_ca: m.tls_ca.is_some(),
        capabilities: driver.capabilities(),
        description: m.description.clone(),
        created_at: rfc3339(m.created_at),
    }
}

pub fn out(m: &Machine) -> MachineOut {
    MachineOut {
        name: m.name.clone(),
        bmc_host: m.bmc_host.clone(),
        bmc_port: u16::try_from(m.bmc_port).unwrap_or_default(),
        bmc_user: m.bmc_user.clone(),
        cipher_suite: u8::try_from(m.cipher_suite).unwrap_or_default(),
        description: m.description.clone(),
        created_at: rfc3339(m.created_at),
    }
}

fn default_port() -> u16 {
    623
}

fn default_cipher_suite() -> u8 {
    3
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MachineAdd {
    /// Machine name: letters, digits, '.', '_' and '-'.
    #[schemars(regex(pattern = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"))]
    #[schemars(extend("x-igor-positional" = 0))]
    pub name: String,
    /// BMC host name or IP address.
    #[schemars(length(min = 1, max = 253))]
    pub bmc_host: String,
    /// BMC UDP port.
    #[serde(default = "default_port")]
    #[schemars(range(min = 1))]
    pub bmc_port: u16,
    /// BMC user name.
    #[schemars(length(min = 1, max = 16))]
    pub bmc_user: String,
    /// BMC password (stored encrypted, never shown).
    #[schemars(length(max = 20))]
    #[schemars(extend("x-igor-sensitive" = true))]
    pub bmc_password: String,
    /// RMCP+ cipher suite; 3 (HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128) is the one supported.
    #[serde(default = "default_cipher_suite")]
    #[schemars(range(min = 3, max = 3))]
    pub cipher_suite: u8,
    /// Free text.
    #[serde(default)]
    #[schemars(length(max = 1024))]
    pub description: String,
    /// Not a parameter of versions 1 and 2 (always ipmi there).
    #[serde(skip)]
    pub driver: Driver,
    #[serde(skip)]
    pub redfish_system: Option<String>,
    #[serde(skip)]
    pub tls_pin: Option<String>,
    #[serde(skip)]
    pub tls_ca: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MachineName {
    /// Machine name.
    #[schemars(extend("x-igor-positional" = 0))]
    pub name: String,
}

impl OnMachine for MachineName {
    const FIELD: &'static str = "name";
    fn machine(&self) -> &str {
        &self.name
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MachineFind {
    /// Only machines whose name contains this text.
    #[schemars(extend("x-igor-positional" = 0))]
    pub criteria: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MachineMod {
    /// Machine name.
    #[schemars(extend("x-igor-positional" = 0))]
    pub name: String,
    /// New BMC host name or IP address.
    #[schemars(length(min = 1, max = 253))]
    pub bmc_host: Option<String>,
    /// New BMC UDP port.
    #[schemars(range(min = 1))]
    pub bmc_port: Option<u16>,
    /// New BMC user name.
    #[schemars(length(min = 1, max = 16))]
    pub bmc_user: Option<String>,
    /// New BMC password (stored encrypted, never shown).
    #[schemars(length(max = 20))]
    #[schemars(extend("x-igor-sensitive" = true))]
    pub bmc_password: Option<String>,
    /// New RMCP+ cipher suite.
    #[schemars(range(min = 3, max = 3))]
    pub cipher_suite: Option<u8>,
    /// New description.
    #[schemars(length(max = 1024))]
    pub description: Option<String>,
}

/// A machine name, as `machine-add` allows it (so no other name can exist).
const NAME_PATTERN: &str = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$";

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MachineAdd2 {
    /// Machine name: letters, digits, '.', '_' and '-'.
    #[schemars(regex(pattern = NAME_PATTERN))]
    #[schemars(extend("x-igor-positional" = 0))]
    pub name: String,
    /// BMC host name or IP address: letters, digits, '.', '_', '-', ':' and '%'.
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[A-Za-z0-9._:%-]+$"))]
    pub bmc_host: String,
    /// BMC UDP port.
    #[serde(default = "default_port")]
    #[schemars(range(min = 1))]
    pub bmc_port: u16,
    /// BMC user name: printable ASCII.
    #[schemars(length(min = 1, max = 16), regex(pattern = r"^[\u0020-\u007e]+$"))]
    pub bmc_user: String,
    /// BMC password (stored encrypted, never shown).
    #[schemars(length(max = 20))]
    #[schemars(extend("x-igor-sensitive" = true))]
    pub bmc_password: String,
    /// RMCP+ cipher suite; 3 (HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128) is the one supported.
    #[serde(default = "default_cipher_suite")]
    #[schemars(range(min = 3, max = 3))]
    pub cipher_suite: u8,
    /// Free text; tabs and newlines are the only control characters allowed.
    #[serde(default)]
    #[schemars(length(max = 1024), regex(pattern = DESCRIPTION_PATTERN))]
    pub description: String,
}

/// `machine-add/3` (1.6): as version 2, with the BMC user and port defaulting to igord's
/// `[bmc] default_user` and `default_port` (see `command-defaults`).
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MachineAdd3 {
    /// Machine name: letters, digits, '.', '_' and '-'.
    #[schemars(regex(pattern = NAME_PATTERN))]
    #[schemars(extend("x-igor-positional" = 0))]
    pub name: String,
    /// BMC host name or IP address: letters, digits, '.', '_', '-', ':' and '%'.
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[A-Za-z0-9._:%-]+$"))]
    pub bmc_host: String,
    /// BMC UDP port; default: the server's [bmc] default_port (623 unless configured).
    #[schemars(range(min = 1))]
    #[schemars(extend("x-igor-dynamic-default" = "bmc.default_port"))]
    pub bmc_port: Option<u16>,
    /// BMC user name: printable ASCII; default: the server's [bmc] default_user, if set.
    #[schemars(length(min = 1, max = 16), regex(pattern = r"^[\u0020-\u007e]+$"))]
    #[schemars(extend("x-igor-dynamic-default" = "bmc.default_user"))]
    pub bmc_user: Option<String>,
    /// BMC password (stored encrypted, never shown).
    #[schemars(length(max = 20))]
    #[schemars(extend("x-igor-sensitive" = true))]
    pub bmc_password: String,
    /// RMCP+ cipher suite; 3 (HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128) is the one supported.
    #[serde(default = "default_cipher_suite")]
    #[schemars(range(min = 3, max = 3))]
    pub cipher_suite: u8,
    /// Free text; tabs and newlines are the only control characters allowed.
    #[serde(default)]
    #[schemars(length(max = 1024), regex(pattern = DESCRIPTION_PATTERN))]
    pub description: String,
    /// How igord speaks to the BMC: ipmi (RMCP+) or redfish (HTTPS).
    #[serde(default)]
    pub driver: Driver,
    /// Redfish: the ComputerSystem id; default: the only member of /redfish/v1/Systems.
    #[schemars(length(min = 1, max = 128), regex(pattern = r"^[A-Za-z0-9._:-]+$"))]
    pub redfish_system: Option<String>,
    /// Redfish: trust the BMC's certificate only with this SHA-256 fingerprint
    /// (sha256:HEX); default: the one it presents now (trust on first use, shown).
    #[schemars(regex(pattern = r"^sha256:[0-9A-Fa-f:]{64,95}$"))]
    pub bmc_fingerprint: Option<String>,
    /// Redfish: a CA (PEM) that vouches for the BMC's certificate, instead of a pin.
    #[schemars(length(max = 4096))]
    pub bmc_ca: Option<String>,
}

/// How igord speaks to a machine's BMC.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    /// IPMI 2.0 over LAN (RMCP+).
    #[default]
    Ipmi,
    /// DMTF Redfish over HTTPS.
    Redfish,
}

impl Driver {
    pub fn as_str(self) -> &'static str {
        match self {
            Driver::Ipmi => "ipmi",
            Driver::Redfish => "redfish",
        }
    }

    pub fn of(m: &Machine) -> Driver {
        if m.driver == "redfish" {
            Driver::Redfish
        } else {
            Driver::Ipmi
        }
    }

    /// What igor's commands can do on a machine of this driver.
    pub fn capabilities(self) -> Vec<String> {
        let all: &[&str] = match self {
            Driver::Ipmi => &[
                "power",
                "chassis-status",
                "identify",
                "bootdev",
                "sel",
                "sel-delete",
                "sensors",
                "fru",
                "bmc-info",
                "console",
            ],
            // Redfish has no chassis status of IPMI's kind, no per-record delete, no Get
            // Device ID and no serial console; the event log is there when the service has
            // LogServices.
            Driver::Redfish => &["power", "identify", "bootdev", "sel", "sensors", "fru"],
        };
        all.iter().map(|c| (*c).to_owned()).collect()
    }
}

impl MachineAdd3 {
    /// Version 2's parameters, with the server's defaults applied (the same values
    /// `command-defaults` reports).
    fn resolve(self, config: &crate::config::Config) -> Result<MachineAdd, ApiError> {
        let bmc_user = match self.bmc_user {
            Some(u) => u,
            None => config.bmc_default_user.clone().ok_or_else(|| {
                ApiError::invalid_param(
                    "bmc_user",
                    "required: this server has no [bmc] default_user to apply",
                )
            })?,
        };
        if self.driver == Driver::Ipmi
            && (self.redfish_system.is_some()
                || self.bmc_fingerprint.is_some()
                || self.bmc_ca.is_some())
        {
            return Err(ApiError::invalid_param(
                "driver",
                "redfish_system, bmc_fingerprint and bmc_ca are for driver redfish",
            ));
        }
        if self.bmc_fingerprint.is_some() && self.bmc_ca.is_some() {
            return Err(ApiError::invalid_param(
                "bmc_ca",
                "give a fingerprint to pin or a CA to trust, not both",
            ));
        }
        let default_port = match self.driver {
            Driver::Redfish => super::defaults::REDFISH_PORT,
            Driver::Ipmi => config.bmc_default_port,
        };
        Ok(MachineAdd {
            name: self.name,
            bmc_host: self.bmc_host,
            bmc_port: self.bmc_port.unwrap_or(default_port),
            bmc_user,
            bmc_password: self.bmc_password,
            cipher_suite: self.cipher_suite,
            description: self.description,
            driver: self.driver,
            redfish_system: self.redfish_system,
            tls_pin: self.bmc_fingerprint.map(|f| normalize_fingerprint(&f)),
            tls_ca: self.bmc_ca,
        })
    }
}

/// Free text: no control character but tab and newline.
const DESCRIPTION_PATTERN: &str = r"^[^\u0000-\u0008\u000b-\u001f\u007f-\u009f]*$";

impl From<MachineAdd2> for MachineAdd {
    fn from(p: MachineAdd2) -> Self {
        MachineAdd {
            name: p.name,
            bmc_host: p.bmc_host,
            bmc_port: p.bmc_port,
            bmc_user: p.bmc_user,
            bmc_password: p.bmc_password,
            cipher_suite: p.cipher_suite,
            description: p.description,
            driver: Driver::Ipmi,
            redfish_system: None,
            tls_pin: None,
            tls_ca: None,
        }
    }
}

/// `sha256:` and lowercase hex without separators, as igord stores and compares pins.
fn normalize_fingerprint(text: &str) -> String {
    let hex: String = text
        .trim_start_matches("sha256:")
        .chars()
        .filter(|c| *c != ':')
        .map(|c| c.to_ascii_lowercase())
        .collect();
    format!("sha256:{hex}")
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MachineMod2 {
    /// Machine name.
    #[schemars(regex(pattern = NAME_PATTERN))]
    #[schemars(extend("x-igor-positional" = 0))]
    pub name: String,
    /// New BMC host name or IP address: letters, digits, '.', '_', '-', ':' and '%'.
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[A-Za-z0-9._:%-]+$"))]
    pub bmc_host: Option<String>,
    /// New BMC UDP port.
    #[schemars(range(min = 1))]
    pub bmc_port: Option<u16>,
    /// New BMC user name: printable ASCII.
    #[schemars(length(min = 1, max = 16), regex(pattern = r"^[\u0020-\u007e]+$"))]
    pub bmc_user: Option<String>,
    /// New BMC password (stored encrypted, never shown).
    #[schemars(length(max = 20))]
    #[schemars(extend("x-igor-sensitive" = true))]
    pub bmc_password: Option<String>,
    /// New RMCP+ cipher suite.
    #[schemars(range(min = 3, max = 3))]
    pub cipher_suite: Option<u8>,
    /// New description; tabs and newlines are the only control characters allowed.
    #[schemars(length(max = 1024), regex(pattern = DESCRIPTION_PATTERN))]
    pub description: Option<String>,
}

/// `machine-mod/3` (1.6): version 2's changes, plus the driver and, for Redfish, the
/// system and the certificate's trust.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MachineMod3 {
    /// Machine name.
    #[schemars(regex(pattern = NAME_PATTERN))]
    #[schemars(extend("x-igor-positional" = 0))]
    pub name: String,
    /// New BMC host name or IP address: letters, digits, '.', '_', '-', ':' and '%'.
    #[schemars(length(min = 1, max = 253), regex(pattern = r"^[A-Za-z0-9._:%-]+$"))]
    pub bmc_host: Option<String>,
    /// New BMC port.
    #[schemars(range(min = 1))]
    pub bmc_port: Option<u16>,
    /// New BMC user name: printable ASCII.
    #[schemars(length(min = 1, max = 16), regex(pattern = r"^[\u0020-\u007e]+$"))]
    pub bmc_user: Option<String>,
    /// New BMC password (stored encrypted, never shown).
    #[schemars(length(max = 20))]
    #[schemars(extend("x-igor-sensitive" = true))]
    pub bmc_password: Option<String>,
    /// New RMCP+ cipher suite.
    #[schemars(range(min = 3, max = 3))]
    pub cipher_suite: Option<u8>,
    /// New description; tabs and newlines are the only control characters allowed.
    #[schemars(length(max = 1024), regex(pattern = DESCRIPTION_PATTERN))]
    pub description: Option<String>,
    /// New driver: ipmi or redfish (a Redfish BMC is enrolled again, as by machine-add).
    pub driver: Option<Driver>,
    /// Redfish: the ComputerSystem id.
    #[schemars(length(min = 1, max = 128), regex(pattern = r"^[A-Za-z0-9._:-]+$"))]
    pub redfish_system: Option<String>,
    /// Redfish: pin the certificate the BMC presents now, replacing the pinned one (after
    /// the BMC's certificate was changed on purpose).
    #[serde(default)]
    pub repin_certificate: bool,
    /// Redfish: pin exactly this certificate (sha256:HEX); the BMC must present it.
    #[schemars(regex(pattern = r"^sha256:[0-9A-Fa-f:]{64,95}$"))]
    pub bmc_fingerprint: Option<String>,
    /// Redfish: trust the BMC's certificate through this CA (PEM) instead of a pin.
    #[schemars(length(max = 4096))]
    pub bmc_ca: Option<String>,
}

impl From<MachineMod2> for MachineMod {
    fn from(p: MachineMod2) -> Self {
        MachineMod {
            name: p.name,
            bmc_host: p.bmc_host,
            bmc_port: p.bmc_port,
            bmc_user: p.bmc_user,
            bmc_password: p.bmc_password,
            cipher_suite: p.cipher_suite,
            description: p.description,
        }
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MachineFind2 {
    /// Only machines whose name contains this text (a name has at most 63 characters).
    #[schemars(length(max = 63))]
    #[schemars(extend("x-igor-positional" = 0))]
    pub criteria: Option<String>,
}

/// `machine-find/3`: the machines a set of selectors names, as a bulk command would
/// resolve them, optionally narrowed by a search text.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MachineFind3 {
    /// Machines: names, hostranges such as node[01-40], or globs such as rack4-*; none
    /// means every machine you may see.
    #[serde(default)]
    #[schemars(extend("x-igor-positional" = 0))]
    #[schemars(length(max = 10000))]
    pub machines: Vec<String>,
    /// Only machines whose name contains this text.
    #[schemars(length(max = 63))]
    pub criteria: Option<String>,
}

pub fn specs() -> Vec<CommandSpec> {
    vec![
        command(
            "machine-add",
            1,
            "1.0",
            "machine",
            Access::Admin,
            "Add a machine and the credentials of its BMC",
            add,
        )
        .rest(Verb::Post, "/api/machines")
        .rest_creates("/api/machines/{name}")
        .rest_may(&[409])
        .object("machine", "add")
        .audited()
        .target("name"),
        on_machine(
            "machine-show",
            1,
            "1.0",
            "machine",
            Access::Viewer,
            "Show a machine",
            show,
        )
        .rest(Verb::Get, "/api/machines/{name}")
        .object("machine", "show"),
        command(
            "machine-find",
            1,
            "1.0",
            "machine",
            Access::User,
            "List the machines you may see\nAdmins see every machine; users see those they hold a permission on.",
            find,
        )
        .rest(Verb::Get, "/api/machines")
        .object("machine", "find"),
        command(
            "machine-mod",
            1,
            "1.0",
            "machine",
            Access::Admin,
            "Change a machine's BMC address, credentials or description",
            modify,
        )
        .rest(Verb::Put, "/api/machines/{name}")
        .rest_may(&[404])
        .object("machine", "mod")
        .audited()
        .target("name"),
        command(
            "machine-del",
            1,
            "1.0",
            "machine",
            Access::Admin,
            "Delete a machine and every permission on it",
            del,
        )
        .rest(Verb::Delete, "/api/machines/{name}")
        .rest_may(&[404])
        .object("machine", "del")
        .audited()
        .target("name"),
        command(
            "machine-add",
            2,
            "1.4",
            "machine",
            Access::Admin,
            "Add a machine and the credentials of its BMC\nAs version 1, with the limits published: the BMC host and user hold no control characters, the description none but tabs and newlines.",
            |ctx, p: MachineAdd2| add(ctx, p.into()),
        )
        .rest(Verb::Post, "/api/machines")
        .rest_creates("/api/machines/{name}")
        .rest_may(&[409])
        .object("machine", "add")
        .audited()
        .target("name"),
        command(
            "machine-add",
            3,
            "1.6",
            "machine",
            Access::Admin,
            "Add a machine and the credentials of its BMC\nAs version 2, with the BMC user and port defaulting to the server's [bmc] default_user and default_port (command-defaults shows them), and --driver redfish for a Redfish BMC: its certificate is pinned (shown in the answer; --bmc-fingerprint insists on one, --bmc-ca trusts a CA instead), the credentials tried, and its ComputerSystem found (--redfish-system when it has several).",
            add_3,
        )
        .rest(Verb::Post, "/api/machines")
        .rest_creates("/api/machines/{name}")
        // A Redfish BMC is reached while it is enrolled.
        .rest_may(&[409, 502, 504])
        .object("machine", "add")
        .audited()
        .target("name"),
        command(
            "machine-find",
            2,
            "1.4",
            "machine",
            Access::User,
            "List the machines you may see\nAdmins see every machine; users see those they hold a permission on. As version 1, with the length of the search text bounded.",
            |ctx, p: MachineFind2| {
                find(
                    ctx,
                    MachineFind {
                        criteria: p.criteria,
                    },
                )
            },
        )
        .rest(Verb::Get, "/api/machines")
        .object("machine", "find"),
        command(
            "machine-mod",
            2,
            "1.4",
            "machine",
            Access::Admin,
            "Change a machine's BMC address, credentials or description\nAs version 1, with the limits of machine-add/2 published.",
            |ctx, p: MachineMod2| modify(ctx, p.into()),
        )
        .rest(Verb::Put, "/api/machines/{name}")
        .rest_may(&[404])
        .object("machine", "mod")
        .audited()
        .target("name"),
        command(
            "machine-mod",
            3,
            "1.6",
            "machine",
            Access::Admin,
            "Change a machine's BMC address, credentials, driver or description\nAs version 2, plus --driver and, for Redfish, --redfish-system and the certificate's trust: --repin-certificate pins the certificate the BMC presents now (after a deliberate change), --bmc-fingerprint a given one, --bmc-ca a CA. A Redfish BMC is reached again with the result before anything is changed.",
            modify_3,
        )
        .rest(Verb::Put, "/api/machines/{name}")
        .rest_may(&[404, 409, 502, 504])
        .object("machine", "mod")
        .audited()
        .target("name"),
        on_machine(
            "machine-show",
            2,
            "1.6",
            "machine",
            Access::Viewer,
            "Show a machine, with its driver and capabilities\nAs version 1, plus the driver (ipmi or redfish), for Redfish the system and how its certificate is trusted, and the capabilities igor's commands can use.",
            show_2,
        )
        .rest(Verb::Get, "/api/machines/{name}")
        .object("machine", "show"),
        command(
            "machine-find",
            3,
            "1.5",
            "machine",
            Access::User,
            "List the machines a set of names, hostranges or globs selects\n\
             What a bulk command given the same machines would act on, in the order it \
             would report them; selectors that name nothing you may see are counted in the \
             summary. Without machines, every machine you may see.",
            find_3,
        )
        .rest(Verb::Get, "/api/machines")
        .object("machine", "find"),
        command(
            "machine-find",
            4,
            "1.6",
            "machine",
            Access::User,
            "List the machines a set of names, hostranges or globs selects, with what you may do on each\n\
             As version 3, each machine shown as machine-show/2 shows it, with its driver and \
             capabilities, plus your access there: admin, operator or viewer.",
            find_4,
        )
        .rest(Verb::Get, "/api/machines")
        .object("machine", "find"),
    ]
}

async fn add(ctx: Ctx, p: MachineAdd) -> Result<Out<MachineOut>, ApiError> {
    let m = insert(&ctx, p).await?;
    let summary = format!("added machine '{}'", m.name);
    Ok(Out::new(out(&m), summary))
}

/// `machine-add/3`: a Redfish BMC is enrolled first (its certificate pinned or checked
/// against the CA, the credentials tried, the ComputerSystem found), so a machine that
/// cannot work is never added.
async fn add_3(ctx: Ctx, p: MachineAdd3) -> Result<Out<MachineOut2>, ApiError> {
    let mut p = p.resolve(&ctx.state.config)?;
    if p.driver == Driver::Redfish {
        let enrolled = enroll(
            &ctx,
            &p.name,
            &EnrollTarget {
                host: &p.bmc_host,
                port: p.bmc_port,
                user: &p.bmc_user,
                password: &p.bmc_password,
                pin: p.tls_pin.as_deref(),
                ca: p.tls_ca.as_deref(),
                system: p.redfish_system.as_deref(),
            },
        )
        .await?;
        p.tls_pin = enrolled.pin;
        p.redfish_system = Some(enrolled.system);
    }
    let m = insert(&ctx, p).await?;
    let summary = match &m.tls_pin {
        Some(pin) => format!(
            "added machine '{}' (redfish, its certificate pinned: {pin})",
            m.name
        ),
        None => format!("added machine '{}'", m.name),
    };
    Ok(Out::new(out2(&m), summary))
}

/// What `enroll` needs of a Redfish BMC.
struct EnrollTarget<'a> {
    host: &'a str,
    port: u16,
    user: &'a str,
    password: &'a str,
    /// The fingerprint to insist on (given by the admin, or pinned before).
    pin: Option<&'a str>,
    ca: Option<&'a str>,
    system: Option<&'a str>,
}

struct Enrolled {
    /// The pin to store (none when a CA is trusted).
    pin: Option<String>,
    system: String,
}

/// Reaches a Redfish BMC as igord will: trusts its certificate (the CA, the given pin, or
/// the one it presents now), logs in, and finds the ComputerSystem (the only one, or the
/// one named; several without a name is an error that lists them).
async fn enroll(ctx: &Ctx, machine: &str, t: &EnrollTarget<'_>) -> Result<Enrolled, ApiError> {
    use crate::bmc::redfish::{Conn, RedfishTarget, payload, probe_certificate, tls::Trust};
    let deadline = std::time::Instant::now() + ctx.state.config.bmc_deadline;
    let failed = |e: crate::bmc::redfish::RedfishError| crate::error::bmc_error(machine, e.into());
    let (trust, pin) = match (t.ca, t.pin) {
        (Some(ca), _) => (Trust::Ca(ca.to_owned()), None),
        (None, expected) => {
            let seen = probe_certificate(t.host, t.port, deadline)
                .await
                .map_err(failed)?;
            if let Some(expected) = expected
                && expected != seen
            {
                return Err(ApiError::Conflict(format!(
                    "machine '{machine}': the BMC presents the certificate {seen}, not {expected}"
                )));
            }
            (Trust::Pinned(seen.clone()), Some(seen))
        }
    };
    let target = RedfishTarget {
        host: t.host.to_owned(),
        port: t.port,
        user: t.user.to_owned(),
        password: t.password.to_owned(),
        trust,
    };
    let conn = Conn::open(&target, deadline).await.map_err(failed)?;
    let systems = conn.systems(deadline).await;
    conn.close().await;
    let ids: Vec<String> = systems
        .map_err(failed)?
        .iter()
        .map(|m| payload::id_of(m).to_owned())
        .collect();
    let system = match (t.system, ids.as_slice()) {
        (Some(want), _) if ids.iter().any(|i| i == want) => want.to_owned(),
        (Some(want), _) => {
            return Err(ApiError::invalid_param(
                "redfish_system",
                &format!("the BMC has no system '{want}'; it has: {}", ids.join(", ")),
            ));
        }
        (None, [only]) => only.clone(),
        (None, []) => {
            return Err(ApiError::invalid_param(
                "redfish_system",
                "the BMC lists no ComputerSystem",
            ));
        }
        (None, many) => {
            return Err(ApiError::invalid_param(
                "redfish_system",
                &format!(
                    "the BMC has {} systems, choose one: {}",
                    many.len(),
                    many.join(", ")
                ),
            ));
        }
    };
    Ok(Enrolled { pin, system })
}

async fn insert(ctx: &Ctx, p: MachineAdd) -> Result<Machine, ApiError> {
    let enc = ctx.state.key.encrypt(&p.bmc_password);
    ctx.write_recorded(move |c| {
        let new = NewMachine {
            name: &p.name,
            bmc_host: &p.bmc_host,
            bmc_port: i32::from(p.bmc_port),
            bmc_user: &p.bmc_user,
            bmc_password_enc: &enc,
            cipher_suite: i32::from(p.cipher_suite),
            description: &p.description,
            created_at: now(),
            driver: p.driver.as_str(),
            redfish_system: p.redfish_system.as_deref(),
            tls_pin: p.tls_pin.as_deref(),
            tls_ca: p.tls_ca.as_deref(),
        };
        models::machine_insert(c, &new).map_err(|e| ApiError::db(e, "machine", &p.name))?;
        let m = models::machine_by_name(c, &p.name).map_err(ApiError::from)?;
        let pin = m
            .tls_pin
            .as_deref()
            .map(|p| format!(", certificate {p}"))
            .unwrap_or_default();
        let detail = format!(
            "created machine '{}' (id {}, {} BMC {}:{} as '{}'{pin})",
            m.name, m.id, m.driver, m.bmc_host, m.bmc_port, m.bmc_user
        );
        Ok((m, Some(detail)))
    })
    .await
}

async fn show(_: Ctx, m: Machine, _: MachineName) -> Result<Out<MachineOut>, ApiError> {
    Ok(Out::new(out(&m), format!("machine '{}'", m.name)))
}

async fn find(ctx: Ctx, p: MachineFind) -> Result<Out<Vec<MachineOut>>, ApiError> {
    let (list, summary) = visible(&ctx, p.criteria).await?;
    Ok(Out::new(list.iter().map(out).collect(), summary))
}

/// Every machine the caller may see, narrowed by a search text, and the summary.
async fn visible(ctx: &Ctx, criteria: Option<String>) -> Result<(Vec<Machine>, String), ApiError> {
    let visible_to = (!ctx.caller.is_admin()).then_some(ctx.caller.id);
    let list = ctx
        .db(move |c| {
            models::machine_find(c, criteria.as_deref(), visible_to).map_err(ApiError::from)
        })
        .await?;
    let summary = format!("{} machine(s)", list.len());
    Ok((list, summary))
}

async fn find_3(ctx: Ctx, p: MachineFind3) -> Result<Out<Vec<MachineOut>>, ApiError> {
    let (list, summary) = selected(&ctx, p).await?;
    Ok(Out::new(list.iter().map(out).collect(), summary))
}

async fn find_4(ctx: Ctx, p: MachineFind3) -> Result<Out<Vec<MachineListed>>, ApiError> {
    let (list, summary) = selected(&ctx, p).await?;
    let roles: std::collections::HashMap<String, String> = if ctx.caller.is_admin() {
        std::collections::HashMap::new()
    } else {
        let me = ctx.caller.name.clone();
        ctx.db(move |c| models::permission_find(c, Some(&me), None).map_err(ApiError::from))
            .await?
            .into_iter()
            .map(|p| (p.machine, p.role))
            .collect()
    };
    let listed = list
        .iter()
        .map(|m| MachineListed {
            machine: out2(m),
            access: if ctx.caller.is_admin() {
                "admin".to_owned()
            } else {
                // Listed means visible: a permission this call did not see (revoked
                // meanwhile) reads as the least.
                roles
                    .get(&m.name)
                    .cloned()
                    .unwrap_or_else(|| "viewer".to_owned())
            },
        })
        .collect();
    Ok(Out::new(listed, summary))
}

/// The machines `machine-find/3` and `/4` list, and their summary.
async fn selected(ctx: &Ctx, p: MachineFind3) -> Result<(Vec<Machine>, String), ApiError> {
    if p.machines.is_empty() {
        return visible(ctx, p.criteria).await;
    }
    let targets = super::bulk::resolve(ctx, &p.machines, Access::Viewer).await?;
    let criteria = p.criteria.unwrap_or_default();
    let (mut list, mut unmatched) = (Vec::new(), Vec::new());
    for t in targets {
        match t {
            Ok(m) if m.name.contains(&criteria) => list.push(m),
            Ok(_) => {}
            Err((name, _)) => unmatched.push(name),
        }
    }
    let mut summary = format!("{} machine(s)", list.len());
    if !unmatched.is_empty() {
        // The first few say which; a call naming thousands must not echo them all.
        let shown: Vec<&str> = unmatched.iter().take(10).map(String::as_str).collect();
        let more = if unmatched.len() > shown.len() {
            ", ..."
        } else {
            ""
        };
        summary.push_str(&format!(
            "; {} selector(s) name nothing you may see: {}{more}",
            unmatched.len(),
            shown.join(", ")
        ));
    }
    Ok((list, summary))
}

async fn modify(ctx: Ctx, p: MachineMod) -> Result<Out<MachineOut>, ApiError> {
    let changes = MachineChanges {
        bmc_host: p.bmc_host,
        bmc_port: p.bmc_port.map(i32::from),
        bmc_user: p.bmc_user,
        bmc_password_enc: p.bmc_password.map(|pw| ctx.state.key.encrypt(&pw)),
        cipher_suite: p.cipher_suite.map(i32::from),
        description: p.description,
        ..MachineChanges::default()
    };
    if changes.is_empty() {
        return Err(ApiError::BadRequest(
            "nothing to change: give bmc_host, bmc_port, bmc_user, bmc_password, cipher_suite or description"
                .into(),
        ));
    }
    let name = p.name;
    let m = ctx
        .write(move |c| {
            let m =
                models::machine_by_name(c, &name).map_err(|e| ApiError::db(e, "machine", &name))?;
            models::machine_update(c, m.id, &changes)?;
            models::machine_by_name(c, &name).map_err(ApiError::from)
        })
        .await?;
    // New address or credentials: the kept session belongs to the old ones.
    ctx.state.bmc.forget(m.id).await;
    let summary = format!("modified machine '{}'", m.name);
    Ok(Out::new(out(&m), summary))
}

/// `machine-mod/3`. A machine that is (or becomes) Redfish is enrolled again whenever what
/// reaches or trusts its BMC changes, so a change that cannot work is refused whole.
async fn modify_3(ctx: Ctx, p: MachineMod3) -> Result<Out<MachineOut2>, ApiError> {
    let name = p.name.clone();
    let current = {
        let name = name.clone();
        ctx.db(move |c| {
            models::machine_by_name(c, &name).map_err(|e| ApiError::db(e, "machine", &name))
        })
        .await?
    };
    let was = Driver::of(&current);
    let driver = p.driver.unwrap_or(was);
    let trust_asked = p.repin_certificate || p.bmc_fingerprint.is_some() || p.bmc_ca.is_some();
    if driver == Driver::Ipmi && (trust_asked || p.redfish_system.is_some()) {
        return Err(ApiError::invalid_param(
            "driver",
            "repin_certificate, bmc_fingerprint, bmc_ca and redfish_system are for driver redfish",
        ));
    }
    if [
        p.repin_certificate,
        p.bmc_fingerprint.is_some(),
        p.bmc_ca.is_some(),
    ]
    .iter()
    .filter(|x| **x)
    .count()
        > 1
    {
        return Err(ApiError::invalid_param(
            "repin_certificate",
            "choose one of repin_certificate, bmc_fingerprint and bmc_ca",
        ));
    }
    let mut changes = MachineChanges {
        bmc_host: p.bmc_host.clone(),
        bmc_port: p.bmc_port.map(i32::from),
        bmc_user: p.bmc_user.clone(),
        bmc_password_enc: p.bmc_password.as_ref().map(|pw| ctx.state.key.encrypt(pw)),
        cipher_suite: p.cipher_suite.map(i32::from),
        description: p.description.clone(),
        driver: (driver != was).then(|| driver.as_str().to_owned()),
        ..MachineChanges::default()
    };
    let reaches_differently = p.bmc_host.is_some()
        || p.bmc_port.is_some()
        || p.bmc_user.is_some()
        || p.bmc_password.is_some()
        || p.redfish_system.is_some()
        || driver != was
        || trust_asked;
    match driver {
        Driver::Ipmi if was == Driver::Redfish => {
            changes.redfish_system = Some(None);
            changes.tls_pin = Some(None);
            changes.tls_ca = Some(None);
        }
        Driver::Redfish if reaches_differently => {
            let password = match &p.bmc_password {
                Some(pw) => pw.clone(),
                None => ctx.target(&current)?.password,
            };
            let host = p
                .bmc_host
                .clone()
                .unwrap_or_else(|| current.bmc_host.clone());
            let port = match p.bmc_port {
                Some(port) => port,
                // An IPMI machine becoming Redfish leaves the RMCP+ port behind.
                None if was == Driver::Ipmi => super::defaults::REDFISH_PORT,
                None => u16::try_from(current.bmc_port).unwrap_or(super::defaults::REDFISH_PORT),
            };
            let user = p
                .bmc_user
                .clone()
                .unwrap_or_else(|| current.bmc_user.clone());
            let (pin, ca) = if p.repin_certificate {
                (None, None)
            } else if let Some(f) = &p.bmc_fingerprint {
                (Some(normalize_fingerprint(f)), None)
            } else if let Some(ca) = &p.bmc_ca {
                (None, Some(ca.clone()))
            } else if was == Driver::Redfish && p.bmc_host.is_none() && p.bmc_port.is_none() {
                (current.tls_pin.clone(), current.tls_ca.clone())
            } else {
                // A new address is a new certificate: first use again.
                (None, None)
            };
            let system = p.redfish_system.clone().or_else(|| {
                (was == Driver::Redfish)
                    .then(|| current.redfish_system.clone())
                    .flatten()
            });
            let enrolled = enroll(
                &ctx,
                &name,
                &EnrollTarget {
                    host: &host,
                    port,
                    user: &user,
                    password: &password,
                    pin: pin.as_deref(),
                    ca: ca.as_deref(),
                    system: system.as_deref(),
                },
            )
            .await?;
            changes.bmc_port = Some(i32::from(port));
            changes.tls_pin = Some(enrolled.pin);
            changes.tls_ca = Some(ca);
            changes.redfish_system = Some(Some(enrolled.system));
        }
        _ => {}
    }
    if changes.is_empty() {
        return Err(ApiError::BadRequest(
            "nothing to change: give a BMC address, credentials, driver, certificate trust or description"
                .into(),
        ));
    }
    let m = ctx
        .write_recorded(move |c| {
            let m =
                models::machine_by_name(c, &name).map_err(|e| ApiError::db(e, "machine", &name))?;
            models::machine_update(c, m.id, &changes)?;
            let m = models::machine_by_name(c, &name).map_err(ApiError::from)?;
            let detail = m
                .tls_pin
                .as_deref()
                .filter(|_| changes.tls_pin.is_some())
                .map(|pin| {
                    format!(
                        "machine '{}' (id {}): certificate pinned {pin}",
                        m.name, m.id
                    )
                });
            Ok((m, detail))
        })
        .await?;
    ctx.state.bmc.forget(m.id).await;
    let summary = match (&m.tls_pin, p.repin_certificate) {
        (Some(pin), true) => format!("modified machine '{}': certificate re-pinned {pin}", m.name),
        _ => format!("modified machine '{}'", m.name),
    };
    Ok(Out::new(out2(&m), summary))
}

async fn show_2(_: Ctx, m: Machine, _: MachineName) -> Result<Out<MachineOut2>, ApiError> {
    Ok(Out::new(out2(&m), format!("machine '{}'", m.name)))
}

async fn del(ctx: Ctx, p: MachineName) -> Result<Out<Deleted>, ApiError> {
    let name = p.name;
    let deleted = ctx
        .write(move |c| {
            let m =
                models::machine_by_name(c, &name).map_err(|e| ApiError::db(e, "machine", &name))?;
            models::machine_delete(c, m.id)?;
            Ok(m)
        })
        .await?;
    ctx.state.bmc.forget(deleted.id).await;
    let summary = format!("deleted machine '{}'", deleted.name);
    Ok(Out::new(
        Deleted {
            name: deleted.name,
            deleted: true,
        },
        summary,
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::registry::Registry;

    /// What the published patterns of the 1.4 versions let through, and what the server
    /// refuses in the released versions whose schemas do not say it: the same values.
    #[test]
    fn control_characters_in_machine_fields() {
        let level = crate::registry::newest_level(&crate::commands::all());
        let registry = Registry::at_level(
            crate::commands::all(),
            crate::commands::classes(),
            crate::commands::TOPICS,
            level,
        )
        .unwrap();
        let base = json!({"name": "node01", "bmc_host": "10.0.0.1", "bmc_user": "ADMIN",
            "bmc_password": "pw"});
        let check = |field: &str, value: &str, refused: bool| {
            for version in [1, 2] {
                let mut p = base.clone();
                p[field] = Value::String(value.to_owned());
                let got = registry.get("machine-add", version).unwrap().validate(&p);
                assert_eq!(
                    got.is_err(),
                    refused,
                    "machine-add/{version} {field}={value:?}: {got:?}"
                );
                if let Err(e) = got {
                    let message = e.to_string();
                    assert!(message.contains(field), "{message}");
                    assert!(!message.chars().any(char::is_control), "{message:?}");
                }
                let mut m = json!({"name": "node01"});
                m[field] = Value::String(value.to_owned());
                assert_eq!(
                    registry
                        .get("machine-mod", version)
                        .unwrap()
                        .validate(&m)
                        .is_err(),
                    refused,
                    "machine-mod/{version} {field}={value:?}"
                );
            }
        };
        check("bmc_host", "bmc01.example.com", false);
        check("bmc_host", "fe80::1%eth0", false);
        check("bmc_host", "evil\u{1b}[2J", true);
        check("bmc_host", "host\0", true);
        check("bmc_host", "host\n", true);
        check("bmc_user", "ADMIN", false);
        check("bmc_user", "root user", false);
        check("bmc_user", "ad\u{1b}]0;x\u{7}", true);
        check("bmc_user", "ad\u{9b}m", true);
        check("bmc_user", "\t", true);
        check("description", "rack 4\nslot 2\tleft", false);
        check("description", "caf\u{e9} \u{2603}", false);
        check("description", "red\u{1b}[31m", true);
        check("description", "over\rwrite", true);
        check("description", "nul\0", true);
        check("description", "del\u{7f}", true);
    }
}

//! BMC access: the async face of igord's IPMI layer.
//!
//! [`BmcPool`] keeps one slot per machine key holding that BMC's RMCP+ session and runs
//! every call as a task on its own small tokio runtime (`pool.rs`); `session.rs` drives
//! our sans-io RMCP+ client (`rmcp/`) over one UDP socket per session; `commands/` builds
//! and parses each command (one file per area). The types here are what command handlers
//! see; they are plain data and deliberately not serializable (the server converts them to
//! wire types).

mod commands;
mod decode;
pub mod fru;
mod pool;
pub mod redfish;
pub mod rmcp;
mod session;
pub mod sol;

pub use pool::{BmcPool, ReplicaLocks};

use std::time::Duration;

/// What is needed to reach one BMC.
///
/// `password` must never be logged: `Debug` is written by hand and redacts it.
#[derive(Clone, PartialEq, Eq)]
pub struct BmcTarget {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: String,
    pub cipher_suite: u8,
    /// `Some`: the BMC speaks Redfish (HTTPS), not IPMI: how its certificate is trusted and
    /// which ComputerSystem is the machine.
    pub redfish: Option<RedfishLink>,
}

/// A Redfish machine's system and certificate trust.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RedfishLink {
    pub trust: redfish::tls::Trust,
    /// The ComputerSystem id.
    pub system: String,
}

impl std::fmt::Debug for BmcTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BmcTarget")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("cipher_suite", &self.cipher_suite)
            .field("redfish", &self.redfish)
            .finish()
    }
}

/// Tuning of the pool; one per server.
#[derive(Clone, Debug)]
pub struct BmcConfig {
    /// Global cap on BMC calls running at the same time (across all machines).
    pub max_concurrent: usize,
    /// Bound on one whole call: queueing, session setup and every request.
    pub deadline: Duration,
    /// A session unused this long is closed; must stay below the BMC's own idle timeout
    /// (ipmi_sim drops sessions after 30 s), or the BMC forgets it first.
    pub idle_timeout: Duration,
    /// Where calls and open sessions are counted (`None`: nowhere, as in tests of the
    /// pool alone).
    pub metrics: Option<crate::metrics::BmcMetrics>,
}

impl Default for BmcConfig {
    fn default() -> Self {
        Self {
            max_concurrent: 64,
            deadline: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(20),
            metrics: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PowerState {
    On,
    Off,
}

/// Chassis Control actions (NetFn Chassis, cmd 0x02); the discriminants are the wire values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChassisAction {
    PowerOff = 0,
    PowerOn = 1,
    PowerCycle = 2,
    HardReset = 3,
    SoftShutdown = 5,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChassisStatus {
    pub power_on: bool,
    pub power_overload: bool,
    pub power_interlock: bool,
    pub power_fault: bool,
    pub power_control_fault: bool,
    /// "always-off", "previous", "always-on" or "unknown".
    pub power_restore_policy: String,
    /// Causes of the last power event: "ac-failed", "overload", "interlock", "fault", "command".
    pub last_power_event: Vec<String>,
    pub intrusion: bool,
    pub front_panel_lockout: bool,
    pub drive_fault: bool,
    pub cooling_fault: bool,
    /// "off", "timed" or "on" when the BMC reports identify state, else `None`.
    pub identify: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    pub device_id: u8,
    pub device_revision: u8,
    /// "major.minor", minor as two BCD digits like ipmitool ("9.08").
    pub firmware_version: String,
    /// "2.0" for an IPMI 2.0 BMC.
    pub ipmi_version: String,
    pub manufacturer_id: u32,
    pub product_id: u16,
    pub device_available: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SelInfo {
    pub version: String,
    pub entries: u16,
    pub free_bytes: u16,
    /// Unix time of the last addition; `None` when the BMC says 0 or 0xFFFFFFFF.
    pub last_add: Option<u32>,
    pub last_erase: Option<u32>,
    pub overflow: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SelRecord {
    pub id: u16,
    pub record_type: u8,
    /// Unix seconds; `None` for "unspecified" (0xFFFFFFFF) and for the spec's pre-init
    /// range (below 0x20000000: seconds since BMC start, not a date; ipmitool's "Pre-Init").
    pub timestamp: Option<u32>,
    pub generator_id: u16,
    /// Lower-case name from the spec's sensor type table, e.g. "temperature", or "0x..";
    /// "oem" for OEM records (types 0xC0..0xFF), which carry no sensor fields.
    pub sensor_type: String,
    pub sensor_type_code: u8,
    pub sensor_number: u8,
    pub event_type: u8,
    /// Event direction: false = deassertion.
    pub asserted: bool,
    /// Short description: "upper critical going high" for threshold events, else "offset N".
    pub event: String,
    pub event_data: [u8; 3],
    pub raw: [u8; 16],
    /// The sensor's ID string from the SDR repository: the full, compact or event-only
    /// record whose owner (generator id byte 1, slave address or software id with its type
    /// bit), LUN (generator id byte 2, bits 1:0), sensor number and sensor type are the
    /// record's. ipmitool matches the same fields except the LUN. `None` for OEM records and
    /// when no SDR matches (or the BMC has no SDR repository).
    pub sensor_name: Option<String>,
    /// The event as ipmitool's `sel elist` words it (IPMI 2.0 tables 42-2 and 42-3 as
    /// ipmitool 1.8.19 has them): "Upper Critical going high", "Absent", "Hard reset",
    /// "Transition to Critical from less severe". OEM records get ipmitool's line:
    /// "OEM record c0 | 000157 | deadbeef0000". Empty where ipmitool prints nothing
    /// (OEM event types 0x70..0x7E, offsets the tables lack).
    pub event_text: String,
    /// Threshold events (event type 0x01) only: event data 2 when event data 1 says it is
    /// the trigger reading (bits 7:6 = 01).
    pub reading_raw: Option<u8>,
    /// Threshold events only: event data 3 when event data 1 says it is the trigger
    /// threshold (bits 5:4 = 01).
    pub threshold_raw: Option<u8>,
    /// `reading_raw` converted with the factors of the sensor's full SDR; `None` without a
    /// full SDR for it (compact records carry no factors) or a non-analog format.
    pub reading: Option<f64>,
    /// `threshold_raw` converted the same way.
    pub threshold: Option<f64>,
    /// ipmitool's last column for threshold events with a converted reading: "Reading 92 >
    /// Threshold 90 degrees C" ("<" for going-low offsets, reversed for deassertions), or
    /// "Reading 92" without a threshold. (ipmitool prints "Reading 0" when the event holds
    /// no reading; this is then `None`.)
    pub reading_text: Option<String>,
    /// The timestamp as ipmitool's `sel elist` shows it, date and time columns joined by
    /// one space: "06/15/24 12:00:03 UTC" (always UTC), "Pre-Init 0000003026" (seconds since
    /// BMC start: 0x20000000 and below), "Unspecified" (0xFFFFFFFF). `None` for OEM records
    /// without a timestamp (types 0xE0..0xFF).
    pub timestamp_text: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SensorReading {
    pub name: String,
    pub sensor_number: u8,
    pub sensor_type: String,
    /// Converted with the SDR's factors (threshold sensors of full SDRs only).
    pub value: Option<f64>,
    /// e.g. "degrees C", "RPM".
    pub unit: Option<String>,
    /// "ok", "lower non-critical", ..., "upper non-recoverable", "na" when there is no
    /// reading, or for discrete sensors the state bits (bit 0 = offset 0) as "0x0001".
    pub status: String,
    /// Threshold sensors of full SDRs: the thresholds the BMC reports readable (Get Sensor
    /// Thresholds, as `ipmitool sensor` reads them), converted with the SDR's factors.
    pub thresholds: Thresholds,
    /// Discrete sensors: the names of the asserted states, in offset order, as ipmitool
    /// names them (`ipmitool sensor get`, "States Asserted"): e.g. ["Present"]. Empty for
    /// threshold sensors and when no state is asserted or the reading is unavailable.
    pub states: Vec<String>,
}

/// A threshold sensor's thresholds; `None` where the BMC reports none (or no reading of
/// them could be made).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Thresholds {
    /// Lower non-recoverable.
    pub lnr: Option<f64>,
    /// Lower critical.
    pub lc: Option<f64>,
    /// Lower non-critical.
    pub lnc: Option<f64>,
    /// Upper non-critical.
    pub unc: Option<f64>,
    /// Upper critical.
    pub uc: Option<f64>,
    /// Upper non-recoverable.
    pub unr: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identify {
    Seconds(u8),
    ForceOn,
    Off,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BootDevice {
    Pxe,
    Disk,
    Cdrom,
    Bios,
}

/// The boot flags (System Boot Options parameter 5) as the BMC reports them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootFlags {
    /// "none" (no override), "pxe", "disk", "disk-safe", "diag", "cdrom", "bios",
    /// "remote-floppy", "remote-cdrom", "remote-media", "remote-disk", "floppy", or "0xNN"
    /// for a value the IPMI 2.0 table (28-14, boot device selector) does not name.
    pub device: String,
    /// The flags are valid (byte 1, bit 7).
    pub valid: bool,
    /// For every boot, not only the next one (byte 1, bit 6).
    pub persistent: bool,
    /// An EFI boot rather than a legacy one (byte 1, bit 5).
    pub efi: bool,
}

/// What happened to one record of a SEL delete call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelDeletion {
    Deleted,
    NotFound,
    /// The BMC refused this record (a completion code); later records were still tried.
    Failed(BmcError),
    /// The link broke while this record's request was out: the BMC may or may not have
    /// deleted it.
    Unknown(BmcError),
    /// Never sent, because the link broke (or the deadline passed) at an earlier record.
    NotAttempted(BmcError),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BmcError {
    #[error("the BMC did not answer within {0:?}")]
    Timeout(Duration),
    #[error("the BMC refused the credentials")]
    AuthFailed,
    #[error("the BMC answered completion code {code:#04x} ({meaning})")]
    Completion { code: u8, meaning: &'static str },
    #[error("no such record")]
    NotFound,
    /// Socket errors and the like; never carries the password.
    #[error("{0}")]
    Unreachable(String),
    #[error("the BMC sent an answer we could not understand: {0}")]
    Protocol(String),
    /// The BMC lacks what the operation needs (named): a Redfish service without an event
    /// log, say. Nothing was changed.
    #[error("not supported by this BMC: {0}")]
    NotSupported(String),
    /// The BMC answered an error of its own (Redfish), in its words.
    #[error("the BMC refused: {message} (HTTP {status})")]
    Refused { status: u16, message: String },
    #[error(
        "the BMC's certificate changed: pinned {pinned}, presented {presented}; an admin must re-pin it (machine-mod --repin-certificate)"
    )]
    CertificateChanged { pinned: String, presented: String },
}

impl BmcError {
    /// The error code the API answers this with (`error::bmc_error`), for metrics.
    pub fn code(&self) -> schema::ErrorCode {
        use schema::ErrorCode;
        match self {
            BmcError::Timeout(_) => ErrorCode::BmcTimeout,
            BmcError::AuthFailed => ErrorCode::BmcAuthFailed,
            BmcError::Completion { .. } => ErrorCode::BmcCompletionCode,
            BmcError::NotFound => ErrorCode::NotFound,
            BmcError::Unreachable(_) => ErrorCode::BmcUnreachable,
            BmcError::Protocol(_) => ErrorCode::BmcProtocolError,
            BmcError::NotSupported(_) => ErrorCode::NotSupported,
            BmcError::Refused { .. } => ErrorCode::BmcRefused,
            BmcError::CertificateChanged { .. } => ErrorCode::BmcCertificateChanged,
        }
    }

    pub(crate) fn completion(code: u8) -> Self {
        BmcError::Completion {
            code,
            meaning: decode::completion_meaning(code),
        }
    }
}

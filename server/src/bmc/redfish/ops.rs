//! igor's BMC operations on a Redfish service: the same [`Op`]s and [`Output`]s the IPMI
//! driver answers, so a command never knows which protocol a machine speaks. Where
//! Redfish has no counterpart (IPMI's chassis status, Get Device ID, deleting one SEL
//! record) the answer is `NotSupported`, naming what is missing.

use std::time::Instant;

use super::payload::{self, LogEntry, Reading, System};
use super::{Conn, RedfishError};
use crate::bmc::commands::{Op, Output};
use crate::bmc::fru::{ChassisArea, Fru, ProductArea};
use crate::bmc::{
    BmcError, BootDevice, BootFlags, ChassisAction, Identify, PowerState, SelInfo, SelRecord,
    SensorReading,
};

impl From<RedfishError> for BmcError {
    fn from(e: RedfishError) -> Self {
        match e {
            RedfishError::Timeout(d) => BmcError::Timeout(d),
            RedfishError::AuthFailed => BmcError::AuthFailed,
            RedfishError::CertificateChanged { pinned, presented } => {
                BmcError::CertificateChanged { pinned, presented }
            }
            RedfishError::Unreachable(m) => BmcError::Unreachable(m),
            RedfishError::Refused { status, message } => BmcError::Refused { status, message },
            RedfishError::NotFound(what) => BmcError::Protocol(format!("the BMC has no {what}")),
            RedfishError::Protocol(m) => BmcError::Protocol(m),
            RedfishError::NotSupported(what) => BmcError::NotSupported(what),
        }
    }
}

/// Redfish power states as IPMI's two: a system on its way down is still on, one on its
/// way up still off, as `PowerState` reads them later.
fn power_of(s: &System) -> Result<PowerState, BmcError> {
    match s.power_state.as_deref() {
        Some("On" | "PoweringOff" | "Paused") => Ok(PowerState::On),
        Some("Off" | "PoweringOn") => Ok(PowerState::Off),
        other => Err(BmcError::Protocol(format!(
            "the system's PowerState is {other:?}"
        ))),
    }
}

/// The `ResetType` of an IPMI chassis control, as Ironic maps them; a power cycle falls
/// back to `ForceRestart` where the service offers no `PowerCycle`.
fn reset_type(s: &System, action: ChassisAction) -> &'static str {
    match action {
        ChassisAction::PowerOn => "On",
        ChassisAction::PowerOff => "ForceOff",
        ChassisAction::SoftShutdown => "GracefulShutdown",
        ChassisAction::HardReset => "ForceRestart",
        ChassisAction::PowerCycle
            if s.reset_types.is_empty() || s.reset_types.iter().any(|t| t == "PowerCycle") =>
        {
            "PowerCycle"
        }
        ChassisAction::PowerCycle => "ForceRestart",
    }
}

fn boot_target(dev: BootDevice) -> &'static str {
    match dev {
        BootDevice::Pxe => "Pxe",
        BootDevice::Disk => "Hdd",
        BootDevice::Cdrom => "Cd",
        BootDevice::Bios => "BiosSetup",
    }
}

/// The override as IPMI's boot flags word it (`bootdev-get`).
fn boot_flags(s: &System) -> BootFlags {
    let device = match s.boot.target.as_deref() {
        None | Some("None") => "none".to_owned(),
        Some("Pxe") => "pxe".to_owned(),
        Some("Hdd") => "disk".to_owned(),
        Some("Cd") => "cdrom".to_owned(),
        Some("BiosSetup") => "bios".to_owned(),
        Some("Floppy") => "floppy".to_owned(),
        Some("Diags") => "diag".to_owned(),
        Some(other) => other.to_ascii_lowercase(),
    };
    let enabled = s.boot.enabled.as_deref();
    BootFlags {
        device,
        valid: matches!(enabled, Some("Once" | "Continuous")),
        persistent: enabled == Some("Continuous"),
        efi: s.boot.mode.as_deref() == Some("UEFI"),
    }
}

/// A log entry in the SEL record's shape. Redfish gives words, not bytes: the raw fields
/// stay zero, the id is the entry's when it is a number (else its position), and the
/// event is the entry's `EntryCode` or `Message`.
fn sel_record(i: usize, e: &LogEntry) -> SelRecord {
    let timestamp = e
        .created
        .as_deref()
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .and_then(|t| u32::try_from(t.timestamp()).ok());
    let sensor_type = e
        .sensor_type
        .clone()
        .unwrap_or_else(|| "event".into())
        .to_ascii_lowercase();
    let event = e
        .entry_code
        .clone()
        .or_else(|| e.message.clone())
        .unwrap_or_default();
    SelRecord {
        id: e
            .id
            .parse()
            .unwrap_or(u16::try_from(i + 1).unwrap_or(u16::MAX)),
        record_type: 0x02,
        timestamp,
        generator_id: 0,
        sensor_type,
        sensor_type_code: 0,
        sensor_number: e
            .sensor_number
            .and_then(|n| u8::try_from(n).ok())
            .unwrap_or(0),
        event_type: 0,
        asserted: true,
        event: event.to_ascii_lowercase(),
        event_data: [0; 3],
        raw: [0; 16],
        sensor_name: e.sensor_type.clone(),
        event_text: event,
        reading_raw: None,
        threshold_raw: None,
        reading: None,
        threshold: None,
        reading_text: e.message.clone().filter(|_| e.entry_code.is_some()),
        timestamp_text: e.created.clone(),
    }
}

fn sensor_reading(r: &Reading) -> SensorReading {
    let status = match r.health.as_deref() {
        _ if r.value.is_none() => "na",
        Some("OK") | None => "ok",
        Some("Warning") => "non-critical",
        Some("Critical") => "critical",
        Some(_) => "na",
    };
    SensorReading {
        name: r.name.clone(),
        sensor_number: 0,
        sensor_type: r.kind.clone(),
        value: r.value,
        unit: r.unit.clone(),
        status: status.to_owned(),
        thresholds: r.thresholds.clone(),
        states: Vec::new(),
    }
}

/// Runs one operation on `system` (its `@odata.id`) over `conn`.
pub async fn execute(
    conn: &Conn,
    system_path: &str,
    op: &Op,
    deadline: Instant,
) -> Result<Output, BmcError> {
    let system = conn.system(system_path, deadline).await?;
    Ok(match op {
        Op::PowerStatus => Output::Power(power_of(&system)?),
        Op::ChassisControl(action) => {
            conn.reset(&system, reset_type(&system, *action), deadline)
                .await?;
            Output::Done
        }
        Op::ChassisStatus => {
            return Err(BmcError::NotSupported(
                "chassis status (an IPMI reading; power-status works)".into(),
            ));
        }
        Op::DeviceId => {
            return Err(BmcError::NotSupported(
                "bmc-info (IPMI Get Device ID)".into(),
            ));
        }
        Op::SelInfo => {
            let (service, entries) = conn.log(&system, deadline).await?;
            let _ = service;
            Output::SelInfo(SelInfo {
                version: "redfish".into(),
                entries: u16::try_from(entries.len()).unwrap_or(u16::MAX),
                free_bytes: 0,
                last_add: None,
                last_erase: None,
                overflow: false,
            })
        }
        Op::SelList => {
            let (_, entries) = conn.log(&system, deadline).await?;
            Output::SelList(
                entries
                    .iter()
                    .enumerate()
                    .map(|(i, e)| sel_record(i, e))
                    .collect(),
            )
        }
        Op::SelDelete(_) => {
            return Err(BmcError::NotSupported(
                "deleting single event log entries (Redfish clears the whole log)".into(),
            ));
        }
        Op::SelClear => {
            let (service, _) = conn.log(&system, deadline).await?;
            conn.clear_log(&service, deadline).await?;
            Output::Done
        }
        Op::Sensors => {
            let chassis = conn
                .chassis(&system, deadline)
                .await?
                .ok_or_else(|| BmcError::NotSupported("sensors (no chassis)".into()))?;
            let readings = conn.readings(&chassis, deadline).await?;
            Output::Sensors(readings.iter().map(sensor_reading).collect())
        }
        Op::Identify(mode) => {
            let on = !matches!(mode, Identify::Off);
            conn.identify(system_path, &system, on, deadline).await?;
            Output::Done
        }
        Op::SetBootDevice(dev, persistent, efi) => {
            let mode = efi.then_some("UEFI");
            conn.set_boot(
                system_path,
                &system,
                boot_target(*dev),
                *persistent,
                mode,
                deadline,
            )
            .await?;
            Output::Done
        }
        Op::GetBootDevice => Output::Boot(boot_flags(&system)),
        Op::Fru(0) => {
            let chassis = conn.chassis(&system, deadline).await?;
            Output::Fru(Box::new(fru_of(&system, chassis.as_ref())))
        }
        Op::Fru(n) => {
            return Err(BmcError::NotSupported(format!(
                "FRU device {n} (Redfish has the system's inventory only: device 0)"
            )));
        }
    })
}

/// The system's and its chassis' identity in the FRU's shape: chassis area from the
/// Chassis, product area from the ComputerSystem (Redfish has no board area of its own).
fn fru_of(s: &System, c: Option<&payload::Chassis>) -> Fru {
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    Fru {
        chassis: c.map(|c| ChassisArea {
            kind: text(&c.chassis_type),
            part_number: text(&c.part_number),
            serial: text(&c.serial_number),
            extra: Vec::new(),
        }),
        board: None,
        product: Some(ProductArea {
            manufacturer: text(&s.manufacturer),
            name: text(&s.model),
            part_number: text(&s.part_number),
            version: String::new(),
            serial: text(&s.serial_number),
            asset_tag: c.map(|c| text(&c.asset_tag)).unwrap_or_default(),
            fru_file_id: String::new(),
            extra: s.sku.iter().map(|sku| format!("SKU {sku}")).collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> serde_json::Value {
        let path = format!(
            "{}/../tests/redfish-sim/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn ipmi_words_for_redfish_answers() {
        let s = payload::system(&fixture("sushy-system.json"));
        assert_eq!(power_of(&s).unwrap(), PowerState::Off);
        // sushy lists no PowerCycle: a cycle is a ForceRestart, as Ironic does it.
        assert_eq!(reset_type(&s, ChassisAction::PowerCycle), "ForceRestart");
        assert_eq!(reset_type(&s, ChassisAction::PowerOff), "ForceOff");
        let b = boot_flags(&s);
        assert_eq!(
            (b.device.as_str(), b.valid, b.persistent, b.efi),
            ("disk", true, true, true)
        );
        let (entries, _) = payload::log_entries(&fixture("dmtf-log-entries.json"));
        let r = sel_record(0, &entries[0]);
        assert_eq!(
            (r.id, r.event_text.as_str(), r.sensor_type.as_str()),
            (1, "Upper Critical - going high", "temperature")
        );
        assert_eq!(r.timestamp, Some(1_331_131_440));
        let c = payload::chassis(&fixture("sushy-chassis.json"));
        let fru = fru_of(&s, Some(&c));
        assert_eq!(fru.chassis.unwrap().serial, "437XR1138R2");
        assert_eq!(fru.product.unwrap().manufacturer, "Sushy Emulator");
    }
}

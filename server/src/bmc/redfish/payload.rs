//! Redfish payloads as igor reads them, following the DMTF schema (ServiceRoot,
//! ComputerSystem, LogService, LogEntry, Thermal, Power, Sensor). Pure: JSON in, our
//! types out; every field a BMC may leave out is optional, and unknown fields are ignored,
//! as the Redfish specification asks of clients.

use serde_json::Value;

use crate::bmc::Thresholds;

/// The links of the service root a client needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceRoot {
    pub systems: Option<String>,
    pub chassis: Option<String>,
    /// `SessionService.Sessions`, where a session is created (`POST` user and password).
    pub sessions: Option<String>,
}

fn link(v: &Value, key: &str) -> Option<String> {
    v.get(key)?.get("@odata.id")?.as_str().map(str::to_owned)
}

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key)?.as_str().map(str::to_owned)
}

pub fn service_root(v: &Value) -> ServiceRoot {
    ServiceRoot {
        systems: link(v, "Systems"),
        chassis: link(v, "Chassis"),
        sessions: v
            .get("Links")
            .and_then(|l| link(l, "Sessions"))
            .or_else(|| link(v, "SessionService").map(|s| format!("{s}/Sessions"))),
    }
}

/// The `@odata.id` of every member of a collection, in the order served.
pub fn members(v: &Value) -> Vec<String> {
    v.get("Members")
        .and_then(Value::as_array)
        .map(|m| {
            m.iter()
                .filter_map(|m| m.get("@odata.id").and_then(Value::as_str))
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// The last path segment of an `@odata.id`: the member's id.
pub fn id_of(odata_id: &str) -> &str {
    odata_id
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or(odata_id)
}

/// A ComputerSystem, as far as igor's commands go.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct System {
    pub id: String,
    /// `On`, `Off`, `PoweringOn`, `PoweringOff`, `Paused`.
    pub power_state: Option<String>,
    pub boot: BootOverride,
    /// `Lit`, `Blinking`, `Off` (deprecated in favour of `LocationIndicatorActive`).
    pub indicator_led: Option<String>,
    pub location_indicator_active: Option<bool>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub serial_number: Option<String>,
    pub part_number: Option<String>,
    pub sku: Option<String>,
    /// Where `ComputerSystem.Reset` is posted, and the reset types the service allows
    /// (empty: it does not say).
    pub reset_target: Option<String>,
    pub reset_types: Vec<String>,
    pub chassis: Vec<String>,
    pub log_services: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BootOverride {
    /// `None`, `Pxe`, `Hdd`, `Cd`, `BiosSetup`, `UefiHttp`...
    pub target: Option<String>,
    /// `Disabled`, `Once`, `Continuous`.
    pub enabled: Option<String>,
    /// `Legacy` or `UEFI`.
    pub mode: Option<String>,
    /// `BootSourceOverrideTarget@Redfish.AllowableValues`, when the service lists them.
    pub allowed_targets: Vec<String>,
}

fn strings(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

pub fn system(v: &Value) -> System {
    let boot = v.get("Boot").cloned().unwrap_or(Value::Null);
    let reset = v
        .get("Actions")
        .and_then(|a| a.get("#ComputerSystem.Reset"));
    System {
        id: text(v, "Id").unwrap_or_default(),
        power_state: text(v, "PowerState"),
        boot: BootOverride {
            target: text(&boot, "BootSourceOverrideTarget"),
            enabled: text(&boot, "BootSourceOverrideEnabled"),
            mode: text(&boot, "BootSourceOverrideMode"),
            allowed_targets: strings(boot.get("BootSourceOverrideTarget@Redfish.AllowableValues")),
        },
        indicator_led: text(v, "IndicatorLED"),
        location_indicator_active: v.get("LocationIndicatorActive").and_then(Value::as_bool),
        manufacturer: text(v, "Manufacturer"),
        model: text(v, "Model"),
        serial_number: text(v, "SerialNumber"),
        part_number: text(v, "PartNumber"),
        sku: text(v, "SKU"),
        reset_target: reset.and_then(|r| text(r, "target")),
        reset_types: strings(reset.and_then(|r| r.get("ResetType@Redfish.AllowableValues"))),
        chassis: v
            .get("Links")
            .and_then(|l| l.get("Chassis"))
            .and_then(Value::as_array)
            .map(|c| {
                c.iter()
                    .filter_map(|c| c.get("@odata.id").and_then(Value::as_str))
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
        log_services: link(v, "LogServices"),
    }
}

/// A chassis: its identity and where its readings are.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Chassis {
    pub id: String,
    pub chassis_type: Option<String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub serial_number: Option<String>,
    pub part_number: Option<String>,
    pub asset_tag: Option<String>,
    /// The `Sensors` collection (Redfish 2019.4 and later).
    pub sensors: Option<String>,
    /// The older `Thermal` and `Power` resources.
    pub thermal: Option<String>,
    pub power: Option<String>,
}

pub fn chassis(v: &Value) -> Chassis {
    Chassis {
        id: text(v, "Id").unwrap_or_default(),
        chassis_type: text(v, "ChassisType"),
        manufacturer: text(v, "Manufacturer"),
        model: text(v, "Model"),
        serial_number: text(v, "SerialNumber"),
        part_number: text(v, "PartNumber"),
        asset_tag: text(v, "AssetTag"),
        sensors: link(v, "Sensors"),
        thermal: link(v, "Thermal"),
        power: link(v, "Power"),
    }
}

/// A LogService: where its entries are and how it is cleared.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LogService {
    pub id: String,
    pub entries: Option<String>,
    pub clear_target: Option<String>,
    pub enabled: bool,
}

pub fn log_service(v: &Value) -> LogService {
    LogService {
        id: text(v, "Id").unwrap_or_default(),
        entries: link(v, "Entries"),
        clear_target: v
            .get("Actions")
            .and_then(|a| a.get("#LogService.ClearLog"))
            .and_then(|c| text(c, "target")),
        enabled: v.get("ServiceEnabled").and_then(Value::as_bool) != Some(false),
    }
}

/// One LogEntry (an event log or SEL record).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogEntry {
    pub id: String,
    /// RFC 3339, as the service wrote it.
    pub created: Option<String>,
    /// `OK`, `Warning`, `Critical`.
    pub severity: Option<String>,
    pub message: Option<String>,
    pub message_id: Option<String>,
    /// `Event`, `SEL`, `Oem`.
    pub entry_type: Option<String>,
    /// For SEL entries: the IPMI event in words, e.g. `Upper Critical - going high`.
    pub entry_code: Option<String>,
    pub sensor_type: Option<String>,
    pub sensor_number: Option<i64>,
}

/// The entries of one page of a LogEntry collection, and the link to the next page.
pub fn log_entries(v: &Value) -> (Vec<LogEntry>, Option<String>) {
    let entries = v
        .get("Members")
        .and_then(Value::as_array)
        .map(|m| m.iter().map(log_entry).collect())
        .unwrap_or_default();
    (
        entries,
        text(v, "Members@odata.nextLink").or_else(|| text(v, "@odata.nextLink")),
    )
}

pub fn log_entry(v: &Value) -> LogEntry {
    LogEntry {
        id: text(v, "Id").unwrap_or_default(),
        created: text(v, "Created"),
        severity: text(v, "Severity"),
        message: text(v, "Message"),
        message_id: text(v, "MessageId"),
        entry_type: text(v, "EntryType"),
        entry_code: text(v, "EntryCode"),
        sensor_type: text(v, "SensorType"),
        sensor_number: v.get("SensorNumber").and_then(Value::as_i64),
    }
}

/// A reading, from `Thermal`, `Power` or a `Sensor`, with the thresholds the service
/// gives (IPMI's names: lower/upper non-critical, critical, non-recoverable = fatal).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Reading {
    pub name: String,
    /// `temperature`, `fan`, `voltage`, `power`, or the Sensor's `ReadingType` lower-cased.
    pub kind: String,
    pub value: Option<f64>,
    pub unit: Option<String>,
    /// `Status.Health`: `OK`, `Warning`, `Critical`; `None` when absent (or the sensor is
    /// not enabled: then `value` is `None` too).
    pub health: Option<String>,
    pub thresholds: Thresholds,
}

fn num(v: &Value, key: &str) -> Option<f64> {
    v.get(key).and_then(Value::as_f64)
}

fn health(v: &Value) -> Option<String> {
    v.get("Status").and_then(|s| text(s, "Health"))
}

/// The thresholds of a `Thermal` or `Power` member (`LowerThresholdFatal`...).
fn legacy_thresholds(v: &Value) -> Thresholds {
    Thresholds {
        lnr: num(v, "LowerThresholdFatal"),
        lc: num(v, "LowerThresholdCritical"),
        lnc: num(v, "LowerThresholdNonCritical"),
        unc: num(v, "UpperThresholdNonCritical"),
        uc: num(v, "UpperThresholdCritical"),
        unr: num(v, "UpperThresholdFatal"),
    }
}

/// The members of the array `key`, leaving out the absent ones (`Status.State`).
fn present<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|m| enabled(m))
}

fn enabled(v: &Value) -> bool {
    v.get("Status").and_then(|s| text(s, "State")).as_deref() != Some("Absent")
}

/// `Thermal.Temperatures` and `Thermal.Fans`.
pub fn thermal(v: &Value) -> Vec<Reading> {
    let mut out = Vec::new();
    for t in present(v, "Temperatures") {
        out.push(Reading {
            name: text(t, "Name").unwrap_or_default(),
            kind: "temperature".into(),
            value: num(t, "ReadingCelsius"),
            unit: Some("degrees C".into()),
            health: health(t),
            thresholds: legacy_thresholds(t),
        });
    }
    for f in present(v, "Fans") {
        let unit = match text(f, "ReadingUnits").as_deref() {
            Some("Percent") => "percent",
            _ => "RPM",
        };
        out.push(Reading {
            name: text(f, "Name")
                .or_else(|| text(f, "FanName"))
                .unwrap_or_default(),
            kind: "fan".into(),
            value: num(f, "Reading"),
            unit: Some(unit.into()),
            health: health(f),
            thresholds: legacy_thresholds(f),
        });
    }
    out
}

/// `Power.Voltages` and `Power.PowerControl` (consumed watts).
pub fn power(v: &Value) -> Vec<Reading> {
    let mut out = Vec::new();
    for p in present(v, "Voltages") {
        out.push(Reading {
            name: text(p, "Name").unwrap_or_default(),
            kind: "voltage".into(),
            value: num(p, "ReadingVolts"),
            unit: Some("Volts".into()),
            health: health(p),
            thresholds: legacy_thresholds(p),
        });
    }
    for p in v
        .get("PowerControl")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        out.push(Reading {
            name: text(p, "Name").unwrap_or_else(|| "Power".into()),
            kind: "power".into(),
            value: num(p, "PowerConsumedWatts"),
            unit: Some("Watts".into()),
            health: health(p),
            ..Reading::default()
        });
    }
    out
}

/// One member of a `Sensors` collection.
pub fn sensor(v: &Value) -> Reading {
    let t = v.get("Thresholds").cloned().unwrap_or(Value::Null);
    let th = |k: &str| t.get(k).and_then(|x| num(x, "Reading"));
    Reading {
        name: text(v, "Name").unwrap_or_default(),
        kind: text(v, "ReadingType")
            .map(|k| k.to_ascii_lowercase())
            .unwrap_or_default(),
        value: num(v, "Reading"),
        unit: text(v, "ReadingUnits"),
        health: health(v),
        thresholds: Thresholds {
            lnr: th("LowerFatal"),
            lc: th("LowerCritical"),
            lnc: th("LowerCaution"),
            unc: th("UpperCaution"),
            uc: th("UpperCritical"),
            unr: th("UpperFatal"),
        },
    }
}

/// The words of a Redfish error answer: `error.message`, then each
/// `@Message.ExtendedInfo[].Message` that adds something. `None` if the body holds none.
pub fn error_message(body: &Value) -> Option<String> {
    let e = body.get("error")?;
    let mut parts: Vec<String> = Vec::new();
    if let Some(m) = text(e, "message") {
        parts.push(m);
    }
    for info in e
        .get("@Message.ExtendedInfo")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(m) = text(info, "Message")
            && !parts.contains(&m)
        {
            parts.push(m);
        }
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> Value {
        let path = format!(
            "{}/../tests/redfish-sim/fixtures/{name}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap();
        serde_json::from_str(&text).unwrap()
    }

    #[test]
    fn the_emulator_service_and_its_system() {
        let root = service_root(&fixture("sushy-root.json"));
        assert_eq!(root.systems.as_deref(), Some("/redfish/v1/Systems"));
        assert_eq!(
            root.sessions, None,
            "sushy's fake driver has no SessionService"
        );
        let systems = members(&fixture("sushy-systems.json"));
        assert_eq!(systems.len(), 1);
        let s = system(&fixture("sushy-system.json"));
        assert_eq!(id_of(&systems[0]), s.id);
        assert_eq!(s.power_state.as_deref(), Some("Off"));
        assert_eq!(s.boot.target.as_deref(), Some("Hdd"));
        assert_eq!(s.boot.enabled.as_deref(), Some("Continuous"));
        assert_eq!(s.boot.mode.as_deref(), Some("UEFI"));
        assert_eq!(s.boot.allowed_targets, ["Pxe", "Cd", "Hdd", "UefiHttp"]);
        assert_eq!(s.indicator_led.as_deref(), Some("Lit"));
        assert!(s.reset_types.iter().any(|t| t == "ForceOff"));
        assert!(
            s.reset_target
                .unwrap()
                .ends_with("/Actions/ComputerSystem.Reset")
        );
        assert_eq!(s.chassis.len(), 1);
    }

    #[test]
    fn chassis_identity_and_thermal_readings() {
        let c = chassis(&fixture("sushy-chassis.json"));
        assert_eq!(c.serial_number.as_deref(), Some("437XR1138R2"));
        assert_eq!(c.part_number.as_deref(), Some("224071-J23"));
        assert!(c.thermal.is_some());
        let r = thermal(&fixture("sushy-thermal.json"));
        let cpu = r.iter().find(|r| r.name == "CPU Temp").unwrap();
        assert_eq!(
            (
                cpu.value,
                cpu.thresholds.unc,
                cpu.thresholds.uc,
                cpu.thresholds.unr,
                cpu.thresholds.lc
            ),
            (Some(41.0), Some(42.0), Some(45.0), Some(48.0), None)
        );
        assert!(r.iter().any(|r| r.kind == "fan" && r.value.is_some()));
    }

    #[test]
    fn dmtf_mockup_sel_entries() {
        let services = members(&fixture("dmtf-logservices.json"));
        assert_eq!(services.len(), 1);
        let log = log_service(&fixture("dmtf-logservice.json"));
        assert!(log.enabled);
        assert!(log.clear_target.unwrap().ends_with("LogService.ClearLog"));
        let (entries, next) = log_entries(&fixture("dmtf-log-entries.json"));
        assert_eq!(entries.len(), 2);
        assert_eq!(
            next.as_deref(),
            Some("/redfish/v1/Systems/437XR1138R2/LogServices/Log1/Entries?$skiptoken=2")
        );
        let e = &entries[0];
        assert_eq!(
            (
                e.id.as_str(),
                e.entry_type.as_deref(),
                e.entry_code.as_deref(),
                e.sensor_type.as_deref(),
                e.sensor_number,
                e.created.as_deref()
            ),
            (
                "1",
                Some("SEL"),
                Some("Upper Critical - going high"),
                Some("Temperature"),
                Some(1),
                Some("2012-03-07T14:44:00Z")
            )
        );
    }

    #[test]
    fn error_words() {
        // As sushy-emulator answers a refused reset.
        let body = serde_json::json!({"error": {"code": "Base.1.0.GeneralError",
            "message": "Power state Bogus is not supported",
            "@Message.ExtendedInfo": [{"MessageId": "Base.1.0.GeneralError"}]}});
        assert_eq!(
            error_message(&body).as_deref(),
            Some("Power state Bogus is not supported")
        );
        let body = serde_json::json!({"error": {"code": "Base.1.8.GeneralError",
            "message": "A general error has occurred.",
            "@Message.ExtendedInfo": [{"Message": "The action ResetType On is not allowed."}]}});
        assert_eq!(
            error_message(&body).as_deref(),
            Some("A general error has occurred.; The action ResetType On is not allowed.")
        );
        assert_eq!(error_message(&serde_json::json!({"x": 1})), None);
    }
}

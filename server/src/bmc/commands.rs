//! The IPMI commands behind each pool operation: request bytes, response parsing and the
//! small protocols some need (SEL/SDR reservations, chunked SDR reads, clear polling).
//! ipmi-rs is used for SDR record parsing and names; every request goes out raw through
//! [`Session::request`], so completion codes are seen as sent by the BMC.

use std::time::{Duration, Instant};

use ipmi_rs::connection::LogicalUnit;
use ipmi_rs::storage::sdr::record::{DataFormat, Linearization, RecordContents};
use ipmi_rs::storage::sdr::{Record, record::WithSensorRecordCommon};

use super::decode::{le16, le32, sensor_type_name, threshold_event, unit_name};
use super::session::{Fail, Session};
use super::{
    BmcError, BootDevice, ChassisAction, ChassisStatus, DeviceInfo, Identify, PowerState,
    SelDeletion, SelInfo, SelRecord, SensorReading,
};

const APP: u8 = 0x06;
const CHASSIS: u8 = 0x00;
const SENSOR: u8 = 0x04;
const STORAGE: u8 = 0x0A;

const CC_RESERVATION_CANCELLED: u8 = 0xC5;
const CC_NOT_PRESENT: u8 = 0xCB;

/// One pool operation, as queued to a worker.
#[derive(Debug, Clone)]
pub enum Op {
    PowerStatus,
    ChassisControl(ChassisAction),
    ChassisStatus,
    DeviceId,
    SelInfo,
    SelList,
    SelDelete(Vec<u16>),
    SelClear,
    Sensors,
    Identify(Identify),
    SetBootDevice(BootDevice, bool),
}

impl Op {
    /// Reads may be repeated on a fresh session; actions must not run twice.
    pub fn is_read(&self) -> bool {
        matches!(
            self,
            Op::PowerStatus
                | Op::ChassisStatus
                | Op::DeviceId
                | Op::SelInfo
                | Op::SelList
                | Op::Sensors
        )
    }
}

#[derive(Debug)]
pub enum Output {
    Power(PowerState),
    Done,
    Chassis(ChassisStatus),
    Device(DeviceInfo),
    SelInfo(SelInfo),
    SelList(Vec<SelRecord>),
    SelDelete(Vec<SelDeletion>),
    Sensors(Vec<SensorReading>),
}

/// A session plus the deadline of the call it serves: no request is sent once the
/// deadline has passed (the session stays usable, since nothing went out).
pub struct Ctx<'a> {
    pub session: &'a mut Session,
    pub deadline: Instant,
    pub timeout_label: Duration,
    /// Set by an operation that answers with partial outcomes although the link failed
    /// under it; the worker then throws the session away as after any link failure.
    pub broken: Option<Fail>,
}

impl Ctx<'_> {
    fn req(&mut self, netfn: u8, cmd: u8, data: &[u8]) -> Result<Vec<u8>, Fail> {
        self.req_lun(netfn, cmd, data, LogicalUnit::Zero)
    }

    fn req_lun(
        &mut self,
        netfn: u8,
        cmd: u8,
        data: &[u8],
        lun: LogicalUnit,
    ) -> Result<Vec<u8>, Fail> {
        if Instant::now() >= self.deadline {
            return Err(Fail::Answer(BmcError::Timeout(self.timeout_label)));
        }
        self.session.request_lun(netfn, cmd, data, lun)
    }
}

fn short(what: &str, need: usize, got: &[u8]) -> Result<(), Fail> {
    if got.len() < need {
        return Err(Fail::Answer(BmcError::Protocol(format!(
            "{what}: {} bytes, expected at least {need}",
            got.len()
        ))));
    }
    Ok(())
}

fn cc_of(f: &Fail) -> Option<u8> {
    match f {
        Fail::Answer(BmcError::Completion { code, .. }) => Some(*code),
        _ => None,
    }
}

pub fn execute(ctx: &mut Ctx<'_>, op: &Op) -> Result<Output, Fail> {
    Ok(match op {
        Op::PowerStatus => {
            let status = chassis_status(ctx)?;
            Output::Power(if status.power_on {
                PowerState::On
            } else {
                PowerState::Off
            })
        }
        Op::ChassisStatus => Output::Chassis(chassis_status(ctx)?),
        Op::ChassisControl(action) => {
            ctx.req(CHASSIS, 0x02, &[*action as u8])?;
            Output::Done
        }
        Op::DeviceId => Output::Device(device_id(ctx)?),
        Op::SelInfo => Output::SelInfo(sel_info(ctx)?),
        Op::SelList => Output::SelList(sel_list(ctx)?),
        Op::SelDelete(ids) => Output::SelDelete(sel_delete(ctx, ids)?),
        Op::SelClear => {
            sel_clear(ctx)?;
            Output::Done
        }
        Op::Sensors => Output::Sensors(sensors(ctx)?),
        Op::Identify(mode) => {
            let data: &[u8] = match mode {
                Identify::Seconds(s) => &[*s],
                Identify::ForceOn => &[0, 1],
                Identify::Off => &[0],
            };
            ctx.req(CHASSIS, 0x04, data)?;
            Output::Done
        }
        Op::SetBootDevice(dev, persistent) => {
            set_boot_device(ctx, *dev, *persistent)?;
            Output::Done
        }
    })
}

/// A cheap request used to check that a kept session is still known to the BMC.
pub fn probe(ctx: &mut Ctx<'_>) -> Result<(), Fail> {
    ctx.req(APP, 0x01, &[]).map(|_| ())
}

fn chassis_status(ctx: &mut Ctx<'_>) -> Result<ChassisStatus, Fail> {
    let d = ctx.req(CHASSIS, 0x01, &[])?;
    short("get chassis status", 3, &d)?;
    let bit = |byte: u8, n: u8| byte & (1 << n) != 0;
    let policy = match (d[0] >> 5) & 0b11 {
        0 => "always-off",
        1 => "previous",
        2 => "always-on",
        _ => "unknown",
    };
    let last_power_event = [
        (0, "ac-failed"),
        (1, "overload"),
        (2, "interlock"),
        (3, "fault"),
        (4, "command"),
    ]
    .iter()
    .filter(|(n, _)| bit(d[1], *n))
    .map(|(_, s)| s.to_string())
    .collect();
    // Bit 6 says whether the BMC reports identify state at all.
    let identify = bit(d[2], 6).then(|| {
        match (d[2] >> 4) & 0b11 {
            0 => "off",
            1 => "timed",
            2 => "on",
            _ => "unknown",
        }
        .to_string()
    });
    Ok(ChassisStatus {
        power_on: bit(d[0], 0),
        power_overload: bit(d[0], 1),
        power_interlock: bit(d[0], 2),
        power_fault: bit(d[0], 3),
        power_control_fault: bit(d[0], 4),
        power_restore_policy: policy.to_string(),
        last_power_event,
        intrusion: bit(d[2], 0),
        front_panel_lockout: bit(d[2], 1),
        drive_fault: bit(d[2], 2),
        cooling_fault: bit(d[2], 3),
        identify,
    })
}

fn device_id(ctx: &mut Ctx<'_>) -> Result<DeviceInfo, Fail> {
    let d = ctx.req(APP, 0x01, &[])?;
    short("get device id", 11, &d)?;
    Ok(DeviceInfo {
        device_id: d[0],
        device_revision: d[1] & 0x0F,
        // The minor revision is BCD, so its hex digits are its decimal digits.
        firmware_version: format!("{}.{:02x}", d[2] & 0x7F, d[3]),
        // BCD with the digits swapped: 0x02 means 2.0, 0x51 means 1.5.
        ipmi_version: format!("{}.{}", d[4] & 0x0F, d[4] >> 4),
        manufacturer_id: u32::from_le_bytes([d[6], d[7], d[8] & 0x0F, 0]),
        product_id: le16(&d, 9),
        // Bit 7 set means "update or self-initialisation in progress".
        device_available: d[2] & 0x80 == 0,
    })
}

fn sel_info(ctx: &mut Ctx<'_>) -> Result<SelInfo, Fail> {
    let d = ctx.req(STORAGE, 0x40, &[])?;
    short("get sel info", 14, &d)?;
    let time = |v: u32| (v != 0 && v != 0xFFFF_FFFF).then_some(v);
    Ok(SelInfo {
        version: format!("{}.{}", d[0] & 0x0F, d[0] >> 4),
        entries: le16(&d, 1),
        free_bytes: le16(&d, 3),
        last_add: time(le32(&d, 5)),
        last_erase: time(le32(&d, 9)),
        overflow: d[13] & 0x80 != 0,
    })
}

fn sel_list(ctx: &mut Ctx<'_>) -> Result<Vec<SelRecord>, Fail> {
    let mut out = Vec::new();
    let mut id: u16 = 0x0000;
    loop {
        // Reservation 0 is allowed for reads that start at offset 0 (spec 31.5).
        let [lo, hi] = id.to_le_bytes();
        let d = match ctx.req(STORAGE, 0x43, &[0, 0, lo, hi, 0, 0xFF]) {
            Ok(d) => d,
            // An empty SEL answers "not present" for the first record.
            Err(f) if id == 0 && cc_of(&f) == Some(CC_NOT_PRESENT) => return Ok(out),
            Err(f) => return Err(f),
        };
        short("get sel entry", 18, &d)?;
        let next = le16(&d, 0);
        let mut raw = [0u8; 16];
        raw.copy_from_slice(&d[2..18]);
        out.push(decode_sel(raw));
        if next == 0xFFFF || next == id || out.len() > 0xFFFF {
            return Ok(out);
        }
        id = next;
    }
}

fn decode_sel(raw: [u8; 16]) -> SelRecord {
    let id = le16(&raw, 0);
    let record_type = raw[2];
    let ts = le32(&raw, 3);
    // 0x20000000 and below are seconds since BMC start ("pre-init"), not dates.
    let timestamp = (record_type < 0xE0 && ts != 0xFFFF_FFFF && ts > 0x2000_0000).then_some(ts);
    // OEM records (0xC0..0xFF) carry no sensor fields.
    if record_type >= 0xC0 {
        return SelRecord {
            id,
            record_type,
            timestamp,
            generator_id: 0,
            sensor_type: "oem".to_string(),
            sensor_type_code: 0,
            sensor_number: 0,
            event_type: 0,
            asserted: true,
            event: format!("oem record {record_type:#04x}"),
            event_data: [0; 3],
            raw,
        };
    }
    let event_type = raw[12] & 0x7F;
    let offset = raw[13] & 0x0F;
    let event = match (event_type == 0x01)
        .then(|| threshold_event(offset))
        .flatten()
    {
        Some(s) => s.to_string(),
        None => format!("offset {offset}"),
    };
    SelRecord {
        id,
        record_type,
        timestamp,
        generator_id: le16(&raw, 7),
        sensor_type: sensor_type_name(raw[10]),
        sensor_type_code: raw[10],
        sensor_number: raw[11],
        event_type,
        asserted: raw[12] & 0x80 == 0,
        event,
        event_data: [raw[13], raw[14], raw[15]],
        raw,
    }
}

fn reserve_sel(ctx: &mut Ctx<'_>) -> Result<[u8; 2], Fail> {
    let d = ctx.req(STORAGE, 0x42, &[])?;
    short("reserve sel", 2, &d)?;
    Ok([d[0], d[1]])
}

/// Another client's reservation cancels ours; give up after this many in a row rather
/// than fight it until the deadline.
const MAX_RESERVATION_RETRIES: usize = 5;

/// Deletes `ids` in order. A record the BMC refuses (a completion code) fails alone; a
/// link that breaks part-way ends the loop but not the answer: the records before it keep
/// their outcomes, the one in flight is `Unknown`, the rest `NotAttempted`, and the session
/// is marked broken. Only a failure before the first request fails the whole call.
fn sel_delete(ctx: &mut Ctx<'_>, ids: &[u16]) -> Result<Vec<SelDeletion>, Fail> {
    let mut out = Vec::with_capacity(ids.len());
    let mut reservation = reserve_sel(ctx)?;
    for (i, id) in ids.iter().enumerate() {
        let [lo, hi] = id.to_le_bytes();
        let mut attempts = 0;
        let outcome = loop {
            let fail = match ctx.req(STORAGE, 0x46, &[reservation[0], reservation[1], lo, hi]) {
                Ok(_) => break SelDeletion::Deleted,
                Err(f) => f,
            };
            match (cc_of(&fail), fail) {
                (Some(CC_NOT_PRESENT), _) => break SelDeletion::NotFound,
                // The BMC refused before deleting anything, so asking again is safe.
                (Some(CC_RESERVATION_CANCELLED), _) if attempts < MAX_RESERVATION_RETRIES => {
                    attempts += 1;
                    match reserve_sel(ctx) {
                        Ok(r) => reservation = r,
                        // Nothing was deleted for this record: it and the rest were not tried.
                        Err(f) => return Ok(stop_deleting(ctx, out, ids.len() - i, false, f)),
                    }
                }
                (_, Fail::Answer(e @ BmcError::Timeout(_))) => {
                    // Our own deadline check: this request never went out.
                    return Ok(stop_deleting(
                        ctx,
                        out,
                        ids.len() - i,
                        false,
                        Fail::Answer(e),
                    ));
                }
                (_, Fail::Answer(e)) => break SelDeletion::Failed(e),
                (_, link @ Fail::Link(_)) => {
                    return Ok(stop_deleting(ctx, out, ids.len() - i, true, link));
                }
            }
        };
        out.push(outcome);
    }
    Ok(out)
}

/// Ends a SEL delete early: the first of the `left` records is `Unknown` when its request
/// was out (`in_flight`), else `NotAttempted` like the others. A link failure marks the
/// session broken.
fn stop_deleting(
    ctx: &mut Ctx<'_>,
    mut out: Vec<SelDeletion>,
    left: usize,
    in_flight: bool,
    fail: Fail,
) -> Vec<SelDeletion> {
    let err = match &fail {
        Fail::Answer(e) | Fail::Link(e) => e.clone(),
    };
    let mut skipped = left;
    if in_flight {
        out.push(SelDeletion::Unknown(err.clone()));
        skipped -= 1;
    }
    out.extend(std::iter::repeat_n(SelDeletion::NotAttempted(err), skipped));
    if matches!(fail, Fail::Link(_)) {
        ctx.broken = Some(fail);
    }
    out
}

fn sel_clear(ctx: &mut Ctx<'_>) -> Result<(), Fail> {
    let mut attempts = 0;
    let reservation = loop {
        let r = reserve_sel(ctx)?;
        match ctx.req(STORAGE, 0x47, &[r[0], r[1], b'C', b'L', b'R', 0xAA]) {
            Ok(_) => break r,
            Err(f)
                if cc_of(&f) == Some(CC_RESERVATION_CANCELLED)
                    && attempts < MAX_RESERVATION_RETRIES =>
            {
                attempts += 1;
            }
            Err(f) => return Err(f),
        }
    };
    // Erasure may run in the background; poll its status (0x00 = "get status").
    loop {
        let d = ctx.req(
            STORAGE,
            0x47,
            &[reservation[0], reservation[1], b'C', b'L', b'R', 0x00],
        );
        match d {
            Ok(d) => {
                short("clear sel", 1, &d)?;
                if d[0] & 0x0F == 0x01 {
                    return Ok(());
                }
            }
            // Some BMCs cancel the reservation once the clear is done: it finished.
            Err(f) if cc_of(&f) == Some(CC_RESERVATION_CANCELLED) => return Ok(()),
            Err(f) => return Err(f),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn set_boot_device(ctx: &mut Ctx<'_>, dev: BootDevice, persistent: bool) -> Result<(), Fail> {
    // Boot flags parameter (5): byte 1 bit 7 "valid", bit 6 "persistent"; byte 2 bits 5:2
    // the device selector. Same bytes as `ipmitool chassis bootdev`.
    let selector = match dev {
        BootDevice::Pxe => 0x04,
        BootDevice::Disk => 0x08,
        BootDevice::Cdrom => 0x14,
        BootDevice::Bios => 0x18,
    };
    let flags = 0x80 | if persistent { 0x40 } else { 0x00 };
    ctx.req(CHASSIS, 0x08, &[0x05, flags, selector, 0x00, 0x00, 0x00])?;
    Ok(())
}

/// Get SDR answers are limited by the BMC's buffer; ipmi_sim refuses whole records
/// (0xCA), and 16 bytes is what ipmitool uses too.
const SDR_CHUNK: u8 = 16;

fn reserve_sdr(ctx: &mut Ctx<'_>) -> Result<[u8; 2], Fail> {
    let d = ctx.req(STORAGE, 0x22, &[])?;
    short("reserve sdr repository", 2, &d)?;
    Ok([d[0], d[1]])
}

/// Reads one SDR in chunks; returns (next record id, record bytes).
fn read_sdr(ctx: &mut Ctx<'_>, reservation: [u8; 2], id: u16) -> Result<(u16, Vec<u8>), Fail> {
    let [lo, hi] = id.to_le_bytes();
    let get = |ctx: &mut Ctx<'_>, offset: u8, len: u8| {
        ctx.req(
            STORAGE,
            0x23,
            &[reservation[0], reservation[1], lo, hi, offset, len],
        )
    };
    let head = get(ctx, 0, 5)?;
    short("get sdr header", 7, &head)?;
    let next = le16(&head, 0);
    let mut record = head[2..7].to_vec();
    let total = 5 + usize::from(record[4]);
    while record.len() < total {
        // total <= 260, so offsets fit a byte until the last chunk of a maximal record.
        let offset = u8::try_from(record.len())
            .map_err(|_| Fail::Answer(BmcError::Protocol("sdr record too long".into())))?;
        let want = SDR_CHUNK.min(u8::try_from(total - record.len()).unwrap_or(SDR_CHUNK));
        let d = get(ctx, offset, want)?;
        short("get sdr", 3, &d)?;
        record.extend_from_slice(&d[2..]);
    }
    record.truncate(total);
    Ok((next, record))
}

fn sensors(ctx: &mut Ctx<'_>) -> Result<Vec<SensorReading>, Fail> {
    let mut records = Vec::new();
    let mut reservation = reserve_sdr(ctx)?;
    let mut id: u16 = 0x0000;
    let mut attempts = 0;
    loop {
        let (next, bytes) = match read_sdr(ctx, reservation, id) {
            Ok(r) => r,
            Err(f)
                if cc_of(&f) == Some(CC_RESERVATION_CANCELLED)
                    && attempts < MAX_RESERVATION_RETRIES =>
            {
                attempts += 1;
                reservation = reserve_sdr(ctx)?;
                continue;
            }
            Err(f) => return Err(f),
        };
        records.push(bytes);
        if next == 0xFFFF || next == id || records.len() > 0xFFFF {
            break;
        }
        id = next;
    }
    let mut out = Vec::new();
    for bytes in records {
        let record = match Record::parse(&bytes) {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = ?e, "skipping unparsable sdr");
                continue;
            }
        };
        let (common, full) = match &record.contents {
            RecordContents::FullSensor(f) => (f.common(), Some(f)),
            RecordContents::CompactSensor(c) => (c.common(), None),
            _ => continue,
        };
        let number = common.key.sensor_number.get();
        // Event/reading type code: byte 14 of full and compact records.
        let reading_type = bytes.get(13).copied().unwrap_or(0);
        let threshold = reading_type == 0x01;
        let mut reading = SensorReading {
            name: common.sensor_id.to_string(),
            sensor_number: number,
            sensor_type: sensor_type_name(u8::from(common.ty)),
            value: None,
            unit: None,
            status: "na".to_string(),
        };
        let lun = common.key.owner_lun;
        let d = match ctx.req_lun(SENSOR, 0x2D, &[number], lun) {
            Ok(d) => d,
            // A sensor that has no reading right now is reported, not fatal.
            Err(Fail::Answer(BmcError::Completion { .. })) => {
                out.push(reading);
                continue;
            }
            Err(f) => return Err(f),
        };
        // Byte 2: bit 6 scanning enabled, bit 5 reading unavailable.
        let unavailable = d.len() < 2 || d[1] & 0x20 != 0 || d[1] & 0x40 == 0;
        if !unavailable {
            if threshold {
                let states = d.get(2).copied().unwrap_or(0);
                reading.status = threshold_status(states).to_string();
                if let Some(full) = full {
                    reading.value = convert(full, d[0]);
                    let units = u8::from(common.sensor_units.base_unit);
                    reading.unit = if common.sensor_units.is_percentage {
                        Some("percent".to_string())
                    } else {
                        unit_name(units).map(str::to_string)
                    };
                }
            } else {
                let low = d.get(2).copied().unwrap_or(0);
                let high = d.get(3).copied().unwrap_or(0) & 0x7F;
                reading.status = format!("{:#06x}", u16::from_le_bytes([low, high]));
            }
        }
        out.push(reading);
    }
    Ok(out)
}

fn threshold_status(states: u8) -> &'static str {
    // Most severe first, as ipmitool does.
    const ORDER: [(u8, &str); 6] = [
        (5, "upper non-recoverable"),
        (2, "lower non-recoverable"),
        (4, "upper critical"),
        (1, "lower critical"),
        (3, "upper non-critical"),
        (0, "lower non-critical"),
    ];
    ORDER
        .iter()
        .find(|(bit, _)| states & (1 << bit) != 0)
        .map_or("ok", |(_, s)| s)
}

/// y = L[(M x + B 10^Bexp) 10^Rexp] (spec 36.3).
fn convert(full: &ipmi_rs::storage::sdr::record::FullSensorRecord, raw: u8) -> Option<f64> {
    let x = match full.analog_data_format? {
        DataFormat::Unsigned => f64::from(raw),
        DataFormat::OnesComplement => {
            let v = raw as i8;
            f64::from(if v < 0 { v + 1 } else { v })
        }
        DataFormat::TwosComplement => f64::from(raw as i8),
    };
    let m = f64::from(full.m);
    let b = f64::from(full.b) * 10f64.powi(i32::from(full.b_exponent));
    let y = (m * x + b) * 10f64.powi(i32::from(full.result_exponent));
    let y = match full.linearization {
        Linearization::Linear => y,
        Linearization::Ln => y.ln(),
        Linearization::Log10 => y.log10(),
        Linearization::Log2 => y.log2(),
        Linearization::E => y.exp(),
        Linearization::Exp10 => 10f64.powf(y),
        Linearization::Exp2 => y.exp2(),
        Linearization::OneOverX => 1.0 / y,
        Linearization::Sqr => y * y,
        Linearization::Cube => y * y * y,
        Linearization::Sqrt => y.sqrt(),
        Linearization::CubeRoot => y.cbrt(),
        Linearization::Oem(_) | Linearization::Unknown(_) => return None,
    };
    y.is_finite().then_some(y)
}

//! The SDR repository and the sensors it describes: reading every record in chunks under a
//! reservation, then one Get Sensor Reading per sensor record, converted with the record's
//! factors.
//!
//! ipmi-rs 0.6 has no Reserve SDR Repository, and its Get SDR always asks for a whole
//! record from offset 0, which BMCs with small buffers refuse (ipmi_sim answers 0xCA): those
//! requests are our own bytes. Records are parsed by ipmi-rs; readings are asked for with its
//! Get Sensor Reading.

use ipmi_rs::connection::CompletionErrorCode::ReservationCancelledOrInvalidId as Cancelled;
use ipmi_rs::connection::IpmiCommand;
use ipmi_rs::sensor_event::{GetSensorReading, ThresholdReading, ThresholdStatus};
use ipmi_rs::storage::sdr::record::{
    DataFormat, FullSensorRecord, Linearization, RecordContents, SensorKey,
};
use ipmi_rs::storage::sdr::{Record, record::WithSensorRecordCommon};

use super::{Ctx, MAX_RESERVATION_RETRIES, STORAGE, cc_of, short};
use crate::bmc::decode::{le16, sensor_type_name, unit_name};
use crate::bmc::session::Fail;
use crate::bmc::{BmcError, SensorReading};

/// Get SDR answers are limited by the BMC's buffer; ipmi_sim refuses whole records
/// (0xCA), and 16 bytes is what ipmitool uses too.
const SDR_CHUNK: u8 = 16;

fn reserve(ctx: &mut Ctx<'_>) -> Result<[u8; 2], Fail> {
    let d = ctx.req(STORAGE, 0x22, &[])?;
    short("reserve sdr repository", 2, &d)?;
    Ok([d[0], d[1]])
}

/// Reads one SDR in chunks; returns (next record id, record bytes).
fn read(ctx: &mut Ctx<'_>, reservation: [u8; 2], id: u16) -> Result<(u16, Vec<u8>), Fail> {
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

pub(super) fn sensors(ctx: &mut Ctx<'_>) -> Result<Vec<SensorReading>, Fail> {
    let mut records = Vec::new();
    let mut reservation = reserve(ctx)?;
    let mut id: u16 = 0x0000;
    let mut attempts = 0;
    loop {
        let (next, bytes) = match read(ctx, reservation, id) {
            Ok(r) => r,
            Err(f) if cc_of(&f) == Some(Cancelled) && attempts < MAX_RESERVATION_RETRIES => {
                attempts += 1;
                reservation = reserve(ctx)?;
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
    for sensor in records.iter().filter_map(|bytes| sensor_of(bytes)) {
        let request = GetSensorReading::for_sensor_key(&sensor.key);
        match ctx.send_lun(request, sensor.key.owner_lun) {
            Ok(d) => out.push(reading_of(&sensor, &d)),
            // A sensor that has no reading right now is reported, not fatal.
            Err(Fail::Answer(BmcError::Completion { .. })) => out.push(sensor.no_reading()),
            Err(f) => return Err(f),
        }
    }
    Ok(out)
}

/// What a sensor record says about its sensor: enough to ask for a reading and show it.
struct Sensor {
    name: String,
    key: SensorKey,
    sensor_type: String,
    /// Event/reading type 0x01: the reading is a value checked against thresholds.
    threshold: bool,
    /// Full records carry the conversion factors and the unit; compact ones do not.
    full: Option<FullSensorRecord>,
}

impl Sensor {
    fn no_reading(&self) -> SensorReading {
        SensorReading {
            name: self.name.clone(),
            sensor_number: self.key.sensor_number.get(),
            sensor_type: self.sensor_type.clone(),
            value: None,
            unit: None,
            status: "na".to_string(),
        }
    }
}

/// Decodes one SDR; `None` for records that describe no readable sensor (device locators,
/// event-only sensors) and for records ipmi-rs cannot parse.
fn sensor_of(bytes: &[u8]) -> Option<Sensor> {
    let record = match Record::parse(bytes) {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(error = ?e, "skipping unparsable sdr");
            return None;
        }
    };
    let (common, full) = match record.contents {
        RecordContents::FullSensor(f) => (f.common().clone(), Some(f)),
        RecordContents::CompactSensor(c) => (c.common().clone(), None),
        _ => return None,
    };
    Some(Sensor {
        name: common.sensor_id.to_string(),
        key: common.key,
        sensor_type: sensor_type_name(u8::from(common.ty)),
        // Event/reading type code: byte 14 of full and compact records.
        threshold: bytes.get(13) == Some(&0x01),
        full,
    })
}

/// Decodes a Get Sensor Reading answer for `sensor`. ipmi-rs's `ThresholdReading` is its
/// only public view of an answer; its flags (scanning disabled, reading unavailable) hold
/// for every sensor, but it keeps only the first state byte, so a discrete sensor's states
/// are read from the bytes here.
fn reading_of(sensor: &Sensor, d: &[u8]) -> SensorReading {
    let mut reading = sensor.no_reading();
    let Ok(raw) = GetSensorReading::parse_success_response(d) else {
        return reading;
    };
    let view = ThresholdReading::from(&raw);
    let (false, Some(x)) = (view.scanning_disabled, view.reading) else {
        return reading;
    };
    if sensor.threshold {
        reading.status = threshold_status(view.threshold_status).to_string();
        if let Some(full) = &sensor.full {
            reading.value = convert(full, x);
            let units = &full.common().sensor_units;
            reading.unit = if units.is_percentage {
                Some("percent".to_string())
            } else {
                unit_name(u8::from(units.base_unit)).map(str::to_string)
            };
        }
    } else {
        let low = d.get(2).copied().unwrap_or(0);
        let high = d.get(3).copied().unwrap_or(0) & 0x7F;
        reading.status = format!("{:#06x}", u16::from_le_bytes([low, high]));
    }
    reading
}

/// The most severe threshold crossed, as ipmitool orders them; "ok" when the BMC sent no
/// state byte.
fn threshold_status(states: Option<ThresholdStatus>) -> &'static str {
    let Some(s) = states else { return "ok" };
    [
        (s.at_or_above_non_recoverable, "upper non-recoverable"),
        (s.at_or_below_lower_non_recoverable, "lower non-recoverable"),
        (s.at_or_above_upper_critical, "upper critical"),
        (s.at_or_below_lower_critical, "lower critical"),
        (s.at_or_above_upper_non_critical, "upper non-critical"),
        (s.at_or_below_lower_non_critical, "lower non-critical"),
    ]
    .iter()
    .find(|(crossed, _)| *crossed)
    .map_or("ok", |(_, s)| s)
}

/// y = L[(M x + B 10^Bexp) 10^Rexp] (spec 36.3).
fn convert(full: &FullSensorRecord, raw: u8) -> Option<f64> {
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

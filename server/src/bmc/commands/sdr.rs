//! The SDR repository and the sensors it describes: reading every record in chunks under a
//! reservation, then one Get Sensor Reading per sensor record, converted with the record's
//! factors.
//!
//! ipmi-rs 0.6 has no Reserve SDR Repository, and its Get SDR always asks for a whole
//! record from offset 0, which BMCs with small buffers refuse (ipmi_sim answers 0xCA): those
//! requests are our own bytes. Records are parsed by ipmi-rs, except for the conversion
//! factors (see [`Factors`]); readings are asked for with its Get Sensor Reading.

use ipmi_rs::connection::CompletionErrorCode::ReservationCancelledOrInvalidId as Cancelled;
use ipmi_rs::connection::IpmiCommand;
use ipmi_rs::sensor_event::{GetSensorReading, ThresholdReading, ThresholdStatus};
use ipmi_rs::storage::sdr::record::{RecordContents, SensorKey};
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
    analog: Option<(Factors, Option<String>)>,
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
    // ipmi-rs 0.6 indexes past the end of full and compact records shorter than the spec
    // allows (their body runs at least to the ID string's type/length byte: 43 and 27
    // bytes) and panics on a compact record's reserved ID string modifier (byte 24, bits
    // 5:4). Such records are skipped before it sees them, like those it refuses; a panic
    // would fail the whole call. Other record types are not parsed at all.
    let body = bytes.len().saturating_sub(5);
    let parsable = match bytes.get(3) {
        Some(0x01) => body >= 43,
        Some(0x02) => body >= 27 && (bytes[23] >> 4) & 0b11 < 0b10,
        _ => return None,
    };
    if !parsable {
        tracing::debug!(record = ?bytes, "skipping malformed sdr");
        return None;
    }
    let record = match Record::parse(bytes) {
        Ok(r) => r,
        Err(e) => {
            tracing::debug!(error = ?e, "skipping unparsable sdr");
            return None;
        }
    };
    let (common, factors) = match record.contents {
        RecordContents::FullSensor(f) => (f.common().clone(), Factors::of(bytes)),
        RecordContents::CompactSensor(c) => (c.common().clone(), None),
        _ => return None,
    };
    let units = &common.sensor_units;
    let unit = if units.is_percentage {
        Some("percent".to_string())
    } else {
        unit_name(u8::from(units.base_unit)).map(str::to_string)
    };
    Some(Sensor {
        name: common.sensor_id.to_string(),
        key: common.key,
        sensor_type: sensor_type_name(u8::from(common.ty)),
        // Event/reading type code: byte 14 of full and compact records.
        threshold: bytes.get(13) == Some(&0x01),
        analog: factors.map(|f| (f, unit)),
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
        if let Some((factors, unit)) = &sensor.analog {
            reading.value = factors.convert(x);
            reading.unit = unit.clone();
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

/// How a full record turns raw readings into values: y = L[(M x + B 10^Bexp) 10^Rexp]
/// (spec 36.3, record bytes 21 and 24 to 30 of table 43-1), read from the bytes as ipmitool
/// reads them. Not ipmi-rs 0.6's `FullSensorRecord` fields: it drops bit 9 of M (M -2
/// becomes -514) and takes linearization 9 (cube) for sqrt and 10 (sqrt) for cube.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Factors {
    /// Analog data format: 0 unsigned, 1 one's complement, 2 two's complement, 3 none.
    format: u8,
    linearization: u8,
    m: i16,
    b: i16,
    b_exp: i8,
    r_exp: i8,
}

impl Factors {
    /// `None` when the record is too short to hold them.
    fn of(record: &[u8]) -> Option<Factors> {
        let r = record.get(..30)?;
        // M and B are 10-bit two's complement (8 low bits, then bits 7:6 of the next
        // byte), the exponents 4-bit two's complement.
        let ten_bits = |low: u8, high: u8| {
            let v = u16::from(low) | (u16::from(high >> 6) << 8);
            ((v << 6) as i16) >> 6
        };
        let four_bits = |v: u8| ((v << 4) as i8) >> 4;
        Some(Factors {
            format: r[20] >> 6,
            linearization: r[23] & 0x7F,
            m: ten_bits(r[24], r[25]),
            b: ten_bits(r[26], r[27]),
            r_exp: four_bits(r[29] >> 4),
            b_exp: four_bits(r[29] & 0x0F),
        })
    }

    fn convert(&self, raw: u8) -> Option<f64> {
        let x = match self.format {
            0 => f64::from(raw),
            // One's complement: negative values are one below their two's complement.
            1 => {
                let v = raw as i8;
                f64::from(if v < 0 { v + 1 } else { v })
            }
            2 => f64::from(raw as i8),
            _ => return None,
        };
        let m = f64::from(self.m);
        let b = f64::from(self.b) * 10f64.powi(i32::from(self.b_exp));
        let y = (m * x + b) * 10f64.powi(i32::from(self.r_exp));
        let y = match self.linearization {
            0x00 => y,
            0x01 => y.ln(),
            0x02 => y.log10(),
            0x03 => y.log2(),
            0x04 => y.exp(),
            0x05 => 10f64.powf(y),
            0x06 => y.exp2(),
            0x07 => 1.0 / y,
            0x08 => y * y,
            0x09 => y * y * y,
            0x0A => y.sqrt(),
            0x0B => y.cbrt(),
            // 0x70..=0x7F are OEM non-linear: the formula is not in the record.
            _ => return None,
        };
        y.is_finite().then_some(y)
    }
}

#[cfg(test)]
mod tests {
    use super::{reading_of, sensor_of};

    // SDRs read from ipmi_sim 1.0.13 (OpenIPMI 2.0.33) with tests/bmc-sim/bmc.emu plus
    // tests/bmc-sim/fixtures/decoders.emu, through `ipmitool -I lanplus -C 3 ... raw 0x0a
    // 0x23 RES_LO RES_HI ID_LO ID_HI OFFSET LEN` in chunks of 16 bytes, as igord reads them.

    /// MC device locator (type 0x12), from tests/bmc-sim/bmc.sdrs.
    const MC_LOCATOR: &[u8] = &[
        0x01, 0x00, 0x51, 0x12, 0x17, 0x20, 0x00, 0x00, 0x8f, 0x00, 0x00, 0x00, 0x07, 0x01, 0x00,
        0xcc, 0x69, 0x70, 0x6d, 0x69, 0x5f, 0x73, 0x69, 0x6d, 0x20, 0x42, 0x4d, 0x43,
    ];
    /// Event-only sensor (type 0x03), from tests/bmc-sim/bmc.sdrs.
    const WATCHDOG: &[u8] = &[
        0x02, 0x00, 0x51, 0x03, 0x14, 0x20, 0x00, 0x00, 0x07, 0x01, 0x23, 0x6f, 0x00, 0x00, 0x00,
        0x00, 0xc8, 0x77, 0x61, 0x74, 0x63, 0x68, 0x64, 0x6f, 0x67,
    ];
    /// Full, temperature, M 1, from tests/bmc-sim/bmc.sdrs.
    const CPU_TEMP: &[u8] = &[
        0x03, 0x00, 0x51, 0x01, 0x33, 0x20, 0x00, 0x01, 0x07, 0x01, 0x45, 0x00, 0x01, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x01, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0xc8, 0x43, 0x50, 0x55, 0x20, 0x54, 0x65, 0x6d, 0x70,
    ];
    /// Full, fan, M 50, from tests/bmc-sim/bmc.sdrs.
    const FAN1: &[u8] = &[
        0x04, 0x00, 0x51, 0x01, 0x2f, 0x20, 0x00, 0x03, 0x1d, 0x01, 0x45, 0x00, 0x04, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x12, 0x00, 0x00, 0x32, 0x00, 0x00, 0x01, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0xc4, 0x46, 0x41, 0x4e, 0x31,
    ];
    /// Compact, entity presence (discrete), from tests/bmc-sim/bmc.sdrs.
    const DIMM1: &[u8] = &[
        0x05, 0x00, 0x51, 0x02, 0x29, 0x20, 0x00, 0x02, 0x08, 0x01, 0x00, 0x00, 0x25, 0x6f, 0x03,
        0x00, 0x03, 0x00, 0x03, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0xce, 0x44, 0x49, 0x4d, 0x4d, 0x31, 0x20, 0x50, 0x72, 0x65, 0x73, 0x65, 0x6e, 0x63,
        0x65,
    ];
    /// Full, M 6, R exp -2, from tests/bmc-sim/fixtures/decoders.sdrs.
    const V12: &[u8] = &[
        0x06, 0x00, 0x51, 0x01, 0x2e, 0x20, 0x00, 0x04, 0x07, 0x01, 0x45, 0x00, 0x02, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x06, 0x00, 0x00, 0x01, 0x01, 0xe0,
        0x00, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0xc3, 0x31, 0x32, 0x56,
    ];
    /// Full, 2's complement, from tests/bmc-sim/fixtures/decoders.sdrs.
    const INLET: &[u8] = &[
        0x07, 0x00, 0x51, 0x01, 0x35, 0x20, 0x00, 0x05, 0x07, 0x01, 0x45, 0x00, 0x01, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x01, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0xca, 0x49, 0x6e, 0x6c, 0x65, 0x74, 0x20, 0x54, 0x65, 0x6d, 0x70,
    ];
    /// Full, M 2, B 5, B exp 1, from tests/bmc-sim/fixtures/decoders.sdrs.
    const PSU1: &[u8] = &[
        0x08, 0x00, 0x51, 0x01, 0x35, 0x20, 0x00, 0x06, 0x07, 0x01, 0x45, 0x00, 0x08, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x02, 0x00, 0x05, 0x01, 0x01, 0x01,
        0x00, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0xca, 0x50, 0x53, 0x55, 0x31, 0x20, 0x50, 0x6f, 0x77, 0x65, 0x72,
    ];
    /// Full, M -2, B 500, R exp -1, from tests/bmc-sim/fixtures/decoders.sdrs.
    const AIRFLOW: &[u8] = &[
        0x09, 0x00, 0x51, 0x01, 0x32, 0x20, 0x00, 0x07, 0x07, 0x01, 0x45, 0x00, 0x04, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x11, 0x00, 0x00, 0xfe, 0xc0, 0xf4, 0x41, 0x01, 0xf0,
        0x00, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0xc7, 0x41, 0x69, 0x72, 0x66, 0x6c, 0x6f, 0x77,
    ];
    /// Full, percentage, from tests/bmc-sim/fixtures/decoders.sdrs.
    const CPU_UTIL: &[u8] = &[
        0x0a, 0x00, 0x51, 0x01, 0x33, 0x20, 0x00, 0x08, 0x07, 0x01, 0x45, 0x00, 0x07, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x01, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0xc8, 0x43, 0x50, 0x55, 0x20, 0x55, 0x74, 0x69, 0x6c,
    ];
    /// Full, 1's complement, from tests/bmc-sim/fixtures/decoders.sdrs.
    const EXHAUST: &[u8] = &[
        0x0b, 0x00, 0x51, 0x01, 0x37, 0x20, 0x00, 0x09, 0x07, 0x01, 0x45, 0x00, 0x01, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x01, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0xcc, 0x45, 0x78, 0x68, 0x61, 0x75, 0x73, 0x74, 0x20, 0x54, 0x65, 0x6d, 0x70,
    ];
    /// Full, linearization 9 (cube), from tests/bmc-sim/fixtures/decoders.sdrs.
    const CUBE: &[u8] = &[
        0x0c, 0x00, 0x51, 0x01, 0x34, 0x20, 0x00, 0x0a, 0x07, 0x01, 0x45, 0x00, 0x0b, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, 0x01, 0x00, 0x00, 0x01, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0xc9, 0x43, 0x75, 0x62, 0x65, 0x20, 0x54, 0x65, 0x73, 0x74,
    ];
    /// Full, linearization 10 (sqrt), from tests/bmc-sim/fixtures/decoders.sdrs.
    const SQRT: &[u8] = &[
        0x0d, 0x00, 0x51, 0x01, 0x34, 0x20, 0x00, 0x0b, 0x07, 0x01, 0x45, 0x00, 0x0b, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x01, 0x00, 0x00, 0x01, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0xc9, 0x53, 0x71, 0x72, 0x74, 0x20, 0x54, 0x65, 0x73, 0x74,
    ];
    // Dell PowerEdge R630 records from ipmi-rs's own tests (ipmi-rs-core 0.6.0,
    // src/tests/dell_r630.rs, without the two next-id bytes): RPM with M 120, and degrees C
    // with B -128.
    const DELL_FAN_2A: &[u8] = &[
        0x0d, 0x00, 0x51, 0x01, 0x30, 0x20, 0x00, 0x32, 0x07, 0x01, 0x7f, 0xd4, 0x04, 0x01, 0x05,
        0x30, 0x05, 0x00, 0x03, 0x00, 0x00, 0x12, 0x00, 0x00, 0x78, 0x02, 0x00, 0x02, 0x30, 0x00,
        0x07, 0x54, 0xc5, 0x8b, 0xff, 0x00, 0xff, 0xff, 0xff, 0x00, 0x05, 0x07, 0x01, 0x01, 0x00,
        0x00, 0x00, 0xc5, 0x46, 0x61, 0x6e, 0x32, 0x41,
    ];
    const DELL_INLET: &[u8] = &[
        0x12, 0x00, 0x51, 0x01, 0x35, 0x20, 0x00, 0x04, 0x07, 0x01, 0x7f, 0x68, 0x01, 0x01, 0x85,
        0x32, 0x85, 0x32, 0x1b, 0x09, 0x00, 0x01, 0x00, 0x00, 0x01, 0x02, 0x80, 0xc2, 0x30, 0x00,
        0x07, 0x97, 0xc5, 0x8b, 0xff, 0x00, 0xff, 0xaf, 0xaa, 0x00, 0x79, 0x83, 0x01, 0x01, 0x00,
        0x00, 0x00, 0xca, 0x49, 0x6e, 0x6c, 0x65, 0x74, 0x20, 0x54, 0x65, 0x6d, 0x70,
    ];

    /// An SDR, a Get Sensor Reading answer for its sensor, and what igord reports, in one
    /// line: name | number | type | value | unit | status ("none": no readable sensor).
    /// Readings are ipmi_sim's answers to `ipmitool ... raw 0x04 0x2d NUMBER`; the values are
    /// those `ipmitool sensor` prints for the same sim.
    #[test]
    fn sensor_readings() {
        let table: &[(&[u8], &[u8], &str)] = &[
            (MC_LOCATOR, &[], "none"),
            (WATCHDOG, &[], "none"),
            (
                CPU_TEMP,
                &[0x30, 0xc0, 0x00, 0x00],
                "CPU Temp | 1 | temperature | 48.000 | degrees C | ok",
            ),
            (
                FAN1,
                &[0x60, 0xc0, 0x00, 0x00],
                "FAN1 | 3 | fan | 4800.000 | RPM | ok",
            ),
            // Discrete: the state bits, offset 0 (present) set. ipmitool shows "0x0100", the
            // two bytes in wire order.
            (
                DIMM1,
                &[0x00, 0xc0, 0x01, 0x00],
                "DIMM1 Presence | 2 | entity presence | - | - | 0x0001",
            ),
            (
                V12,
                &[0xc8, 0xc0, 0x00, 0x00],
                "12V | 4 | voltage | 12.000 | Volts | ok",
            ),
            (
                INLET,
                &[0xfb, 0xc0, 0x00, 0x00],
                "Inlet Temp | 5 | temperature | -5.000 | degrees C | ok",
            ),
            // 250 W is above the upper non-critical (230) and critical (242) thresholds: the
            // most severe wins (ipmitool: "cr").
            (
                PSU1,
                &[0x64, 0xc0, 0x18, 0x00],
                "PSU1 Power | 6 | power supply | 250.000 | Watts | upper critical",
            ),
            // Negative M (ipmi-rs 0.6 alone makes it -5090).
            (
                AIRFLOW,
                &[0x64, 0xc0, 0x00, 0x00],
                "Airflow | 7 | fan | 30.000 | CFM | ok",
            ),
            (
                CPU_UTIL,
                &[0x2a, 0xc0, 0x00, 0x00],
                "CPU Util | 8 | processor | 42.000 | percent | ok",
            ),
            (
                EXHAUST,
                &[0xfa, 0xc0, 0x00, 0x00],
                "Exhaust Temp | 9 | temperature | -5.000 | degrees C | ok",
            ),
            // Non-linear: cube(3) and sqrt(16) (ipmi-rs 0.6 alone: sqrt(3) and 16^3).
            (
                CUBE,
                &[0x03, 0xc0, 0x00, 0x00],
                "Cube Test | 10 | other units-based | 27.000 | - | ok",
            ),
            (
                SQRT,
                &[0x10, 0xc0, 0x00, 0x00],
                "Sqrt Test | 11 | other units-based | 4.000 | - | ok",
            ),
            // The R630 answers as in ipmi-rs's test; bits 7:6 of the state byte are reserved.
            (
                DELL_FAN_2A,
                &[0x2c, 0xc0, 0xc0],
                "Fan2A | 50 | fan | 5280.000 | RPM | ok",
            ),
            (
                DELL_INLET,
                &[0x99, 0xc0, 0xc0],
                "Inlet Temp | 4 | temperature | 25.000 | degrees C | ok",
            ),
            // Built from the CPU Temp answer by the flags of spec table 35-15, no capture:
            // scanning disabled (bit 6 clear), reading unavailable (bit 5), a one-byte answer,
            // and no state byte (no threshold crossed).
            (
                CPU_TEMP,
                &[0x30, 0x80, 0x00, 0x00],
                "CPU Temp | 1 | temperature | - | - | na",
            ),
            (
                CPU_TEMP,
                &[0x30, 0xe0, 0x00, 0x00],
                "CPU Temp | 1 | temperature | - | - | na",
            ),
            (CPU_TEMP, &[0x30], "CPU Temp | 1 | temperature | - | - | na"),
            (
                CPU_TEMP,
                &[0x30, 0xc0],
                "CPU Temp | 1 | temperature | 48.000 | degrees C | ok",
            ),
            // CPU Temp cut short of its length byte (0x33): ipmi-rs refuses it, we skip it.
            (&CPU_TEMP[..40], &[0x30, 0xc0, 0x00, 0x00], "none"),
            // Built from CPU Temp and DIMM1, no capture: records that are consistent with
            // their length byte but shorter than the spec allows (full: 15 and 17 body
            // bytes; compact: 26), and DIMM1 with the reserved ID string modifier 0b10.
            // ipmi-rs 0.6 panics on each; they are skipped.
            (
                &[
                    0x03, 0x00, 0x51, 0x01, 0x0f, 0x20, 0x00, 0x01, 0x07, 0x01, 0x45, 0x00, 0x01,
                    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                ],
                &[0x30, 0xc0, 0x00, 0x00],
                "none",
            ),
            (
                &[
                    0x03, 0x00, 0x51, 0x01, 0x11, 0x20, 0x00, 0x01, 0x07, 0x01, 0x45, 0x00, 0x01,
                    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
                ],
                &[0x30, 0xc0, 0x00, 0x00],
                "none",
            ),
            (
                &[
                    0x05, 0x00, 0x51, 0x02, 0x1a, 0x20, 0x00, 0x02, 0x08, 0x01, 0x00, 0x00, 0x25,
                    0x6f, 0x03, 0x00, 0x03, 0x00, 0x03, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00,
                    0x00, 0x00, 0x00, 0x00, 0x00,
                ],
                &[0x00, 0xc0, 0x01, 0x00],
                "none",
            ),
            (
                &[
                    0x05, 0x00, 0x51, 0x02, 0x29, 0x20, 0x00, 0x02, 0x08, 0x01, 0x00, 0x00, 0x25,
                    0x6f, 0x03, 0x00, 0x03, 0x00, 0x03, 0x00, 0xc0, 0x00, 0x00, 0x20, 0x00, 0x00,
                    0x00, 0x00, 0x00, 0x00, 0x00, 0xce, 0x44, 0x49, 0x4d, 0x4d, 0x31, 0x20, 0x50,
                    0x72, 0x65, 0x73, 0x65, 0x6e, 0x63, 0x65,
                ],
                &[0x00, 0xc0, 0x01, 0x00],
                "none",
            ),
        ];
        for (sdr, answer, expected) in table {
            let got = match sensor_of(sdr) {
                None => "none".to_string(),
                Some(sensor) => {
                    let r = reading_of(&sensor, answer);
                    format!(
                        "{} | {} | {} | {} | {} | {}",
                        r.name,
                        r.sensor_number,
                        r.sensor_type,
                        r.value.map_or("-".to_string(), |v| format!("{v:.3}")),
                        r.unit.as_deref().unwrap_or("-"),
                        r.status,
                    )
                }
            };
            assert_eq!(&got, expected, "sdr {sdr:02x?}, answer {answer:02x?}");
        }
    }
}

//! The SDR repository and the sensors it describes: reading every record in chunks under a
//! reservation, then one Get Sensor Reading per sensor record, converted with the record's
//! factors.

use ipmi_rs::storage::sdr::record::{DataFormat, Linearization, RecordContents};
use ipmi_rs::storage::sdr::{Record, record::WithSensorRecordCommon};

use super::{
    CC_RESERVATION_CANCELLED, Ctx, MAX_RESERVATION_RETRIES, SENSOR, STORAGE, cc_of, short,
};
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
            Err(f)
                if cc_of(&f) == Some(CC_RESERVATION_CANCELLED)
                    && attempts < MAX_RESERVATION_RETRIES =>
            {
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

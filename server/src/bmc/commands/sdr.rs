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
use crate::bmc::decode::{ipmitool_unit, le16, sensor_type_name, state_names, unit_name};
use crate::bmc::session::{Fail, SdrCache};
use crate::bmc::{BmcError, SensorReading, Thresholds};

/// Get SDR answers are limited by the BMC's buffer; ipmi_sim refuses whole records
/// (0xCA), and 16 bytes is what ipmitool uses too.
const SDR_CHUNK: u8 = 16;

async fn reserve(ctx: &mut Ctx<'_>) -> Result<[u8; 2], Fail> {
    let d = ctx.req(STORAGE, 0x22, &[]).await?;
    short("reserve sdr repository", 2, &d)?;
    Ok([d[0], d[1]])
}

/// Reads one SDR in chunks; returns (next record id, record bytes).
async fn read(ctx: &mut Ctx<'_>, reservation: [u8; 2], id: u16) -> Result<(u16, Vec<u8>), Fail> {
    let [lo, hi] = id.to_le_bytes();
    let get = async |ctx: &mut Ctx<'_>, offset: u8, len: u8| {
        ctx.req(
            STORAGE,
            0x23,
            &[reservation[0], reservation[1], lo, hi, offset, len],
        )
        .await
    };
    let head = get(ctx, 0, 5).await?;
    short("get sdr header", 7, &head)?;
    let next = le16(&head, 0);
    let mut record = head[2..7].to_vec();
    let total = 5 + usize::from(record[4]);
    while record.len() < total {
        // total <= 260, so offsets fit a byte until the last chunk of a maximal record.
        let offset = u8::try_from(record.len())
            .map_err(|_| Fail::Answer(BmcError::Protocol("sdr record too long".into())))?;
        let want = SDR_CHUNK.min(u8::try_from(total - record.len()).unwrap_or(SDR_CHUNK));
        let d = get(ctx, offset, want).await?;
        short("get sdr", 3, &d)?;
        record.extend_from_slice(&d[2..]);
    }
    record.truncate(total);
    Ok((next, record))
}

/// Every record of the SDR repository, from this session's cache while Get SDR Repository
/// Info answers as it did when they were read (spec 33.9: its timestamps change with every
/// addition and erase), else read afresh. A BMC that refuses the info command is read every
/// time.
pub(super) async fn records(ctx: &mut Ctx<'_>) -> Result<Vec<Vec<u8>>, Fail> {
    let info = match ctx.req(STORAGE, 0x20, &[]).await {
        Ok(d) if d.len() >= 13 => Some(d[1..13].to_vec()),
        Ok(_) | Err(Fail::Answer(BmcError::Completion { .. })) => None,
        Err(f) => return Err(f),
    };
    if let (Some(info), Some(cache)) = (&info, &ctx.session.sdr_cache)
        && cache.info == *info
    {
        return Ok(cache.records.clone());
    }
    let records = read_all(ctx).await?;
    ctx.session.sdr_cache = info.map(|info| SdrCache {
        info,
        records: records.clone(),
    });
    Ok(records)
}

async fn read_all(ctx: &mut Ctx<'_>) -> Result<Vec<Vec<u8>>, Fail> {
    let mut records = Vec::new();
    let mut reservation = reserve(ctx).await?;
    let mut id: u16 = 0x0000;
    let mut attempts = 0;
    loop {
        let (next, bytes) = match read(ctx, reservation, id).await {
            Ok(r) => r,
            Err(f) if cc_of(&f) == Some(Cancelled) && attempts < MAX_RESERVATION_RETRIES => {
                attempts += 1;
                reservation = reserve(ctx).await?;
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
    Ok(records)
}

pub(super) async fn sensors(ctx: &mut Ctx<'_>) -> Result<Vec<SensorReading>, Fail> {
    let records = records(ctx).await?;
    let mut out = Vec::new();
    for sensor in records.iter().filter_map(|bytes| sensor_of(bytes)) {
        let request = GetSensorReading::for_sensor_key(&sensor.key);
        let mut reading = match ctx.send_lun(request, sensor.key.owner_lun).await {
            Ok(d) => reading_of(&sensor, &d),
            // A sensor that has no reading right now is reported, not fatal.
            Err(Fail::Answer(BmcError::Completion { .. })) => sensor.no_reading(),
            Err(f) => return Err(f),
        };
        if sensor.threshold {
            // Get Sensor Thresholds (spec 35.9), asked like ipmitool asks whatever the
            // record's threshold access bits say; a refusal means no thresholds.
            let number = sensor.key.sensor_number.get();
            match ctx
                .req_lun(0x04, 0x27, &[number], sensor.key.owner_lun)
                .await
            {
                Ok(d) => reading.thresholds = thresholds_of(&sensor, &d),
                Err(Fail::Answer(BmcError::Completion { .. })) => {}
                Err(f) => return Err(f),
            }
        }
        out.push(reading);
    }
    Ok(out)
}

/// What the SEL needs of the sensor records: who owns each sensor, its name, and how its
/// raw values convert.
pub(super) struct SdrIndex {
    sensors: Vec<SdrSensor>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct SdrSensor {
    /// Sensor owner id byte: slave address or software id in bits 7:1, bit 0 set for a
    /// software id (the layout of a SEL record's generator id byte 1).
    owner: u8,
    lun: u8,
    number: u8,
    sensor_type: u8,
    pub name: String,
    /// Full records with an analog format only.
    factors: Option<Factors>,
    /// ipmitool's unit string (full records only).
    pub unit: Option<String>,
}

impl SdrSensor {
    pub fn convert(&self, raw: u8) -> Option<f64> {
        self.factors.and_then(|f| f.convert(raw))
    }
}

impl SdrIndex {
    /// Full (0x01), compact (0x02) and event-only (0x03) records; others, and records too
    /// short for their fields, are left out.
    pub fn of(records: &[Vec<u8>]) -> SdrIndex {
        let sensors = records.iter().filter_map(|r| index_entry(r)).collect();
        SdrIndex { sensors }
    }

    /// The sensor a SEL record's generator id, sensor number and sensor type name.
    pub fn find(&self, generator_id: u16, number: u8, sensor_type: u8) -> Option<&SdrSensor> {
        let [owner, high] = generator_id.to_le_bytes();
        self.sensors.iter().find(|s| {
            s.owner == owner
                && s.lun == high & 0x03
                && s.number == number
                && s.sensor_type == sensor_type
        })
    }
}

fn index_entry(r: &[u8]) -> Option<SdrSensor> {
    // Where the ID string's type/length byte sits (tables 43-1, 43-2, 43-3).
    let id_at = match r.get(3)? {
        0x01 => 47,
        0x02 => 31,
        0x03 => 16,
        _ => return None,
    };
    let full = r[3] == 0x01;
    let factors = if full {
        Factors::of(r).filter(|f| f.format != 3)
    } else {
        None
    };
    Some(SdrSensor {
        owner: *r.get(5)?,
        lun: r.get(6)? & 0x03,
        number: *r.get(7)?,
        sensor_type: *r.get(if r[3] == 0x03 { 10 } else { 12 })?,
        name: id_string(r.get(id_at..)?)?,
        factors,
        unit: full
            .then(|| Some(ipmitool_unit(*r.get(20)?, *r.get(21)?, *r.get(22)?)))
            .flatten(),
    })
}

/// Decodes an ID string from its type/length byte on (spec 43.15): 8-bit ASCII + Latin-1
/// (type 3; unicode, type 0, read the same way, as ipmitool does), BCD plus (1) and 6-bit
/// packed ASCII (2). `None` when the record ends before the string does.
fn id_string(d: &[u8]) -> Option<String> {
    let (kind, len) = (d.first()? >> 6, usize::from(d[0] & 0x1F));
    let bytes = d.get(1..1 + len)?;
    Some(match kind {
        1 => bytes
            .iter()
            .flat_map(|b| [b & 0x0F, b >> 4])
            .map(|n| char::from(b"0123456789 -.:,_"[usize::from(n)]))
            .collect(),
        2 => {
            // Four 6-bit characters in every three bytes, least significant bits first.
            let mut out = String::new();
            let (mut acc, mut bits) = (0u32, 0);
            for b in bytes {
                acc |= u32::from(*b) << bits;
                bits += 8;
                while bits >= 6 {
                    // 6-bit values are 0x20 (space) to 0x5F ('_') less 0x20.
                    out.push(char::from(0x20 + (acc & 0x3F) as u8));
                    acc >>= 6;
                    bits -= 6;
                }
            }
            out
        }
        _ => bytes
            .iter()
            .take_while(|b| **b != 0)
            .map(|b| char::from(*b))
            .collect(),
    })
}

/// What a sensor record says about its sensor: enough to ask for a reading and show it.
struct Sensor {
    name: String,
    key: SensorKey,
    sensor_type: String,
    sensor_type_code: u8,
    event_type: u8,
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
            thresholds: Thresholds::default(),
            states: Vec::new(),
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
        sensor_type_code: u8::from(common.ty),
        // Event/reading type code: byte 14 of full and compact records.
        event_type: bytes.get(13).copied().unwrap_or(0),
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
        let states = u16::from_le_bytes([low, high]);
        reading.status = format!("{states:#06x}");
        reading.states = state_names(sensor.sensor_type_code, sensor.event_type, states)
            .into_iter()
            .map(str::to_string)
            .collect();
    }
    reading
}

/// Decodes a Get Sensor Thresholds answer (spec table 35-9: a mask of the readable ones,
/// then lnc, lc, lnr, unc, uc, unr). Converted like readings, so only full records with an
/// analog format get values (ipmitool prints raw hex for the others; we leave them out).
fn thresholds_of(sensor: &Sensor, d: &[u8]) -> Thresholds {
    let Some((factors, _)) = &sensor.analog else {
        return Thresholds::default();
    };
    let value = |bit: u8, at: usize| {
        let mask = d.first().copied().unwrap_or(0);
        if mask & (1 << bit) == 0 {
            return None;
        }
        d.get(at).and_then(|raw| factors.convert(*raw))
    };
    Thresholds {
        lnc: value(0, 1),
        lc: value(1, 2),
        lnr: value(2, 3),
        unc: value(3, 4),
        uc: value(4, 5),
        unr: value(5, 6),
    }
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
pub(super) mod tests {
    use super::{SdrIndex, id_string, reading_of, sensor_of, thresholds_of};

    // SDRs read from ipmi_sim 1.0.13 (OpenIPMI 2.0.33) with tests/bmc-sim/bmc.emu plus
    // tests/bmc-sim/fixtures/decoders.emu, through `ipmitool -I lanplus -C 3 ... raw 0x0a
    // 0x23 RES_LO RES_HI ID_LO ID_HI OFFSET LEN` in chunks of 16 bytes, as igord reads them.

    /// MC device locator (type 0x12), from tests/bmc-sim/bmc.sdrs.
    pub(in crate::bmc::commands) const MC_LOCATOR: &[u8] = &[
        0x01, 0x00, 0x51, 0x12, 0x17, 0x20, 0x00, 0x00, 0x8f, 0x00, 0x00, 0x00, 0x07, 0x01, 0x00,
        0xcc, 0x69, 0x70, 0x6d, 0x69, 0x5f, 0x73, 0x69, 0x6d, 0x20, 0x42, 0x4d, 0x43,
    ];
    /// Event-only sensor (type 0x03), from tests/bmc-sim/bmc.sdrs.
    pub(in crate::bmc::commands) const WATCHDOG: &[u8] = &[
        0x02, 0x00, 0x51, 0x03, 0x14, 0x20, 0x00, 0x00, 0x07, 0x01, 0x23, 0x6f, 0x00, 0x00, 0x00,
        0x00, 0xc8, 0x77, 0x61, 0x74, 0x63, 0x68, 0x64, 0x6f, 0x67,
    ];
    /// Full, temperature, M 1, from tests/bmc-sim/bmc.sdrs.
    pub(in crate::bmc::commands) const CPU_TEMP: &[u8] = &[
        0x03, 0x00, 0x51, 0x01, 0x33, 0x20, 0x00, 0x01, 0x07, 0x01, 0x45, 0x00, 0x01, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x01, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0xc8, 0x43, 0x50, 0x55, 0x20, 0x54, 0x65, 0x6d, 0x70,
    ];
    /// Full, fan, M 50, from tests/bmc-sim/bmc.sdrs.
    pub(in crate::bmc::commands) const FAN1: &[u8] = &[
        0x04, 0x00, 0x51, 0x01, 0x2f, 0x20, 0x00, 0x03, 0x1d, 0x01, 0x45, 0x00, 0x04, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x12, 0x00, 0x00, 0x32, 0x00, 0x00, 0x01, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0xc4, 0x46, 0x41, 0x4e, 0x31,
    ];
    /// Compact, entity presence (discrete), from tests/bmc-sim/bmc.sdrs.
    pub(in crate::bmc::commands) const DIMM1: &[u8] = &[
        0x05, 0x00, 0x51, 0x02, 0x29, 0x20, 0x00, 0x02, 0x08, 0x01, 0x00, 0x00, 0x25, 0x6f, 0x03,
        0x00, 0x03, 0x00, 0x03, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0xce, 0x44, 0x49, 0x4d, 0x4d, 0x31, 0x20, 0x50, 0x72, 0x65, 0x73, 0x65, 0x6e, 0x63,
        0x65,
    ];
    /// Full, M 6, R exp -2, from tests/bmc-sim/fixtures/decoders.sdrs.
    pub(in crate::bmc::commands) const V12: &[u8] = &[
        0x06, 0x00, 0x51, 0x01, 0x2e, 0x20, 0x00, 0x04, 0x07, 0x01, 0x45, 0x00, 0x02, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x06, 0x00, 0x00, 0x01, 0x01, 0xe0,
        0x00, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0xc3, 0x31, 0x32, 0x56,
    ];
    /// Full, 2's complement, from tests/bmc-sim/fixtures/decoders.sdrs.
    pub(in crate::bmc::commands) const INLET: &[u8] = &[
        0x07, 0x00, 0x51, 0x01, 0x35, 0x20, 0x00, 0x05, 0x07, 0x01, 0x45, 0x00, 0x01, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x01, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0xca, 0x49, 0x6e, 0x6c, 0x65, 0x74, 0x20, 0x54, 0x65, 0x6d, 0x70,
    ];
    /// Full, M 2, B 5, B exp 1, from tests/bmc-sim/fixtures/decoders.sdrs.
    pub(in crate::bmc::commands) const PSU1: &[u8] = &[
        0x08, 0x00, 0x51, 0x01, 0x35, 0x20, 0x00, 0x06, 0x07, 0x01, 0x45, 0x00, 0x08, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x00, 0x02, 0x00, 0x05, 0x01, 0x01, 0x01,
        0x00, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0xca, 0x50, 0x53, 0x55, 0x31, 0x20, 0x50, 0x6f, 0x77, 0x65, 0x72,
    ];
    /// Full, M -2, B 500, R exp -1, from tests/bmc-sim/fixtures/decoders.sdrs.
    pub(in crate::bmc::commands) const AIRFLOW: &[u8] = &[
        0x09, 0x00, 0x51, 0x01, 0x32, 0x20, 0x00, 0x07, 0x07, 0x01, 0x45, 0x00, 0x04, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x11, 0x00, 0x00, 0xfe, 0xc0, 0xf4, 0x41, 0x01, 0xf0,
        0x00, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0xc7, 0x41, 0x69, 0x72, 0x66, 0x6c, 0x6f, 0x77,
    ];
    /// Full, percentage, from tests/bmc-sim/fixtures/decoders.sdrs.
    pub(in crate::bmc::commands) const CPU_UTIL: &[u8] = &[
        0x0a, 0x00, 0x51, 0x01, 0x33, 0x20, 0x00, 0x08, 0x07, 0x01, 0x45, 0x00, 0x07, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x01, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0xc8, 0x43, 0x50, 0x55, 0x20, 0x55, 0x74, 0x69, 0x6c,
    ];
    /// Full, 1's complement, from tests/bmc-sim/fixtures/decoders.sdrs.
    pub(in crate::bmc::commands) const EXHAUST: &[u8] = &[
        0x0b, 0x00, 0x51, 0x01, 0x37, 0x20, 0x00, 0x09, 0x07, 0x01, 0x45, 0x00, 0x01, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x40, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x01, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0xcc, 0x45, 0x78, 0x68, 0x61, 0x75, 0x73, 0x74, 0x20, 0x54, 0x65, 0x6d, 0x70,
    ];
    /// Full, linearization 9 (cube), from tests/bmc-sim/fixtures/decoders.sdrs.
    pub(in crate::bmc::commands) const CUBE: &[u8] = &[
        0x0c, 0x00, 0x51, 0x01, 0x34, 0x20, 0x00, 0x0a, 0x07, 0x01, 0x45, 0x00, 0x0b, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x09, 0x01, 0x00, 0x00, 0x01, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0xc9, 0x43, 0x75, 0x62, 0x65, 0x20, 0x54, 0x65, 0x73, 0x74,
    ];
    /// Full, linearization 10 (sqrt), from tests/bmc-sim/fixtures/decoders.sdrs.
    pub(in crate::bmc::commands) const SQRT: &[u8] = &[
        0x0d, 0x00, 0x51, 0x01, 0x34, 0x20, 0x00, 0x0b, 0x07, 0x01, 0x45, 0x00, 0x0b, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x0a, 0x01, 0x00, 0x00, 0x01, 0x01, 0x00,
        0x00, 0x00, 0x00, 0x00, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0xc9, 0x53, 0x71, 0x72, 0x74, 0x20, 0x54, 0x65, 0x73, 0x74,
    ];
    // Dell PowerEdge R630 records from ipmi-rs's own tests (ipmi-rs-core 0.6.0,
    // src/tests/dell_r630.rs, without the two next-id bytes): RPM with M 120, and degrees C
    // with B -128.
    pub(in crate::bmc::commands) const DELL_FAN_2A: &[u8] = &[
        0x0d, 0x00, 0x51, 0x01, 0x30, 0x20, 0x00, 0x32, 0x07, 0x01, 0x7f, 0xd4, 0x04, 0x01, 0x05,
        0x30, 0x05, 0x00, 0x03, 0x00, 0x00, 0x12, 0x00, 0x00, 0x78, 0x02, 0x00, 0x02, 0x30, 0x00,
        0x07, 0x54, 0xc5, 0x8b, 0xff, 0x00, 0xff, 0xff, 0xff, 0x00, 0x05, 0x07, 0x01, 0x01, 0x00,
        0x00, 0x00, 0xc5, 0x46, 0x61, 0x6e, 0x32, 0x41,
    ];
    pub(in crate::bmc::commands) const DELL_INLET: &[u8] = &[
        0x12, 0x00, 0x51, 0x01, 0x35, 0x20, 0x00, 0x04, 0x07, 0x01, 0x7f, 0x68, 0x01, 0x01, 0x85,
        0x32, 0x85, 0x32, 0x1b, 0x09, 0x00, 0x01, 0x00, 0x00, 0x01, 0x02, 0x80, 0xc2, 0x30, 0x00,
        0x07, 0x97, 0xc5, 0x8b, 0xff, 0x00, 0xff, 0xaf, 0xaa, 0x00, 0x79, 0x83, 0x01, 0x01, 0x00,
        0x00, 0x00, 0xca, 0x49, 0x6e, 0x6c, 0x65, 0x74, 0x20, 0x54, 0x65, 0x6d, 0x70,
    ];

    /// An SDR, a Get Sensor Reading answer for its sensor, and what igord reports, in one
    /// line: name | number | type | value | unit | status, then the asserted states' names
    /// in brackets for discrete sensors ("none": no readable sensor).
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
            // two bytes in wire order, and `ipmitool sensor get` names the state "[Present]".
            (
                DIMM1,
                &[0x00, 0xc0, 0x01, 0x00],
                "DIMM1 Presence | 2 | entity presence | - | - | 0x0001 [Present]",
            ),
            // After `sensor_set_bit_clr_rest 0x20 0 2 1 1` on the sim console: absent.
            (
                DIMM1,
                &[0x00, 0xc0, 0x02, 0x00],
                "DIMM1 Presence | 2 | entity presence | - | - | 0x0002 [Absent]",
            ),
            // Built from the above by the spec's state bytes, no capture: offsets 0 to 2 set
            // (2 is "Disabled"), then bits of the second byte: offsets 8 to 14 the entity
            // presence table lacks, and bit 7 of the second byte, which is reserved.
            (
                DIMM1,
                &[0x00, 0xc0, 0x07, 0x00],
                "DIMM1 Presence | 2 | entity presence | - | - | 0x0007 [Present] [Absent] \
                 [Disabled]",
            ),
            (
                DIMM1,
                &[0x00, 0xc0, 0x00, 0xff],
                "DIMM1 Presence | 2 | entity presence | - | - | 0x7f00",
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
                    let states: String = r.states.iter().map(|s| format!(" [{s}]")).collect();
                    format!(
                        "{} | {} | {} | {} | {} | {}{states}",
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

    /// A threshold sensor's SDR, ipmi_sim's answer to Get Sensor Thresholds (`ipmitool ...
    /// raw 0x04 0x27 NUMBER`), and the thresholds as lnr lc lnc unc uc unr, "-" for none;
    /// the values are those `ipmitool sensor` prints for the same sim.
    #[test]
    fn sensor_thresholds() {
        let table: &[(&[u8], &[u8], &str)] = &[
            // bmc.emu: UNC/UC/UNR 0x50/0x5a/0x64 (ipmitool: na na na 80.000 90.000 100.000).
            (
                CPU_TEMP,
                &[0x38, 0x00, 0x00, 0x00, 0x50, 0x5a, 0x64],
                "- - - 80.000 90.000 100.000",
            ),
            // bmc.emu: LC 0x10, M 50 (ipmitool: na 800.000 na na na na).
            (
                FAN1,
                &[0x02, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00],
                "- 800.000 - - - -",
            ),
            // decoders.emu: UNC/UC/UNR 0x5a/0x60/0x70 with M 2, B 50 (ipmitool: 230.000
            // 242.000 274.000).
            (
                PSU1,
                &[0x38, 0x00, 0x00, 0x00, 0x5a, 0x60, 0x70],
                "- - - 230.000 242.000 274.000",
            ),
            // Built from the CPU Temp answer, no capture: every threshold readable, a mask
            // with none, and an answer cut after the mask's third threshold.
            (
                CPU_TEMP,
                &[0x3f, 0x05, 0x0a, 0x01, 0x50, 0x5a, 0x64],
                "1.000 10.000 5.000 80.000 90.000 100.000",
            ),
            (
                CPU_TEMP,
                &[0x00, 0x05, 0x0a, 0x01, 0x50, 0x5a, 0x64],
                "- - - - - -",
            ),
            (CPU_TEMP, &[0x3f, 0x05, 0x0a], "- 10.000 5.000 - - -"),
            // Negative M and an exponent: raw 0x64 is 30 CFM, as its reading is.
            (
                AIRFLOW,
                &[0x08, 0x00, 0x00, 0x00, 0x64, 0x00, 0x00],
                "- - - 30.000 - -",
            ),
            // Compact records carry no factors: ipmitool prints "na" for each.
            (DIMM1, &[0x3f, 1, 2, 3, 4, 5, 6], "- - - - - -"),
        ];
        for (sdr, answer, expected) in table {
            let Some(sensor) = sensor_of(sdr) else {
                panic!("sdr {sdr:02x?} describes no sensor");
            };
            let t = thresholds_of(&sensor, answer);
            let got = [t.lnr, t.lc, t.lnc, t.unc, t.uc, t.unr]
                .iter()
                .map(|v| v.map_or("-".to_string(), |v| format!("{v:.3}")))
                .collect::<Vec<_>>()
                .join(" ");
            assert_eq!(&got, expected, "sdr {sdr:02x?}, answer {answer:02x?}");
        }
    }

    /// Which sensor a SEL record's generator id, sensor number and sensor type find among
    /// the captured SDRs: generator | number | type -> name | unit ("none": no match).
    #[test]
    fn sdr_index_lookups() {
        let records: Vec<Vec<u8>> = [MC_LOCATOR, WATCHDOG, CPU_TEMP, FAN1, DIMM1, PSU1, CUBE]
            .iter()
            .map(|r| r.to_vec())
            .collect();
        let index = SdrIndex::of(&records);
        let table: &[(u16, u8, u8, &str)] = &[
            (0x0020, 1, 0x01, "CPU Temp | degrees C"),
            (0x0020, 3, 0x04, "FAN1 | RPM"),
            // Compact and event-only records name sensors but convert nothing.
            (0x0020, 2, 0x25, "DIMM1 Presence | -"),
            (0x0020, 0, 0x23, "watchdog | -"),
            (0x0020, 6, 0x08, "PSU1 Power | Watts"),
            (0x0020, 10, 0x0b, "Cube Test | unspecified"),
            // Same number, other sensor type (ipmitool requires it to match too).
            (0x0020, 1, 0x04, "none"),
            // Software id 0x20 (bit 0 set), another owner, LUN 1, channel 1 (kept: the
            // SDRs carry the channel in another byte, which ipmitool ignores as we do).
            (0x0041, 1, 0x01, "none"),
            (0x0022, 1, 0x01, "none"),
            (0x0120, 1, 0x01, "none"),
            (0x1020, 1, 0x01, "CPU Temp | degrees C"),
            (0x0020, 9, 0x01, "none"),
        ];
        for (generator, number, sensor_type, expected) in table {
            let got = index
                .find(*generator, *number, *sensor_type)
                .map_or("none".to_string(), |s| {
                    format!("{} | {}", s.name, s.unit.as_deref().unwrap_or("-"))
                });
            assert_eq!(
                &got, expected,
                "{generator:#06x} #{number} type {sensor_type:#04x}"
            );
        }
    }

    /// ID strings from their type/length byte on ("none": cut short).
    #[test]
    fn id_strings() {
        let table: &[(&[u8], &str)] = &[
            // From CPU Temp: 8-bit ASCII, 8 bytes.
            (
                &[0xc8, 0x43, 0x50, 0x55, 0x20, 0x54, 0x65, 0x6d, 0x70],
                "CPU Temp",
            ),
            // Built from spec 43.15, no capture: BCD plus "12.5" (low nibble first),
            // 6-bit packed "CPU1" (0x23 0x30 0x35 0x11 in 24 bits, least significant
            // first), a trailing NUL, and a length past the end.
            (&[0x42, 0x21, 0x5c], "12.5"),
            (&[0x83, 0x23, 0x5c, 0x47], "CPU1"),
            (&[0xc4, 0x46, 0x41, 0x4e, 0x00], "FAN"),
            (&[0xc8, 0x43, 0x50], "none"),
            (&[], "none"),
        ];
        for (bytes, expected) in table {
            let got = id_string(bytes).unwrap_or_else(|| "none".to_string());
            assert_eq!(&got, expected, "{bytes:02x?}");
        }
    }
}

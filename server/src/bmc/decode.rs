//! Lookup tables from the IPMI 2.0 spec: completion codes, sensor types, units and
//! threshold event offsets, turned into the short lower-case strings the API promises.

use ipmi_rs::storage::sdr::SensorType;

/// Meaning of a completion code (IPMI 2.0 table 5-2, generic codes). Our own table rather
/// than one over ipmi-rs's `CompletionErrorCode`, which folds 0xCE, 0xD0, 0xD1 and 0xD2 into
/// one variant whose reason type ipmi-rs does not export.
pub fn completion_meaning(code: u8) -> &'static str {
    match code {
        0x00 => "command completed normally",
        0xC0 => "node busy",
        0xC1 => "invalid command",
        0xC2 => "command invalid for given lun",
        0xC3 => "timeout while processing command",
        0xC4 => "out of space",
        0xC5 => "reservation canceled or invalid reservation id",
        0xC6 => "request data truncated",
        0xC7 => "request data length invalid",
        0xC8 => "request data field length limit exceeded",
        0xC9 => "parameter out of range",
        0xCA => "cannot return number of requested data bytes",
        0xCB => "requested sensor, data, or record not present",
        0xCC => "invalid data field in request",
        0xCD => "command illegal for specified sensor or record type",
        0xCE => "command response could not be provided",
        0xCF => "cannot execute duplicated request",
        0xD0 => "sdr repository in update mode",
        0xD1 => "device in firmware update mode",
        0xD2 => "bmc initialization in progress",
        0xD3 => "destination unavailable",
        0xD4 => "insufficient privilege level",
        0xD5 => "command not supported in present state",
        0xD6 => "command sub-function disabled or unavailable",
        0xFF => "unspecified error",
        0x01..=0x7E => "oem code",
        0x80..=0xBE => "command-specific code",
        _ => "reserved code",
    }
}

/// Lower-case sensor type name (IPMI 2.0 table 42-3), "0x.." when the spec has none.
pub fn sensor_type_name(code: u8) -> String {
    match SensorType::from(code) {
        SensorType::Reserved(v) | SensorType::OemReserved(v) => format!("{v:#04x}"),
        known => known.to_string().to_lowercase(),
    }
}

/// Threshold event offsets (generic event/reading type 0x01, table 42-2).
pub fn threshold_event(offset: u8) -> Option<&'static str> {
    Some(match offset {
        0x00 => "lower non-critical going low",
        0x01 => "lower non-critical going high",
        0x02 => "lower critical going low",
        0x03 => "lower critical going high",
        0x04 => "lower non-recoverable going low",
        0x05 => "lower non-recoverable going high",
        0x06 => "upper non-critical going low",
        0x07 => "upper non-critical going high",
        0x08 => "upper critical going low",
        0x09 => "upper critical going high",
        0x0A => "upper non-recoverable going low",
        0x0B => "upper non-recoverable going high",
        _ => return None,
    })
}

/// Unit names as ipmitool prints them (table 43-15), so operators see familiar strings.
pub fn unit_name(code: u8) -> Option<&'static str> {
    Some(match code {
        0 => return None,
        1 => "degrees C",
        2 => "degrees F",
        3 => "degrees K",
        4 => "Volts",
        5 => "Amps",
        6 => "Watts",
        7 => "Joules",
        8 => "Coulombs",
        9 => "VA",
        10 => "Nits",
        11 => "lumen",
        12 => "lux",
        13 => "Candela",
        14 => "kPa",
        15 => "PSI",
        16 => "Newton",
        17 => "CFM",
        18 => "RPM",
        19 => "Hz",
        20 => "microsecond",
        21 => "millisecond",
        22 => "second",
        23 => "minute",
        24 => "hour",
        25 => "day",
        26 => "week",
        27 => "mil",
        28 => "inches",
        29 => "feet",
        30 => "cu in",
        31 => "cu feet",
        32 => "mm",
        33 => "cm",
        34 => "m",
        35 => "cu cm",
        36 => "cu m",
        37 => "liters",
        38 => "fluid ounce",
        39 => "radians",
        40 => "steradians",
        41 => "revolutions",
        42 => "cycles",
        43 => "gravities",
        44 => "ounce",
        45 => "pound",
        46 => "ft-lb",
        47 => "oz-in",
        48 => "gauss",
        49 => "gilberts",
        50 => "henry",
        51 => "millihenry",
        52 => "farad",
        53 => "microfarad",
        54 => "ohms",
        55 => "siemens",
        56 => "mole",
        57 => "becquerel",
        58 => "PPM",
        60 => "Decibels",
        61 => "DbA",
        62 => "DbC",
        63 => "gray",
        64 => "sievert",
        65 => "color temp deg K",
        66 => "bit",
        67 => "kilobit",
        68 => "megabit",
        69 => "gigabit",
        70 => "byte",
        71 => "kilobyte",
        72 => "megabyte",
        73 => "gigabyte",
        74 => "word",
        75 => "dword",
        76 => "qword",
        77 => "line",
        78 => "hit",
        79 => "miss",
        80 => "retry",
        81 => "reset",
        82 => "overflow",
        83 => "underrun",
        84 => "collision",
        85 => "packets",
        86 => "messages",
        87 => "characters",
        88 => "error",
        89 => "correctable error",
        90 => "uncorrectable error",
        91 => "fatal error",
        92 => "grams",
        _ => "unknown",
    })
}

/// Reads a little-endian u16 at `at`; callers check lengths first.
pub fn le16(data: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([data[at], data[at + 1]])
}

pub fn le32(data: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]])
}

//! Lookup tables from the IPMI 2.0 spec: completion codes, sensor types, units and
//! threshold event offsets, turned into the short lower-case strings the API promises; and
//! the event and state texts of tables 42-2 and 42-3, worded as ipmitool words them, with
//! the other texts operators know from ipmitool (SEL timestamps, unit strings).

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

/// One line of an event text table: (event/reading type code for the generic table, or
/// sensor type for the sensor-specific one; offset; event data 2 this line is for, `None`
/// for any; text).
type EventText = (u8, u8, Option<u8>, &'static str);

/// Generic event/reading types 0x01 (threshold) to 0x0C (IPMI 2.0 table 42-2), worded as in
/// ipmitool 1.8.19 (`generic_event_types` in include/ipmitool/ipmi_sel.h) without the
/// trailing space ipmitool keeps after "going low".
static GENERIC_EVENTS: &[EventText] = &[
    (0x01, 0x00, None, "Lower Non-critical going low"),
    (0x01, 0x01, None, "Lower Non-critical going high"),
    (0x01, 0x02, None, "Lower Critical going low"),
    (0x01, 0x03, None, "Lower Critical going high"),
    (0x01, 0x04, None, "Lower Non-recoverable going low"),
    (0x01, 0x05, None, "Lower Non-recoverable going high"),
    (0x01, 0x06, None, "Upper Non-critical going low"),
    (0x01, 0x07, None, "Upper Non-critical going high"),
    (0x01, 0x08, None, "Upper Critical going low"),
    (0x01, 0x09, None, "Upper Critical going high"),
    (0x01, 0x0a, None, "Upper Non-recoverable going low"),
    (0x01, 0x0b, None, "Upper Non-recoverable going high"),
    (0x02, 0x00, None, "Transition to Idle"),
    (0x02, 0x01, None, "Transition to Active"),
    (0x02, 0x02, None, "Transition to Busy"),
    (0x03, 0x00, None, "State Deasserted"),
    (0x03, 0x01, None, "State Asserted"),
    (0x04, 0x00, None, "Predictive Failure Deasserted"),
    (0x04, 0x01, None, "Predictive Failure Asserted"),
    (0x05, 0x00, None, "Limit Not Exceeded"),
    (0x05, 0x01, None, "Limit Exceeded"),
    (0x06, 0x00, None, "Performance Met"),
    (0x06, 0x01, None, "Performance Lags"),
    (0x07, 0x00, None, "Transition to OK"),
    (0x07, 0x01, None, "Transition to Non-critical from OK"),
    (0x07, 0x02, None, "Transition to Critical from less severe"),
    (
        0x07,
        0x03,
        None,
        "Transition to Non-recoverable from less severe",
    ),
    (
        0x07,
        0x04,
        None,
        "Transition to Non-critical from more severe",
    ),
    (
        0x07,
        0x05,
        None,
        "Transition to Critical from Non-recoverable",
    ),
    (0x07, 0x06, None, "Transition to Non-recoverable"),
    (0x07, 0x07, None, "Monitor"),
    (0x07, 0x08, None, "Informational"),
    (0x08, 0x00, None, "Device Absent"),
    (0x08, 0x01, None, "Device Present"),
    (0x09, 0x00, None, "Device Disabled"),
    (0x09, 0x01, None, "Device Enabled"),
    (0x0a, 0x00, None, "Transition to Running"),
    (0x0a, 0x01, None, "Transition to In Test"),
    (0x0a, 0x02, None, "Transition to Power Off"),
    (0x0a, 0x03, None, "Transition to On Line"),
    (0x0a, 0x04, None, "Transition to Off Line"),
    (0x0a, 0x05, None, "Transition to Off Duty"),
    (0x0a, 0x06, None, "Transition to Degraded"),
    (0x0a, 0x07, None, "Transition to Power Save"),
    (0x0a, 0x08, None, "Install Error"),
    (0x0b, 0x00, None, "Fully Redundant"),
    (0x0b, 0x01, None, "Redundancy Lost"),
    (0x0b, 0x02, None, "Redundancy Degraded"),
    (0x0b, 0x03, None, "Non-Redundant: Sufficient from Redundant"),
    (
        0x0b,
        0x04,
        None,
        "Non-Redundant: Sufficient from Insufficient",
    ),
    (0x0b, 0x05, None, "Non-Redundant: Insufficient Resources"),
    (0x0b, 0x06, None, "Redundancy Degraded from Fully Redundant"),
    (0x0b, 0x07, None, "Redundancy Degraded from Non-Redundant"),
    (0x0c, 0x00, None, "D0 Power State"),
    (0x0c, 0x01, None, "D1 Power State"),
    (0x0c, 0x02, None, "D2 Power State"),
    (0x0c, 0x03, None, "D3 Power State"),
];

/// Sensor-specific offsets (event/reading type 0x6F, IPMI 2.0 table 42-3) by sensor type,
/// worded as in ipmitool 1.8.19 (`sensor_specific_event_types`), PICMG types included.
/// Lines with event data 2 refine an offset when the event says byte 2 holds event
/// extension data; they come before the line for any data, as ipmitool looks them up in
/// order.
static SENSOR_SPECIFIC_EVENTS: &[EventText] = &[
    (0x05, 0x00, None, "General Chassis intrusion"),
    (0x05, 0x01, None, "Drive Bay intrusion"),
    (0x05, 0x02, None, "I/O Card area intrusion"),
    (0x05, 0x03, None, "Processor area intrusion"),
    (0x05, 0x04, None, "System unplugged from LAN"),
    (0x05, 0x05, None, "Unauthorized dock"),
    (0x05, 0x06, None, "FAN area intrusion"),
    (0x06, 0x00, None, "Front Panel Lockout violation attempted"),
    (
        0x06,
        0x01,
        None,
        "Pre-boot password violation - user password",
    ),
    (
        0x06,
        0x02,
        None,
        "Pre-boot password violation - setup password",
    ),
    (
        0x06,
        0x03,
        None,
        "Pre-boot password violation - network boot password",
    ),
    (0x06, 0x04, None, "Other pre-boot password violation"),
    (0x06, 0x05, None, "Out-of-band access password violation"),
    (0x07, 0x00, None, "IERR"),
    (0x07, 0x01, None, "Thermal Trip"),
    (0x07, 0x02, None, "FRB1/BIST failure"),
    (0x07, 0x03, None, "FRB2/Hang in POST failure"),
    (0x07, 0x04, None, "FRB3/Processor startup/init failure"),
    (0x07, 0x05, None, "Configuration Error"),
    (0x07, 0x06, None, "SM BIOS Uncorrectable CPU-complex Error"),
    (0x07, 0x07, None, "Presence detected"),
    (0x07, 0x08, None, "Disabled"),
    (0x07, 0x09, None, "Terminator presence detected"),
    (0x07, 0x0a, None, "Throttled"),
    (0x07, 0x0b, None, "Uncorrectable machine check exception"),
    (0x07, 0x0c, None, "Correctable machine check error"),
    (0x08, 0x00, None, "Presence detected"),
    (0x08, 0x01, None, "Failure detected"),
    (0x08, 0x02, None, "Predictive failure"),
    (0x08, 0x03, None, "Power Supply AC lost"),
    (0x08, 0x04, None, "AC lost or out-of-range"),
    (0x08, 0x05, None, "AC out-of-range, but present"),
    (0x08, 0x06, Some(0x00), "Config Error: Vendor Mismatch"),
    (0x08, 0x06, Some(0x01), "Config Error: Revision Mismatch"),
    (0x08, 0x06, Some(0x02), "Config Error: Processor Missing"),
    (
        0x08,
        0x06,
        Some(0x03),
        "Config Error: Power Supply Rating Mismatch",
    ),
    (
        0x08,
        0x06,
        Some(0x04),
        "Config Error: Voltage Rating Mismatch",
    ),
    (0x08, 0x06, None, "Config Error"),
    (0x08, 0x07, None, "Power Supply Inactive"),
    (0x09, 0x00, None, "Power off/down"),
    (0x09, 0x01, None, "Power cycle"),
    (0x09, 0x02, None, "240VA power down"),
    (0x09, 0x03, None, "Interlock power down"),
    (0x09, 0x04, None, "AC lost"),
    (0x09, 0x05, None, "Soft-power control failure"),
    (0x09, 0x06, None, "Failure detected"),
    (0x09, 0x07, None, "Predictive failure"),
    (0x0c, 0x00, None, "Correctable ECC"),
    (0x0c, 0x01, None, "Uncorrectable ECC"),
    (0x0c, 0x02, None, "Parity"),
    (0x0c, 0x03, None, "Memory Scrub Failed"),
    (0x0c, 0x04, None, "Memory Device Disabled"),
    (0x0c, 0x05, None, "Correctable ECC logging limit reached"),
    (0x0c, 0x06, None, "Presence Detected"),
    (0x0c, 0x07, None, "Configuration Error"),
    (0x0c, 0x08, None, "Spare"),
    (0x0c, 0x09, None, "Throttled"),
    (0x0c, 0x0a, None, "Critical Overtemperature"),
    (0x0d, 0x00, None, "Drive Present"),
    (0x0d, 0x01, None, "Drive Fault"),
    (0x0d, 0x02, None, "Predictive Failure"),
    (0x0d, 0x03, None, "Hot Spare"),
    (0x0d, 0x04, None, "Parity Check In Progress"),
    (0x0d, 0x05, None, "In Critical Array"),
    (0x0d, 0x06, None, "In Failed Array"),
    (0x0d, 0x07, None, "Rebuild In Progress"),
    (0x0d, 0x08, None, "Rebuild Aborted"),
    (0x0f, 0x00, Some(0x00), "Unspecified"),
    (0x0f, 0x00, Some(0x01), "No system memory installed"),
    (0x0f, 0x00, Some(0x02), "No usable system memory"),
    (0x0f, 0x00, Some(0x03), "Unrecoverable IDE device failure"),
    (0x0f, 0x00, Some(0x04), "Unrecoverable system-board failure"),
    (0x0f, 0x00, Some(0x05), "Unrecoverable diskette failure"),
    (
        0x0f,
        0x00,
        Some(0x06),
        "Unrecoverable hard-disk controller failure",
    ),
    (
        0x0f,
        0x00,
        Some(0x07),
        "Unrecoverable PS/2 or USB keyboard failure",
    ),
    (0x0f, 0x00, Some(0x08), "Removable boot media not found"),
    (
        0x0f,
        0x00,
        Some(0x09),
        "Unrecoverable video controller failure",
    ),
    (0x0f, 0x00, Some(0x0a), "No video device selected"),
    (0x0f, 0x00, Some(0x0b), "BIOS corruption detected"),
    (0x0f, 0x00, Some(0x0c), "CPU voltage mismatch"),
    (0x0f, 0x00, Some(0x0d), "CPU speed mismatch failure"),
    (0x0f, 0x00, None, "Unknown Error"),
    (0x0f, 0x01, Some(0x00), "Unspecified"),
    (0x0f, 0x01, Some(0x01), "Memory initialization"),
    (0x0f, 0x01, Some(0x02), "Hard-disk initialization"),
    (0x0f, 0x01, Some(0x03), "Secondary CPU Initialization"),
    (0x0f, 0x01, Some(0x04), "User authentication"),
    (0x0f, 0x01, Some(0x05), "User-initiated system setup"),
    (0x0f, 0x01, Some(0x06), "USB resource configuration"),
    (0x0f, 0x01, Some(0x07), "PCI resource configuration"),
    (0x0f, 0x01, Some(0x08), "Option ROM initialization"),
    (0x0f, 0x01, Some(0x09), "Video initialization"),
    (0x0f, 0x01, Some(0x0a), "Cache initialization"),
    (0x0f, 0x01, Some(0x0b), "SMBus initialization"),
    (0x0f, 0x01, Some(0x0c), "Keyboard controller initialization"),
    (
        0x0f,
        0x01,
        Some(0x0d),
        "Management controller initialization",
    ),
    (0x0f, 0x01, Some(0x0e), "Docking station attachment"),
    (0x0f, 0x01, Some(0x0f), "Enabling docking station"),
    (0x0f, 0x01, Some(0x10), "Docking station ejection"),
    (0x0f, 0x01, Some(0x11), "Disabling docking station"),
    (
        0x0f,
        0x01,
        Some(0x12),
        "Calling operating system wake-up vector",
    ),
    (0x0f, 0x01, Some(0x13), "System boot initiated"),
    (0x0f, 0x01, Some(0x14), "Motherboard initialization"),
    (0x0f, 0x01, Some(0x15), "reserved"),
    (0x0f, 0x01, Some(0x16), "Floppy initialization"),
    (0x0f, 0x01, Some(0x17), "Keyboard test"),
    (0x0f, 0x01, Some(0x18), "Pointing device test"),
    (0x0f, 0x01, Some(0x19), "Primary CPU initialization"),
    (0x0f, 0x01, None, "Unknown Hang"),
    (0x0f, 0x02, Some(0x00), "Unspecified"),
    (0x0f, 0x02, Some(0x01), "Memory initialization"),
    (0x0f, 0x02, Some(0x02), "Hard-disk initialization"),
    (0x0f, 0x02, Some(0x03), "Secondary CPU Initialization"),
    (0x0f, 0x02, Some(0x04), "User authentication"),
    (0x0f, 0x02, Some(0x05), "User-initiated system setup"),
    (0x0f, 0x02, Some(0x06), "USB resource configuration"),
    (0x0f, 0x02, Some(0x07), "PCI resource configuration"),
    (0x0f, 0x02, Some(0x08), "Option ROM initialization"),
    (0x0f, 0x02, Some(0x09), "Video initialization"),
    (0x0f, 0x02, Some(0x0a), "Cache initialization"),
    (0x0f, 0x02, Some(0x0b), "SMBus initialization"),
    (0x0f, 0x02, Some(0x0c), "Keyboard controller initialization"),
    (
        0x0f,
        0x02,
        Some(0x0d),
        "Management controller initialization",
    ),
    (0x0f, 0x02, Some(0x0e), "Docking station attachment"),
    (0x0f, 0x02, Some(0x0f), "Enabling docking station"),
    (0x0f, 0x02, Some(0x10), "Docking station ejection"),
    (0x0f, 0x02, Some(0x11), "Disabling docking station"),
    (
        0x0f,
        0x02,
        Some(0x12),
        "Calling operating system wake-up vector",
    ),
    (0x0f, 0x02, Some(0x13), "System boot initiated"),
    (0x0f, 0x02, Some(0x14), "Motherboard initialization"),
    (0x0f, 0x02, Some(0x15), "reserved"),
    (0x0f, 0x02, Some(0x16), "Floppy initialization"),
    (0x0f, 0x02, Some(0x17), "Keyboard test"),
    (0x0f, 0x02, Some(0x18), "Pointing device test"),
    (0x0f, 0x02, Some(0x19), "Primary CPU initialization"),
    (0x0f, 0x02, None, "Unknown Progress"),
    (
        0x10,
        0x00,
        None,
        "Correctable memory error logging disabled",
    ),
    (0x10, 0x01, None, "Event logging disabled"),
    (0x10, 0x02, None, "Log area reset/cleared"),
    (0x10, 0x03, None, "All event logging disabled"),
    (0x10, 0x04, None, "Log full"),
    (0x10, 0x05, None, "Log almost full"),
    (0x11, 0x00, None, "BIOS Reset"),
    (0x11, 0x01, None, "OS Reset"),
    (0x11, 0x02, None, "OS Shut Down"),
    (0x11, 0x03, None, "OS Power Down"),
    (0x11, 0x04, None, "OS Power Cycle"),
    (0x11, 0x05, None, "OS NMI/Diag Interrupt"),
    (0x11, 0x06, None, "OS Expired"),
    (0x11, 0x07, None, "OS pre-timeout Interrupt"),
    (0x12, 0x00, None, "System Reconfigured"),
    (0x12, 0x01, None, "OEM System boot event"),
    (0x12, 0x02, None, "Undetermined system hardware failure"),
    (0x12, 0x03, None, "Entry added to auxiliary log"),
    (0x12, 0x04, None, "PEF Action"),
    (0x12, 0x05, None, "Timestamp Clock Sync"),
    (0x13, 0x00, None, "NMI/Diag Interrupt"),
    (0x13, 0x01, None, "Bus Timeout"),
    (0x13, 0x02, None, "I/O Channel check NMI"),
    (0x13, 0x03, None, "Software NMI"),
    (0x13, 0x04, None, "PCI PERR"),
    (0x13, 0x05, None, "PCI SERR"),
    (0x13, 0x06, None, "EISA failsafe timeout"),
    (0x13, 0x07, None, "Bus Correctable error"),
    (0x13, 0x08, None, "Bus Uncorrectable error"),
    (0x13, 0x09, None, "Fatal NMI"),
    (0x13, 0x0a, None, "Bus Fatal Error"),
    (0x13, 0x0b, None, "Bus Degraded"),
    (0x14, 0x00, None, "Power Button pressed"),
    (0x14, 0x01, None, "Sleep Button pressed"),
    (0x14, 0x02, None, "Reset Button pressed"),
    (0x14, 0x03, None, "FRU Latch"),
    (0x14, 0x04, None, "FRU Service"),
    (0x19, 0x00, None, "Soft Power Control Failure"),
    (0x19, 0x01, None, "Thermal Trip"),
    (0x1b, 0x00, None, "Connected"),
    (0x1b, 0x01, None, "Config Error"),
    (0x1d, 0x00, None, "Initiated by power up"),
    (0x1d, 0x01, None, "Initiated by hard reset"),
    (0x1d, 0x02, None, "Initiated by warm reset"),
    (0x1d, 0x03, None, "User requested PXE boot"),
    (0x1d, 0x04, None, "Automatic boot to diagnostic"),
    (0x1d, 0x05, None, "OS initiated hard reset"),
    (0x1d, 0x06, None, "OS initiated warm reset"),
    (0x1d, 0x07, None, "System Restart"),
    (0x1e, 0x00, None, "No bootable media"),
    (0x1e, 0x01, None, "Non-bootable disk in drive"),
    (0x1e, 0x02, None, "PXE server not found"),
    (0x1e, 0x03, None, "Invalid boot sector"),
    (0x1e, 0x04, None, "Timeout waiting for selection"),
    (0x1f, 0x00, None, "A: boot completed"),
    (0x1f, 0x01, None, "C: boot completed"),
    (0x1f, 0x02, None, "PXE boot completed"),
    (0x1f, 0x03, None, "Diagnostic boot completed"),
    (0x1f, 0x04, None, "CD-ROM boot completed"),
    (0x1f, 0x05, None, "ROM boot completed"),
    (0x1f, 0x06, None, "boot completed - device not specified"),
    (0x1f, 0x07, None, "Installation started"),
    (0x1f, 0x08, None, "Installation completed"),
    (0x1f, 0x09, None, "Installation aborted"),
    (0x1f, 0x0a, None, "Installation failed"),
    (0x20, 0x00, None, "Error during system startup"),
    (0x20, 0x01, None, "Run-time critical stop"),
    (0x20, 0x02, None, "OS graceful stop"),
    (0x20, 0x03, None, "OS graceful shutdown"),
    (0x20, 0x04, None, "PEF initiated soft shutdown"),
    (0x20, 0x05, None, "Agent not responding"),
    (0x21, 0x00, None, "Fault Status"),
    (0x21, 0x01, None, "Identify Status"),
    (0x21, 0x02, None, "Device Installed"),
    (0x21, 0x03, None, "Ready for Device Installation"),
    (0x21, 0x04, None, "Ready for Device Removal"),
    (0x21, 0x05, None, "Slot Power is Off"),
    (0x21, 0x06, None, "Device Removal Request"),
    (0x21, 0x07, None, "Interlock"),
    (0x21, 0x08, None, "Slot is Disabled"),
    (0x21, 0x09, None, "Spare Device"),
    (0x22, 0x00, None, "S0/G0: working"),
    (
        0x22,
        0x01,
        None,
        "S1: sleeping with system hw & processor context maintained",
    ),
    (0x22, 0x02, None, "S2: sleeping, processor context lost"),
    (
        0x22,
        0x03,
        None,
        "S3: sleeping, processor & hw context lost, memory retained",
    ),
    (0x22, 0x04, None, "S4: non-volatile sleep/suspend-to-disk"),
    (0x22, 0x05, None, "S5/G2: soft-off"),
    (0x22, 0x06, None, "S4/S5: soft-off"),
    (0x22, 0x07, None, "G3: mechanical off"),
    (0x22, 0x08, None, "Sleeping in S1/S2/S3 state"),
    (0x22, 0x09, None, "G1: sleeping"),
    (0x22, 0x0a, None, "S5: entered by override"),
    (0x22, 0x0b, None, "Legacy ON state"),
    (0x22, 0x0c, None, "Legacy OFF state"),
    (0x22, 0x0e, None, "Unknown"),
    (0x23, 0x00, None, "Timer expired"),
    (0x23, 0x01, None, "Hard reset"),
    (0x23, 0x02, None, "Power down"),
    (0x23, 0x03, None, "Power cycle"),
    (0x23, 0x04, None, "reserved"),
    (0x23, 0x05, None, "reserved"),
    (0x23, 0x06, None, "reserved"),
    (0x23, 0x07, None, "reserved"),
    (0x23, 0x08, None, "Timer interrupt"),
    (0x24, 0x00, None, "Platform generated page"),
    (0x24, 0x01, None, "Platform generated LAN alert"),
    (0x24, 0x02, None, "Platform Event Trap generated"),
    (0x24, 0x03, None, "Platform generated SNMP trap, OEM format"),
    (0x25, 0x00, None, "Present"),
    (0x25, 0x01, None, "Absent"),
    (0x25, 0x02, None, "Disabled"),
    (0x27, 0x00, None, "Heartbeat Lost"),
    (0x27, 0x01, None, "Heartbeat"),
    (0x28, 0x00, None, "Sensor access degraded or unavailable"),
    (
        0x28,
        0x01,
        None,
        "Controller access degraded or unavailable",
    ),
    (0x28, 0x02, None, "Management controller off-line"),
    (0x28, 0x03, None, "Management controller unavailable"),
    (0x28, 0x04, None, "Sensor failure"),
    (0x28, 0x05, None, "FRU failure"),
    (0x29, 0x00, None, "Low"),
    (0x29, 0x01, None, "Failed"),
    (0x29, 0x02, None, "Presence Detected"),
    (0x2b, 0x00, None, "Hardware change detected"),
    (
        0x2b,
        0x01,
        Some(0x00),
        "Firmware or software change detected",
    ),
    (
        0x2b,
        0x01,
        Some(0x01),
        "Firmware or software change detected, Mngmt Ctrl Dev Id",
    ),
    (
        0x2b,
        0x01,
        Some(0x02),
        "Firmware or software change detected, Mngmt Ctrl Firm Rev",
    ),
    (
        0x2b,
        0x01,
        Some(0x03),
        "Firmware or software change detected, Mngmt Ctrl Dev Rev",
    ),
    (
        0x2b,
        0x01,
        Some(0x04),
        "Firmware or software change detected, Mngmt Ctrl Manuf Id",
    ),
    (
        0x2b,
        0x01,
        Some(0x05),
        "Firmware or software change detected, Mngmt Ctrl IPMI Vers",
    ),
    (
        0x2b,
        0x01,
        Some(0x06),
        "Firmware or software change detected, Mngmt Ctrl Aux Firm Id",
    ),
    (
        0x2b,
        0x01,
        Some(0x07),
        "Firmware or software change detected, Mngmt Ctrl Firm Boot Block",
    ),
    (
        0x2b,
        0x01,
        Some(0x08),
        "Firmware or software change detected, Mngmt Ctrl Other",
    ),
    (
        0x2b,
        0x01,
        Some(0x09),
        "Firmware or software change detected, BIOS/EFI change",
    ),
    (
        0x2b,
        0x01,
        Some(0x0a),
        "Firmware or software change detected, SMBIOS change",
    ),
    (
        0x2b,
        0x01,
        Some(0x0b),
        "Firmware or software change detected, O/S change",
    ),
    (
        0x2b,
        0x01,
        Some(0x0c),
        "Firmware or software change detected, O/S loader change",
    ),
    (
        0x2b,
        0x01,
        Some(0x0d),
        "Firmware or software change detected, Service Diag change",
    ),
    (
        0x2b,
        0x01,
        Some(0x0e),
        "Firmware or software change detected, Mngmt SW agent change",
    ),
    (
        0x2b,
        0x01,
        Some(0x0f),
        "Firmware or software change detected, Mngmt SW App change",
    ),
    (
        0x2b,
        0x01,
        Some(0x10),
        "Firmware or software change detected, Mngmt SW Middle",
    ),
    (
        0x2b,
        0x01,
        Some(0x11),
        "Firmware or software change detected, Prog HW Change (FPGA)",
    ),
    (
        0x2b,
        0x01,
        Some(0x12),
        "Firmware or software change detected, board/FRU module change",
    ),
    (
        0x2b,
        0x01,
        Some(0x13),
        "Firmware or software change detected, board/FRU component change",
    ),
    (
        0x2b,
        0x01,
        Some(0x14),
        "Firmware or software change detected, board/FRU replace equ ver",
    ),
    (
        0x2b,
        0x01,
        Some(0x15),
        "Firmware or software change detected, board/FRU replace new ver",
    ),
    (
        0x2b,
        0x01,
        Some(0x16),
        "Firmware or software change detected, board/FRU replace old ver",
    ),
    (
        0x2b,
        0x01,
        Some(0x17),
        "Firmware or software change detected, board/FRU HW conf change",
    ),
    (0x2b, 0x02, None, "Hardware incompatibility detected"),
    (
        0x2b,
        0x03,
        None,
        "Firmware or software incompatibility detected",
    ),
    (0x2b, 0x04, None, "Invalid or unsupported hardware version"),
    (
        0x2b,
        0x05,
        None,
        "Invalid or unsupported firmware or software version",
    ),
    (0x2b, 0x06, None, "Hardware change success"),
    (
        0x2b,
        0x07,
        Some(0x00),
        "Firmware or software change success",
    ),
    (
        0x2b,
        0x07,
        Some(0x01),
        "Firmware or software change success, Mngmt Ctrl Dev Id",
    ),
    (
        0x2b,
        0x07,
        Some(0x02),
        "Firmware or software change success, Mngmt Ctrl Firm Rev",
    ),
    (
        0x2b,
        0x07,
        Some(0x03),
        "Firmware or software change success, Mngmt Ctrl Dev Rev",
    ),
    (
        0x2b,
        0x07,
        Some(0x04),
        "Firmware or software change success, Mngmt Ctrl Manuf Id",
    ),
    (
        0x2b,
        0x07,
        Some(0x05),
        "Firmware or software change success, Mngmt Ctrl IPMI Vers",
    ),
    (
        0x2b,
        0x07,
        Some(0x06),
        "Firmware or software change success, Mngmt Ctrl Aux Firm Id",
    ),
    (
        0x2b,
        0x07,
        Some(0x07),
        "Firmware or software change success, Mngmt Ctrl Firm Boot Block",
    ),
    (
        0x2b,
        0x07,
        Some(0x08),
        "Firmware or software change success, Mngmt Ctrl Other",
    ),
    (
        0x2b,
        0x07,
        Some(0x09),
        "Firmware or software change success, BIOS/EFI change",
    ),
    (
        0x2b,
        0x07,
        Some(0x0a),
        "Firmware or software change success, SMBIOS change",
    ),
    (
        0x2b,
        0x07,
        Some(0x0b),
        "Firmware or software change success, O/S change",
    ),
    (
        0x2b,
        0x07,
        Some(0x0c),
        "Firmware or software change success, O/S loader change",
    ),
    (
        0x2b,
        0x07,
        Some(0x0d),
        "Firmware or software change success, Service Diag change",
    ),
    (
        0x2b,
        0x07,
        Some(0x0e),
        "Firmware or software change success, Mngmt SW agent change",
    ),
    (
        0x2b,
        0x07,
        Some(0x0f),
        "Firmware or software change success, Mngmt SW App change",
    ),
    (
        0x2b,
        0x07,
        Some(0x10),
        "Firmware or software change success, Mngmt SW Middle",
    ),
    (
        0x2b,
        0x07,
        Some(0x11),
        "Firmware or software change success, Prog HW Change (FPGA)",
    ),
    (
        0x2b,
        0x07,
        Some(0x12),
        "Firmware or software change success, board/FRU module change",
    ),
    (
        0x2b,
        0x07,
        Some(0x13),
        "Firmware or software change success, board/FRU component change",
    ),
    (
        0x2b,
        0x07,
        Some(0x14),
        "Firmware or software change success, board/FRU replace equ ver",
    ),
    (
        0x2b,
        0x07,
        Some(0x15),
        "Firmware or software change success, board/FRU replace new ver",
    ),
    (
        0x2b,
        0x07,
        Some(0x16),
        "Firmware or software change success, board/FRU replace old ver",
    ),
    (
        0x2b,
        0x07,
        Some(0x17),
        "Firmware or software change success, board/FRU HW conf change",
    ),
    (0x2c, 0x00, None, "Not Installed"),
    (0x2c, 0x01, None, "Inactive"),
    (0x2c, 0x02, None, "Activation Requested"),
    (0x2c, 0x03, None, "Activation in Progress"),
    (0x2c, 0x04, None, "Active"),
    (0x2c, 0x05, None, "Deactivation Requested"),
    (0x2c, 0x06, None, "Deactivation in Progress"),
    (0x2c, 0x07, None, "Communication lost"),
    (0xf0, 0x00, None, "Transition to M0"),
    (0xf0, 0x01, None, "Transition to M1"),
    (0xf0, 0x02, None, "Transition to M2"),
    (0xf0, 0x03, None, "Transition to M3"),
    (0xf0, 0x04, None, "Transition to M4"),
    (0xf0, 0x05, None, "Transition to M5"),
    (0xf0, 0x06, None, "Transition to M6"),
    (0xf0, 0x07, None, "Transition to M7"),
    (0xf1, 0x00, None, "IPMB-A disabled, IPMB-B disabled"),
    (0xf1, 0x01, None, "IPMB-A enabled, IPMB-B disabled"),
    (0xf1, 0x02, None, "IPMB-A disabled, IPMB-B enabled"),
    (0xf1, 0x03, None, "IPMB-A enabled, IPMB-B enabled"),
    (0xf2, 0x00, None, "Module Handle Closed"),
    (0xf2, 0x01, None, "Module Handle Opened"),
    (0xf2, 0x02, None, "Quiesced"),
];

/// The lines that describe events of this sensor and event/reading type, as ipmitool picks
/// its table: sensor-specific (0x6F) by sensor type, any other by event/reading type.
fn event_lines(sensor_type: u8, event_type: u8) -> impl Iterator<Item = &'static EventText> {
    let (table, code) = if event_type == 0x6F {
        (SENSOR_SPECIFIC_EVENTS, sensor_type)
    } else {
        (GENERIC_EVENTS, event_type)
    };
    table.iter().filter(move |line| line.0 == code)
}

/// The text of an event (ipmitool's `ipmi_get_event_desc`): the offset is the low nibble
/// of event data 1; a line tied to an event data 2 value applies when bits 7:6 of event
/// data 1 say byte 2 is given. `None` where ipmitool prints nothing: OEM event types
/// (0x70..0x7E), reserved types and offsets the tables lack.
pub fn event_text(sensor_type: u8, event_type: u8, data: [u8; 3]) -> Option<&'static str> {
    if (0x70..0x7F).contains(&event_type) {
        return None;
    }
    let offset = data[0] & 0x0F;
    let byte2_given = data[0] & 0xC0 != 0;
    event_lines(sensor_type, event_type)
        .find(|(_, o, d, _)| *o == offset && d.is_none_or(|d| byte2_given && d == data[1]))
        .map(|line| line.3)
}

/// The names of the states a discrete sensor asserts (bit N of the two state bytes of Get
/// Sensor Reading = offset N), in table order, as ipmitool's `States Asserted` lists them.
pub fn state_names(sensor_type: u8, event_type: u8, states: u16) -> Vec<&'static str> {
    event_lines(sensor_type, event_type)
        .filter(|(_, offset, data, _)| {
            data.is_none() && *offset < 15 && states & (1 << offset) != 0
        })
        .map(|line| line.3)
        .collect()
}

/// A SEL timestamp as ipmitool's `sel elist` shows it, its date and time columns joined by
/// a space: "06/15/24 12:00:03 UTC" (always UTC: ipmitool uses the local zone of wherever
/// it runs, igord has no such zone to offer), "Pre-Init 0000003026" for seconds since BMC
/// start (0x20000000 and below), "Unspecified" for 0xFFFFFFFF.
pub fn timestamp_text(ts: u32) -> String {
    if ts == 0xFFFF_FFFF {
        return "Unspecified".to_string();
    }
    if ts <= 0x2000_0000 {
        return format!("Pre-Init {ts:010}");
    }
    match chrono::DateTime::from_timestamp(i64::from(ts), 0) {
        Some(t) => t.format("%m/%d/%y %H:%M:%S UTC").to_string(),
        None => "Unspecified".to_string(),
    }
}

/// A value as ipmitool prints readings and thresholds in `sel elist`: no decimals when it
/// is whole, else two.
pub fn ipmitool_number(v: f64) -> String {
    if v == v.trunc() {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// The unit string ipmitool builds from a full record's units bytes (`ipmi_sdr_get_unit_string`):
/// `units1` (bit 0 percentage, bits 2:1 modifier relation), base and modifier unit codes.
pub fn ipmitool_unit(units1: u8, base: u8, modifier: u8) -> String {
    let name = |code: u8| unit_name(code).unwrap_or("unspecified");
    let pct = if units1 & 0x01 != 0 { "% " } else { "" };
    match (units1 >> 1) & 0x03 {
        1 => format!("{pct}{}/{}", name(base), name(modifier)),
        2 => format!("{pct}{}*{}", name(base), name(modifier)),
        _ if base == 0 && !pct.is_empty() => "percent".to_string(),
        _ => format!("{pct}{}", name(base)),
    }
}

#[cfg(test)]
mod tests {
    use super::{event_text, ipmitool_number, ipmitool_unit, state_names, timestamp_text};

    /// Sensor type, event/reading type and event data 1 and 2, and the text ipmitool 1.8.19
    /// gives the event ("-": none), as its `ipmi_get_event_desc` looks it up.
    #[test]
    fn event_texts() {
        let table: &[(u8, u8, [u8; 2], &str)] = &[
            // Threshold offsets, whatever the sensor type.
            (0x01, 0x01, [0x59, 0x5c], "Upper Critical going high"),
            (0x04, 0x01, [0x52, 0x0f], "Lower Critical going low"),
            (0x02, 0x01, [0x0b, 0x00], "Upper Non-recoverable going high"),
            (0x02, 0x01, [0x0c, 0x00], "-"),
            // Generic discrete types 0x02 to 0x0C.
            (
                0x08,
                0x07,
                [0x02, 0xff],
                "Transition to Critical from less severe",
            ),
            (0x08, 0x03, [0x01, 0xff], "State Asserted"),
            (0x25, 0x08, [0x01, 0xff], "Device Present"),
            (0x08, 0x0b, [0x01, 0xff], "Redundancy Lost"),
            (0x07, 0x0c, [0x03, 0xff], "D3 Power State"),
            (0x07, 0x0d, [0x00, 0xff], "-"),
            // Sensor-specific, by sensor type.
            (0x25, 0x6f, [0x00, 0xff], "Present"),
            (0x25, 0x6f, [0x01, 0xff], "Absent"),
            (0x23, 0x6f, [0x01, 0xff], "Hard reset"),
            (0x07, 0x6f, [0x07, 0xff], "Presence detected"),
            (0x0c, 0x6f, [0x06, 0xff], "Presence Detected"),
            (0x08, 0x6f, [0x00, 0xff], "Presence detected"),
            (0x29, 0x6f, [0x02, 0xff], "Presence Detected"),
            // Bits 7:4 of data 1 are flags, never part of the offset.
            (0x23, 0x6f, [0xa1, 0x00], "Hard reset"),
            // Lines tied to event data 2 apply only when data 1 says byte 2 is given.
            (0x0f, 0x6f, [0xc2, 0x13], "System boot initiated"),
            (0x0f, 0x6f, [0x02, 0x13], "Unknown Progress"),
            (0x0f, 0x6f, [0xc2, 0x7f], "Unknown Progress"),
            (
                0x08,
                0x6f,
                [0xc6, 0x03],
                "Config Error: Power Supply Rating Mismatch",
            ),
            (0x08, 0x6f, [0x06, 0x03], "Config Error"),
            // Version change offset 1 has no line for any data: nothing without byte 2.
            (
                0x2b,
                0x6f,
                [0x81, 0x09],
                "Firmware or software change detected, BIOS/EFI change",
            ),
            (0x2b, 0x6f, [0x01, 0x09], "-"),
            // A type the table lacks, an offset it lacks, OEM event types.
            (0x26, 0x6f, [0x00, 0xff], "-"),
            (0x25, 0x6f, [0x03, 0xff], "-"),
            (0x01, 0x70, [0x00, 0xff], "-"),
            (0x01, 0x7e, [0x00, 0xff], "-"),
        ];
        for (sensor_type, event_type, [d1, d2], expected) in table {
            let got = event_text(*sensor_type, *event_type, [*d1, *d2, 0xff]).unwrap_or("-");
            assert_eq!(
                got, *expected,
                "type {sensor_type:#04x}, event type {event_type:#04x}, data {d1:#04x} {d2:#04x}"
            );
        }
    }

    #[test]
    fn state_name_lists() {
        let table: &[(u8, u8, u16, &[&str])] = &[
            (0x25, 0x6f, 0x0001, &["Present"]),
            (0x25, 0x6f, 0x0006, &["Absent", "Disabled"]),
            (0x25, 0x6f, 0x0000, &[]),
            // Offsets 8 and up are bits of the second byte.
            (0x07, 0x6f, 0x0180, &["Presence detected", "Disabled"]),
            (0x07, 0x6f, 0x1000, &["Correctable machine check error"]),
            // Lines for one event data 2 value name no state.
            (0x08, 0x6f, 0x0040, &["Config Error"]),
            (0x2b, 0x6f, 0x0002, &[]),
            (0x0b, 0x0b, 0x0002, &["Redundancy Lost"]),
            (0x05, 0x03, 0x0002, &["State Asserted"]),
        ];
        for (sensor_type, event_type, states, expected) in table {
            assert_eq!(
                state_names(*sensor_type, *event_type, *states),
                *expected,
                "type {sensor_type:#04x}, event type {event_type:#04x}, states {states:#06x}"
            );
        }
    }

    /// Timestamps as `ipmitool sel elist` (1.8.19, TZ=UTC) shows them.
    #[test]
    fn timestamp_texts() {
        let table: &[(u32, &str)] = &[
            (0x666d_8241, "06/15/24 12:00:01 UTC"),
            (3026, "Pre-Init 0000003026"),
            (0, "Pre-Init 0000000000"),
            (0x2000_0000, "Pre-Init 0536870912"),
            (0x2000_0001, "01/05/87 18:48:33 UTC"),
            (0xFFFF_FFFE, "02/07/06 06:28:14 UTC"),
            (0xFFFF_FFFF, "Unspecified"),
        ];
        for (ts, expected) in table {
            assert_eq!(timestamp_text(*ts), *expected, "{ts:#010x}");
        }
    }

    #[test]
    fn ipmitool_units_and_numbers() {
        let units: &[((u8, u8, u8), &str)] = &[
            ((0x00, 1, 0), "degrees C"),
            ((0x00, 0, 0), "unspecified"),
            ((0x01, 0, 0), "percent"),
            ((0x01, 18, 0), "% RPM"),
            ((0x02, 6, 24), "Watts/hour"),
            ((0x04, 5, 22), "Amps*second"),
            ((0x80, 4, 0), "Volts"),
        ];
        for ((units1, base, modifier), expected) in units {
            assert_eq!(ipmitool_unit(*units1, *base, *modifier), *expected);
        }
        let numbers: &[(f64, &str)] = &[
            (92.0, "92"),
            (-5.0, "-5"),
            (12.5, "12.50"),
            (0.125, "0.12"),
            (4800.0, "4800"),
        ];
        for (v, expected) in numbers {
            assert_eq!(ipmitool_number(*v), *expected);
        }
    }
}

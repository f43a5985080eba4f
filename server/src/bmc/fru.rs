//! The FRU inventory format (Platform Management FRU Information Storage Definition v1.0):
//! a common header pointing at the chassis, board and product info areas, each a list of
//! type/length-prefixed fields. Pure decoding, no I/O: the bytes come from Read FRU Data.
//!
//! Field names and the chassis type table follow what `ipmitool fru print` shows, so an
//! operator sees the same words in both tools.

use chrono::{DateTime, Duration, TimeZone, Utc};

use super::BmcError;

/// A decoded FRU device. A missing area leaves its fields `None`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fru {
    pub chassis: Option<ChassisArea>,
    pub board: Option<BoardArea>,
    pub product: Option<ProductArea>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChassisArea {
    pub kind: String,
    pub part_number: String,
    pub serial: String,
    pub extra: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct BoardArea {
    /// `None` when the area says "unspecified" (0).
    pub mfg_date: Option<DateTime<Utc>>,
    pub manufacturer: String,
    pub product: String,
    pub serial: String,
    pub part_number: String,
    pub fru_file_id: String,
    pub extra: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProductArea {
    pub manufacturer: String,
    pub name: String,
    pub part_number: String,
    pub version: String,
    pub serial: String,
    pub asset_tag: String,
    pub fru_file_id: String,
    pub extra: Vec<String>,
}

/// SMBIOS chassis types, as the FRU specification takes them (index = code).
const CHASSIS_TYPES: [&str; 37] = [
    "Unspecified",
    "Other",
    "Unknown",
    "Desktop",
    "Low Profile Desktop",
    "Pizza Box",
    "Mini Tower",
    "Tower",
    "Portable",
    "LapTop",
    "Notebook",
    "Hand Held",
    "Docking Station",
    "All in One",
    "Sub Notebook",
    "Space-saving",
    "Lunch Box",
    "Main Server Chassis",
    "Expansion Chassis",
    "SubChassis",
    "Bus Expansion Chassis",
    "Peripheral Chassis",
    "RAID Chassis",
    "Rack Mount Chassis",
    "Sealed-case PC",
    "Multi-system Chassis",
    "CompactPCI",
    "AdvancedTCA",
    "Blade",
    "Blade Enclosure",
    "Tablet",
    "Convertible",
    "Detachable",
    "IoT Gateway",
    "Embedded PC",
    "Mini PC",
    "Stick PC",
];

fn bad(what: String) -> BmcError {
    BmcError::Protocol(format!("FRU data: {what}"))
}

/// Decodes a whole FRU device image (as read from offset 0).
pub fn decode(data: &[u8]) -> Result<Fru, BmcError> {
    let header = data.get(..8).ok_or_else(|| {
        bad(format!(
            "{} bytes, shorter than the 8-byte header",
            data.len()
        ))
    })?;
    if header[0] & 0x0f != 0x01 {
        return Err(bad(format!(
            "header format version {:#04x}, expected 0x01",
            header[0]
        )));
    }
    if !zero_sum(header) {
        return Err(bad("header checksum does not match".to_owned()));
    }
    let area = |index: usize, name: &str| -> Result<Option<&[u8]>, BmcError> {
        let offset = usize::from(header[index]) * 8;
        if offset == 0 {
            return Ok(None);
        }
        let head = data
            .get(offset..offset + 2)
            .ok_or_else(|| bad(format!("{name} area at {offset} is past the end")))?;
        let len = usize::from(head[1]) * 8;
        let bytes = data.get(offset..offset + len).ok_or_else(|| {
            bad(format!(
                "{name} area at {offset} ({len} bytes) is past the end"
            ))
        })?;
        if len < 3 || !zero_sum(bytes) {
            return Err(bad(format!("{name} area checksum does not match")));
        }
        Ok(Some(bytes))
    };
    let chassis = area(2, "chassis")?.map(chassis_area).transpose()?;
    let board = area(3, "board")?.map(board_area).transpose()?;
    let product = area(4, "product")?.map(product_area).transpose()?;
    Ok(Fru {
        chassis,
        board,
        product,
    })
}

fn zero_sum(bytes: &[u8]) -> bool {
    bytes.iter().fold(0u8, |a, b| a.wrapping_add(*b)) == 0
}

fn chassis_area(a: &[u8]) -> Result<ChassisArea, BmcError> {
    let kind = CHASSIS_TYPES
        .get(usize::from(a[2]))
        .map_or_else(|| format!("{:#04x}", a[2]), |s| (*s).to_owned());
    let mut fields = Fields::new(a, 3, "chassis");
    Ok(ChassisArea {
        kind,
        part_number: fields.next_field()?,
        serial: fields.next_field()?,
        extra: fields.rest()?,
    })
}

fn board_area(a: &[u8]) -> Result<BoardArea, BmcError> {
    let minutes = a
        .get(3..6)
        .map(|m| u32::from(m[0]) | u32::from(m[1]) << 8 | u32::from(m[2]) << 16)
        .ok_or_else(|| bad("board area too short for its date".to_owned()))?;
    let mfg_date = match minutes {
        0 => None,
        m => Utc
            .with_ymd_and_hms(1996, 1, 1, 0, 0, 0)
            .single()
            .map(|epoch| epoch + Duration::minutes(i64::from(m))),
    };
    let mut fields = Fields::new(a, 6, "board");
    Ok(BoardArea {
        mfg_date,
        manufacturer: fields.next_field()?,
        product: fields.next_field()?,
        serial: fields.next_field()?,
        part_number: fields.next_field()?,
        fru_file_id: fields.next_field()?,
        extra: fields.rest()?,
    })
}

fn product_area(a: &[u8]) -> Result<ProductArea, BmcError> {
    let mut fields = Fields::new(a, 3, "product");
    Ok(ProductArea {
        manufacturer: fields.next_field()?,
        name: fields.next_field()?,
        part_number: fields.next_field()?,
        version: fields.next_field()?,
        serial: fields.next_field()?,
        asset_tag: fields.next_field()?,
        fru_file_id: fields.next_field()?,
        extra: fields.rest()?,
    })
}

/// The type/length fields of one area, read in order up to the end marker (0xC1).
struct Fields<'a> {
    area: &'a [u8],
    at: usize,
    name: &'static str,
    ended: bool,
}

impl<'a> Fields<'a> {
    fn new(area: &'a [u8], at: usize, name: &'static str) -> Self {
        Fields {
            area,
            at,
            name,
            ended: false,
        }
    }

    /// The next field, or "" once the end marker has been read (areas may stop early).
    fn next_field(&mut self) -> Result<String, BmcError> {
        Ok(self.field()?.unwrap_or_default())
    }

    fn field(&mut self) -> Result<Option<String>, BmcError> {
        if self.ended {
            return Ok(None);
        }
        // The last byte of the area is its checksum, never a field.
        let limit = self.area.len() - 1;
        let tl = *self
            .area
            .get(self.at)
            .filter(|_| self.at < limit)
            .ok_or_else(|| bad(format!("{} area has no end marker", self.name)))?;
        if tl == 0xc1 {
            self.ended = true;
            return Ok(None);
        }
        let len = usize::from(tl & 0x3f);
        let start = self.at + 1;
        let bytes = self
            .area
            .get(start..start + len)
            .filter(|_| start + len <= limit)
            .ok_or_else(|| {
                bad(format!(
                    "{} area field at byte {} runs past the area",
                    self.name, self.at
                ))
            })?;
        self.at = start + len;
        Ok(Some(field_text(tl >> 6, bytes)))
    }

    /// Custom fields after the defined ones.
    fn rest(&mut self) -> Result<Vec<String>, BmcError> {
        let mut out = Vec::new();
        while let Some(f) = self.field()? {
            out.push(f);
        }
        Ok(out)
    }
}

/// A field's text by its type code: 0 binary (shown as hex), 1 BCD plus, 2 6-bit packed
/// ASCII, 3 8-bit text (Latin-1 for English, the only language BMCs use).
fn field_text(kind: u8, bytes: &[u8]) -> String {
    match kind {
        0 => bytes.iter().map(|b| format!("{b:02x}")).collect(),
        1 => bytes
            .iter()
            .flat_map(|b| [b >> 4, b & 0x0f])
            .map(|n| match n {
                0..=9 => char::from(b'0' + n),
                0xa => ' ',
                0xb => '-',
                0xc => '.',
                _ => '?',
            })
            .collect(),
        2 => {
            let mut out = String::new();
            for chunk in bytes.chunks(3) {
                let mut word = 0u32;
                for (i, b) in chunk.iter().enumerate() {
                    word |= u32::from(*b) << (8 * i);
                }
                // Three bytes hold four characters; a short last chunk holds fewer.
                let chars = chunk.len() * 8 / 6;
                for i in 0..chars {
                    let c = ((word >> (6 * i)) & 0x3f) as u8;
                    out.push(char::from(0x20 + c));
                }
            }
            out
        }
        _ => bytes
            .iter()
            .map(|b| char::from(*b))
            .collect::<String>()
            .trim_end_matches('\0')
            .to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::{decode, field_text};

    /// The FRU image configured in tests/bmc-sim/bmc.emu (written by tests/bmc-sim/fru-image.py),
    /// as Read FRU Data returns it from ipmi_sim.
    pub const SIM_FRU: &[u8] = include_bytes!("../../../tests/bmc-sim/fixtures/fru.bin");

    #[test]
    fn decodes_the_simulator_image_as_ipmitool_does() {
        let fru = decode(SIM_FRU).unwrap();
        let c = fru.chassis.unwrap();
        assert_eq!(c.kind, "Rack Mount Chassis");
        assert_eq!(c.part_number, "CHS-1000");
        assert_eq!(c.serial, "CH123456");
        let b = fru.board.unwrap();
        assert_eq!(b.manufacturer, "Acme Servers");
        assert_eq!(b.product, "X11-Board");
        assert_eq!(b.serial, "BRD98765");
        assert_eq!(b.part_number, "BP-2000");
        assert_eq!(
            b.mfg_date.unwrap().to_rfc3339(),
            "2024-06-15T12:00:00+00:00"
        );
        let p = fru.product.unwrap();
        assert_eq!(p.manufacturer, "Acme Servers");
        assert_eq!(p.name, "Igor Test Server");
        assert_eq!(p.part_number, "ITS-1");
        assert_eq!(p.version, "1.0");
        assert_eq!(p.serial, "PRD-0001");
        assert_eq!(p.asset_tag, "ASSET42");
        assert_eq!(p.extra, vec!["rack 4 slot 12".to_owned()]);
    }

    #[test]
    fn field_encodings() {
        assert_eq!(field_text(0, &[0xde, 0xad]), "dead");
        assert_eq!(field_text(1, &[0x12, 0xab, 0xc3]), "12 -.3");
        // "IPMI" in 6-bit packed ASCII: 0x29 0xdc 0xa6.
        assert_eq!(field_text(2, &[0x29, 0xdc, 0xa6]), "IPMI");
        assert_eq!(field_text(3, b"Acme\0\0"), "Acme");
    }

    #[test]
    fn refuses_broken_images_with_what_is_wrong() {
        let short = decode(&SIM_FRU[..4]).unwrap_err().to_string();
        assert!(short.contains("shorter than the 8-byte header"), "{short}");
        let mut bad_sum = SIM_FRU.to_vec();
        bad_sum[7] ^= 1;
        let e = decode(&bad_sum).unwrap_err().to_string();
        assert!(e.contains("header checksum"), "{e}");
        // An area cut off by the end of the data names the area.
        let cut = decode(&SIM_FRU[..20]).unwrap_err().to_string();
        assert!(cut.contains("area"), "{cut}");
        // A flipped byte inside the board area breaks its checksum.
        let mut flipped = SIM_FRU.to_vec();
        let board = usize::from(SIM_FRU[3]) * 8;
        flipped[board + 8] ^= 0x01;
        let e = decode(&flipped).unwrap_err().to_string();
        assert!(e.contains("board area checksum"), "{e}");
        // Every prefix decodes or fails cleanly, never panics.
        for n in 0..SIM_FRU.len() {
            let _ = decode(&SIM_FRU[..n]);
        }
    }
}

//! The FRU inventory: Get FRU Inventory Area Info, then Read FRU Data for the header and the
//! areas it points at (not the whole device, which may be far larger than its content).
//! ipmi-rs 0.6 has neither request; the image is decoded in `bmc::fru`.

use super::{Ctx, STORAGE, short};
use crate::bmc::BmcError;
use crate::bmc::fru::{self, Fru};
use crate::bmc::session::Fail;

/// Bytes asked per Read FRU Data: what ipmitool asks of a LAN BMC, well inside the
/// smallest message size a BMC must accept.
const CHUNK: usize = 32;

pub(super) async fn read(ctx: &mut Ctx<'_>, device: u8) -> Result<Fru, Fail> {
    let info = ctx.req(STORAGE, 0x10, &[device]).await?;
    short("get fru inventory area info", 3, &info)?;
    let size = usize::from(u16::from_le_bytes([info[0], info[1]]));
    // Bit 0: the device is addressed in 16-bit words rather than bytes.
    let words = info[2] & 0x01 != 0;
    if size < 8 {
        return Err(Fail::Answer(BmcError::Protocol(format!(
            "FRU device {device} holds {size} bytes, too few for a FRU header"
        ))));
    }
    let header = read_range(ctx, device, words, 0, 8).await?;
    // Each area's first two bytes give its length (in 8-byte units): read just those to
    // learn how far the content goes.
    let mut end = 8;
    for &area in &header[2..=4] {
        let offset = usize::from(area) * 8;
        if offset == 0 || offset + 2 > size {
            continue;
        }
        let head = read_range(ctx, device, words, offset, 2).await?;
        end = end.max((offset + usize::from(head[1]) * 8).min(size));
    }
    let mut image = header;
    image.extend(read_range(ctx, device, words, 8, end - 8).await?);
    fru::decode(&image).map_err(Fail::Answer)
}

async fn read_range(
    ctx: &mut Ctx<'_>,
    device: u8,
    words: bool,
    start: usize,
    len: usize,
) -> Result<Vec<u8>, Fail> {
    let unit = if words { 2 } else { 1 };
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let at = (start + out.len()) / unit;
        let count = (len - out.len()).min(CHUNK) / unit;
        let at = u16::try_from(at).map_err(|_| {
            Fail::Answer(BmcError::Protocol(format!(
                "FRU offset {at} is past the 64 KiB a FRU device can address"
            )))
        })?;
        let [lo, hi] = at.to_le_bytes();
        let count = u8::try_from(count.max(1)).unwrap_or(u8::MAX);
        let d = ctx.req(STORAGE, 0x11, &[device, lo, hi, count]).await?;
        short("read fru data", 1, &d)?;
        let got = usize::from(d[0]) * unit;
        let data = d.get(1..1 + got).unwrap_or(&d[1..]);
        if data.is_empty() {
            return Err(Fail::Answer(BmcError::Protocol(format!(
                "read fru data at offset {} returned no bytes",
                start + out.len()
            ))));
        }
        out.extend_from_slice(data);
    }
    out.truncate(len);
    Ok(out)
}

//! The System Event Log: Get SEL Info, listing (Get SEL Entry from the first record to the
//! last), deleting records one by one under a reservation, and clearing with its polling.
//!
//! The requests are ipmi-rs's typed ones except Delete SEL Entry, which ipmi-rs 0.6 lacks.
//! Its parsers are used for Reserve SEL and the Clear SEL status; the SEL info and entries
//! are decoded here, because ipmi-rs's parsers drop what we output (see each decoder).

use std::num::NonZeroU16;
use std::time::Duration;

use ipmi_rs::connection::CompletionErrorCode::{
    RequestedDatapointNotPresent as NotPresent, ReservationCancelledOrInvalidId as Cancelled,
};
use ipmi_rs::storage::sel::{
    ClearSel, ErasureProgress, GetSelEntry, GetSelInfo, RecordId, ReserveSel,
};

use super::{Ctx, MAX_RESERVATION_RETRIES, STORAGE, cc_of, parse, short};
use crate::bmc::decode::{le16, le32, sensor_type_name, threshold_event};
use crate::bmc::session::Fail;
use crate::bmc::{BmcError, SelDeletion, SelInfo, SelRecord};

pub(super) fn info(ctx: &mut Ctx<'_>) -> Result<SelInfo, Fail> {
    sel_info(&ctx.send(GetSelInfo)?)
}

/// Decodes a Get SEL Info answer (spec table 31-2). Not ipmi-rs's `SelInfo`: it refuses
/// answers longer than 14 bytes, and its timestamps keep their value private.
fn sel_info(d: &[u8]) -> Result<SelInfo, Fail> {
    short("get sel info", 14, d)?;
    let time = |v: u32| (v != 0 && v != 0xFFFF_FFFF).then_some(v);
    Ok(SelInfo {
        version: format!("{}.{}", d[0] & 0x0F, d[0] >> 4),
        entries: le16(d, 1),
        free_bytes: le16(d, 3),
        last_add: time(le32(d, 5)),
        last_erase: time(le32(d, 9)),
        overflow: d[13] & 0x80 != 0,
    })
}

pub(super) fn list(ctx: &mut Ctx<'_>) -> Result<Vec<SelRecord>, Fail> {
    let mut out = Vec::new();
    let mut id: u16 = 0x0000;
    loop {
        // No reservation: allowed for reads that start at offset 0 (spec 31.5).
        let d = match ctx.send(GetSelEntry::new(None, record_id(id))) {
            Ok(d) => d,
            // An empty SEL answers "not present" for the first record.
            Err(f) if id == 0 && cc_of(&f) == Some(NotPresent) => return Ok(out),
            Err(f) => return Err(f),
        };
        let (next, record) = sel_entry(&d)?;
        out.push(record);
        if next == 0xFFFF || next == id || out.len() > 0xFFFF {
            return Ok(out);
        }
        id = next;
    }
}

/// ipmi-rs refuses to make a record id of 0x0000 or 0xFFFF except as its FIRST and LAST.
fn record_id(id: u16) -> RecordId {
    RecordId::new(id).unwrap_or(if id == 0xFFFF {
        RecordId::LAST
    } else {
        RecordId::FIRST
    })
}

/// Decodes a Get SEL Entry answer: the next record id and the record. Not ipmi-rs's
/// `Entry::parse`: it drops the raw bytes we output, refuses record types other than 0x02
/// and OEM (0xC0..), keeps timestamps private and splits the generator id we output whole.
fn sel_entry(d: &[u8]) -> Result<(u16, SelRecord), Fail> {
    short("get sel entry", 18, d)?;
    let mut raw = [0u8; 16];
    raw.copy_from_slice(&d[2..18]);
    Ok((le16(d, 0), decode_sel(raw)))
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

/// `None` stands for reservation 0, which ipmi-rs's parser refuses (the spec never hands
/// it out) and its requests send for "no reservation": the same bytes go back to the BMC.
fn reserve(ctx: &mut Ctx<'_>) -> Result<Option<NonZeroU16>, Fail> {
    Ok(parse::<ReserveSel>("reserve sel", 2, &ctx.send(ReserveSel)?).ok())
}

/// Deletes `ids` in order. A record the BMC refuses (a completion code) fails alone; a
/// link that breaks part-way ends the loop but not the answer: the records before it keep
/// their outcomes, the one in flight is `Unknown`, the rest `NotAttempted`, and the session
/// is marked broken. Only a failure before the first request fails the whole call.
pub(super) fn delete(ctx: &mut Ctx<'_>, ids: &[u16]) -> Result<Vec<SelDeletion>, Fail> {
    let mut out = Vec::with_capacity(ids.len());
    let mut reservation = reserve(ctx)?;
    for (i, id) in ids.iter().enumerate() {
        let mut attempts = 0;
        let outcome = loop {
            // Delete SEL Entry (spec 31.8): reservation, record id, both LS byte first.
            let [r_lo, r_hi] = reservation.map_or(0, NonZeroU16::get).to_le_bytes();
            let [lo, hi] = id.to_le_bytes();
            let fail = match ctx.req(STORAGE, 0x46, &[r_lo, r_hi, lo, hi]) {
                Ok(_) => break SelDeletion::Deleted,
                Err(f) => f,
            };
            match (cc_of(&fail), fail) {
                (Some(NotPresent), _) => break SelDeletion::NotFound,
                // The BMC refused before deleting anything, so asking again is safe.
                (Some(Cancelled), _) if attempts < MAX_RESERVATION_RETRIES => {
                    attempts += 1;
                    match reserve(ctx) {
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

pub(super) fn clear(ctx: &mut Ctx<'_>) -> Result<(), Fail> {
    let mut attempts = 0;
    let reservation = loop {
        let r = reserve(ctx)?;
        match ctx.send(ClearSel::initiate(r)) {
            Ok(_) => break r,
            Err(f) if cc_of(&f) == Some(Cancelled) && attempts < MAX_RESERVATION_RETRIES => {
                attempts += 1;
            }
            Err(f) => return Err(f),
        }
    };
    // Erasure may run in the background; poll its status.
    loop {
        match ctx.send(ClearSel::get_status(reservation)) {
            Ok(d) => {
                if parse::<ClearSel>("clear sel", 1, &d)? == ErasureProgress::Completed {
                    return Ok(());
                }
            }
            // Some BMCs cancel the reservation once the clear is done: it finished.
            Err(f) if cc_of(&f) == Some(Cancelled) => return Ok(()),
            Err(f) => return Err(f),
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

//! The System Event Log: `sel-info`, `sel-list`, `sel-delete` (1: one record; 2: several,
//! with an outcome each), `sel-clear`. The SEL reservation is ours to handle, in `bmc`.

use schema::ErrorCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use std::sync::Arc;

use super::bulk::bulk;
use super::power::{MachineParam, MachinesParam};
use crate::access::Access;
use crate::bmc::{SelDeletion, SelRecord};
use crate::db::models::Machine;
use crate::error::{ApiError, bmc_error};
use crate::registry::{CommandSpec, OnMachine, Out, Verb, on_machine};
use crate::state::{Ctx, rfc3339};

#[derive(Serialize, JsonSchema)]
pub struct SelInfoOut {
    /// Machine name.
    pub machine: String,
    /// SEL version, e.g. 1.5.
    pub version: String,
    /// Number of records.
    pub entries: u16,
    pub free_bytes: u16,
    /// Last addition (RFC 3339), when the BMC tells.
    pub last_add: Option<String>,
    /// Last erase (RFC 3339), when the BMC tells.
    pub last_erase: Option<String>,
    /// Records were dropped because the SEL was full.
    pub overflow: bool,
}

#[derive(Serialize, JsonSchema)]
pub struct SelRecordOut {
    /// Record id (what sel-delete takes).
    pub id: u16,
    pub record_type: u8,
    /// RFC 3339; absent when the BMC's clock was not set (pre-init) or unspecified.
    pub timestamp: Option<String>,
    pub generator_id: u16,
    /// e.g. temperature, processor, or 0xNN for types without a name.
    pub sensor_type: String,
    pub sensor_type_code: u8,
    pub sensor_number: u8,
    pub event_type: u8,
    /// `asserted` or `deasserted`.
    pub direction: String,
    /// e.g. "upper critical going high".
    pub event: String,
    /// Event data bytes 1-3, hex.
    pub event_data: String,
    /// The whole 16-byte record, hex.
    pub raw: String,
}

fn record(r: SelRecord) -> SelRecordOut {
    SelRecordOut {
        id: r.id,
        record_type: r.record_type,
        timestamp: r.timestamp.map(|t| rfc3339(i64::from(t))),
        generator_id: r.generator_id,
        sensor_type: r.sensor_type,
        sensor_type_code: r.sensor_type_code,
        sensor_number: r.sensor_number,
        event_type: r.event_type,
        direction: if r.asserted { "asserted" } else { "deasserted" }.to_owned(),
        event: r.event,
        event_data: hex::encode(r.event_data),
        raw: hex::encode(r.raw),
    }
}

/// A SEL record as `sel-list/2` shows it: what ipmitool's `sel elist` shows first (time,
/// sensor, event, direction, reading), then the codes and bytes behind it.
#[derive(Serialize, JsonSchema)]
#[schemars(extend("x-igor-columns" = ["id", "time", "sensor", "event", "direction", "reading"]))]
pub struct SelEventOut {
    /// Record id.
    pub id: u16,
    /// As ipmitool shows it: `06/15/24 12:00:03 UTC`, `Pre-Init 0000003026` (seconds since
    /// the BMC started), `Unspecified`; null for OEM records without a timestamp.
    pub time: Option<String>,
    /// The sensor's name from the BMC's SDR repository; null when none matches.
    pub sensor: Option<String>,
    /// The event in the IPMI tables' words: `Upper Critical going high`, `Absent`.
    pub event: String,
    /// `asserted` or `deasserted`.
    pub direction: String,
    /// For threshold events carrying them: `Reading 92 > Threshold 90 degrees C`.
    pub reading: Option<String>,
    /// The reading, converted with the sensor's SDR factors.
    pub reading_value: Option<f64>,
    /// The threshold crossed, converted the same way.
    pub threshold_value: Option<f64>,
    /// RFC 3339, for records with a real date.
    pub timestamp: Option<String>,
    pub record_type: u8,
    pub generator_id: u16,
    /// e.g. temperature, fan, or oem.
    pub sensor_type: String,
    pub sensor_type_code: u8,
    pub sensor_number: u8,
    pub event_type: u8,
    /// Event data 1-3, hex.
    pub event_data: String,
    /// The 16 record bytes, hex.
    pub raw: String,
}

fn event(r: SelRecord) -> SelEventOut {
    SelEventOut {
        id: r.id,
        time: r.timestamp_text,
        sensor: r.sensor_name,
        event: r.event_text,
        direction: if r.asserted { "asserted" } else { "deasserted" }.to_owned(),
        reading: r.reading_text,
        reading_value: r.reading,
        threshold_value: r.threshold,
        timestamp: r.timestamp.map(|t| rfc3339(i64::from(t))),
        record_type: r.record_type,
        generator_id: r.generator_id,
        sensor_type: r.sensor_type,
        sensor_type_code: r.sensor_type_code,
        sensor_number: r.sensor_number,
        event_type: r.event_type,
        event_data: hex::encode(r.event_data),
        raw: hex::encode(r.raw),
    }
}

async fn events_of(ctx: &Ctx, m: Machine) -> Result<Vec<SelEventOut>, ApiError> {
    Ok(records(ctx, &m).await?.into_iter().map(event).collect())
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SelDelete1 {
    /// Machine name.
    #[schemars(extend("x-igor-positional" = 0))]
    pub machine: String,
    /// Record id (from sel-list).
    #[schemars(extend("x-igor-positional" = 1))]
    #[schemars(range(max = 65533))]
    pub id: u16,
}

impl OnMachine for SelDelete1 {
    const FIELD: &'static str = "machine";
    fn machine(&self) -> &str {
        &self.machine
    }
}

#[derive(Serialize, JsonSchema)]
pub struct SelDeleteOut {
    /// Machine name.
    pub machine: String,
    pub id: u16,
    pub deleted: bool,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SelDelete2 {
    /// Machine name.
    #[schemars(extend("x-igor-positional" = 0))]
    pub machine: String,
    /// Record ids (from sel-list).
    #[schemars(extend("x-igor-positional" = 1))]
    #[schemars(length(min = 1, max = 256), inner(range(max = 65533)))]
    pub ids: Vec<u16>,
}

impl OnMachine for SelDelete2 {
    const FIELD: &'static str = "machine";
    fn machine(&self) -> &str {
        &self.machine
    }
}

#[derive(Serialize, JsonSchema)]
pub struct SelDeleteItem {
    pub id: u16,
    /// `deleted`, `not_found`, or the error code of what went wrong with this record.
    pub outcome: String,
    /// What went wrong, when something did.
    pub message: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct SelClearOut {
    /// Machine name.
    pub machine: String,
    pub cleared: bool,
}

pub fn specs() -> Vec<CommandSpec> {
    vec![
        on_machine(
            "sel-info",
            1,
            "1.0",
            "sel",
            Access::Viewer,
            "Show the System Event Log's size and state",
            info,
        )
        .rest(Verb::Get, "/api/machines/{machine}/sel/info")
        .audited(),
        on_machine(
            "sel-list",
            1,
            "1.0",
            "sel",
            Access::Viewer,
            "List the System Event Log's records, decoded, with their raw bytes",
            list,
        )
        .rest(Verb::Get, "/api/machines/{machine}/sel")
        .audited(),
        on_machine(
            "sel-delete",
            1,
            "1.0",
            "sel",
            Access::Operator,
            "Delete one System Event Log record",
            delete_1,
        )
        .rest(Verb::Delete, "/api/machines/{machine}/sel/{id}")
        .audited(),
        on_machine(
            "sel-delete",
            2,
            "1.2",
            "sel",
            Access::Operator,
            "Delete several System Event Log records, with an outcome per record\n\
             Records are deleted in the order given; a missing record is reported as \
             not_found and does not stop the others.",
            delete_2,
        )
        .rest(Verb::Delete, "/api/machines/{machine}/sel/{id}")
        .audited(),
        on_machine(
            "sel-clear",
            1,
            "1.0",
            "sel",
            Access::Operator,
            "Erase every System Event Log record",
            clear,
        )
        .rest(Verb::Delete, "/api/machines/{machine}/sel")
        .audited(),
        bulk(
            "sel-info",
            2,
            "1.3",
            "sel",
            Access::Viewer,
            "Show the System Event Log's size and state on a set of machines",
            |ctx: Ctx, m: Machine, _: Arc<MachinesParam>| async move { info_of(&ctx, m).await },
        )
        .rest(Verb::Get, "/api/machines/{machine}/sel/info"),
        bulk(
            "sel-clear",
            2,
            "1.5",
            "sel",
            Access::Operator,
            "Clear the System Event Log on a set of machines",
            |ctx: Ctx, m: Machine, _: Arc<MachinesParam>| async move { clear_on(&ctx, m).await },
        )
        .rest(Verb::Delete, "/api/machines/{machine}/sel"),
        bulk(
            "sel-list",
            2,
            "1.5",
            "sel",
            Access::Viewer,
            "List the System Event Log of a set of machines, as readable as ipmitool sel elist\n\
             Each record names its sensor (from the BMC's SDR repository) and its event in \
             the IPMI tables' words, with the reading and threshold where the event carries \
             them; the codes and raw bytes follow.",
            |ctx: Ctx, m: Machine, _: Arc<MachinesParam>| async move { events_of(&ctx, m).await },
        )
        .rest(Verb::Get, "/api/machines/{machine}/sel"),
    ]
}

async fn info(ctx: Ctx, m: Machine, _: MachineParam) -> Result<Out<SelInfoOut>, ApiError> {
    let out = info_of(&ctx, m).await?;
    let summary = format!(
        "{} record(s) in the SEL of machine '{}'",
        out.entries, out.machine
    );
    Ok(Out::new(out, summary))
}

async fn info_of(ctx: &Ctx, m: Machine) -> Result<SelInfoOut, ApiError> {
    let t = ctx.target(&m)?;
    let i = ctx
        .state
        .bmc
        .sel_info(m.id, &t)
        .await
        .map_err(|e| bmc_error(&m.name, e))?;
    Ok(SelInfoOut {
        machine: m.name,
        version: i.version,
        entries: i.entries,
        free_bytes: i.free_bytes,
        last_add: i.last_add.map(|t| rfc3339(i64::from(t))),
        last_erase: i.last_erase.map(|t| rfc3339(i64::from(t))),
        overflow: i.overflow,
    })
}

/// Every record in `m`'s SEL, decoded.
async fn records(ctx: &Ctx, m: &Machine) -> Result<Vec<SelRecord>, ApiError> {
    let t = ctx.target(m)?;
    ctx.state
        .bmc
        .sel_list(m.id, &t)
        .await
        .map_err(|e| bmc_error(&m.name, e))
}

async fn list(ctx: Ctx, m: Machine, _: MachineParam) -> Result<Out<Vec<SelRecordOut>>, ApiError> {
    let out: Vec<SelRecordOut> = records(&ctx, &m).await?.into_iter().map(record).collect();
    let summary = format!("{} record(s) in the SEL of machine '{}'", out.len(), m.name);
    Ok(Out::new(out, summary))
}

async fn delete_1(ctx: Ctx, m: Machine, p: SelDelete1) -> Result<Out<SelDeleteOut>, ApiError> {
    let t = ctx.target(&m)?;
    let mut outcomes = ctx
        .state
        .bmc
        .sel_delete(m.id, &t, vec![p.id])
        .await
        .map_err(|e| bmc_error(&m.name, e))?;
    match outcomes.pop() {
        Some(SelDeletion::Deleted) => {}
        Some(SelDeletion::NotFound) => {
            return Err(ApiError::NotFound(format!(
                "SEL record {} not found on machine '{}'",
                p.id, m.name
            )));
        }
        Some(SelDeletion::Failed(e) | SelDeletion::NotAttempted(e)) => {
            return Err(bmc_error(&m.name, e));
        }
        Some(SelDeletion::Unknown(e)) => {
            let note = format!("it is unknown whether SEL record {} was deleted", p.id);
            return Err(noting(bmc_error(&m.name, e), &note));
        }
        None => return Err(ApiError::internal("sel_delete returned no outcome")),
    }
    let summary = format!("deleted SEL record {} of machine '{}'", p.id, m.name);
    Ok(Out::new(
        SelDeleteOut {
            machine: m.name,
            id: p.id,
            deleted: true,
        },
        summary,
    ))
}

async fn delete_2(
    ctx: Ctx,
    m: Machine,
    p: SelDelete2,
) -> Result<Out<Vec<SelDeleteItem>>, ApiError> {
    let t = ctx.target(&m)?;
    let outcomes = ctx
        .state
        .bmc
        .sel_delete(m.id, &t, p.ids.clone())
        .await
        .map_err(|e| bmc_error(&m.name, e))?;
    let items: Vec<SelDeleteItem> = p
        .ids
        .iter()
        .zip(outcomes)
        .map(|(&id, o)| {
            let (e, why) = match o {
                SelDeletion::Deleted => {
                    return SelDeleteItem {
                        id,
                        outcome: "deleted".into(),
                        message: None,
                    };
                }
                SelDeletion::NotFound => {
                    return SelDeleteItem {
                        id,
                        outcome: ErrorCode::NotFound.as_str().into(),
                        message: Some(format!("SEL record {id} not found")),
                    };
                }
                SelDeletion::Failed(e) => (e, None),
                SelDeletion::Unknown(e) => (e, Some("it is unknown whether it was deleted")),
                SelDeletion::NotAttempted(e) => (e, Some("not attempted")),
            };
            let mut api = bmc_error(&m.name, e);
            if let Some(why) = why {
                api = noting(api, why);
            }
            SelDeleteItem {
                id,
                outcome: api.code().as_str().to_owned(),
                message: Some(api.to_string()),
            }
        })
        .collect();
    let deleted = items.iter().filter(|i| i.outcome == "deleted").count();
    let summary = format!(
        "deleted {deleted} of {} SEL record(s) of machine '{}'",
        items.len(),
        m.name
    );
    Ok(Out::new(items, summary))
}

/// `api` with `note` appended to its message (BMC errors only; others are returned as is).
fn noting(api: ApiError, note: &str) -> ApiError {
    match api {
        ApiError::BmcTimeout(m) => ApiError::BmcTimeout(format!("{m}; {note}")),
        ApiError::Bmc {
            code,
            message,
            details,
        } => ApiError::Bmc {
            code,
            message: format!("{message}; {note}"),
            details,
        },
        other => other,
    }
}

async fn clear(ctx: Ctx, m: Machine, _: MachineParam) -> Result<Out<SelClearOut>, ApiError> {
    let out = clear_on(&ctx, m).await?;
    let summary = format!("cleared the SEL of machine '{}'", out.machine);
    Ok(Out::new(out, summary))
}

async fn clear_on(ctx: &Ctx, m: Machine) -> Result<SelClearOut, ApiError> {
    let t = ctx.target(&m)?;
    ctx.state
        .bmc
        .sel_clear(m.id, &t)
        .await
        .map_err(|e| bmc_error(&m.name, e))?;
    Ok(SelClearOut {
        machine: m.name,
        cleared: true,
    })
}

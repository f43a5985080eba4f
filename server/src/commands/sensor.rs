//! Sensors: `sensor-list`, read from the BMC's SDR repository.

use schemars::JsonSchema;
use serde::Serialize;

use std::sync::Arc;

use super::bulk::bulk;
use super::power::{MachineParam, MachinesParam};
use crate::access::Access;
use crate::bmc::SensorReading;
use crate::db::models::Machine;
use crate::error::{ApiError, bmc_error};
use crate::registry::{CommandSpec, Out, Verb, on_machine};
use crate::state::Ctx;

#[derive(Serialize, JsonSchema)]
pub struct SensorOut {
    /// Sensor name from its SDR.
    pub name: String,
    pub sensor_number: u8,
    /// e.g. temperature, fan, memory.
    pub sensor_type: String,
    /// Converted reading, for threshold sensors.
    pub value: Option<f64>,
    /// e.g. degrees C, RPM.
    pub unit: Option<String>,
    /// ok, lower/upper non-critical/critical/non-recoverable, na, or the state bits of a
    /// discrete sensor (bit 0 = offset 0) as 0xNNNN.
    pub status: String,
}

/// A sensor as `sensor-list/2` shows it: version 1's reading, plus its thresholds and, for
/// discrete sensors, its asserted states by name.
#[derive(Serialize, JsonSchema)]
#[schemars(extend("x-igor-columns" = ["name", "value", "unit", "status", "lnr", "lc", "lnc", "unc", "uc", "unr", "states"]))]
pub struct Sensor2Out {
    /// Sensor name from its SDR.
    pub name: String,
    pub sensor_number: u8,
    /// e.g. temperature, fan, memory.
    pub sensor_type: String,
    /// Converted reading, for threshold sensors.
    pub value: Option<f64>,
    /// e.g. degrees C, RPM.
    pub unit: Option<String>,
    /// ok, lower/upper non-critical/critical/non-recoverable, na, or for discrete sensors
    /// the state bits (bit 0 = offset 0) as 0xNNNN.
    pub status: String,
    /// Discrete sensors: the asserted states in the IPMI tables' words (`Present`).
    pub states: Vec<String>,
    /// Lower non-recoverable threshold, where the BMC reports it.
    pub lnr: Option<f64>,
    /// Lower critical.
    pub lc: Option<f64>,
    /// Lower non-critical.
    pub lnc: Option<f64>,
    /// Upper non-critical.
    pub unc: Option<f64>,
    /// Upper critical.
    pub uc: Option<f64>,
    /// Upper non-recoverable.
    pub unr: Option<f64>,
}

async fn sensors_of(ctx: &Ctx, m: Machine) -> Result<Vec<Sensor2Out>, ApiError> {
    Ok(readings(ctx, &m)
        .await?
        .into_iter()
        .map(|r| Sensor2Out {
            name: r.name,
            sensor_number: r.sensor_number,
            sensor_type: r.sensor_type,
            value: r.value,
            unit: r.unit,
            status: r.status,
            states: r.states,
            lnr: r.thresholds.lnr,
            lc: r.thresholds.lc,
            lnc: r.thresholds.lnc,
            unc: r.thresholds.unc,
            uc: r.thresholds.uc,
            unr: r.thresholds.unr,
        })
        .collect())
}

pub fn specs() -> Vec<CommandSpec> {
    vec![
        on_machine(
            "sensor-list",
            1,
            "1.0",
            "sensor",
            Access::Viewer,
            "List sensors with their readings and threshold status",
            list,
        )
        .rest(Verb::Get, "/api/machines/{machine}/sensors")
        .audited(),
        bulk(
            "sensor-list",
            2,
            "1.5",
            "sensor",
            Access::Viewer,
            "List the sensors of a set of machines, with thresholds and named states",
            |ctx: Ctx, m: Machine, _: Arc<MachinesParam>| async move { sensors_of(&ctx, m).await },
        )
        .rest(Verb::Get, "/api/machines/{machine}/sensors"),
    ]
}

/// Every sensor reading of `m`'s BMC.
async fn readings(ctx: &Ctx, m: &Machine) -> Result<Vec<SensorReading>, ApiError> {
    let t = ctx.target(m)?;
    ctx.state
        .bmc
        .sensors(m.id, &t)
        .await
        .map_err(|e| bmc_error(&m.name, e))
}

async fn list(ctx: Ctx, m: Machine, _: MachineParam) -> Result<Out<Vec<SensorOut>>, ApiError> {
    let out: Vec<SensorOut> = readings(&ctx, &m)
        .await?
        .into_iter()
        .map(|r| SensorOut {
            name: r.name,
            sensor_number: r.sensor_number,
            sensor_type: r.sensor_type,
            value: r.value,
            unit: r.unit,
            status: r.status,
        })
        .collect();
    let alarms = out
        .iter()
        .filter(|s| s.status != "ok" && s.status != "na" && !s.status.starts_with("0x"))
        .count();
    let summary = format!(
        "{} sensor(s) on machine '{}', {alarms} out of range",
        out.len(),
        m.name
    );
    Ok(Out::new(out, summary))
}

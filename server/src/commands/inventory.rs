//! Inventory: `fru-show` (1.6), the FRU data a BMC keeps about its machine, decoded as
//! `ipmitool fru print` shows it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use std::sync::Arc;

use super::bulk::{MachineSet, bulk};
use crate::access::Access;
use crate::bmc::fru::Fru;
use crate::db::models::Machine;
use crate::error::{ApiError, bmc_error};
use crate::registry::{CommandSpec, Verb};
use crate::state::Ctx;

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FruParams {
    /// Machines: names, hostranges such as node[01-40], or globs such as rack4-*.
    #[schemars(extend("x-igor-positional" = 0))]
    #[schemars(length(min = 1, max = 10000))]
    pub machines: Vec<String>,
    /// FRU device id; 0 is the BMC's built-in FRU device, the one describing the machine.
    #[serde(default)]
    #[schemars(range(max = 254))]
    pub device: u8,
}

impl MachineSet for FruParams {
    fn machines(&self) -> &[String] {
        &self.machines
    }
}

/// One machine's FRU inventory. Fields of an area the FRU device lacks are null.
#[derive(Serialize, JsonSchema)]
#[schemars(extend("x-igor-columns" = ["machine", "product_manufacturer", "product_name", "product_serial", "board_serial"]))]
pub struct FruOut {
    /// Machine name.
    pub machine: String,
    /// FRU device id.
    pub device: u8,
    /// Chassis type, e.g. Rack Mount Chassis (the SMBIOS table).
    pub chassis_type: Option<String>,
    pub chassis_part_number: Option<String>,
    pub chassis_serial: Option<String>,
    /// Board manufacturing time (RFC 3339, UTC); null if the area leaves it unspecified.
    pub board_mfg_date: Option<String>,
    pub board_manufacturer: Option<String>,
    pub board_product: Option<String>,
    pub board_serial: Option<String>,
    pub board_part_number: Option<String>,
    pub product_manufacturer: Option<String>,
    pub product_name: Option<String>,
    pub product_part_number: Option<String>,
    pub product_version: Option<String>,
    pub product_serial: Option<String>,
    pub product_asset_tag: Option<String>,
    /// Custom fields after the defined ones, as `area: text` (ipmitool's "Extra" lines).
    pub extra: Vec<String>,
}

impl FruOut {
    fn new(machine: String, device: u8, f: Fru) -> Self {
        let mut extra = Vec::new();
        let (c, b, p) = (f.chassis, f.board, f.product);
        if let Some(c) = &c {
            extra.extend(c.extra.iter().map(|e| format!("chassis: {e}")));
        }
        if let Some(b) = &b {
            extra.extend(b.extra.iter().map(|e| format!("board: {e}")));
        }
        if let Some(p) = &p {
            extra.extend(p.extra.iter().map(|e| format!("product: {e}")));
        }
        FruOut {
            machine,
            device,
            chassis_type: c.as_ref().map(|c| c.kind.clone()),
            chassis_part_number: c.as_ref().map(|c| c.part_number.clone()),
            chassis_serial: c.map(|c| c.serial),
            board_mfg_date: b
                .as_ref()
                .and_then(|b| b.mfg_date)
                .map(|d| d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            board_manufacturer: b.as_ref().map(|b| b.manufacturer.clone()),
            board_product: b.as_ref().map(|b| b.product.clone()),
            board_serial: b.as_ref().map(|b| b.serial.clone()),
            board_part_number: b.map(|b| b.part_number),
            product_manufacturer: p.as_ref().map(|p| p.manufacturer.clone()),
            product_name: p.as_ref().map(|p| p.name.clone()),
            product_part_number: p.as_ref().map(|p| p.part_number.clone()),
            product_version: p.as_ref().map(|p| p.version.clone()),
            product_serial: p.as_ref().map(|p| p.serial.clone()),
            product_asset_tag: p.map(|p| p.asset_tag),
            extra,
        }
    }
}

async fn fru_of(ctx: &Ctx, m: Machine, device: u8) -> Result<FruOut, ApiError> {
    let t = ctx.target(&m)?;
    let f = ctx
        .state
        .bmc
        .fru(m.id, &t, device)
        .await
        .map_err(|e| bmc_error(&m.name, e))?;
    Ok(FruOut::new(m.name, device, f))
}

pub fn specs() -> Vec<CommandSpec> {
    vec![bulk(
        "fru-show",
        1,
        "1.6",
        "inventory",
        Access::Viewer,
        "Show the FRU inventory of a set of machines\n\
         Chassis, board and product areas of the FRU device (manufacturer, product, serial and \
         part numbers), decoded as ipmitool fru print shows them.",
        |ctx: Ctx, m: Machine, p: Arc<FruParams>| async move { fru_of(&ctx, m, p.device).await },
    )
    .rest(Verb::Get, "/api/machines/{machine}/fru")]
}

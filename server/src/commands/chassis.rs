//! Chassis and BMC: `chassis-status`, `bmc-info` (1.0), `chassis-identify`, `bootdev-set` (1.2).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use std::sync::Arc;

use super::bulk::{MachineSet, bulk};
use super::power::{MachineParam, MachinesParam};
use crate::access::Access;
use crate::bmc::{BootDevice, Identify};
use crate::db::models::Machine;
use crate::error::{ApiError, bmc_error};
use crate::registry::{CommandSpec, OnMachine, Out, Verb, on_machine};
use crate::state::Ctx;

#[derive(Serialize, JsonSchema)]
pub struct ChassisStatusOut {
    /// Machine name.
    pub machine: String,
    /// `on` or `off`.
    pub power: String,
    pub power_overload: bool,
    pub power_interlock: bool,
    pub power_fault: bool,
    pub power_control_fault: bool,
    /// What the machine does when AC power returns: always-off, previous, always-on, unknown.
    pub power_restore_policy: String,
    /// Causes of the last power event (ac-failed, overload, interlock, fault, command).
    pub last_power_event: Vec<String>,
    pub intrusion: bool,
    pub front_panel_lockout: bool,
    pub drive_fault: bool,
    pub cooling_fault: bool,
    /// Identify light: off, timed or on, when the BMC reports it.
    pub identify: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub struct BmcInfoOut {
    /// Machine name.
    pub machine: String,
    pub device_id: u8,
    pub device_revision: u8,
    pub firmware_version: String,
    pub ipmi_version: String,
    /// IANA enterprise number of the manufacturer.
    pub manufacturer_id: u32,
    pub product_id: u16,
    /// False while the BMC is updating its firmware or otherwise not ready.
    pub device_available: bool,
}

#[derive(Clone, Copy, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum IdentifyAction {
    /// Blink for `seconds` (default 15).
    Blink,
    /// On until turned off.
    On,
    /// Off now.
    Off,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentifyParams {
    /// Machine name.
    #[schemars(extend("x-igor-positional" = 0))]
    pub machine: String,
    /// What the identify light should do.
    #[serde(default = "default_identify")]
    #[schemars(extend("x-igor-positional" = 1))]
    pub action: IdentifyAction,
    /// For `blink`: how long, in seconds.
    #[schemars(range(min = 1, max = 255))]
    pub seconds: Option<u8>,
}

impl OnMachine for IdentifyParams {
    const FIELD: &'static str = "machine";
    fn machine(&self) -> &str {
        &self.machine
    }
}

fn default_identify() -> IdentifyAction {
    IdentifyAction::Blink
}

#[derive(Serialize, JsonSchema)]
pub struct IdentifyOut {
    /// Machine name.
    pub machine: String,
    /// `blink`, `on` or `off`.
    pub action: String,
    /// Blink duration in seconds, for `blink`.
    pub seconds: Option<u8>,
}

#[derive(Clone, Copy, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BootDev {
    /// Network boot (PXE).
    Pxe,
    /// The default hard disk.
    Disk,
    /// CD or DVD.
    Cdrom,
    /// The BIOS/firmware setup.
    Bios,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BootdevParams {
    /// Machine name.
    #[schemars(extend("x-igor-positional" = 0))]
    pub machine: String,
    /// Device to boot from.
    #[schemars(extend("x-igor-positional" = 1))]
    pub device: BootDev,
    /// Keep it for every boot (default: next boot only).
    #[serde(default)]
    pub persistent: bool,
}

impl OnMachine for BootdevParams {
    const FIELD: &'static str = "machine";
    fn machine(&self) -> &str {
        &self.machine
    }
}

#[derive(Serialize, JsonSchema)]
pub struct BootdevOut {
    /// Machine name.
    pub machine: String,
    pub device: BootDev,
    pub persistent: bool,
}

/// `bootdev-set/3`: version 1's arguments (`MACHINE DEVICE`), the machine now a set, and
/// `--efi`.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Bootdev3 {
    /// Machines: a name, a hostrange such as node[01-40] (commas allowed), or a glob such
    /// as rack4-*.
    #[schemars(length(min = 1, max = 4096))]
    #[schemars(extend("x-igor-positional" = 0))]
    pub machine: String,
    /// Device to boot from.
    #[schemars(extend("x-igor-positional" = 1))]
    pub device: BootDev,
    /// Keep it for every boot (default: next boot only).
    #[serde(default)]
    pub persistent: bool,
    /// Boot in EFI mode rather than legacy BIOS mode.
    #[serde(default)]
    pub efi: bool,
}

impl MachineSet for Bootdev3 {
    fn machines(&self) -> &[String] {
        std::slice::from_ref(&self.machine)
    }
}

#[derive(Serialize, JsonSchema)]
pub struct Bootdev3Out {
    /// Machine name.
    pub machine: String,
    pub device: BootDev,
    pub persistent: bool,
    pub efi: bool,
}

/// `bootdev-get/1`: the boot device the BMC will use, as it reports it.
#[derive(Serialize, JsonSchema)]
pub struct BootdevGetOut {
    /// Machine name.
    pub machine: String,
    /// none (no override), pxe, disk, disk-safe, diag, cdrom, bios, remote-floppy,
    /// remote-cdrom, remote-media, remote-disk, floppy, or 0xNN for a value the IPMI table
    /// does not name.
    pub device: String,
    /// For every boot, not only the next one.
    pub persistent: bool,
    /// An EFI boot rather than a legacy one.
    pub efi: bool,
    /// Whether the BMC marks the flags valid. Some BMCs keep only the device (then this,
    /// persistent and efi read false whatever was set).
    pub valid: bool,
}

async fn bootdev_of(ctx: &Ctx, m: Machine) -> Result<BootdevGetOut, ApiError> {
    let t = ctx.target(&m)?;
    let f = ctx
        .state
        .bmc
        .boot_device(m.id, &t)
        .await
        .map_err(|e| bmc_error(&m.name, e))?;
    Ok(BootdevGetOut {
        machine: m.name,
        device: f.device,
        persistent: f.persistent,
        efi: f.efi,
        valid: f.valid,
    })
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentifyBulk {
    /// Machines: names, hostranges such as node[01-40], or globs such as rack4-*.
    #[schemars(extend("x-igor-positional" = 0))]
    #[schemars(length(min = 1, max = 10000))]
    pub machines: Vec<String>,
    /// What the identify lights should do.
    #[serde(default = "default_identify")]
    pub action: IdentifyAction,
    /// For `blink`: how long, in seconds.
    #[schemars(range(min = 1, max = 255))]
    pub seconds: Option<u8>,
}

impl MachineSet for IdentifyBulk {
    fn machines(&self) -> &[String] {
        &self.machines
    }
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BootdevBulk {
    /// Machines: names, hostranges such as node[01-40], or globs such as rack4-*.
    #[schemars(extend("x-igor-positional" = 0))]
    #[schemars(length(min = 1, max = 10000))]
    pub machines: Vec<String>,
    /// Device to boot from.
    pub device: BootDev,
    /// Keep it for every boot (default: next boot only).
    #[serde(default)]
    pub persistent: bool,
}

impl MachineSet for BootdevBulk {
    fn machines(&self) -> &[String] {
        &self.machines
    }
}

pub fn specs() -> Vec<CommandSpec> {
    vec![
        on_machine(
            "chassis-status",
            1,
            "1.0",
            "chassis",
            Access::Viewer,
            "Show the chassis status: power, faults, last power event, identify light",
            status,
        )
        .rest(Verb::Get, "/api/machines/{machine}/chassis")
        .audited(),
        on_machine(
            "bmc-info",
            1,
            "1.0",
            "bmc",
            Access::Viewer,
            "Show the BMC's identity (IPMI Get Device ID)",
            info,
        )
        .rest(Verb::Get, "/api/machines/{machine}/bmc")
        .audited(),
        on_machine(
            "chassis-identify",
            1,
            "1.2",
            "chassis",
            Access::Operator,
            "Blink, light or turn off the chassis identify light",
            identify,
        )
        .rest(Verb::Put, "/api/machines/{machine}/identify")
        .audited(),
        on_machine(
            "bootdev-set",
            1,
            "1.2",
            "chassis",
            Access::Operator,
            "Choose the boot device for the next boot (or every boot with --persistent)",
            bootdev,
        )
        .rest(Verb::Put, "/api/machines/{machine}/bootdev")
        .audited(),
        bulk(
            "chassis-status",
            2,
            "1.3",
            "chassis",
            Access::Viewer,
            "Show the chassis status of a set of machines",
            |ctx: Ctx, m: Machine, _: Arc<MachinesParam>| async move { status_of(&ctx, m).await },
        )
        .rest(Verb::Get, "/api/machines/{machine}/chassis"),
        bulk(
            "chassis-identify",
            2,
            "1.3",
            "chassis",
            Access::Operator,
            "Blink, light or turn off the identify lights of a set of machines",
            |ctx: Ctx, m: Machine, p: Arc<IdentifyBulk>| async move {
                identify_on(&ctx, m, p.action, p.seconds).await
            },
        )
        .rest(Verb::Put, "/api/machines/{machine}/identify"),
        bulk(
            "bootdev-set",
            2,
            "1.3",
            "chassis",
            Access::Operator,
            "Choose the boot device of a set of machines for the next boot (or every boot)",
            |ctx: Ctx, m: Machine, p: Arc<BootdevBulk>| async move {
                bootdev_on(&ctx, m, p.device, p.persistent).await
            },
        )
        .rest(Verb::Put, "/api/machines/{machine}/bootdev"),
        bulk(
            "bmc-info",
            2,
            "1.5",
            "bmc",
            Access::Viewer,
            "Show the BMC's identity (IPMI Get Device ID) on a set of machines",
            |ctx: Ctx, m: Machine, _: Arc<MachinesParam>| async move { info_of(&ctx, m).await },
        )
        .rest(Verb::Get, "/api/machines/{machine}/bmc"),
        bulk(
            "bootdev-get",
            1,
            "1.5",
            "chassis",
            Access::Viewer,
            "Show the boot device each machine's BMC will use, and its flags\n\
             The System Boot Options boot flags (parameter 5), as ipmitool chassis \
             bootparam get 5 shows them.",
            |ctx: Ctx, m: Machine, _: Arc<MachinesParam>| async move { bootdev_of(&ctx, m).await },
        )
        .rest(Verb::Get, "/api/machines/{machine}/bootdev"),
        bulk(
            "bootdev-set",
            3,
            "1.5",
            "chassis",
            Access::Operator,
            "Choose the boot device for the next boot (or every boot with --persistent)\n\
             Version 1's arguments (MACHINE DEVICE) with the machine now a name, hostrange \
             or glob, and --efi for an EFI boot.",
            |ctx: Ctx, m: Machine, p: Arc<Bootdev3>| async move { bootdev_3(&ctx, m, &p).await },
        )
        .rest(Verb::Put, "/api/machines/{machine}/bootdev"),
    ]
}

async fn status(ctx: Ctx, m: Machine, _: MachineParam) -> Result<Out<ChassisStatusOut>, ApiError> {
    let out = status_of(&ctx, m).await?;
    let summary = format!("machine '{}': power {}", out.machine, out.power);
    Ok(Out::new(out, summary))
}

async fn status_of(ctx: &Ctx, m: Machine) -> Result<ChassisStatusOut, ApiError> {
    let t = ctx.target(&m)?;
    let s = ctx
        .state
        .bmc
        .chassis_status(m.id, &t)
        .await
        .map_err(|e| bmc_error(&m.name, e))?;
    let power = if s.power_on { "on" } else { "off" };
    Ok(ChassisStatusOut {
        machine: m.name,
        power: power.to_owned(),
        power_overload: s.power_overload,
        power_interlock: s.power_interlock,
        power_fault: s.power_fault,
        power_control_fault: s.power_control_fault,
        power_restore_policy: s.power_restore_policy,
        last_power_event: s.last_power_event,
        intrusion: s.intrusion,
        front_panel_lockout: s.front_panel_lockout,
        drive_fault: s.drive_fault,
        cooling_fault: s.cooling_fault,
        identify: s.identify,
    })
}

async fn info(ctx: Ctx, m: Machine, _: MachineParam) -> Result<Out<BmcInfoOut>, ApiError> {
    let out = info_of(&ctx, m).await?;
    let summary = format!(
        "machine '{}': BMC firmware {}, IPMI {}",
        out.machine, out.firmware_version, out.ipmi_version
    );
    Ok(Out::new(out, summary))
}

async fn info_of(ctx: &Ctx, m: Machine) -> Result<BmcInfoOut, ApiError> {
    let t = ctx.target(&m)?;
    let d = ctx
        .state
        .bmc
        .device_id(m.id, &t)
        .await
        .map_err(|e| bmc_error(&m.name, e))?;
    Ok(BmcInfoOut {
        machine: m.name,
        device_id: d.device_id,
        device_revision: d.device_revision,
        firmware_version: d.firmware_version,
        ipmi_version: d.ipmi_version,
        manufacturer_id: d.manufacturer_id,
        product_id: d.product_id,
        device_available: d.device_available,
    })
}

async fn identify(ctx: Ctx, m: Machine, p: IdentifyParams) -> Result<Out<IdentifyOut>, ApiError> {
    identify_mode(p.action, p.seconds)?;
    let out = identify_on(&ctx, m, p.action, p.seconds).await?;
    let summary = match out.seconds {
        Some(s) => format!(
            "identify light of machine '{}' blinks for {s} s",
            out.machine
        ),
        None => format!("identify light of machine '{}' {}", out.machine, out.action),
    };
    Ok(Out::new(out, summary))
}

type IdentifyMode = (Identify, &'static str, Option<u8>);

fn identify_mode(action: IdentifyAction, seconds: Option<u8>) -> Result<IdentifyMode, ApiError> {
    if seconds.is_some() && !matches!(action, IdentifyAction::Blink) {
        return Err(ApiError::BadRequest(
            "seconds only goes with the blink action".into(),
        ));
    }
    Ok(match action {
        IdentifyAction::Blink => {
            let s = seconds.unwrap_or(15);
            (Identify::Seconds(s), "blink", Some(s))
        }
        IdentifyAction::On => (Identify::ForceOn, "on", None),
        IdentifyAction::Off => (Identify::Off, "off", None),
    })
}

async fn identify_on(
    ctx: &Ctx,
    m: Machine,
    action: IdentifyAction,
    seconds: Option<u8>,
) -> Result<IdentifyOut, ApiError> {
    let (mode, word, seconds) = identify_mode(action, seconds)?;
    let t = ctx.target(&m)?;
    ctx.state
        .bmc
        .identify(m.id, &t, mode)
        .await
        .map_err(|e| bmc_error(&m.name, e))?;
    Ok(IdentifyOut {
        machine: m.name,
        action: word.to_owned(),
        seconds,
    })
}

async fn bootdev(ctx: Ctx, m: Machine, p: BootdevParams) -> Result<Out<BootdevOut>, ApiError> {
    let out = bootdev_on(&ctx, m, p.device, p.persistent).await?;
    let when = if out.persistent {
        "every boot"
    } else {
        "the next boot"
    };
    let device = serde_json::to_value(out.device).unwrap_or_default();
    let summary = format!(
        "machine '{}' boots from {} on {when}",
        out.machine,
        device.as_str().unwrap_or_default()
    );
    Ok(Out::new(out, summary))
}

async fn bootdev_on(
    ctx: &Ctx,
    m: Machine,
    device: BootDev,
    persistent: bool,
) -> Result<BootdevOut, ApiError> {
    set_bootdev(ctx, &m, device, persistent, false).await?;
    Ok(BootdevOut {
        machine: m.name,
        device,
        persistent,
    })
}

/// Sends the boot flags: `device`, for every boot or the next, EFI or legacy.
async fn set_bootdev(
    ctx: &Ctx,
    m: &Machine,
    device: BootDev,
    persistent: bool,
    efi: bool,
) -> Result<(), ApiError> {
    let t = ctx.target(m)?;
    let dev = match device {
        BootDev::Pxe => BootDevice::Pxe,
        BootDev::Disk => BootDevice::Disk,
        BootDev::Cdrom => BootDevice::Cdrom,
        BootDev::Bios => BootDevice::Bios,
    };
    ctx.state
        .bmc
        .set_boot_device(m.id, &t, dev, persistent, efi)
        .await
        .map_err(|e| bmc_error(&m.name, e))
}

async fn bootdev_3(ctx: &Ctx, m: Machine, p: &Bootdev3) -> Result<Bootdev3Out, ApiError> {
    set_bootdev(ctx, &m, p.device, p.persistent, p.efi).await?;
    Ok(Bootdev3Out {
        machine: m.name,
        device: p.device,
        persistent: p.persistent,
        efi: p.efi,
    })
}

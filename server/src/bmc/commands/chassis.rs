//! The BMC as a device and the chassis it controls: Get Device ID, Get Chassis Status,
//! Chassis Control, Chassis Identify and the boot device (Set System Boot Options).
//!
//! ipmi-rs 0.6 has no chassis commands, so those requests are our own bytes; Get Device ID
//! is its typed one.

use ipmi_rs::app::GetDeviceId;

use super::{CHASSIS, Ctx, parse, short};
use crate::bmc::session::Fail;
use crate::bmc::{
    BmcError, BootDevice, BootFlags, ChassisAction, ChassisStatus, DeviceInfo, Identify, PowerState,
};

pub(super) async fn power(ctx: &mut Ctx<'_>) -> Result<PowerState, Fail> {
    Ok(if status(ctx).await?.power_on {
        PowerState::On
    } else {
        PowerState::Off
    })
}

pub(super) async fn control(ctx: &mut Ctx<'_>, action: ChassisAction) -> Result<(), Fail> {
    ctx.req(CHASSIS, 0x02, &[action as u8]).await?;
    Ok(())
}

pub(super) async fn identify(ctx: &mut Ctx<'_>, mode: Identify) -> Result<(), Fail> {
    let data: &[u8] = match mode {
        Identify::Seconds(s) => &[s],
        Identify::ForceOn => &[0, 1],
        Identify::Off => &[0],
    };
    ctx.req(CHASSIS, 0x04, data).await?;
    Ok(())
}

pub(super) async fn status(ctx: &mut Ctx<'_>) -> Result<ChassisStatus, Fail> {
    chassis_status(&ctx.req(CHASSIS, 0x01, &[]).await?)
}

/// Decodes a Get Chassis Status answer (spec table 28-3).
fn chassis_status(d: &[u8]) -> Result<ChassisStatus, Fail> {
    short("get chassis status", 3, d)?;
    let bit = |byte: u8, n: u8| byte & (1 << n) != 0;
    let policy = match (d[0] >> 5) & 0b11 {
        0 => "always-off",
        1 => "previous",
        2 => "always-on",
        _ => "unknown",
    };
    let last_power_event = [
        (0, "ac-failed"),
        (1, "overload"),
        (2, "interlock"),
        (3, "fault"),
        (4, "command"),
    ]
    .iter()
    .filter(|(n, _)| bit(d[1], *n))
    .map(|(_, s)| s.to_string())
    .collect();
    // Bit 6 says whether the BMC reports identify state at all.
    let identify = bit(d[2], 6).then(|| {
        match (d[2] >> 4) & 0b11 {
            0 => "off",
            1 => "timed",
            2 => "on",
            _ => "unknown",
        }
        .to_string()
    });
    Ok(ChassisStatus {
        power_on: bit(d[0], 0),
        power_overload: bit(d[0], 1),
        power_interlock: bit(d[0], 2),
        power_fault: bit(d[0], 3),
        power_control_fault: bit(d[0], 4),
        power_restore_policy: policy.to_string(),
        last_power_event,
        intrusion: bit(d[2], 0),
        front_panel_lockout: bit(d[2], 1),
        drive_fault: bit(d[2], 2),
        cooling_fault: bit(d[2], 3),
        identify,
    })
}

pub(super) async fn device_id(ctx: &mut Ctx<'_>) -> Result<DeviceInfo, Fail> {
    device_info(&ctx.send(GetDeviceId).await?)
}

/// Decodes a Get Device ID answer with ipmi-rs's parser, except for two fields.
fn device_info(d: &[u8]) -> Result<DeviceInfo, Fail> {
    let id = parse::<GetDeviceId>("get device id", 11, d)?;
    Ok(DeviceInfo {
        device_id: id.device_id,
        device_revision: id.device_revision,
        // The minor revision is BCD, so its hex digits are its decimal digits, as ipmitool
        // prints them. ipmi-rs converts it to a number, which turns a non-BCD byte such as
        // 0x5a into 60; the raw byte keeps ipmitool's "5a".
        firmware_version: format!("{}.{:02x}", id.major_fw_revision, d[3]),
        ipmi_version: format!("{}.{}", id.major_version, id.minor_version),
        // The IANA number is 20 bits; ipmi-rs keeps the reserved top nibble of byte 3.
        manufacturer_id: id.manufacturer_id & 0x000F_FFFF,
        product_id: id.product_id,
        device_available: id.device_available,
    })
}

pub(super) async fn set_boot_device(
    ctx: &mut Ctx<'_>,
    dev: BootDevice,
    persistent: bool,
    efi: bool,
) -> Result<(), Fail> {
    // Boot flags parameter (5): byte 1 bit 7 "valid", bit 6 "persistent", bit 5 "EFI";
    // byte 2 bits 5:2 the device selector. Same bytes as `ipmitool chassis bootdev`.
    let selector = match dev {
        BootDevice::Pxe => 0x04,
        BootDevice::Disk => 0x08,
        BootDevice::Cdrom => 0x14,
        BootDevice::Bios => 0x18,
    };
    let flags = 0x80 | if persistent { 0x40 } else { 0x00 } | if efi { 0x20 } else { 0x00 };
    ctx.req(CHASSIS, 0x08, &[0x05, flags, selector, 0x00, 0x00, 0x00])
        .await?;
    Ok(())
}

/// Get System Boot Options, parameter 5 (the boot flags), decoded as `ipmitool chassis
/// bootparam get 5` reads them.
pub(super) async fn boot_flags(ctx: &mut Ctx<'_>) -> Result<BootFlags, Fail> {
    let d = ctx.req(CHASSIS, 0x09, &[0x05, 0x00, 0x00]).await?;
    decode_boot_flags(&d)
}

/// The answer's data: parameter version, parameter number (bit 7: locked or invalid),
/// then the five flag bytes.
fn decode_boot_flags(d: &[u8]) -> Result<BootFlags, Fail> {
    if d.len() < 4 {
        return Err(Fail::Answer(BmcError::Protocol(format!(
            "boot options: {} bytes, expected at least 4",
            d.len()
        ))));
    }
    let (flags, selector) = (d[2], (d[3] >> 2) & 0x0f);
    let device = match selector {
        0x0 => "none".to_owned(),
        0x1 => "pxe".to_owned(),
        0x2 => "disk".to_owned(),
        0x3 => "disk-safe".to_owned(),
        0x4 => "diag".to_owned(),
        0x5 => "cdrom".to_owned(),
        0x6 => "bios".to_owned(),
        0x7 => "remote-floppy".to_owned(),
        0x8 => "remote-cdrom".to_owned(),
        0x9 => "remote-media".to_owned(),
        0xb => "remote-disk".to_owned(),
        0xf => "floppy".to_owned(),
        other => format!("{other:#04x}"),
    };
    Ok(BootFlags {
        device,
        valid: flags & 0x80 != 0,
        persistent: flags & 0x40 != 0,
        efi: flags & 0x20 != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::{chassis_status, decode_boot_flags, device_info};
    use crate::bmc::{ChassisStatus, DeviceInfo};

    /// Get Device ID answers (data after the completion code) and what they decode to.
    #[test]
    fn device_id_answers() {
        let table: &[(&[u8], Option<DeviceInfo>)] = &[
            // ipmi_sim 1.0.13 (OpenIPMI 2.0.33) with tests/bmc-sim/bmc.emu,
            // `ipmitool -I lanplus -C 3 ... raw 0x06 0x01`; `ipmitool mc info` shows firmware
            // 9.08, IPMI 2.0, manufacturer 4753, product 3842 (0x0f02), available.
            (
                &[
                    0x00, 0x03, 0x09, 0x08, 0x02, 0x9f, 0x91, 0x12, 0x00, 0x02, 0x0f, 0x00, 0x00,
                    0x00, 0x00,
                ],
                Some(DeviceInfo {
                    device_id: 0,
                    device_revision: 3,
                    firmware_version: "9.08".into(),
                    ipmi_version: "2.0".into(),
                    manufacturer_id: 4753,
                    product_id: 0x0f02,
                    device_available: true,
                }),
            ),
            // Built from the layout of spec table 20-2, no capture: device SDRs + revision 1,
            // bit 7 of the firmware major (update in progress), a non-BCD minor (ipmitool
            // prints it as hex: 5.5a), IPMI 1.5, manufacturer 674 with the reserved top nibble
            // of its third byte set, no auxiliary revision.
            (
                &[
                    0x20, 0x81, 0x85, 0x5a, 0x51, 0xbf, 0xa2, 0x02, 0xf0, 0x34, 0x12,
                ],
                Some(DeviceInfo {
                    device_id: 0x20,
                    device_revision: 1,
                    firmware_version: "5.5a".into(),
                    ipmi_version: "1.5".into(),
                    manufacturer_id: 674,
                    product_id: 0x1234,
                    device_available: false,
                }),
            ),
            // One byte short of the mandatory 11.
            (
                &[0x00, 0x03, 0x09, 0x08, 0x02, 0x9f, 0x91, 0x12, 0x00, 0x02],
                None,
            ),
        ];
        for (bytes, expected) in table {
            assert_eq!(&device_info(bytes).ok(), expected, "answer {bytes:02x?}");
        }
    }

    /// Get Chassis Status answers and what they decode to.
    #[test]
    fn chassis_status_answers() {
        let off = ChassisStatus {
            power_on: false,
            power_overload: false,
            power_interlock: false,
            power_fault: false,
            power_control_fault: false,
            power_restore_policy: "always-off".into(),
            last_power_event: vec![],
            intrusion: false,
            front_panel_lockout: false,
            drive_fault: false,
            cooling_fault: false,
            identify: None,
        };
        let table: &[(&[u8], Option<ChassisStatus>)] = &[
            // ipmi_sim 1.0.13 with tests/bmc-sim/bmc.emu, `ipmitool ... raw 0x00 0x01` before
            // and after `ipmitool chassis power on` (ipmi_sim reports no identify state).
            (&[0x00, 0x00, 0x00], Some(off.clone())),
            (
                &[0x01, 0x00, 0x00],
                Some(ChassisStatus {
                    power_on: true,
                    ..off.clone()
                }),
            ),
            // Built from the layout of spec table 28-3, no capture: every fault bit, policy
            // always-on (0b10), every last-power-event cause, identify supported and on.
            (
                &[0x5f, 0x1f, 0x6f],
                Some(ChassisStatus {
                    power_on: true,
                    power_overload: true,
                    power_interlock: true,
                    power_fault: true,
                    power_control_fault: true,
                    power_restore_policy: "always-on".into(),
                    last_power_event: ["ac-failed", "overload", "interlock", "fault", "command"]
                        .map(String::from)
                        .to_vec(),
                    intrusion: true,
                    front_panel_lockout: true,
                    drive_fault: true,
                    cooling_fault: true,
                    identify: Some("on".into()),
                }),
            ),
            // Same table: policy "previous", last event "command", identify supported and
            // timed; the optional fourth byte (front panel buttons) is ignored.
            (
                &[0x20, 0x10, 0x50, 0xff],
                Some(ChassisStatus {
                    power_restore_policy: "previous".into(),
                    last_power_event: vec!["command".into()],
                    identify: Some("timed".into()),
                    ..off.clone()
                }),
            ),
            // Same table: policy 0b11 ("unknown"); identify bits set but bit 6 says the BMC
            // does not report identify state, so there is none.
            (
                &[0x60, 0x00, 0x30],
                Some(ChassisStatus {
                    power_restore_policy: "unknown".into(),
                    ..off.clone()
                }),
            ),
            (&[0x01, 0x00], None),
        ];
        for (bytes, expected) in table {
            assert_eq!(&chassis_status(bytes).ok(), expected, "answer {bytes:02x?}");
        }
    }

    /// Get System Boot Options parameter 5 answers: ipmi_sim after `ipmitool chassis bootdev
    /// pxe` (it keeps only the device selector; ipmitool shows "Force PXE"), and answers
    /// built from the IPMI 2.0 table 28-14 layout.
    #[test]
    fn boot_flag_answers() {
        let table: &[(&[u8], &str, bool, bool, bool)] = &[
            (
                &[0x01, 0x05, 0x00, 0x04, 0x00, 0x00, 0x00],
                "pxe",
                false,
                false,
                false,
            ),
            (
                &[0x01, 0x05, 0xe0, 0x08, 0x00, 0x00, 0x00],
                "disk",
                true,
                true,
                true,
            ),
            (
                &[0x01, 0x05, 0x80, 0x14, 0x00, 0x00, 0x00],
                "cdrom",
                true,
                false,
                false,
            ),
            (
                &[0x01, 0x05, 0xa0, 0x18, 0x00, 0x00, 0x00],
                "bios",
                true,
                false,
                true,
            ),
            (
                &[0x01, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00],
                "none",
                false,
                false,
                false,
            ),
            (
                &[0x01, 0x05, 0x00, 0x28, 0x00, 0x00, 0x00],
                "0x0a",
                false,
                false,
                false,
            ),
            (
                &[0x01, 0x05, 0x00, 0x24, 0x00, 0x00, 0x00],
                "remote-media",
                false,
                false,
                false,
            ),
            (
                &[0x01, 0x05, 0x00, 0x2c, 0x00, 0x00, 0x00],
                "remote-disk",
                false,
                false,
                false,
            ),
        ];
        let mut wrong = vec![];
        for (bytes, device, valid, persistent, efi) in table {
            match decode_boot_flags(bytes) {
                Ok(f)
                    if f.device == *device
                        && (f.valid, f.persistent, f.efi) == (*valid, *persistent, *efi) => {}
                other => wrong.push(format!("{bytes:02x?}: {other:?}")),
            }
        }
        assert!(decode_boot_flags(&[0x01, 0x05]).is_err());
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }
}

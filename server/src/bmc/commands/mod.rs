//! The IPMI commands behind each pool operation, one submodule per area: `chassis` (power,
//! chassis status and control, identify, boot device, device id), `sel` (the event log) and
//! `sdr` (the SDR repository and sensor readings). This module holds what they share: the
//! queued [`Op`], its [`Output`], the [`Ctx`] every request goes out through, and the
//! dispatch.
//!
//! Where ipmi-rs has the typed request it builds the bytes (its `Into<Message>`) and, where
//! its parser keeps what we output, parses the answer; each area says where it does not.
//! Either way every request goes out through [`Ctx`] and [`Session::request`], so the
//! deadline is checked before sending, completion codes are seen as the BMC sent them, and
//! a failed link poisons the session. The functions are async: a request waits for its
//! answer on the BMC runtime without holding a thread.

mod chassis;
mod fru;
mod sdr;
mod sel;

use std::fmt::Debug;
use std::time::{Duration, Instant};

use ipmi_rs::app::GetDeviceId;
use ipmi_rs::connection::{CompletionErrorCode, IpmiCommand, LogicalUnit, Message};

use super::fru::Fru;
use super::session::{Fail, Session};
use super::{
    BmcError, BootDevice, BootFlags, ChassisAction, ChassisStatus, DeviceInfo, Identify,
    PowerState, SelDeletion, SelInfo, SelRecord, SensorReading,
};

const CHASSIS: u8 = 0x00;
const STORAGE: u8 = 0x0A;

/// Another client's reservation cancels ours; give up after this many in a row rather
/// than fight it until the deadline.
const MAX_RESERVATION_RETRIES: usize = 5;

/// One pool operation, as queued to a worker.
#[derive(Debug, Clone)]
pub enum Op {
    PowerStatus,
    ChassisControl(ChassisAction),
    ChassisStatus,
    DeviceId,
    SelInfo,
    SelList,
    SelDelete(Vec<u16>),
    SelClear,
    Sensors,
    Identify(Identify),
    /// Device, persistent, EFI.
    SetBootDevice(BootDevice, bool, bool),
    GetBootDevice,
    /// Read and decode a FRU device.
    Fru(u8),
}

impl Op {
    /// Reads may be repeated on a fresh session; actions must not run twice.
    pub fn is_read(&self) -> bool {
        matches!(
            self,
            Op::PowerStatus
                | Op::ChassisStatus
                | Op::DeviceId
                | Op::SelInfo
                | Op::SelList
                | Op::Sensors
                | Op::GetBootDevice
                | Op::Fru(_)
        )
    }
}

#[derive(Debug)]
pub enum Output {
    Power(PowerState),
    Done,
    Chassis(ChassisStatus),
    Device(DeviceInfo),
    SelInfo(SelInfo),
    SelList(Vec<SelRecord>),
    SelDelete(Vec<SelDeletion>),
    Sensors(Vec<SensorReading>),
    Boot(BootFlags),
    Fru(Box<Fru>),
}

/// A session plus the deadline of the call it serves: no request is sent once the
/// deadline has passed (the session stays usable, since nothing went out).
pub struct Ctx<'a> {
    pub session: &'a mut Session,
    pub deadline: Instant,
    pub timeout_label: Duration,
    /// Set by an operation that answers with partial outcomes although the link failed
    /// under it; the pool then throws the session away as after any link failure.
    pub broken: Option<Fail>,
}

impl Ctx<'_> {
    async fn req(&mut self, netfn: u8, cmd: u8, data: &[u8]) -> Result<Vec<u8>, Fail> {
        self.req_lun(netfn, cmd, data, LogicalUnit::Zero).await
    }

    /// Sends a request ipmi-rs built, through the same path as our own bytes.
    async fn send(&mut self, request: impl Into<Message>) -> Result<Vec<u8>, Fail> {
        self.send_lun(request, LogicalUnit::Zero).await
    }

    async fn send_lun(
        &mut self,
        request: impl Into<Message>,
        lun: LogicalUnit,
    ) -> Result<Vec<u8>, Fail> {
        let message = request.into();
        self.req_lun(message.netfn_raw(), message.cmd(), message.data(), lun)
            .await
    }

    async fn req_lun(
        &mut self,
        netfn: u8,
        cmd: u8,
        data: &[u8],
        lun: LogicalUnit,
    ) -> Result<Vec<u8>, Fail> {
        if Instant::now() >= self.deadline {
            return Err(Fail::Answer(BmcError::Timeout(self.timeout_label)));
        }
        self.session
            .request(netfn, cmd, data, lun.value(), self.deadline)
            .await
    }
}

fn short(what: &str, need: usize, got: &[u8]) -> Result<(), Fail> {
    if got.len() < need {
        return Err(Fail::Answer(BmcError::Protocol(format!(
            "{what}: {} bytes, expected at least {need}",
            got.len()
        ))));
    }
    Ok(())
}

/// Parses answer data with ipmi-rs's parser for `C`, after our own length check (so a short
/// answer gets the same message whichever parser reads it).
fn parse<C: IpmiCommand>(what: &str, need: usize, data: &[u8]) -> Result<C::Output, Fail>
where
    C::Error: Debug,
{
    short(what, need, data)?;
    C::parse_success_response(data)
        .map_err(|e| Fail::Answer(BmcError::Protocol(format!("{what}: {e:?}"))))
}

/// The completion code of a refusal, as ipmi-rs names it.
fn cc_of(f: &Fail) -> Option<CompletionErrorCode> {
    match f {
        Fail::Answer(BmcError::Completion { code, .. }) => {
            CompletionErrorCode::try_from(*code).ok()
        }
        _ => None,
    }
}

pub async fn execute(ctx: &mut Ctx<'_>, op: &Op) -> Result<Output, Fail> {
    Ok(match op {
        Op::PowerStatus => Output::Power(chassis::power(ctx).await?),
        Op::ChassisStatus => Output::Chassis(chassis::status(ctx).await?),
        Op::ChassisControl(action) => {
            chassis::control(ctx, *action).await?;
            Output::Done
        }
        Op::DeviceId => Output::Device(chassis::device_id(ctx).await?),
        Op::SelInfo => Output::SelInfo(sel::info(ctx).await?),
        Op::SelList => Output::SelList(sel::list(ctx).await?),
        Op::SelDelete(ids) => Output::SelDelete(sel::delete(ctx, ids).await?),
        Op::SelClear => {
            sel::clear(ctx).await?;
            Output::Done
        }
        Op::Sensors => Output::Sensors(sdr::sensors(ctx).await?),
        Op::Identify(mode) => {
            chassis::identify(ctx, *mode).await?;
            Output::Done
        }
        Op::SetBootDevice(dev, persistent, efi) => {
            chassis::set_boot_device(ctx, *dev, *persistent, *efi).await?;
            Output::Done
        }
        Op::GetBootDevice => Output::Boot(chassis::boot_flags(ctx).await?),
        Op::Fru(device) => Output::Fru(Box::new(fru::read(ctx, *device).await?)),
    })
}

/// A cheap request used to check that a kept session is still known to the BMC.
pub async fn probe(ctx: &mut Ctx<'_>) -> Result<(), Fail> {
    ctx.send(GetDeviceId).await.map(|_| ())
}

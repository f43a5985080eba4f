//! [`BmcPool`]: the async entry points. Each call takes its machine's turn, a global
//! permit, hands the job to the machine's worker and waits for the answer, all within the
//! configured deadline; the caller gets `Timeout` on time even if the worker is stuck.

use std::sync::Arc;
use std::sync::mpsc::SendError;
use std::time::Instant;

use tokio::sync::oneshot;

use super::commands::{Op, Output};
use super::worker::{Job, Msg, Shared};
use super::{
    BmcConfig, BmcError, BmcTarget, BootDevice, BootFlags, ChassisAction, ChassisStatus,
    DeviceInfo, Identify, PowerState, SelDeletion, SelInfo, SelRecord, SensorReading,
};

/// Cheap to clone (Arc inside). One worker per machine key owns that BMC's session.
#[derive(Clone)]
pub struct BmcPool {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for BmcPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BmcPool")
            .field("config", &self.shared.config)
            .field("workers", &self.shared.workers().len())
            .finish()
    }
}

fn unexpected(op: &str) -> BmcError {
    BmcError::Protocol(format!("internal mix-up: wrong result kind for {op}"))
}

impl BmcPool {
    pub fn new(config: BmcConfig) -> Self {
        BmcPool {
            shared: Arc::new(Shared::new(config)),
        }
    }

    async fn call(&self, key: i64, target: &BmcTarget, op: Op) -> Result<Output, BmcError> {
        let label = self.shared.config.deadline;
        let deadline = Instant::now() + label;
        let work = async {
            loop {
                let (tx, turn, generation) = self.shared.worker(key)?;
                let turn = turn.lock_owned().await;
                let permit = self
                    .shared
                    .semaphore
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| BmcError::Unreachable("the bmc pool is shut down".into()))?;
                let (reply, answer) = oneshot::channel();
                let job = Job {
                    target: target.clone(),
                    op: op.clone(),
                    deadline,
                    reply,
                    permit,
                    turn,
                };
                // The worker may have just left (idle, or closed by `forget`); the job did
                // not run, so hand it to a fresh worker.
                if let Err(SendError(_)) = tx.send(Msg::Run(job)) {
                    self.shared.drop_stale(key, generation);
                    continue;
                }
                match answer.await {
                    Ok(result) => return result,
                    // Dropped unanswered: the worker stopped before running it.
                    Err(_) => {
                        self.shared.drop_stale(key, generation);
                        continue;
                    }
                }
            }
        };
        match tokio::time::timeout_at(deadline.into(), work).await {
            Ok(result) => result,
            Err(_) => Err(BmcError::Timeout(label)),
        }
    }

    pub async fn power_status(&self, key: i64, target: &BmcTarget) -> Result<PowerState, BmcError> {
        match self.call(key, target, Op::PowerStatus).await? {
            Output::Power(p) => Ok(p),
            _ => Err(unexpected("power status")),
        }
    }

    pub async fn chassis_control(
        &self,
        key: i64,
        target: &BmcTarget,
        action: ChassisAction,
    ) -> Result<(), BmcError> {
        self.call(key, target, Op::ChassisControl(action))
            .await
            .map(|_| ())
    }

    pub async fn chassis_status(
        &self,
        key: i64,
        target: &BmcTarget,
    ) -> Result<ChassisStatus, BmcError> {
        match self.call(key, target, Op::ChassisStatus).await? {
            Output::Chassis(c) => Ok(c),
            _ => Err(unexpected("chassis status")),
        }
    }

    pub async fn device_id(&self, key: i64, target: &BmcTarget) -> Result<DeviceInfo, BmcError> {
        match self.call(key, target, Op::DeviceId).await? {
            Output::Device(d) => Ok(d),
            _ => Err(unexpected("device id")),
        }
    }

    pub async fn sel_info(&self, key: i64, target: &BmcTarget) -> Result<SelInfo, BmcError> {
        match self.call(key, target, Op::SelInfo).await? {
            Output::SelInfo(i) => Ok(i),
            _ => Err(unexpected("sel info")),
        }
    }

    pub async fn sel_list(&self, key: i64, target: &BmcTarget) -> Result<Vec<SelRecord>, BmcError> {
        match self.call(key, target, Op::SelList).await? {
            Output::SelList(l) => Ok(l),
            _ => Err(unexpected("sel list")),
        }
    }

    /// Deletes records one by one (Reserve SEL, then Delete SEL Entry with the reservation;
    /// re-reserves when the reservation is cancelled). One outcome per id, in order. A link
    /// that breaks part-way still answers: the records before it keep their outcomes, the
    /// one in flight is `Unknown`, the rest `NotAttempted`, and the session is thrown away.
    pub async fn sel_delete(
        &self,
        key: i64,
        target: &BmcTarget,
        ids: Vec<u16>,
    ) -> Result<Vec<SelDeletion>, BmcError> {
        match self.call(key, target, Op::SelDelete(ids)).await? {
            Output::SelDelete(r) => Ok(r),
            _ => Err(unexpected("sel delete")),
        }
    }

    pub async fn sel_clear(&self, key: i64, target: &BmcTarget) -> Result<(), BmcError> {
        self.call(key, target, Op::SelClear).await.map(|_| ())
    }

    pub async fn sensors(
        &self,
        key: i64,
        target: &BmcTarget,
    ) -> Result<Vec<SensorReading>, BmcError> {
        match self.call(key, target, Op::Sensors).await? {
            Output::Sensors(s) => Ok(s),
            _ => Err(unexpected("sensors")),
        }
    }

    pub async fn identify(
        &self,
        key: i64,
        target: &BmcTarget,
        mode: Identify,
    ) -> Result<(), BmcError> {
        self.call(key, target, Op::Identify(mode)).await.map(|_| ())
    }

    pub async fn set_boot_device(
        &self,
        key: i64,
        target: &BmcTarget,
        dev: BootDevice,
        persistent: bool,
        efi: bool,
    ) -> Result<(), BmcError> {
        self.call(key, target, Op::SetBootDevice(dev, persistent, efi))
            .await
            .map(|_| ())
    }

    /// The boot flags (System Boot Options parameter 5): device, persistent, EFI.
    pub async fn boot_device(&self, key: i64, target: &BmcTarget) -> Result<BootFlags, BmcError> {
        match self.call(key, target, Op::GetBootDevice).await? {
            Output::Boot(f) => Ok(f),
            _ => Err(unexpected("boot options")),
        }
    }

    /// FRU device `device`'s inventory (chassis, board and product areas).
    pub async fn fru(
        &self,
        key: i64,
        target: &BmcTarget,
        device: u8,
    ) -> Result<super::fru::Fru, BmcError> {
        match self.call(key, target, Op::Fru(device)).await? {
            Output::Fru(f) => Ok(*f),
            _ => Err(unexpected("fru")),
        }
    }

    /// Closes the session of one machine (machine deleted or credentials changed).
    pub async fn forget(&self, key: i64) {
        self.close(Some(key)).await;
    }

    /// Closes every session (server shutdown), sending Close Session to each BMC.
    pub async fn shutdown(&self) {
        self.close(None).await;
    }

    async fn close(&self, key: Option<i64>) {
        let mut waits = Vec::new();
        for tx in self.shared.take(key) {
            let (done, wait) = oneshot::channel();
            if tx.send(Msg::Close(done)).is_ok() {
                waits.push(wait);
            }
        }
        // Workers close in parallel; a dead BMC costs at most one deadline overall. A
        // worker still busy past that finishes its job, then closes and leaves on its own.
        let deadline = tokio::time::Instant::now() + self.shared.config.deadline;
        for wait in waits {
            let _ = tokio::time::timeout_at(deadline, wait).await;
        }
    }
}

//! Every command version the server knows, declared once each, with topics and classes.
//! One file per area; each exports `specs()`.

pub mod audit;
pub mod bulk;
pub mod chassis;
pub mod console;
pub mod defaults;
pub mod introspect;
pub mod inventory;
pub mod machine;
pub mod permission;
pub mod ping;
pub mod power;
pub mod sel;
pub mod sensor;
pub mod user;

use schemars::JsonSchema;
use serde::Serialize;

use crate::registry::{ClassSpec, CommandSpec, class};

pub const TOPICS: &[(&str, &str)] = &[
    ("server", "The server itself: liveness, version, API level."),
    ("user", "Users, their roles and passwords."),
    ("machine", "Machines and how to reach their BMCs."),
    (
        "permission",
        "Which user may view or operate which machine.",
    ),
    (
        "schema",
        "Introspection: commands, parameters, outputs, topics and classes.",
    ),
    ("power", "Power state and power control through the BMC."),
    ("chassis", "Chassis status, identify light and boot device."),
    ("bmc", "The BMC's own identity."),
    ("sel", "The System Event Log kept by the BMC."),
    ("sensor", "Sensor readings from the BMC's SDR repository."),
    ("audit", "Who did what, when, on which machine."),
    (
        "inventory",
        "What the BMC knows of its machine: FRU chassis, board and product data.",
    ),
    (
        "console",
        "The serial console (IPMI SOL) through igord: 'igor console MACHINE' attaches; console-log shows recent output.",
    ),
];

/// All command versions of every level.
pub fn all() -> Vec<CommandSpec> {
    let mut v = Vec::new();
    v.extend(ping::specs());
    v.extend(user::specs());
    v.extend(machine::specs());
    v.extend(permission::specs());
    v.extend(introspect::specs());
    v.extend(power::specs());
    v.extend(chassis::specs());
    v.extend(sel::specs());
    v.extend(sensor::specs());
    v.extend(audit::specs());
    v.extend(inventory::specs());
    v.extend(defaults::specs());
    v.extend(console::specs());
    v
}

pub fn classes() -> Vec<ClassSpec> {
    vec![
        class::<user::UserOut>("user", "A person or program that logs in to igord."),
        class::<machine::MachineOut>("machine", "A server reached through its BMC."),
        class::<permission::PermissionOut>(
            "permission",
            "A user's role (viewer or operator) on one machine.",
        ),
    ]
}

/// The output of the `*-del` commands.
#[derive(Serialize, JsonSchema)]
pub struct Deleted {
    /// Name of what was deleted.
    pub name: String,
    pub deleted: bool,
}

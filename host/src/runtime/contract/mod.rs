//! The contract versions this host runs, and the one place where WIT types
//! meet the host's own.
//!
//! Each released contract has its own directory under `wit/` and its own
//! module here: `bindgen!` over that directory, the host's implementation of
//! its imports, and conversions between its types and the host's `case` and
//! `plan` types. A component is type-checked against the version it imports
//! (`dun:strategy/types@X.Y.Z`), so a component built against 0.1.0 keeps
//! running after 0.2.0 ships: only its module converts differently.

pub mod v0_1_0;

use serde::Serialize;

/// A contract version this host can run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum ContractVersion {
    #[serde(rename = "0.1.0")]
    V0_1_0,
}

impl ContractVersion {
    /// Every version, oldest first.
    pub const ALL: [ContractVersion; 1] = [ContractVersion::V0_1_0];

    /// The package version, e.g. "0.1.0".
    pub fn as_str(self) -> &'static str {
        match self {
            ContractVersion::V0_1_0 => "0.1.0",
        }
    }

    /// The version named by an import such as `dun:strategy/types@0.1.0`.
    pub fn of_import(name: &str) -> Option<ContractVersion> {
        let version = name.strip_prefix("dun:strategy/")?.split_once('@')?.1;
        ContractVersion::ALL
            .into_iter()
            .find(|v| v.as_str() == version)
    }
}

impl std::fmt::Display for ContractVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

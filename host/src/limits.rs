//! Per-evaluation limits as operators and tenants set them: fuel, memory,
//! deadline and plan size (the most actions in a plan).
//!
//! Three layers, each over the one before:
//! - the **configured** defaults (`[limits]` in `dun.toml`, else the
//!   runtime's own);
//! - the **host-wide** limits an operator sets at run time
//!   (`PUT /v1/limits`, persisted); a value left out is the configured one;
//! - a tenant plugin's **own** limits (`PUT /v1/plugins/{name}/limits`),
//!   for every version of that name; a value left out is the host-wide one.
//!
//! Invariants: nothing exceeds the [`Ceilings`] (what the runtime can
//! honour: memory cannot exceed the pool's slots); an admin may only
//! tighten (each value at most the host-wide one, and what an admin set is
//! capped by the host-wide value in force, so lowering a host-wide limit
//! lowers it too); only an operator loosens. Enforcement is the runtime's
//! (`Runtime::decide` under the effective [`Limits`]).

use serde::{Deserialize, Serialize};

use crate::runtime::{Limits, RuntimeConfig};

/// The most fuel any evaluation may be given: about ten seconds of work.
pub const MAX_FUEL: u64 = 10_000_000_000;
/// The longest deadline any evaluation may be given.
pub const MAX_DEADLINE_MS: u64 = 60_000;
/// The most actions any plan may hold.
pub const MAX_ACTIONS: u64 = 10_000;

/// The four limits, each optional: what an operator or admin sets. A
/// missing value is the layer below's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LimitValues {
    /// Wasm instructions (roughly) one evaluation may execute.
    pub fuel: Option<u64>,
    /// Linear memory one instance may grow to, in bytes.
    pub memory_bytes: Option<u64>,
    /// Wall-clock time one evaluation may take, in milliseconds.
    pub deadline_ms: Option<u64>,
    /// Actions one plan may hold.
    pub max_actions: Option<u64>,
}

/// The four limits in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LimitSet {
    pub fuel: u64,
    pub memory_bytes: u64,
    pub deadline_ms: u64,
    pub max_actions: u64,
}

impl LimitSet {
    pub fn of(limits: &Limits) -> LimitSet {
        LimitSet {
            fuel: limits.fuel,
            memory_bytes: limits.memory_bytes as u64,
            deadline_ms: limits.deadline_ms,
            max_actions: limits.plan.max_actions as u64,
        }
    }

    fn get(&self, field: Field) -> u64 {
        match field {
            Field::Fuel => self.fuel,
            Field::MemoryBytes => self.memory_bytes,
            Field::DeadlineMs => self.deadline_ms,
            Field::MaxActions => self.max_actions,
        }
    }
}

/// What the runtime can honour, whoever asks.
pub fn ceilings(config: &RuntimeConfig) -> LimitSet {
    LimitSet {
        fuel: MAX_FUEL,
        memory_bytes: config.max_memory_bytes as u64,
        deadline_ms: MAX_DEADLINE_MS,
        max_actions: MAX_ACTIONS,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Field {
    Fuel,
    MemoryBytes,
    DeadlineMs,
    MaxActions,
}

const FIELDS: [Field; 4] = [
    Field::Fuel,
    Field::MemoryBytes,
    Field::DeadlineMs,
    Field::MaxActions,
];

impl Field {
    fn name(self) -> &'static str {
        match self {
            Field::Fuel => "fuel",
            Field::MemoryBytes => "memory_bytes",
            Field::DeadlineMs => "deadline_ms",
            Field::MaxActions => "max_actions",
        }
    }

    fn of(self, values: &LimitValues) -> Option<u64> {
        match self {
            Field::Fuel => values.fuel,
            Field::MemoryBytes => values.memory_bytes,
            Field::DeadlineMs => values.deadline_ms,
            Field::MaxActions => values.max_actions,
        }
    }
}

/// `base` with the values given, each capped at `cap` when there is one.
pub fn apply(base: &Limits, values: &LimitValues, cap: Option<&LimitSet>) -> Limits {
    let value = |field: Field, base: u64| {
        let own = field.of(values).unwrap_or(base);
        cap.map_or(own, |cap| own.min(cap.get(field)))
    };
    let mut limits = *base;
    limits.fuel = value(Field::Fuel, base.fuel);
    limits.memory_bytes = value(Field::MemoryBytes, base.memory_bytes as u64) as usize;
    limits.deadline_ms = value(Field::DeadlineMs, base.deadline_ms);
    limits.plan.max_actions = value(Field::MaxActions, base.plan.max_actions as u64) as usize;
    limits
}

/// A plugin's own limits over the host-wide ones: an admin's are capped by
/// the host-wide values in force, an operator's are not.
pub fn effective(host: &Limits, own: &LimitValues, set_by_operator: bool) -> Limits {
    let cap = LimitSet::of(host);
    apply(host, own, (!set_by_operator).then_some(&cap))
}

/// Why a set of values was refused: the field at fault and a sentence.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not a usable value (zero), or past what the runtime can honour.
    Invalid { field: &'static str, detail: String },
    /// Above the host-wide value: only an operator loosens.
    Forbidden { field: &'static str, detail: String },
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::Invalid { field, detail } | Refusal::Forbidden { field, detail } => {
                write!(f, "{field}: {detail}")
            }
        }
    }
}

/// Checks values an operator sets (host-wide or for a plugin): each at
/// least 1 and at most its ceiling.
pub fn check_operator(values: &LimitValues, ceilings: &LimitSet) -> Result<(), Refusal> {
    for field in FIELDS {
        let Some(value) = field.of(values) else {
            continue;
        };
        let ceiling = ceilings.get(field);
        if value == 0 {
            return Err(Refusal::Invalid {
                field: field.name(),
                detail: format!("{} must be at least 1", field.name()),
            });
        }
        if value > ceiling {
            let why = match field {
                Field::MemoryBytes => format!(
                    "the runtime's pooling allocator was configured for {ceiling} bytes per \
                     memory (runtime max_memory_bytes); no plugin can be given more"
                ),
                _ => format!("the runtime honours at most {ceiling}"),
            };
            return Err(Refusal::Invalid {
                field: field.name(),
                detail: format!("{} = {value} is past the ceiling: {why}", field.name()),
            });
        }
    }
    Ok(())
}

/// Checks values an admin sets for a plugin: each at least 1 and at most
/// the host-wide value (an admin only tightens).
pub fn check_admin(values: &LimitValues, host: &Limits) -> Result<(), Refusal> {
    let host = LimitSet::of(host);
    for field in FIELDS {
        let name = field.name();
        match field.of(values) {
            Some(0) => {
                return Err(Refusal::Invalid {
                    field: name,
                    detail: format!("{name} must be at least 1"),
                });
            }
            Some(value) if value > host.get(field) => {
                return Err(Refusal::Forbidden {
                    field: name,
                    detail: format!(
                        "{name} = {value} is above the host-wide {name} ({}): an admin may only \
                         tighten a plugin's limits; ask an operator to loosen them",
                        host.get(field)
                    ),
                });
            }
            _ => {}
        }
    }
    Ok(())
}

/// An admin replacing limits an operator set on a plugin: no limit may
/// end up above the one in force now, so an admin can tighten an
/// operator's limits but not undo them (a field left out means the
/// host-wide value, which may be looser).
pub fn check_admin_over_operator(
    values: &LimitValues,
    host: &Limits,
    operator_set: &LimitValues,
) -> Result<(), Refusal> {
    let now = LimitSet::of(&effective(host, operator_set, true));
    let after = LimitSet::of(&effective(host, values, false));
    for field in FIELDS {
        let name = field.name();
        if after.get(field) > now.get(field) {
            return Err(Refusal::Forbidden {
                field: name,
                detail: format!(
                    "an operator set this plugin's {name} to {}; an admin may only tighten it \
                     ({} asked; a field left out means the host-wide value)",
                    now.get(field),
                    after.get(field)
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_admin_cannot_undo_what_an_operator_set() {
        let host = Limits::default();
        let operator = LimitValues {
            fuel: Some(1_000),
            deadline_ms: Some(5_000),
            ..Default::default()
        };
        // Tighter still: fine.
        let tighter = LimitValues {
            fuel: Some(500),
            deadline_ms: Some(100),
            ..Default::default()
        };
        assert_eq!(
            check_admin_over_operator(&tighter, &host, &operator),
            Ok(())
        );
        // Removing them all would put fuel back to the host's 50 million.
        let refused = check_admin_over_operator(&LimitValues::default(), &host, &operator);
        assert!(
            matches!(refused, Err(Refusal::Forbidden { field: "fuel", .. })),
            "{refused:?}"
        );
        // Leaving fuel out is the same.
        let partial = LimitValues {
            deadline_ms: Some(100),
            ..Default::default()
        };
        assert!(check_admin_over_operator(&partial, &host, &operator).is_err());
    }

    #[test]
    fn an_admin_tightens_an_operator_loosens_up_to_the_ceilings() {
        let host = Limits::default();
        let ceilings = ceilings(&RuntimeConfig::default());
        let tighter = LimitValues {
            fuel: Some(1_000),
            max_actions: Some(3),
            ..Default::default()
        };
        assert_eq!(check_admin(&tighter, &host), Ok(()));
        let tightened = effective(&host, &tighter, false);
        assert_eq!((tightened.fuel, tightened.plan.max_actions), (1_000, 3));
        assert_eq!(tightened.deadline_ms, host.deadline_ms);

        let looser = LimitValues {
            deadline_ms: Some(host.deadline_ms + 1),
            ..Default::default()
        };
        match check_admin(&looser, &host) {
            Err(Refusal::Forbidden { field, detail }) => {
                assert_eq!(field, "deadline_ms");
                assert!(detail.contains("only tighten"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(check_operator(&looser, &ceilings), Ok(()));
        // An admin's value is capped by the host-wide one in force; an
        // operator's is not.
        let mut lowered = host;
        lowered.deadline_ms = 100;
        assert_eq!(effective(&lowered, &looser, false).deadline_ms, 100);
        assert_eq!(
            effective(&lowered, &looser, true).deadline_ms,
            host.deadline_ms + 1
        );

        let too_much = LimitValues {
            memory_bytes: Some(ceilings.memory_bytes + 1),
            ..Default::default()
        };
        match check_operator(&too_much, &ceilings) {
            Err(Refusal::Invalid { field, detail }) => {
                assert_eq!(field, "memory_bytes");
                assert!(detail.contains("pooling allocator"), "{detail}");
            }
            other => panic!("{other:?}"),
        }
        let zero = LimitValues {
            fuel: Some(0),
            ..Default::default()
        };
        assert!(matches!(
            check_admin(&zero, &host),
            Err(Refusal::Invalid { field: "fuel", .. })
        ));
    }
}

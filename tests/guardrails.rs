//! Guardrails and strategy actions end to end (being written).

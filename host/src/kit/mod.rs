//! The strategy author's kit: what someone writing a strategy uses without
//! a running server. [`scaffold`] makes a ready-to-build project
//! (`dun plugin new`); [`golden`] runs golden tests of a component
//! (`dun plugin test`). Both use the real runtime with the host's limits,
//! so a strategy that passes here behaves the same in the service.

pub mod golden;
pub mod scaffold;

//! dun: a dunning service whose collection strategies are sandboxed
//! WebAssembly components. See ARCHITECTURE.md for the map.

pub mod api;
pub mod builtin;
pub mod case;
pub mod cli;
pub mod clock;
pub mod config;
pub mod dashboard;
pub mod dispatcher;
pub mod engine;
pub mod guardrails;
pub mod import;
pub mod kit;
pub mod kpi;
pub mod limits;
pub mod money;
pub mod plan;
pub mod portal;
pub mod registry;
pub mod runtime;
pub mod segments;
pub mod senders;
pub mod server;
pub mod simulate;
pub mod store;
pub mod templates;

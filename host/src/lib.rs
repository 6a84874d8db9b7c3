//! dun: a dunning service whose collection strategies are sandboxed
//! WebAssembly components. See ARCHITECTURE.md for the map.

pub mod builtin;
pub mod case;
pub mod cli;
pub mod plan;
pub mod runtime;

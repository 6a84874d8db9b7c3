//! The reference strategies that ship inside the `dun` binary.
//!
//! They are built from `plugins/` by the build script and embedded, so
//! `dun serve` works with no plugin uploaded and tests can rely on them.

/// A strategy component embedded in the binary.
#[derive(Clone, Copy, Debug)]
pub struct Builtin {
    pub name: &'static str,
    pub wasm: &'static [u8],
}

/// Every built-in strategy.
pub const BUILTINS: &[Builtin] = &[
    Builtin {
        name: "ladder",
        wasm: include_bytes!(concat!(env!("DUN_PLUGIN_DIR"), "/ladder.wasm")),
    },
    Builtin {
        name: "segmented",
        wasm: include_bytes!(concat!(env!("DUN_PLUGIN_DIR"), "/segmented.wasm")),
    },
    Builtin {
        name: "send-time",
        wasm: include_bytes!(concat!(env!("DUN_PLUGIN_DIR"), "/send-time.wasm")),
    },
];

/// The built-in strategy called `name`.
pub fn find(name: &str) -> Option<&'static Builtin> {
    BUILTINS.iter().find(|b| b.name == name)
}

/// Where the build put every guest component (`target/plugins`).
pub const PLUGIN_DIR: &str = env!("DUN_PLUGIN_DIR");

//! Builds every guest component once per host build, the way wasmtime builds
//! its test programs: one nested cargo for the `wasm32-wasip2` target, in its
//! own target directory (`target/wasm`), never the host's. The reference
//! strategies and the hostile test guest land in `target/plugins/NAME.wasm`;
//! the host embeds the reference strategies as built-ins and the tests load
//! the rest from there.

use std::path::{Path, PathBuf};
use std::process::Command;

/// One cargo run per batch, because one run unifies features across the
/// packages it builds: `ladder` and `send-time` are no_std (the SDK without
/// `std`) while the others use std, and `send-time` links the ladder as a
/// library without the ladder's component exports.
const BATCHES: &[&[&str]] = &[
    &[
        "segmented",
        "hostile",
        "scripted",
        "faulty",
        "faulty-describe",
    ],
    &["ladder"],
    &["send-time"],
];

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("set by cargo"));
    let root = manifest_dir
        .parent()
        .expect("host/ lives in the workspace root")
        .to_path_buf();
    let wasm_target_dir = root.join("target").join("wasm");
    let plugin_dir = root.join("target").join("plugins");

    for watched in [
        "plugins",
        "tests/guests/hostile",
        "tests/guests/scripted",
        "tests/guests/faulty",
        "tests/guests/faulty-describe",
        "wit",
        "Cargo.lock",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(watched).display());
    }
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-env=DUN_PLUGIN_DIR={}", plugin_dir.display());

    ensure_wasm_target();
    std::fs::create_dir_all(&plugin_dir).expect("create target/plugins");
    for batch in BATCHES {
        build(&root, &wasm_target_dir, batch);
        // Copy right away: a later batch may rebuild a dependency's cdylib
        // (send-time rebuilds ladder.wasm without its exports).
        for name in *batch {
            let artifact = name.replace('-', "_");
            let from = wasm_target_dir
                .join("wasm32-wasip2/guest")
                .join(format!("{artifact}.wasm"));
            let to = plugin_dir.join(format!("{name}.wasm"));
            std::fs::copy(&from, &to)
                .unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), to.display()));
        }
    }
}

/// Install the guest target on first use, so a fresh clone builds with one
/// command. rust-toolchain.toml lists it too, but rustup only reads that list
/// when it installs the toolchain itself.
fn ensure_wasm_target() {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let installed = sysroot.is_some_and(|s| s.join("lib/rustlib/wasm32-wasip2").is_dir());
    if !installed {
        let status = Command::new("rustup")
            .args(["target", "add", "wasm32-wasip2"])
            .status();
        if !status.is_ok_and(|s| s.success()) {
            println!(
                "cargo:warning=could not install wasm32-wasip2; run `rustup target add wasm32-wasip2`"
            );
        }
    }
}

fn build(root: &Path, target_dir: &Path, packages: &[&str]) {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .current_dir(root)
        .args([
            "build",
            "--target",
            "wasm32-wasip2",
            "--profile",
            "guest",
            "--target-dir",
        ])
        .arg(target_dir);
    for package in packages {
        command.args(["-p", package]);
    }
    // The nested build is for another target with its own flags: nothing of
    // the host build's compiler configuration may leak into it.
    for var in [
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_TARGET_DIR",
        "CARGO_BUILD_TARGET",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_PRIMARY_PACKAGE",
    ] {
        command.env_remove(var);
    }
    let status = command
        .status()
        .expect("run cargo for the guest components");
    assert!(
        status.success(),
        "building the guest components {packages:?} failed; is the wasm32-wasip2 target \
         installed? (`rustup target add wasm32-wasip2`)"
    );
}

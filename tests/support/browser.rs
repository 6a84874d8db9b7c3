//! Runs a browser script (`tests/browser/NAME.mjs`) in Debian's Chromium
//! through playwright-core, which `./scripts/test` installs. The script gets
//! `input` as JSON and answers with JSON on its last line of stdout.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// Runs `tests/browser/{script}.mjs` with `input`; its JSON answer. Fails
/// the test, with the script's output, if it exits non-zero or Chromium or
/// playwright-core is missing (they are installed by `./scripts/test`).
pub fn run(script: &str, input: &Value) -> Value {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/browser");
    assert!(
        dir.join("node_modules/playwright-core").is_dir(),
        "playwright-core is not installed: run `npm ci --prefix tests/browser` (./scripts/test does)"
    );
    let chromium = std::env::var("DUN_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "no Chromium at {chromium}: install Debian's chromium (./scripts/test does) or set DUN_CHROMIUM"
    );
    let out = Command::new("node")
        .arg(dir.join(format!("{script}.mjs")))
        .env("DUN_BROWSER_INPUT", input.to_string())
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "browser script {script} failed ({}):\n{stderr}\n{stdout}",
        out.status
    );
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("browser script {script} answered {last:?}: {e}\n{stderr}"))
}

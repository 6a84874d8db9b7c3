//! `dun plugin new NAME`: a ready-to-build strategy project. Everything it
//! writes is compiled into dun, so it works offline and matches this dun:
//! the sample strategy with unit tests, golden tests and a case for
//! `dun plugin test`, the contract (`wit/`), and the SDK vendored with its
//! dependencies pinned by dun's own `Cargo.lock`.

use std::path::{Path, PathBuf};

/// A file of the project: its path and its text, `__NAME__` and `__CRATE__`
/// still to be filled in.
type File = (&'static str, &'static str);

const RUST: &[File] = &[
    ("Cargo.toml", include_str!("../../scaffold/rust/Cargo.toml")),
    ("README.md", include_str!("../../scaffold/rust/README.md")),
    (".gitignore", include_str!("../../scaffold/rust/gitignore")),
    ("src/lib.rs", include_str!("../../scaffold/rust/src/lib.rs")),
    TESTS[0],
    TESTS[1],
    TESTS[2],
    TESTS[3],
    CONTRACT,
    ("Cargo.lock", include_str!("../../../Cargo.lock")),
    (
        "vendor/dun-strategy/src/lib.rs",
        include_str!("../../../plugins/sdk/src/lib.rs"),
    ),
    (
        "vendor/dun-strategy/src/arena.rs",
        include_str!("../../../plugins/sdk/src/arena.rs"),
    ),
    (
        "vendor/dun-strategy/src/calendar.rs",
        include_str!("../../../plugins/sdk/src/calendar.rs"),
    ),
    (
        "vendor/dun-strategy/src/helpers.rs",
        include_str!("../../../plugins/sdk/src/helpers.rs"),
    ),
    (
        "vendor/dun-strategy/src/testing.rs",
        include_str!("../../../plugins/sdk/src/testing.rs"),
    ),
];

/// The golden tests and their case: the same for every language, since the
/// sample strategies plan alike.
const TESTS: [File; 4] = [
    (
        "tests/gentle-day-1.json",
        include_str!("../../scaffold/rust/tests/gentle-day-1.json"),
    ),
    (
        "tests/firm-from-config.json",
        include_str!("../../scaffold/rust/tests/firm-from-config.json"),
    ),
    (
        "tests/until-paid.json",
        include_str!("../../scaffold/rust/tests/until-paid.json"),
    ),
    (
        "tests/cases/gentle-day-1.json",
        include_str!("../../../examples/cases/02-gentle-day-1.json"),
    ),
];

const CONTRACT: File = (
    "wit/v0.1.0/strategy.wit",
    include_str!("../../../wit/v0.1.0/strategy.wit"),
);

const PYTHON: &[File] = &[
    ("app.py", include_str!("../../scaffold/python/app.py")),
    ("build.sh", include_str!("../../scaffold/python/build.sh")),
    ("README.md", include_str!("../../scaffold/python/README.md")),
    (
        ".gitignore",
        include_str!("../../scaffold/python/gitignore"),
    ),
    TESTS[0],
    TESTS[1],
    TESTS[2],
    TESTS[3],
    CONTRACT,
];

/// The SDK's manifest, which inherits from dun's workspace.
const SDK_MANIFEST: &str = include_str!("../../../plugins/sdk/Cargo.toml");
/// dun's workspace manifest: where the inherited values are.
const WORKSPACE_MANIFEST: &str = include_str!("../../../Cargo.toml");

/// Languages a project can be made in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    Rust,
    /// Built with componentize-py.
    Python,
}

/// Why a project was not made.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error(
        "{0:?} is not a strategy name: use 1-64 lower-case letters, digits and dashes, starting with a letter"
    )]
    BadName(String),
    #[error("{} already exists; choose another name or directory", .0.display())]
    Exists(PathBuf),
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Whether `name` can name a strategy (and its crate and segment entry).
pub fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.ends_with('-')
}

/// Writes a new project `dir` for strategy `name`; the files written.
pub fn create(dir: &Path, name: &str, lang: Lang) -> Result<Vec<PathBuf>, ScaffoldError> {
    if !valid_name(name) {
        return Err(ScaffoldError::BadName(name.to_owned()));
    }
    if dir.exists() {
        return Err(ScaffoldError::Exists(dir.to_path_buf()));
    }
    let files = match lang {
        Lang::Rust => RUST,
        Lang::Python => PYTHON,
    };
    let crate_name = name.replace('-', "_");
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ScaffoldError::Io { path, source }
    };
    let mut written = Vec::new();
    let mut write = |relative: &str, text: &str| -> Result<(), ScaffoldError> {
        let path = dir.join(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io(parent))?;
        }
        let text = text
            .replace("__NAME__", name)
            .replace("__CRATE__", &crate_name);
        std::fs::write(&path, text).map_err(io(&path))?;
        written.push(path);
        Ok(())
    };
    for (relative, text) in files {
        write(relative, text)?;
    }
    if lang == Lang::Rust {
        write("vendor/dun-strategy/Cargo.toml", &standalone_sdk_manifest())?;
    }
    #[cfg(unix)]
    if lang == Lang::Python {
        use std::os::unix::fs::PermissionsExt;
        let script = dir.join("build.sh");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
            .map_err(io(&script))?;
    }
    Ok(written)
}

/// The SDK's manifest with what it inherits from dun's workspace written
/// out, so that it builds on its own.
fn standalone_sdk_manifest() -> String {
    let workspace_value = |key: &str| -> String {
        WORKSPACE_MANIFEST
            .lines()
            .find_map(|line| {
                let (k, v) = line.split_once('=')?;
                (k.trim() == key).then(|| v.trim().to_owned())
            })
            .unwrap_or_else(|| panic!("{key} in the workspace manifest"))
    };
    let mut out = String::new();
    let mut in_lints = false;
    for line in SDK_MANIFEST.lines() {
        if line.starts_with('[') {
            in_lints = line == "[lints]";
        }
        if in_lints {
            continue;
        }
        let replaced = match line.split_once(".workspace = true") {
            Some((key, _)) => format!("{key} = {}", workspace_value(key)),
            None => match line.split_once(" = { workspace = true") {
                Some((key, rest)) => {
                    // `serde = { workspace = true, optional = true }`: the
                    // workspace's table, with this line's extra keys.
                    let base = workspace_value(key);
                    let extra = rest.trim_start_matches(',').trim_end_matches('}').trim();
                    let table = base.trim();
                    let table = if table.starts_with('"') {
                        format!("{{ version = {table} }}")
                    } else {
                        table.to_owned()
                    };
                    if extra.is_empty() {
                        format!("{key} = {table}")
                    } else {
                        format!(
                            "{key} = {}, {extra} }}",
                            table.trim_end_matches('}').trim_end()
                        )
                    }
                }
                None => line.to_owned(),
            },
        };
        out.push_str(&replaced);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vendored_sdk_inherits_nothing() {
        let manifest = standalone_sdk_manifest();
        assert!(!manifest.contains("workspace"), "{manifest}");
        let parsed: toml::Table = toml::from_str(&manifest).expect("valid TOML");
        assert_eq!(parsed["package"]["edition"].as_str(), Some("2024"));
        let deps = parsed["dependencies"].as_table().unwrap();
        assert_eq!(deps["wit-bindgen"]["version"].as_str(), Some("0.61"));
        assert_eq!(
            deps["wit-bindgen"]["default-features"].as_bool(),
            Some(false)
        );
        assert_eq!(deps["serde"]["optional"].as_bool(), Some(true));
        assert_eq!(deps["serde"]["features"][0].as_str(), Some("derive"));
        assert_eq!(deps["serde_json"]["optional"].as_bool(), Some(true));
    }

    #[test]
    fn names_are_checked_and_nothing_is_overwritten() {
        for bad in ["", "My-Strategy", "1st", "a_b", "trailing-", "a/b"] {
            assert!(!valid_name(bad), "{bad}");
        }
        assert!(valid_name("net-30-ladder"));
        let dir = tempfile::tempdir().unwrap();
        let project = dir.path().join("p");
        let written = create(&project, "net-30", Lang::Rust).unwrap();
        assert!(written.iter().any(|p| p.ends_with("src/lib.rs")));
        let lib = std::fs::read_to_string(project.join("src/lib.rs")).unwrap();
        assert!(lib.contains("\"net-30\"") && !lib.contains("__NAME__"));
        let readme = std::fs::read_to_string(project.join("README.md")).unwrap();
        assert!(readme.contains("net_30.wasm"));
        assert!(matches!(
            create(&project, "net-30", Lang::Rust),
            Err(ScaffoldError::Exists(_))
        ));
    }
}

//! Compiled components on disk, keyed by the SHA-256 of their source bytes.
//!
//! Compiling a component is the slow part of loading it (a large guest takes
//! seconds), so the machine code is kept in the cache directory and a restart
//! loads it instead. Deserializing machine code is trusted by wasmtime, so
//! this module is the only place that does it, and only for files it wrote:
//! each artifact has a sidecar holding the SHA-256 of the artifact's bytes,
//! checked before `deserialize`. The file name also carries the engine's
//! compatibility hash, so a new wasmtime or a changed engine config never
//! reads an old artifact (it simply compiles again).

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

/// A directory of precompiled components.
#[derive(Debug)]
pub struct DiskCache {
    dir: PathBuf,
    engine_tag: String,
}

/// Feeds `Hash` output into SHA-256, for a stable engine tag.
struct ShaHasher(Sha256);

impl Hasher for ShaHasher {
    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        u64::from_le_bytes(digest[..8].try_into().unwrap_or_default())
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

impl DiskCache {
    /// A cache in `dir` (created if missing) for artifacts of `engine`.
    pub fn open(dir: &Path, engine: &Engine) -> std::io::Result<DiskCache> {
        fs::create_dir_all(dir)?;
        let mut hasher = ShaHasher(Sha256::new());
        engine.precompile_compatibility_hash().hash(&mut hasher);
        Ok(DiskCache {
            dir: dir.to_path_buf(),
            engine_tag: format!("{:016x}", hasher.finish()),
        })
    }

    fn paths(&self, source_digest: &str) -> (PathBuf, PathBuf) {
        let stem = format!("{source_digest}-{}", self.engine_tag);
        (
            self.dir.join(format!("{stem}.cwasm")),
            self.dir.join(format!("{stem}.cwasm.sha256")),
        )
    }

    /// The precompiled component for `source_digest`, if this cache holds an
    /// intact one. A missing, corrupt or foreign artifact is `None`.
    pub fn load(&self, engine: &Engine, source_digest: &str) -> Option<Component> {
        let (artifact, sidecar) = self.paths(source_digest);
        let bytes = fs::read(&artifact).ok()?;
        let expected = fs::read_to_string(&sidecar).ok()?;
        if hex::encode(Sha256::digest(&bytes)) != expected.trim() {
            // Truncated or tampered with: recompile rather than trust it.
            let _ = fs::remove_file(&artifact);
            return None;
        }
        // SAFETY: wasmtime requires that deserialized bytes were produced by
        // `Component::serialize` of a compatible engine. The bytes come from
        // our own cache directory, match the digest we recorded when we wrote
        // them, and the file name carries this engine's compatibility hash.
        unsafe { Component::deserialize(engine, &bytes) }.ok()
    }

    /// Store the compiled `component` for `source_digest`. Best effort: a
    /// cache that cannot be written only costs a recompile later.
    pub fn store(&self, source_digest: &str, component: &Component) -> std::io::Result<()> {
        let bytes = component.serialize().map_err(std::io::Error::other)?;
        let (artifact, sidecar) = self.paths(source_digest);
        // Write to temporary names and rename, so a crash never leaves a
        // half-written artifact under the real name.
        let write = |path: &Path, data: &[u8]| -> std::io::Result<()> {
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            let mut file = fs::File::create(&tmp)?;
            file.write_all(data)?;
            file.sync_all()?;
            fs::rename(&tmp, path)
        };
        write(&artifact, &bytes)?;
        write(&sidecar, hex::encode(Sha256::digest(&bytes)).as_bytes())
    }
}

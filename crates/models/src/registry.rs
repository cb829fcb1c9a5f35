//! Versioned bundles on disk, and the promoted version the server follows.
//!
//! Layout of a registry directory:
//!
//! ```text
//! REGISTRY/versions/v0001.bundle.json   one bundle file per version (copied in by `add`)
//! REGISTRY/promoted.json                {"current": "v0002", "previous": ["v0001"]}
//! ```
//!
//! `add` gives the next version name (`v0001`, `v0002`, …); `promote` makes a version current
//! (pushing the old one on `previous`); `rollback` pops back to the previously promoted one.
//! Writes are atomic (temporary file, then rename), so a watching server never reads half a
//! file. These are the operations behind `shopsense models list|show|promote|rollback`.

use crate::error::ModelError;
use crate::Bundle;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// A registry directory.
#[derive(Debug, Clone)]
pub struct Registry {
    dir: PathBuf,
}

/// What `list` and `show` tell about a version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionInfo {
    /// Version name (`v0001`).
    pub version: String,
    /// Bundle file.
    pub path: PathBuf,
    /// Model family.
    pub model_kind: String,
    /// Model name.
    pub model_name: String,
    /// Bundle creation time.
    pub created_at: String,
    /// Decision threshold.
    pub threshold: f64,
    /// Training data fingerprint.
    pub data_fingerprint: String,
    /// Whether it is the promoted version.
    pub promoted: bool,
}

/// The promotion state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Promotion {
    /// The version serving.
    pub current: Option<String>,
    /// Earlier promoted versions, oldest first (what `rollback` returns to).
    pub previous: Vec<String>,
}

fn io(path: PathBuf) -> impl FnOnce(std::io::Error) -> ModelError {
    move |e| ModelError::io(path, e)
}

fn atomic_write(path: &Path, bytes: &[u8]) -> Result<(), ModelError> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).map_err(io(tmp.clone()))?;
    std::fs::rename(&tmp, path).map_err(io(path.to_path_buf()))
}

fn valid_name(v: &str) -> bool {
    v.len() == 5 && v.starts_with('v') && v[1..].bytes().all(|b| b.is_ascii_digit())
}

impl Registry {
    /// Opens (creating when missing) a registry directory.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, ModelError> {
        let dir = dir.into();
        let versions = dir.join("versions");
        std::fs::create_dir_all(&versions).map_err(io(versions.clone()))?;
        Ok(Registry { dir })
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The bundle file of `version`.
    pub fn bundle_path(&self, version: &str) -> PathBuf {
        self.dir
            .join("versions")
            .join(format!("{version}.bundle.json"))
    }

    /// Version names, oldest first.
    pub fn versions(&self) -> Result<Vec<String>, ModelError> {
        let d = self.dir.join("versions");
        let mut out: Vec<String> = std::fs::read_dir(&d)
            .map_err(io(d.clone()))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                e.file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(".bundle.json"))
                    .filter(|v| valid_name(v))
                    .map(str::to_string)
            })
            .collect();
        out.sort();
        Ok(out)
    }

    /// Adds a bundle file (checked to load) as the next version; returns its name.
    pub fn add(&self, bundle: &Path) -> Result<String, ModelError> {
        let bytes = std::fs::read(bundle).map_err(io(bundle.to_path_buf()))?;
        Bundle::from_bytes(&bytes).map_err(|e| {
            ModelError::Invalid(format!(
                "{} is not a loadable bundle: {e}",
                bundle.display()
            ))
        })?;
        let next = self
            .versions()?
            .last()
            .and_then(|v| v[1..].parse::<u32>().ok())
            .unwrap_or(0)
            + 1;
        if next > 9999 {
            return Err(ModelError::Invalid("the registry is full (v9999)".into()));
        }
        let version = format!("v{next:04}");
        atomic_write(&self.bundle_path(&version), &bytes)?;
        Ok(version)
    }

    /// The promotion state (empty when nothing was promoted).
    pub fn promotion(&self) -> Result<Promotion, ModelError> {
        let p = self.dir.join("promoted.json");
        match std::fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| {
                ModelError::format("registry promotion file", format!("{}: {e}", p.display()))
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Promotion::default()),
            Err(e) => Err(ModelError::io(p, e)),
        }
    }

    fn set_promotion(&self, p: &Promotion) -> Result<(), ModelError> {
        let bytes = serde_json::to_vec_pretty(p)
            .map_err(|e| ModelError::format("registry promotion file", e))?;
        atomic_write(&self.dir.join("promoted.json"), &bytes)
    }

    /// The promoted version and its bundle file.
    pub fn promoted(&self) -> Result<Option<(String, PathBuf)>, ModelError> {
        Ok(self.promotion()?.current.map(|v| {
            let p = self.bundle_path(&v);
            (v, p)
        }))
    }

    fn check_exists(&self, version: &str) -> Result<(), ModelError> {
        if valid_name(version) && self.bundle_path(version).is_file() {
            Ok(())
        } else {
            Err(ModelError::Invalid(format!(
                "no version {version:?} in the registry {}",
                self.dir.display()
            )))
        }
    }

    /// Makes `version` the promoted one.
    pub fn promote(&self, version: &str) -> Result<Promotion, ModelError> {
        self.check_exists(version)?;
        let mut p = self.promotion()?;
        if p.current.as_deref() == Some(version) {
            return Ok(p);
        }
        if let Some(c) = p.current.take() {
            p.previous.push(c);
        }
        p.current = Some(version.to_string());
        self.set_promotion(&p)?;
        Ok(p)
    }

    /// Returns to the previously promoted version.
    pub fn rollback(&self) -> Result<Promotion, ModelError> {
        let mut p = self.promotion()?;
        let back = p
            .previous
            .pop()
            .ok_or_else(|| ModelError::Invalid("nothing to roll back to".into()))?;
        self.check_exists(&back)?;
        p.current = Some(back);
        self.set_promotion(&p)?;
        Ok(p)
    }

    /// Details of `version`.
    pub fn show(&self, version: &str) -> Result<VersionInfo, ModelError> {
        self.check_exists(version)?;
        let path = self.bundle_path(version);
        let b = Bundle::load(&path)?;
        let current = self.promotion()?.current;
        Ok(VersionInfo {
            version: version.to_string(),
            path,
            model_kind: b.model_kind.as_str().to_string(),
            model_name: b.model_name,
            created_at: b.created_at,
            threshold: b.threshold,
            data_fingerprint: b.data_fingerprint,
            promoted: current.as_deref() == Some(version),
        })
    }

    /// Every version, oldest first.
    pub fn list(&self) -> Result<Vec<VersionInfo>, ModelError> {
        self.versions()?.iter().map(|v| self.show(v)).collect()
    }
}

//! `husk run`'s mount options (`--volume`, `--tmpfs`), turned into
//! the Sentry's mount list and the Gofer's extra roots.

use std::path::PathBuf;

use anyhow::{bail, Context};
use sentry::{MountKind, MountSpec};

/// What `husk run` asked to mount.
pub struct RunMounts {
    /// Host paths the Gofer serves as extra roots, in index order
    /// (writable for a read-write volume).
    pub sources: Vec<gofer::ExtraRoot>,
    /// The Sentry's mounts; `None` keeps its defaults.
    pub specs: Option<Vec<MountSpec>>,
    /// The mounts asked for, without the defaults.
    pub asked: Vec<MountSpec>,
}

fn dest(s: &str, what: &str) -> anyhow::Result<Vec<u8>> {
    if !s.starts_with('/') {
        bail!("{what} {s:?}: the destination must be an absolute path");
    }
    Ok(s.as_bytes().to_vec())
}

/// Parses `--volume HOST:DEST[:ro]` and `--tmpfs DEST` into mounts over
/// the defaults (/tmp and /dev/shm; the Sentry adds its own /dev, /proc and
/// /sys), in the order given. A volume is read-write, as Docker's, unless
/// `:ro` is given: its writes reach the host directory through the Gofer,
/// and outlive the sandbox.
pub fn parse(volumes: &[String], tmpfs: &[String]) -> anyhow::Result<RunMounts> {
    if volumes.is_empty() && tmpfs.is_empty() {
        return Ok(RunMounts { sources: Vec::new(), specs: None, asked: Vec::new() });
    }
    let mut specs = sentry::default_mounts();
    let mut sources = Vec::new();
    for v in volumes {
        let mut parts = v.splitn(3, ':');
        let (Some(host), Some(d)) = (parts.next(), parts.next()) else {
            bail!("--volume {v:?}: expected HOST:DEST[:ro]");
        };
        let readonly = match parts.next() {
            None | Some("rw") => false,
            Some("ro") => true,
            Some(o) => bail!("--volume {v:?}: unknown option {o:?} (ro or rw)"),
        };
        let host = PathBuf::from(host);
        std::fs::metadata(&host).with_context(|| format!("--volume source {}", host.display()))?;
        specs.push(MountSpec {
            destination: dest(d, "--volume")?,
            kind: MountKind::Bind { source: sources.len() },
            readonly,
        });
        sources.push(gofer::ExtraRoot { path: host, hide: Vec::new(), writable: !readonly });
    }
    for t in tmpfs {
        specs.push(MountSpec {
            destination: dest(t, "--tmpfs")?,
            kind: MountKind::Tmpfs { mode: 0o1777, size: None, flags: Default::default() },
            readonly: false,
        });
    }
    let asked = specs[sentry::default_mounts().len()..].to_vec();
    Ok(RunMounts { sources, specs: Some(specs), asked })
}

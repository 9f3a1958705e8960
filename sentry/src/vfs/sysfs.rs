//! sysfs, served by the Sentry: a read-only tree with what programs look
//! for to size themselves (the CPUs online) and the empty directories
//! tools expect to find.

use std::sync::Arc;

use super::synth::{static_tree, SynthFs};
use super::Dentry;

/// sysfs's `f_type`.
pub const SYSFS_MAGIC: i64 = 0x6265_6572;

/// A sandbox's resource limits, for the cgroup v2 view at /sys/fs/cgroup
/// (the root cgroup of the sandbox: `/proc/PID/cgroup` says `0::/`).
/// `None` is no limit ("max").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CgroupLimits {
    /// memory.max, in bytes.
    pub memory_max: Option<u64>,
    /// pids.max.
    pub pids_max: Option<u64>,
    /// cpu.max: quota and period, in microseconds.
    pub cpu_max: Option<(u64, u64)>,
    /// cpu.weight (1..10000; 100 by default).
    pub cpu_weight: Option<u64>,
}

/// The files of /sys/fs/cgroup for `limits`, as cgroup v2 prints them.
fn cgroup_files(limits: &CgroupLimits) -> Vec<(String, Vec<u8>)> {
    let max = |v: Option<u64>| v.map_or("max\n".to_string(), |v| format!("{v}\n"));
    let cpu_max = match limits.cpu_max {
        Some((quota, period)) => format!("{quota} {period}\n"),
        None => "max 100000\n".to_string(),
    };
    [
        ("cgroup.controllers", "cpu memory pids\n".to_string()),
        ("cgroup.subtree_control", String::new()),
        ("memory.max", max(limits.memory_max)),
        ("memory.high", "max\n".to_string()),
        ("memory.swap.max", "0\n".to_string()),
        ("pids.max", max(limits.pids_max)),
        ("cpu.max", cpu_max),
        ("cpu.weight", format!("{}\n", limits.cpu_weight.unwrap_or(100))),
    ]
    .into_iter()
    .map(|(name, text)| (format!("fs/cgroup/{name}"), text.into_bytes()))
    .collect()
}

/// A new sysfs for a sandbox with `ncpus` CPUs and `limits`; returns its
/// root.
pub fn new(ncpus: usize, limits: &CgroupLimits) -> Arc<Dentry> {
    let fs = SynthFs::new(SYSFS_MAGIC);
    let range = match ncpus.max(1) {
        1 => "0\n".to_string(),
        n => format!("0-{}\n", n - 1),
    };
    let cpu = |name: &str| (format!("devices/system/cpu/{name}"), range.clone().into_bytes());
    let mut files = vec![cpu("online"), cpu("possible"), cpu("present")];
    files.extend(cgroup_files(limits));
    let files: Vec<(&str, Vec<u8>)> = files.iter().map(|(p, d)| (p.as_str(), d.clone())).collect();
    let root = static_tree(&fs, &files, &["class", "kernel", "bus", "dev/block", "dev/char"]);
    super::synth::new_root(root)
}

#[cfg(test)]
mod tests {
    use super::super::synth::SynthFile;
    use super::super::{Follow, Vfs};

    #[test]
    fn cpu_ranges_and_empty_dirs() {
        let limits = super::CgroupLimits { memory_max: Some(1 << 30), ..Default::default() };
        let vfs = Vfs::with_root(super::new(4, &limits));
        let root = vfs.root().clone();
        for name in ["online", "possible", "present"] {
            let d = vfs.resolve(&root, &root, format!("/devices/system/cpu/{name}").as_bytes(), Follow::Yes).unwrap();
            let f = SynthFile::open(d.synth().unwrap()).unwrap();
            assert_eq!(f.contents().unwrap(), b"0-3\n");
        }
        for dir in ["/fs/cgroup", "/class", "/kernel"] {
            assert!(vfs.resolve(&root, &root, dir.as_bytes(), Follow::Yes).unwrap().is_dir());
        }
        for (name, text) in [("memory.max", "1073741824\n"), ("pids.max", "max\n"), ("cpu.max", "max 100000\n")] {
            let d = vfs.resolve(&root, &root, format!("/fs/cgroup/{name}").as_bytes(), Follow::Yes).unwrap();
            assert_eq!(SynthFile::open(d.synth().unwrap()).unwrap().contents().unwrap(), text.as_bytes());
        }
        let one = Vfs::with_root(super::new(1, &Default::default()));
        let r = one.root().clone();
        let d = one.resolve(&r, &r, b"/devices/system/cpu/online", Follow::Yes).unwrap();
        assert_eq!(SynthFile::open(d.synth().unwrap()).unwrap().contents().unwrap(), b"0\n");
    }
}

//! sysfs, served by the Sentry: a read-only tree with what programs look
//! for to size themselves (the CPUs online) and the empty directories
//! tools expect to find.

use std::sync::Arc;

use super::synth::{static_tree, SynthFs};
use super::Dentry;

/// sysfs's `f_type`.
pub const SYSFS_MAGIC: i64 = 0x6265_6572;

/// A new sysfs for a sandbox with `ncpus` CPUs; returns its root.
pub fn new(ncpus: usize) -> Arc<Dentry> {
    let fs = SynthFs::new(SYSFS_MAGIC);
    let range = match ncpus.max(1) {
        1 => "0\n".to_string(),
        n => format!("0-{}\n", n - 1),
    };
    let cpu = |name: &str| (format!("devices/system/cpu/{name}"), range.clone().into_bytes());
    let files = [cpu("online"), cpu("possible"), cpu("present")];
    let files: Vec<(&str, Vec<u8>)> = files.iter().map(|(p, d)| (p.as_str(), d.clone())).collect();
    let root = static_tree(&fs, &files, &["fs/cgroup", "class", "kernel", "bus", "dev/block", "dev/char"]);
    super::synth::new_root(root)
}

#[cfg(test)]
mod tests {
    use super::super::synth::SynthFile;
    use super::super::{Follow, Vfs};

    #[test]
    fn cpu_ranges_and_empty_dirs() {
        let vfs = Vfs::with_root(super::new(4));
        let root = vfs.root().clone();
        for name in ["online", "possible", "present"] {
            let d = vfs.resolve(&root, &root, format!("/devices/system/cpu/{name}").as_bytes(), Follow::Yes).unwrap();
            let f = SynthFile::open(d.synth().unwrap()).unwrap();
            assert_eq!(f.contents().unwrap(), b"0-3\n");
        }
        for dir in ["/fs/cgroup", "/class", "/kernel"] {
            assert!(vfs.resolve(&root, &root, dir.as_bytes(), Follow::Yes).unwrap().is_dir());
        }
        let one = Vfs::with_root(super::new(1));
        let r = one.root().clone();
        let d = one.resolve(&r, &r, b"/devices/system/cpu/online", Follow::Yes).unwrap();
        assert_eq!(SynthFile::open(d.synth().unwrap()).unwrap().contents().unwrap(), b"0\n");
    }
}

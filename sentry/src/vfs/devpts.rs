//! devpts, at /dev/pts: `ptmx`, and a device node N for each
//! pseudo-terminal whose master is open ([`crate::kernel::pty`]). Every
//! mount shows the sandbox's one instance, as `newinstance` mounts in a
//! container do. Nothing can be made or removed here.

use std::sync::Arc;

use super::devfs::makedev;
use super::synth::{SynthDir, SynthNode};
use super::Dentry;
use crate::kernel::pty::{Pty, PtyRegistry, PTMX_INO, PTMX_MODE};

/// /dev/pts's directory.
struct PtsDir {
    ptys: Arc<PtyRegistry>,
}

impl PtsDir {
    fn ptmx(&self) -> SynthNode {
        SynthNode::device(&self.ptys.fs, PTMX_INO, PTMX_MODE, makedev(5, 2))
    }

    fn pty_node(&self, pty: &Pty) -> SynthNode {
        let a = pty.node_attr();
        SynthNode::device(&self.ptys.fs, a.ino, a.mode & 0o7777, a.rdev).owned(a.uid, a.gid)
    }
}

impl SynthDir for PtsDir {
    fn entries(&self) -> Vec<(Vec<u8>, SynthNode)> {
        let mut out = vec![(b"ptmx".to_vec(), self.ptmx())];
        for tty in self.ptys.list() {
            let Some(pty) = tty.pty() else { continue };
            out.push((pty.index().to_string().into_bytes(), self.pty_node(pty)));
        }
        out
    }

    fn lookup(&self, name: &[u8]) -> Option<SynthNode> {
        if name == b"ptmx" {
            return Some(self.ptmx());
        }
        // Only canonical numbers name a pty ("01" does not).
        let index: u32 =
            std::str::from_utf8(name).ok().filter(|s| !s.starts_with('0') || s.len() == 1)?.parse().ok()?;
        let tty = self.ptys.get(index)?;
        Some(self.pty_node(tty.pty()?))
    }
}

/// The root of a devpts mount over `ptys`.
pub fn new_root(ptys: Arc<PtyRegistry>) -> Arc<Dentry> {
    let fs = ptys.fs.clone();
    super::synth::new_root(SynthNode::dir(&fs, 1, 0o755, Arc::new(PtsDir { ptys })))
}

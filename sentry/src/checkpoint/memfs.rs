//! The contents of the sandbox's tmpfs mounts in a checkpoint: each
//! mount's tree of names over its inodes (hard links once), and each
//! inode's attributes and pages, which the memory file, restored at the
//! same offsets, still holds.

use std::collections::HashMap;
use std::sync::Arc;

use super::image::{TmpfsEntry, TmpfsImage};
use super::{CheckpointError, RestoreError};
use crate::vfs::tmpfs::{FsKind, MemFs};
use crate::vfs::{Dentry, Follow, Vfs};

/// The most entries one tmpfs may bring back.
const MAX_ENTRIES: usize = 1 << 22;

/// Every tmpfs mount's contents.
pub fn save(vfs: &Vfs) -> Result<Vec<TmpfsImage>, CheckpointError> {
    let mut out = Vec::new();
    for (root, fs) in vfs.memory_filesystems() {
        // One the app has not written to is as the boot made it (empty,
        // or a view the Sentry fills itself), and comes back as such.
        if root.overlay().is_some() || fs.kind() != FsKind::Tmpfs || !fs.changed_since_baseline() {
            continue;
        }
        let unsupported = |what: &str| CheckpointError::Unsupported(what.to_owned());
        let root_inode = root.inode().ok_or_else(|| unsupported("a tmpfs without a root inode"))?;
        let mut inodes = vec![root_inode.checkpoint_state().map_err(unsupported)?];
        let mut seen: HashMap<u64, usize> = HashMap::new();
        let mut entries = Vec::new();
        // Breadth first, each directory's entries in their getdents order.
        let mut dirs: Vec<(u32, Arc<Dentry>)> = vec![(u32::MAX, root.clone())];
        while let Some((parent, dir)) = dirs.pop() {
            let kids: Vec<Arc<Dentry>> = dir.children().order.values().cloned().collect();
            for child in kids {
                let inode = child.inode().ok_or_else(|| unsupported("a tmpfs entry without an inode"))?;
                let index = match seen.get(&inode.ino) {
                    Some(&i) => i,
                    None => {
                        inodes.push(inode.checkpoint_state().map_err(unsupported)?);
                        seen.insert(inode.ino, inodes.len() - 1);
                        inodes.len() - 1
                    }
                };
                entries.push(TmpfsEntry { parent, name: child.name(), inode: index });
                if child.is_dir() {
                    dirs.push((entries.len() as u32 - 1, child));
                }
            }
        }
        out.push(TmpfsImage { point: vfs.path_of(&root), inodes, entries });
    }
    Ok(out)
}

/// Fills the freshly booted tmpfs mounts again; every page must lie below
/// `tail`, the memory file's end.
pub fn restore(vfs: &Vfs, images: &[TmpfsImage], tail: u64) -> Result<(), RestoreError> {
    let bad = |what: String| RestoreError::Inconsistent(what);
    for img in images {
        let point = String::from_utf8_lossy(&img.point).into_owned();
        let root = vfs
            .resolve(vfs.root(), vfs.root(), &img.point, Follow::Yes)
            .map_err(|errno| RestoreError::Reopen { path: point.clone(), errno })?;
        let fs: Arc<MemFs> = match root.inode() {
            Some(i) if i.fs.kind() == FsKind::Tmpfs && i.fs.inodes_used() == 1 => i.fs.clone(),
            _ => return Err(bad(format!("{point} is not a fresh tmpfs in the bundle's mounts"))),
        };
        if img.entries.len() > MAX_ENTRIES {
            return Err(bad(format!("{point}: too many entries")));
        }
        let root_state = img.inodes.first().ok_or_else(|| bad(format!("{point}: no root inode")))?;
        if let Some(i) = root.inode() {
            i.restore_attributes(root_state);
        }
        let mut made: HashMap<usize, Arc<crate::vfs::tmpfs::Inode>> = HashMap::new();
        let mut dentries: Vec<Arc<Dentry>> = Vec::with_capacity(img.entries.len());
        for (n, e) in img.entries.iter().enumerate() {
            let parent = match e.parent {
                u32::MAX => root.clone(),
                p if (p as usize) < n => dentries[p as usize].clone(),
                _ => return Err(bad(format!("{point}: an entry before its directory"))),
            };
            let valid_name = !e.name.is_empty() && !e.name.contains(&b'/') && e.name != b"." && e.name != b"..";
            if !parent.is_dir() || !valid_name || e.inode == 0 {
                return Err(bad(format!("{point}: a misplaced entry")));
            }
            let inode = match made.get(&e.inode) {
                Some(i) if i.attr().mode & abi::flags::mode::S_IFMT == abi::flags::mode::S_IFDIR => {
                    return Err(bad(format!("{point}: a directory with two names")));
                }
                Some(i) => i.clone(),
                None => {
                    let s = img.inodes.get(e.inode).ok_or_else(|| bad(format!("{point}: an inode")))?;
                    if s.pages.iter().any(|&(_, off)| off.checked_add(abi::PAGE_SIZE).is_none_or(|e| e > tail)) {
                        return Err(bad(format!("{point}: a page past the memory file's end")));
                    }
                    let i = fs.restore_inode(s).map_err(|_| bad(format!("{point}: inode {}", s.ino)))?;
                    made.insert(e.inode, i.clone());
                    i
                }
            };
            let d = Dentry::new_mem(&e.name, inode);
            let mut kids = parent.children();
            if kids.map.get(&e.name).is_some_and(|c| c.is_some()) {
                return Err(bad(format!("{point}: a name twice in one directory")));
            }
            parent.attach(&mut kids, &e.name, &d);
            drop(kids);
            dentries.push(d);
        }
    }
    Ok(())
}

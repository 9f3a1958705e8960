//! The root as an overlay, after Linux's overlayfs: the Gofer's read-only
//! tree below, and above it an in-Sentry tmpfs (the upper layer) that holds
//! every change, so the host's directory is never written.
//!
//! A rootfs dentry names its lower file until something changes it: then
//! it is copied up ([`copy_up`]), its ancestors first. The copy keeps the
//! mode, owner, times and inode number, and from then on the dentry is an
//! in-Sentry file, which tmpfs changes as it changes any other (see
//! [`Dentry::node`]). A directory keeps its lower directory beneath its
//! copy, whose names show through unless the directory's own child map
//! says otherwise: a name removed from a directory over a lower one stays
//! in the map as a negative entry, a whiteout. A directory made anew (after
//! the old one was removed, say) has no lower directory: it is opaque.
//!
//! As in overlayfs without `redirect_dir`, renaming a directory that has a
//! lower one fails with EXDEV (`mv` then copies it), and hard links to a
//! lower file are made to its copy. Files opened before their copy-up go on
//! reading the lower file.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex};

use abi::flags::mode::{S_IFDIR, S_IFIFO, S_IFLNK, S_IFMT, S_IFREG, S_IFSOCK};
use abi::Errno;
use gofer::{DirEntry, Fid, GoferClient};

use super::pipe::Pipe;
use super::tmpfs::{InodeKind, MemFs, Pages};
use super::{gofer_errno, Dentry, Node};
use crate::mm::{MemoryFile, SysResult};

/// An overlay root's upper layer, and how to read its lower one.
pub struct Overlay {
    /// The upper layer: copies of changed files, and new files.
    pub fs: Arc<MemFs>,
    gofer: Arc<GoferClient>,
    /// The lower root, opened (a donated fd), for statfs.
    lower_root: Option<OwnedFd>,
    /// One copy-up at a time, so that a file is copied once.
    copying: Mutex<()>,
}

impl Overlay {
    /// An overlay whose copies live in `mf`, over the Gofer's root `root`
    /// (on device `dev`).
    pub fn new(mf: Arc<MemoryFile>, gofer: Arc<GoferClient>, root: Fid, dev: u64) -> Arc<Overlay> {
        let lower_root = gofer.open(root, abi::flags::open::O_RDONLY).ok();
        Arc::new(Overlay { fs: MemFs::new_upper(mf, dev), gofer, lower_root, copying: Mutex::new(()) })
    }

    /// statfs's space figures for the overlay: the lower filesystem's, as
    /// Docker's overlay root reports the host disk it lives on (the upper
    /// layer here is memory, counted in the tmpfs limit). Zero when the
    /// lower root could not be opened.
    pub fn space(&self) -> (u64, u64, u64, u64, u64, u64) {
        self.lower_root.as_ref().and_then(|fd| crate::sys::fstatfs(fd.as_raw_fd()).ok()).unwrap_or_default()
    }
}

/// Makes `d` changeable: a lower file of an overlay root is copied up (its
/// ancestors first); an in-Sentry file needs nothing. EROFS for a file of
/// the Gofer's other trees (or of a read-only root), ENOSPC when the upper
/// layer is full.
pub fn copy_up(d: &Arc<Dentry>) -> SysResult<()> {
    if d.upper.get().is_some() {
        return Ok(());
    }
    let Node::Gofer { fid, attr, link_target, .. } = &d.node else { return Ok(()) };
    let ov = d.overlay.as_ref().ok_or(Errno::EROFS)?;
    if let Some(parent) = d.parent() {
        copy_up(&parent)?;
    }
    let _one = ov.copying.lock().unwrap_or_else(|e| e.into_inner());
    if d.upper.get().is_some() {
        return Ok(());
    }
    let kind = match attr.mode & S_IFMT {
        S_IFDIR => InodeKind::Dir,
        S_IFREG => {
            let fd = ov.gofer.open(*fid, abi::flags::open::O_RDONLY).map_err(gofer_errno)?;
            match ov.fs.on_disk() {
                Some(store) => {
                    let data = store.new_file()?;
                    data.fill_from(fd.as_raw_fd(), attr.size)?;
                    InodeKind::Disk(data)
                }
                None => InodeKind::Regular(Mutex::new(Pages::from_fd(&ov.fs, fd.as_raw_fd(), attr.size)?)),
            }
        }
        S_IFLNK => {
            let target = match link_target.get() {
                Some(t) => t.clone(),
                None => ov.gofer.readlink(*fid).map_err(gofer_errno)?,
            };
            InodeKind::Symlink(target)
        }
        S_IFIFO => InodeKind::Fifo(Pipe::new_fifo()),
        S_IFSOCK => InodeKind::Socket,
        _ => InodeKind::Device,
    };
    let inode = ov.fs.copy_inode(kind, attr);
    // The user. attributes come along (regular files and directories have
    // them).
    if matches!(attr.mode & S_IFMT, S_IFREG | S_IFDIR) {
        *inode.xattrs.lock().unwrap_or_else(|e| e.into_inner()) = super::xattr::lower_user_xattrs(&ov.gofer, *fid);
    }
    let _ = d.upper.set(Node::Mem(inode));
    Ok(())
}

/// Whether `d` is a directory with a lower one (copied up or not), which
/// overlayfs does not rename.
pub fn has_lower_dir(d: &Dentry) -> bool {
    d.is_dir() && d.overlay.is_some() && d.lower_fid().is_some()
}

/// The entries of the directory `d` as the overlay shows them: its lower
/// directory's, less the whiteouts, with the names its child map holds
/// (new, copied up, or moved in) as they are now. `lower` lists the lower
/// directory. Sorted by name after the lower entries, for a stable order.
pub fn merged_entries(d: &Dentry, lower: Vec<DirEntry>) -> Vec<DirEntry> {
    use abi::flags::mode::dtype;
    let kids = d.children();
    let mut out: Vec<DirEntry> = lower
        .into_iter()
        .filter_map(|e| match kids.map.get(&e.name) {
            // A whiteout (or a negative lookup: then the lower file is gone).
            Some(None) => None,
            Some(Some(c)) => Some(DirEntry { name: e.name, ino: c.attr().ino, dtype: dtype(c.file_type()) }),
            None => Some(e),
        })
        .collect();
    let mut extra: Vec<DirEntry> = kids
        .map
        .iter()
        .filter_map(|(name, c)| {
            let c = c.as_ref()?;
            (!out.iter().any(|e| &e.name == name)).then(|| DirEntry {
                name: name.clone(),
                ino: c.attr().ino,
                dtype: dtype(c.file_type()),
            })
        })
        .collect();
    drop(kids);
    extra.sort_by(|a, b| a.name.cmp(&b.name));
    out.extend(extra);
    out
}

/// Whether the directory `d` is empty as the overlay shows it (for rmdir,
/// and a rename over it).
pub fn is_empty(d: &Dentry, gofer: &GoferClient) -> SysResult<bool> {
    let lower = match d.lower_fid() {
        Some(fid) => gofer.getdents(fid).map_err(gofer_errno)?,
        None => Vec::new(),
    };
    let lower: Vec<DirEntry> = lower.into_iter().filter(|e| e.name != b"." && e.name != b"..").collect();
    Ok(merged_entries(d, lower).is_empty())
}

/// The overlay's copy of `d`, once it was copied up (for a checkpoint).
pub fn copy_of(d: &Dentry) -> Option<&Arc<super::tmpfs::Inode>> {
    match d.upper.get() {
        Some(Node::Mem(i)) => Some(i),
        _ => None,
    }
}

/// Whether `d` was made in the overlay itself, over no lower file.
pub fn made_here(d: &Dentry) -> bool {
    matches!(d.node, Node::Mem(_))
}

/// Gives `d`, a lower file found again by a restore, its copy; false if it
/// has one already.
pub fn restore_copy(d: &Dentry, inode: Arc<super::tmpfs::Inode>) -> bool {
    d.upper.set(Node::Mem(inode)).is_ok()
}

/// Puts `child` in `dir` as `name` (a restore), over whatever name the
/// boot cached there.
pub fn restore_entry(dir: &Arc<Dentry>, name: &[u8], child: &Arc<Dentry>) {
    let mut kids = dir.children();
    forget_cached(&mut kids, name);
    dir.attach(&mut kids, name, child);
}

/// Takes the name `name` out of `dir` (an in-memory directory made at
/// boot that a restore finds without it).
pub fn restore_removal(dir: &Arc<Dentry>, name: &[u8]) {
    forget_cached(&mut dir.children(), name);
}

/// Hides the lower file `name` of `dir` (a restored whiteout).
pub fn restore_whiteout(dir: &Dentry, name: &[u8]) {
    let mut kids = dir.children();
    forget_cached(&mut kids, name);
    kids.map.insert(name.to_vec(), None);
}

fn forget_cached(kids: &mut super::Children, name: &[u8]) {
    if let Some(Some(old)) = kids.map.remove(name) {
        let pos = old.place().pos;
        if kids.order.get(&pos).is_some_and(|c| Arc::ptr_eq(c, &old)) {
            kids.order.remove(&pos);
        }
    }
}

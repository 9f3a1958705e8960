//! The contents of the sandbox's memory filesystems in a checkpoint: each
//! tmpfs mount's tree of names over its inodes (hard links once), and what
//! each overlay's upper layer holds (its copied-up directories, the files
//! made or changed there, its whiteouts). Each inode keeps its attributes
//! and pages, which the memory file, restored at the same offsets, still
//! holds.
//!
//! An overlay's changed file comes back as a file of the upper layer alone,
//! not over its lower file: it no longer shows the lower file's bytes, and
//! a copy made by a rename has no lower file of its name anyway. A copied-up
//! directory comes back over the lower directory of its name, which must
//! still be there (overlayfs does not rename directories with lower ones).

use abi::Errno;
use std::collections::HashMap;
use std::os::fd::RawFd;
use std::sync::Arc;

use super::image::{EntryKind, InodeImage, MountImage, TmpfsEntry, TmpfsImage};
use super::{CheckpointError, RestoreError};
use crate::vfs::diskstore::{DiskCopy, DiskData};
use crate::vfs::mount::Origin;
use crate::vfs::overlay;
use crate::vfs::tmpfs::{FsKind, Inode, MemFs};
use crate::vfs::{Dentry, Follow, Vfs};

/// The most entries one tmpfs may bring back.
const MAX_ENTRIES: usize = 1 << 22;

fn unsupported(what: &str) -> CheckpointError {
    CheckpointError::Unsupported(what.to_owned())
}

/// The image's disk file: where the data of an overlay's files on disk
/// goes (`husk run --overlay disk:DIR`, or the `dev.husk.overlay`
/// annotation), rather than into the memory image.
pub struct DiskOut {
    fd: RawFd,
    /// Where the next file's data goes.
    at: u64,
    /// Each file copied, by its host file's key: its inode's address.
    pub by_key: HashMap<(u64, u64), usize>,
}

impl DiskOut {
    /// The image's disk file `fd`, empty.
    pub fn new(fd: RawFd) -> DiskOut {
        DiskOut { fd, at: 0, by_key: HashMap::new() }
    }

    /// The bytes written.
    pub fn written(&self) -> u64 {
        self.at
    }

    /// Copies an on-disk file's data into the image.
    fn copy(&mut self, inode: &Arc<Inode>, data: &DiskData) -> Result<DiskCopy, CheckpointError> {
        let copy = data
            .copy_out(self.fd, self.at)
            .map_err(|e| CheckpointError::Io(format!("copying a file of an overlay on disk: {e}")))?;
        self.at += copy.stored();
        self.by_key.insert(data.key(), address(Arc::as_ptr(inode).cast()));
        Ok(copy)
    }
}

/// One filesystem's tree as it is written: inodes once each, names in an
/// order where each directory comes before its names.
#[derive(Default)]
struct Tree<'d> {
    /// Where the data of files on disk goes; `None`: such a file is
    /// refused.
    disk: Option<&'d mut DiskOut>,
    inodes: Vec<InodeImage>,
    seen: HashMap<u64, usize>,
    entries: Vec<TmpfsEntry>,
    /// Each inode's index, by its address (for mappings of it).
    by_address: HashMap<usize, usize>,
    /// Inodes with no name.
    nameless: Vec<usize>,
}

/// The inodes a checkpoint wrote, by address: (filesystem, inode), as
/// [`super::image::BackingImage::MemFile`] names them.
pub type InodeIndex = HashMap<usize, (usize, usize)>;

/// An inode's address, as [`InodeIndex`] keys it.
pub fn address(p: *const ()) -> usize {
    p as usize
}

impl<'d> Tree<'d> {
    fn new(disk: Option<&'d mut DiskOut>) -> Tree<'d> {
        Tree { disk, ..Tree::default() }
    }

    /// The index of `inode`'s state, written once.
    fn inode(&mut self, inode: &Arc<Inode>) -> Result<usize, CheckpointError> {
        if let Some(&i) = self.seen.get(&inode.ino) {
            return Ok(i);
        }
        let mut state = inode.checkpoint_state();
        if let Some(data) = inode.disk_data() {
            let out = self.disk.as_deref_mut().ok_or_else(|| unsupported("a file of an overlay on disk"))?;
            state.disk = Some(out.copy(inode, data)?);
        }
        self.inodes.push(state);
        self.seen.insert(inode.ino, self.inodes.len() - 1);
        self.by_address.insert(address(Arc::as_ptr(inode).cast()), self.inodes.len() - 1);
        Ok(self.inodes.len() - 1)
    }

    /// Adds a name; returns its entry's index.
    fn entry(&mut self, parent: u32, name: Vec<u8>, inode: usize, kind: EntryKind) -> u32 {
        self.entries.push(TmpfsEntry { parent, name, inode, kind });
        self.entries.len() as u32 - 1
    }

    /// Adds the names beneath `dir`, a directory of in-Sentry files whose
    /// entry is `parent`, in their getdents order.
    fn own_subtree(&mut self, parent: u32, dir: Arc<Dentry>) -> Result<(), CheckpointError> {
        let mut dirs = vec![(parent, dir)];
        while let Some((parent, dir)) = dirs.pop() {
            let kids: Vec<Arc<Dentry>> = dir.children().order.values().cloned().collect();
            for child in kids {
                let inode = child.inode().ok_or_else(|| unsupported("a tmpfs entry without an inode"))?;
                let index = self.inode(inode)?;
                let at = self.entry(parent, child.name(), index, EntryKind::Own);
                if child.is_dir() {
                    dirs.push((at, child));
                }
            }
        }
        Ok(())
    }

    /// Adds the inodes of `unlinked` that are `fs`'s (no name leads to
    /// them; open files or mappings hold them).
    fn unlinked(&mut self, fs: &Arc<MemFs>, unlinked: &[Arc<Inode>]) -> Result<(), CheckpointError> {
        for inode in unlinked.iter().filter(|i| Arc::ptr_eq(&i.fs, fs)) {
            let index = self.inode(inode)?;
            self.nameless.push(index);
        }
        Ok(())
    }

    fn image(self, point: Vec<u8>, overlay: bool) -> TmpfsImage {
        TmpfsImage { point, mount: None, overlay, inodes: self.inodes, entries: self.entries, unlinked: self.nameless }
    }
}

/// The mount point [`TmpfsImage`] gives the filesystem of memfds, which is
/// mounted nowhere (no path is absolute without a colon).
pub const MEMFD_POINT: &[u8] = b"memfd:";
/// The same for the filesystem of System V shared-memory segments (of the
/// sandbox's first IPC namespace).
pub const SYSV_SHM_POINT: &[u8] = b"sysv-shm:";

/// [`SYSV_SHM_POINT`] for the IPC namespace at `index` among those the app
/// made.
pub fn sysv_shm_point(index: usize) -> Vec<u8> {
    format!("sysv-shm:{index}").into_bytes()
}
/// The same for the copies of host files deleted while open or mapped.
pub const GHOST_POINT: &[u8] = b"deleted:";

/// A filesystem mounted nowhere, whose files no name leads to (memfds,
/// System V segments), and the mount point its image is given.
pub type Nameless<'a> = (&'a [u8], &'a Arc<MemFs>);

/// Every tmpfs mount's contents, and every overlay's changes, with the
/// `unlinked` inodes of each (files no name leads to that open files
/// hold), and those of the `nameless` filesystems among `unlinked`; and
/// the index of the inodes written. `mounts` gives the mounts the app made
/// by their roots' dentry ids.
pub fn save(
    vfs: &Vfs,
    nameless: &[Nameless<'_>],
    unlinked: &[Arc<Inode>],
    mounts: &HashMap<u64, usize>,
    mut disk: Option<&mut DiskOut>,
) -> Result<(Vec<TmpfsImage>, InodeIndex), CheckpointError> {
    let mut out = Vec::new();
    let mut index = InodeIndex::new();
    for (point, fs) in nameless {
        if unlinked.iter().any(|i| Arc::ptr_eq(&i.fs, fs)) {
            // No root: index 0 stands for one, as every image's first inode.
            let mut tree = Tree::new(disk.as_deref_mut());
            tree.inodes.push(InodeImage::default());
            tree.unlinked(fs, unlinked)?;
            index.extend(tree.by_address.iter().map(|(&a, &i)| (a, (out.len(), i))));
            out.push(tree.image(point.to_vec(), false));
        }
    }
    for (root, fs) in vfs.memory_filesystems() {
        if root.overlay().is_some() {
            if let Some(mut tree) = save_overlay(vfs, &root, disk.as_deref_mut())? {
                tree.unlinked(&fs, unlinked)?;
                index.extend(tree.by_address.iter().map(|(&a, &i)| (a, (out.len(), i))));
                out.push(tree.image(vfs.path_of(&root), true));
            }
            continue;
        }
        // A tmpfs the app has not written to is as the boot made it
        // (empty, or a view the Sentry fills itself), and comes back as
        // such. The device filesystem is saved whole (a few names), and a
        // restore makes the boot's into it (see `restore_one`).
        if fs.kind() == FsKind::Tmpfs && !fs.changed_since_baseline() {
            continue;
        }
        let root_inode = root.inode().ok_or_else(|| unsupported("a tmpfs without a root inode"))?;
        let mut tree = Tree::new(disk.as_deref_mut());
        tree.inode(root_inode)?;
        tree.own_subtree(u32::MAX, root.clone())?;
        tree.unlinked(&fs, unlinked)?;
        index.extend(tree.by_address.iter().map(|(&a, &i)| (a, (out.len(), i))));
        let mut image = tree.image(vfs.path_of(&root), false);
        image.mount = mounts.get(&root.id()).copied();
        out.push(image);
    }
    Ok((out, index))
}

/// What the upper layer of the overlay rooted at `root` holds; `None` if
/// nothing was changed (every change copies the root up first).
fn save_overlay<'d>(
    vfs: &Vfs,
    root: &Arc<Dentry>,
    disk: Option<&'d mut DiskOut>,
) -> Result<Option<Tree<'d>>, CheckpointError> {
    let Some(root_copy) = overlay::copy_of(root) else { return Ok(None) };
    let mut tree = Tree::new(disk);
    tree.inode(root_copy)?;
    let mut dirs = vec![(u32::MAX, root.clone())];
    while let Some((parent, dir)) = dirs.pop() {
        let kids: Vec<(Vec<u8>, Option<Arc<Dentry>>)> = {
            let k = dir.children();
            let mut v: Vec<_> = k.map.iter().map(|(n, c)| (n.clone(), c.clone())).collect();
            v.sort_by(|a, b| a.0.cmp(&b.0));
            v
        };
        // The lower names and their inodes, to tell a whiteout from a name
        // looked up and not found, and a lower file from one moved here.
        let mut lower: Option<HashMap<Vec<u8>, u64>> = None;
        for (name, child) in kids {
            let names = match &mut lower {
                Some(n) => n,
                None => lower.insert(lower_names(vfs, &dir)?),
            };
            let Some(child) = child else {
                if names.contains_key(&name) {
                    tree.entry(parent, name, 0, EntryKind::Whiteout);
                }
                continue;
            };
            if child.is_rootfs() && !child.is_dir() && names.get(&name) != Some(&child.attr().ino) {
                // A lower file renamed (a rename moves it uncopied): the
                // restore would not find it by this name, so it is copied
                // up now, which the app cannot tell.
                crate::vfs::overlay::copy_up(&child)
                    .map_err(|e| CheckpointError::Io(format!("copying up a renamed rootfs file: {e}")))?;
            }
            if let Some(copy) = overlay::copy_of(&child) {
                let index = tree.inode(copy)?;
                if child.is_dir() {
                    let at = tree.entry(parent, name, index, EntryKind::CopiedDir);
                    dirs.push((at, child));
                } else {
                    tree.entry(parent, name, index, EntryKind::Own);
                }
            } else if overlay::made_here(&child) {
                let inode = child.inode().ok_or_else(|| unsupported("an overlay entry without an inode"))?;
                let index = tree.inode(inode)?;
                let at = tree.entry(parent, name, index, EntryKind::Own);
                if child.is_dir() {
                    tree.own_subtree(at, child)?;
                }
            }
            // Else a lower file as it is, which the restore finds again.
        }
    }
    Ok(Some(tree))
}

/// The names in `dir`'s lower directory, with their inode numbers.
fn lower_names(vfs: &Vfs, dir: &Dentry) -> Result<HashMap<Vec<u8>, u64>, CheckpointError> {
    let (Some(fid), Some(gofer)) = (dir.lower_fid(), vfs.gofer()) else { return Ok(HashMap::new()) };
    let entries = gofer.getdents(fid).map_err(|e| CheckpointError::Io(format!("listing a lower directory: {e}")))?;
    Ok(entries.into_iter().map(|e| (e.name, e.ino)).collect())
}

/// Fills the freshly booted tmpfs mounts and overlays again, and the
/// `nameless` filesystems; makes the mounts the app made again (after the
/// filesystems they are in are filled), each tmpfs filled as soon as it is
/// mounted; every page must lie below `src.tail`, the memory file's end.
/// Returns each image's inodes, by index, for the files and mappings of
/// them.
pub fn restore(
    kernel: &Arc<crate::kernel::Kernel>,
    nameless: &[Nameless<'_>],
    images: &[TmpfsImage],
    mounts: &[MountImage],
    src: &Source,
) -> Result<Vec<HashMap<usize, Arc<Inode>>>, RestoreError> {
    let vfs = &kernel.vfs;
    let bad = |what: String| RestoreError::Inconsistent(what);
    let mut all: Vec<Option<HashMap<usize, Arc<Inode>>>> = images.iter().map(|_| None).collect();
    for (boot, m) in mounts.iter().filter(|m| m.record.origin == Origin::Boot).enumerate() {
        vfs.replay_boot_flags(boot, &m.record)
            .map_err(|_| bad(format!("the boot mount at {}", path(&m.record.point))))?;
    }
    for (i, img) in images.iter().enumerate() {
        if img.mount.is_none() {
            all[i] = Some(restore_one(vfs, nameless, img, src)?);
        }
    }
    for (m, mount) in mounts.iter().enumerate().filter(|(_, m)| m.record.origin != Origin::Boot) {
        vfs.replay_mount(kernel, mount.record.clone(), &mount.bind_source)
            .map_err(|errno| RestoreError::Reopen { path: path(&mount.record.point), errno })?;
        for (i, img) in images.iter().enumerate() {
            if img.mount == Some(m) {
                all[i] = Some(restore_one(vfs, nameless, img, src)?);
            }
        }
    }
    all.into_iter().map(|a| a.ok_or_else(|| bad("a tmpfs of no mount".into()))).collect()
}

fn path(p: &[u8]) -> String {
    String::from_utf8_lossy(p).into_owned()
}

/// Fills one filesystem of a checkpoint again.
fn restore_one(
    vfs: &Vfs,
    nameless: &[Nameless<'_>],
    img: &TmpfsImage,
    src: &Source,
) -> Result<HashMap<usize, Arc<Inode>>, RestoreError> {
    let bad = |what: String| RestoreError::Inconsistent(what);
    {
        let point = String::from_utf8_lossy(&img.point).into_owned();
        if let Some((_, fs)) = nameless.iter().find(|(p, _)| *p == img.point.as_slice()) {
            if !img.entries.is_empty() || img.overlay || fs.inodes_used() != 0 {
                return Err(bad(format!("the filesystem {point}")));
            }
            return restore_unlinked(img, fs, HashMap::new(), src, &point);
        }
        let root = vfs
            .resolve(vfs.root(), vfs.root(), &img.point, Follow::Yes)
            .map_err(|errno| RestoreError::Reopen { path: point.clone(), errno })?;
        if img.entries.len() > MAX_ENTRIES {
            return Err(bad(format!("{point}: too many entries")));
        }
        let root_state = img.inodes.first().ok_or_else(|| bad(format!("{point}: no root inode")))?;
        // The device filesystem a boot made is not empty: its names are
        // matched with the image's (see `boot_entry`).
        let mut devfs = false;
        let fs: Arc<MemFs> = if img.overlay {
            let ov = root.overlay().ok_or_else(|| bad(format!("{point} is not an overlay in the bundle's mounts")))?;
            let fs = ov.fs.clone();
            let copy = restore_inode(&fs, root_state, src, &point)?;
            if !root.is_dir() || !overlay::restore_copy(&root, copy) {
                return Err(bad(format!("{point}: the overlay's root changed already")));
            }
            fs
        } else {
            match root.inode() {
                Some(i) if i.fs.kind() == FsKind::Tmpfs && i.fs.inodes_used() == 1 && root.overlay().is_none() => {
                    i.restore_attributes(root_state);
                    i.fs.clone()
                }
                Some(i) if i.fs.kind() == FsKind::Devfs && root.overlay().is_none() => {
                    i.restore_attributes(root_state);
                    devfs = true;
                    i.fs.clone()
                }
                _ => return Err(bad(format!("{point} is not a fresh tmpfs in the bundle's mounts"))),
            }
        };
        let mut made: HashMap<usize, Arc<Inode>> = HashMap::new();
        // Each entry's dentry (a whiteout's: its directory's, unused).
        let mut dentries: Vec<Arc<Dentry>> = Vec::with_capacity(img.entries.len());
        for (n, e) in img.entries.iter().enumerate() {
            let parent = match e.parent {
                u32::MAX => root.clone(),
                p if (p as usize) < n && img.entries[p as usize].kind != EntryKind::Whiteout => {
                    dentries[p as usize].clone()
                }
                _ => return Err(bad(format!("{point}: an entry before its directory"))),
            };
            let valid_name = !e.name.is_empty() && !e.name.contains(&b'/') && e.name != b"." && e.name != b"..";
            let in_overlay = img.overlay && parent.lower_fid().is_some();
            if !parent.is_dir() || !valid_name || (e.inode == 0 && e.kind != EntryKind::Whiteout) {
                return Err(bad(format!("{point}: a misplaced entry")));
            }
            let path = || format!("{}/{}", point.trim_end_matches('/'), String::from_utf8_lossy(&e.name));
            match e.kind {
                EntryKind::Whiteout if in_overlay => {
                    overlay::restore_whiteout(&parent, &e.name);
                    dentries.push(parent);
                    continue;
                }
                EntryKind::CopiedDir if in_overlay => {
                    let state = img.inodes.get(e.inode).ok_or_else(|| bad(format!("{point}: an inode")))?;
                    let gone = || RestoreError::Changed {
                        path: path(),
                        what: "the rootfs directory under the sandbox's changes is gone".into(),
                    };
                    let d = vfs.lookup(&parent, &e.name).map_err(|_| gone())?;
                    if !d.is_dir() || made.contains_key(&e.inode) {
                        return Err(gone());
                    }
                    let copy = restore_inode(&fs, state, src, &point)?;
                    made.insert(e.inode, copy.clone());
                    if !overlay::restore_copy(&d, copy) {
                        return Err(bad(format!("{point}: a directory copied up twice")));
                    }
                    dentries.push(d);
                    continue;
                }
                EntryKind::Own => {}
                _ => return Err(bad(format!("{point}: an overlay's entry in a tmpfs"))),
            }
            if devfs && !made.contains_key(&e.inode) {
                let state = img.inodes.get(e.inode).ok_or_else(|| bad(format!("{point}: an inode")))?;
                if let Some(d) = boot_entry(&parent, &e.name, state, &dentries) {
                    made.insert(e.inode, d.inode().cloned().ok_or_else(|| bad(format!("{point}: an inode")))?);
                    dentries.push(d);
                    continue;
                }
            }
            let inode = match made.get(&e.inode) {
                Some(i) if i.attr().mode & abi::flags::mode::S_IFMT == abi::flags::mode::S_IFDIR => {
                    return Err(bad(format!("{point}: a directory with two names")));
                }
                Some(i) => i.clone(),
                None => {
                    let s = img.inodes.get(e.inode).ok_or_else(|| bad(format!("{point}: an inode")))?;
                    let i = restore_inode(&fs, s, src, &point)?;
                    made.insert(e.inode, i.clone());
                    i
                }
            };
            let d = Dentry::new_mem(&e.name, inode);
            let taken = match parent.children().map.get(&e.name) {
                Some(Some(c)) => !devfs || dentries.iter().any(|k| Arc::ptr_eq(k, c)),
                _ => false,
            };
            if !img.overlay && taken {
                return Err(bad(format!("{point}: a name twice in one directory")));
            }
            overlay::restore_entry(&parent, &e.name, &d);
            dentries.push(d);
        }
        if devfs {
            remove_boot_entries(&root, &dentries);
        }
        restore_unlinked(img, &fs, made, src, &point)
    }
}

/// The boot's entry `name` of `parent` in a restored device filesystem, if
/// it is the file the image's `state` is (the same directory, device node
/// or symlink) and no other entry of the image took it: its attributes
/// become the image's. (A boot's name the image has as another file is
/// replaced by it.)
fn boot_entry(parent: &Arc<Dentry>, name: &[u8], state: &InodeImage, taken: &[Arc<Dentry>]) -> Option<Arc<Dentry>> {
    use abi::flags::mode::{S_IFCHR, S_IFDIR, S_IFLNK, S_IFMT};
    let d = parent.children().map.get(name).cloned().flatten()?;
    let inode = d.inode()?;
    let now = inode.attr();
    let same = now.mode & S_IFMT == state.mode & S_IFMT
        && match state.mode & S_IFMT {
            S_IFDIR => true,
            S_IFCHR => now.rdev == state.rdev,
            S_IFLNK => inode.symlink_target().as_deref() == Some(state.target.as_slice()),
            _ => false,
        };
    if !same || taken.iter().any(|k| Arc::ptr_eq(k, &d)) {
        return None;
    }
    inode.restore_attributes(state);
    Some(d)
}

/// Takes out of a restored device filesystem the names its boot made that
/// the image does not have (`kept`: the entries the image made or took).
fn remove_boot_entries(root: &Arc<Dentry>, kept: &[Arc<Dentry>]) {
    let mut dirs = vec![root.clone()];
    while let Some(dir) = dirs.pop() {
        let kids: Vec<Arc<Dentry>> = dir.children().order.values().cloned().collect();
        for kid in kids {
            if !kept.iter().any(|k| Arc::ptr_eq(k, &kid)) {
                overlay::restore_removal(&dir, &kid.name());
            } else if kid.is_dir() {
                dirs.push(kid);
            }
        }
    }
}

/// Adds the inodes no name leads to of `img` to `made`, the inodes of `fs`
/// made so far.
fn restore_unlinked(
    img: &TmpfsImage,
    fs: &Arc<MemFs>,
    mut made: HashMap<usize, Arc<Inode>>,
    src: &Source,
    point: &str,
) -> Result<HashMap<usize, Arc<Inode>>, RestoreError> {
    let bad = |what: String| RestoreError::Inconsistent(what);
    for &i in &img.unlinked {
        let s = img.inodes.get(i).ok_or_else(|| bad(format!("{point}: an inode")))?;
        if made.contains_key(&i) || s.nlink != 0 || i == 0 {
            return Err(bad(format!("{point}: an unlinked inode with a name")));
        }
        made.insert(i, restore_inode(fs, s, src, point)?);
    }
    Ok(made)
}

/// Whether a page of `pages` ((index, memory-file offset) each) lies past
/// `tail`, the memory file's end.
pub fn past_tail(pages: &[(u64, u64)], tail: u64) -> bool {
    pages.iter().any(|&(_, off)| off.checked_add(abi::PAGE_SIZE).is_none_or(|e| e > tail))
}

/// Where a restore finds what the image keeps outside its state.
pub struct Source {
    /// The memory file's end: every page lies below it.
    pub tail: u64,
    /// The image's disk file, with the data of an overlay's files on disk.
    pub disk: Option<RawFd>,
}

/// An inode of `fs` from its state, its pages below `src.tail`; a file
/// that was on disk is made again in `fs`'s disk store, from the image's
/// disk file.
fn restore_inode(fs: &Arc<MemFs>, s: &InodeImage, src: &Source, point: &str) -> Result<Arc<Inode>, RestoreError> {
    let bad = |what: String| RestoreError::Inconsistent(what);
    if past_tail(&s.pages, src.tail) {
        return Err(bad(format!("{point}: a page past the memory file's end")));
    }
    let disk = match &s.disk {
        None => None,
        Some(copy) => {
            let Some(store) = fs.on_disk() else {
                return Err(RestoreError::NotOnDisk(point.to_owned()));
            };
            let from = src.disk.ok_or_else(|| RestoreError::Io("the image has no disk file (disk.img)".into()))?;
            let made = store.file_from_copy(from, copy).map_err(|e| match e {
                Errno::EIO => RestoreError::Io(format!("{point}: the image's disk file does not match its checksum")),
                Errno::EINVAL => bad(format!("{point}: a file's copy on disk")),
                e => RestoreError::Io(format!("{point}: making a file of the overlay on disk again: {e}")),
            })?;
            Some(made)
        }
    };
    fs.restore_inode(s, disk).map_err(|_| bad(format!("{point}: inode {}", s.ino)))
}

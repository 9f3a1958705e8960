//! The Sentry's virtual filesystem: dentries, mounts, path resolution and
//! open files.
//!
//! Path resolution happens here, not in the Gofer: the Sentry walks one
//! component at a time, handles `.` and `..` itself (`..` at the sandbox root
//! stays at the root, as in a chroot), and reads symlinks and resolves their
//! targets against the sandbox's root. The Gofer only ever sees single names
//! relative to a directory it already opened, and refuses anything else.
//!
//! A [`Dentry`] is a name in the tree, backed either by the Gofer (a fid and
//! the attributes it reported) or by an in-Sentry [`tmpfs::Inode`] (tmpfs and
//! devfs). Gofer dentries are cached with their attributes, negative lookups
//! included: the rootfs is read-only, so a cached answer stays true, and
//! repeated path walks cost no Gofer round trip. For in-Sentry filesystems
//! the dentry tree *is* the filesystem's namespace, as in Linux's tmpfs: a
//! directory's child map is authoritative and never negative.
//!
//! Mounts: the [`Vfs`] keeps a mount table from a mount-point dentry to the
//! root dentry of the filesystem mounted there. Resolution crosses into the
//! mounted root after each lookup (a per-dentry flag keeps the common case to
//! one atomic load), and `..` from a mounted root goes to the mount point's
//! parent. Mounts are made at boot, where a mount point missing from the
//! read-only rootfs is synthesised as an empty directory in its parent,
//! and by the app (mount(2), umount2(2); see [`mount`]).
//!
//! Lock order: a filesystem's namespace lock ([`tmpfs::MemFs`]) before any
//! child map; a child map may be held across the Gofer lookup that fills it;
//! only the namespace-lock holder ever holds two child maps.

pub mod devfs;
pub mod devpts;
pub mod diskstore;
pub mod epoll;
pub mod eventfd;
mod evict;
pub mod file;
pub mod handles;
pub mod hostcache;
pub mod hostfs;
pub mod hostinet;
pub mod inet;
pub mod inotify;
pub mod memfd;
pub mod mount;
pub mod mqueue;
pub mod netlink;
pub mod nsfs;
pub mod ops;
pub mod overlay;
pub mod pidfd;
pub mod pipe;
pub mod procfs;
pub mod procnet;
pub mod signalfd;
pub mod synth;
pub mod sysfs;
pub mod timerfd;
pub mod tmpfs;
pub mod unix;
pub mod xattr;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, RwLock, Weak};

use abi::flags::mode::{S_IFDIR, S_IFLNK, S_IFMT, S_IFREG};
use abi::Errno;
use gofer::{Fid, FileAttr, GoferClient, GoferError};

use crate::kernel::process::Credentials;
use crate::mm::SysResult;
use tmpfs::Inode;

/// Linux's limit on symlinks followed in one resolution.
const MAX_SYMLINKS: u32 = 40;
/// Longest name of one path component.
pub const NAME_MAX: usize = 255;
/// Longest path, including its NUL.
pub const PATH_MAX: usize = 4096;
/// The filesystem types the sandbox's kernel knows, in registration order,
/// all without a block device: `/proc/filesystems` lists them and sysfs(2)
/// numbers them from 0.
pub const FILESYSTEMS: &[&str] = &["sysfs", "tmpfs", "proc", "devtmpfs", "devpts", "mqueue", "9p"];

pub use evict::set_limit as set_cache_limit;

/// Maps a Gofer failure to the errno the app sees.
pub fn gofer_errno(e: GoferError) -> Errno {
    static SAID: AtomicBool = AtomicBool::new(false);
    match e {
        GoferError::Errno(n) => Errno(n),
        // Once the connection is gone every call fails the same way: say
        // it once.
        other if SAID.swap(true, Ordering::Relaxed) => {
            log::debug!("gofer: {other}");
            Errno::EIO
        }
        other => {
            log::error!("gofer: {other}; the app gets EIO for files not yet open");
            Errno::EIO
        }
    }
}

static NEXT_DENTRY_ID: AtomicU64 = AtomicU64::new(1);

/// A read-only host fd of a regular file that its node keeps, so that the
/// next read-only opens of the file share it (or a dup of it) rather than
/// each being a round trip to the Gofer: the same host file, read at the
/// Sentry's own offsets either way. At most [`KeptReader::MAX`] nodes keep
/// one, well within the Sentry's fd limit; the fd goes with the node.
#[derive(Default)]
pub struct KeptReader(Mutex<Option<Arc<std::os::fd::OwnedFd>>>);

/// How many nodes keep a reader.
static KEPT_READERS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl KeptReader {
    /// At most this many nodes keep a reader.
    pub const MAX: usize = 256;

    /// The kept fd, if any.
    pub fn get(&self) -> Option<Arc<std::os::fd::OwnedFd>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Keeps `fd` (a read-only open of the node's file, opened with no flag
    /// that changes how it reads), unless one is kept or too many nodes
    /// keep one.
    pub fn offer(&self, fd: &Arc<std::os::fd::OwnedFd>) {
        let mut kept = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if kept.is_none() && KEPT_READERS.fetch_add(1, Ordering::Relaxed) < Self::MAX {
            *kept = Some(fd.clone());
        } else if kept.is_none() {
            KEPT_READERS.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

impl Drop for KeptReader {
    fn drop(&mut self) {
        if self.0.get_mut().unwrap_or_else(|e| e.into_inner()).take().is_some() {
            KEPT_READERS.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// What a dentry names.
pub enum Node {
    /// A file of the rootfs, held by the Gofer.
    Gofer {
        /// The Gofer's handle.
        fid: Fid,
        /// Attributes as the Gofer reported them (the rootfs is read-only).
        attr: FileAttr,
        /// A symlink's target, read once.
        link_target: OnceLock<Vec<u8>>,
        /// A regular file's read-only open, kept for the next ones.
        reader: KeptReader,
    },
    /// A file of a host tree the app may change (a read-write volume),
    /// served by the Gofer.
    Host(hostfs::HostNode),
    /// A file of an in-Sentry filesystem (tmpfs, devfs).
    Mem(Arc<Inode>),
    /// A file of a synthetic filesystem (procfs, sysfs), made afresh on
    /// each lookup.
    Synth(synth::SynthNode),
}

/// Where a dentry sits: its name in its parent. Changes on rename.
struct Place {
    name: Vec<u8>,
    parent: Weak<Dentry>,
    /// The entry's position in its (in-Sentry) parent, for getdents64.
    pos: u64,
}

/// A directory's children.
pub(crate) struct Children {
    /// Name → dentry; `None` caches a negative Gofer lookup.
    pub(crate) map: HashMap<Vec<u8>, Option<Arc<Dentry>>>,
    /// In-Sentry directories: the entries by position. Positions only grow,
    /// so a getdents64 offset stays valid whatever is removed meanwhile.
    pub(crate) order: BTreeMap<u64, Arc<Dentry>>,
    /// The next position to hand out.
    pub(crate) next_pos: u64,
    /// The directory was removed: nothing may be created in it.
    pub(crate) dead: bool,
}

/// First position of a real entry: 0 and 1 are "." and "..".
pub(crate) const FIRST_POS: u64 = 2;

/// A name in the file tree.
pub struct Dentry {
    id: u64,
    place: Mutex<Place>,
    /// What the name was made for: for the overlay root, the lower file.
    node: Node,
    /// The overlay root's copy of the lower file, once it was changed
    /// (copied up); then it is what the name is.
    upper: OnceLock<Node>,
    /// For the rootfs's dentries, when the root is an overlay: where
    /// copies go.
    overlay: Option<Arc<overlay::Overlay>>,
    /// The `S_IFMT` bits, which never change.
    fmt: u32,
    children: Mutex<Children>,
    /// Something is mounted here.
    mounted: AtomicBool,
    /// The flags of the mount this dentry is the root of, when they were
    /// set at run time ([`mount::MNT_SET`] and `MS_*` bits; see
    /// [`Dentry::mount_flags`]).
    mnt_flags: std::sync::atomic::AtomicU32,
    /// A synthetic file's directory: its dentries are made afresh at each
    /// lookup, never cached in the parent, so each keeps its parent alive
    /// for `..` (a relative link such as /sys/class/net/lo's target).
    _pinned_parent: Option<Arc<Dentry>>,
}

impl Dentry {
    pub(crate) fn make(name: &[u8], parent: Weak<Dentry>, node: Node) -> Arc<Dentry> {
        Dentry::make_in(name, parent, node, None)
    }

    fn make_in(name: &[u8], parent: Weak<Dentry>, node: Node, overlay: Option<Arc<overlay::Overlay>>) -> Arc<Dentry> {
        Arc::new(Dentry::unshared(name, parent, node, overlay))
    }

    fn unshared(name: &[u8], parent: Weak<Dentry>, node: Node, overlay: Option<Arc<overlay::Overlay>>) -> Dentry {
        let fmt = match &node {
            Node::Gofer { attr, .. } => attr.mode & S_IFMT,
            Node::Host(h) => h.attr().mode & S_IFMT,
            Node::Mem(i) => i.mode() & S_IFMT,
            Node::Synth(n) => n.mode & S_IFMT,
        };
        Dentry {
            id: NEXT_DENTRY_ID.fetch_add(1, Ordering::Relaxed),
            place: Mutex::new(Place { name: name.to_vec(), parent, pos: 0 }),
            node,
            upper: OnceLock::new(),
            overlay,
            fmt,
            children: Mutex::new(Children {
                map: HashMap::new(),
                order: BTreeMap::new(),
                next_pos: FIRST_POS,
                dead: false,
            }),
            mounted: AtomicBool::new(false),
            mnt_flags: std::sync::atomic::AtomicU32::new(0),
            _pinned_parent: None,
        }
    }

    /// A dentry for the synthetic node `node`, called `name` in `parent`,
    /// which it keeps alive (see `Dentry::_pinned_parent`).
    fn make_synth_child(name: &[u8], parent: &Arc<Dentry>, node: synth::SynthNode) -> Arc<Dentry> {
        let d = Dentry::unshared(name, Arc::downgrade(parent), Node::Synth(node), None);
        Arc::new(Dentry { _pinned_parent: Some(parent.clone()), ..d })
    }

    /// A dentry for an in-Sentry inode, not yet in any directory.
    pub(crate) fn new_mem(name: &[u8], inode: Arc<Inode>) -> Arc<Dentry> {
        Dentry::make(name, Weak::new(), Node::Mem(inode))
    }

    /// A dentry for an in-Sentry inode that was `name` in `parent` and was
    /// unlinked (a restored deleted file): its path still names where it
    /// was, but no directory holds it.
    pub(crate) fn unlinked_mem(name: &[u8], parent: Option<&Arc<Dentry>>, inode: Arc<Inode>) -> Arc<Dentry> {
        Dentry::make(name, parent.map_or_else(Weak::new, Arc::downgrade), Node::Mem(inode))
    }

    fn place(&self) -> MutexGuard<'_, Place> {
        self.place.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn children(&self) -> MutexGuard<'_, Children> {
        self.children.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The file's attributes, as they are now.
    pub fn attr(&self) -> FileAttr {
        match self.node() {
            Node::Gofer { attr, .. } => *attr,
            Node::Host(h) => h.attr(),
            Node::Mem(i) => i.attr(),
            Node::Synth(n) => n.attr(),
        }
    }

    /// The file's attributes, asked of the host again where it may have
    /// changed them (a writable host tree), for stat.
    pub fn fresh_attr(&self) -> SysResult<FileAttr> {
        match self.node() {
            Node::Host(_) => hostfs::revalidate(self),
            _ => Ok(self.attr()),
        }
    }

    /// What backs this name: the overlay's copy once there is one.
    pub fn node(&self) -> &Node {
        self.upper.get().unwrap_or(&self.node)
    }

    /// The Gofer fid behind this dentry, for rootfs files not copied up.
    pub fn fid(&self) -> Option<Fid> {
        match self.node() {
            Node::Gofer { fid, .. } => Some(*fid),
            Node::Host(h) => Some(h.fid),
            Node::Mem(_) | Node::Synth(_) => None,
        }
    }

    /// The Gofer directory beneath this one, whose names show through
    /// where this directory's own do not say otherwise: a rootfs directory,
    /// copied up or not, or a directory of a writable host tree.
    pub fn lower_fid(&self) -> Option<Fid> {
        match &self.node {
            Node::Gofer { fid, .. } => Some(*fid),
            Node::Host(h) => Some(h.fid),
            Node::Mem(_) | Node::Synth(_) => None,
        }
    }

    /// The in-Sentry inode behind this dentry.
    pub fn inode(&self) -> Option<&Arc<Inode>> {
        match self.node() {
            Node::Mem(i) => Some(i),
            Node::Gofer { .. } | Node::Host(_) | Node::Synth(_) => None,
        }
    }

    /// The inode flags (`FS_*_FL`, chattr's): an in-Sentry file's; none
    /// for the others.
    pub fn fsflags(&self) -> u32 {
        self.inode().map_or(0, |i| i.fsflags())
    }

    /// Linux's `IS_IMMUTABLE`.
    pub fn is_immutable(&self) -> bool {
        self.fsflags() & abi::flags::fsflags::FS_IMMUTABLE_FL != 0
    }

    /// Linux's `IS_APPEND`.
    pub fn is_append_only(&self) -> bool {
        self.fsflags() & abi::flags::fsflags::FS_APPEND_FL != 0
    }

    /// The writable host tree this file is in.
    pub fn host(&self) -> Option<&hostfs::HostNode> {
        match self.node() {
            Node::Host(h) => Some(h),
            _ => None,
        }
    }

    /// Whether the file is served by the Gofer (the rootfs or a bind mount)
    /// and not copied up.
    pub fn is_rootfs(&self) -> bool {
        matches!(self.node(), Node::Gofer { .. })
    }

    /// The overlay this dentry belongs to, if the root is one.
    pub fn overlay(&self) -> Option<&Arc<overlay::Overlay>> {
        self.overlay.as_ref()
    }

    /// Whether the file is on a read-only mount: the Gofer's trees (but
    /// for an overlay root), a filesystem mounted read-only, or a synthetic
    /// one (whose own answers, EACCES mostly, come first where Linux gives
    /// them).
    pub fn is_readonly(&self) -> bool {
        if self.mount_flags() & mount::MNT_RDONLY != 0 {
            return true;
        }
        match self.node() {
            Node::Gofer { .. } => self.overlay.is_none(),
            Node::Host(_) => false,
            // Objects (a message queue, /proc/PID/oom_score_adj) decide
            // for themselves.
            Node::Synth(n) => !n.is_object(),
            Node::Mem(i) => i.fs.readonly(),
        }
    }

    /// The synthetic node behind this dentry.
    pub fn synth(&self) -> Option<&synth::SynthNode> {
        match self.node() {
            Node::Synth(n) => Some(n),
            _ => None,
        }
    }

    /// Which filesystem the file is on: 0 for the Gofer's read-only trees,
    /// else the in-Sentry filesystem's id (an overlay root's files, copied
    /// up or not, are its upper layer's) (rename and link do not cross
    /// filesystems).
    pub fn fs_id(&self) -> u64 {
        match self.node() {
            Node::Gofer { .. } => self.overlay.as_ref().map_or(0, |o| o.fs.id()),
            Node::Host(h) => h.mount.id(),
            Node::Mem(i) => i.fs.id(),
            Node::Synth(n) => n.fs.dev(),
        }
    }

    /// The `S_IFMT` bits.
    pub fn file_type(&self) -> u32 {
        self.fmt
    }

    /// Whether this is a directory.
    pub fn is_dir(&self) -> bool {
        self.fmt == S_IFDIR
    }

    /// Whether this is a symlink.
    pub fn is_symlink(&self) -> bool {
        self.fmt == S_IFLNK
    }

    /// Whether this is a regular file.
    pub fn is_regular(&self) -> bool {
        self.fmt == S_IFREG
    }

    /// A number unique to this dentry.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The parent, or `None` at the root of a filesystem.
    pub fn parent(&self) -> Option<Arc<Dentry>> {
        self.place().parent.upgrade()
    }

    /// The name in the parent.
    pub fn name(&self) -> Vec<u8> {
        self.place().name.clone()
    }

    /// Whether a filesystem is mounted on this dentry.
    pub fn is_mount_point(&self) -> bool {
        self.mounted.load(Ordering::Acquire)
    }

    /// Whether the name still links the file: a filesystem's root, or
    /// its parent's entry of that name is this very dentry (not removed,
    /// nor replaced).
    pub fn is_linked(self: &Arc<Self>) -> bool {
        let Some(parent) = self.parent() else { return true };
        let name = self.name();
        let children = parent.children();
        matches!(children.map.get(&name), Some(Some(d)) if Arc::ptr_eq(d, self))
    }

    /// Whether this (directory) was removed.
    pub fn is_dead(&self) -> bool {
        self.children().dead
    }

    /// Whether `self` is `other` or one of its ancestors (same filesystem).
    pub(crate) fn is_ancestor_of(self: &Arc<Self>, other: &Arc<Dentry>) -> bool {
        let mut cur = Some(other.clone());
        while let Some(c) = cur {
            if Arc::ptr_eq(&c, self) {
                return true;
            }
            cur = c.parent();
        }
        false
    }

    /// Puts `child` into this (in-Sentry) directory as `name`. The caller
    /// holds the filesystem's namespace lock and `kids`, this directory's
    /// child map.
    pub(crate) fn attach(self: &Arc<Self>, kids: &mut Children, name: &[u8], child: &Arc<Dentry>) {
        let pos = kids.next_pos;
        kids.next_pos += 1;
        {
            let mut p = child.place();
            p.name = name.to_vec();
            p.parent = Arc::downgrade(self);
            p.pos = pos;
        }
        kids.order.insert(pos, child.clone());
        kids.map.insert(name.to_vec(), Some(child.clone()));
    }

    /// Takes `name` out of this (in-Sentry) directory's child map `kids`.
    /// Over a lower directory the name stays, as a negative entry: a
    /// whiteout, so that the lower file does not show through.
    pub(crate) fn detach(&self, kids: &mut Children, name: &[u8]) -> Option<Arc<Dentry>> {
        // (A host tree has no whiteouts: the host's own directory is the
        // truth.)
        let child = if self.lower_fid().is_some() && self.host().is_none() {
            kids.map.insert(name.to_vec(), None).flatten()?
        } else {
            kids.map.remove(name).flatten()?
        };
        let pos = child.place().pos;
        if kids.order.get(&pos).is_some_and(|c| Arc::ptr_eq(c, &child)) {
            kids.order.remove(&pos);
        }
        Some(child)
    }
}

/// The last component of a path, as the write-side calls see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Last {
    /// An ordinary name.
    Name(Vec<u8>),
    /// `.`
    Dot,
    /// `..`
    DotDot,
    /// The path was `/` (or only slashes).
    Root,
}

/// A path split into its parent directory and last component.
pub struct ParentPath {
    /// The directory the last component is in (mounts crossed).
    pub dir: Arc<Dentry>,
    /// The last component.
    pub last: Last,
    /// The path ended in `/`.
    pub trailing_slash: bool,
}

#[derive(Default)]
struct MountTable {
    /// Mount point's id → the root mounted there.
    covered: HashMap<u64, Arc<Dentry>>,
    /// Mounted root's id → its mount points (more than one when the root
    /// is bind-mounted elsewhere too), the first mount's first.
    points: HashMap<u64, Vec<Arc<Dentry>>>,
}

pub use mount::MountRecord;

/// The filesystem tree of one sandbox.
pub struct Vfs {
    gofer: Option<Arc<GoferClient>>,
    root: Arc<Dentry>,
    mounts: RwLock<MountTable>,
    records: Mutex<Vec<MountRecord>>,
    /// How many mounts the boot made.
    boot_mounts: std::sync::atomic::AtomicUsize,
}

/// How to treat a symlink in the last component.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Follow {
    /// Resolve it (stat, open).
    Yes,
    /// Return the link itself (lstat, readlink, O_NOFOLLOW).
    No,
}

/// Limits on a path walk: openat2's `RESOLVE_*` flags. The default limits
/// nothing.
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
pub struct Restrict {
    /// `RESOLVE_NO_XDEV`: no mount point crossed, either way (EXDEV).
    pub no_xdev: bool,
    /// `RESOLVE_NO_SYMLINKS`: no symlink followed (ELOOP).
    pub no_symlinks: bool,
    /// `RESOLVE_NO_MAGICLINKS`: no /proc/PID magic link followed (ELOOP).
    pub no_magiclinks: bool,
    /// `RESOLVE_BENEATH`: the walk never leaves its root, which the caller
    /// makes the starting directory: an absolute path or symlink, or `..`
    /// at the root, gives EXDEV.
    pub beneath: bool,
    /// `RESOLVE_BENEATH` or `RESOLVE_IN_ROOT`: a magic link gives EXDEV, as
    /// Linux does not follow them in a scoped walk.
    pub scoped: bool,
}

impl Restrict {
    /// Whether a walk within these limits may follow the symlink `link`:
    /// ELOOP where symlinks (or magic links) are refused, EXDEV for a magic
    /// link in a scoped walk.
    pub fn may_follow(self, link: &Dentry) -> SysResult<()> {
        if self.no_symlinks {
            return Err(Errno::ELOOP);
        }
        if self != Restrict::default() && Vfs::is_magic_link(link) {
            if self.no_magiclinks {
                return Err(Errno::ELOOP);
            }
            if self.scoped {
                return Err(Errno::EXDEV);
            }
        }
        Ok(())
    }
}

impl Vfs {
    /// A tree of `root`, with no mounts yet.
    fn of(gofer: Option<Arc<GoferClient>>, root: Arc<Dentry>) -> Vfs {
        Vfs {
            gofer,
            root,
            mounts: RwLock::new(MountTable::default()),
            records: Mutex::default(),
            boot_mounts: Default::default(),
        }
    }

    /// Attaches to the Gofer's rootfs: read-only, or with `upper` an
    /// overlay whose changes are held in `upper`'s pages (see
    /// [`overlay`]).
    pub fn new(gofer: Arc<GoferClient>, upper: Option<Arc<crate::mm::MemoryFile>>) -> SysResult<Vfs> {
        let (fid, attr) = gofer.attach().map_err(gofer_errno)?;
        let overlay = upper.map(|mf| overlay::Overlay::new(mf, gofer.clone(), fid, attr.dev));
        let root = Dentry::make_in(
            b"",
            Weak::new(),
            Node::Gofer { fid, attr, link_target: OnceLock::new(), reader: KeptReader::default() },
            overlay,
        );
        Ok(Vfs::of(Some(gofer), root))
    }

    /// Attaches to the Gofer's rootfs as a writable host tree: the app's
    /// changes go through the Gofer into the rootfs directory.
    pub fn new_host(gofer: Arc<GoferClient>) -> SysResult<Vfs> {
        let root = hostfs::attach(&gofer, 0)?;
        Ok(Vfs::of(Some(gofer), root))
    }

    /// The root of served tree `index` of the Gofer as a writable host
    /// tree (a read-write volume).
    pub fn attach_host_root(&self, index: u32) -> SysResult<Arc<Dentry>> {
        let gofer = self.gofer.as_ref().ok_or(Errno::ENOENT)?;
        hostfs::attach(gofer, index)
    }

    /// A tree whose root is an in-Sentry directory (no Gofer; for tests).
    pub fn with_root(root: Arc<Dentry>) -> Vfs {
        Vfs::of(None, root)
    }

    /// Notes a mount for /proc/mounts, in mount order, giving it the next
    /// mount id.
    pub fn record_mount(&self, mut rec: MountRecord) {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        rec.id = records.last().map_or(mount::FIRST_ID, |r| r.id + 1);
        records.push(rec);
    }

    /// The mounts, in mount order, as /proc/mounts lists them.
    pub fn mount_records(&self) -> Vec<MountRecord> {
        self.records.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The root of served tree `index` of the Gofer (0: the rootfs; 1..:
    /// bind-mount sources), as a dentry to mount.
    pub fn attach_gofer_root(&self, index: u32) -> SysResult<Arc<Dentry>> {
        self.attach_gofer_root_with(index, None)
    }

    /// [`Vfs::attach_gofer_root`], with `upper` the tree is the lower
    /// layer of an overlay of its own, whose changes are held in `upper`'s
    /// pages (a host system directory served to a sandbox with no rootfs).
    pub fn attach_gofer_root_with(
        &self,
        index: u32,
        upper: Option<Arc<crate::mm::MemoryFile>>,
    ) -> SysResult<Arc<Dentry>> {
        let gofer = self.gofer.as_ref().ok_or(Errno::ENOENT)?;
        let (fid, attr) = gofer.attach_root(index).map_err(gofer_errno)?;
        let overlay = upper.map(|mf| overlay::Overlay::new(mf, gofer.clone(), fid, attr.dev));
        Ok(Dentry::make_in(
            b"",
            Weak::new(),
            Node::Gofer { fid, attr, link_target: OnceLock::new(), reader: KeptReader::default() },
            overlay,
        ))
    }

    /// The roots of the mounted filesystems, the sandbox's root first
    /// (ustat looks a device up among them, as Linux among superblocks).
    pub fn mount_roots(&self) -> Vec<Arc<Dentry>> {
        let mut roots = vec![self.root.clone()];
        let mut seen = std::collections::HashSet::from([self.root.id]);
        // A filesystem bind-mounted elsewhere too once; a bind mount of a
        // directory within one is no filesystem's root.
        let m = self.mounts();
        let mut covered: Vec<&Arc<Dentry>> = m.covered.values().collect();
        covered.sort_by_key(|d| d.id);
        for r in covered {
            if r.parent().is_none() && seen.insert(r.id) {
                roots.push(r.clone());
            }
        }
        roots
    }

    /// The in-memory filesystems of the mounts (tmpfs, devfs, and
    /// overlays' upper layers), each with its mount's root.
    pub(crate) fn memory_filesystems(&self) -> Vec<(Arc<Dentry>, Arc<tmpfs::MemFs>)> {
        let roots = self.mount_roots();
        roots
            .into_iter()
            .filter_map(|r| {
                let fs = match (r.overlay(), r.inode()) {
                    (Some(ov), _) => ov.fs.clone(),
                    (None, Some(i)) => i.fs.clone(),
                    _ => return None,
                };
                Some((r, fs))
            })
            .collect()
    }

    /// Notes the in-memory filesystems' contents as they are at the end of
    /// the boot (see [`Vfs::memory_written`]).
    pub fn mark_memory_baseline(&self) {
        for (_, fs) in self.memory_filesystems() {
            fs.mark_baseline();
        }
        let n = self.records.lock().unwrap_or_else(|e| e.into_inner()).len();
        self.boot_mounts.store(n, Ordering::Relaxed);
    }

    /// How many mounts the boot made.
    pub fn boot_mounts(&self) -> usize {
        self.boot_mounts.load(Ordering::Relaxed)
    }

    /// The root of the mounted tree `d` is in.
    pub fn mount_root_of_dentry(&self, d: &Arc<Dentry>) -> Arc<Dentry> {
        self.mount_root_of(d)
    }

    /// The sandbox's root directory.
    pub fn root(&self) -> &Arc<Dentry> {
        &self.root
    }

    /// The Gofer connection, if the tree has a rootfs.
    pub fn gofer(&self) -> Option<&Arc<GoferClient>> {
        self.gofer.as_ref()
    }

    fn mounts(&self) -> std::sync::RwLockReadGuard<'_, MountTable> {
        self.mounts.read().unwrap_or_else(|e| e.into_inner())
    }

    /// Mounts the filesystem whose root is `root` on `point`: a directory
    /// on a directory, or (a bind-mounted file) a file on a non-directory.
    pub fn mount(&self, point: &Arc<Dentry>, root: Arc<Dentry>) -> SysResult<()> {
        if point.is_dir() != root.is_dir() || point.is_symlink() {
            return Err(Errno::ENOTDIR);
        }
        let mut m = self.mounts.write().unwrap_or_else(|e| e.into_inner());
        if m.covered.contains_key(&point.id) || m.points.contains_key(&root.id) {
            return Err(Errno::EBUSY);
        }
        m.points.entry(root.id).or_default().push(point.clone());
        m.covered.insert(point.id, root);
        point.mounted.store(true, Ordering::Release);
        Ok(())
    }

    /// Mounts `root` (an in-Sentry filesystem's root) at `path`; see
    /// [`Vfs::mount_at_with`].
    pub fn mount_at(&self, path: &[u8], root: Arc<Dentry>) -> SysResult<Arc<Dentry>> {
        let spare = root.inode().map(|i| i.fs.clone()).ok_or(Errno::EINVAL)?;
        self.mount_at_with(path, root, &spare)
    }

    /// Mounts `root` at `path`, making the mount point if the tree lacks
    /// it, and any missing directory on the way (as OCI runtimes do): a
    /// real directory (or, for a file mount, an empty file) in an in-Sentry
    /// parent, or an empty stand-in synthesised in a rootfs parent, whose
    /// inode comes from `spare`.
    pub fn mount_at_with(&self, path: &[u8], root: Arc<Dentry>, spare: &Arc<tmpfs::MemFs>) -> SysResult<Arc<Dentry>> {
        let comps = split(path);
        let mut cur = self.root.clone();
        for (i, name) in comps.iter().enumerate() {
            let last = i + 1 == comps.len();
            cur = match self.resolve(&self.root, &cur, name, Follow::Yes) {
                Ok(d) => d,
                Err(Errno::ENOENT) => {
                    if self.lookup_child(&self.cross(cur.clone()), name)?.is_some() {
                        // A dangling symlink: do not follow it out of the way.
                        return Err(Errno::ENOENT);
                    }
                    self.make_point(&self.cross(cur.clone()), name, !last || root.is_dir(), spare)?
                }
                Err(e) => return Err(e),
            };
        }
        self.mount(&cur, root)?;
        Ok(cur)
    }

    /// Makes `name` in `dir` to mount on: a directory (`dir_kind`) or an
    /// empty file.
    fn make_point(
        &self,
        dir: &Arc<Dentry>,
        name: &[u8],
        dir_kind: bool,
        spare: &Arc<tmpfs::MemFs>,
    ) -> SysResult<Arc<Dentry>> {
        if !dir.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        match &dir.node {
            Node::Mem(_) => {
                let creds = Credentials::new(0, 0);
                if dir_kind {
                    tmpfs::mkdir(dir, name, 0o755, &creds)
                } else {
                    tmpfs::create(dir, name, tmpfs::NewKind::Regular, 0o644, &creds)
                }
            }
            Node::Gofer { .. } | Node::Host(_) => {
                // An empty directory or file standing in for the missing one
                // (in a writable host tree too: the host's directory is not
                // changed for a mount).
                let stand_in = if dir_kind { spare.new_root(0o755, 0, 0) } else { spare.new_file(0o644) };
                let mut kids = dir.children();
                let pos = kids.next_pos;
                kids.next_pos += 1;
                {
                    let mut p = stand_in.place();
                    p.name = name.to_vec();
                    p.parent = Arc::downgrade(dir);
                    p.pos = pos;
                }
                kids.map.insert(name.to_vec(), Some(stand_in.clone()));
                Ok(stand_in)
            }
            Node::Synth(_) => Err(Errno::ENOENT),
        }
    }

    /// The root mounted on `d`, following stacked mounts, or `d` itself.
    pub fn cross(&self, d: Arc<Dentry>) -> Arc<Dentry> {
        if !d.is_mount_point() {
            return d;
        }
        let m = self.mounts();
        let mut cur = d;
        // (Bounded, and a directory bind-mounted on itself ends it.)
        for _ in 0..=mount::MAX_MOUNTS {
            match m.covered.get(&cur.id) {
                Some(r) if !Arc::ptr_eq(r, &cur) => cur = r.clone(),
                _ => break,
            }
        }
        cur
    }

    /// Where the filesystem whose root is `d` is mounted.
    pub fn mount_point_of(&self, d: &Dentry) -> Option<Arc<Dentry>> {
        let m = self.mounts();
        // A directory bind-mounted on itself is its own mount point: its
        // way up is its parent.
        m.points.get(&d.id)?.iter().find(|p| p.id != d.id).cloned()
    }

    /// Whether `d` is the root of a mounted filesystem.
    pub fn is_mount_root(&self, d: &Dentry) -> bool {
        self.mounts().points.contains_key(&d.id)
    }

    /// Looks `name` up in `dir` (no mount crossing), from the cache or
    /// through the Gofer.
    pub fn lookup(&self, dir: &Arc<Dentry>, name: &[u8]) -> SysResult<Arc<Dentry>> {
        if name.len() > NAME_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        if let Node::Synth(n) = dir.node() {
            let synth::SynthKind::Dir(d) = &n.kind else { return Err(Errno::ENOTDIR) };
            let child = d.lookup(name).ok_or(Errno::ENOENT)?;
            return Ok(Dentry::make_synth_child(name, dir, child));
        }
        // Before any lock is taken: files cached past the bound go.
        evict::maybe_evict(self.gofer.as_ref());
        if let Node::Host(h) = dir.node() {
            return hostfs::lookup(dir, h, name);
        }
        let mut children = dir.children();
        if let Some(cached) = children.map.get(name) {
            return cached.clone().ok_or(Errno::ENOENT);
        }
        let Some(dir_fid) = dir.lower_fid() else { return Err(Errno::ENOENT) };
        if children.dead {
            return Err(Errno::ENOENT);
        }
        let gofer = self.gofer.as_ref().ok_or(Errno::EIO)?;
        let walked = gofer.walk(dir_fid, &[name]).map_err(gofer_errno)?;
        match (walked.steps.first(), walked.error) {
            (Some(&(fid, attr)), _) => {
                let node = Node::Gofer { fid, attr, link_target: OnceLock::new(), reader: KeptReader::default() };
                let d = Dentry::make_in(name, Arc::downgrade(dir), node, dir.overlay.clone());
                children.map.insert(name.to_vec(), Some(d.clone()));
                evict::note(&d);
                Ok(d)
            }
            (None, Some(libc::ENOENT)) => {
                children.map.insert(name.to_vec(), None);
                Err(Errno::ENOENT)
            }
            (None, Some(e)) => Err(Errno(e)),
            (None, None) => Err(Errno::EIO),
        }
    }

    /// `lookup`, with "no such name" as `None`.
    pub fn lookup_child(&self, dir: &Arc<Dentry>, name: &[u8]) -> SysResult<Option<Arc<Dentry>>> {
        match self.lookup(dir, name) {
            Ok(d) => Ok(Some(d)),
            Err(Errno::ENOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The target of a symlink.
    pub fn readlink(&self, d: &Dentry) -> SysResult<Vec<u8>> {
        if !d.is_symlink() {
            return Err(Errno::EINVAL);
        }
        match d.node() {
            Node::Mem(i) => i.symlink_target().ok_or(Errno::EINVAL),
            Node::Synth(n) => match &n.kind {
                synth::SynthKind::Link(g) => g(),
                _ => Err(Errno::EINVAL),
            },
            Node::Gofer { fid, link_target, .. } => {
                if let Some(t) = link_target.get() {
                    return Ok(t.clone());
                }
                let gofer = self.gofer.as_ref().ok_or(Errno::EIO)?;
                let t = gofer.readlink(*fid).map_err(gofer_errno)?;
                Ok(link_target.get_or_init(|| t).clone())
            }
            Node::Host(h) => {
                if let Some(t) = h.link_target.get() {
                    return Ok(t.clone());
                }
                let t = h.mount.gofer().readlink(h.fid).map_err(gofer_errno)?;
                Ok(h.link_target.get_or_init(|| t).clone())
            }
        }
    }

    /// Opens a regular file read-only as a host fd, for the loader: the
    /// Gofer donates rootfs files; in-Sentry files are copied into a memfd.
    pub fn open_host(&self, d: &Dentry) -> SysResult<OwnedFd> {
        match d.node() {
            Node::Gofer { fid, .. } => {
                let gofer = self.gofer.as_ref().ok_or(Errno::EIO)?;
                gofer.open(*fid, abi::flags::open::O_RDONLY).map_err(gofer_errno)
            }
            Node::Host(h) => h.mount.gofer().open(h.fid, abi::flags::open::O_RDONLY).map_err(gofer_errno),
            Node::Mem(i) => i.snapshot_to_memfd(),
            Node::Synth(_) => Err(Errno::EACCES),
        }
    }

    /// `..` from `cur`: stays at `root`, leaves mounted roots through their
    /// mount points, and crosses into whatever is mounted on the parent.
    fn dotdot(&self, root: &Arc<Dentry>, mut cur: Arc<Dentry>) -> Arc<Dentry> {
        loop {
            if Arc::ptr_eq(&cur, root) {
                return cur;
            }
            match cur.parent() {
                Some(p) => return self.cross(p),
                None => match self.mount_point_of(&cur) {
                    Some(mp) => cur = mp,
                    None => return cur,
                },
            }
        }
    }

    /// Resolves `path` from `start` (for relative paths) or `root` (for
    /// absolute ones), following symlinks as Linux does.
    pub fn resolve(
        &self,
        root: &Arc<Dentry>,
        start: &Arc<Dentry>,
        path: &[u8],
        follow: Follow,
    ) -> SysResult<Arc<Dentry>> {
        self.resolve_inner(root, start, path, follow, None, Restrict::default())
    }

    /// [`Vfs::resolve`] on behalf of `creds`: every directory walked through
    /// must grant them search (execute) permission.
    pub fn resolve_as(
        &self,
        root: &Arc<Dentry>,
        start: &Arc<Dentry>,
        path: &[u8],
        follow: Follow,
        creds: &Credentials,
    ) -> SysResult<Arc<Dentry>> {
        self.resolve_inner(root, start, path, follow, Some(creds), Restrict::default())
    }

    /// [`Vfs::resolve_as`] within the limits `r` (openat2).
    pub fn resolve_restricted(
        &self,
        root: &Arc<Dentry>,
        start: &Arc<Dentry>,
        path: &[u8],
        follow: Follow,
        creds: &Credentials,
        r: Restrict,
    ) -> SysResult<Arc<Dentry>> {
        self.resolve_inner(root, start, path, follow, Some(creds), r)
    }

    fn resolve_inner(
        &self,
        root: &Arc<Dentry>,
        start: &Arc<Dentry>,
        path: &[u8],
        follow: Follow,
        creds: Option<&Credentials>,
        r: Restrict,
    ) -> SysResult<Arc<Dentry>> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        if path.len() >= PATH_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        let cur = if path[0] == b'/' { self.jump_to_root(root, start, r)? } else { start.clone() };
        let mut links = 0;
        self.walk(root, cur, split(path), path.ends_with(b"/"), follow, &mut links, creds, r)
    }

    /// An absolute path or symlink target from `from`: the walk goes on at
    /// `root`, unless `r` forbids it.
    fn jump_to_root(&self, root: &Arc<Dentry>, from: &Arc<Dentry>, r: Restrict) -> SysResult<Arc<Dentry>> {
        if r.beneath {
            return Err(Errno::EXDEV);
        }
        if r.no_xdev && !self.same_mount(from, root) {
            return Err(Errno::EXDEV);
        }
        Ok(root.clone())
    }

    /// The root of the mounted tree `d` is in.
    fn mount_root_of(&self, d: &Arc<Dentry>) -> Arc<Dentry> {
        let mut cur = d.clone();
        // Bounded: no tree is deeper than PATH_MAX components.
        for _ in 0..PATH_MAX {
            if self.is_mount_root(&cur) {
                break;
            }
            match cur.parent() {
                Some(p) => cur = p,
                None => break,
            }
        }
        cur
    }

    /// Whether `a` and `b` are in the same mounted tree.
    fn same_mount(&self, a: &Arc<Dentry>, b: &Arc<Dentry>) -> bool {
        Arc::ptr_eq(&self.mount_root_of(a), &self.mount_root_of(b))
    }

    /// Whether `d` is a magic link of /proc (a process's `exe`, `cwd`,
    /// `root`, `fd/N` and the like), not a plain symlink such as /proc/self.
    pub fn is_magic_link(d: &Dentry) -> bool {
        d.synth().is_some_and(|n| n.fs.magic == procfs::PROC_SUPER_MAGIC)
            && d.is_symlink()
            && d.parent().is_some_and(|p| p.parent().is_some())
    }

    /// Walks `rest` from `cur`; see [`Vfs::resolve`]. With `creds`, each
    /// directory looked in must grant them search permission.
    #[allow(clippy::too_many_arguments)]
    fn walk(
        &self,
        root: &Arc<Dentry>,
        mut cur: Arc<Dentry>,
        mut rest: VecDeque<Vec<u8>>,
        mut must_be_dir: bool,
        follow: Follow,
        links: &mut u32,
        creds: Option<&Credentials>,
        r: Restrict,
    ) -> SysResult<Arc<Dentry>> {
        cur = self.cross(cur);
        while let Some(name) = rest.pop_front() {
            let last = rest.is_empty();
            if !cur.is_dir() {
                return Err(Errno::ENOTDIR);
            }
            may_search(creds, &cur)?;
            if name == b"." {
                continue;
            }
            if name == b".." {
                if r.beneath && Arc::ptr_eq(&cur, root) {
                    return Err(Errno::EXDEV);
                }
                if r.no_xdev {
                    let up = self.dotdot(root, cur.clone());
                    if !self.same_mount(&cur, &up) {
                        return Err(Errno::EXDEV);
                    }
                    cur = up;
                } else {
                    cur = self.dotdot(root, cur);
                }
                continue;
            }
            let next = self.lookup(&cur, &name)?;
            if next.is_symlink() && (!last || follow == Follow::Yes || must_be_dir) {
                r.may_follow(&next)?;
                *links += 1;
                if *links > MAX_SYMLINKS {
                    return Err(Errno::ELOOP);
                }
                let target = self.readlink(&next)?;
                if target.is_empty() {
                    return Err(Errno::ENOENT);
                }
                if target[0] == b'/' {
                    cur = self.cross(self.jump_to_root(root, &cur, r)?);
                }
                if last && target.ends_with(b"/") {
                    must_be_dir = true;
                }
                for (i, c) in split(&target).into_iter().enumerate() {
                    rest.insert(i, c);
                }
                continue;
            }
            if r.no_xdev && next.is_mount_point() {
                return Err(Errno::EXDEV);
            }
            cur = self.cross(next);
        }
        if must_be_dir && !cur.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        Ok(cur)
    }

    /// Resolves all but the last component of `path` (which must then be a
    /// directory), for calls that create, remove or rename names.
    pub fn resolve_parent(&self, root: &Arc<Dentry>, start: &Arc<Dentry>, path: &[u8]) -> SysResult<ParentPath> {
        self.resolve_parent_inner(root, start, path, None, Restrict::default())
    }

    /// [`Vfs::resolve_parent`] on behalf of `creds` (search permission on
    /// every directory looked in, the last one included).
    pub fn resolve_parent_as(
        &self,
        root: &Arc<Dentry>,
        start: &Arc<Dentry>,
        path: &[u8],
        creds: &Credentials,
    ) -> SysResult<ParentPath> {
        self.resolve_parent_inner(root, start, path, Some(creds), Restrict::default())
    }

    /// [`Vfs::resolve_parent_as`] within the limits `r` (openat2).
    pub fn resolve_parent_restricted(
        &self,
        root: &Arc<Dentry>,
        start: &Arc<Dentry>,
        path: &[u8],
        creds: &Credentials,
        r: Restrict,
    ) -> SysResult<ParentPath> {
        self.resolve_parent_inner(root, start, path, Some(creds), r)
    }

    fn resolve_parent_inner(
        &self,
        root: &Arc<Dentry>,
        start: &Arc<Dentry>,
        path: &[u8],
        creds: Option<&Credentials>,
        r: Restrict,
    ) -> SysResult<ParentPath> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        if path.len() >= PATH_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        let mut comps = split(path);
        let trailing_slash = path.ends_with(b"/");
        let base = if path[0] == b'/' { self.jump_to_root(root, start, r)? } else { start.clone() };
        let Some(last) = comps.pop_back() else {
            return Ok(ParentPath { dir: self.cross(base), last: Last::Root, trailing_slash });
        };
        let mut links = 0;
        let dir = self.walk(root, base, comps, false, Follow::Yes, &mut links, creds, r)?;
        if !dir.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        may_search(creds, &dir)?;
        let last = match last.as_slice() {
            b"." => Last::Dot,
            b".." => Last::DotDot,
            _ if last.len() > NAME_MAX => return Err(Errno::ENAMETOOLONG),
            _ => Last::Name(last),
        };
        Ok(ParentPath { dir, last, trailing_slash })
    }

    /// The absolute path of `d` within the sandbox.
    pub fn path_of(&self, d: &Arc<Dentry>) -> Vec<u8> {
        self.path_from(&self.root, d).0
    }

    /// The path of `d` as seen from `root` (a task's root after chroot),
    /// and whether `root` is above it at all: if not, the path is the one
    /// from the sandbox's root, as Linux's getcwd then reports it (with
    /// "(unreachable)" before it).
    pub fn path_from(&self, root: &Arc<Dentry>, d: &Arc<Dentry>) -> (Vec<u8>, bool) {
        let mut parts = Vec::new();
        let mut cur = d.clone();
        let mut reached = false;
        // Bounded: a tree deeper than PATH_MAX components cannot be named.
        for _ in 0..PATH_MAX {
            if Arc::ptr_eq(&cur, root) {
                reached = true;
                break;
            }
            if Arc::ptr_eq(&cur, &self.root) {
                break;
            }
            match cur.parent() {
                Some(p) => {
                    parts.push(cur.name());
                    cur = p;
                }
                None => match self.mount_point_of(&cur) {
                    Some(mp) => cur = mp,
                    None => break,
                },
            }
        }
        if parts.is_empty() {
            return (b"/".to_vec(), reached);
        }
        let mut out = Vec::new();
        for p in parts.iter().rev() {
            out.push(b'/');
            out.extend_from_slice(p);
        }
        (out, reached)
    }
}

/// Search permission on a directory, for resolution on behalf of `creds`.
/// CAP_DAC_READ_SEARCH and CAP_DAC_OVERRIDE may search any directory: no
/// need to fetch its attributes.
fn may_search(creds: Option<&Credentials>, dir: &Dentry) -> SysResult<()> {
    use abi::flags::capability::{CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH};
    match creds {
        Some(c) if !c.has_cap(CAP_DAC_READ_SEARCH) && !c.has_cap(CAP_DAC_OVERRIDE) => {
            ops::check_perm(c, &dir.attr(), ops::MAY_EXEC)
        }
        _ => Ok(()),
    }
}

fn split(path: &[u8]) -> VecDeque<Vec<u8>> {
    path.split(|&b| b == b'/').filter(|c| !c.is_empty()).map(|c| c.to_vec()).collect()
}

#[cfg(test)]
mod tests;

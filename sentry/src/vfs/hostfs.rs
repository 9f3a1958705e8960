//! Host trees the app may change: a read-write volume, or the rootfs with
//! `--root-writes host`. The Gofer serves them writable; every change is a
//! Gofer call, and file data moves through the fds it donates.
//!
//! The Sentry makes Linux's permission checks here, as it does for its own
//! filesystems (only it knows the app's credentials): DAC, the sticky bit,
//! set-group-id directories and the umask decide what is asked of the
//! Gofer, which then confines the change beneath its root.
//!
//! A host tree may change under the sandbox (a volume is shared with the
//! host), so nothing negative is cached, and attributes are asked of the
//! Gofer again at each stat; the dentries of names the sandbox knows stay
//! cached, and follow the sandbox's own renames.

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};

use abi::Errno;
use gofer::{Fid, FileAttr, GoferClient, NewNode, SetAttr, Time};

use super::ops::{check_perm, may_create, may_delete, MAY_WRITE};
use super::tmpfs::{in_group, NewKind, TimeSet, S_ISGID};
use super::{gofer_errno, Dentry, Node};
use crate::kernel::process::Credentials;
use crate::mm::SysResult;

/// One writable host tree, as mounted in the sandbox.
pub struct HostMount {
    gofer: Arc<GoferClient>,
    /// Tells the mount's files apart from other filesystems' (rename and
    /// link do not cross mounts, even of one host filesystem).
    id: u64,
    /// Serialises the sandbox's changes to the tree's names.
    ns: Mutex<()>,
}

impl HostMount {
    /// The Gofer serving the tree.
    pub fn gofer(&self) -> &Arc<GoferClient> {
        &self.gofer
    }

    /// The mount's identity.
    pub fn id(&self) -> u64 {
        self.id
    }

    fn ns_lock(&self) -> MutexGuard<'_, ()> {
        self.ns.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// A file of a writable host tree.
pub struct HostNode {
    /// The Gofer's handle.
    pub fid: Fid,
    attr: Mutex<FileAttr>,
    /// `attr` came with the walk (or the change) that made the node and
    /// no stat has used it yet: the first stat needs no second round trip
    /// (a path walk and a stat are the one lstat of `git status`).
    fresh: std::sync::atomic::AtomicBool,
    /// When the host last confirmed the name (ms of [`now_ms`]).
    seen: AtomicU64,
    /// A symlink's target, read once (a symlink's target never changes).
    pub(crate) link_target: OnceLock<Vec<u8>>,
    /// The tree it is in.
    pub mount: Arc<HostMount>,
    /// A regular file's read-only open, kept so that the next ones are a
    /// dup of it rather than a round trip to the Gofer.
    reader: super::KeptReader,
}

/// The Gofer's fid goes with the node (each holds a host fd there).
impl Drop for HostNode {
    fn drop(&mut self) {
        let _ = self.mount.gofer.clunk(self.fid);
    }
}

impl HostNode {
    /// The attributes as last seen.
    pub fn attr(&self) -> FileAttr {
        *self.attr.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_attr(&self, a: FileAttr) {
        *self.attr.lock().unwrap_or_else(|e| e.into_inner()) = a;
    }
}

/// Ids for host mounts, clear of the in-Sentry filesystems' devices.
static NEXT_MOUNT_ID: AtomicU64 = AtomicU64::new(1 << 40);

/// The root of served tree `index` of `gofer`, as a writable host tree.
pub fn attach(gofer: &Arc<GoferClient>, index: u32) -> SysResult<Arc<Dentry>> {
    let (fid, attr) = gofer.attach_root(index).map_err(gofer_errno)?;
    let mount = Arc::new(HostMount {
        gofer: gofer.clone(),
        id: NEXT_MOUNT_ID.fetch_add(1, Ordering::Relaxed),
        ns: Mutex::new(()),
    });
    Ok(new_dentry(b"", Weak::new(), fid, attr, mount))
}

fn new_dentry(name: &[u8], parent: Weak<Dentry>, fid: Fid, attr: FileAttr, mount: Arc<HostMount>) -> Arc<Dentry> {
    let node = HostNode {
        fid,
        attr: Mutex::new(attr),
        fresh: std::sync::atomic::AtomicBool::new(true),
        seen: AtomicU64::new(now_ms()),
        link_target: OnceLock::new(),
        mount,
        reader: super::KeptReader::default(),
    };
    let d = Dentry::make(name, parent, Node::Host(node));
    super::evict::note(&d);
    d
}

fn host_node(d: &Dentry) -> SysResult<&HostNode> {
    match d.node() {
        Node::Host(h) => Ok(h),
        _ => Err(Errno::EXDEV),
    }
}

/// How long a name the sandbox knows is taken as the host still has it;
/// past that, a lookup asks the host again (a file replaced or removed on
/// the host, by an editor's save, say).
const REVALIDATE_AFTER_MS: u64 = 500;

/// Milliseconds on a monotonic clock of the Sentry's own.
fn now_ms() -> u64 {
    static START: OnceLock<std::time::Instant> = OnceLock::new();
    START.get_or_init(std::time::Instant::now).elapsed().as_millis() as u64
}

/// Looks `name` up in the host directory `dir` (its node `h`): from the
/// cache of names the sandbox knows, or through the Gofer. Nothing
/// negative is cached: the host may make the name at any time; and a
/// cached name is checked with the host again once it is older than
/// [`REVALIDATE_AFTER_MS`].
pub(super) fn lookup(dir: &Arc<Dentry>, h: &HostNode, name: &[u8]) -> SysResult<Arc<Dentry>> {
    let mut kids = dir.children();
    if let Some(Some(cached)) = kids.map.get(name) {
        let cached = cached.clone();
        let stale = match cached.node() {
            Node::Host(c) => now_ms().saturating_sub(c.seen.load(Ordering::Relaxed)) > REVALIDATE_AFTER_MS,
            _ => false,
        };
        if !stale || cached.is_mount_point() {
            return Ok(cached);
        }
        let walked = h.mount.gofer.walk(h.fid, &[name]).map_err(gofer_errno)?;
        let Node::Host(c) = cached.node() else { return Ok(cached) };
        let old = c.attr();
        return match (walked.steps.first(), walked.error) {
            // Still the same file: the name holds, with fresh attributes.
            (Some(&(fid, attr)), _)
                if (attr.dev, attr.ino, attr.mode & libc::S_IFMT) == (old.dev, old.ino, old.mode & libc::S_IFMT) =>
            {
                c.set_attr(attr);
                c.seen.store(now_ms(), Ordering::Relaxed);
                let _ = h.mount.gofer.clunk(fid);
                Ok(cached)
            }
            // Another file now has the name.
            (Some(&(fid, attr)), _) => {
                dir.detach(&mut kids, name);
                let d = new_dentry(name, Arc::downgrade(dir), fid, attr, h.mount.clone());
                kids.map.insert(name.to_vec(), Some(d.clone()));
                Ok(d)
            }
            (None, Some(libc::ENOENT)) => {
                dir.detach(&mut kids, name);
                Err(Errno::ENOENT)
            }
            (None, Some(e)) => Err(Errno(e)),
            (None, None) => Err(Errno::EIO),
        };
    }
    if kids.dead {
        return Err(Errno::ENOENT);
    }
    let walked = h.mount.gofer.walk(h.fid, &[name]).map_err(gofer_errno)?;
    match (walked.steps.first(), walked.error) {
        (Some(&(fid, attr)), _) => {
            let d = new_dentry(name, Arc::downgrade(dir), fid, attr, h.mount.clone());
            kids.map.insert(name.to_vec(), Some(d.clone()));
            Ok(d)
        }
        (None, Some(e)) => Err(Errno(e)),
        (None, None) => Err(Errno::EIO),
    }
}

/// The attributes of `d` as the host has them now, remembered.
pub fn revalidate(d: &Dentry) -> SysResult<FileAttr> {
    let h = host_node(d)?;
    if h.fresh.swap(false, Ordering::Relaxed) {
        return Ok(h.attr());
    }
    restat(d)
}

/// A file opened for writing: its cached attributes may go stale with the
/// app's writes through the fd, so the next stat by name asks the host
/// rather than taking the attributes its lookup just brought.
fn mark_writable_open(d: &Dentry) {
    if let Node::Host(h) = d.node() {
        h.fresh.store(false, Ordering::Relaxed);
    }
}

/// The file's attributes as the host has them now, whatever was cached:
/// for a checkpoint, which a restore checks against a fresh lookup (the
/// cache may predate the app's writes through an open file).
pub fn restat(d: &Dentry) -> SysResult<FileAttr> {
    let h = host_node(d)?;
    h.fresh.store(false, Ordering::Relaxed);
    let attr = h.mount.gofer.stat(h.fid).map_err(gofer_errno)?;
    h.set_attr(attr);
    Ok(attr)
}

/// The owner and exact permission bits of a new file in `dir`, as Linux
/// gives them: the caller's filesystem ids, or the directory's group under
/// a set-group-id directory (whose subdirectories inherit the bit); a
/// non-member's set-group-id bit is dropped (unless CAP_FSETID). `perm` has the umask applied.
fn new_owner_and_mode(dir: &FileAttr, is_dir: bool, perm: u32, creds: &Credentials) -> ((u32, u32), u32) {
    let setgid_dir = dir.mode & S_ISGID != 0;
    let gid = if setgid_dir { dir.gid } else { creds.fsgid };
    let mut perm = perm & 0o7777;
    if is_dir && setgid_dir {
        perm |= S_ISGID;
    }
    if !is_dir && perm & S_ISGID != 0 && !in_group(creds, gid) && !creds.has_cap(abi::flags::capability::CAP_FSETID) {
        perm &= !S_ISGID;
    }
    ((creds.fsuid, gid), perm)
}

/// Puts the new host file `fid` into `dir`'s child map as `name`.
fn add_child(dir: &Arc<Dentry>, name: &[u8], fid: Fid, attr: FileAttr, mount: &Arc<HostMount>) -> Arc<Dentry> {
    let d = new_dentry(name, Weak::new(), fid, attr, mount.clone());
    let mut kids = dir.children();
    dir.attach(&mut kids, name, &d);
    d
}

/// Before a new name in the host directory `dir`: its node, the tree's
/// namespace lock (held), and its attributes, once `creds` may add names
/// to it (and it was not removed).
fn may_make_in<'a>(dir: &'a Dentry, creds: &Credentials) -> SysResult<(&'a HostNode, MutexGuard<'a, ()>, FileAttr)> {
    let h = host_node(dir)?;
    let ns = h.mount.ns_lock();
    if dir.is_dead() {
        return Err(Errno::ENOENT);
    }
    let dattr = h.attr();
    may_create(&dattr, 0, creds)?;
    Ok((h, ns, dattr))
}

/// Makes `name` in the host directory `dir`: mkdir, mknod (FIFOs, sockets
/// and regular files; device nodes are EPERM, as in a container without
/// the device cgroup's leave) and symlink.
pub fn create(dir: &Arc<Dentry>, name: &[u8], kind: NewKind, perm: u32, creds: &Credentials) -> SysResult<Arc<Dentry>> {
    let (h, _ns, dattr) = may_make_in(dir, creds)?;
    let node = match kind {
        NewKind::Dir => NewNode::Dir,
        NewKind::Regular => NewNode::Regular,
        NewKind::Fifo => NewNode::Fifo,
        NewKind::Socket => NewNode::Socket,
        NewKind::Symlink(t) => NewNode::Symlink(t),
        NewKind::Device(..) => return Err(Errno::EPERM),
    };
    let (owner, mode) = new_owner_and_mode(&dattr, matches!(node, NewNode::Dir), perm, creds);
    let mode = if matches!(node, NewNode::Symlink(_)) { 0o777 } else { mode };
    let (fid, attr) = h.mount.gofer.mknod(h.fid, name, node, mode, owner).map_err(gofer_errno)?;
    Ok(add_child(dir, name, fid, attr, &h.mount))
}

/// open(O_CREAT) of a new regular file `name` in the host directory `dir`:
/// its dentry and the donated fd, open with the access mode of `flags`.
pub fn create_file(
    dir: &Arc<Dentry>,
    name: &[u8],
    flags: u32,
    perm: u32,
    creds: &Credentials,
) -> SysResult<(Arc<Dentry>, OwnedFd)> {
    let (h, _ns, dattr) = may_make_in(dir, creds)?;
    let (owner, mode) = new_owner_and_mode(&dattr, false, perm, creds);
    let (fid, attr, fd) = h.mount.gofer.create(h.fid, name, flags, mode, owner).map_err(gofer_errno)?;
    let d = add_child(dir, name, fid, attr, &h.mount);
    mark_writable_open(&d);
    Ok((d, fd))
}

/// unlink, or (`rmdir`) rmdir, of `name` in the host directory `dir`.
pub fn remove(
    dir: &Arc<Dentry>,
    name: &[u8],
    rmdir: bool,
    trailing_slash: bool,
    creds: &Credentials,
) -> SysResult<Arc<Dentry>> {
    let h = host_node(dir)?;
    let _ns = h.mount.ns_lock();
    let victim = lookup(dir, h, name)?;
    if trailing_slash && !rmdir {
        return Err(if victim.is_dir() { Errno::EISDIR } else { Errno::ENOTDIR });
    }
    may_delete(&h.attr(), 0, &victim, rmdir, creds)?;
    if victim.is_mount_point() {
        return Err(Errno::EBUSY);
    }
    h.mount.gofer.unlink(h.fid, name, rmdir).map_err(gofer_errno)?;
    dir.detach(&mut dir.children(), name);
    if let Node::Host(v) = victim.node() {
        let mut a = v.attr();
        if rmdir {
            a.nlink = 0;
            victim.children().dead = true;
        } else {
            a.nlink = a.nlink.saturating_sub(1);
        }
        v.set_attr(a);
    }
    Ok(victim)
}

/// rename (`noreplace`: RENAME_NOREPLACE; `exchange`: RENAME_EXCHANGE)
/// within one host tree. Returns the moved file and the one replaced.
#[allow(clippy::too_many_arguments)]
pub fn rename(
    odir: &Arc<Dentry>,
    oname: &[u8],
    ndir: &Arc<Dentry>,
    nname: &[u8],
    noreplace: bool,
    exchange: bool,
    trailing_slash: bool,
    creds: &Credentials,
) -> SysResult<(Arc<Dentry>, Option<Arc<Dentry>>)> {
    let (oh, nh) = (host_node(odir)?, host_node(ndir)?);
    if !Arc::ptr_eq(&oh.mount, &nh.mount) {
        return Err(Errno::EXDEV);
    }
    let _ns = oh.mount.ns_lock();
    let old = lookup(odir, oh, oname)?;
    let target = match lookup(ndir, nh, nname) {
        Ok(t) => Some(t),
        Err(Errno::ENOENT) if !exchange => None,
        Err(e) => return Err(e),
    };
    let is_dir = old.is_dir();
    if !is_dir && trailing_slash {
        return Err(Errno::ENOTDIR);
    }
    if old.is_ancestor_of(ndir) || (exchange && target.as_ref().is_some_and(|t| t.is_ancestor_of(odir))) {
        return Err(Errno::EINVAL);
    }
    if let Some(t) = &target {
        if !exchange && t.is_ancestor_of(odir) {
            return Err(Errno::ENOTEMPTY);
        }
        if noreplace {
            return Err(Errno::EEXIST);
        }
        // Two names of one file (the same dentry, or hard links): nothing
        // to do, as in Linux.
        let (ta, oa) = (t.attr(), old.attr());
        if Arc::ptr_eq(t, &old) || (!exchange && (ta.dev, ta.ino) == (oa.dev, oa.ino)) {
            return Ok((old, None));
        }
    }
    may_delete(&oh.attr(), 0, &old, is_dir, creds)?;
    match &target {
        Some(t) => may_delete(&nh.attr(), 0, t, if exchange { t.is_dir() } else { is_dir }, creds)?,
        None => {
            if ndir.is_dead() {
                return Err(Errno::ENOENT);
            }
            may_create(&nh.attr(), 0, creds)?;
        }
    }
    if !Arc::ptr_eq(odir, ndir) {
        // A directory's ".." changes: that is a write to it.
        let moved_dirs = [Some(&old), if exchange { target.as_ref() } else { None }];
        for d in moved_dirs.into_iter().flatten().filter(|d| d.is_dir()) {
            check_perm(creds, &d.attr(), MAY_WRITE)?;
        }
    }
    if old.is_mount_point() || target.as_ref().is_some_and(|t| t.is_mount_point()) {
        return Err(Errno::EBUSY);
    }
    let flags = if exchange {
        libc::RENAME_EXCHANGE
    } else if noreplace {
        libc::RENAME_NOREPLACE
    } else {
        0
    };
    oh.mount.gofer.rename(oh.fid, oname, nh.fid, nname, flags).map_err(gofer_errno)?;
    // The child maps follow: the moved name, and the replaced or
    // exchanged one.
    odir.detach(&mut odir.children(), oname);
    {
        let mut nk = ndir.children();
        if target.is_some() {
            ndir.detach(&mut nk, nname);
        }
        ndir.attach(&mut nk, nname, &old);
    }
    match (&target, exchange) {
        (Some(t), true) => odir.attach(&mut odir.children(), oname, t),
        (Some(t), false) => {
            if let Node::Host(tn) = t.node() {
                let mut a = tn.attr();
                a.nlink = if t.is_dir() { 0 } else { a.nlink.saturating_sub(1) };
                tn.set_attr(a);
            }
            if t.is_dir() {
                t.children().dead = true;
            }
        }
        (None, _) => {}
    }
    Ok((old, target))
}

/// link: `name` in the host directory `dir` becomes another name of
/// `target` (same tree; the checks of [`super::ops::link`] are made).
pub fn link(dir: &Arc<Dentry>, name: &[u8], target: &Arc<Dentry>, creds: &Credentials) -> SysResult<()> {
    let (h, th) = (host_node(dir)?, host_node(target)?);
    if !Arc::ptr_eq(&h.mount, &th.mount) {
        return Err(Errno::EXDEV);
    }
    let _ns = h.mount.ns_lock();
    if dir.is_dead() {
        return Err(Errno::ENOENT);
    }
    may_create(&h.attr(), 0, creds)?;
    if target.is_dir() {
        return Err(Errno::EPERM);
    }
    let (fid, attr) = h.mount.gofer.link(th.fid, h.fid, name).map_err(gofer_errno)?;
    th.set_attr(attr);
    add_child(dir, name, fid, attr, &h.mount);
    Ok(())
}

fn time(t: TimeSet) -> Option<Time> {
    match t {
        TimeSet::Omit => None,
        TimeSet::Now => Some(Time::Now),
        TimeSet::At(s, n) => Some(Time::At(s, n)),
    }
}

/// Changes the owner, mode or times of a host file (checked by the
/// caller), and remembers its attributes after.
pub fn setattr(
    d: &Dentry,
    mode: Option<u32>,
    owner: (Option<u32>, Option<u32>),
    times: (TimeSet, TimeSet),
) -> SysResult<()> {
    let h = host_node(d)?;
    let set = SetAttr { mode, uid: owner.0, gid: owner.1, atime: time(times.0), mtime: time(times.1) };
    let attr = h.mount.gofer.setattr(h.fid, set).map_err(gofer_errno)?;
    h.set_attr(attr);
    Ok(())
}

/// Opens the host file `d` with the app's `flags` (the Gofer checks the
/// tree is writable for a write), truncating it for O_TRUNC.
pub fn open(d: &Dentry, flags: u32) -> SysResult<OwnedFd> {
    use abi::flags::open::{O_ACCMODE, O_RDONLY, O_TRUNC};
    let h = host_node(d)?;
    let trunc = flags & O_TRUNC != 0;
    // O_TRUNC alone (with O_RDONLY) truncates too: Linux does, for a
    // caller who may write.
    let access = if trunc && flags & O_ACCMODE == O_RDONLY { abi::flags::open::O_RDWR } else { flags & O_ACCMODE };
    // (The Gofer is asked for the access and O_DIRECTORY alone.)
    let plain_read =
        access == O_RDONLY && flags & abi::flags::open::O_DIRECTORY == 0 && d.file_type() == abi::flags::mode::S_IFREG;
    if let Some(fd) = h.reader.get().filter(|_| plain_read).and_then(|r| r.try_clone().ok()) {
        return Ok(fd);
    }
    let fd = h.mount.gofer.open(h.fid, access | (flags & abi::flags::open::O_DIRECTORY)).map_err(gofer_errno)?;
    if access != O_RDONLY {
        mark_writable_open(d);
    }
    if plain_read {
        if let Ok(kept) = fd.try_clone() {
            h.reader.offer(&Arc::new(kept));
        }
    }
    if trunc && d.file_type() == abi::flags::mode::S_IFREG {
        crate::sys::ftruncate(fd.as_raw_fd(), 0)?;
        truncated(d, 0);
    }
    Ok(fd)
}

/// After the host file of `d` was truncated to `size`: its cache too.
fn truncated(d: &Dentry, size: u64) {
    let a = d.attr();
    if let Some(cache) = super::hostcache::lookup((a.dev, a.ino)) {
        cache.truncated(size);
    }
}

/// truncate(2) of a host file by name: through an fd the Gofer opens for
/// it.
pub fn truncate(d: &Dentry, size: u64) -> SysResult<()> {
    let fd = open(d, abi::flags::open::O_WRONLY)?;
    crate::sys::ftruncate(fd.as_raw_fd(), size)?;
    truncated(d, size);
    revalidate(d).map(drop)
}

/// The host's figures for the filesystem of `d`.
pub fn statfs(d: &Dentry) -> SysResult<gofer::FsStat> {
    let h = host_node(d)?;
    h.mount.gofer.statfs(h.fid).map_err(gofer_errno)
}

/// The sandbox's pipe for the host FIFO `d`: one per FIFO, for as long as
/// it is open. A FIFO in a host tree joins the sandbox's readers and
/// writers, never the host's (the host file is not opened).
pub fn fifo(d: &Dentry) -> Arc<crate::vfs::pipe::Pipe> {
    use std::collections::HashMap;
    /// The pipes of the host FIFOs open in the sandbox, by device and
    /// inode number.
    type Fifos = HashMap<(u64, u64), Weak<crate::vfs::pipe::Pipe>>;
    static FIFOS: Mutex<Option<Fifos>> = Mutex::new(None);
    let a = d.attr();
    let mut fifos = FIFOS.lock().unwrap_or_else(|e| e.into_inner());
    let map = fifos.get_or_insert_with(HashMap::new);
    if let Some(p) = map.get(&(a.dev, a.ino)).and_then(Weak::upgrade) {
        return p;
    }
    map.retain(|_, p| p.strong_count() > 0);
    let p = crate::vfs::pipe::Pipe::new_fifo();
    map.insert((a.dev, a.ino), Arc::downgrade(&p));
    p
}

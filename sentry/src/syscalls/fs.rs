//! Filesystem syscalls that look at names: stat and friends, access,
//! readlink, getcwd and chdir. Shared helpers for path arguments live here;
//! the calls that change names and attributes are in `fs_write`.

use std::sync::Arc;

use abi::flags::access::{F_OK, R_OK, W_OK, X_OK};
use abi::flags::at::{AT_EACCESS, AT_EMPTY_PATH, AT_FDCWD, AT_NO_AUTOMOUNT, AT_STATX_SYNC_TYPE, AT_SYMLINK_NOFOLLOW};
use abi::flags::mode::{S_IFDIR, S_IFLNK, S_IFMT, S_IFREG};
use abi::flags::statx::{STATX_BASIC_STATS, STATX__RESERVED};
use abi::types::{Statx, StatxTimestamp};
use abi::{Errno, Stat};
use gofer::FileAttr;

use super::Args;
use crate::kernel::process::Credentials;
use crate::kernel::task::Task;
use crate::mm::SysResult;
use crate::vfs::file::File;
use crate::vfs::ops::check_perm;
use crate::vfs::{Dentry, Follow, PATH_MAX};

/// Reads a path argument.
pub(super) fn read_path(t: &Task, addr: u64) -> SysResult<Vec<u8>> {
    t.mm().read_cstr(addr, PATH_MAX)
}

/// The directory a relative path starts from: the cwd for AT_FDCWD, else the
/// directory open at `dirfd`.
pub(super) fn start_dir(t: &Task, dirfd: i32, path: &[u8]) -> SysResult<Arc<Dentry>> {
    // An empty path is ENOENT before the dirfd is looked at (Linux's
    // getname); the AT_EMPTY_PATH cases never come here.
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    if path.first() == Some(&b'/') {
        return Ok(t.fs().root.clone());
    }
    if dirfd == AT_FDCWD {
        return Ok(t.fs().cwd.clone());
    }
    let f = t.fds().get(dirfd)?.clone();
    match &f.dentry {
        Some(d) if d.is_dir() => Ok(d.clone()),
        _ => Err(Errno::ENOTDIR),
    }
}

/// Resolves a path argument relative to `dirfd`.
/// Resolves a path argument relative to `dirfd`, with the task's search
/// permissions.
pub(super) fn resolve_at(t: &Task, dirfd: i32, path: &[u8], follow: Follow) -> SysResult<Arc<Dentry>> {
    resolve_at_as(t, dirfd, path, follow, &t.creds())
}

/// [`resolve_at`] with the search permissions of `creds`.
pub(super) fn resolve_at_as(
    t: &Task,
    dirfd: i32,
    path: &[u8],
    follow: Follow,
    creds: &Credentials,
) -> SysResult<Arc<Dentry>> {
    let start = start_dir(t, dirfd, path)?;
    let root = t.fs().root.clone();
    t.kernel.vfs.resolve_as(&root, &start, path, follow, creds)
}

/// What a stat-like call looks at: a name, or (AT_EMPTY_PATH) an open file.
enum Target {
    Name(Arc<Dentry>),
    Open(Arc<File>),
}

impl Target {
    fn attr(&self) -> SysResult<FileAttr> {
        match self {
            Target::Name(d) => d.fresh_attr(),
            Target::Open(f) => f.ops.stat(),
        }
    }

    /// The file's name, if it has one.
    fn dentry(&self) -> Option<&Arc<Dentry>> {
        match self {
            Target::Name(d) => Some(d),
            Target::Open(f) => f.dentry.as_ref(),
        }
    }

    /// The file's inode flags (chattr's).
    fn fsflags(&self) -> u32 {
        self.dentry().map_or(0, |d| d.fsflags())
    }
}

fn stat_target(t: &Task, dirfd: i32, path_addr: u64, flags: u32) -> SysResult<Target> {
    stat_target_as(t, dirfd, path_addr, flags, &t.creds())
}

fn stat_target_as(t: &Task, dirfd: i32, path_addr: u64, flags: u32, creds: &Credentials) -> SysResult<Target> {
    let path = read_path(t, path_addr)?;
    if path.is_empty() && flags & AT_EMPTY_PATH != 0 {
        if dirfd == AT_FDCWD {
            return Ok(Target::Name(t.fs().cwd.clone()));
        }
        return Ok(Target::Open(t.fds().get(dirfd)?.clone()));
    }
    let follow = if flags & AT_SYMLINK_NOFOLLOW != 0 { Follow::No } else { Follow::Yes };
    match resolve_at_as(t, dirfd, &path, follow, creds) {
        // A /proc magic link whose text names nothing (a namespace's
        // `uts:[4026531838]`, a pipe's): the file it stands for, as
        // Linux's stat follows it.
        Err(Errno::ENOENT) if follow == Follow::Yes => {
            let start = start_dir(t, dirfd, &path)?;
            let root = t.fs().root.clone();
            match super::file::magic_link_target(&t.kernel.vfs, &root, &start, &path, creds)? {
                Some(file) => Ok(Target::Open(file)),
                None => Err(Errno::ENOENT),
            }
        }
        r => r.map(Target::Name),
    }
}

/// `struct stat` for an attribute set.
pub(super) fn to_stat(a: &FileAttr) -> Stat {
    Stat {
        st_dev: a.dev,
        st_ino: a.ino,
        st_nlink: a.nlink as _,
        st_mode: a.mode,
        st_uid: a.uid,
        st_gid: a.gid,
        st_rdev: a.rdev,
        st_size: a.size as i64,
        st_blksize: a.blksize as _,
        st_blocks: a.blocks as i64,
        st_atime: a.atime_sec,
        st_atime_nsec: a.atime_nsec,
        st_mtime: a.mtime_sec,
        st_mtime_nsec: a.mtime_nsec,
        st_ctime: a.ctime_sec,
        st_ctime_nsec: a.ctime_nsec,
        ..Stat::default()
    }
}

fn write_stat(t: &Task, addr: u64, target: Target) -> SysResult<u64> {
    let st = to_stat(&target.attr()?);
    t.mm().write_val(addr, &st)?;
    Ok(0)
}

#[cfg(target_arch = "x86_64")]
pub fn stat(t: &mut Task, a: &Args) -> SysResult<u64> {
    let target = stat_target(t, AT_FDCWD, a.addr(0), 0)?;
    write_stat(t, a.addr(1), target)
}

#[cfg(target_arch = "x86_64")]
pub fn lstat(t: &mut Task, a: &Args) -> SysResult<u64> {
    let target = stat_target(t, AT_FDCWD, a.addr(0), AT_SYMLINK_NOFOLLOW)?;
    write_stat(t, a.addr(1), target)
}

pub fn fstat(t: &mut Task, a: &Args) -> SysResult<u64> {
    let f = t.fds().get(a.fd(0))?.clone();
    write_stat(t, a.addr(1), Target::Open(f))
}

pub fn newfstatat(t: &mut Task, a: &Args) -> SysResult<u64> {
    let flags = a.u32(3);
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT) != 0 {
        return Err(Errno::EINVAL);
    }
    let target = stat_target(t, a.fd(0), a.addr(1), flags)?;
    write_stat(t, a.addr(2), target)
}

fn ts(sec: i64, nsec: i64) -> StatxTimestamp {
    StatxTimestamp { tv_sec: sec, tv_nsec: nsec as u32, reserved: 0 }
}

fn major(dev: u64) -> u32 {
    (((dev >> 32) & 0xffff_f000) | ((dev >> 8) & 0xfff)) as u32
}

fn minor(dev: u64) -> u32 {
    (((dev >> 12) & 0xffff_ff00) | (dev & 0xff)) as u32
}

pub fn statx(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (flags, mask) = (a.u32(2), a.u32(3));
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE) != 0
        || flags & AT_STATX_SYNC_TYPE == AT_STATX_SYNC_TYPE
        || mask & STATX__RESERVED != 0
    {
        return Err(Errno::EINVAL);
    }
    let target = stat_target(t, a.fd(0), a.addr(1), flags)?;
    let at = target.attr()?;
    let sx = Statx {
        stx_mask: STATX_BASIC_STATS,
        stx_blksize: at.blksize as u32,
        stx_nlink: at.nlink as u32,
        stx_uid: at.uid,
        stx_gid: at.gid,
        stx_mode: at.mode as u16,
        stx_ino: at.ino,
        stx_size: at.size,
        stx_blocks: at.blocks,
        stx_atime: ts(at.atime_sec, at.atime_nsec),
        stx_ctime: ts(at.ctime_sec, at.ctime_nsec),
        stx_mtime: ts(at.mtime_sec, at.mtime_nsec),
        stx_rdev_major: major(at.rdev),
        stx_rdev_minor: minor(at.rdev),
        stx_dev_major: major(at.dev),
        stx_dev_minor: minor(at.dev),
        ..Statx::default()
    };
    // tmpfs reports its inode flags (Linux's shmem_getattr).
    let sx = match target.dentry().filter(|d| d.inode().is_some()) {
        Some(d) => with_fsflags(sx, d.fsflags()),
        None => sx,
    };
    t.mm().write_val(a.addr(4), &sx)?;
    Ok(0)
}

/// statx's attributes for a tmpfs file with inode flags `fsflags`.
fn with_fsflags(mut sx: Statx, fsflags: u32) -> Statx {
    use abi::flags::fsflags::*;
    for (fl, attr) in
        [(FS_APPEND_FL, STATX_ATTR_APPEND), (FS_IMMUTABLE_FL, STATX_ATTR_IMMUTABLE), (FS_NODUMP_FL, STATX_ATTR_NODUMP)]
    {
        sx.stx_attributes_mask |= attr;
        if fsflags & fl != 0 {
            sx.stx_attributes |= attr;
        }
    }
    sx
}

fn do_access(t: &Task, dirfd: i32, path_addr: u64, mode: u32, flags: u32) -> SysResult<u64> {
    if mode & !(R_OK | W_OK | X_OK) != 0 {
        return Err(Errno::EINVAL);
    }
    if flags & !(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    // access(2) checks, path walk included, with the real ids (and the
    // capabilities that go with them) unless AT_EACCESS.
    let creds = if flags & AT_EACCESS != 0 { t.creds() } else { crate::kernel::caps::access_creds(&t.creds()) };
    let target = stat_target_as(t, dirfd, path_addr, flags, &creds)?;
    let attr = target.attr()?;
    if mode == F_OK {
        return Ok(0);
    }
    let kind = attr.mode & S_IFMT;
    let on_rootfs = match &target {
        Target::Name(d) => d.is_readonly() && d.synth().is_none(),
        Target::Open(f) => f.dentry.as_ref().is_some_and(|d| d.is_readonly() && d.synth().is_none()),
    };
    // The rootfs is read-only: writing to its files or directories fails.
    if mode & W_OK != 0 && matches!(kind, S_IFREG | S_IFDIR | S_IFLNK) && on_rootfs {
        return Err(Errno::EROFS);
    }
    crate::vfs::ops::inode_permission(&creds, &attr, target.fsflags(), mode)?;
    Ok(0)
}

#[cfg(target_arch = "x86_64")]
pub fn access(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_access(t, AT_FDCWD, a.addr(0), a.u32(1), 0)
}

pub fn faccessat(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_access(t, a.fd(0), a.addr(1), a.u32(2), 0)
}

pub fn faccessat2(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_access(t, a.fd(0), a.addr(1), a.u32(2), a.u32(3))
}

fn do_readlink(t: &Task, dirfd: i32, path_addr: u64, buf: u64, size: i32) -> SysResult<u64> {
    if size <= 0 {
        return Err(Errno::EINVAL);
    }
    let path = read_path(t, path_addr)?;
    // An empty path reads the link an fd (O_PATH | O_NOFOLLOW) holds;
    // an fd of anything else is ENOENT, as Linux says for an empty name.
    let d = if path.is_empty() && dirfd != AT_FDCWD {
        let d = t.fds().get(dirfd)?.dentry.clone().ok_or(Errno::ENOENT)?;
        if !d.is_symlink() {
            return Err(Errno::ENOENT);
        }
        d
    } else {
        resolve_at(t, dirfd, &path, Follow::No)?
    };
    let target = t.kernel.vfs.readlink(&d)?;
    let n = target.len().min(size as usize);
    t.mm().copy_out(buf, &target[..n])?;
    Ok(n as u64)
}

#[cfg(target_arch = "x86_64")]
pub fn readlink(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_readlink(t, AT_FDCWD, a.addr(0), a.addr(1), a.i32(2))
}

pub fn readlinkat(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_readlink(t, a.fd(0), a.addr(1), a.addr(2), a.i32(3))
}

pub fn getcwd(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (root, cwd) = {
        let fs = t.fs();
        (fs.root.clone(), fs.cwd.clone())
    };
    if cwd.is_dead() {
        return Err(Errno::ENOENT);
    }
    // A cwd outside a chroot'ed root is "(unreachable)/...", as in Linux.
    let (mut path, reachable) = t.kernel.vfs.path_from(&root, &cwd);
    if !reachable {
        path.splice(0..0, b"(unreachable)".iter().copied());
    }
    path.push(0);
    if (a.u64(1) as usize) < path.len() {
        return Err(Errno::ERANGE);
    }
    t.mm().copy_out(a.addr(0), &path)?;
    Ok(path.len() as u64)
}

pub fn chdir(t: &mut Task, a: &Args) -> SysResult<u64> {
    let path = read_path(t, a.addr(0))?;
    let d = resolve_at(t, AT_FDCWD, &path, Follow::Yes)?;
    if !d.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    if !d.is_rootfs() {
        check_perm(&t.creds(), &d.attr(), crate::vfs::ops::MAY_EXEC)?;
    }
    t.fs().cwd = d;
    Ok(0)
}

/// chroot(2): the task's (and its process's, through the shared context)
/// root becomes the directory, with Linux's checks in its order: the
/// path, search permission, then CAP_SYS_CHROOT. The cwd stays where it
/// is, as in Linux; ".." from it stops at the sandbox's own root whatever
/// happens, so a chroot break-out only ever reaches the sandbox's root.
pub fn chroot(t: &mut Task, a: &Args) -> SysResult<u64> {
    let path = read_path(t, a.addr(0))?;
    let d = resolve_at(t, AT_FDCWD, &path, Follow::Yes)?;
    if !d.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    let creds = t.creds();
    // (As chdir: the root's own tree is searched as its owner allows.)
    if !d.is_rootfs() {
        check_perm(&creds, &d.attr(), crate::vfs::ops::MAY_EXEC)?;
    }
    if !creds.has_cap(abi::flags::capability::CAP_SYS_CHROOT) {
        return Err(Errno::EPERM);
    }
    t.fs().root = d;
    Ok(0)
}

pub fn fchdir(t: &mut Task, a: &Args) -> SysResult<u64> {
    let f = t.fds().get(a.fd(0))?.clone();
    match &f.dentry {
        Some(d) if d.is_dir() => {
            // Search permission, as chdir asks (an O_PATH fd included).
            if !d.is_rootfs() {
                check_perm(&t.creds(), &d.attr(), crate::vfs::ops::MAY_EXEC)?;
            }
            t.fs().cwd = d.clone();
            Ok(0)
        }
        _ => Err(Errno::ENOTDIR),
    }
}

/// name_to_handle_at's and open_by_handle_at's constants.
mod fh {
    pub const AT_HANDLE_FID: u32 = 0x200;
    pub const AT_HANDLE_MNT_ID_UNIQUE: u32 = 0x001;
    pub const AT_HANDLE_CONNECTABLE: u32 = 0x002;
    pub const AT_SYMLINK_FOLLOW: u32 = 0x400;
    pub const MAX_HANDLE_SZ: u32 = 128;
    /// The Sentry's handles: a generation and a 64-bit inode number, in
    /// three words, as Linux's tmpfs encodes them (type 1).
    pub const HANDLE_BYTES: u32 = 12;
    pub const FILEID_INO32_GEN: i32 = 1;
    /// A handle that is only an id (AT_HANDLE_FID on a filesystem that
    /// cannot decode one): Linux's default encoding.
    pub const FILEID_INO64_GEN: i32 = 0x81;
    /// What an encoder says when the buffer is too small.
    pub const FILEID_INVALID: i32 = 0xff;
    pub const FILEID_IS_CONNECTABLE: i32 = 0x10000;
    pub const FILEID_IS_DIR: i32 = 0x20000;
    /// The user flags of a handle's type.
    pub const FILEID_USER_FLAGS_MASK: u32 = 0xffff_0000;
    /// Where unique mount ids start (Linux counts them from 2^32).
    pub const UNIQUE_MNT_ID_BASE: u64 = 1 << 32;
}

/// name_to_handle_at(2): a handle for the file, as Linux 6.18 checks and
/// writes it (the flags, then the name, then whether its filesystem can
/// decode handles: the Sentry's synthetic ones, /proc, /sys, /dev/pts and
/// the message queues, cannot, EOPNOTSUPP but for AT_HANDLE_FID; then the
/// caller's buffer: EINVAL past MAX_HANDLE_SZ, EOVERFLOW with the size
/// needed when too small, the mount id written either way).
pub fn name_to_handle_at(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (dirfd, path_addr, handle_addr, mnt_addr, flags) = (a.fd(0), a.addr(1), a.addr(2), a.addr(3), a.u32(4));
    let known = fh::AT_SYMLINK_FOLLOW
        | AT_EMPTY_PATH
        | fh::AT_HANDLE_FID
        | fh::AT_HANDLE_MNT_ID_UNIQUE
        | fh::AT_HANDLE_CONNECTABLE;
    let connectable = flags & fh::AT_HANDLE_CONNECTABLE != 0;
    if flags & !known != 0 || (connectable && flags & (fh::AT_HANDLE_FID | AT_EMPTY_PATH) != 0) {
        return Err(Errno::EINVAL);
    }
    let path = read_path(t, path_addr)?;
    let (dentry, attr) = if path.is_empty() && flags & AT_EMPTY_PATH != 0 {
        if dirfd == AT_FDCWD {
            let cwd = t.fs().cwd.clone();
            let attr = cwd.attr();
            (Some(cwd), attr)
        } else {
            let f = t.fds().get(dirfd)?.clone();
            // The name's device and number where there is one (an open
            // file's may say otherwise, a tmpfs file's device).
            let attr = match &f.dentry {
                Some(d) => d.attr(),
                None => f.ops.stat()?,
            };
            (f.dentry.clone(), attr)
        }
    } else {
        let follow = if flags & fh::AT_SYMLINK_FOLLOW != 0 { Follow::Yes } else { Follow::No };
        let d = resolve_at(t, dirfd, &path, follow)?;
        let attr = d.attr();
        (Some(d), attr)
    };
    let decodable = dentry.as_ref().filter(|d| d.synth().is_none());
    if decodable.is_none() && flags & fh::AT_HANDLE_FID == 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let [size, _]: [u32; 2] = t.mm().read_val(handle_addr)?;
    if size > fh::MAX_HANDLE_SZ {
        return Err(Errno::EINVAL);
    }
    let fits = size >= fh::HANDLE_BYTES;
    let (gen, mut kind) = match decodable {
        Some(d) if fits => (t.kernel.handles.encode(attr.dev, attr.ino, d), fh::FILEID_INO32_GEN),
        Some(_) => (0, fh::FILEID_INVALID),
        None => (0, fh::FILEID_INO64_GEN),
    };
    if fits && connectable {
        kind |= fh::FILEID_IS_CONNECTABLE;
        if attr.mode & S_IFMT == S_IFDIR {
            kind |= fh::FILEID_IS_DIR;
        }
    }
    let mnt_id = crate::vfs::procfs::mount_id_of(&t.kernel, attr.dev) as u64;
    if flags & fh::AT_HANDLE_MNT_ID_UNIQUE != 0 {
        t.mm().write_val(mnt_addr, &(fh::UNIQUE_MNT_ID_BASE + mnt_id))?;
    } else {
        t.mm().write_val(mnt_addr, &(mnt_id as u32))?;
    }
    // The header always (the size needed, when it did not fit), the
    // handle when it fits.
    let mut out = Vec::with_capacity(8 + fh::HANDLE_BYTES as usize);
    out.extend_from_slice(&fh::HANDLE_BYTES.to_le_bytes());
    out.extend_from_slice(&kind.to_le_bytes());
    if fits {
        out.extend_from_slice(&gen.to_le_bytes());
        out.extend_from_slice(&attr.ino.to_le_bytes());
    }
    t.mm().copy_out(handle_addr, &out)?;
    if fits {
        Ok(0)
    } else {
        Err(Errno::EOVERFLOW)
    }
}

/// open_by_handle_at(2): opens the file a handle names, found through the
/// filesystem of `mount_fd` (AT_FDCWD: the cwd's), as Linux 6.18 checks
/// it: the handle's size and type flags (EINVAL), the fd (EBADF),
/// CAP_DAC_READ_SEARCH in the app's capabilities (EPERM), and a handle
/// of no file of that filesystem (ESTALE; see [`crate::vfs::handles`]).
/// The file opens as openat opens it.
pub fn open_by_handle_at(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (mount_fd, handle_addr, flags) = (a.fd(0), a.addr(1), a.u32(2));
    let [size, kind]: [u32; 2] = t.mm().read_val(handle_addr)?;
    let user_flags = kind & fh::FILEID_USER_FLAGS_MASK;
    let valid_flags = (fh::FILEID_IS_CONNECTABLE | fh::FILEID_IS_DIR) as u32;
    if size == 0 || size > fh::MAX_HANDLE_SZ || (kind as i32) < 0 || user_flags & !valid_flags != 0 {
        return Err(Errno::EINVAL);
    }
    let anchor = if mount_fd >= 0 {
        let f = t.fds().get(mount_fd)?.clone();
        f.dentry.clone()
    } else if mount_fd == AT_FDCWD {
        Some(t.fs().cwd.clone())
    } else {
        return Err(Errno::EBADF);
    };
    if !t.creds().has_cap(abi::flags::capability::CAP_DAC_READ_SEARCH) {
        return Err(Errno::EPERM);
    }
    let mut bytes = vec![0u8; size as usize];
    t.mm().copy_in(handle_addr + 8, &mut bytes)?;
    // A file with no name (a pipe, a socket) anchors a filesystem of no
    // decodable files.
    let anchor = anchor.ok_or(Errno::ESTALE)?;
    if size != fh::HANDLE_BYTES || (kind & !fh::FILEID_USER_FLAGS_MASK) as i32 != fh::FILEID_INO32_GEN {
        return Err(Errno::ESTALE);
    }
    let gen = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
    let mut ino = [0u8; 8];
    ino.copy_from_slice(&bytes[4..12]);
    let d = t.kernel.handles.decode(anchor.attr().dev, u64::from_le_bytes(ino), gen).ok_or(Errno::ESTALE)?;
    if user_flags & fh::FILEID_IS_DIR as u32 != 0 && !d.is_dir() {
        return Err(Errno::ESTALE);
    }
    let creds = t.creds();
    let file = super::file::open_resolved(t, d, flags, &creds, false, None)?;
    if flags & abi::flags::open::O_PATH == 0 {
        if let Some(d) = &file.dentry {
            crate::vfs::inotify::notify_dentry(d, crate::vfs::inotify::IN_OPEN);
        }
    }
    let limit = t.nofile_limit();
    let cloexec = flags & abi::flags::open::O_CLOEXEC != 0;
    t.fds().insert(file, cloexec, 0, limit).map(|fd| fd as u64)
}

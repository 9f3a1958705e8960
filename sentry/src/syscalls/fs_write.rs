//! Filesystem syscalls that change names or attributes: mkdir, mknod,
//! symlink, link, unlink, rmdir and rename in their variants; chmod, chown
//! and the utime family; truncate and fallocate; the sync family; statfs,
//! ustat and sysfs(2).
//!
//! They act on the in-Sentry filesystems (tmpfs, devfs) and fail on the
//! read-only rootfs with Linux's errno precedence (see `vfs::ops`).

use std::sync::Arc;

use abi::flags::at::{AT_EMPTY_PATH, AT_FDCWD, AT_REMOVEDIR, AT_SYMLINK_FOLLOW, AT_SYMLINK_NOFOLLOW};
use abi::flags::mode::{S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO, S_IFMT, S_IFREG, S_IFSOCK};
use abi::flags::open::{O_ACCMODE, O_PATH, O_RDONLY};
use abi::types::Timespec;
#[cfg(target_arch = "x86_64")]
use abi::types::Timeval;
use abi::Errno;
use zerocopy::{Immutable, IntoBytes};

use super::fs::{read_path, resolve_at, start_dir};
use super::Args;
use crate::kernel::task::Task;
use crate::mm::SysResult;
use crate::vfs::file::File;
use crate::vfs::ops;
use crate::vfs::tmpfs::{FsKind, NewKind, TimeSet, TMPFS_MAGIC};
use crate::vfs::{Dentry, Follow, Node, ParentPath};

/// renameat2 flags.
const RENAME_NOREPLACE: u32 = 1;
const RENAME_EXCHANGE: u32 = 2;
const RENAME_WHITEOUT: u32 = 4;
/// fallocate modes.
const FALLOC_FL_KEEP_SIZE: u32 = 1;
const FALLOC_FL_PUNCH_HOLE: u32 = 2;
/// utimensat's special nanosecond values.
const UTIME_NOW: i64 = (1 << 30) - 1;
const UTIME_OMIT: i64 = (1 << 30) - 2;
/// statfs magic numbers.
const V9FS_MAGIC: i64 = 0x0102_1997;
const OVERLAYFS_MAGIC: i64 = 0x794c_7630;
const PIPEFS_MAGIC: i64 = 0x5049_5045;
/// statfs `f_flags`.
const ST_RDONLY: i64 = 1;
const ST_NOSUID: i64 = 2;
const ST_NODEV: i64 = 4;
const ST_NOEXEC: i64 = 8;
const ST_VALID: i64 = 0x20;
const ST_RELATIME: i64 = 0x1000;

/// The directory and last component of a path argument.
pub(super) fn parent_at(t: &Task, dirfd: i32, path: &[u8]) -> SysResult<ParentPath> {
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    let start = start_dir(t, dirfd, path)?;
    let root = t.fs().root.clone();
    t.kernel.vfs.resolve_parent_as(&root, &start, path, &t.creds())
}

pub(super) fn umask(t: &Task) -> u32 {
    t.fs().umask
}

fn do_mkdir(t: &Task, dirfd: i32, path_addr: u64, mode: u32) -> SysResult<u64> {
    let path = read_path(t, path_addr)?;
    let pp = parent_at(t, dirfd, &path)?;
    let perm = mode & 0o1777 & !umask(t);
    ops::make_node(&t.kernel.vfs, &pp, NewKind::Dir, perm, &t.creds())?;
    Ok(0)
}

#[cfg(target_arch = "x86_64")]
pub fn mkdir(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_mkdir(t, AT_FDCWD, a.addr(0), a.u32(1))
}

pub fn mkdirat(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_mkdir(t, a.fd(0), a.addr(1), a.u32(2))
}

fn do_mknod(t: &Task, dirfd: i32, path_addr: u64, mode: u32, dev: u64) -> SysResult<u64> {
    let path = read_path(t, path_addr)?;
    let fmt = mode & S_IFMT;
    let kind = match fmt {
        0 | S_IFREG => NewKind::Regular,
        S_IFIFO => NewKind::Fifo,
        S_IFSOCK => NewKind::Socket,
        S_IFCHR | S_IFBLK => NewKind::Device(fmt, dev),
        S_IFDIR => return Err(Errno::EPERM),
        _ => return Err(Errno::EINVAL),
    };
    let pp = parent_at(t, dirfd, &path)?;
    // A device node (CAP_MKNOD's) opens the Sentry's device of its number,
    // never the host's; the Gofer's trees refuse them (EPERM).
    ops::make_node(&t.kernel.vfs, &pp, kind, mode & 0o7777 & !umask(t), &t.creds())?;
    Ok(0)
}

#[cfg(target_arch = "x86_64")]
pub fn mknod(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_mknod(t, AT_FDCWD, a.addr(0), a.u32(1), a.u64(2))
}

pub fn mknodat(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_mknod(t, a.fd(0), a.addr(1), a.u32(2), a.u64(3))
}

fn do_symlink(t: &Task, target_addr: u64, dirfd: i32, path_addr: u64) -> SysResult<u64> {
    let target = read_path(t, target_addr)?;
    let path = read_path(t, path_addr)?;
    if target.is_empty() {
        return Err(Errno::ENOENT);
    }
    let pp = parent_at(t, dirfd, &path)?;
    ops::make_node(&t.kernel.vfs, &pp, NewKind::Symlink(target), 0o777, &t.creds())?;
    Ok(0)
}

#[cfg(target_arch = "x86_64")]
pub fn symlink(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_symlink(t, a.addr(0), AT_FDCWD, a.addr(1))
}

pub fn symlinkat(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_symlink(t, a.addr(0), a.fd(1), a.addr(2))
}

fn do_link(t: &Task, olddirfd: i32, old_addr: u64, newdirfd: i32, new_addr: u64, flags: u32) -> SysResult<u64> {
    if flags & !(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let old = read_path(t, old_addr)?;
    let new = read_path(t, new_addr)?;
    let target = if old.is_empty() && flags & AT_EMPTY_PATH != 0 {
        // flink() of an open file needs CAP_DAC_READ_SEARCH.
        if !t.creds().has_cap(abi::flags::capability::CAP_DAC_READ_SEARCH) {
            return Err(Errno::ENOENT);
        }
        t.fds().get(olddirfd)?.dentry.clone().ok_or(Errno::ENOENT)?
    } else if flags & AT_SYMLINK_FOLLOW != 0 {
        // A /proc/PID/fd link leads to its open file's own name, deleted
        // or not (an O_TMPFILE file given a name this way).
        let start = super::fs::start_dir(t, olddirfd, &old)?;
        let root = t.fs().root.clone();
        let creds = t.creds();
        match super::file::magic_link_target(&t.kernel.vfs, &root, &start, &old, &creds)? {
            Some(file) => file.dentry.clone().ok_or(Errno::ENOENT)?,
            None => resolve_at(t, olddirfd, &old, Follow::Yes)?,
        }
    } else {
        resolve_at(t, olddirfd, &old, Follow::No)?
    };
    let pp = parent_at(t, newdirfd, &new)?;
    ops::link(&t.kernel.vfs, &target, &pp, &t.creds())?;
    Ok(0)
}

#[cfg(target_arch = "x86_64")]
pub fn link(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_link(t, AT_FDCWD, a.addr(0), AT_FDCWD, a.addr(1), 0)
}

pub fn linkat(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_link(t, a.fd(0), a.addr(1), a.fd(2), a.addr(3), a.u32(4))
}

fn do_unlink(t: &Task, dirfd: i32, path_addr: u64, flags: u32) -> SysResult<u64> {
    if flags & !AT_REMOVEDIR != 0 {
        return Err(Errno::EINVAL);
    }
    let path = read_path(t, path_addr)?;
    let pp = parent_at(t, dirfd, &path)?;
    if flags & AT_REMOVEDIR != 0 {
        ops::rmdir(&t.kernel.vfs, &pp, &t.creds())?;
    } else {
        ops::unlink(&t.kernel.vfs, &pp, &t.creds())?;
    }
    Ok(0)
}

#[cfg(target_arch = "x86_64")]
pub fn unlink(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_unlink(t, AT_FDCWD, a.addr(0), 0)
}

pub fn unlinkat(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_unlink(t, a.fd(0), a.addr(1), a.u32(2))
}

#[cfg(target_arch = "x86_64")]
pub fn rmdir(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_unlink(t, AT_FDCWD, a.addr(0), AT_REMOVEDIR)
}

fn do_rename(t: &Task, olddirfd: i32, old_addr: u64, newdirfd: i32, new_addr: u64, flags: u32) -> SysResult<u64> {
    if flags & !(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT) != 0 {
        return Err(Errno::EINVAL);
    }
    if flags & RENAME_NOREPLACE != 0 && flags & (RENAME_EXCHANGE | RENAME_WHITEOUT) != 0 {
        return Err(Errno::EINVAL);
    }
    // Whiteouts are for overlay filesystems, which there are none of.
    if flags & RENAME_WHITEOUT != 0 {
        return Err(Errno::EINVAL);
    }
    let old = read_path(t, old_addr)?;
    let new = read_path(t, new_addr)?;
    let opp = parent_at(t, olddirfd, &old)?;
    let npp = parent_at(t, newdirfd, &new)?;
    ops::rename(&t.kernel.vfs, &opp, &npp, flags & RENAME_NOREPLACE != 0, flags & RENAME_EXCHANGE != 0, &t.creds())?;
    Ok(0)
}

#[cfg(target_arch = "x86_64")]
pub fn rename(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_rename(t, AT_FDCWD, a.addr(0), AT_FDCWD, a.addr(1), 0)
}

pub fn renameat(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_rename(t, a.fd(0), a.addr(1), a.fd(2), a.addr(3), 0)
}

pub fn renameat2(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_rename(t, a.fd(0), a.addr(1), a.fd(2), a.addr(3), a.u32(4))
}

/// What an attribute call acts on: a name, or (by fd) an open file, which
/// may have no name at all (a pipe).
fn target_at(t: &Task, dirfd: i32, path: &[u8], flags: u32) -> SysResult<Option<Arc<Dentry>>> {
    if path.is_empty() && flags & AT_EMPTY_PATH != 0 {
        if dirfd == AT_FDCWD {
            return Ok(Some(t.fs().cwd.clone()));
        }
        return Ok(t.fds().get(dirfd)?.dentry.clone());
    }
    let follow = if flags & AT_SYMLINK_NOFOLLOW != 0 { Follow::No } else { Follow::Yes };
    resolve_at(t, dirfd, path, follow).map(Some)
}

/// The open file at `fd` for fchmod, fchown and futimens (not O_PATH).
fn open_target(t: &Task, fd: i32) -> SysResult<Option<Arc<Dentry>>> {
    let f: Arc<File> = t.fds().get(fd)?.clone();
    if f.flags() & O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    Ok(f.dentry.clone())
}

fn chmod_at(t: &Task, dirfd: i32, path_addr: u64, mode: u32) -> SysResult<u64> {
    let path = read_path(t, path_addr)?;
    if let Some(d) = target_at(t, dirfd, &path, 0)? {
        ops::chmod(&d, mode, &t.creds())?;
    }
    Ok(0)
}

#[cfg(target_arch = "x86_64")]
pub fn chmod(t: &mut Task, a: &Args) -> SysResult<u64> {
    chmod_at(t, AT_FDCWD, a.addr(0), a.u32(1))
}

pub fn fchmodat(t: &mut Task, a: &Args) -> SysResult<u64> {
    chmod_at(t, a.fd(0), a.addr(1), a.u32(2))
}

/// fchmodat2: fchmodat with flags. AT_EMPTY_PATH changes the file `dirfd`
/// is; with AT_SYMLINK_NOFOLLOW a symlink's own mode cannot change
/// (EOPNOTSUPP, as on Linux's filesystems).
pub fn fchmodat2(t: &mut Task, a: &Args) -> SysResult<u64> {
    let flags = a.u32(3);
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let path = read_path(t, a.addr(1))?;
    if let Some(d) = target_at(t, a.fd(0), &path, flags)? {
        if d.is_symlink() {
            return Err(Errno::EOPNOTSUPP);
        }
        ops::chmod(&d, a.u32(2), &t.creds())?;
    }
    Ok(0)
}

pub fn fchmod(t: &mut Task, a: &Args) -> SysResult<u64> {
    if let Some(d) = open_target(t, a.fd(0))? {
        ops::chmod(&d, a.u32(1), &t.creds())?;
    }
    Ok(0)
}

fn id_arg(v: u32) -> Option<u32> {
    (v != u32::MAX).then_some(v)
}

fn chown_at(t: &Task, dirfd: i32, path_addr: u64, uid: u32, gid: u32, flags: u32) -> SysResult<u64> {
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let path = read_path(t, path_addr)?;
    if let Some(d) = target_at(t, dirfd, &path, flags)? {
        ops::chown(&d, id_arg(uid), id_arg(gid), &t.creds())?;
    }
    Ok(0)
}

#[cfg(target_arch = "x86_64")]
pub fn chown(t: &mut Task, a: &Args) -> SysResult<u64> {
    chown_at(t, AT_FDCWD, a.addr(0), a.u32(1), a.u32(2), 0)
}

#[cfg(target_arch = "x86_64")]
pub fn lchown(t: &mut Task, a: &Args) -> SysResult<u64> {
    chown_at(t, AT_FDCWD, a.addr(0), a.u32(1), a.u32(2), AT_SYMLINK_NOFOLLOW)
}

pub fn fchownat(t: &mut Task, a: &Args) -> SysResult<u64> {
    chown_at(t, a.fd(0), a.addr(1), a.u32(2), a.u32(3), a.u32(4))
}

pub fn fchown(t: &mut Task, a: &Args) -> SysResult<u64> {
    if let Some(d) = open_target(t, a.fd(0))? {
        ops::chown(&d, id_arg(a.u32(1)), id_arg(a.u32(2)), &t.creds())?;
    }
    Ok(0)
}

fn timespec_arg(ts: Timespec) -> SysResult<TimeSet> {
    match ts.tv_nsec {
        UTIME_NOW => Ok(TimeSet::Now),
        UTIME_OMIT => Ok(TimeSet::Omit),
        n if (0..1_000_000_000).contains(&n) => Ok(TimeSet::At(ts.tv_sec, n)),
        _ => Err(Errno::EINVAL),
    }
}

#[cfg(target_arch = "x86_64")]
fn timeval_arg(tv: Timeval) -> SysResult<TimeSet> {
    if !(0..1_000_000).contains(&tv.tv_usec) {
        return Err(Errno::EINVAL);
    }
    Ok(TimeSet::At(tv.tv_sec, tv.tv_usec * 1000))
}

/// Sets times on the file named by `dirfd` and `path` (`None`: the file
/// open at `dirfd` itself, as futimens does).
fn set_times(t: &Task, dirfd: i32, path: Option<&[u8]>, times: (TimeSet, TimeSet), flags: u32) -> SysResult<u64> {
    if times == (TimeSet::Omit, TimeSet::Omit) {
        // Nothing to do: Linux does not even look at the path.
        return Ok(0);
    }
    let target = match path {
        None => open_target(t, dirfd)?,
        Some(p) => target_at(t, dirfd, p, flags)?,
    };
    if let Some(d) = target {
        ops::utimes(&d, times.0, times.1, &t.creds())?;
    }
    Ok(0)
}

pub fn utimensat(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (dirfd, path_addr, times_addr, flags) = (a.fd(0), a.addr(1), a.addr(2), a.u32(3));
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL);
    }
    let times = if times_addr == 0 {
        (TimeSet::Now, TimeSet::Now)
    } else {
        let ts: [Timespec; 2] = t.mm().read_val(times_addr)?;
        (timespec_arg(ts[0])?, timespec_arg(ts[1])?)
    };
    if path_addr == 0 {
        if dirfd == AT_FDCWD {
            return Err(Errno::EFAULT);
        }
        if flags & AT_SYMLINK_NOFOLLOW != 0 {
            return Err(Errno::EINVAL);
        }
        return set_times(t, dirfd, None, times, 0);
    }
    let path = read_path(t, path_addr)?;
    set_times(t, dirfd, Some(&path), times, flags)
}

#[cfg(target_arch = "x86_64")]
fn timevals(t: &Task, addr: u64) -> SysResult<(TimeSet, TimeSet)> {
    if addr == 0 {
        return Ok((TimeSet::Now, TimeSet::Now));
    }
    let tv: [Timeval; 2] = t.mm().read_val(addr)?;
    Ok((timeval_arg(tv[0])?, timeval_arg(tv[1])?))
}

#[cfg(target_arch = "x86_64")]
pub fn utimes(t: &mut Task, a: &Args) -> SysResult<u64> {
    let path = read_path(t, a.addr(0))?;
    let times = timevals(t, a.addr(1))?;
    set_times(t, AT_FDCWD, Some(&path), times, 0)
}

#[cfg(target_arch = "x86_64")]
pub fn futimesat(t: &mut Task, a: &Args) -> SysResult<u64> {
    let dirfd = a.fd(0);
    let times = timevals(t, a.addr(2))?;
    if a.addr(1) == 0 {
        if dirfd == AT_FDCWD {
            return Err(Errno::EFAULT);
        }
        return set_times(t, dirfd, None, times, 0);
    }
    let path = read_path(t, a.addr(1))?;
    set_times(t, dirfd, Some(&path), times, 0)
}

#[cfg(target_arch = "x86_64")]
pub fn utime(t: &mut Task, a: &Args) -> SysResult<u64> {
    let path = read_path(t, a.addr(0))?;
    let times = if a.addr(1) == 0 {
        (TimeSet::Now, TimeSet::Now)
    } else {
        let b: [i64; 2] = t.mm().read_val(a.addr(1))?;
        (TimeSet::At(b[0], 0), TimeSet::At(b[1], 0))
    };
    set_times(t, AT_FDCWD, Some(&path), times, 0)
}

pub fn truncate(t: &mut Task, a: &Args) -> SysResult<u64> {
    let path = read_path(t, a.addr(0))?;
    let len = u64::try_from(a.i64(1)).map_err(|_| Errno::EINVAL)?;
    let d = resolve_at(t, AT_FDCWD, &path, Follow::Yes)?;
    // A truncation breaks leases as an open for writing does.
    ops::may_truncate(&d, &t.creds())?;
    super::locks::break_leases(t, &d, abi::flags::open::O_WRONLY)?;
    check_fsize_limit(t, len)?;
    ops::truncate(&d, len, &t.creds())?;
    Ok(0)
}

/// A truncate to `len` past RLIMIT_FSIZE: SIGXFSZ and EFBIG.
fn check_fsize_limit(t: &Task, len: u64) -> SysResult<()> {
    let limit = t.rlimits()[abi::flags::rlimit::RLIMIT_FSIZE as usize].cur;
    if len > limit {
        super::file::signal_xfsz(t);
        return Err(Errno::EFBIG);
    }
    Ok(())
}

pub fn ftruncate(t: &mut Task, a: &Args) -> SysResult<u64> {
    let f = t.fds().get(a.fd(0))?.clone();
    let len = u64::try_from(a.i64(1)).map_err(|_| Errno::EINVAL)?;
    if f.flags() & O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    if f.flags() & O_ACCMODE == O_RDONLY {
        return Err(Errno::EINVAL);
    }
    if f.dentry.as_ref().is_some_and(|d| d.is_append_only()) {
        return Err(Errno::EPERM);
    }
    check_fsize_limit(t, len)?;
    f.ops.truncate(len)?;
    if let Some(d) = &f.dentry {
        crate::vfs::inotify::notify_dentry(d, crate::vfs::inotify::IN_MODIFY);
    }
    Ok(0)
}

pub fn fallocate(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (fd, mode, offset, len) = (a.fd(0), a.u32(1), a.i64(2), a.i64(3));
    if mode & !(FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE) != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    if mode & FALLOC_FL_PUNCH_HOLE != 0 && mode & FALLOC_FL_KEEP_SIZE == 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    if offset < 0 || len <= 0 {
        return Err(Errno::EINVAL);
    }
    let f = t.fds().get(fd)?.clone();
    if f.flags() & O_PATH != 0 || f.flags() & O_ACCMODE == O_RDONLY {
        return Err(Errno::EBADF);
    }
    // Linux's vfs_fallocate: only preallocation on an append-only file,
    // nothing on an immutable one.
    if let Some(d) = &f.dentry {
        if (mode & !FALLOC_FL_KEEP_SIZE != 0 && d.is_append_only()) || d.is_immutable() {
            return Err(Errno::EPERM);
        }
    }
    match f.ops.stat()?.mode & S_IFMT {
        S_IFIFO => return Err(Errno::ESPIPE),
        S_IFDIR => return Err(Errno::EISDIR),
        S_IFREG => {}
        _ => return Err(Errno::ENODEV),
    }
    if offset.checked_add(len).is_none() {
        return Err(Errno::EFBIG);
    }
    f.ops.allocate(offset as u64, len as u64, mode & FALLOC_FL_KEEP_SIZE != 0, mode & FALLOC_FL_PUNCH_HOLE != 0)?;
    Ok(0)
}

/// fsync and fdatasync: files and directories sync (a writable host
/// tree's files on the host; in-Sentry data is already where it
/// belongs), streams do not.
pub fn fsync(t: &mut Task, a: &Args) -> SysResult<u64> {
    let f = t.fds().get(a.fd(0))?.clone();
    if f.flags() & O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    match f.ops.stat()?.mode & S_IFMT {
        S_IFREG | S_IFDIR => f.ops.sync(false).map(|()| 0),
        _ => Err(Errno::EINVAL),
    }
}

pub fn fdatasync(t: &mut Task, a: &Args) -> SysResult<u64> {
    let f = t.fds().get(a.fd(0))?.clone();
    if f.flags() & O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    match f.ops.stat()?.mode & S_IFMT {
        S_IFREG | S_IFDIR => f.ops.sync(true).map(|()| 0),
        _ => Err(Errno::EINVAL),
    }
}

pub fn syncfs(t: &mut Task, a: &Args) -> SysResult<u64> {
    t.fds().get(a.fd(0))?;
    Ok(0)
}

pub fn sync(_t: &mut Task, _a: &Args) -> SysResult<u64> {
    Ok(0)
}

/// `struct statfs` (x86-64).
#[repr(C)]
#[derive(Clone, Copy, Default, IntoBytes, Immutable)]
struct Statfs {
    f_type: i64,
    f_bsize: i64,
    f_blocks: u64,
    f_bfree: u64,
    f_bavail: u64,
    f_files: u64,
    f_ffree: u64,
    f_fsid: [i32; 2],
    f_namelen: i64,
    f_frsize: i64,
    f_flags: i64,
    f_spare: [i64; 4],
}
const _: () = assert!(std::mem::size_of::<Statfs>() == 120);

/// A host filesystem's figures, as a mount of the sandbox reports them.
fn host_statfs(fs: gofer::FsStat, fsid: u64, readonly: bool) -> Statfs {
    Statfs {
        f_type: fs.fs_type as i64,
        f_bsize: fs.bsize as i64,
        f_blocks: fs.blocks,
        f_bfree: fs.bfree,
        f_bavail: fs.bavail,
        f_files: fs.files,
        f_ffree: fs.ffree,
        f_fsid: [fsid as i32, 0],
        f_namelen: fs.namelen as i64,
        f_frsize: fs.frsize as i64,
        f_flags: ST_VALID | ST_RELATIME | if readonly { ST_RDONLY } else { 0 },
        ..Statfs::default()
    }
}

fn statfs_of(d: Option<&Dentry>, gofer: Option<&gofer::GoferClient>) -> Statfs {
    let base = Statfs { f_bsize: 4096, f_frsize: 4096, f_namelen: 255, ..Statfs::default() };
    // An overlay root reports the space of the disk beneath it.
    if let Some(ov) = d.and_then(|d| d.overlay()) {
        let (bsize, blocks, bfree, bavail, files, ffree) = ov.space();
        let bsize = if bsize == 0 { 4096 } else { bsize as i64 };
        return Statfs {
            f_type: OVERLAYFS_MAGIC,
            f_bsize: bsize,
            f_frsize: bsize,
            f_blocks: blocks,
            f_bfree: bfree,
            f_bavail: bavail,
            f_files: files,
            f_ffree: ffree,
            f_fsid: [ov.fs.id() as i32, 0],
            f_flags: ST_VALID | ST_RELATIME,
            ..base
        };
    }
    match d.map(|d| d.node()) {
        Some(Node::Mem(i)) => {
            let blocks = i.fs.pages_max();
            let used = i.fs.pages_used();
            let mut flags = match i.fs.kind() {
                FsKind::Tmpfs => ST_VALID | ST_RELATIME,
                FsKind::Devfs => ST_VALID | ST_NOSUID | ST_RELATIME,
            };
            if i.fs.readonly() {
                flags |= ST_RDONLY;
            }
            let files = blocks.max(1 << 16);
            Statfs {
                f_type: TMPFS_MAGIC,
                f_blocks: blocks,
                f_bfree: blocks.saturating_sub(used),
                f_bavail: blocks.saturating_sub(used),
                f_files: files,
                f_ffree: files.saturating_sub(i.fs.inodes_used()),
                f_fsid: [i.fs.id() as i32, 0],
                f_flags: flags,
                ..base
            }
        }
        // The Gofer's trees: the host filesystem's own figures (df of a
        // volume shows its disk), read-only or not.
        Some(Node::Gofer { fid, .. }) => match gofer.map(|g| g.statfs(*fid)) {
            Some(Ok(fs)) => host_statfs(fs, 0, true),
            _ => Statfs { f_type: V9FS_MAGIC, f_flags: ST_VALID | ST_RDONLY, ..base },
        },
        Some(Node::Host(h)) => match d.map(crate::vfs::hostfs::statfs) {
            Some(Ok(fs)) => host_statfs(fs, h.mount.id(), false),
            _ => Statfs { f_type: V9FS_MAGIC, f_flags: ST_VALID, ..base },
        },
        Some(Node::Synth(n)) => Statfs {
            f_type: n.fs.magic,
            f_fsid: [n.fs.dev() as i32, 0],
            f_flags: ST_VALID | ST_NOSUID | ST_NODEV | ST_NOEXEC | ST_RELATIME,
            ..base
        },
        None => Statfs { f_type: PIPEFS_MAGIC, f_flags: ST_VALID, ..base },
    }
}

/// statfs of `d`, with the flags of its mount where they were set at run
/// time (Linux's `flags_by_mnt`).
fn statfs_with_mount(d: Option<&Dentry>, gofer: Option<&gofer::GoferClient>) -> Statfs {
    use crate::vfs::mount::*;
    let mut st = statfs_of(d, gofer);
    if let Some(f) = d.and_then(|d| d.set_mount_flags_here()) {
        const PER_MOUNT: i64 = ST_NOSUID | ST_NODEV | ST_NOEXEC | ST_RELATIME | 1024 | 2048 | 0x2000;
        st.f_flags &= !PER_MOUNT;
        for (bit, st_bit) in [
            (MNT_RDONLY, ST_RDONLY),
            (MNT_NOSUID, ST_NOSUID),
            (MNT_NODEV, ST_NODEV),
            (MNT_NOEXEC, ST_NOEXEC),
            (MNT_NOATIME, 1024),
            (MNT_NODIRATIME, 2048),
            (MNT_RELATIME, ST_RELATIME),
            (MNT_NOSYMFOLLOW, 0x2000),
        ] {
            if f & bit != 0 {
                st.f_flags |= st_bit;
            }
        }
    }
    st
}

pub fn statfs(t: &mut Task, a: &Args) -> SysResult<u64> {
    let path = read_path(t, a.addr(0))?;
    let d = resolve_at(t, AT_FDCWD, &path, Follow::Yes)?;
    let st = statfs_with_mount(Some(&d), t.kernel.vfs.gofer().map(|g| &**g));
    t.mm().write_val(a.addr(1), &st)?;
    Ok(0)
}

pub fn fstatfs(t: &mut Task, a: &Args) -> SysResult<u64> {
    let f = t.fds().get(a.fd(0))?.clone();
    let st = statfs_with_mount(f.dentry.as_deref(), t.kernel.vfs.gofer().map(|g| &**g));
    t.mm().write_val(a.addr(1), &st)?;
    Ok(0)
}

/// sysfs(2), the System V call that numbers the filesystem types: option 1
/// gives a name's index, 2 the name at an index, 3 how many there are.
#[cfg(target_arch = "x86_64")]
pub fn sysfs(t: &mut Task, a: &Args) -> SysResult<u64> {
    let types = crate::vfs::FILESYSTEMS;
    match a.i32(0) {
        1 => {
            let name = read_path(t, a.addr(1))?;
            // Linux's getname: an empty name is ENOENT.
            if name.is_empty() {
                return Err(Errno::ENOENT);
            }
            types.iter().position(|fs| fs.as_bytes() == name).map(|i| i as u64).ok_or(Errno::EINVAL)
        }
        2 => {
            // The index is an unsigned int.
            let name = types.get(a.u32(1) as usize).ok_or(Errno::EINVAL)?;
            let mut buf = name.as_bytes().to_vec();
            buf.push(0);
            t.mm().copy_out(a.addr(2), &buf)?;
            Ok(0)
        }
        3 => Ok(types.len() as u64),
        _ => Err(Errno::EINVAL),
    }
}

/// `struct ustat` (x86-64).
#[repr(C)]
#[derive(Clone, Copy, Default, IntoBytes, Immutable)]
struct Ustat {
    f_tfree: i32,
    pad: u32,
    f_tinode: u64,
    f_fname: [u8; 6],
    f_fpack: [u8; 6],
    pad2: u32,
}
const _: () = assert!(std::mem::size_of::<Ustat>() == 32);

/// ustat(2): the free blocks and inodes of the mounted filesystem whose
/// device is `dev` (as stat's `st_dev` gives it); EINVAL if none is.
#[cfg(target_arch = "x86_64")]
pub fn ustat(t: &mut Task, a: &Args) -> SysResult<u64> {
    let dev = u64::from(a.u32(0));
    let roots = t.kernel.vfs.mount_roots();
    let root = roots.iter().find(|d| d.attr().dev == dev).ok_or(Errno::EINVAL)?;
    let st = statfs_of(Some(root), t.kernel.vfs.gofer().map(|g| &**g));
    // Linux copies the block count into the int as it is.
    let u = Ustat { f_tfree: st.f_bfree as i32, f_tinode: st.f_ffree, ..Ustat::default() };
    t.mm().write_val(a.addr(1), &u)?;
    Ok(0)
}

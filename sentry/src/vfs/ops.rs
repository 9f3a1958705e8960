//! Operations that change the tree or a file's attributes, with Linux's
//! permission checks and errno precedence.
//!
//! On a read-only rootfs they fail as Linux fails on a read-only mount:
//! resolution errors (ENOENT, ENOTDIR) first, then EEXIST for an existing
//! target of a call that creates a name (mkdir, symlink, link, mknod), then
//! EROFS. On in-Sentry filesystems they are carried out by [`tmpfs`], and
//! so on an overlay root, once what they change is copied up
//! ([`overlay::copy_up`]).

use std::sync::Arc;

use abi::flags::capability::{
    CAP_CHOWN, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER, CAP_FSETID, CAP_LINUX_IMMUTABLE,
};
use abi::flags::fsflags::{FS_APPEND_FL, FS_IMMUTABLE_FL};
use abi::flags::mode::{S_IFDIR, S_IFMT, S_IFREG};
use abi::Errno;
use gofer::FileAttr;

use super::hostfs;
use super::inotify;
use super::overlay::{self, copy_up};
use super::tmpfs::{self, in_group, NewKind, TimeSet, S_ISGID, S_ISUID, S_ISVTX};
use super::{Dentry, Last, ParentPath, Vfs};
use crate::kernel::process::Credentials;
use crate::mm::SysResult;

/// Permission to read.
pub const MAY_READ: u32 = 4;
/// Permission to write.
pub const MAY_WRITE: u32 = 2;
/// Permission to execute (or search a directory).
pub const MAY_EXEC: u32 = 1;

/// Whether names may be added to or removed from the directory `dir`, or
/// its attributes changed: EACCES in a synthetic filesystem (procfs,
/// sysfs), EROFS on a read-only mount (the Gofer's trees among them).
pub fn check_writable(d: &Dentry) -> SysResult<()> {
    if d.synth().is_some() {
        Err(Errno::EACCES)
    } else if d.is_readonly() {
        Err(Errno::EROFS)
    } else {
        Ok(())
    }
}

/// Whether `creds` may access a file with attributes `attr` as `want`
/// (`MAY_*` bits), as Linux's `generic_permission`: the owner's, group's
/// or others' mode bits; failing them, CAP_DAC_READ_SEARCH may read any
/// file and read and search any directory, and CAP_DAC_OVERRIDE may do
/// anything but execute a file without an execute bit.
pub fn permits(creds: &Credentials, attr: &FileAttr, want: u32) -> bool {
    let bits = if creds.fsuid == attr.uid {
        (attr.mode >> 6) & 7
    } else if in_group(creds, attr.gid) {
        (attr.mode >> 3) & 7
    } else {
        attr.mode & 7
    };
    if bits & want == want {
        return true;
    }
    if attr.mode & S_IFMT == S_IFDIR {
        return (want & MAY_WRITE == 0 && creds.has_cap(CAP_DAC_READ_SEARCH)) || creds.has_cap(CAP_DAC_OVERRIDE);
    }
    if want == MAY_READ && creds.has_cap(CAP_DAC_READ_SEARCH) {
        return true;
    }
    (want & MAY_EXEC == 0 || attr.mode & 0o111 != 0) && creds.has_cap(CAP_DAC_OVERRIDE)
}

/// [`permits`], as EACCES.
pub fn check_perm(creds: &Credentials, attr: &FileAttr, want: u32) -> SysResult<()> {
    if permits(creds, attr, want) {
        Ok(())
    } else {
        Err(Errno::EACCES)
    }
}

/// Linux's `inode_permission` for a file with attributes `attr` and inode
/// flags `fsflags`: nobody writes to an immutable file (EPERM), then
/// [`check_perm`].
pub fn inode_permission(creds: &Credentials, attr: &FileAttr, fsflags: u32, want: u32) -> SysResult<()> {
    if want & MAY_WRITE != 0 && fsflags & FS_IMMUTABLE_FL != 0 {
        return Err(Errno::EPERM);
    }
    check_perm(creds, attr, want)
}

/// Whether a name may be added to the directory with attributes `dir` and
/// inode flags `dir_flags`.
pub fn may_create(dir: &FileAttr, dir_flags: u32, creds: &Credentials) -> SysResult<()> {
    inode_permission(creds, dir, dir_flags, MAY_WRITE | MAY_EXEC)
}

/// Whether `victim` may be removed from (or renamed out of) the directory
/// with attributes `dir` and inode flags `dir_flags`: write and search
/// permission on the directory, neither it append-only nor the victim
/// append-only or immutable, the sticky-bit rule, and the right type
/// (`isdir`: rmdir, or renaming a directory).
pub fn may_delete(dir: &FileAttr, dir_flags: u32, victim: &Dentry, isdir: bool, creds: &Credentials) -> SysResult<()> {
    inode_permission(creds, dir, dir_flags, MAY_WRITE | MAY_EXEC)?;
    if dir_flags & FS_APPEND_FL != 0 {
        return Err(Errno::EPERM);
    }
    let sticky = dir.mode & S_ISVTX != 0 && !creds.has_cap(CAP_FOWNER) && {
        let owner = victim.attr().uid;
        owner != creds.fsuid && dir.uid != creds.fsuid
    };
    if sticky || victim.is_immutable() || victim.is_append_only() {
        return Err(Errno::EPERM);
    }
    if isdir {
        if !victim.is_dir() {
            return Err(Errno::ENOTDIR);
        }
    } else if victim.is_dir() {
        return Err(Errno::EISDIR);
    }
    Ok(())
}

/// Creates the last component of `pp` (mkdir, mknod, symlink, O_CREAT).
/// `perm` already has the umask applied.
pub fn make_node(vfs: &Vfs, pp: &ParentPath, kind: NewKind, perm: u32, creds: &Credentials) -> SysResult<Arc<Dentry>> {
    let Last::Name(name) = &pp.last else { return Err(Errno::EEXIST) };
    if vfs.lookup_child(&pp.dir, name)?.is_some() {
        return Err(Errno::EEXIST);
    }
    if pp.trailing_slash && !matches!(kind, NewKind::Dir) {
        return Err(Errno::ENOENT);
    }
    if let Some(super::synth::SynthNode { kind: super::synth::SynthKind::Dir(d), .. }) = pp.dir.synth() {
        if let Some(done) = d.create(name, &kind, perm, creds) {
            done?;
            return vfs.lookup(&pp.dir, name);
        }
    }
    check_writable(&pp.dir)?;
    copy_up(&pp.dir)?;
    let isdir = if matches!(kind, NewKind::Dir) { inotify::IN_ISDIR } else { 0 };
    let d = if pp.dir.host().is_some() {
        hostfs::create(&pp.dir, name, kind, perm, creds)?
    } else {
        tmpfs::create(&pp.dir, name, kind, perm, creds)?
    };
    inotify::notify_entry(&pp.dir, name, inotify::IN_CREATE | isdir, 0);
    Ok(d)
}

/// unlink(2) of the last component of `pp`.
pub fn unlink(vfs: &Vfs, pp: &ParentPath, creds: &Credentials) -> SysResult<()> {
    let Last::Name(name) = &pp.last else { return Err(Errno::EISDIR) };
    if let Some(super::synth::SynthNode { kind: super::synth::SynthKind::Dir(d), .. }) = pp.dir.synth() {
        if let Some(done) = d.unlink(name, creds) {
            return done;
        }
    }
    check_writable(&pp.dir)?;
    overlay_prepare(vfs, &pp.dir, name)?;
    let victim = if pp.dir.host().is_some() {
        Some(hostfs::remove(&pp.dir, name, false, pp.trailing_slash, creds)?).filter(|_| inotify::active())
    } else {
        let victim = child_of(&pp.dir, name);
        tmpfs::unlink(&pp.dir, name, pp.trailing_slash, creds)?;
        victim
    };
    if let Some(v) = victim {
        // Linux's order: the link count's change, the file's end if that
        // was its last name, then the directory's entry.
        let attr = v.attr();
        inotify::notify_self(&attr, inotify::IN_ATTRIB, false);
        if attr.nlink == 0 {
            inotify::notify_self(&attr, inotify::IN_DELETE_SELF, true);
        }
    }
    inotify::notify_entry(&pp.dir, name, inotify::IN_DELETE, 0);
    Ok(())
}

/// Before a change to `name` in `dir` on an overlay root: the directory is
/// copied up, and the name looked up, so that the child map, which the
/// change acts on, says whether the lower directory has it.
fn overlay_prepare(vfs: &Vfs, dir: &Arc<Dentry>, name: &[u8]) -> SysResult<Option<Arc<Dentry>>> {
    if dir.lower_fid().is_none() || dir.overlay().is_none() {
        return Ok(None);
    }
    let child = vfs.lookup_child(dir, name)?;
    copy_up(dir)?;
    Ok(child)
}

/// The child `name` of an in-Sentry directory, as cached.
fn child_of(dir: &Dentry, name: &[u8]) -> Option<Arc<Dentry>> {
    if !inotify::active() {
        return None;
    }
    dir.children().map.get(name).cloned().flatten()
}

/// rmdir(2) of the last component of `pp`.
pub fn rmdir(vfs: &Vfs, pp: &ParentPath, creds: &Credentials) -> SysResult<()> {
    let name = match &pp.last {
        Last::Name(n) => n,
        Last::Dot => return Err(Errno::EINVAL),
        Last::DotDot => return Err(Errno::ENOTEMPTY),
        Last::Root => return Err(Errno::EBUSY),
    };
    check_writable(&pp.dir)?;
    if let Some(v) = overlay_prepare(vfs, &pp.dir, name)? {
        check_merged_empty(vfs, &v)?;
    }
    let victim = if pp.dir.host().is_some() {
        Some(hostfs::remove(&pp.dir, name, true, false, creds)?).filter(|_| inotify::active())
    } else {
        let victim = child_of(&pp.dir, name);
        tmpfs::rmdir(&pp.dir, name, creds)?;
        victim
    };
    if let Some(v) = victim {
        inotify::notify_self(&v.attr(), inotify::IN_DELETE_SELF, true);
    }
    inotify::notify_entry(&pp.dir, name, inotify::IN_DELETE | inotify::IN_ISDIR, 0);
    Ok(())
}

/// An overlay directory about to be removed (or replaced) must be empty
/// as the overlay shows it, its lower entries included.
fn check_merged_empty(vfs: &Vfs, d: &Dentry) -> SysResult<()> {
    if !overlay::has_lower_dir(d) {
        return Ok(());
    }
    let gofer = vfs.gofer().ok_or(Errno::EIO)?;
    if overlay::is_empty(d, gofer)? {
        Ok(())
    } else {
        Err(Errno::ENOTEMPTY)
    }
}

/// rename(2) from `old` to `new`. `noreplace`: RENAME_NOREPLACE;
/// `exchange`: RENAME_EXCHANGE.
pub fn rename(
    vfs: &Vfs,
    old: &ParentPath,
    new: &ParentPath,
    noreplace: bool,
    exchange: bool,
    creds: &Credentials,
) -> SysResult<()> {
    if old.dir.fs_id() != new.dir.fs_id() {
        return Err(Errno::EXDEV);
    }
    let Last::Name(oname) = &old.last else { return Err(Errno::EBUSY) };
    let Last::Name(nname) = &new.last else {
        return Err(if noreplace { Errno::EEXIST } else { Errno::EBUSY });
    };
    check_writable(&old.dir)?;
    check_writable(&new.dir)?;
    overlay_prepare(vfs, &old.dir, oname)?;
    overlay_prepare(vfs, &new.dir, nname)?;
    // Both names, whatever layer their directories are on: a directory
    // with a lower one may be the target even when the source is new.
    let moved = vfs.lookup_child(&old.dir, oname)?;
    let replaced = vfs.lookup_child(&new.dir, nname)?;
    // A mount point neither moves nor is replaced (Linux's vfs_rename).
    if moved.iter().chain(replaced.iter()).any(|d| d.is_mount_point()) {
        return Err(Errno::EBUSY);
    }
    // overlayfs without redirect_dir: a directory with a lower one stays
    // where it is (mv copies it instead).
    if moved.as_ref().is_some_and(|m| overlay::has_lower_dir(m))
        || (exchange && replaced.as_ref().is_some_and(|r| overlay::has_lower_dir(r)))
    {
        return Err(Errno::EXDEV);
    }
    if let Some(r) = replaced.as_ref().filter(|r| r.is_dir() && moved.as_ref().is_some_and(|m| m.is_dir())) {
        if !noreplace && !exchange {
            check_merged_empty(vfs, r)?;
        }
    }
    let slash = old.trailing_slash || new.trailing_slash;
    if old.dir.host().is_some() {
        let (moved, replaced) = hostfs::rename(&old.dir, oname, &new.dir, nname, noreplace, exchange, slash, creds)?;
        if exchange || Arc::ptr_eq(&old.dir, &new.dir) && oname == nname {
            return Ok(());
        }
        notify_rename(&old.dir, oname, &new.dir, nname, Some(moved), replaced);
        return Ok(());
    }
    if exchange {
        return tmpfs::exchange(&old.dir, oname, &new.dir, nname, old.trailing_slash, new.trailing_slash, creds);
    }
    let (moved, replaced) = (child_of(&old.dir, oname), child_of(&new.dir, nname));
    tmpfs::rename(&old.dir, oname, &new.dir, nname, noreplace, slash, creds)?;
    notify_rename(&old.dir, oname, &new.dir, nname, moved, replaced);
    Ok(())
}

/// inotify's events for a rename of `oname` in `odir` to `nname` in
/// `ndir`: `moved` the file moved, `replaced` the one it replaced.
fn notify_rename(
    odir: &Dentry,
    oname: &[u8],
    ndir: &Dentry,
    nname: &[u8],
    moved: Option<Arc<Dentry>>,
    replaced: Option<Arc<Dentry>>,
) {
    let (old, new) = (odir, ndir);
    if let Some(m) = moved {
        // Linux's fsnotify_move: the two entries (one cookie), the
        // replaced file's link count, then the moved file itself.
        let isdir = if m.is_dir() { inotify::IN_ISDIR } else { 0 };
        let cookie = inotify::move_cookie();
        let (oa, na) = (old.attr(), new.attr());
        if (oa.dev, oa.ino) == (na.dev, na.ino) {
            inotify::dnotify_rename(old);
        }
        inotify::notify_entry(old, oname, inotify::IN_MOVED_FROM | isdir, cookie);
        inotify::notify_entry(new, nname, inotify::IN_MOVED_TO | isdir, cookie);
        if let Some(r) = replaced.filter(|r| !Arc::ptr_eq(r, &m)) {
            let attr = r.attr();
            inotify::notify_self(&attr, inotify::IN_ATTRIB, false);
            if attr.nlink == 0 {
                inotify::notify_self(&attr, inotify::IN_DELETE_SELF, true);
            }
        }
        inotify::notify_self(&m.attr(), inotify::IN_MOVE_SELF, false);
    }
}

/// link(2): `new` becomes another name of `target`.
pub fn link(vfs: &Vfs, target: &Arc<Dentry>, new: &ParentPath, creds: &Credentials) -> SysResult<()> {
    let Last::Name(name) = &new.last else { return Err(Errno::EEXIST) };
    if vfs.lookup_child(&new.dir, name)?.is_some() {
        return Err(Errno::EEXIST);
    }
    if new.trailing_slash {
        return Err(Errno::ENOENT);
    }
    check_writable(&new.dir)?;
    if target.fs_id() != new.dir.fs_id() {
        return Err(Errno::EXDEV);
    }
    may_link(target, creds)?;
    // The checks tmpfs would make come before a copy-up of the file's data.
    may_create(&new.dir.attr(), new.dir.fsflags(), creds)?;
    if target.is_append_only() || target.is_immutable() {
        return Err(Errno::EPERM);
    }
    if target.is_dir() {
        return Err(Errno::EPERM);
    }
    if new.dir.host().is_some() {
        hostfs::link(&new.dir, name, target, creds)?;
    } else {
        copy_up(target)?;
        copy_up(&new.dir)?;
        tmpfs::link(&new.dir, name, target, creds)?;
    }
    inotify::notify_self(&target.attr(), inotify::IN_ATTRIB, false);
    inotify::notify_entry(&new.dir, name, inotify::IN_CREATE, 0);
    Ok(())
}

/// Linux's protected hardlinks (on by default in distributions): only the
/// owner (or CAP_FOWNER) may link a file, unless it is a regular file
/// without set-id bits that the caller may read and write.
fn may_link(target: &Dentry, creds: &Credentials) -> SysResult<()> {
    let a = target.attr();
    if a.uid == creds.fsuid || creds.has_cap(CAP_FOWNER) {
        return Ok(());
    }
    let setid = a.mode & S_ISUID != 0 || a.mode & (S_ISGID | 0o010) == (S_ISGID | 0o010);
    if target.is_regular() && !setid && permits(creds, &a, MAY_READ | MAY_WRITE) {
        return Ok(());
    }
    Err(Errno::EPERM)
}

/// Linux's `may_setattr` for a change of mode, owner or times: none to an
/// immutable or append-only file.
fn may_setattr(d: &Dentry) -> SysResult<()> {
    if d.is_immutable() || d.is_append_only() {
        Err(Errno::EPERM)
    } else {
        Ok(())
    }
}

/// FS_IOC_GETFLAGS: the inode flags of a regular file or directory of the
/// Sentry's filesystems or the overlay root (a lower file has none);
/// ENOTTY for others, which have no such flags.
pub fn get_fsflags(d: &Dentry) -> SysResult<u32> {
    let kind = d.file_type();
    let ours = d.inode().is_some() || (d.is_rootfs() && d.overlay().is_some());
    if ours && (kind == S_IFREG || kind == S_IFDIR) {
        Ok(d.fsflags())
    } else {
        Err(Errno::ENOTTY)
    }
}

/// FS_IOC_SETFLAGS, as Linux's tmpfs: the owner's (or CAP_FOWNER's);
/// CAP_LINUX_IMMUTABLE's to change the immutable or append-only flag;
/// EOPNOTSUPP for flags tmpfs does not keep.
pub fn set_fsflags(d: &Arc<Dentry>, flags: u32, creds: &Credentials) -> SysResult<()> {
    let old = get_fsflags(d)?;
    check_writable(d)?;
    if creds.fsuid != d.attr().uid && !creds.has_cap(CAP_FOWNER) {
        return Err(Errno::EPERM);
    }
    if (old ^ flags) & (FS_APPEND_FL | FS_IMMUTABLE_FL) != 0 && !creds.has_cap(CAP_LINUX_IMMUTABLE) {
        return Err(Errno::EPERM);
    }
    if flags & !tmpfs::FSFLAGS_SETTABLE != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    copy_up(d)?;
    d.inode().ok_or(Errno::ENOTTY)?.set_fsflags(flags);
    Ok(())
}

/// chmod(2). The checks come before a copy-up, so that a refused change
/// copies nothing (the same for the calls below).
pub fn chmod(d: &Arc<Dentry>, perm: u32, creds: &Credentials) -> SysResult<()> {
    check_writable(d)?;
    may_setattr(d)?;
    let a = d.attr();
    if creds.fsuid != a.uid && !creds.has_cap(CAP_FOWNER) {
        return Err(Errno::EPERM);
    }
    let mut perm = perm & 0o7777;
    if !in_group(creds, a.gid) && !creds.has_cap(CAP_FSETID) {
        perm &= !S_ISGID;
    }
    if d.host().is_some() {
        hostfs::setattr(d, Some(perm), (None, None), (TimeSet::Omit, TimeSet::Omit))?;
        inotify::notify_dentry(d, inotify::IN_ATTRIB);
        return Ok(());
    }
    copy_up(d)?;
    d.inode().ok_or(Errno::EROFS)?.set_mode(perm);
    inotify::notify_dentry(d, inotify::IN_ATTRIB);
    Ok(())
}

/// chown(2); `None` leaves that id alone. Only CAP_CHOWN may give a file
/// away; an owner may change its group to one of their own groups.
pub fn chown(d: &Arc<Dentry>, uid: Option<u32>, gid: Option<u32>, creds: &Credentials) -> SysResult<()> {
    check_writable(d)?;
    may_setattr(d)?;
    let a = d.attr();
    if !creds.has_cap(CAP_CHOWN) {
        let owner = creds.fsuid == a.uid;
        if uid.is_some_and(|u| !(owner && u == a.uid)) {
            return Err(Errno::EPERM);
        }
        if gid.is_some_and(|g| !(owner && (g == a.gid || in_group(creds, g)))) {
            return Err(Errno::EPERM);
        }
    }
    if d.host().is_some() {
        hostfs::setattr(d, None, (uid, gid), (TimeSet::Omit, TimeSet::Omit))?;
        inotify::notify_dentry(d, inotify::IN_ATTRIB);
        return Ok(());
    }
    copy_up(d)?;
    d.inode().ok_or(Errno::EROFS)?.set_owner(uid, gid);
    inotify::notify_dentry(d, inotify::IN_ATTRIB);
    Ok(())
}

/// utimensat(2) and friends on a resolved file.
pub fn utimes(d: &Arc<Dentry>, atime: TimeSet, mtime: TimeSet, creds: &Credentials) -> SysResult<()> {
    if atime == TimeSet::Omit && mtime == TimeSet::Omit {
        return Ok(());
    }
    check_writable(d)?;
    // Linux's may_setattr: times given (even UTIME_NOW beside another) are
    // the attribute change an immutable or append-only file refuses; the
    // current time (both now) is a write an append-only file allows.
    let touch = atime == TimeSet::Now && mtime == TimeSet::Now;
    if if touch { d.is_immutable() } else { d.is_immutable() || d.is_append_only() } {
        return Err(Errno::EPERM);
    }
    let a = d.attr();
    if creds.fsuid != a.uid && !creds.has_cap(CAP_FOWNER) {
        // Times given (UTIME_NOW beside UTIME_OMIT too) are the owner's to
        // set; the current time, anyone's who may write.
        if !touch {
            return Err(Errno::EPERM);
        }
        check_perm(creds, &a, MAY_WRITE)?;
    }
    if d.host().is_some() {
        hostfs::setattr(d, None, (None, None), (atime, mtime))?;
        inotify::notify_dentry(d, inotify::IN_ATTRIB);
        return Ok(());
    }
    copy_up(d)?;
    d.inode().ok_or(Errno::EROFS)?.set_times(atime, mtime);
    inotify::notify_dentry(d, inotify::IN_ATTRIB);
    Ok(())
}

/// The checks of truncate(2) on a resolved file, in Linux's order.
pub fn may_truncate(d: &Dentry, creds: &Credentials) -> SysResult<()> {
    if d.is_dir() {
        return Err(Errno::EISDIR);
    }
    if !d.is_regular() {
        return Err(Errno::EINVAL);
    }
    check_writable(d)?;
    inode_permission(creds, &d.attr(), d.fsflags(), MAY_WRITE)?;
    if d.is_append_only() {
        return Err(Errno::EPERM);
    }
    Ok(())
}

/// truncate(2) on a resolved file.
pub fn truncate(d: &Arc<Dentry>, size: u64, creds: &Credentials) -> SysResult<()> {
    may_truncate(d, creds)?;
    if d.host().is_some() {
        hostfs::truncate(d, size)?;
    } else {
        copy_up(d)?;
        d.inode().ok_or(Errno::EROFS)?.truncate(size)?;
    }
    inotify::notify_dentry(d, inotify::IN_MODIFY);
    Ok(())
}

//! The calls that change a tree: only for roots served writable.
//!
//! The Sentry has checked the app's permissions as Linux would (DAC, the
//! sticky bit, set-group-id directories, the umask), since only it knows
//! the app's credentials. What the Gofer guarantees holds whatever the
//! Sentry asks: every change is to one checked name in a directory fd it
//! holds beneath a writable root, no symlink is followed on the host, no
//! device node is made, two roots are never joined by a rename or link,
//! and attributes change on the very file walked (through its `O_PATH`
//! fd), never on whatever its name is now.

use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use log::debug;

use super::{check_name, errno_of, file_type, HostNode, Node, Server, RESOLVE};
use crate::protocol::{MAX_SYMLINK_TARGET, MAX_XATTR, XATTR_NAME_MAX};
use crate::{sys, Fid, FileAttr, FsStat, NewNode, SetAttr, Time};

/// The only extended attributes the app may see or change.
const USER_XATTR_PREFIX: &[u8] = b"user.";

/// Linux's `UTIME_NOW`.
const UTIME_NOW: i64 = (1 << 30) - 1;
/// Linux's `UTIME_OMIT`.
const UTIME_OMIT: i64 = (1 << 30) - 2;

fn host<T>(r: std::io::Result<T>) -> Result<T, i32> {
    r.map_err(|e| errno_of(&e))
}

/// Checks an extended attribute's name: `user.` and something, at most
/// [`XATTR_NAME_MAX`] bytes (ERANGE beyond, as Linux), no NUL, not the
/// bare prefix (EINVAL); anything else is not served (EOPNOTSUPP).
fn user_xattr_name(name: &[u8]) -> Result<CString, i32> {
    if name.len() > XATTR_NAME_MAX {
        return Err(libc::ERANGE);
    }
    if !name.starts_with(USER_XATTR_PREFIX) {
        return Err(libc::EOPNOTSUPP);
    }
    if name.len() == USER_XATTR_PREFIX.len() {
        return Err(libc::EINVAL);
    }
    CString::new(name).map_err(|_| libc::EINVAL)
}

fn timespec(t: Option<Time>) -> libc::timespec {
    let (sec, nsec) = match t {
        None => (0, UTIME_OMIT),
        Some(Time::Now) => (0, UTIME_NOW),
        Some(Time::At(s, n)) => (s, n),
    };
    // Field widths differ between architectures.
    #[allow(clippy::useless_conversion, clippy::unnecessary_cast)]
    libc::timespec { tv_sec: sec as libc::time_t, tv_nsec: nsec as _ }
}

/// A directory of a writable root, held open to change names in.
struct WritableDir {
    fd: Arc<OwnedFd>,
    /// Its device and inode number.
    id: (u64, u64),
    /// The root it is beneath.
    root: u32,
}

impl Server {
    /// The host file `fid`, on a writable root (EROFS otherwise: a
    /// read-only root, or a mount point seen from below).
    fn writable_node(&self, fid: Fid) -> Result<&HostNode, i32> {
        match self.node(fid)? {
            Node::Host(h) if h.writable => Ok(h),
            _ => Err(libc::EROFS),
        }
    }

    /// The directory `dir` on a writable root, to change a name in.
    fn writable_dir(&self, dir: Fid) -> Result<WritableDir, i32> {
        let h = self.writable_node(dir)?;
        if file_type(h.mode) != libc::S_IFDIR {
            return Err(libc::ENOTDIR);
        }
        Ok(WritableDir { fd: Arc::clone(&h.fd), id: (h.dev, h.ino), root: h.root })
    }

    /// A fid for `name`, just made in `dir`.
    fn walk_made(
        &mut self,
        dir: &Arc<OwnedFd>,
        id: (u64, u64),
        name: &[u8],
        root: u32,
    ) -> Result<(Fid, FileAttr, Arc<OwnedFd>), i32> {
        match self.walk_one(dir, id, name, None, (root, true))? {
            (fid, attr, Some(fd)) => Ok((fid, attr, fd)),
            // A mount appeared on the new name: not ours to change.
            (fid, _, None) => {
                self.fids.remove(&fid);
                Err(libc::EBUSY)
            }
        }
    }

    /// Gives a new file its owner, then its exact mode (the umask and a
    /// set-group-id directory have had their say in the Sentry; the host's
    /// umask has none). Only root may give files away: a Gofer that is not
    /// root leaves its own ids on them.
    fn own(fd: BorrowedFd<'_>, (uid, gid): (u32, u32)) -> Result<(), i32> {
        let st = host(sys::fstat(fd))?;
        if st.st_uid != uid || st.st_gid != gid {
            match sys::chown_fd(fd, uid, gid) {
                Err(e) if e.raw_os_error() == Some(libc::EPERM) => {
                    debug!("gofer: not root; new file keeps the gofer's owner");
                }
                r => host(r)?,
            }
        }
        Ok(())
    }

    /// Takes back a name just made, after a failure to finish it (if it is
    /// still the file made).
    fn unmake(dir: &Arc<OwnedFd>, name: &std::ffi::CStr, made: (u64, u64), dir_flag: bool) {
        if sys::stat_at(dir.as_fd(), name).is_ok_and(|st| (st.st_dev, st.st_ino) == made) {
            let _ = sys::unlinkat(dir.as_fd(), name, if dir_flag { libc::AT_REMOVEDIR } else { 0 });
        }
    }

    pub(super) fn create(
        &mut self,
        dir: Fid,
        name: &[u8],
        flags: u32,
        mode: u32,
        owner: (u32, u32),
    ) -> Result<(Fid, FileAttr, OwnedFd), i32> {
        let cname = check_name(name)?;
        let WritableDir { fd: dfd, id, root } = self.writable_dir(dir)?;
        if self.fids.len() >= self.max_fids {
            return Err(libc::EMFILE);
        }
        let access = i32::from_ne_bytes(flags.to_ne_bytes()) & libc::O_ACCMODE;
        if access == libc::O_ACCMODE {
            return Err(libc::EINVAL);
        }
        // Made private first: its set-id bits and final mode come only
        // once it has its owner (chown would clear them anyway).
        let open = access | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC | libc::O_NOCTTY;
        let fd = host(sys::openat2_mode(dfd.as_fd(), &cname, open, 0o600, RESOLVE))?;
        let st = host(sys::fstat(fd.as_fd()))?;
        let made = (st.st_dev, st.st_ino);
        let finished = Self::own(fd.as_fd(), owner)
            .and_then(|()| host(sys::fchmod(fd.as_fd(), mode & 0o7777)))
            .and_then(|()| self.walk_made(&dfd, id, name, root));
        match finished {
            Ok((fid, attr, _)) if (attr.dev, attr.ino) == made => Ok((fid, attr, fd)),
            Ok((fid, _, _)) => {
                self.fids.remove(&fid);
                Err(libc::ESTALE)
            }
            Err(e) => {
                Self::unmake(&dfd, &cname, made, false);
                Err(e)
            }
        }
    }

    pub(super) fn mknod(
        &mut self,
        dir: Fid,
        name: &[u8],
        node: &NewNode,
        mode: u32,
        owner: (u32, u32),
    ) -> Result<(Fid, FileAttr), i32> {
        let cname = check_name(name)?;
        let WritableDir { fd: dfd, id, root } = self.writable_dir(dir)?;
        if self.fids.len() >= self.max_fids {
            return Err(libc::EMFILE);
        }
        let perm = mode & 0o7777;
        match node {
            NewNode::Dir => host(sys::mkdirat(dfd.as_fd(), &cname, perm))?,
            NewNode::Fifo => host(sys::mknodat(dfd.as_fd(), &cname, libc::S_IFIFO | perm))?,
            NewNode::Socket => host(sys::mknodat(dfd.as_fd(), &cname, libc::S_IFSOCK | perm))?,
            NewNode::Regular => host(sys::mknodat(dfd.as_fd(), &cname, libc::S_IFREG | perm))?,
            NewNode::Symlink(target) => {
                if target.is_empty() {
                    return Err(libc::ENOENT);
                }
                if target.len() > MAX_SYMLINK_TARGET {
                    return Err(libc::ENAMETOOLONG);
                }
                let target = CString::new(target.as_slice()).map_err(|_| libc::EINVAL)?;
                host(sys::symlinkat(&target, dfd.as_fd(), &cname))?;
            }
        }
        // The mode is exact (the Gofer's umask is 0); only the owner is
        // left to give.
        let (fid, attr, fd) = self.walk_made(&dfd, id, name, root)?;
        if let Err(e) = Self::own(fd.as_fd(), owner) {
            self.fids.remove(&fid);
            Self::unmake(&dfd, &cname, (attr.dev, attr.ino), matches!(node, NewNode::Dir));
            return Err(e);
        }
        Ok((fid, FileAttr::from_stat(&host(sys::fstat(fd.as_fd()))?)))
    }

    pub(super) fn link(&mut self, file: Fid, dir: Fid, name: &[u8]) -> Result<(Fid, FileAttr), i32> {
        let cname = check_name(name)?;
        let WritableDir { fd: dfd, id, root } = self.writable_dir(dir)?;
        let target = self.writable_node(file)?;
        if target.root != root {
            return Err(libc::EXDEV);
        }
        if file_type(target.mode) == libc::S_IFDIR {
            return Err(libc::EPERM);
        }
        if self.fids.len() >= self.max_fids {
            return Err(libc::EMFILE);
        }
        let tfd = Arc::clone(&target.fd);
        host(sys::link_fd(tfd.as_fd(), dfd.as_fd(), &cname))?;
        let (fid, attr, _) = self.walk_made(&dfd, id, name, root)?;
        Ok((fid, attr))
    }

    pub(super) fn unlink(&mut self, dir: Fid, name: &[u8], dir_flag: bool) -> Result<(), i32> {
        let cname = check_name(name)?;
        let dfd = self.writable_dir(dir)?.fd;
        host(sys::unlinkat(dfd.as_fd(), &cname, if dir_flag { libc::AT_REMOVEDIR } else { 0 }))
    }

    pub(super) fn rename(&mut self, odir: Fid, oname: &[u8], ndir: Fid, nname: &[u8], flags: u32) -> Result<(), i32> {
        let (ocname, ncname) = (check_name(oname)?, check_name(nname)?);
        let WritableDir { fd: ofd, id: oid, root: oroot } = self.writable_dir(odir)?;
        let WritableDir { fd: nfd, id: nid, root: nroot } = self.writable_dir(ndir)?;
        if oroot != nroot {
            return Err(libc::EXDEV);
        }
        let known = libc::RENAME_NOREPLACE | libc::RENAME_EXCHANGE;
        if flags & !known != 0 || flags == known {
            return Err(libc::EINVAL);
        }
        host(sys::renameat2(ofd.as_fd(), &ocname, nfd.as_fd(), &ncname, flags))?;
        // Fids of the moved files follow them to their new names, so that
        // they still reopen; a replaced file's fid keeps its old name,
        // which now names another file (ESTALE, as it should).
        let exchange = flags & libc::RENAME_EXCHANGE != 0;
        for node in self.fids.values_mut() {
            let Node::Host(h) = node else { continue };
            let Some((parent, name)) = &mut h.parent else { continue };
            if h.parent_id == oid && name.as_bytes() == oname {
                (*parent, *name, h.parent_id) = (Arc::clone(&nfd), ncname.clone(), nid);
            } else if exchange && h.parent_id == nid && name.as_bytes() == nname {
                (*parent, *name, h.parent_id) = (Arc::clone(&ofd), ocname.clone(), oid);
            }
        }
        Ok(())
    }

    pub(super) fn setattr(&mut self, fid: Fid, set: &SetAttr) -> Result<FileAttr, i32> {
        let node = self.writable_node(fid)?;
        let fd = node.fd.as_fd();
        if set.uid.is_some() || set.gid.is_some() {
            host(sys::chown_fd(fd, set.uid.unwrap_or(u32::MAX), set.gid.unwrap_or(u32::MAX)))?;
        }
        if let Some(mode) = set.mode {
            match sys::chmod_fd(fd, mode & 0o7777) {
                // Before Linux 6.6 (no fchmodat2): through an open fd, for
                // the files one can open (FIFOs and sockets are not).
                Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => match file_type(node.mode) {
                    libc::S_IFREG | libc::S_IFDIR => host(sys::fchmod(self.reopen(node)?.as_fd(), mode & 0o7777))?,
                    _ => return Err(libc::EOPNOTSUPP),
                },
                r => host(r)?,
            }
        }
        if set.atime.is_some() || set.mtime.is_some() {
            host(sys::utimens_fd(fd, &[timespec(set.atime), timespec(set.mtime)]))?;
        }
        Ok(FileAttr::from_stat(&host(sys::fstat(fd))?))
    }

    pub(super) fn statfs(&self, fid: Fid) -> Result<FsStat, i32> {
        let Node::Host(h) = self.node(fid)? else { return Err(libc::ENOSYS) };
        let st = host(sys::fstatfs(h.fd.as_fd()))?;
        // Field types differ between architectures.
        #[allow(clippy::useless_conversion, clippy::unnecessary_cast)]
        Ok(FsStat {
            fs_type: st.f_type as u64,
            bsize: st.f_bsize as u64,
            blocks: st.f_blocks as u64,
            bfree: st.f_bfree as u64,
            bavail: st.f_bavail as u64,
            files: st.f_files as u64,
            ffree: st.f_ffree as u64,
            namelen: st.f_namelen as u64,
            frsize: st.f_frsize as u64,
        })
    }

    /// The file `fid` opened for its extended attributes: regular files
    /// and directories only, the only files with `user.` attributes.
    fn xattr_fd(&self, fid: Fid) -> Result<Option<OwnedFd>, i32> {
        match self.node(fid)? {
            Node::Host(h) if matches!(file_type(h.mode), libc::S_IFREG | libc::S_IFDIR) => Ok(Some(self.reopen(h)?)),
            _ => Ok(None),
        }
    }

    pub(super) fn getxattr(&self, fid: Fid, name: &[u8]) -> Result<Vec<u8>, i32> {
        let cname = user_xattr_name(name)?;
        let Some(fd) = self.xattr_fd(fid)? else { return Err(libc::ENODATA) };
        let size = host(sys::fgetxattr(fd.as_fd(), &cname, &mut []))?;
        if size > MAX_XATTR {
            return Err(libc::E2BIG);
        }
        let mut buf = vec![0u8; size];
        let n = host(sys::fgetxattr(fd.as_fd(), &cname, &mut buf))?;
        buf.truncate(n);
        Ok(buf)
    }

    pub(super) fn listxattr(&self, fid: Fid) -> Result<Vec<u8>, i32> {
        let Some(fd) = self.xattr_fd(fid)? else { return Ok(Vec::new()) };
        let size = host(sys::flistxattr(fd.as_fd(), &mut []))?;
        let mut buf = vec![0u8; size.min(1 << 20)];
        let n = host(sys::flistxattr(fd.as_fd(), &mut buf))?;
        buf.truncate(n);
        // Only the user namespace is the app's: trusted., security. and
        // system. attributes of host files are not shown.
        let mut out = Vec::new();
        for name in buf.split(|&b| b == 0).filter(|n| n.starts_with(USER_XATTR_PREFIX)) {
            out.extend_from_slice(name);
            out.push(0);
        }
        if out.len() > MAX_XATTR {
            return Err(libc::E2BIG);
        }
        Ok(out)
    }

    pub(super) fn setxattr(&mut self, fid: Fid, name: &[u8], value: &[u8], flags: u32) -> Result<(), i32> {
        let cname = user_xattr_name(name)?;
        self.writable_node(fid)?;
        if value.len() > MAX_XATTR {
            return Err(libc::E2BIG);
        }
        let flags = i32::try_from(flags).map_err(|_| libc::EINVAL)?;
        if flags & !(libc::XATTR_CREATE | libc::XATTR_REPLACE) != 0 {
            return Err(libc::EINVAL);
        }
        // Linux allows user attributes on regular files and directories
        // only.
        let Some(fd) = self.xattr_fd(fid)? else { return Err(libc::EPERM) };
        host(sys::fsetxattr(fd.as_fd(), &cname, value, flags))
    }

    pub(super) fn removexattr(&mut self, fid: Fid, name: &[u8]) -> Result<(), i32> {
        let cname = user_xattr_name(name)?;
        self.writable_node(fid)?;
        let Some(fd) = self.xattr_fd(fid)? else { return Err(libc::EPERM) };
        host(sys::fremovexattr(fd.as_fd(), &cname))
    }
}

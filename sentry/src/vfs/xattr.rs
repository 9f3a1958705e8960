//! Extended attributes, with Linux's rules for who may read and change
//! them.
//!
//! - `user.`: any file's owner (or whoever may write it) on regular files
//!   and directories. Held in memory by the Sentry's own filesystems (and
//!   an overlay's copies, which keep the lower file's), and on the host by
//!   the Gofer for its trees.
//! - `trusted.`: CAP_SYS_ADMIN only, in the Sentry's filesystems.
//! - `security.` and `system.` (ACLs, capabilities): none exist, and none
//!   can be set (EOPNOTSUPP), as on a filesystem without them.

use std::sync::Arc;

use abi::flags::capability::{CAP_FOWNER, CAP_SYS_ADMIN};
use abi::flags::mode::{S_IFDIR, S_IFMT, S_IFREG};
use abi::Errno;
use gofer::GoferClient;

use super::ops::{check_perm, MAY_READ, MAY_WRITE};
use super::overlay::copy_up;
use super::tmpfs::S_ISVTX;
use super::{gofer_errno, Dentry, Node, Vfs};
use crate::kernel::process::Credentials;
use crate::mm::SysResult;

/// Linux's `XATTR_SIZE_MAX`: the largest value.
pub const XATTR_SIZE_MAX: usize = 65536;
/// Linux's `XATTR_NAME_MAX`.
pub const XATTR_NAME_MAX: usize = 255;
/// setxattr: fail if the attribute exists.
pub const XATTR_CREATE: u32 = 1;
/// setxattr: fail if it does not.
pub const XATTR_REPLACE: u32 = 2;
/// Most bytes of names and values one in-Sentry file holds (tmpfs's limit
/// for user attributes is of this order); ENOSPC beyond.
const PER_FILE_MAX: usize = 128 * 1024;

/// The attributes of one in-Sentry file.
#[derive(Clone, Debug, Default)]
pub struct Xattrs {
    entries: Vec<(Vec<u8>, Vec<u8>)>,
    bytes: usize,
}

impl Xattrs {
    fn get(&self, name: &[u8]) -> Option<&[u8]> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_slice())
    }

    fn set(&mut self, name: &[u8], value: &[u8], flags: u32) -> SysResult<()> {
        let at = self.entries.iter().position(|(n, _)| n == name);
        if at.is_some() && flags & XATTR_CREATE != 0 {
            return Err(Errno::EEXIST);
        }
        if at.is_none() && flags & XATTR_REPLACE != 0 {
            return Err(Errno::ENODATA);
        }
        let old = at.map_or(0, |i| name.len() + self.entries[i].1.len());
        let bytes = self.bytes - old + name.len() + value.len();
        if bytes > PER_FILE_MAX {
            return Err(Errno::ENOSPC);
        }
        self.bytes = bytes;
        match at {
            Some(i) => self.entries[i].1 = value.to_vec(),
            None => self.entries.push((name.to_vec(), value.to_vec())),
        }
        Ok(())
    }

    fn remove(&mut self, name: &[u8]) -> SysResult<()> {
        let i = self.entries.iter().position(|(n, _)| n == name).ok_or(Errno::ENODATA)?;
        let (n, v) = self.entries.remove(i);
        self.bytes -= n.len() + v.len();
        Ok(())
    }
}

/// The namespaces.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Space {
    User,
    Trusted,
    /// security. and system.: none here.
    Unsupported,
    /// An unknown prefix (EOPNOTSUPP, once the permission check passed).
    Other,
}

/// The namespace of `name`, which must be 1 to 255 bytes (ERANGE) with a
/// known prefix (EOPNOTSUPP) and something after it (EINVAL).
fn space(name: &[u8]) -> SysResult<Space> {
    if name.is_empty() || name.len() > XATTR_NAME_MAX {
        return Err(Errno::ERANGE);
    }
    let space = if name.starts_with(b"user.") {
        Space::User
    } else if name.starts_with(b"trusted.") {
        Space::Trusted
    } else if name.starts_with(b"security.") || name.starts_with(b"system.") {
        Space::Unsupported
    } else {
        return Err(Errno::EOPNOTSUPP);
    };
    // A prefix with nothing after it names no attribute.
    if name.ends_with(b".") && name.iter().filter(|&&b| b == b'.').count() == 1 {
        return Err(Errno::EINVAL);
    }
    Ok(space)
}

/// Linux's `xattr_permission`: `write` for set and remove.
fn permission(d: &Dentry, space: Space, write: bool, creds: &Credentials) -> SysResult<()> {
    let a = d.attr();
    match space {
        Space::Trusted if !creds.has_cap(CAP_SYS_ADMIN) => Err(if write { Errno::EPERM } else { Errno::ENODATA }),
        Space::Trusted | Space::Unsupported => Ok(()),
        Space::Other => check_perm(creds, &a, if write { MAY_WRITE } else { MAY_READ }),
        Space::User => {
            let fmt = a.mode & S_IFMT;
            if fmt != S_IFREG && fmt != S_IFDIR {
                return Err(if write { Errno::EPERM } else { Errno::ENODATA });
            }
            let owner = creds.fsuid == a.uid || creds.has_cap(CAP_FOWNER);
            if fmt == S_IFDIR && a.mode & S_ISVTX != 0 && write && !owner {
                return Err(Errno::EPERM);
            }
            check_perm(creds, &a, if write { MAY_WRITE } else { MAY_READ })
        }
    }
}

/// Where a file's attributes are: in the Sentry, or with the Gofer.
enum Store<'a> {
    Mem(&'a super::tmpfs::Inode),
    Gofer(&'a GoferClient, gofer::Fid),
    None,
}

fn store<'a>(vfs: &'a Vfs, d: &'a Dentry) -> Store<'a> {
    match d.node() {
        Node::Mem(i) => Store::Mem(i),
        Node::Host(h) => Store::Gofer(h.mount.gofer(), h.fid),
        Node::Gofer { fid, .. } => match vfs.gofer() {
            Some(g) => Store::Gofer(g, *fid),
            None => Store::None,
        },
        Node::Synth(_) => Store::None,
    }
}

/// getxattr: the value of `name`.
/// The namespace of `name` for the permission check, and the error (if
/// any) to give once it passed, as Linux resolves the name's handler only
/// after `xattr_permission`.
fn space_then(name: &[u8]) -> (Space, SysResult<Space>) {
    match space(name) {
        Ok(s) => (s, Ok(s)),
        Err(Errno::ERANGE) => (Space::Other, Err(Errno::ERANGE)),
        Err(e) => (if name.starts_with(b"user.") { Space::User } else { Space::Other }, Err(e)),
    }
}

pub fn get(vfs: &Vfs, d: &Dentry, name: &[u8], creds: &Credentials) -> SysResult<Vec<u8>> {
    let (checked, space) = space_then(name);
    if space == Err(Errno::ERANGE) {
        return Err(Errno::ERANGE);
    }
    permission(d, checked, false, creds)?;
    let space = space?;
    match (store(vfs, d), space) {
        (Store::Mem(i), Space::User | Space::Trusted) => {
            let x = i.xattrs.lock().unwrap_or_else(|e| e.into_inner());
            x.get(name).map(<[u8]>::to_vec).ok_or(Errno::ENODATA)
        }
        (Store::Gofer(g, fid), Space::User) => g.getxattr(fid, name).map_err(gofer_errno),
        _ => Err(Errno::ENODATA),
    }
}

/// listxattr: the names the caller may see, each ending in NUL.
pub fn list(vfs: &Vfs, d: &Dentry, creds: &Credentials) -> SysResult<Vec<u8>> {
    let mut out = Vec::new();
    match store(vfs, d) {
        Store::Mem(i) => {
            let x = i.xattrs.lock().unwrap_or_else(|e| e.into_inner());
            for (n, _) in &x.entries {
                // trusted. names are CAP_SYS_ADMIN's to see.
                if creds.has_cap(CAP_SYS_ADMIN) || n.starts_with(b"user.") {
                    out.extend_from_slice(n);
                    out.push(0);
                }
            }
        }
        Store::Gofer(g, fid) => {
            let fmt = d.file_type();
            if fmt == S_IFREG || fmt == S_IFDIR {
                out = g.listxattr(fid).map_err(gofer_errno)?;
            }
        }
        Store::None => {}
    }
    Ok(out)
}

/// setxattr (`value`) or removexattr (`None`) of `name`.
pub fn change(
    vfs: &Vfs,
    d: &Arc<Dentry>,
    name: &[u8],
    value: Option<&[u8]>,
    flags: u32,
    creds: &Credentials,
) -> SysResult<()> {
    if flags & !(XATTR_CREATE | XATTR_REPLACE) != 0 {
        return Err(Errno::EINVAL);
    }
    let (checked, space) = space_then(name);
    if space == Err(Errno::ERANGE) {
        return Err(Errno::ERANGE);
    }
    if value.is_some_and(|v| v.len() > XATTR_SIZE_MAX) {
        return Err(Errno::E2BIG);
    }
    if d.synth().is_some() {
        return Err(Errno::EOPNOTSUPP);
    }
    super::ops::check_writable(d)?;
    permission(d, checked, true, creds)?;
    let space = space?;
    if space == Space::Unsupported {
        return Err(Errno::EOPNOTSUPP);
    }
    // A change to a lower file of an overlay goes to its copy.
    copy_up(d)?;
    match store(vfs, d) {
        Store::Mem(i) => {
            let mut x = i.xattrs.lock().unwrap_or_else(|e| e.into_inner());
            match value {
                Some(v) => x.set(name, v, flags)?,
                None => x.remove(name)?,
            }
        }
        Store::Gofer(g, fid) if space == Space::User => {
            match value {
                Some(v) => g.setxattr(fid, name, v, flags),
                None => g.removexattr(fid, name),
            }
            .map_err(gofer_errno)?;
        }
        _ => return Err(Errno::EOPNOTSUPP),
    }
    super::inotify::notify_dentry(d, super::inotify::IN_ATTRIB);
    Ok(())
}

/// The `user.` attributes of a lower file, for its copy: none if the
/// Gofer cannot say (a host filesystem without them).
pub(crate) fn lower_user_xattrs(gofer: &GoferClient, fid: gofer::Fid) -> Xattrs {
    let mut x = Xattrs::default();
    let Ok(names) = gofer.listxattr(fid) else { return x };
    for name in names.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        if let Ok(v) = gofer.getxattr(fid, name) {
            let _ = x.set(name, &v, 0);
        }
    }
    x
}

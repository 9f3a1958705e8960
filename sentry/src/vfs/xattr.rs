//! Extended attributes, with Linux's rules for who may read and change
//! them.
//!
//! - `user.`: any file's owner (or whoever may write it) on regular files
//!   and directories. Held in memory by the Sentry's own filesystems (and
//!   an overlay's copies, which keep the lower file's), and on the host by
//!   the Gofer for its trees.
//! - `trusted.`: CAP_SYS_ADMIN only, in the Sentry's filesystems.
//! - `security.`: anyone reads them; changing one is CAP_SYS_ADMIN's
//!   (security.capability: CAP_SETFCAP's, with a valid value), as Linux's
//!   capability module has it with no other security module. In the
//!   Sentry's filesystems (the host's labels are never shown).
//! - `system.` (ACLs): none exist, and none can be set (EOPNOTSUPP).
//!
//! An immutable or append-only file's attributes do not change (EPERM).

use std::sync::Arc;

use abi::flags::capability::{CAP_FOWNER, CAP_SETFCAP, CAP_SYS_ADMIN};
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
/// Linux's `XATTR_LIST_MAX`: the longest list of names.
pub const XATTR_LIST_MAX: usize = 65536;
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
    /// By name, in descending byte order: the order Linux's tmpfs lists
    /// them in.
    entries: Vec<(Vec<u8>, Vec<u8>)>,
    bytes: usize,
}

impl Xattrs {
    /// Every attribute, (name, value) (for a checkpoint).
    pub fn entries(&self) -> &[(Vec<u8>, Vec<u8>)] {
        &self.entries
    }

    /// The attributes of a checkpoint, kept in the order Linux lists them.
    pub fn from_entries(mut entries: Vec<(Vec<u8>, Vec<u8>)>) -> Xattrs {
        entries.sort_by(|a, b| b.0.cmp(&a.0));
        entries.dedup_by(|a, b| a.0 == b.0);
        let bytes = entries.iter().map(|(n, v)| n.len() + v.len()).sum();
        Xattrs { entries, bytes }
    }

    /// Where `name` is (Ok) or would go (Err).
    fn find(&self, name: &[u8]) -> Result<usize, usize> {
        self.entries.binary_search_by(|(n, _)| name.cmp(n))
    }

    fn get(&self, name: &[u8]) -> Option<&[u8]> {
        self.find(name).ok().map(|i| self.entries[i].1.as_slice())
    }

    fn set(&mut self, name: &[u8], value: &[u8], flags: u32) -> SysResult<()> {
        let found = self.find(name);
        let at = found.ok();
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
        match found {
            Ok(i) => self.entries[i].1 = value.to_vec(),
            Err(i) => self.entries.insert(i, (name.to_vec(), value.to_vec())),
        }
        Ok(())
    }

    fn remove(&mut self, name: &[u8]) -> SysResult<()> {
        let i = self.find(name).map_err(|_| Errno::ENODATA)?;
        let (n, v) = self.entries.remove(i);
        self.bytes -= n.len() + v.len();
        Ok(())
    }
}

/// The namespaces, by prefix.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Space {
    User,
    Trusted,
    Security,
    /// ACLs: none here.
    System,
    /// An unknown prefix (EOPNOTSUPP, once the permission check passed).
    Other,
}

/// The namespace whose rules apply to `name`, by its prefix alone (Linux's
/// `xattr_permission` compares prefixes only).
fn space(name: &[u8]) -> Space {
    if name.starts_with(b"user.") {
        Space::User
    } else if name.starts_with(b"trusted.") {
        Space::Trusted
    } else if name.starts_with(b"security.") {
        Space::Security
    } else if name.starts_with(b"system.") {
        Space::System
    } else {
        Space::Other
    }
}

/// Linux's `xattr_resolve_name`, after the permission check: a known
/// prefix with something after it (EINVAL for the bare prefix,
/// EOPNOTSUPP for an unknown one).
fn resolve(name: &[u8], space: Space) -> SysResult<()> {
    if space == Space::Other {
        return Err(Errno::EOPNOTSUPP);
    }
    // A prefix with nothing after it names no attribute.
    if name.ends_with(b".") && name.iter().filter(|&&b| b == b'.').count() == 1 {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// Linux's `xattr_permission` (with `may_write_xattr`): `write` for set
/// and remove.
fn permission(d: &Dentry, space: Space, write: bool, creds: &Credentials) -> SysResult<()> {
    if write && (d.is_immutable() || d.is_append_only()) {
        return Err(Errno::EPERM);
    }
    let a = d.attr();
    match space {
        // No check here: the security module's and the filesystem's.
        Space::Security | Space::System => Ok(()),
        Space::Trusted if !creds.has_cap(CAP_SYS_ADMIN) => Err(if write { Errno::EPERM } else { Errno::ENODATA }),
        Space::Trusted => Ok(()),
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

/// The file capabilities' attribute.
const XATTR_NAME_CAPS: &[u8] = b"security.capability";
/// Its two layouts (`struct vfs_cap_data`, `vfs_ns_cap_data`): sizes, and
/// the revision in the top byte of their first word.
const XATTR_CAPS_SZ_2: usize = 20;
const XATTR_CAPS_SZ_3: usize = 24;
const VFS_CAP_REVISION_MASK: u32 = 0xff00_0000;
const VFS_CAP_REVISION_2: u32 = 0x0200_0000;
const VFS_CAP_REVISION_3: u32 = 0x0300_0000;

/// Linux's `cap_convert_nscap`, before any other check of a setxattr of
/// security.capability with a value: a version 2 or 3 header of the right
/// size (EINVAL), and CAP_SETFCAP (EPERM). The sandbox is one user
/// namespace, so the value is kept as it is.
fn check_file_caps(value: &[u8], creds: &Credentials) -> SysResult<()> {
    let magic = value.get(..4).map_or(0, |m| u32::from_le_bytes([m[0], m[1], m[2], m[3]]));
    let valid = match magic & VFS_CAP_REVISION_MASK {
        VFS_CAP_REVISION_2 => value.len() == XATTR_CAPS_SZ_2,
        VFS_CAP_REVISION_3 => value.len() == XATTR_CAPS_SZ_3,
        _ => false,
    };
    if !valid {
        return Err(Errno::EINVAL);
    }
    if !creds.has_cap(CAP_SETFCAP) {
        return Err(Errno::EPERM);
    }
    Ok(())
}

/// The capability module's rule for changing a `security.` attribute
/// (`cap_inode_setxattr`, `cap_inode_removexattr`): CAP_SYS_ADMIN, but for
/// security.capability, which setting checked already and removing needs
/// CAP_SETFCAP.
fn security_change(name: &[u8], removing: bool, creds: &Credentials) -> SysResult<()> {
    let allowed =
        if name == XATTR_NAME_CAPS { !removing || creds.has_cap(CAP_SETFCAP) } else { creds.has_cap(CAP_SYS_ADMIN) };
    if allowed {
        Ok(())
    } else {
        Err(Errno::EPERM)
    }
}

/// The ACL attributes (tmpfs has a handler for each; no ACL is ever set).
fn is_acl(name: &[u8]) -> bool {
    name == b"system.posix_acl_access" || name == b"system.posix_acl_default"
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

/// A name's length: 1 to 255 bytes (ERANGE).
fn check_len(name: &[u8]) -> SysResult<()> {
    if name.is_empty() || name.len() > XATTR_NAME_MAX {
        Err(Errno::ERANGE)
    } else {
        Ok(())
    }
}

/// getxattr: the value of `name`.
pub fn get(vfs: &Vfs, d: &Dentry, name: &[u8], creds: &Credentials) -> SysResult<Vec<u8>> {
    check_len(name)?;
    let space = space(name);
    permission(d, space, false, creds)?;
    resolve(name, space)?;
    match (store(vfs, d), space) {
        (_, Space::System) if !is_acl(name) => Err(Errno::EOPNOTSUPP),
        (Store::Mem(i), Space::User | Space::Trusted | Space::Security) => {
            let x = i.xattrs.lock().unwrap_or_else(|e| e.into_inner());
            x.get(name).map(<[u8]>::to_vec).ok_or(Errno::ENODATA)
        }
        (Store::Gofer(g, fid), Space::User) => g.getxattr(fid, name).map_err(gofer_errno),
        _ => Err(Errno::ENODATA),
    }
}

/// listxattr: the names the caller may see, each ending in NUL: all of an
/// in-Sentry file's but `trusted.` ones, which are CAP_SYS_ADMIN's to see
/// (Linux's `simple_xattr_list`).
pub fn list(vfs: &Vfs, d: &Dentry, creds: &Credentials) -> SysResult<Vec<u8>> {
    let mut out = Vec::new();
    match store(vfs, d) {
        Store::Mem(i) => {
            let x = i.xattrs.lock().unwrap_or_else(|e| e.into_inner());
            for (n, _) in &x.entries {
                if creds.has_cap(CAP_SYS_ADMIN) || space(n) != Space::Trusted {
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
    check_len(name)?;
    if value.is_some_and(|v| v.len() > XATTR_SIZE_MAX) {
        return Err(Errno::E2BIG);
    }
    if d.synth().is_some() {
        return Err(Errno::EOPNOTSUPP);
    }
    super::ops::check_writable(d)?;
    if let Some(v) = value.filter(|v| !v.is_empty() && name == XATTR_NAME_CAPS) {
        check_file_caps(v, creds)?;
    }
    let space = space(name);
    permission(d, space, true, creds)?;
    if space == Space::Security {
        security_change(name, value.is_none(), creds)?;
    }
    resolve(name, space)?;
    if space == Space::System {
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

//! nsfs: the files /proc/PID/ns links open, each standing for a
//! namespace ([`crate::kernel::ns`]): setns(2) takes them, fstat shows the
//! namespace's inode number, and the NS_GET_* ioctls ask about it.

use gofer::FileAttr;

use super::file::FileOps;
use crate::kernel::ns::{NsKind, NsRef};
use crate::mm::SysResult;

/// nsfs's device number, as stat shows it.
const NSFS_DEV: u64 = 0x4;

/// An open namespace file.
pub struct NsFile(pub NsRef);

impl FileOps for NsFile {
    fn seekable(&self) -> bool {
        false
    }

    fn stat(&self) -> SysResult<FileAttr> {
        // Linux's nsfs inode: a read-only regular file.
        Ok(FileAttr {
            mode: abi::flags::mode::S_IFREG | 0o444,
            nlink: 1,
            blksize: 4096,
            ino: self.0.ino(),
            dev: NSFS_DEV,
            ..FileAttr::default()
        })
    }

    fn namespace(&self) -> Option<&NsRef> {
        Some(&self.0)
    }

    fn fd_link(&self) -> Option<Vec<u8>> {
        Some(self.0.link_text())
    }
}

/// NS_GET_USERNS, NS_GET_PARENT, NS_GET_NSTYPE, NS_GET_OWNER_UID.
pub const NS_GET_USERNS: u32 = 0xb701;
pub const NS_GET_PARENT: u32 = 0xb702;
pub const NS_GET_NSTYPE: u32 = 0xb703;
pub const NS_GET_OWNER_UID: u32 = 0xb704;

/// What an NS_GET_* ioctl on a namespace answers, as Linux's ns_ioctl,
/// for a sandbox whose namespaces all belong to its one user namespace
/// and whose PID namespace is its only one: `Ok(Some(ns))` when the
/// answer is a new file for `ns`, `Ok(None)` for NS_GET_NSTYPE (the
/// value is the kind's flag) and NS_GET_OWNER_UID (uid 0 written), None
/// for other commands.
pub fn ioctl(ns: &NsRef, cmd: u32) -> Option<SysResult<Option<NsRef>>> {
    use abi::Errno;
    Some(match cmd {
        // Every namespace's owner is the first user namespace, which has
        // no owner of its own (EPERM, as for a namespace outside the
        // caller's).
        NS_GET_USERNS if ns.kind() == NsKind::User => Err(Errno::EPERM),
        NS_GET_USERNS => Ok(Some(NsRef::Init(NsKind::User))),
        // Only PID and user namespaces have parents; the first has none.
        NS_GET_PARENT if matches!(ns.kind(), NsKind::Pid | NsKind::User) => Err(Errno::EPERM),
        NS_GET_PARENT => Err(Errno::EINVAL),
        NS_GET_NSTYPE => Ok(None),
        NS_GET_OWNER_UID if ns.kind() == NsKind::User => Ok(None),
        NS_GET_OWNER_UID => Err(Errno::EINVAL),
        _ => return None,
    })
}

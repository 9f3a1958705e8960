//! Extended attributes. No filesystem of the sandbox has any: reads find
//! none and writes are refused, with the errnos Linux gives for a filesystem
//! without xattr support.

use abi::Errno;

use super::fs::{read_path, resolve_at};
use super::Args;
use crate::kernel::task::Task;
use crate::mm::SysResult;
use crate::vfs::Follow;

fn check_path(t: &Task, addr: u64, follow: Follow) -> SysResult<()> {
    let path = read_path(t, addr)?;
    resolve_at(t, abi::flags::at::AT_FDCWD, &path, follow).map(|_| ())
}

/// getxattr/lgetxattr: the name does not exist.
pub fn getxattr(t: &mut Task, a: &Args) -> SysResult<u64> {
    check_path(t, a.addr(0), Follow::Yes)?;
    Err(Errno::ENODATA)
}

/// lgetxattr.
pub fn lgetxattr(t: &mut Task, a: &Args) -> SysResult<u64> {
    check_path(t, a.addr(0), Follow::No)?;
    Err(Errno::ENODATA)
}

/// fgetxattr.
pub fn fgetxattr(t: &mut Task, a: &Args) -> SysResult<u64> {
    t.fds().get(a.fd(0))?;
    Err(Errno::ENODATA)
}

/// listxattr: an empty list.
pub fn listxattr(t: &mut Task, a: &Args) -> SysResult<u64> {
    check_path(t, a.addr(0), Follow::Yes)?;
    Ok(0)
}

/// llistxattr.
pub fn llistxattr(t: &mut Task, a: &Args) -> SysResult<u64> {
    check_path(t, a.addr(0), Follow::No)?;
    Ok(0)
}

/// flistxattr.
pub fn flistxattr(t: &mut Task, a: &Args) -> SysResult<u64> {
    t.fds().get(a.fd(0))?;
    Ok(0)
}

/// set/remove: not supported by these filesystems.
pub fn setxattr(t: &mut Task, a: &Args) -> SysResult<u64> {
    check_path(t, a.addr(0), Follow::Yes)?;
    Err(Errno::EOPNOTSUPP)
}

/// lsetxattr/lremovexattr.
pub fn lsetxattr(t: &mut Task, a: &Args) -> SysResult<u64> {
    check_path(t, a.addr(0), Follow::No)?;
    Err(Errno::EOPNOTSUPP)
}

/// fsetxattr/fremovexattr.
pub fn fsetxattr(t: &mut Task, a: &Args) -> SysResult<u64> {
    t.fds().get(a.fd(0))?;
    Err(Errno::EOPNOTSUPP)
}

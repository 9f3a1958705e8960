//! Extended attributes: the system calls, by path (following the last
//! symlink or not) and by fd. The rules are [`crate::vfs::xattr`]'s.

use std::sync::Arc;

use abi::flags::at::AT_FDCWD;
use abi::flags::open::O_PATH;
use abi::Errno;

use super::fs::{read_path, resolve_at};
use super::Args;
use crate::kernel::task::Task;
use crate::mm::SysResult;
use crate::vfs::xattr::{self, XATTR_LIST_MAX, XATTR_NAME_MAX, XATTR_SIZE_MAX};
use crate::vfs::{Dentry, Follow};

/// The file a call names: by path, or by fd (which must have a name; an
/// O_PATH fd is EBADF, as in Linux).
fn target(t: &Task, by_fd: bool, arg: &Args, follow: Follow) -> SysResult<Arc<Dentry>> {
    if by_fd {
        let f = t.fds().get(arg.fd(0))?.clone();
        if f.flags() & O_PATH != 0 {
            return Err(Errno::EBADF);
        }
        return f.dentry.clone().ok_or(Errno::EOPNOTSUPP);
    }
    let path = read_path(t, arg.addr(0))?;
    resolve_at(t, AT_FDCWD, &path, follow)
}

/// An attribute name argument: 1 to 255 bytes (ERANGE otherwise).
fn read_name(t: &Task, addr: u64) -> SysResult<Vec<u8>> {
    match t.mm().read_cstr(addr, XATTR_NAME_MAX + 1) {
        Ok(n) if n.is_empty() => Err(Errno::ERANGE),
        Err(Errno::ENAMETOOLONG) => Err(Errno::ERANGE),
        r => r,
    }
}

/// Copies `bytes` out to a buffer of `size` bytes: with size 0, only the
/// length; ERANGE if they do not fit, or E2BIG if even a buffer of the
/// largest size (`max`, which the kernel's buffer never passes) would not.
fn give(t: &Task, buf: u64, size: usize, bytes: &[u8], max: usize) -> SysResult<u64> {
    if size == 0 {
        return Ok(bytes.len() as u64);
    }
    if bytes.len() > size.min(max) {
        return Err(if size >= max { Errno::E2BIG } else { Errno::ERANGE });
    }
    t.mm().copy_out(buf, bytes)?;
    Ok(bytes.len() as u64)
}

fn do_get(t: &mut Task, a: &Args, by_fd: bool, follow: Follow) -> SysResult<u64> {
    let name = read_name(t, a.addr(1))?;
    let d = target(t, by_fd, a, follow)?;
    let value = xattr::get(&t.kernel.vfs, &d, &name, &t.creds())?;
    give(t, a.addr(2), a.u64(3) as usize, &value, XATTR_SIZE_MAX)
}

fn do_list(t: &mut Task, a: &Args, by_fd: bool, follow: Follow) -> SysResult<u64> {
    let d = target(t, by_fd, a, follow)?;
    let names = xattr::list(&t.kernel.vfs, &d, &t.creds())?;
    give(t, a.addr(1), a.u64(2) as usize, &names, XATTR_LIST_MAX)
}

fn do_set(t: &mut Task, a: &Args, by_fd: bool, follow: Follow) -> SysResult<u64> {
    let (size, flags) = (a.u64(3) as usize, a.u32(4));
    // As Linux: the flags before anything else.
    if flags & !(xattr::XATTR_CREATE | xattr::XATTR_REPLACE) != 0 {
        return Err(Errno::EINVAL);
    }
    let name = read_name(t, a.addr(1))?;
    if size > XATTR_SIZE_MAX {
        return Err(Errno::E2BIG);
    }
    let mut value = vec![0u8; size];
    t.mm().copy_in(a.addr(2), &mut value)?;
    let d = target(t, by_fd, a, follow)?;
    xattr::change(&t.kernel.vfs, &d, &name, Some(&value), flags, &t.creds())?;
    Ok(0)
}

fn do_remove(t: &mut Task, a: &Args, by_fd: bool, follow: Follow) -> SysResult<u64> {
    let name = read_name(t, a.addr(1))?;
    let d = target(t, by_fd, a, follow)?;
    xattr::change(&t.kernel.vfs, &d, &name, None, 0, &t.creds())?;
    Ok(0)
}

pub fn getxattr(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_get(t, a, false, Follow::Yes)
}

pub fn lgetxattr(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_get(t, a, false, Follow::No)
}

pub fn fgetxattr(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_get(t, a, true, Follow::Yes)
}

pub fn listxattr(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_list(t, a, false, Follow::Yes)
}

pub fn llistxattr(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_list(t, a, false, Follow::No)
}

pub fn flistxattr(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_list(t, a, true, Follow::Yes)
}

pub fn setxattr(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_set(t, a, false, Follow::Yes)
}

pub fn lsetxattr(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_set(t, a, false, Follow::No)
}

pub fn fsetxattr(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_set(t, a, true, Follow::Yes)
}

pub fn removexattr(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_remove(t, a, false, Follow::Yes)
}

pub fn lremovexattr(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_remove(t, a, false, Follow::No)
}

pub fn fremovexattr(t: &mut Task, a: &Args) -> SysResult<u64> {
    do_remove(t, a, true, Follow::Yes)
}

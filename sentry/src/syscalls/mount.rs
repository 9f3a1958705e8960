//! mount(2) and umount2(2): mounts of the Sentry's own filesystems and
//! bind mounts within the sandbox ([`crate::vfs::mount`]). Nothing is
//! mounted on the host; CAP_SYS_ADMIN is the sandbox's own.

use std::sync::Arc;

use abi::flags::capability::CAP_SYS_ADMIN;
use abi::flags::mount::*;
use abi::Errno;

use super::fs::read_path;
use super::Args;
use crate::kernel::task::Task;
use crate::mm::SysResult;
use crate::vfs::{mount, Dentry, Follow};

/// One page: the longest string or option block mount(2) copies.
const PAGE: usize = abi::PAGE_SIZE as usize;

/// Linux's `copy_mount_string`: a string of at most a page, or none.
fn mount_string(t: &Task, addr: u64) -> SysResult<Option<Vec<u8>>> {
    if addr == 0 {
        return Ok(None);
    }
    match t.mm().read_cstr(addr, PAGE) {
        Ok(s) => Ok(Some(s)),
        Err(Errno::ENAMETOOLONG) => Err(Errno::EINVAL),
        Err(e) => Err(e),
    }
}

/// Linux's `copy_mount_options`: up to a page of `data`, as much as can be
/// read (EFAULT only if nothing can), up to its first NUL.
fn mount_options(t: &Task, addr: u64) -> SysResult<Option<Vec<u8>>> {
    if addr == 0 {
        return Ok(None);
    }
    let mut out = vec![0u8; PAGE];
    let mut got = 0;
    while got < PAGE {
        let cur = addr.wrapping_add(got as u64);
        let chunk = (PAGE - got).min((abi::PAGE_SIZE - cur % abi::PAGE_SIZE) as usize);
        if t.mm().copy_in(cur, &mut out[got..got + chunk]).is_err() {
            break;
        }
        got += chunk;
    }
    if got == 0 {
        return Err(Errno::EFAULT);
    }
    // (Linux ends the page with a NUL.)
    out.truncate(got.min(PAGE - 1));
    if let Some(end) = out.iter().position(|&b| b == 0) {
        out.truncate(end);
    }
    Ok(Some(out))
}

pub fn mount(t: &mut Task, a: &Args) -> SysResult<u64> {
    let fstype = mount_string(t, a.addr(2))?;
    let source = mount_string(t, a.addr(0))?;
    let data = mount_options(t, a.addr(4))?;
    let path = read_path(t, a.addr(1))?;
    let mut ms = a.u64(3);
    let (root, cwd) = {
        let fs = t.fs();
        (fs.root.clone(), fs.cwd.clone())
    };
    let creds = t.creds();
    let vfs = &t.kernel.vfs;
    let target = vfs.mount_target(&root, &cwd, &path, Follow::Yes, &creds)?;
    if ms & MS_MGC_MSK == MS_MGC_VAL {
        ms &= !MS_MGC_MSK;
    }
    if ms & MS_NOUSER != 0 {
        return Err(Errno::EINVAL);
    }
    if !creds.has_cap(CAP_SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    if ms & MS_REMOUNT != 0 {
        vfs.remount(&target, ms, data.as_deref())?;
        return Ok(0);
    }
    if ms & MS_BIND != 0 {
        let src = source.filter(|s| !s.is_empty()).ok_or(Errno::EINVAL)?;
        let d = vfs.resolve_as(&root, &cwd, &src, Follow::Yes, &creds)?;
        vfs.mount_bind(&target, &d)?;
        return Ok(0);
    }
    if ms & MS_PROPAGATION != 0 {
        vfs.change_propagation(&target, ms)?;
        return Ok(0);
    }
    if ms & MS_MOVE != 0 {
        // Not offered: a mount stays where it was made.
        return Err(Errno::EINVAL);
    }
    let fstype = fstype.ok_or(Errno::EINVAL)?;
    let fstype = std::str::from_utf8(&fstype).map_err(|_| Errno::ENODEV)?;
    let (fsroot, rec) = mount::new_filesystem(&t.kernel, fstype, source.as_deref(), ms, data.as_deref())?;
    vfs.mount_new(&target, fsroot, rec)?;
    Ok(0)
}

pub fn umount2(t: &mut Task, a: &Args) -> SysResult<u64> {
    let flags = a.u32(1);
    if flags & !(MNT_FORCE | MNT_DETACH | MNT_EXPIRE | UMOUNT_NOFOLLOW) != 0 {
        return Err(Errno::EINVAL);
    }
    let path = read_path(t, a.addr(0))?;
    let follow = if flags & UMOUNT_NOFOLLOW != 0 { Follow::No } else { Follow::Yes };
    let (root, cwd) = {
        let fs = t.fs();
        (fs.root.clone(), fs.cwd.clone())
    };
    let creds = t.creds();
    let target = t.kernel.vfs.mount_target(&root, &cwd, &path, follow, &creds)?;
    if !creds.has_cap(CAP_SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    let in_use = dentries_in_use(t);
    t.kernel.vfs.unmount(&target, flags, &in_use)?;
    Ok(0)
}

/// The dentries the sandbox's tasks hold: their roots, working
/// directories, programs and open files (what makes a mount busy).
fn dentries_in_use(t: &Task) -> Vec<Arc<Dentry>> {
    let views: Vec<_> = t.kernel.procs().threads.values().filter_map(|h| h.view()).collect();
    let mut out = Vec::new();
    let mut fs_seen = std::collections::HashSet::new();
    let mut fds_seen = std::collections::HashSet::new();
    for v in views {
        out.extend(v.exe.clone());
        if fs_seen.insert(Arc::as_ptr(&v.fs) as usize) {
            let fs = v.fs.lock().unwrap_or_else(|e| e.into_inner());
            out.push(fs.root.clone());
            out.push(fs.cwd.clone());
        }
        if fds_seen.insert(Arc::as_ptr(&v.fds) as usize) {
            let fds = v.fds.lock().unwrap_or_else(|e| e.into_inner());
            for fd in fds.fds() {
                if let Some(d) = fds.get(fd).ok().and_then(|f| f.dentry.clone()) {
                    out.push(d);
                }
            }
        }
    }
    out
}

//! Process and user identity: ids, and the set*id family with Linux's
//! permission rules (root inside the sandbox may take any id; others may only
//! move between their real, effective and saved ids).

use abi::Errno;

use super::Args;
use crate::kernel::process::Credentials;
use crate::kernel::task::Task;
use crate::mm::SysResult;

pub fn getpid(t: &mut Task, _: &Args) -> SysResult<u64> {
    Ok(t.pid as u64)
}

pub fn getppid(t: &mut Task, _: &Args) -> SysResult<u64> {
    Ok(t.kernel.procs().procs.get(&t.pid).map_or(0, |p| p.parent) as u64)
}

pub fn gettid(t: &mut Task, _: &Args) -> SysResult<u64> {
    Ok(t.tid as u64)
}

pub fn getuid(t: &mut Task, _: &Args) -> SysResult<u64> {
    Ok(u64::from(t.creds().uid))
}

pub fn geteuid(t: &mut Task, _: &Args) -> SysResult<u64> {
    Ok(u64::from(t.creds().euid))
}

pub fn getgid(t: &mut Task, _: &Args) -> SysResult<u64> {
    Ok(u64::from(t.creds().gid))
}

pub fn getegid(t: &mut Task, _: &Args) -> SysResult<u64> {
    Ok(u64::from(t.creds().egid))
}

fn update(t: &Task, f: impl FnOnce(&mut Credentials) -> SysResult<()>) -> SysResult<u64> {
    let mut c = t.handle.tg.creds.lock().unwrap_or_else(|e| e.into_inner());
    let mut new = c.clone();
    f(&mut new)?;
    *c = new;
    Ok(0)
}

/// -1 as an id argument means "leave unchanged".
fn id(a: &Args, i: usize) -> Option<u32> {
    let v = a.u32(i);
    (v != u32::MAX).then_some(v)
}

pub fn setuid(t: &mut Task, a: &Args) -> SysResult<u64> {
    let uid = id(a, 0).ok_or(Errno::EINVAL)?;
    update(t, |c| {
        if c.is_root() {
            (c.uid, c.euid, c.suid, c.fsuid) = (uid, uid, uid, uid);
        } else if uid == c.uid || uid == c.suid {
            (c.euid, c.fsuid) = (uid, uid);
        } else {
            return Err(Errno::EPERM);
        }
        Ok(())
    })
}

pub fn setgid(t: &mut Task, a: &Args) -> SysResult<u64> {
    let gid = id(a, 0).ok_or(Errno::EINVAL)?;
    update(t, |c| {
        if c.is_root() {
            (c.gid, c.egid, c.sgid, c.fsgid) = (gid, gid, gid, gid);
        } else if gid == c.gid || gid == c.sgid {
            (c.egid, c.fsgid) = (gid, gid);
        } else {
            return Err(Errno::EPERM);
        }
        Ok(())
    })
}

pub fn setresuid(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (r, e, s) = (id(a, 0), id(a, 1), id(a, 2));
    update(t, |c| {
        let allowed = |v: u32| c.is_root() || v == c.uid || v == c.euid || v == c.suid;
        if ![r, e, s].iter().flatten().all(|&v| allowed(v)) {
            return Err(Errno::EPERM);
        }
        if let Some(v) = r {
            c.uid = v;
        }
        if let Some(v) = e {
            c.euid = v;
            c.fsuid = v;
        }
        if let Some(v) = s {
            c.suid = v;
        }
        Ok(())
    })
}

pub fn setresgid(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (r, e, s) = (id(a, 0), id(a, 1), id(a, 2));
    update(t, |c| {
        let allowed = |v: u32| c.is_root() || v == c.gid || v == c.egid || v == c.sgid;
        if ![r, e, s].iter().flatten().all(|&v| allowed(v)) {
            return Err(Errno::EPERM);
        }
        if let Some(v) = r {
            c.gid = v;
        }
        if let Some(v) = e {
            c.egid = v;
            c.fsgid = v;
        }
        if let Some(v) = s {
            c.sgid = v;
        }
        Ok(())
    })
}

pub fn setreuid(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (r, e) = (id(a, 0), id(a, 1));
    update(t, |c| {
        let ok_r = r.is_none_or(|v| c.is_root() || v == c.uid || v == c.euid);
        let ok_e = e.is_none_or(|v| c.is_root() || v == c.uid || v == c.euid || v == c.suid);
        if !ok_r || !ok_e {
            return Err(Errno::EPERM);
        }
        let old_uid = c.uid;
        if let Some(v) = r {
            c.uid = v;
        }
        if let Some(v) = e {
            c.euid = v;
            c.fsuid = v;
        }
        if r.is_some() || e.is_some_and(|v| v != old_uid) {
            c.suid = c.euid;
        }
        Ok(())
    })
}

pub fn setregid(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (r, e) = (id(a, 0), id(a, 1));
    update(t, |c| {
        let ok_r = r.is_none_or(|v| c.is_root() || v == c.gid || v == c.egid);
        let ok_e = e.is_none_or(|v| c.is_root() || v == c.gid || v == c.egid || v == c.sgid);
        if !ok_r || !ok_e {
            return Err(Errno::EPERM);
        }
        let old_gid = c.gid;
        if let Some(v) = r {
            c.gid = v;
        }
        if let Some(v) = e {
            c.egid = v;
            c.fsgid = v;
        }
        if r.is_some() || e.is_some_and(|v| v != old_gid) {
            c.sgid = c.egid;
        }
        Ok(())
    })
}

pub fn getresuid(t: &mut Task, a: &Args) -> SysResult<u64> {
    let c = t.creds();
    let mut mm = t.mm();
    mm.write_val(a.addr(0), &c.uid)?;
    mm.write_val(a.addr(1), &c.euid)?;
    mm.write_val(a.addr(2), &c.suid)?;
    Ok(0)
}

pub fn getresgid(t: &mut Task, a: &Args) -> SysResult<u64> {
    let c = t.creds();
    let mut mm = t.mm();
    mm.write_val(a.addr(0), &c.gid)?;
    mm.write_val(a.addr(1), &c.egid)?;
    mm.write_val(a.addr(2), &c.sgid)?;
    Ok(0)
}

pub fn setfsuid(t: &mut Task, a: &Args) -> SysResult<u64> {
    let c = t.creds();
    let old = c.fsuid;
    if let Some(v) = id(a, 0) {
        if c.is_root() || [c.uid, c.euid, c.suid, c.fsuid].contains(&v) {
            let _ = update(t, |c| {
                c.fsuid = v;
                Ok(())
            });
        }
    }
    Ok(u64::from(old))
}

pub fn setfsgid(t: &mut Task, a: &Args) -> SysResult<u64> {
    let c = t.creds();
    let old = c.fsgid;
    if let Some(v) = id(a, 0) {
        if c.is_root() || [c.gid, c.egid, c.sgid, c.fsgid].contains(&v) {
            let _ = update(t, |c| {
                c.fsgid = v;
                Ok(())
            });
        }
    }
    Ok(u64::from(old))
}

/// Most supplementary groups Linux allows.
const NGROUPS_MAX: usize = 65536;

pub fn getgroups(t: &mut Task, a: &Args) -> SysResult<u64> {
    let size = a.i32(0);
    let groups = t.creds().groups;
    if size < 0 {
        return Err(Errno::EINVAL);
    }
    if size == 0 {
        return Ok(groups.len() as u64);
    }
    if (size as usize) < groups.len() {
        return Err(Errno::EINVAL);
    }
    let bytes: Vec<u8> = groups.iter().flat_map(|g| g.to_le_bytes()).collect();
    t.mm().copy_out(a.addr(1), &bytes)?;
    Ok(groups.len() as u64)
}

pub fn setgroups(t: &mut Task, a: &Args) -> SysResult<u64> {
    let size = a.u64(0) as usize;
    if size > NGROUPS_MAX {
        return Err(Errno::EINVAL);
    }
    let mut bytes = vec![0u8; size * 4];
    t.mm().copy_in(a.addr(1), &mut bytes)?;
    let mut groups: Vec<u32> = bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    // Linux keeps the list sorted (groups_sort), and getgroups shows it so.
    groups.sort_unstable();
    update(t, |c| {
        if !c.is_root() {
            return Err(Errno::EPERM);
        }
        c.groups = groups;
        Ok(())
    })
}

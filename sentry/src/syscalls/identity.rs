//! Process and user identity: ids, and the set*id family with Linux's
//! permission rules (a process with CAP_SETUID, or CAP_SETGID for group
//! ids, may take any id; others may only move between their real,
//! effective and saved ids), and what the user id changes do to the
//! capability sets ([`caps::fix_setuid`]).

use abi::flags::capability::{CAP_SETGID, CAP_SETUID, CAP_VALID_MASK};
use abi::types::{CapUserData, CapUserHeader};
use abi::Errno;
use zerocopy::IntoBytes;

use super::Args;
use crate::kernel::caps;
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

fn update(t: &mut Task, f: impl FnOnce(&mut Credentials) -> SysResult<()>) -> SysResult<u64> {
    let lost_trust = {
        let mut c = t.handle.tg.creds.lock().unwrap_or_else(|e| e.into_inner());
        let mut new = c.clone();
        f(&mut new)?;
        let lost_trust = caps::changes_trust(&c, &new);
        *c = new;
        lost_trust
    };
    if lost_trust {
        t.dumpable = false;
        t.handle.tg.pdeathsig.store(0, std::sync::atomic::Ordering::Relaxed);
    }
    Ok(0)
}

/// [`update`] for a change of user ids: the capability sets follow it.
fn update_uids(t: &mut Task, f: impl FnOnce(&mut Credentials) -> SysResult<()>) -> SysResult<u64> {
    update(t, |c| {
        let old = c.clone();
        f(c)?;
        caps::fix_setuid(&old, c);
        Ok(())
    })
}

/// -1 as an id argument means "leave unchanged".
fn id(a: &Args, i: usize) -> Option<u32> {
    let v = a.u32(i);
    (v != u32::MAX).then_some(v)
}

pub fn setuid(t: &mut Task, a: &Args) -> SysResult<u64> {
    let uid = id(a, 0).ok_or(Errno::EINVAL)?;
    update_uids(t, |c| {
        if c.has_cap(CAP_SETUID) {
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
        if c.has_cap(CAP_SETGID) {
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
    update_uids(t, |c| {
        let allowed = |v: u32| c.has_cap(CAP_SETUID) || v == c.uid || v == c.euid || v == c.suid;
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
        let allowed = |v: u32| c.has_cap(CAP_SETGID) || v == c.gid || v == c.egid || v == c.sgid;
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
    update_uids(t, |c| {
        let privileged = c.has_cap(CAP_SETUID);
        let ok_r = r.is_none_or(|v| privileged || v == c.uid || v == c.euid);
        let ok_e = e.is_none_or(|v| privileged || v == c.uid || v == c.euid || v == c.suid);
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
        let privileged = c.has_cap(CAP_SETGID);
        let ok_r = r.is_none_or(|v| privileged || v == c.gid || v == c.egid);
        let ok_e = e.is_none_or(|v| privileged || v == c.gid || v == c.egid || v == c.sgid);
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
        if v != old && (c.has_cap(CAP_SETUID) || [c.uid, c.euid, c.suid, c.fsuid].contains(&v)) {
            let _ = update(t, |c| {
                let before = c.clone();
                c.fsuid = v;
                caps::fix_setfsuid(&before, c);
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
        if c.has_cap(CAP_SETGID) || [c.gid, c.egid, c.sgid, c.fsgid].contains(&v) {
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
        if !c.has_cap(CAP_SETGID) {
            return Err(Errno::EPERM);
        }
        c.groups = groups;
        Ok(())
    })
}

/// The number of `__user_cap_data_struct`s a capget/capset header's
/// version carries (1 for v1, 2 for v2 and v3); for any other version,
/// the current one is written back into the header (so that libcap
/// learns it) and the call fails with EINVAL.
fn cap_data_words(t: &Task, header: u64) -> SysResult<usize> {
    use abi::flags::capability::{LINUX_CAPABILITY_VERSION_1, LINUX_CAPABILITY_VERSION_2, LINUX_CAPABILITY_VERSION_3};
    let version: u32 = t.mm().read_val(header)?;
    match version {
        LINUX_CAPABILITY_VERSION_1 => Ok(1),
        LINUX_CAPABILITY_VERSION_2 | LINUX_CAPABILITY_VERSION_3 => Ok(2),
        _ => {
            t.mm().write_val(header, &LINUX_CAPABILITY_VERSION_3)?;
            Err(Errno::EINVAL)
        }
    }
}

/// The pid field of a capget/capset header.
fn cap_header_pid(t: &Task, header: u64) -> SysResult<i32> {
    Ok(t.mm().read_val::<CapUserHeader>(header)?.pid)
}

pub fn capget(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (header, data) = (a.addr(0), a.addr(1));
    let words = cap_data_words(t, header);
    // A NULL data pointer asks only for the version: success, whether or
    // not the header's was right.
    if data == 0 {
        return match words {
            Ok(_) | Err(Errno::EINVAL) => Ok(0),
            Err(e) => Err(e),
        };
    }
    let words = words?;
    let pid = cap_header_pid(t, header)?;
    if pid < 0 {
        return Err(Errno::EINVAL);
    }
    let sets = if pid == 0 || pid == t.tid {
        t.creds().caps
    } else {
        let target = t.kernel.procs().threads.get(&pid).cloned().ok_or(Errno::ESRCH)?;
        let caps = target.tg.creds.lock().unwrap_or_else(|e| e.into_inner()).caps;
        caps
    };
    let word = |set: u64, i: usize| (set >> (32 * i)) as u32;
    let out: Vec<CapUserData> = (0..words)
        .map(|i| CapUserData {
            effective: word(sets.effective, i),
            permitted: word(sets.permitted, i),
            inheritable: word(sets.inheritable, i),
        })
        .collect();
    t.mm().copy_out(data, out.as_bytes())?;
    Ok(0)
}

pub fn capset(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (header, data) = (a.addr(0), a.addr(1));
    let words = cap_data_words(t, header)?;
    let pid = cap_header_pid(t, header)?;
    // Only the caller's own sets may change.
    if pid != 0 && pid != t.tid {
        return Err(Errno::EPERM);
    }
    let mut given = [CapUserData::default(); 2];
    t.mm().copy_in(data, given[..words].as_mut_bytes())?;
    // A v1 header leaves the capabilities past 31 out: they become 0.
    let set = |f: fn(&CapUserData) -> u32| (u64::from(f(&given[0])) | u64::from(f(&given[1])) << 32) & CAP_VALID_MASK;
    let (effective, permitted, inheritable) = (set(|d| d.effective), set(|d| d.permitted), set(|d| d.inheritable));
    update(t, |c| {
        c.caps = caps::capset(c, effective, permitted, inheritable)?;
        Ok(())
    })
}

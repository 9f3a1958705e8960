//! System information and limits: uname, rlimits, getrandom, sysinfo.

use abi::flags::random::{GRND_INSECURE, GRND_NONBLOCK, GRND_RANDOM};
use abi::flags::rlimit::RLIM_NLIMITS;
use abi::types::{Rlimit, Sysinfo, Utsname};
use abi::Errno;

use super::Args;
use crate::kernel::task::Task;
use crate::kernel::{UTS_RELEASE, UTS_VERSION};
use crate::mm::SysResult;
use crate::sys;

fn uts_field(s: &[u8]) -> [u8; 65] {
    let mut f = [0u8; 65];
    let n = s.len().min(NEW_UTS_LEN);
    f[..n].copy_from_slice(&s[..n]);
    f
}

pub fn uname(t: &mut Task, a: &Args) -> SysResult<u64> {
    let names = t.kernel.uts_names_in(&t.handle.tg.ns());
    let u = Utsname {
        fields: [
            uts_field(b"Linux"),
            uts_field(&names.hostname),
            uts_field(UTS_RELEASE.as_bytes()),
            uts_field(UTS_VERSION.as_bytes()),
            uts_field(abi::MACHINE.as_bytes()),
            uts_field(&names.domainname),
        ],
    };
    t.mm().write_val(a.addr(0), &u)?;
    Ok(0)
}

fn resource(r: u32) -> SysResult<usize> {
    let r = r as usize;
    if r >= RLIM_NLIMITS {
        return Err(Errno::EINVAL);
    }
    Ok(r)
}

pub fn getrlimit(t: &mut Task, a: &Args) -> SysResult<u64> {
    let r = resource(a.u32(0))?;
    t.mm().write_val(a.addr(1), &t.rlimits()[r])?;
    Ok(0)
}

/// fs.nr_open, as /proc/sys shows it: the highest RLIMIT_NOFILE.
const NR_OPEN: u64 = 1 << 20;

fn set_limit(t: &mut Task, r: usize, new: Rlimit) -> SysResult<()> {
    if new.cur > new.max {
        return Err(Errno::EINVAL);
    }
    // No fd table grows past fs.nr_open, whatever the privilege.
    if r == abi::flags::rlimit::RLIMIT_NOFILE as usize && new.max > NR_OPEN {
        return Err(Errno::EPERM);
    }
    // Raising the hard limit needs CAP_SYS_RESOURCE.
    if new.max > t.rlimits()[r].max && !t.creds().has_cap(abi::flags::capability::CAP_SYS_RESOURCE) {
        return Err(Errno::EPERM);
    }
    t.rlimits()[r] = new;
    if r == abi::flags::rlimit::RLIMIT_CPU as usize {
        crate::kernel::timer::watch_cpu_limit(&t.kernel, &t.handle.tg, t.pid);
    }
    Ok(())
}

pub fn setrlimit(t: &mut Task, a: &Args) -> SysResult<u64> {
    let r = resource(a.u32(0))?;
    let new: Rlimit = t.mm().read_val(a.addr(1))?;
    set_limit(t, r, new)?;
    Ok(0)
}

pub fn prlimit64(t: &mut Task, a: &Args) -> SysResult<u64> {
    let pid = a.i32(0);
    if pid != 0 && pid != t.pid {
        return Err(Errno::ESRCH);
    }
    let r = resource(a.u32(1))?;
    let new = if a.addr(2) != 0 { Some(t.mm().read_val::<Rlimit>(a.addr(2))?) } else { None };
    if a.addr(3) != 0 {
        t.mm().write_val(a.addr(3), &t.rlimits()[r])?;
    }
    if let Some(n) = new {
        set_limit(t, r, n)?;
    }
    Ok(0)
}

/// Most bytes one getrandom call returns, as on Linux.
const GETRANDOM_MAX: u64 = (1 << 25) - 1;

pub fn getrandom(t: &mut Task, a: &Args) -> SysResult<u64> {
    let flags = a.u32(2);
    if flags & !(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) != 0
        || flags & (GRND_RANDOM | GRND_INSECURE) == (GRND_RANDOM | GRND_INSECURE)
    {
        return Err(Errno::EINVAL);
    }
    let len = a.u64(1).min(GETRANDOM_MAX);
    let mut buf = [0u8; 4096];
    let mut done = 0u64;
    while done < len {
        let n = (len - done).min(buf.len() as u64) as usize;
        sys::getrandom(&mut buf[..n])?;
        if let Err(e) = t.mm().copy_out(a.addr(0) + done, &buf[..n]) {
            return if done > 0 { Ok(done) } else { Err(e) };
        }
        done += n as u64;
    }
    Ok(done)
}

pub fn sysinfo(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (total, free) = sys::host_memory();
    let info =
        Sysinfo { uptime: uptime_secs(t), totalram: total, freeram: free, procs: 1, mem_unit: 1, ..Sysinfo::default() };
    t.mm().write_val(a.addr(0), &info)?;
    Ok(0)
}

/// sysinfo's uptime: the sandbox's, shifted by the caller's time
/// namespace's boottime offset, in seconds rounded up (as Linux's
/// do_sysinfo; negative only where a negative offset exceeds it).
fn uptime_secs(t: &Task) -> i64 {
    let offset = crate::kernel::ns::clock_offset(t.handle.tg.ns().time_offsets(), abi::flags::clock::CLOCK_BOOTTIME);
    let (secs, ns) = crate::kernel::ns::shifted(t.kernel.boot.elapsed(), offset);
    secs.saturating_add(i64::from(ns != 0))
}

/// The longest host or domain name (`__NEW_UTS_LEN`).
const NEW_UTS_LEN: usize = 64;

/// sethostname and setdomainname: CAP_SYS_ADMIN (in the sandbox's UTS
/// namespace); EINVAL past 64 bytes.
fn set_uts_name(
    t: &Task,
    addr: u64,
    len: u64,
    set: impl FnOnce(&mut crate::kernel::UtsNames, Vec<u8>),
) -> SysResult<u64> {
    if !t.creds().has_cap(abi::flags::capability::CAP_SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    let len = usize::try_from(len).ok().filter(|&l| l <= NEW_UTS_LEN).ok_or(Errno::EINVAL)?;
    let mut name = vec![0u8; len];
    t.mm().copy_in(addr, &mut name)?;
    match t.handle.tg.ns().uts {
        Some(u) => set(&mut u.names.lock().unwrap_or_else(|e| e.into_inner()), name),
        None => set(&mut t.kernel.uts.lock().unwrap_or_else(|e| e.into_inner()), name),
    }
    Ok(0)
}

pub fn sethostname(t: &mut Task, a: &Args) -> SysResult<u64> {
    set_uts_name(t, a.addr(0), a.u64(1), |u, n| u.hostname = n)
}

pub fn setdomainname(t: &mut Task, a: &Args) -> SysResult<u64> {
    set_uts_name(t, a.addr(0), a.u64(1), |u, n| u.domainname = n)
}

//! pidfds: pidfd_open, pidfd_send_signal and pidfd_getfd (waitid's
//! P_PIDFD and clone's CLONE_PIDFD are with the process calls).

use std::sync::Arc;

use abi::flags::open::O_NONBLOCK;
use abi::Errno;

use super::Args;
use crate::kernel::signal::{code, SigInfo, NSIG};
use crate::kernel::task::exit::{send_to_group, send_to_process, send_to_thread};
use crate::kernel::task::Task;
use crate::mm::SysResult;
use crate::vfs::file::File;
use crate::vfs::pidfd::PidFd;

/// A new pidfd for process `pid` in `t`'s fd table (always close-on-exec,
/// as Linux makes them).
pub(super) fn install_pidfd(t: &mut Task, pid: i32, nonblock: bool) -> SysResult<i32> {
    let group = {
        let procs = t.kernel.procs();
        match procs.procs.get(&pid) {
            Some(p) => p.tg.clone(),
            // A thread that is not its group's leader.
            None if procs.threads.contains_key(&pid) => return Err(Errno::EINVAL),
            None => return Err(Errno::ESRCH),
        }
    };
    let file = PidFd::open_file(pid, group, Arc::downgrade(&t.kernel), nonblock);
    let limit = t.nofile_limit();
    t.fds().insert(file, true, 0, limit)
}

pub fn pidfd_open(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (pid, flags) = (a.i32(0), a.u32(1));
    if flags & !O_NONBLOCK != 0 || pid <= 0 {
        return Err(Errno::EINVAL);
    }
    Ok(install_pidfd(t, pid, flags & O_NONBLOCK != 0)? as u64)
}

/// The process a pidfd names: EBADF for another kind of file, ESRCH once
/// it has been reaped.
fn process_of(t: &Task, fd: i32) -> SysResult<(i32, Arc<File>)> {
    let file = t.fds().get(fd)?.clone();
    let p = file.ops.pidfd().ok_or(Errno::EBADF)?;
    if !p.alive_in_table() {
        return Err(Errno::ESRCH);
    }
    Ok((p.pid, file))
}

/// The process whose /proc/PID directory is open at `fd` (EBADF for any
/// other file; ESRCH once it has exited).
fn proc_dir_process(t: &Task, fd: i32) -> SysResult<i32> {
    use crate::vfs::synth::SynthKind;
    let file = t.fds().get(fd)?.clone();
    let node = file.dentry.as_ref().and_then(|d| d.synth().cloned()).ok_or(Errno::EBADF)?;
    let SynthKind::Dir(dir) = &node.kind else { return Err(Errno::EBADF) };
    let pid = dir.process().ok_or(Errno::EBADF)?;
    match t.kernel.procs().procs.get(&pid) {
        Some(p) if !matches!(p.state, crate::kernel::process::ProcState::Zombie(_)) => Ok(pid),
        _ => Err(Errno::ESRCH),
    }
}

/// pidfd_send_signal's scopes (Linux 6.9): the thread the pid is, its
/// thread group (the default), or its process group; at most one.
const PIDFD_SIGNAL_THREAD: u32 = 1;
const PIDFD_SIGNAL_THREAD_GROUP: u32 = 2;
const PIDFD_SIGNAL_PROCESS_GROUP: u32 = 4;

pub fn pidfd_send_signal(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (fd, sig, info_addr, flags) = (a.fd(0), a.u32(1), a.addr(2), a.u32(3));
    let scopes = PIDFD_SIGNAL_THREAD | PIDFD_SIGNAL_THREAD_GROUP | PIDFD_SIGNAL_PROCESS_GROUP;
    if flags & !scopes != 0 || flags.count_ones() > 1 || sig > NSIG {
        return Err(Errno::EINVAL);
    }
    let pid = match process_of(t, fd) {
        Ok((pid, _)) => pid,
        // An fd of a /proc/PID directory stands for that process here.
        Err(Errno::EBADF) => proc_dir_process(t, fd)?,
        Err(e) => return Err(e),
    };
    let info = if info_addr == 0 {
        SigInfo::from_sender(sig, code::SI_USER, t.pid, t.creds().uid)
    } else {
        let mut raw = [0u8; 128];
        t.mm().copy_in(info_addr, &mut raw)?;
        let info = SigInfo(raw);
        if info.signo() != sig {
            return Err(Errno::EINVAL);
        }
        // Only the kernel may claim kernel codes, except to oneself.
        if pid != t.pid && (info.code() >= 0 || info.code() == code::SI_TKILL) {
            return Err(Errno::EPERM);
        }
        info
    };
    let (kernel, me) = (t.kernel.clone(), t.creds());
    match flags {
        PIDFD_SIGNAL_THREAD => send_to_thread(&kernel, None, pid, info, &me).map(|_| ())?,
        PIDFD_SIGNAL_PROCESS_GROUP => {
            let pgid = kernel.procs().procs.get(&pid).map(|p| p.pgid).ok_or(Errno::ESRCH)?;
            send_to_group(&kernel, pgid, info, &me)?
        }
        _ => send_to_process(&kernel, pid, info, Some(&me))?,
    }
    Ok(0)
}

pub fn pidfd_getfd(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (fd, target_fd, flags) = (a.fd(0), a.i32(1), a.u32(2));
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    let (pid, _) = process_of(t, fd)?;
    let (group, view) = {
        let procs = t.kernel.procs();
        let p = procs.procs.get(&pid).ok_or(Errno::ESRCH)?;
        (p.tg.clone(), p.threads.first().and_then(|h| h.view()))
    };
    // As ptrace's PTRACE_MODE_ATTACH_REALCREDS.
    let them = group.creds.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if group.tgid != t.pid && !crate::kernel::caps::ptrace_may_access(&t.creds(), &them) {
        return Err(Errno::EPERM);
    }
    let view = view.ok_or(Errno::ESRCH)?;
    let file = view.fds.lock().unwrap_or_else(|e| e.into_inner()).get(target_fd)?.clone();
    let limit = t.nofile_limit();
    Ok(t.fds().insert(file, true, 0, limit)? as u64)
}

/// The pidfd ioctl PIDFD_GET_INFO (Linux 6.13; its exit information
/// 6.15), if `cmd` is it (its number and type; a struct smaller than the
/// first version's is ENOTTY, as on Linux 6.18): the process's ids and
/// credentials while it is in the process table, zombie or not; once it
/// was reaped, only its exit status (PIDFD_INFO_EXIT, and ESRCH when that
/// is not asked for). The sandbox's processes are all in its root
/// cgroup, whose id is 1.
pub(super) fn info_ioctl(t: &mut Task, p: &PidFd, cmd: u32, addr: u64) -> Option<SysResult<u64>> {
    const PIDFS_IOCTL_MAGIC: u32 = 0xff;
    const NR_GET_INFO: u32 = 11;
    const SIZE_VER0: usize = 64;
    if (cmd >> 8) & 0xff != PIDFS_IOCTL_MAGIC || cmd & 0xff != NR_GET_INFO {
        return None;
    }
    let size = ((cmd >> 16) & 0x3fff) as usize;
    if size < SIZE_VER0 {
        return Some(Err(Errno::ENOTTY));
    }
    Some(pidfd_info(t, p, size, addr))
}

fn pidfd_info(t: &mut Task, p: &PidFd, size: usize, addr: u64) -> SysResult<u64> {
    const PIDFD_INFO_PID: u64 = 1 << 0;
    const PIDFD_INFO_CREDS: u64 = 1 << 1;
    const PIDFD_INFO_CGROUPID: u64 = 1 << 2;
    const PIDFD_INFO_EXIT: u64 = 1 << 3;
    /// The sandbox's cgroup (its root's id).
    const CGROUP_ID: u64 = 1;
    /// struct pidfd_info's size (its second version, with coredump_mask).
    const SIZE: usize = 72;
    if addr == 0 {
        return Err(Errno::EINVAL);
    }
    let asked: u64 = t.mm().read_val(addr)?;
    let mut info = [0u8; SIZE];
    let mut mask = 0;
    let put = |info: &mut [u8; SIZE], at: usize, v: u32| info[at..at + 4].copy_from_slice(&v.to_le_bytes());
    let live = {
        let procs = t.kernel.procs();
        procs.procs.get(&p.pid).filter(|q| Arc::ptr_eq(&q.tg, &p.group)).map(|q| q.parent)
    };
    match live {
        Some(ppid) => {
            let c = p.group.creds.lock().unwrap_or_else(|e| e.into_inner()).clone();
            for (i, v) in [c.uid, c.gid, c.euid, c.egid, c.suid, c.sgid, c.fsuid, c.fsgid].into_iter().enumerate() {
                put(&mut info, 28 + 4 * i, v);
            }
            put(&mut info, 16, p.pid as u32);
            put(&mut info, 20, p.pid as u32);
            put(&mut info, 24, ppid as u32);
            mask |= PIDFD_INFO_PID | PIDFD_INFO_CREDS | PIDFD_INFO_CGROUPID;
        }
        None if asked & PIDFD_INFO_EXIT == 0 => return Err(Errno::ESRCH),
        None => {
            if let Some(status) = p.group.exit_status() {
                put(&mut info, 60, status.wait_status() as u32);
                mask |= PIDFD_INFO_EXIT | PIDFD_INFO_CGROUPID;
            }
        }
    }
    info[0..8].copy_from_slice(&mask.to_le_bytes());
    if mask & PIDFD_INFO_CGROUPID != 0 {
        info[8..16].copy_from_slice(&CGROUP_ID.to_le_bytes());
    }
    // As copy_struct_to_user: what the caller's struct has room for, and
    // zeros past what this one knows.
    let mut out = vec![0u8; size];
    let n = size.min(SIZE);
    out[..n].copy_from_slice(&info[..n]);
    t.mm().copy_out(addr, &out)?;
    Ok(0)
}

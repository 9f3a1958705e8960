//! Process life: clone and fork, execve, wait, exit, process groups and
//! sessions (and vhangup of their terminal), prctl, personality, and
//! resource usage.

use std::sync::{Arc, Mutex};

#[cfg(target_arch = "x86_64")]
use abi::flags::signal::SIGCHLD;
use abi::Errno;

use super::fs::read_path;
use super::Args;
use crate::kernel::task::clone::{flags::*, CloneArgs};
use crate::kernel::task::exit::{WaitResult, WaitTarget, WCONTINUED, WEXITED, WNOHANG, WNOWAIT, WUNTRACED};
use crate::kernel::task::Task;
use crate::kernel::usage::Usage;
use crate::kernel::ExitStatus;
use crate::mm::SysResult;

pub fn clone(t: &mut Task, a: &Args) -> SysResult<u64> {
    // x86_64: clone(flags, stack, parent_tid, child_tid, tls); arm64 swaps
    // the last two.
    let (parent_tid, child_tid, tls) = crate::arch::CLONE_TID_TLS_ARGS;
    let flags = a.u64(0);
    // Legacy clone puts CLONE_PIDFD's fd where the parent's tid would go.
    if flags & CLONE_PIDFD != 0 && flags & (CLONE_PARENT_SETTID | CLONE_DETACHED) != 0 {
        return Err(Errno::EINVAL);
    }
    t.clone_task(CloneArgs {
        flags: flags & !CSIGNAL,
        exit_signal: (flags & CSIGNAL) as u32,
        stack: a.addr(1),
        parent_tid: a.addr(parent_tid),
        child_tid: a.addr(child_tid),
        tls: a.u64(tls),
        pidfd: if flags & CLONE_PIDFD != 0 { a.addr(parent_tid) } else { 0 },
    })
}

pub fn clone3(t: &mut Task, a: &Args) -> SysResult<u64> {
    const CLONE_ARGS_SIZE_VER0: u64 = 64;
    /// The `struct clone_args` this kernel knows (up to `cgroup`).
    const KNOWN: u64 = 88;
    let size = a.u64(1);
    // Linux's copy_struct_from_user: past a page is E2BIG, under the first
    // version EINVAL, and a newer caller's fields past the ones known here
    // must be zero (E2BIG otherwise).
    if size > 4096 {
        return Err(Errno::E2BIG);
    }
    if size < CLONE_ARGS_SIZE_VER0 {
        return Err(Errno::EINVAL);
    }
    let mut raw = [0u64; 11];
    let n = (size.min(KNOWN) / 8) as usize;
    for (i, w) in raw.iter_mut().enumerate().take(n) {
        *w = t.mm().read_val(a.addr(0) + i as u64 * 8)?;
    }
    if size > KNOWN {
        let mut rest = vec![0u8; (size - KNOWN) as usize];
        t.mm().copy_in(a.addr(0) + KNOWN, &mut rest)?;
        if rest.iter().any(|&b| b != 0) {
            return Err(Errno::E2BIG);
        }
    }
    let [flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, _cgroup] =
        raw;
    // (CLONE_NEWTIME shares its bit with CSIGNAL, which clone3 takes as
    // the flag.)
    if flags & ((CSIGNAL & !CLONE_NEWTIME) | CLONE_DETACHED) != 0 || set_tid != 0 || set_tid_size != 0 {
        // Chosen tids are not offered.
        return Err(Errno::EINVAL);
    }
    if exit_signal > 64 {
        return Err(Errno::EINVAL);
    }
    t.clone_task(CloneArgs {
        flags,
        exit_signal: exit_signal as u32,
        stack: clone3_stack_top(stack, stack_size)?,
        parent_tid,
        child_tid,
        tls,
        pidfd: if flags & CLONE_PIDFD != 0 { pidfd } else { 0 },
    })
}

/// The child's stack pointer from clone3's `stack` and `stack_size`: both
/// or neither, and a stack within user space (Linux's clone3_stack_valid,
/// whose access_ok also refuses a sum that wraps).
fn clone3_stack_top(stack: u64, stack_size: u64) -> SysResult<u64> {
    const TASK_SIZE: u64 = (1 << 47) - 4096;
    match (stack, stack_size) {
        (0, 0) => Ok(0),
        (0, _) | (_, 0) => Err(Errno::EINVAL),
        _ => stack.checked_add(stack_size).filter(|&top| top <= TASK_SIZE).ok_or(Errno::EINVAL),
    }
}

/// unshare(2), as Linux's ksys_unshare: unknown flags are EINVAL; the flags
/// each implies are added (a new user namespace a private fs context and
/// thread, CLONE_VM CLONE_SIGHAND, CLONE_SIGHAND CLONE_THREAD, a new mount
/// namespace CLONE_FS); the thread, handler and memory flags are EINVAL in
/// a process with other threads; new UTS, IPC and time namespaces are the
/// Sentry's own (the caller enters the UTS and IPC ones; its children
/// will enter the time one), with CAP_SYS_ADMIN; other namespaces are
/// EPERM; then
/// the fd table and the fs context become the caller's own copies.
pub fn unshare(t: &mut Task, a: &Args) -> SysResult<u64> {
    const CLONE_SYSVSEM: u64 = 0x0004_0000;
    let allowed = CLONE_THREAD
        | CLONE_FS
        | CLONE_SIGHAND
        | CLONE_VM
        | CLONE_FILES
        | CLONE_SYSVSEM
        | CLONE_NAMESPACES
        | CLONE_NEWTIME;
    let mut flags = a.u64(0);
    if flags & !allowed != 0 {
        return Err(Errno::EINVAL);
    }
    if flags & CLONE_NEWUSER != 0 {
        flags |= CLONE_THREAD | CLONE_FS;
    }
    if flags & CLONE_VM != 0 {
        flags |= CLONE_SIGHAND;
    }
    if flags & CLONE_SIGHAND != 0 {
        flags |= CLONE_THREAD;
    }
    if flags & CLONE_NEWNS != 0 {
        flags |= CLONE_FS;
    }
    if flags & (CLONE_THREAD | CLONE_SIGHAND | CLONE_VM) != 0 {
        let others = t.kernel.procs().procs.get(&t.pid).is_some_and(|p| p.threads.len() > 1);
        if others {
            return Err(Errno::EINVAL);
        }
    }
    if flags & (CLONE_NAMESPACES | CLONE_NEWTIME) != 0 {
        // The new namespaces, made before anything changes; a process's
        // namespaces are its threads' (see kernel::ns).
        // (unshare(CLONE_NEWIPC) gives up the undo list, as Linux's
        // implied CLONE_SYSVSEM does: not a clone's refusal.)
        let mut ns = t.child_namespaces((flags | CLONE_VM) & !CLONE_SYSVSEM)?;
        if flags & CLONE_NEWIPC != 0 {
            // The semaphore adjustments made in the old namespace are
            // undone (Linux's exit_sem).
            t.ipc().sem.exit(t.pid);
        }
        let tg = &t.handle.tg;
        let mut held = tg.ns.lock().unwrap_or_else(|e| e.into_inner());
        // The caller stays in its own time namespace.
        ns.time = held.time.clone();
        *held = ns;
    }
    if flags & CLONE_FILES != 0 {
        let own = t.fds().clone();
        t.fds = Arc::new(Mutex::new(own));
    }
    if flags & CLONE_FS != 0 {
        let own = t.fs().clone();
        t.fs = Arc::new(Mutex::new(own));
    }
    t.publish_view();
    Ok(0)
}

/// setns(2) on a namespace file (an open /proc/PID/ns link): the caller
/// enters that namespace, if `nstype` is 0 or its CLONE_NEW* flag
/// (EINVAL otherwise, and for any other file), with CAP_SYS_ADMIN
/// (EPERM). The sandbox's first namespaces of the kinds Husk does not
/// make are the only ones of their kinds, so entering one changes
/// nothing. A time namespace is entered by a single-threaded process
/// only (EUSERS), and becomes its `time_for_children` too; its offsets
/// are fixed from then on. Pidfds are not taken (EINVAL).
pub fn setns(t: &mut Task, a: &Args) -> SysResult<u64> {
    use crate::kernel::ns::NsRef;
    let file = t.fds().get(a.i32(0))?.clone();
    let target = file.ops.namespace().ok_or(Errno::EINVAL)?.clone();
    let nstype = a.u64(1);
    if nstype != 0 && nstype != target.kind().clone_flag() {
        return Err(Errno::EINVAL);
    }
    if !t.creds().has_cap(abi::flags::capability::CAP_SYS_ADMIN) {
        return Err(Errno::EPERM);
    }
    match target {
        NsRef::Init(crate::kernel::ns::NsKind::Uts) => {
            t.handle.tg.ns.lock().unwrap_or_else(|e| e.into_inner()).uts = None
        }
        NsRef::Uts(u) => t.handle.tg.ns.lock().unwrap_or_else(|e| e.into_inner()).uts = Some(u),
        NsRef::Init(crate::kernel::ns::NsKind::Ipc) => enter_ipc_ns(t, None),
        NsRef::Ipc(n) => enter_ipc_ns(t, Some(n)),
        NsRef::Init(crate::kernel::ns::NsKind::Time) => enter_time_ns(t, None)?,
        NsRef::Time(ns) => enter_time_ns(t, Some(ns))?,
        NsRef::Init(_) => {}
    }
    Ok(0)
}

/// The caller enters the IPC namespace `ns` (None: the sandbox's first),
/// its semaphore adjustments in the old one undone (Linux's exit_sem).
fn enter_ipc_ns(t: &mut Task, ns: Option<Arc<crate::kernel::ns::IpcNs>>) {
    t.ipc().sem.exit(t.pid);
    t.handle.tg.ns.lock().unwrap_or_else(|e| e.into_inner()).ipc = ns;
}

/// The caller (single-threaded: EUSERS otherwise) enters the time
/// namespace `ns` (None: the sandbox's first), for itself and its
/// children; its vDSO reads clocks as the namespace needs.
fn enter_time_ns(t: &mut Task, ns: Option<Arc<crate::kernel::ns::TimeNs>>) -> SysResult<()> {
    let single = t.kernel.procs().procs.get(&t.pid).is_some_and(|p| p.threads.len() == 1);
    if !single {
        return Err(Errno::EUSERS);
    }
    if let Some(n) = &ns {
        n.freeze();
    }
    let was_apart = {
        let mut held = t.handle.tg.ns.lock().unwrap_or_else(|e| e.into_inner());
        let was = held.time.is_some();
        held.time = ns.clone();
        held.time_for_children = ns.clone();
        was
    };
    if was_apart != ns.is_some() {
        if let Some(vdso) = t.kernel.vdso.clone() {
            vdso.set_timens(&mut t.mm(), ns.is_some());
        }
    }
    Ok(())
}

#[cfg(target_arch = "x86_64")]
pub fn fork(t: &mut Task, _a: &Args) -> SysResult<u64> {
    t.clone_task(CloneArgs { exit_signal: SIGCHLD, ..CloneArgs::default() })
}

#[cfg(target_arch = "x86_64")]
pub fn vfork(t: &mut Task, _a: &Args) -> SysResult<u64> {
    t.clone_task(CloneArgs { flags: CLONE_VM | CLONE_VFORK, exit_signal: SIGCHLD, ..CloneArgs::default() })
}

/// Most argv or envp entries execve takes.
const MAX_ARG_STRINGS: usize = 0x7fff_ffff;
/// Most bytes of one argument or environment string.
const MAX_ARG_STRLEN: usize = 32 * 4096;

fn read_strings(t: &Task, mut addr: u64) -> SysResult<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    if addr == 0 {
        return Ok(out);
    }
    let mut total = 0usize;
    loop {
        let p: u64 = t.mm().read_val(addr)?;
        if p == 0 {
            return Ok(out);
        }
        let s =
            t.mm().read_cstr(p, MAX_ARG_STRLEN).map_err(|e| if e == Errno::ENAMETOOLONG { Errno::E2BIG } else { e })?;
        total += s.len() + 1;
        if out.len() >= MAX_ARG_STRINGS || total > 2 << 20 {
            return Err(Errno::E2BIG);
        }
        out.push(s);
        addr += 8;
    }
}

pub fn execve(t: &mut Task, a: &Args) -> SysResult<u64> {
    let path = read_path(t, a.addr(0))?;
    let argv = read_strings(t, a.addr(1))?;
    let envp = read_strings(t, a.addr(2))?;
    t.execve(path, argv, envp)?;
    Ok(0)
}

pub fn execveat(t: &mut Task, a: &Args) -> SysResult<u64> {
    const AT_EMPTY_PATH: u32 = 0x1000;
    const AT_SYMLINK_NOFOLLOW: u32 = 0x100;
    let (dirfd, flags) = (a.fd(0), a.u32(4));
    if flags & !(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0 {
        return Err(Errno::EINVAL);
    }
    let mut path = read_path(t, a.addr(1))?;
    // AT_SYMLINK_NOFOLLOW: a symlink as the last component is ELOOP.
    if flags & AT_SYMLINK_NOFOLLOW != 0 && !path.is_empty() {
        let d = super::fs::resolve_at(t, dirfd, &path, crate::vfs::Follow::No)?;
        if d.is_symlink() {
            return Err(Errno::ELOOP);
        }
    }
    // Paths from the task's own root (after a chroot, not the sandbox's).
    let root = t.fs().root.clone();
    if path.is_empty() && flags & AT_EMPTY_PATH != 0 {
        let f = t.fds().get(dirfd)?.clone();
        let d = f.dentry.clone().ok_or(Errno::ENOENT)?;
        path = t.kernel.vfs.path_from(&root, &d).0;
    } else if path.first() != Some(&b'/') && dirfd != abi::flags::at::AT_FDCWD {
        let f = t.fds().get(dirfd)?.clone();
        let d = f.dentry.clone().ok_or(Errno::ENOTDIR)?;
        let mut full = t.kernel.vfs.path_from(&root, &d).0;
        full.push(b'/');
        full.extend_from_slice(&path);
        path = full;
    }
    let argv = read_strings(t, a.addr(2))?;
    let envp = read_strings(t, a.addr(3))?;
    t.execve(path, argv, envp)?;
    Ok(0)
}

pub fn exit(t: &mut Task, a: &Args) -> SysResult<u64> {
    t.exit = Some(ExitStatus::Exited(a.u32(0) as u8));
    Ok(0)
}

pub fn exit_group(t: &mut Task, a: &Args) -> SysResult<u64> {
    t.exit_group(ExitStatus::Exited(a.u32(0) as u8));
    Ok(0)
}

fn restart_wait(e: Errno) -> Errno {
    if e == Errno::ERESTARTSYS {
        Errno::ERESTARTSYS
    } else {
        e
    }
}

pub fn wait4(t: &mut Task, a: &Args) -> SysResult<u64> {
    const WALL: u32 = 0x4000_0000;
    const WCLONE: u32 = 0x8000_0000;
    const WNOTHREAD: u32 = 0x2000_0000;
    let (pid, status_addr, options, rusage) = (a.i32(0), a.addr(1), a.u32(2), a.addr(3));
    if options & !(WNOHANG | WUNTRACED | WCONTINUED | WALL | WCLONE | WNOTHREAD) != 0 {
        return Err(Errno::EINVAL);
    }
    let target = match pid {
        -1 => WaitTarget::Any,
        0 => WaitTarget::Pgid(0),
        p if p > 0 => WaitTarget::Pid(p),
        // -INT_MIN is no group: ESRCH, as Linux says.
        p => WaitTarget::Pgid(p.checked_neg().ok_or(Errno::ESRCH)?),
    };
    let r = t.wait_child(target, options | WEXITED).map_err(restart_wait)?;
    let Some(WaitResult { pid, wstatus, usage, .. }) = r else { return Ok(0) };
    if status_addr != 0 {
        t.mm().write_val(status_addr, &wstatus)?;
    }
    if rusage != 0 {
        t.mm().write_val(rusage, &usage.to_rusage())?;
    }
    Ok(pid as u64)
}

pub fn waitid(t: &mut Task, a: &Args) -> SysResult<u64> {
    const P_ALL: u32 = 0;
    const P_PID: u32 = 1;
    const P_PGID: u32 = 2;
    const P_PIDFD: u32 = 3;
    let (idtype, id, infop, options) = (a.u32(0), a.i32(1), a.addr(2), a.u32(3));
    if options & !(WNOHANG | WUNTRACED | WEXITED | WCONTINUED | WNOWAIT | 0xe000_0000) != 0
        || options & (WUNTRACED | WEXITED | WCONTINUED) == 0
    {
        return Err(Errno::EINVAL);
    }
    // A pidfd opened with PIDFD_NONBLOCK waits as with WNOHANG, and says
    // EAGAIN where a wait would block (Linux 5.10's kernel_waitid).
    let mut nonblocking = false;
    let target = match idtype {
        P_ALL => WaitTarget::Any,
        P_PID if id > 0 => WaitTarget::Pid(id),
        P_PGID if id >= 0 => WaitTarget::Pgid(id),
        // The pidfd's process, if it is still ours to wait for.
        P_PIDFD => {
            let file = t.fds().get(id)?.clone();
            let p = file.ops.pidfd().ok_or(Errno::EBADF)?;
            if !p.alive_in_table() {
                return Err(Errno::ECHILD);
            }
            nonblocking = file.flags() & abi::flags::open::O_NONBLOCK != 0;
            WaitTarget::Pid(p.pid)
        }
        _ => return Err(Errno::EINVAL),
    };
    let effective = if nonblocking { options | WNOHANG } else { options };
    let r = t.wait_child(target, effective).map_err(restart_wait)?;
    if r.is_none() && nonblocking && options & WNOHANG == 0 {
        return Err(Errno::EAGAIN);
    }
    if infop != 0 {
        let info = match r {
            Some(w) => crate::kernel::signal::SigInfo::child(w.code, w.pid, w.uid, w.status).0,
            None => [0u8; 128],
        };
        t.mm().copy_out(infop, &info)?;
    }
    if a.addr(4) != 0 {
        let ru = r.map(|w| w.usage).unwrap_or_default().to_rusage();
        t.mm().write_val(a.addr(4), &ru)?;
    }
    Ok(0)
}

pub fn getpgid(t: &mut Task, a: &Args) -> SysResult<u64> {
    let pid = if a.i32(0) == 0 { t.pid } else { a.i32(0) };
    t.kernel.procs().procs.get(&pid).map(|p| p.pgid as u64).ok_or(Errno::ESRCH)
}

#[cfg(target_arch = "x86_64")]
pub fn getpgrp(t: &mut Task, _a: &Args) -> SysResult<u64> {
    t.kernel.procs().procs.get(&t.pid).map(|p| p.pgid as u64).ok_or(Errno::ESRCH)
}

pub fn getsid(t: &mut Task, a: &Args) -> SysResult<u64> {
    let pid = if a.i32(0) == 0 { t.pid } else { a.i32(0) };
    t.kernel.procs().procs.get(&pid).map(|p| p.sid as u64).ok_or(Errno::ESRCH)
}

pub fn setpgid(t: &mut Task, a: &Args) -> SysResult<u64> {
    let pid = if a.i32(0) == 0 { t.pid } else { a.i32(0) };
    let pgid = if a.i32(1) == 0 { pid } else { a.i32(1) };
    if pgid < 0 {
        return Err(Errno::EINVAL);
    }
    let mut procs = t.kernel.procs();
    let my_sid = procs.procs.get(&t.pid).map(|p| p.sid).ok_or(Errno::ESRCH)?;
    let target = procs.procs.get(&pid).ok_or(Errno::ESRCH)?;
    if pid != t.pid && target.parent != t.pid {
        return Err(Errno::ESRCH);
    }
    if pid != t.pid && target.did_exec {
        return Err(Errno::EACCES);
    }
    if target.sid != my_sid || target.sid == pid {
        // Other session, or a session leader.
        return Err(Errno::EPERM);
    }
    if pgid != pid && !procs.procs.values().any(|p| p.pgid == pgid && p.sid == my_sid) {
        return Err(Errno::EPERM);
    }
    if let Some(p) = procs.procs.get_mut(&pid) {
        p.pgid = pgid;
    }
    Ok(0)
}

pub fn setsid(t: &mut Task, _a: &Args) -> SysResult<u64> {
    let mut procs = t.kernel.procs();
    if procs.procs.values().any(|p| p.pgid == t.pid) {
        return Err(Errno::EPERM);
    }
    let p = procs.procs.get_mut(&t.pid).ok_or(Errno::ESRCH)?;
    p.pgid = t.pid;
    p.sid = t.pid;
    // A new session starts without a controlling terminal.
    p.ctty = None;
    Ok(t.pid as u64)
}

/// personality(2): sets the thread's execution domain and flags (any
/// value: Linux checks none; 0xffffffff only asks) and returns the old.
pub fn personality(t: &mut Task, a: &Args) -> SysResult<u64> {
    let old = t.personality;
    if a.u32(0) != u32::MAX {
        t.personality = a.u32(0);
    }
    Ok(u64::from(old))
}

/// vhangup(2): CAP_SYS_TTY_CONFIG hangs up the caller's controlling
/// terminal, if it has one.
pub fn vhangup(t: &mut Task, _a: &Args) -> SysResult<u64> {
    if !t.creds().has_cap(abi::flags::capability::CAP_SYS_TTY_CONFIG) {
        return Err(Errno::EPERM);
    }
    if let Some(tty) = crate::kernel::tty::ctty_of(t) {
        crate::kernel::tty::vhangup(&t.kernel, &tty);
    }
    Ok(0)
}

pub fn prctl(t: &mut Task, a: &Args) -> SysResult<u64> {
    use abi::flags::prctl::*;
    // The capability options (keepcaps, the bounding and ambient sets,
    // securebits) come first, as Linux's security hook does.
    {
        let mut creds = t.handle.tg.creds.lock().unwrap_or_else(|e| e.into_inner());
        let args = [a.u64(1), a.u64(2), a.u64(3), a.u64(4)];
        if let Some(done) = crate::kernel::caps::prctl(&mut creds, a.u32(0), args) {
            return done;
        }
    }
    match a.u32(0) {
        PR_SET_PDEATHSIG => {
            let sig = a.u32(1);
            if sig > 64 {
                return Err(Errno::EINVAL);
            }
            t.handle.tg.pdeathsig.store(sig, std::sync::atomic::Ordering::Relaxed);
            Ok(0)
        }
        PR_GET_PDEATHSIG => {
            let sig = t.handle.tg.pdeathsig.load(std::sync::atomic::Ordering::Relaxed) as i32;
            t.mm().write_val(a.addr(1), &sig)?;
            Ok(0)
        }
        PR_GET_DUMPABLE => Ok(u64::from(t.dumpable)),
        PR_SET_DUMPABLE => match a.u64(1) {
            0 | 1 => {
                t.dumpable = a.u64(1) == 1;
                Ok(0)
            }
            _ => Err(Errno::EINVAL),
        },
        PR_SET_NAME => {
            let read = t.mm().read_cstr(a.addr(1), 16);
            let name = match read {
                Ok(n) => n,
                Err(Errno::ENAMETOOLONG) => {
                    let mut b = [0u8; 16];
                    t.mm().copy_in(a.addr(1), &mut b)?;
                    b[..15].to_vec()
                }
                Err(e) => return Err(e),
            };
            t.set_comm(&name);
            Ok(0)
        }
        PR_GET_NAME => {
            let comm = t.comm;
            t.mm().copy_out(a.addr(1), &comm)?;
            Ok(0)
        }
        super::seccomp::PR_GET_SECCOMP => Ok(u64::from(t.handle.seccomp_mode().number())),
        super::seccomp::PR_SET_SECCOMP => super::seccomp::prctl_set(t, a),
        PR_SET_NO_NEW_PRIVS => {
            if a.u64(1) != 1 || a.u64(2) != 0 || a.u64(3) != 0 || a.u64(4) != 0 {
                return Err(Errno::EINVAL);
            }
            t.handle.no_new_privs.store(true, std::sync::atomic::Ordering::Relaxed);
            Ok(0)
        }
        PR_GET_NO_NEW_PRIVS => {
            if a.u64(1) != 0 || a.u64(2) != 0 || a.u64(3) != 0 || a.u64(4) != 0 {
                return Err(Errno::EINVAL);
            }
            Ok(u64::from(t.handle.no_new_privs.load(std::sync::atomic::Ordering::Relaxed)))
        }
        PR_SET_CHILD_SUBREAPER => {
            t.handle.tg.child_subreaper.store(a.u64(1) != 0, std::sync::atomic::Ordering::Relaxed);
            Ok(0)
        }
        PR_GET_CHILD_SUBREAPER => {
            let on = i32::from(t.handle.tg.child_subreaper.load(std::sync::atomic::Ordering::Relaxed));
            t.mm().write_val(a.addr(1), &on)?;
            Ok(0)
        }
        PR_SET_TIMERSLACK => {
            use std::sync::atomic::Ordering::Relaxed;
            let h = &t.handle;
            let slack = match a.u64(1) {
                0 => h.default_timer_slack.load(Relaxed),
                n => n,
            };
            h.timer_slack.store(slack, Relaxed);
            Ok(0)
        }
        PR_GET_TIMERSLACK => Ok(t.handle.timer_slack.load(std::sync::atomic::Ordering::Relaxed)),
        PR_GET_TID_ADDRESS => {
            t.mm().write_val(a.addr(1), &t.clear_child_tid)?;
            Ok(0)
        }
        PR_SET_THP_DISABLE => {
            if a.u64(2) != 0 || a.u64(3) != 0 || a.u64(4) != 0 {
                return Err(Errno::EINVAL);
            }
            t.handle.tg.thp_disable.store(a.u64(1) != 0, std::sync::atomic::Ordering::Relaxed);
            Ok(0)
        }
        PR_GET_THP_DISABLE => {
            if a.u64(1) != 0 || a.u64(2) != 0 || a.u64(3) != 0 || a.u64(4) != 0 {
                return Err(Errno::EINVAL);
            }
            Ok(u64::from(t.handle.tg.thp_disable.load(std::sync::atomic::Ordering::Relaxed)))
        }
        // The app reads the time-stamp counter freely (PR_SET_TSC's
        // trapping mode is not offered: EINVAL, as for an unknown option).
        // x86 only: elsewhere Linux has no TSC control (EINVAL).
        #[cfg(target_arch = "x86_64")]
        PR_GET_TSC => {
            t.mm().write_val(a.addr(1), &PR_TSC_ENABLE)?;
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

/// The calling process's usage (its threads' stubs) and its reaped
/// children's.
fn usage_of(t: &Task) -> (Usage, Usage) {
    let own = t.kernel.procs().procs.get(&t.pid).map(|p| p.usage()).unwrap_or_default();
    let children = *t.handle.tg.children_usage.lock().unwrap_or_else(|e| e.into_inner());
    (own, children)
}

pub fn getrusage(t: &mut Task, a: &Args) -> SysResult<u64> {
    const RUSAGE_SELF: i32 = 0;
    const RUSAGE_CHILDREN: i32 = -1;
    const RUSAGE_THREAD: i32 = 1;
    let u = match a.i32(0) {
        RUSAGE_SELF => usage_of(t).0,
        RUSAGE_CHILDREN => usage_of(t).1,
        RUSAGE_THREAD => t.handle.stub_usage().unwrap_or_default(),
        _ => return Err(Errno::EINVAL),
    };
    t.mm().write_val(a.addr(1), &u.to_rusage())?;
    Ok(0)
}

pub fn times(t: &mut Task, a: &Args) -> SysResult<u64> {
    // Clock ticks are 1/100 s (AT_CLKTCK).
    let ticks = |d: std::time::Duration| d.as_millis() as u64 / 10;
    if a.addr(0) != 0 {
        let (own, children) = usage_of(t);
        let tms = [ticks(own.utime), ticks(own.stime), ticks(children.utime), ticks(children.stime)];
        t.mm().write_val(a.addr(0), &tms)?;
    }
    Ok(ticks(t.kernel.boot.elapsed()))
}

pub fn umask(t: &mut Task, a: &Args) -> SysResult<u64> {
    let mut fs = t.fs();
    let old = fs.umask;
    fs.umask = a.u32(0) & 0o777;
    Ok(u64::from(old))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clone3_stack_past_user_space_is_einval_not_an_overflow() {
        // stack + stack_size overflowed: a Sentry panic in debug builds.
        assert_eq!(clone3_stack_top(u64::MAX - 8, 0x1000), Err(Errno::EINVAL));
        assert_eq!(clone3_stack_top(0x7fff_ffff_0000, 0x10_0000), Err(Errno::EINVAL));
        assert_eq!(clone3_stack_top(0, 0x1000), Err(Errno::EINVAL));
        assert_eq!(clone3_stack_top(0x1000, 0), Err(Errno::EINVAL));
        assert_eq!(clone3_stack_top(0, 0), Ok(0));
        assert_eq!(clone3_stack_top(0x7f00_0000_0000, 0x2000), Ok(0x7f00_0000_2000));
    }
}

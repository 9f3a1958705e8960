//! seccomp(2) and prctl's PR_GET_SECCOMP and PR_SET_SECCOMP: the app's own
//! syscall filters, and [`admit`], which applies them to each syscall of a
//! thread that has any. The filters themselves are `kernel::seccomp`.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use abi::flags::capability::CAP_SYS_ADMIN;
use abi::flags::signal::{SIGKILL, SIGSYS};
use abi::Errno;

use super::{Args, SysResult};
use crate::kernel::seccomp::{self, Action, Data, Filter, Insn, Mode};
use crate::kernel::signal::SigInfo;
use crate::kernel::task::Task;
use crate::kernel::ExitStatus;

pub const PR_GET_SECCOMP: u32 = 21;
pub const PR_SET_SECCOMP: u32 = 22;
const MODE_STRICT: u64 = 1;
const MODE_FILTER: u64 = 2;

const SET_MODE_STRICT: u32 = 0;
const SET_MODE_FILTER: u32 = 1;
const GET_ACTION_AVAIL: u32 = 2;
const GET_NOTIF_SIZES: u32 = 3;

const FLAG_TSYNC: u32 = 1;
const FLAG_LOG: u32 = 2;
const FLAG_SPEC_ALLOW: u32 = 4;
const FLAG_NEW_LISTENER: u32 = 8;
const FLAG_TSYNC_ESRCH: u32 = 16;
const FLAG_WAIT_KILLABLE_RECV: u32 = 32;
const FLAGS_ALL: u32 =
    FLAG_TSYNC | FLAG_LOG | FLAG_SPEC_ALLOW | FLAG_NEW_LISTENER | FLAG_TSYNC_ESRCH | FLAG_WAIT_KILLABLE_RECV;

/// SIGSYS's si_code for a seccomp trap.
const SYS_SECCOMP: i32 = 1;

pub fn seccomp(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (op, flags, uargs) = (a.u32(0), a.u32(1), a.addr(2));
    match op {
        SET_MODE_STRICT if flags == 0 && uargs == 0 => set_strict(t),
        SET_MODE_FILTER => set_filter(t, flags, uargs),
        GET_ACTION_AVAIL if flags == 0 => {
            let action: u32 = t.mm().read_val(uargs)?;
            if seccomp::action_available(action) {
                Ok(0)
            } else {
                Err(Errno::EOPNOTSUPP)
            }
        }
        GET_NOTIF_SIZES if flags == 0 => {
            // struct seccomp_notif, seccomp_notif_resp and seccomp_data.
            let sizes: [u16; 3] = [80, 24, seccomp::DATA_SIZE as u16];
            t.mm().write_val(uargs, &sizes)?;
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

/// prctl(PR_SET_SECCOMP, mode, filter).
pub fn prctl_set(t: &mut Task, a: &Args) -> SysResult<u64> {
    match a.u64(1) {
        MODE_STRICT => set_strict(t),
        MODE_FILTER => set_filter(t, 0, a.addr(2)),
        _ => Err(Errno::EINVAL),
    }
}

fn set_strict(t: &mut Task) -> SysResult<u64> {
    match t.handle.seccomp_mode() {
        Mode::Disabled | Mode::Strict => {
            t.handle.set_seccomp(Mode::Strict);
            Ok(0)
        }
        Mode::Filter(_) => Err(Errno::EINVAL),
    }
}

fn set_filter(t: &mut Task, flags: u32, uargs: u64) -> SysResult<u64> {
    if flags & !FLAGS_ALL != 0 {
        return Err(Errno::EINVAL);
    }
    // There is no user-notification listener to hand out.
    if flags & (FLAG_NEW_LISTENER | FLAG_WAIT_KILLABLE_RECV) != 0 {
        return Err(Errno::EINVAL);
    }
    // struct sock_fprog: the length, then the pointer.
    let (len, ptr) = {
        let mm = t.mm();
        let len: u16 = mm.read_val(uargs)?;
        let ptr: u64 = mm.read_val(uargs + 8)?;
        (usize::from(len), ptr)
    };
    if len == 0 || len > seccomp::MAX_INSNS {
        return Err(Errno::EINVAL);
    }
    let nnp = t.handle.no_new_privs.load(Ordering::Relaxed);
    if !nnp && !t.creds().has_cap(CAP_SYS_ADMIN) {
        return Err(Errno::EACCES);
    }
    let mut raw = vec![0u8; len * 8];
    t.mm().copy_in(ptr, &mut raw)?;
    let prog: Vec<Insn> = raw.chunks_exact(8).map(|c| Insn::from_bytes(c.try_into().unwrap_or([0; 8]))).collect();
    if let Err(e) = seccomp::check(&prog) {
        log::debug!("seccomp: filter refused: {e}");
        return Err(Errno::EINVAL);
    }
    let prev = match t.handle.seccomp_mode() {
        Mode::Disabled => None,
        Mode::Filter(f) => Some(f),
        Mode::Strict => return Err(Errno::EINVAL),
    };
    let filter = Arc::new(Filter { prog, log: flags & FLAG_LOG != 0, prev: prev.clone() });
    if filter.path_len() > seccomp::MAX_INSNS_PER_PATH {
        return Err(Errno::ENOMEM);
    }
    if flags & FLAG_TSYNC == 0 {
        t.handle.set_seccomp(Mode::Filter(filter));
        return Ok(0);
    }
    // TSYNC: every other thread of the process takes the new filter, if
    // each holds none or one the caller's descends from; else the first
    // that does not is named (Linux's seccomp_can_sync_threads).
    let threads = t.kernel.procs().procs.get(&t.pid).map(|p| p.threads.clone()).unwrap_or_default();
    for th in threads.iter().filter(|th| th.tid != t.tid) {
        let ok = match th.seccomp_mode() {
            Mode::Disabled => true,
            Mode::Filter(theirs) => prev.as_ref().is_some_and(|mine| mine.descends_from(&theirs)),
            Mode::Strict => false,
        };
        if !ok {
            return if flags & FLAG_TSYNC_ESRCH != 0 { Err(Errno::ESRCH) } else { Ok(th.tid as u64) };
        }
    }
    for th in &threads {
        th.set_seccomp(Mode::Filter(filter.clone()));
        if nnp {
            th.no_new_privs.store(true, Ordering::Relaxed);
        }
    }
    Ok(0)
}

/// What the filters see of the syscall the task stopped at.
fn data(t: &Task) -> Data {
    Data {
        nr: t.regs.syscall_nr() as i32,
        arch: abi::arch::current::AUDIT_ARCH,
        ip: t.regs.ip(),
        args: t.regs.syscall_args(),
    }
}

/// Applies the thread's seccomp mode to the syscall it stopped at: true if
/// the syscall is to run; false if it must not, its result (or the
/// signal, or the thread's end) then already set.
pub fn admit(t: &mut Task) -> bool {
    let gen = t.handle.seccomp_gen.load(Ordering::Acquire);
    if t.seccomp.0 != gen {
        t.seccomp = (gen, t.handle.seccomp_mode());
    }
    let filter = match &t.seccomp.1 {
        Mode::Disabled => return true,
        Mode::Strict if seccomp::strict_allows(t.regs.syscall_nr()) => return true,
        Mode::Strict => return refuse(t, Action::KillStrict),
        Mode::Filter(f) => f.clone(),
    };
    match Action::of(filter.verdict(&data(t))) {
        Action::Allow => true,
        Action::Trace(msg) => {
            if !t.ptrace_seccomp(msg) {
                t.regs.set_return(Errno::ENOSYS.as_return());
                return false;
            }
            recheck(t, &filter)
        }
        other => refuse(t, other),
    }
}

/// After the tracer's PTRACE_EVENT_SECCOMP stop: it may have changed the
/// syscall, or skipped it (-1, with the result it set). The filters then
/// run again, and a second TRACE lets it through (Linux's
/// recheck_after_trace). True if the syscall is to run.
fn recheck(t: &mut Task, filter: &Arc<seccomp::Filter>) -> bool {
    if t.must_exit() || t.regs.syscall_nr() == u64::MAX {
        return false;
    }
    match Action::of(filter.verdict(&data(t))) {
        Action::Allow | Action::Trace(_) => true,
        other => refuse(t, other),
    }
}

/// [`recheck`] for a restored tracee that a checkpoint caught in that
/// stop.
pub fn recheck_after_trace(t: &mut Task) -> bool {
    match t.handle.seccomp_mode() {
        Mode::Filter(f) => recheck(t, &f),
        _ => !(t.must_exit() || t.regs.syscall_nr() == u64::MAX),
    }
}

/// Carries out a verdict that does not let the syscall run.
fn refuse(t: &mut Task, action: Action) -> bool {
    let alone = |t: &Task| t.kernel.procs().procs.get(&t.pid).is_none_or(|p| p.threads.len() <= 1);
    match action {
        Action::Allow | Action::Trace(_) => return true,
        Action::Errno(e) => t.regs.set_return((-i64::from(e)) as u64),
        Action::Trap(data) => {
            let mut info = SigInfo::new(SIGSYS, SYS_SECCOMP);
            info.0[4..8].copy_from_slice(&i32::from(data).to_le_bytes());
            info.0[16..24].copy_from_slice(&t.regs.ip().to_le_bytes());
            info.0[24..28].copy_from_slice(&(t.regs.syscall_nr() as i32).to_le_bytes());
            info.0[28..32].copy_from_slice(&abi::arch::current::AUDIT_ARCH.to_le_bytes());
            crate::arch::rollback_syscall(&mut t.regs);
            t.force_signal(info);
        }
        // A thread killed alone takes its process with it, dumping core,
        // as Linux's seccomp does when it is the only thread.
        Action::KillThread if !alone(t) => t.exit = Some(ExitStatus::Signaled(SIGSYS)),
        Action::KillThread | Action::KillProcess => t.exit_group(ExitStatus::Dumped(SIGSYS)),
        // Strict mode's do_exit(SIGKILL): the thread, or with it the
        // process.
        Action::KillStrict if !alone(t) => t.exit = Some(ExitStatus::Signaled(SIGKILL)),
        Action::KillStrict => t.exit_group(ExitStatus::Signaled(SIGKILL)),
    }
    false
}

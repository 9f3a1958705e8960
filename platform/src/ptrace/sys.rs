//! Thin wrappers over the host calls the ptrace platform makes. Every unsafe
//! block of the ptrace platform is here, in `stub.rs` or in `arch/` (the
//! register requests and stub code of each architecture).

use std::io;

pub(super) fn check(ret: libc::c_long) -> io::Result<libc::c_long> {
    if ret < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

/// A ptrace request that takes no pointer: `data` is a plain value.
pub fn ptrace_plain(req: libc::c_uint, pid: i32, addr: u64, data: u64) -> io::Result<()> {
    // SAFETY: the requests sent here (SYSEMU, CONT, SETOPTIONS, KILL,
    // POKEDATA) read and write no memory of ours; addr and data are plain
    // values (POKEDATA's addr is the tracee's, data the word it gets).
    let r = unsafe { libc::ptrace(req, pid, addr as *mut libc::c_void, data as *mut libc::c_void) };
    check(r).map(|_| ())
}

/// PTRACE_GETSIGINFO.
pub fn get_siginfo(pid: i32) -> io::Result<libc::siginfo_t> {
    // SAFETY: siginfo_t is plain data; all-zero is a valid value.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: the kernel writes one siginfo_t into `info`, which we own.
    let r = unsafe {
        libc::ptrace(
            libc::PTRACE_GETSIGINFO,
            pid,
            std::ptr::null_mut::<libc::c_void>(),
            (&mut info as *mut libc::siginfo_t).cast::<libc::c_void>(),
        )
    };
    check(r).map(|_| info)
}

/// `waitpid(pid, __WALL)`, retried on EINTR. Returns the raw status.
pub fn wait(pid: i32) -> io::Result<i32> {
    let mut status = 0;
    loop {
        // SAFETY: `status` is a valid out-pointer for the call's duration.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::__WALL) };
        if r >= 0 {
            return Ok(status);
        }
        let e = io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EINTR) {
            return Err(e);
        }
    }
}

/// Sends SIGKILL to `pid`.
pub fn kill(pid: i32) {
    // A stub has one thread, whose id is its pid: tgkill reaches it as
    // kill would, and keeps kill out of the Sentry's seccomp filter.
    // SAFETY: tgkill takes no pointers; a stale pid only yields ESRCH.
    unsafe {
        libc::syscall(libc::SYS_tgkill, pid, pid, libc::SIGKILL);
    }
}

/// `PTRACE_SYSEMU` (31 on x86_64 and on arm64, where it needs Linux 5.3;
/// libc names it only for x86).
pub const PTRACE_SYSEMU: libc::c_uint = 31;

/// PTRACE_GETREGSET of regset `nt` into `buf`; returns how many bytes the
/// kernel wrote (the regset's whole size if `buf` is large enough).
pub fn get_regset(pid: i32, nt: libc::c_int, buf: &mut [u8]) -> io::Result<usize> {
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // SAFETY: the kernel writes at most `iov_len` bytes at `iov_base`, which
    // is `buf`, ours; it updates `iov_len` in our local iovec.
    let r = unsafe {
        libc::ptrace(libc::PTRACE_GETREGSET, pid, nt as usize as *mut libc::c_void, &mut iov as *mut libc::iovec)
    };
    check(r).map(|_| iov.iov_len)
}

/// PTRACE_SETREGSET of regset `nt` from `buf` (the regset's whole size,
/// or a prefix where the regset takes one).
pub fn set_regset(pid: i32, nt: libc::c_int, buf: &[u8]) -> io::Result<()> {
    let mut iov = libc::iovec { iov_base: buf.as_ptr().cast_mut().cast(), iov_len: buf.len() };
    // SAFETY: the kernel only reads `iov_len` bytes at `iov_base`, `buf`.
    let r = unsafe {
        libc::ptrace(libc::PTRACE_SETREGSET, pid, nt as usize as *mut libc::c_void, &mut iov as *mut libc::iovec)
    };
    check(r).map(|_| ())
}

/// Sends `sig` to `pid`.
pub fn signal(pid: i32, sig: i32) {
    // SAFETY: tgkill takes no pointers; a stale pid only yields ESRCH. (A
    // stub's one thread has its pid as its id.)
    unsafe {
        libc::syscall(libc::SYS_tgkill, pid, pid, sig);
    }
}

/// The CPU the calling thread runs on (-1 if unknown).
pub fn current_cpu() -> i32 {
    // SAFETY: sched_getcpu takes no arguments.
    unsafe { libc::sched_getcpu() }
}

/// Restricts `pid` to `cpu`; failures (a CPU taken away by a cpuset, an
/// unknown CPU) leave its affinity alone, which costs only speed.
pub fn pin(pid: i32, cpu: i32) {
    let Ok(cpu) = usize::try_from(cpu) else { return };
    if cpu >= libc::CPU_SETSIZE as usize {
        return;
    }
    // SAFETY: cpu_set_t is plain data, all-zero is the empty set; CPU_SET
    // stays inside it for cpu < CPU_SETSIZE; the kernel reads one cpu_set_t
    // from `set`, which we own.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(pid, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

/// How long the tracer stays pinned before it lets the scheduler move it.
const REBALANCE: std::time::Duration = std::time::Duration::from_millis(20);

/// Keeps a tracer thread and its stub on one CPU, as gVisor's ptrace platform
/// does for the stub (`bind`), and here for the tracer too: both are pinned
/// to the CPU the tracer runs on. Every [`REBALANCE`] the tracer gets its
/// original affinity back for one round trip, so the scheduler can still
/// spread tracers over CPUs; the pair is then pinned wherever it woke.
#[derive(Default)]
pub struct Affinity {
    /// The tracer's affinity before we pinned it (read at the first switch).
    original: Option<libc::cpu_set_t>,
    /// The CPU the tracer is pinned to, and since when.
    pinned: Option<(i32, std::time::Instant)>,
    /// The tracer thread's id.
    tid: i32,
}

impl Affinity {
    /// Pins the calling (tracer) thread as needed and returns the CPU its
    /// stub should be pinned to.
    pub fn keep_together(&mut self) -> i32 {
        let original = *self.original.get_or_insert_with(|| {
            // SAFETY: cpu_set_t is plain data; the kernel writes at most
            // size_of::<cpu_set_t>() bytes into it.
            unsafe {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                if libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) != 0 {
                    for cpu in 0..libc::CPU_SETSIZE as usize {
                        libc::CPU_SET(cpu, &mut set);
                    }
                }
                set
            }
        });
        let cpu = current_cpu();
        if self.tid == 0 {
            // SAFETY: gettid takes no arguments.
            self.tid = unsafe { libc::gettid() };
        }
        match self.pinned {
            Some((p, since)) if p == cpu => {
                if since.elapsed() >= REBALANCE {
                    // SAFETY: the kernel reads one cpu_set_t we own.
                    unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &original) };
                    self.pinned = None;
                }
            }
            _ => {
                pin(self.tid, cpu);
                self.pinned = Some((cpu, std::time::Instant::now()));
            }
        }
        cpu
    }
}

impl Drop for Affinity {
    fn drop(&mut self) {
        if let (Some(original), Some(_)) = (self.original, self.pinned) {
            // SAFETY: the kernel reads one cpu_set_t we own; a thread that
            // is gone only yields ESRCH.
            unsafe { libc::sched_setaffinity(self.tid, std::mem::size_of::<libc::cpu_set_t>(), &original) };
        }
    }
}

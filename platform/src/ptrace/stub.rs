//! The stub: the otherwise empty host process an app address space lives in.
//!
//! Its code is a few instructions at a reserved page high in the address
//! space, above every address the app may map. A new stub is forked from the
//! Sentry thread that will trace it; before it runs a single app instruction it
//! drops everything it inherited:
//! - it asks to be killed when its tracer dies and becomes its own session, so
//!   no terminal signal reaches it;
//! - it closes every fd but the memory file;
//! - it installs a seccomp filter that kills the process on any syscall except
//!   mmap, munmap and mprotect made from the stub page itself;
//! - it jumps to the stub page, which unmaps everything below and above itself
//!   and stops with a trap (`int3`, `brk #0`).
//!
//! From then on the Sentry drives it: PTRACE_SYSEMU runs app code and stops at
//! each syscall without executing it; address-space changes are injected by
//! pointing the thread at the stub's syscall instruction and the trap after
//! it (`syscall; int3`, `svc #0; brk #0`). The code is each architecture's
//! (`arch/`).

use std::io;
use std::os::fd::RawFd;
use std::sync::OnceLock;

use crate::arch::TASK_SIZE;
use crate::PlatformError;

pub(super) const PAGE: u64 = 4096;
/// Where in the stub page the tracer writes the command line the stub
/// shows the host (`show_args`), past the code.
pub(super) const ARGS_AT: u64 = PAGE / 2;

extern "C" {
    // glibc (2.35+) registers an rseq area for every thread; these say where
    // it sits relative to the thread pointer and how long it is.
    static __rseq_offset: isize;
    static __rseq_size: u32;
    static husk_stub_start: u8;
    static husk_stub_syscall: u8;
    static husk_stub_end: u8;
}

/// Where the stub page sits; the same in the Sentry and in every stub.
#[derive(Clone, Copy, Debug)]
pub struct StubPage {
    /// The page's address.
    pub base: u64,
    /// The address of the `syscall; int3` pair used for injection.
    pub syscall_insn: u64,
}

static STUB_PAGE: OnceLock<Result<StubPage, i32>> = OnceLock::new();

/// Maps the stub code once per Sentry process, at the highest free page-aligned
/// address below 0x7fff_0000_0000 that we can take without replacing anything.
pub fn stub_page() -> Result<StubPage, PlatformError> {
    let r = STUB_PAGE.get_or_init(|| map_stub_page().map_err(|e| e.raw_os_error().unwrap_or(0)));
    r.map_err(|e| PlatformError::StubCreate(io::Error::from_raw_os_error(e)))
}

fn map_stub_page() -> io::Result<StubPage> {
    // Taking the addresses of the linker symbols reads nothing.
    let (start, syscall, end) = (
        std::ptr::addr_of!(husk_stub_start) as u64,
        std::ptr::addr_of!(husk_stub_syscall) as u64,
        std::ptr::addr_of!(husk_stub_end) as u64,
    );
    let len = end - start;
    // The page's second half is the tracer's (`show_args`).
    assert!(len <= ARGS_AT, "stub code exceeds half a page");
    let mut candidate: u64 = 0x7fff_0000_0000;
    for _ in 0..256 {
        // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping; the
        // result is checked before use.
        let p = unsafe {
            libc::mmap(
                candidate as *mut libc::c_void,
                PAGE as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
                -1,
                0,
            )
        };
        if p != libc::MAP_FAILED && p as u64 == candidate {
            // SAFETY: `p` is a fresh writable page of ours; the source is the
            // stub's code in our text, `len` (≤ one page) bytes long.
            unsafe {
                std::ptr::copy_nonoverlapping(start as *const u8, p.cast::<u8>(), len as usize);
            }
            // SAFETY: `p` is the page mapped above.
            if unsafe { libc::mprotect(p, PAGE as usize, libc::PROT_READ | libc::PROT_EXEC) } != 0 {
                return Err(io::Error::last_os_error());
            }
            super::arch::sync_icache(candidate, len);
            return Ok(StubPage { base: candidate, syscall_insn: candidate + (syscall - start) });
        }
        candidate -= 0x1_0000_0000;
    }
    Err(io::Error::from_raw_os_error(libc::ENOMEM))
}

/// Forks a new stub traced by the calling thread and returns its pid once it
/// has reached its first stop, with nothing mapped but the stub page.
pub fn spawn(memfd: RawFd, page: StubPage) -> Result<i32, PlatformError> {
    // Built before the fork: the child must not allocate.
    let filter = seccomp::stub::ptrace(page.base);
    let prog = libc::sock_fprog { len: filter.len() as u16, filter: filter.as_ptr().cast_mut() };
    // SAFETY: fork in a possibly multithreaded process; the child only makes
    // raw syscalls (async-signal-safe) and then jumps to the stub page, never
    // returning into Rust code that could touch locks or the allocator.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(PlatformError::StubCreate(io::Error::last_os_error()));
    }
    if pid == 0 {
        // SAFETY: we are the freshly forked child; see `child_main`.
        unsafe { child_main(memfd, page, &prog) }
    }
    let status = super::sys::wait(pid).map_err(PlatformError::StubCreate)?;
    if !libc::WIFSTOPPED(status) || libc::WSTOPSIG(status) != libc::SIGTRAP {
        super::sys::kill(pid);
        let _ = super::sys::wait(pid);
        return Err(PlatformError::StubDied { pid, status });
    }
    let opts = (libc::PTRACE_O_TRACESYSGOOD | libc::PTRACE_O_EXITKILL) as u64;
    super::sys::ptrace_plain(libc::PTRACE_SETOPTIONS, pid, 0, opts).map_err(|source| {
        super::sys::kill(pid);
        PlatformError::Ptrace { op: "SETOPTIONS", pid, source }
    })?;
    Ok(pid)
}

/// The last steps of every stub's set-up, shared by both platforms: close
/// every fd but the memory file, drop glibc's rseq registration, forbid new
/// privileges, and install the seccomp filter, which must be the last
/// syscall made from Rust code. Returns false if a step failed.
///
/// # Safety
/// Call only in a freshly forked stub child, right before it jumps to the
/// stub page; `prog` must point at a valid filter.
pub(crate) unsafe fn seal_stub(memfd: RawFd, prog: &libc::sock_fprog) -> bool {
    // SAFETY: raw syscalls with plain values or a pointer to the live
    // filter; the caller guarantees we are the forked child.
    unsafe {
        let fd = memfd as libc::c_uint;
        if fd > 0 {
            libc::syscall(libc::SYS_close_range, 0u32, fd - 1, 0u32);
        }
        libc::syscall(libc::SYS_close_range, fd + 1, u32::MAX, 0u32);
        unregister_rseq();
        libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
            && libc::syscall(libc::SYS_seccomp, 1 /* SET_MODE_FILTER */, 0, prog as *const _) == 0
    }
}

/// Seals the systrap stub factory (see `systrap::stub::Factory`) as
/// [`seal_stub`] seals a stub, keeping `pool_fd` open too and installing no
/// filter: the factory's clones install their own. Returns false if a step
/// failed.
///
/// # Safety
/// As for [`seal_stub`].
pub(crate) unsafe fn seal_factory(memfd: RawFd, pool_fd: RawFd) -> bool {
    // SAFETY: raw syscalls with plain values; the caller guarantees we are
    // the forked child.
    unsafe {
        let (lo, hi) = (memfd.min(pool_fd) as libc::c_uint, memfd.max(pool_fd) as libc::c_uint);
        if lo > 0 {
            libc::syscall(libc::SYS_close_range, 0u32, lo - 1, 0u32);
        }
        if hi > lo + 1 {
            libc::syscall(libc::SYS_close_range, lo + 1, hi - 1, 0u32);
        }
        libc::syscall(libc::SYS_close_range, hi + 1, u32::MAX, 0u32);
        unregister_rseq();
        libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
    }
}

/// The child inherits its parent thread's rseq registration, whose area lives
/// in the thread's TLS. Once the stub unmaps that memory, the kernel's next
/// rseq update would fault and kill the stub with SIGSEGV, so drop it first.
///
/// # Safety
/// Call only in the forked child, before the stub unmaps the Sentry's memory.
unsafe fn unregister_rseq() {
    const RSEQ_FLAG_UNREGISTER: u64 = 1;
    // (The kernel refuses an unregistration whose signature is not the
    // registered one, glibc's for the architecture.)
    use super::arch::RSEQ_SIG;
    // SAFETY: reading glibc's exported rseq layout and the thread pointer;
    // the rseq syscall only compares the pointer with the registered one.
    unsafe {
        let size = u64::from(__rseq_size);
        if size == 0 {
            return;
        }
        let tp = super::arch::thread_pointer();
        let area = tp.wrapping_add_signed(__rseq_offset as i64);
        // The registered length is 32 on every glibc so far, while newer
        // glibcs report the smaller feature size in __rseq_size.
        for len in [32, size] {
            if libc::syscall(libc::SYS_rseq, area, len, RSEQ_FLAG_UNREGISTER, RSEQ_SIG) == 0 {
                return;
            }
        }
    }
}

/// The forked child's whole life before the stub code runs.
///
/// # Safety
/// Must be called only in the child of `fork`, with `prog` pointing at a
/// filter that outlives the call. It never returns.
unsafe fn child_main(memfd: RawFd, page: StubPage, prog: &libc::sock_fprog) -> ! {
    // SAFETY: raw syscalls with plain values or pointers to live data
    // (`set`, `prog`); on failure the child exits without unwinding. The final
    // jump goes to the stub page, which exists in the child (inherited from the
    // Sentry) and does not return.
    unsafe {
        let fail = |code: i32| -> ! { libc::_exit(code) };
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
            fail(101);
        }
        if libc::ptrace(libc::PTRACE_TRACEME, 0, 0usize, 0usize) != 0 {
            fail(102);
        }
        // A session and process group of its own: signals the host's
        // terminal sends its foreground group (^C, ^Z, SIGWINCH) must never
        // reach a stub, only the Sentry, which passes them to the app.
        if libc::setsid() < 0 {
            fail(104);
        }
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
        if !seal_stub(memfd, prog) {
            fail(103);
        }
        super::arch::enter_stub(page.base, page.base + PAGE, TASK_SIZE);
    }
}

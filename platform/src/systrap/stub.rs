//! The systrap stub: its code page, its seccomp filter and how it is forked
//! or cloned by the stub factory ([`Factory`]).
//!
//! The stub region sits high in the address space, above every address the app
//! may map: the code page (copied from `husk_systrap_start`, each
//! architecture's assembly in `arch/`), then the
//! control region (the control page and the signal stack, a slot of the
//! control pool the Sentry shares; see `shared.rs` and `pool.rs`), then the
//! factory page (in the factory only). The rest of the region is reserved.
//!
//! The first stub is forked from a long-lived spawner thread of the Sentry (so that
//! `PR_SET_PDEATHSIG`, which fires when the forking *thread* exits, fires only
//! when the Sentry dies). Before it runs a single app instruction the child:
//! - asks to be killed when the Sentry dies and becomes its own session;
//! - resets every signal action, then installs the stub's handler for SIGSYS,
//!   SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP and the interrupt signal
//!   (SIGUSR2) on the signal stack, with every signal blocked while it runs;
//!   stub code only ever runs with every signal blocked, app code with the
//!   app's mask (none at first);
//! - maps the control region, closes every fd but the memory file, drops the
//!   inherited rseq registration;
//! - installs the seccomp filter (`seccomp::stub::systrap`): any syscall from outside
//!   the code page traps (SIGSYS), and from the code page only what the
//!   handler needs is allowed, with argument checks;
//! - jumps to the code page, which unmaps everything outside the stub region
//!   and hands the first turn to the Sentry.
//!
//! The code page holds the signal handler, which copies the signal frame's
//! registers and siginfo into the control page, gives the turn to the Sentry,
//! waits for the reply (spinning briefly, then FUTEX_WAIT), makes the
//! address-space changes the Sentry queued, and then either gives the turn
//! back or copies the Sentry's registers into the frame and returns through
//! `rt_sigreturn`. At startup there is no frame yet: the first resume builds
//! one on the signal stack, so `rt_sigreturn` loads the full register set,
//! and either the FPU state the Sentry left in the control region (a
//! thread inherits its parent's) or, with none, a clean FPU.

use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::Ordering;
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};

use super::shared::{self, CTRL_LEN, PAGE, SIGSTACK_LEN};
use crate::arch::TASK_SIZE;
use crate::PlatformError;

/// The signal [`super::SystrapInterrupter`] sends; the handler reports it as
/// an event like any other.
pub const INTERRUPT_SIGNAL: i32 = libc::SIGUSR2;

/// The reserved stub region: code page, control region, spare.
pub const REGION_LEN: u64 = 64 * 1024;

extern "C" {
    static husk_systrap_start: u8;
    static husk_systrap_handler: u8;
    static husk_systrap_restorer: u8;
    static husk_systrap_end: u8;
}

/// Where the stub region sits; the same in the Sentry and in every stub.
#[derive(Clone, Copy, Debug)]
pub struct Region {
    /// The code page's address (the region's start).
    pub base: u64,
    /// The signal handler's address.
    pub handler: u64,
    /// The restorer's address.
    pub restorer: u64,
}

impl Region {
    /// The control page's address in the stub.
    pub fn ctrl(&self) -> u64 {
        self.base + PAGE as u64
    }
    /// The signal stack's address in the stub.
    pub fn sigstack(&self) -> u64 {
        self.ctrl() + PAGE as u64
    }
    /// The factory page's address in the stub factory.
    pub fn factory_page(&self) -> u64 {
        self.base + shared::FACTORY_PAGE as u64
    }
}

static REGION: OnceLock<Result<Region, i32>> = OnceLock::new();

/// Reserves the stub region once per Sentry process and fills its code page.
pub fn region() -> Result<Region, PlatformError> {
    let r = REGION.get_or_init(|| map_region().map_err(|e| e.raw_os_error().unwrap_or(0)));
    r.map_err(|e| PlatformError::StubCreate(io::Error::from_raw_os_error(e)))
}

fn map_region() -> io::Result<Region> {
    // Taking the addresses of the linker symbols reads nothing.
    let (start, handler, restorer, end) = (
        std::ptr::addr_of!(husk_systrap_start) as u64,
        std::ptr::addr_of!(husk_systrap_handler) as u64,
        std::ptr::addr_of!(husk_systrap_restorer) as u64,
        std::ptr::addr_of!(husk_systrap_end) as u64,
    );
    let len = end - start;
    assert!(len < PAGE as u64, "systrap stub code exceeds a page");
    assert!(CTRL_LEN as u64 + (PAGE as u64) <= REGION_LEN);
    // Below the ptrace platform's first candidate, 4 GiB-aligned so that the
    // code page never straddles a 4 GiB line (the filter compares the low
    // and high halves of the instruction pointer separately).
    let mut candidate: u64 = 0x7ffe_0000_0000;
    for _ in 0..256 {
        // SAFETY: MAP_FIXED_NOREPLACE never replaces an existing mapping; the
        // result is checked before use.
        let p = unsafe {
            libc::mmap(
                candidate as *mut libc::c_void,
                REGION_LEN as usize,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
                -1,
                0,
            )
        };
        if p != libc::MAP_FAILED && p as u64 == candidate {
            // SAFETY: the first page of the reservation just made, ours.
            if unsafe { libc::mprotect(p, PAGE, libc::PROT_READ | libc::PROT_WRITE) } != 0 {
                return Err(io::Error::last_os_error());
            }
            // SAFETY: `p` is now a writable page of ours; the source is the
            // stub's code in our text, `len` (< one page) bytes long.
            unsafe {
                std::ptr::copy_nonoverlapping(start as *const u8, p.cast::<u8>(), len as usize);
            }
            // SAFETY: as above.
            if unsafe { libc::mprotect(p, PAGE, libc::PROT_READ | libc::PROT_EXEC) } != 0 {
                return Err(io::Error::last_os_error());
            }
            super::arch::sync_icache(candidate, len);
            return Ok(Region {
                base: candidate,
                handler: candidate + (handler - start),
                restorer: candidate + (restorer - start),
            });
        }
        if p != libc::MAP_FAILED {
            // An old kernel that took the address as a hint: give it back.
            // SAFETY: unmapping what we just mapped.
            unsafe { libc::munmap(p, REGION_LEN as usize) };
        }
        candidate -= 0x1_0000_0000;
    }
    Err(io::Error::from_raw_os_error(libc::ENOMEM))
}

/// What the spawner thread forks.
#[derive(Clone, Copy)]
enum Child {
    /// A stub whose control region is `CTRL_LEN` bytes at `ctrl_off` in
    /// `ctrl_fd`.
    Stub { ctrl_fd: RawFd, ctrl_off: u64 },
    /// The stub factory, which keeps `pool_fd` (the control pool) open and
    /// maps the factory page from its start.
    Factory { pool_fd: RawFd },
}

/// What the spawner thread needs to fork one child.
struct SpawnRequest {
    memfd: RawFd,
    child: Child,
    region: Region,
    reply: mpsc::Sender<io::Result<i32>>,
}

/// The spawner thread's queue (`None` if the thread could not start).
static SPAWNER: OnceLock<Option<Mutex<mpsc::Sender<SpawnRequest>>>> = OnceLock::new();

/// Blocks every signal in the calling thread. The spawner thread only forks;
/// signals sent to the Sentry process must go to the threads that handle
/// them, never to it.
pub(super) fn block_all_signals() {
    // SAFETY: building a full sigset_t in a local and installing it as this
    // thread's mask; the pointers are to locals that outlive the calls.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut set);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
    }
}

/// Forks a stub from the spawner thread and returns its pid. The stub maps
/// its control region (`CTRL_LEN` bytes at `ctrl_off` in `ctrl_fd`) and
/// keeps only `memfd` open.
pub fn spawn(memfd: RawFd, ctrl_fd: RawFd, ctrl_off: u64, region: Region) -> Result<i32, PlatformError> {
    spawn_child(memfd, Child::Stub { ctrl_fd, ctrl_off }, region)
}

/// Forks the stub factory from the spawner thread and returns its pid; see
/// [`Factory`].
fn spawn_factory(memfd: RawFd, pool_fd: RawFd, region: Region) -> Result<i32, PlatformError> {
    spawn_child(memfd, Child::Factory { pool_fd }, region)
}

fn spawn_child(memfd: RawFd, child: Child, region: Region) -> Result<i32, PlatformError> {
    let tx = SPAWNER.get_or_init(|| {
        let (tx, rx) = mpsc::channel::<SpawnRequest>();
        std::thread::Builder::new()
            .name("husk-systrap-spawner".into())
            .spawn(move || {
                block_all_signals();
                for req in rx {
                    let r = fork_child(req.memfd, req.child, req.region);
                    let _ = req.reply.send(r);
                }
            })
            .ok()
            .map(|_| Mutex::new(tx))
    });
    let gone = || PlatformError::StubCreate(io::Error::other("the stub spawner thread is gone"));
    let tx = tx.as_ref().ok_or_else(gone)?;
    let (reply, rx) = mpsc::channel();
    let req = SpawnRequest { memfd, child, region, reply };
    tx.lock().unwrap_or_else(|e| e.into_inner()).send(req).map_err(|_| gone())?;
    rx.recv().map_err(|_| gone())?.map_err(PlatformError::StubCreate)
}

fn fork_child(memfd: RawFd, child: Child, region: Region) -> io::Result<i32> {
    // Built before the fork: the child must not allocate.
    let filter = seccomp::stub::systrap(region.base, memfd);
    let prog = libc::sock_fprog { len: filter.len() as u16, filter: filter.as_ptr().cast_mut() };
    // SAFETY: getpid takes nothing.
    let parent = unsafe { libc::getpid() };
    // SAFETY: fork in a multithreaded process; the child only makes raw
    // syscalls (async-signal-safe) and then jumps to the stub page, never
    // returning into Rust code that could touch locks or the allocator.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(io::Error::last_os_error());
    }
    if pid == 0 {
        // SAFETY: we are the freshly forked child; see `child_main`.
        unsafe { child_main(memfd, child, region, parent, &prog) }
    }
    Ok(pid)
}

/// The stub factory: a small process forked from the Sentry once, with
/// nothing mapped but the stub region, that clones new stubs on request.
///
/// Forking a stub from the Sentry copies the Sentry's page tables, makes
/// every page it then writes take a copy-on-write fault, and leaves the
/// stub to unmap all of it again (TLB shootdowns included): most of the
/// cost of an app's fork. A clone of the factory costs only what a new
/// process must. The factory is set up as a stub is (signal actions,
/// alternate stack, every signal blocked, no fds but the memory file and
/// the control pool, no rseq, no new privileges) but installs no filter;
/// no app code ever runs in it. Each new stub is a child of the Sentry
/// (`CLONE_PARENT`), asks to die with it as a forked stub does, maps its
/// control region from the pool, closes the pool and installs the stub's
/// filter, whose program the Sentry left in the factory page.
pub struct Factory {
    pid: i32,
    /// The Sentry's mapping of the factory page (slot 0 of the pool); the
    /// lock makes one request at a time.
    page: Mutex<shared::Ctrl>,
}

/// How long the Sentry waits for the factory before it checks that the
/// factory is alive.
const FACTORY_PATIENCE: std::time::Duration = std::time::Duration::from_millis(100);

/// Why the factory gave no stub.
#[derive(Debug)]
pub enum FactoryError {
    /// The factory process is gone.
    Gone,
    /// Its clone failed (as a fork would: a limit, memory).
    Clone(io::Error),
}

impl Factory {
    /// Starts a factory for stubs of `memfd` whose control regions are in
    /// `pool` (slot 0 of which is the factory page).
    pub fn start(memfd: RawFd, pool: std::os::fd::BorrowedFd<'_>, region: Region) -> Result<Self, PlatformError> {
        use std::os::fd::AsRawFd;
        let page = shared::Ctrl::map(pool, 0).map_err(PlatformError::StubCreate)?;
        let filter = seccomp::stub::systrap(region.base, memfd);
        let bytes: Vec<u8> = filter
            .iter()
            .flat_map(|f| {
                let mut b = [0u8; 8];
                b[..2].copy_from_slice(&f.code.to_ne_bytes());
                b[2] = f.jt;
                b[3] = f.jf;
                b[4..].copy_from_slice(&f.k.to_ne_bytes());
                b
            })
            .collect();
        if shared::F_FILTER + bytes.len() > PAGE {
            return Err(PlatformError::StubCreate(io::Error::other("the stub filter does not fit the factory page")));
        }
        page.write_bytes(shared::F_FILTER, &bytes);
        page.set(shared::F_PROG, filter.len() as u64);
        page.set(shared::F_PROG + 8, region.factory_page() + shared::F_FILTER as u64);
        // SAFETY: getpid takes nothing.
        page.set(shared::F_SENTRY_PID, unsafe { libc::getpid() } as u64);
        page.set(shared::F_POOL_FD, pool.as_raw_fd() as u64);
        page.state().store(shared::F_IDLE, Ordering::SeqCst);
        let pid = spawn_factory(memfd, pool.as_raw_fd(), region)?;
        Ok(Factory { pid, page: Mutex::new(page) })
    }

    /// The factory's pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Asks for a new stub whose control region is at `ctrl_off` in the
    /// pool, without waiting: [`Factory::collect`] takes the answer. At most
    /// one request is outstanding; the caller keeps that so.
    pub fn request(&self, ctrl_off: u64) {
        let page = self.page.lock().unwrap_or_else(|e| e.into_inner());
        page.set(shared::F_SLOT, ctrl_off);
        page.state().store(shared::F_REQUEST, Ordering::SeqCst);
        super::sys::futex_wake(page.state_ptr());
    }

    /// Waits for the answer to the outstanding request: the new stub's pid.
    pub fn collect(&self) -> Result<i32, FactoryError> {
        let page = self.page.lock().unwrap_or_else(|e| e.into_inner());
        let state = page.state();
        while state.load(Ordering::SeqCst) != shared::F_DONE {
            let woke = super::sys::futex_wait(page.state_ptr(), shared::F_REQUEST, FACTORY_PATIENCE);
            if matches!(woke, super::sys::Wait::TimedOut)
                && state.load(Ordering::SeqCst) != shared::F_DONE
                && super::sys::try_wait(self.pid).is_some()
            {
                return Err(FactoryError::Gone);
            }
        }
        let r = page.get(shared::F_RESULT) as i64;
        state.store(shared::F_IDLE, Ordering::SeqCst);
        if r < 0 {
            return Err(FactoryError::Clone(io::Error::from_raw_os_error(-r as i32)));
        }
        i32::try_from(r).map_err(|_| FactoryError::Gone)
    }
}

impl Drop for Factory {
    fn drop(&mut self) {
        super::sys::kill(self.pid);
        super::sys::reap(self.pid);
    }
}

/// `SA_RESTORER`: the handler returns through the stub's restorer.
const SA_RESTORER: u64 = 0x0400_0000;

/// The kernel's `struct sigaction` (x86_64's and arm64's).
#[repr(C)]
struct KernelSigaction {
    handler: u64,
    flags: u64,
    restorer: u64,
    mask: u64,
}

/// The forked child's whole life before the stub code (or the factory's)
/// runs.
///
/// # Safety
/// Must be called only in the child of `fork`, with `prog` pointing at a
/// filter that outlives the call. It never returns.
unsafe fn child_main(memfd: RawFd, child: Child, region: Region, parent: i32, prog: &libc::sock_fprog) -> ! {
    // SAFETY: raw syscalls with plain values or pointers to live locals; on
    // failure the child exits without unwinding. The control region (or the
    // factory page) is mapped over the Sentry's PROT_NONE reservation of it,
    // which nothing else uses. The final jump goes to the stub page, which
    // exists in the child (inherited from the Sentry) and does not return.
    unsafe {
        let fail = |code: i32| -> ! { libc::_exit(code) };
        if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) != 0 {
            fail(101);
        }
        if libc::getppid() != parent {
            fail(102);
        }
        // A session and process group of its own: signals the host's
        // terminal sends its foreground group (^C, ^Z, SIGWINCH) must never
        // reach a stub, only the Sentry, which passes them to the app.
        if libc::setsid() < 0 {
            fail(107);
        }
        // Every signal back to its default action, then ours.
        let dfl = KernelSigaction { handler: 0, flags: 0, restorer: 0, mask: 0 };
        for sig in 1..=64 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::syscall(libc::SYS_rt_sigaction, sig, &dfl, 0usize, 8usize);
            }
        }
        let (at, len, fd, off) = match child {
            Child::Stub { ctrl_fd, ctrl_off } => (region.ctrl(), CTRL_LEN, ctrl_fd, ctrl_off),
            Child::Factory { pool_fd } => (region.factory_page(), PAGE, pool_fd, 0),
        };
        let p = libc::mmap(
            at as *mut libc::c_void,
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_FIXED,
            fd,
            off as libc::off_t,
        );
        if p as u64 != at {
            fail(103);
        }
        // (The factory's stubs map their control regions there.)
        let ss = libc::stack_t { ss_sp: region.sigstack() as *mut libc::c_void, ss_flags: 0, ss_size: SIGSTACK_LEN };
        if libc::syscall(libc::SYS_sigaltstack, &ss, 0usize) != 0 {
            fail(104);
        }
        let act = KernelSigaction {
            handler: region.handler,
            flags: (libc::SA_SIGINFO | libc::SA_ONSTACK) as u64 | SA_RESTORER,
            restorer: region.restorer,
            mask: u64::MAX,
        };
        for sig in
            [libc::SIGSYS, libc::SIGSEGV, libc::SIGBUS, libc::SIGFPE, libc::SIGILL, libc::SIGTRAP, INTERRUPT_SIGNAL]
        {
            if libc::syscall(libc::SYS_rt_sigaction, sig, &act, 0usize, 8usize) != 0 {
                fail(105);
            }
        }
        // Stub code runs with every signal blocked: here and at startup by
        // this mask, in the handler by its sa_mask. App code runs with none
        // blocked: the first resume's frame has an empty mask, and every
        // other frame carries the app's.
        let all: u64 = u64::MAX;
        libc::syscall(libc::SYS_rt_sigprocmask, libc::SIG_SETMASK, &all, 0usize, 8usize);
        let factory = match child {
            Child::Stub { .. } => {
                if !crate::ptrace::stub::seal_stub(memfd, prog) {
                    fail(106);
                }
                0u64
            }
            Child::Factory { pool_fd } => {
                if !crate::ptrace::stub::seal_factory(memfd, pool_fd) {
                    fail(108);
                }
                1
            }
        };
        super::arch::enter(region.base, region.base + REGION_LEN, TASK_SIZE, factory);
    }
}

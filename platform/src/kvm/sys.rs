//! The KVM platform's host calls and raw memory: the Sentry-side mappings
//! of guest memory (bounds-checked, volatile accesses only: the guest may
//! change its own data pages while a vCPU runs), the kick signal, and the
//! one vCPU ioctl kvm-ioctls does not wrap.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

/// A shared or anonymous mapping that the platform owns and registers as
/// guest memory. It is unmapped on drop, after the VM (which the platform
/// drops first) has let go of it.
pub struct Mapping {
    base: *mut u8,
    len: usize,
}

// SAFETY: the mapping is plain memory owned by this value; every access goes
// through bounds-checked volatile reads and writes, which are as safe from
// any thread as from one (callers serialise what must be ordered).
unsafe impl Send for Mapping {}
// SAFETY: as for Send.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// `len` bytes of `fd` from offset 0, shared, read-write.
    pub fn of_file(fd: BorrowedFd<'_>, len: usize) -> io::Result<Mapping> {
        // SAFETY: a new mapping at an address of the kernel's choosing; the
        // result is checked.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_NORESERVE,
                fd.as_raw_fd(),
                0,
            )
        };
        Mapping::checked(base, len)
    }

    /// `len` bytes of zeroed anonymous memory.
    pub fn anonymous(len: usize) -> io::Result<Mapping> {
        // SAFETY: as in `of_file`, with no fd.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        Mapping::checked(base, len)
    }

    fn checked(base: *mut libc::c_void, len: usize) -> io::Result<Mapping> {
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // Stubs of the other platforms are forked from the Sentry; they
        // need none of this.
        // SAFETY: advice on the mapping just made.
        unsafe { libc::madvise(base, len, libc::MADV_DONTFORK) };
        Ok(Mapping { base: base.cast(), len })
    }

    /// The host address, for KVM_SET_USER_MEMORY_REGION.
    pub fn host_addr(&self) -> u64 {
        self.base as u64
    }

    pub fn len(&self) -> usize {
        self.len
    }

    fn at(&self, off: u64, n: usize) -> Option<*mut u8> {
        let off = usize::try_from(off).ok()?;
        (off.checked_add(n)? <= self.len).then(|| self.base.wrapping_add(off))
    }

    /// The u64 at `off` (8-aligned), or 0 outside the mapping.
    pub fn read_u64(&self, off: u64) -> u64 {
        match self.at(off, 8) {
            // SAFETY: in bounds (checked), 8-aligned for every caller's
            // offset (the base is page-aligned); a volatile read of plain
            // memory.
            Some(p) if off.is_multiple_of(8) => unsafe { p.cast::<u64>().read_volatile() },
            _ => 0,
        }
    }

    /// Writes the u64 at `off` (8-aligned); nothing outside the mapping.
    pub fn write_u64(&self, off: u64, v: u64) {
        if let Some(p) = self.at(off, 8).filter(|_| off.is_multiple_of(8)) {
            // SAFETY: as in `read_u64`.
            unsafe { p.cast::<u64>().write_volatile(v) }
        }
    }

    /// Copies `src` to `off`; nothing if it does not fit.
    pub fn write_bytes(&self, off: u64, src: &[u8]) {
        if let Some(p) = self.at(off, src.len()) {
            // SAFETY: in bounds (checked); `src` is ours and cannot overlap
            // a mapping the kernel made for us.
            unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), p, src.len()) }
        }
    }

    /// Zeroes `len` bytes at `off`; nothing if they do not fit.
    pub fn zero(&self, off: u64, len: usize) {
        if let Some(p) = self.at(off, len) {
            // SAFETY: in bounds (checked).
            unsafe { std::ptr::write_bytes(p, 0, len) }
        }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: our own mapping, unmapped once.
        unsafe { libc::munmap(self.base.cast(), self.len) };
    }
}

/// The size of the file behind `fd`.
pub fn file_size(fd: BorrowedFd<'_>) -> io::Result<u64> {
    // SAFETY: fstat fills the zeroed local.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(fd.as_raw_fd(), &mut st) != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(st.st_size as u64)
    }
}

/// The signal that kicks a vCPU thread out of KVM_RUN.
pub const KICK_SIGNAL: i32 = libc::SIGUSR2;

extern "C" fn on_kick(_sig: libc::c_int) {}

/// Installs the kick signal's handler (it does nothing: the signal only
/// has to interrupt KVM_RUN), once per process.
pub fn install_kick_handler() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: a zeroed sigaction with a handler that does nothing,
        // without SA_RESTART (KVM_RUN must return EINTR).
        unsafe {
            let mut act: libc::sigaction = std::mem::zeroed();
            let handler: extern "C" fn(libc::c_int) = on_kick;
            act.sa_sigaction = handler as usize;
            libc::sigemptyset(&mut act.sa_mask);
            libc::sigaction(KICK_SIGNAL, &act, std::ptr::null_mut());
        }
    });
}

fn kick_set() -> libc::sigset_t {
    // SAFETY: a set built in a local.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, KICK_SIGNAL);
        set
    }
}

/// Blocks the kick signal in the calling thread, so that it interrupts
/// nothing but KVM_RUN (which unblocks it: [`set_run_mask`]); returns the
/// thread's mask as it was.
pub fn block_kick() -> libc::sigset_t {
    let set = kick_set();
    // SAFETY: `set` and `old` are locals that outlive the call.
    unsafe {
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
        old
    }
}

/// KVM_SET_SIGNAL_MASK (`_IOW(KVMIO, 0x8b, struct kvm_signal_mask)`).
const KVM_SET_SIGNAL_MASK: libc::c_ulong = 0x4004_ae8b;

/// Has KVM_RUN on the vCPU behind `fd` run with `mask` less the kick
/// signal blocked.
pub fn set_run_mask(fd: RawFd, mut mask: libc::sigset_t) -> io::Result<()> {
    #[repr(C)]
    struct SignalMask {
        len: u32,
        set: u64,
    }
    // SAFETY: removes one signal from our local set.
    unsafe { libc::sigdelset(&mut mask, KICK_SIGNAL) };
    // The kernel's sigset is the first 64 bits of glibc's.
    // SAFETY: sigset_t is at least 8 bytes of plain data.
    let set = unsafe { std::ptr::addr_of!(mask).cast::<u64>().read_unaligned() };
    let m = SignalMask { len: 8, set };
    // SAFETY: the kernel reads the 4-byte header and `len` bytes after it
    // from our local.
    let r = unsafe { libc::ioctl(fd, KVM_SET_SIGNAL_MASK as _, &m as *const SignalMask) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Takes a pending kick signal, if any, without waiting: it stays pending
/// (blocked) after the KVM_RUN it cut short, and would cut the next one
/// short too.
pub fn eat_kick() {
    let set = kick_set();
    let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: the kernel reads the set and the timeout from our locals and
    // writes no siginfo (null).
    unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &zero) };
}

/// The calling thread's id.
pub fn gettid() -> i32 {
    // SAFETY: gettid takes no arguments.
    unsafe { libc::gettid() }
}

/// Sends the kick signal to thread `tid` of this process.
pub fn kick(tid: i32) {
    // SAFETY: tgkill takes no pointers; a thread that has gone yields ESRCH.
    unsafe {
        libc::syscall(libc::SYS_tgkill, libc::getpid(), tid, KICK_SIGNAL);
    }
}

/// KVM_INTERRUPT (`_IOW(KVMIO, 0x86, struct kvm_interrupt)`).
const KVM_INTERRUPT: libc::c_ulong = 0x4004_ae86;

/// Queues external interrupt `vector` on the vCPU behind `fd`.
pub fn interrupt(fd: RawFd, vector: u32) -> io::Result<()> {
    // SAFETY: the kernel reads one u32 from our local.
    let r = unsafe { libc::ioctl(fd, KVM_INTERRUPT as _, &vector as *const u32) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A pointer to a vCPU's `kvm_run.immediate_exit`, for another thread to
/// set.
#[derive(Clone, Copy)]
pub struct ImmediateExit(pub *mut u8);

// SAFETY: the byte lives in the vCPU's kvm_run mapping, which outlives every
// holder of this pointer (the context owns both and clears the pointer's
// holders before dropping the vCPU); it is only written with volatile
// single-byte stores, which KVM reads at its next entry.
unsafe impl Send for ImmediateExit {}
// SAFETY: as for Send.
unsafe impl Sync for ImmediateExit {}

impl ImmediateExit {
    pub fn set(&self, v: u8) {
        if !self.0.is_null() {
            // SAFETY: see the Send impl.
            unsafe { self.0.write_volatile(v) }
        }
    }
}

/// A one-page memfd holding `code` at offset 0, for the probe's guest.
pub fn probe_memfd(code: &[u8]) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: memfd_create with a static NUL-terminated name.
    let raw = unsafe { libc::memfd_create(c"husk-kvm-probe".as_ptr(), libc::MFD_CLOEXEC) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh fd that nothing else owns.
    let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) };
    // SAFETY: plain calls on our own fd; `code` is ours to read.
    unsafe {
        if libc::ftruncate(fd.as_raw_fd(), 4096) != 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::pwrite(fd.as_raw_fd(), code.as_ptr().cast(), code.len(), 0) != code.len() as isize {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(fd)
}

/// Opens /dev/kvm, close-on-exec.
pub fn open_dev_kvm() -> io::Result<std::os::fd::OwnedFd> {
    std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm").map(std::os::fd::OwnedFd::from)
}

/// A close-on-exec copy of `fd` (fcntl's F_DUPFD_CLOEXEC, which the
/// Sentry's filter allows).
pub fn dup(fd: BorrowedFd<'_>) -> io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: fcntl on an fd we borrow; the new fd is ours.
    let r = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 0) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a fresh fd that nothing else owns.
    Ok(unsafe { std::os::fd::OwnedFd::from_raw_fd(r) })
}

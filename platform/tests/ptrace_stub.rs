//! Drives a real stub: maps a page of a memfd, runs a few instructions of app
//! code that make a syscall, and checks that the syscall stops in the platform
//! instead of running on the host.

use std::os::fd::{AsFd, FromRawFd, OwnedFd};

use platform::ptrace::PtracePlatform;
use platform::{Platform, Prot, Regs, SwitchOutcome};

fn memfd(len: u64) -> OwnedFd {
    // SAFETY: memfd_create with a static C string; the fd is checked and owned.
    let fd = unsafe { libc::memfd_create(c"test-mem".as_ptr(), libc::MFD_CLOEXEC) };
    assert!(fd >= 0);
    // SAFETY: fd was just returned by memfd_create.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: plain call on our fd.
    let r = unsafe { libc::ftruncate(fd.as_fd().as_raw_fd(), len as i64) };
    assert_eq!(r, 0);
    fd
}

use std::os::fd::AsRawFd;

/// getpid, then a store of its result to address 8.
#[cfg(target_arch = "x86_64")]
// mov eax, 39; syscall; mov qword ptr [8], rax
const GETPID_THEN_STORE: &[u8] =
    &[0xb8, 0x27, 0x00, 0x00, 0x00, 0x0f, 0x05, 0x48, 0x89, 0x04, 0x25, 0x08, 0x00, 0x00, 0x00, 0x90, 0x90];
#[cfg(target_arch = "aarch64")]
// mov x8, #172; svc #0; mov x1, #8; str x0, [x1]
const GETPID_THEN_STORE: &[u8] =
    &[0x88, 0x15, 0x80, 0xd2, 0x01, 0x00, 0x00, 0xd4, 0x01, 0x01, 0x80, 0xd2, 0x20, 0x00, 0x00, 0xf9];

/// A syscall whose number is loaded from 0x501000.
#[cfg(target_arch = "x86_64")]
// mov rax, [0x500000 + 4096]; syscall
const LOADED_SYSCALL: &[u8] = &[0x48, 0x8b, 0x04, 0x25, 0x00, 0x10, 0x50, 0x00, 0x0f, 0x05];
#[cfg(target_arch = "aarch64")]
// mov x9, #0x500000; movk x9, #0x1000; ldr x8, [x9]; svc #0
const LOADED_SYSCALL: &[u8] =
    &[0x09, 0x0a, 0xa0, 0xd2, 0x09, 0x00, 0x82, 0xf2, 0x28, 0x01, 0x40, 0xf9, 0x01, 0x00, 0x00, 0xd4];

#[test]
fn syscall_stops_and_fault_reports_address() {
    let mem = memfd(2 * 4096);
    // App code at file offset 0.
    let code = GETPID_THEN_STORE;
    // SAFETY: writing our own buffer into our own memfd at offset 0.
    let n = unsafe { libc::pwrite(mem.as_raw_fd(), code.as_ptr().cast(), code.len(), 0) };
    assert_eq!(n, code.len() as isize);

    let platform = PtracePlatform::new(mem.as_fd()).expect("platform");
    assert!(platform.max_user_address() > 0x1000_0000);
    let mut space = platform.new_address_space().expect("address space");
    let base = 0x40_0000;
    space.map_file(base, 4096, 0, Prot(Prot::READ | Prot::EXEC)).unwrap();
    let mut ctx = platform.new_context();
    let mut regs = Regs::for_entry(base, 0);

    let out = ctx.switch(space.as_mut(), &mut regs).unwrap();
    assert_eq!(out, SwitchOutcome::Syscall);
    assert_eq!(regs.syscall_nr(), libc::SYS_getpid as u64);
    regs.set_return(4242);

    let out = ctx.switch(space.as_mut(), &mut regs).unwrap();
    match out {
        SwitchOutcome::Fault { signo, addr, access, .. } => {
            assert_eq!(signo, libc::SIGSEGV as u32);
            assert_eq!(addr, 8);
            // arm64 decodes the faulting instruction (x86_64's ptrace
            // reports fetches only).
            if cfg!(target_arch = "aarch64") {
                assert_eq!(access, Some(platform::Access::Write));
            }
        }
        other => panic!("expected a fault, got {other:?}"),
    }
    // The emulated result, not the host's pid, reached the app.
    assert_eq!(regs.return_value(), 4242);
}

#[test]
fn mapping_is_shared_with_the_memory_file() {
    let mem = memfd(2 * 4096);
    let code = LOADED_SYSCALL;
    // SAFETY: writes into our own memfd.
    unsafe {
        libc::pwrite(mem.as_raw_fd(), code.as_ptr().cast(), code.len(), 0);
        let v: u64 = 0x1122_3344_5566_7788;
        libc::pwrite(mem.as_raw_fd(), (&v as *const u64).cast(), 8, 4096);
    }
    let platform = PtracePlatform::new(mem.as_fd()).unwrap();
    let mut space = platform.new_address_space().unwrap();
    space.map_file(0x50_0000, 8192, 0, Prot(Prot::READ | Prot::EXEC)).unwrap();
    let mut ctx = platform.new_context();
    let mut regs = Regs::for_entry(0x50_0000, 0);
    assert_eq!(ctx.switch(space.as_mut(), &mut regs).unwrap(), SwitchOutcome::Syscall);
    // The loaded value became the syscall number.
    assert_eq!(regs.syscall_nr(), 0x1122_3344_5566_7788);
    // Unmapping makes the next access fault.
    space.unmap(0x50_1000, 4096).unwrap();
    let mut regs = Regs::for_entry(0x50_0000, 0);
    assert!(matches!(ctx.switch(space.as_mut(), &mut regs).unwrap(), SwitchOutcome::Fault { addr: 0x50_1000, .. }));
}

/// arm64 hides x7 at a syscall stop (and ignores writes to it there); the
/// platform reads it at a trap of the stub page instead, where writes work
/// too. The thread pointer, which app code sets itself, is read back.
#[cfg(target_arch = "aarch64")]
#[test]
fn arm64_syscall_stops_show_x7_and_the_thread_pointer() {
    let mem = memfd(4096);
    // mov x7, #0x77; mov x9, #0x1234; msr tpidr_el0, x9; mov x0, #5;
    // mov x8, #172; svc #0; mov x8, x7; svc #0
    let code: &[u8] = &[
        0xe7, 0x0e, 0x80, 0xd2, 0x89, 0x46, 0x82, 0xd2, 0x49, 0xd0, 0x1b, 0xd5, 0xa0, 0x00, 0x80, 0xd2, 0x88, 0x15,
        0x80, 0xd2, 0x01, 0x00, 0x00, 0xd4, 0xe8, 0x03, 0x07, 0xaa, 0x01, 0x00, 0x00, 0xd4,
    ];
    // SAFETY: writing our own buffer into our own memfd at offset 0.
    let n = unsafe { libc::pwrite(mem.as_raw_fd(), code.as_ptr().cast(), code.len(), 0) };
    assert_eq!(n, code.len() as isize);
    let platform = PtracePlatform::new(mem.as_fd()).unwrap();
    let mut space = platform.new_address_space().unwrap();
    space.map_file(0x40_0000, 4096, 0, Prot(Prot::READ | Prot::EXEC)).unwrap();
    let mut ctx = platform.new_context();
    let mut regs = Regs::for_entry(0x40_0000, 0);
    assert_eq!(ctx.switch(space.as_mut(), &mut regs).unwrap(), SwitchOutcome::Syscall);
    assert_eq!(regs.syscall_nr(), libc::SYS_getpid as u64);
    assert_eq!(regs.regs[7], 0x77);
    assert_eq!(regs.tls(), 0x1234);
    assert_eq!(regs.syscall_args()[0], 5);
    assert_eq!(regs.pc, 0x40_0000 + 6 * 4, "after the svc");
    // The Sentry's change of x7 (as rt_sigreturn makes) reaches the app.
    regs.regs[7] = 0x99;
    regs.set_return(0);
    assert_eq!(ctx.switch(space.as_mut(), &mut regs).unwrap(), SwitchOutcome::Syscall);
    assert_eq!(regs.syscall_nr(), 0x99);
}

/// The stub shows the host the command line it is given (its
/// /proc/PID/cmdline, what `ps` prints), cut to what fits, and the app
/// runs on as before.
#[test]
fn the_stub_shows_the_apps_command_line() {
    let mem = memfd(2 * 4096);
    // SAFETY: writes into our own memfd.
    unsafe { libc::pwrite(mem.as_raw_fd(), GETPID_THEN_STORE.as_ptr().cast(), GETPID_THEN_STORE.len(), 0) };
    let platform = PtracePlatform::new(mem.as_fd()).unwrap();
    let mut space = platform.new_address_space().unwrap();
    let pid = space.host_pid().unwrap();
    space.show_args(b"sleep\x001000\0").unwrap();
    assert_eq!(std::fs::read(format!("/proc/{pid}/cmdline")).unwrap(), b"sleep\x001000\0");
    let long = vec![b'x'; 10_000];
    space.show_args(&long).unwrap();
    let shown = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(shown.len() > 1000 && shown.len() < 4096 && shown.ends_with(b"x\0"), "{}", shown.len());
    space.map_file(0x40_0000, 4096, 0, Prot(Prot::READ | Prot::EXEC)).unwrap();
    let mut ctx = platform.new_context();
    let mut regs = Regs::for_entry(0x40_0000, 0);
    assert_eq!(ctx.switch(space.as_mut(), &mut regs).unwrap(), SwitchOutcome::Syscall);
    assert_eq!(regs.syscall_nr(), libc::SYS_getpid as u64);
}

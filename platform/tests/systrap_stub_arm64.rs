//! Drives a real systrap stub on arm64 (`systrap_stub.rs` is x86_64's):
//! maps pages of a memfd, runs a few A64 instructions of app code that make
//! syscalls and fault, and checks that each syscall stops in the platform
//! (with the registers as a PTRACE_SYSEMU stop shows them) instead of
//! running on the host, that faults carry the ESR's access, and that
//! registers, `tpidr_el0` and the FP/SIMD state go both ways. qemu-user
//! cannot run it (it refuses seccomp filters); `tests/arm64/kernel.sh` runs
//! it on an arm64 kernel.
#![cfg(target_arch = "aarch64")]

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};

use platform::systrap::SystrapPlatform;
use platform::{Access, FpState, Platform, PlatformError, Prot, Regs, SwitchOutcome};

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

fn pwrite(fd: &OwnedFd, data: &[u8], off: u64) {
    // SAFETY: writes our own buffer into our own memfd.
    let n = unsafe { libc::pwrite(fd.as_raw_fd(), data.as_ptr().cast(), data.len(), off as i64) };
    assert_eq!(n, data.len() as isize);
}

/// Writes A64 instructions at `off`.
fn code(fd: &OwnedFd, insns: &[u32], off: u64) {
    let bytes: Vec<u8> = insns.iter().flat_map(|i| i.to_le_bytes()).collect();
    pwrite(fd, &bytes, off);
}

const RX: Prot = Prot(Prot::READ | Prot::EXEC);
const SVC: u32 = 0xd400_0001;
const GETPID: u64 = 172;

/// mov x8, #172; svc #0; mov x1, #8; str x0, [x1]
const GETPID_THEN_FAULT: [u32; 4] = [0xd280_1588, SVC, 0xd280_0101, 0xf900_0020];

#[test]
fn syscall_stops_and_fault_reports_address() {
    let mem = memfd(2 * 4096);
    code(&mem, &GETPID_THEN_FAULT, 0);
    let platform = SystrapPlatform::new(mem.as_fd()).expect("platform");
    assert_eq!(platform.name(), "systrap");
    assert!(platform.max_user_address() > 0x1000_0000);
    let mut space = platform.new_address_space().expect("address space");
    let base = 0x40_0000;
    space.map_file(base, 4096, 0, RX).unwrap();
    let mut ctx = platform.new_context();
    let mut regs = Regs::for_entry(base, 0);
    regs.regs[0] = 0x1234;

    assert_eq!(ctx.switch(space.as_mut(), &mut regs).unwrap(), SwitchOutcome::Syscall);
    assert_eq!(regs.syscall_nr(), GETPID);
    // As at a PTRACE_SYSEMU stop: x0 still the first argument, pc after
    // the svc.
    assert_eq!(regs.syscall_args()[0], 0x1234);
    assert_eq!(regs.regs[0], 0x1234);
    assert_eq!(regs.pc, base + 8);
    regs.set_return(4242);

    match ctx.switch(space.as_mut(), &mut regs).unwrap() {
        SwitchOutcome::Fault { signo, addr, code, access, syndrome } => {
            assert_eq!(signo, libc::SIGSEGV as u32);
            assert_eq!(addr, 8);
            assert_eq!(code, 1, "SEGV_MAPERR");
            assert_eq!(access, Some(Access::Write), "from the frame's esr_context");
            // The host's ESR: a data abort from EL0 (EC 0x24), a write (WnR).
            let esr = syndrome.expect("the host's ESR").code;
            assert_eq!((esr >> 26, esr & (1 << 6)), (0x24, 1 << 6), "{esr:#x}");
        }
        other => panic!("expected a fault, got {other:?}"),
    }
    // The emulated result, not the host's pid, reached the app.
    assert_eq!(regs.regs[0], 4242);
    assert_eq!(regs.syscall_nr(), u64::MAX);
    assert_eq!(regs.pc, base + 12);
}

#[test]
fn mapping_is_shared_with_the_memory_file() {
    let mem = memfd(2 * 4096);
    // movz x1, #0x50, lsl #16; movk x1, #0x1000; ldr x8, [x1]; svc #0
    code(&mem, &[0xd2a0_0a01, 0xf282_0001, 0xf940_0028, SVC], 0);
    pwrite(&mem, &0x1122_3344_5566_7788u64.to_le_bytes(), 4096);
    let platform = SystrapPlatform::new(mem.as_fd()).unwrap();
    let mut space = platform.new_address_space().unwrap();
    space.map_file(0x50_0000, 8192, 0, RX).unwrap();
    let mut ctx = platform.new_context();
    let mut regs = Regs::for_entry(0x50_0000, 0);
    assert_eq!(ctx.switch(space.as_mut(), &mut regs).unwrap(), SwitchOutcome::Syscall);
    assert_eq!(regs.syscall_nr(), 0x1122_3344_5566_7788);
    // Unmapping makes the next access fault, a read.
    space.unmap(0x50_1000, 4096).unwrap();
    let mut regs = Regs::for_entry(0x50_0000, 0);
    let out = ctx.switch(space.as_mut(), &mut regs).unwrap();
    assert!(matches!(out, SwitchOutcome::Fault { addr: 0x50_1000, access: Some(Access::Read), .. }), "{out:?}");
    // Protecting the code page makes the next fetch fault.
    space.protect(0x50_0000, 4096, Prot(Prot::READ)).unwrap();
    let mut regs = Regs::for_entry(0x50_0000, 0);
    let out = ctx.switch(space.as_mut(), &mut regs).unwrap();
    assert!(matches!(out, SwitchOutcome::Fault { addr: 0x50_0000, access: Some(Access::Exec), .. }), "{out:?}");
    // A request the host refuses is an error, not a hang.
    assert!(matches!(
        space.map_file(0x50_0000, 4096, 1 << 40, RX),
        Err(PlatformError::AddressSpaceOp { op: "mmap", .. }) | Ok(())
    ));
}

#[test]
fn registers_round_trip_both_ways() {
    let mem = memfd(4096);
    code(&mem, &[SVC, SVC], 0);
    let platform = SystrapPlatform::new(mem.as_fd()).unwrap();
    let mut space = platform.new_address_space().unwrap();
    space.map_file(0x60_0000, 4096, 0, RX).unwrap();
    let mut ctx = platform.new_context();
    let mut regs = Regs::for_entry(0x60_0000, 0x7000_0000);
    for (i, r) in regs.regs.iter_mut().enumerate() {
        *r = 0x100 + i as u64;
    }
    regs.pstate = 0x2000_0000; // C
    let before = regs;
    assert_eq!(ctx.switch(space.as_mut(), &mut regs).unwrap(), SwitchOutcome::Syscall);
    assert_eq!(regs.syscall_nr(), 0x108);
    assert_eq!(regs.syscall_args(), [0x100, 0x101, 0x102, 0x103, 0x104, 0x105]);
    assert_eq!(regs.regs, before.regs, "every register as the app left it");
    assert_eq!((regs.sp, regs.pc), (0x7000_0000, 0x60_0004));
    assert_eq!(regs.pstate & 0xf000_0000, 0x2000_0000);
    // What the Sentry writes is what the app sees at its next syscall.
    regs.set_return(0x4444);
    regs.regs[8] = 0x5555;
    regs.regs[19] = 0x6666;
    regs.regs[30] = 0x7777;
    regs.sp = 0x7000_1000;
    // A privileged PSTATE is not loaded (it would kill the stub).
    regs.pstate = 0x4000_0000 | 0x3c5;
    assert_eq!(ctx.switch(space.as_mut(), &mut regs).unwrap(), SwitchOutcome::Syscall);
    assert_eq!(regs.syscall_nr(), 0x5555);
    assert_eq!((regs.regs[0], regs.regs[19], regs.regs[30], regs.sp), (0x4444, 0x6666, 0x7777, 0x7000_1000));
    assert_eq!(regs.pc, 0x60_0008);
    assert_eq!(regs.pstate & 0xf000_0000, 0x4000_0000);
    assert_eq!(regs.pstate & 0x3cf, 0, "EL0t, no masked exceptions");
}

#[test]
fn tpidr_el0_follows_the_registers_both_ways() {
    let mem = memfd(4096);
    // mrs x8, tpidr_el0; svc #0; msr tpidr_el0, x9; svc #0; mrs x8, tpidr_el0; svc #0
    code(&mem, &[0xd53b_d048, SVC, 0xd51b_d049, SVC, 0xd53b_d048, SVC], 0);
    let platform = SystrapPlatform::new(mem.as_fd()).unwrap();
    let mut space = platform.new_address_space().unwrap();
    space.map_file(0x70_0000, 4096, 0, RX).unwrap();
    let mut ctx = platform.new_context();
    let mut regs = Regs::for_entry(0x70_0000, 0);
    regs.set_tls(0x71_0000);
    assert_eq!(ctx.switch(space.as_mut(), &mut regs).unwrap(), SwitchOutcome::Syscall);
    assert_eq!(regs.syscall_nr(), 0x71_0000, "the app reads what the Sentry set");
    assert_eq!(regs.tls(), 0x71_0000);
    // The app sets it itself: the next stop shows it.
    regs.regs[9] = 0xdead_beef;
    assert_eq!(ctx.switch(space.as_mut(), &mut regs).unwrap(), SwitchOutcome::Syscall);
    assert_eq!(regs.tls(), 0xdead_beef);
    regs.set_tls(0x72_0000);
    assert_eq!(ctx.switch(space.as_mut(), &mut regs).unwrap(), SwitchOutcome::Syscall);
    assert_eq!(regs.syscall_nr(), 0x72_0000);
}

#[test]
fn many_round_trips() {
    let mem = memfd(4096);
    // loop: mov x8, #172; svc #0; b loop
    code(&mem, &[0xd280_1588, SVC, 0x17ff_fffe], 0);
    let platform = SystrapPlatform::new(mem.as_fd()).unwrap();
    let mut space = platform.new_address_space().unwrap();
    space.map_file(0x40_0000, 4096, 0, RX).unwrap();
    let mut ctx = platform.new_context();
    let mut regs = Regs::for_entry(0x40_0000, 0);
    for i in 0..5_000u64 {
        let out = ctx.switch(space.as_mut(), &mut regs).unwrap();
        assert_eq!(out, SwitchOutcome::Syscall, "round trip {i}");
        assert_eq!(regs.syscall_nr(), GETPID);
        regs.set_return(i);
    }
}

#[test]
fn dead_stub_is_an_error() {
    let mem = memfd(4096);
    code(&mem, &[0x1400_0000], 0); // b .
    let platform = SystrapPlatform::new(mem.as_fd()).unwrap();
    let mut space = platform.new_address_space().unwrap();
    space.map_file(0x40_0000, 4096, 0, RX).unwrap();
    let pid = SystrapPlatform::downcast(space.as_mut()).unwrap().host_pid();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(300));
        // SAFETY: plain kill of our own child.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    });
    let mut ctx = platform.new_context();
    let mut regs = Regs::for_entry(0x40_0000, 0);
    let r = ctx.switch(space.as_mut(), &mut regs);
    killer.join().unwrap();
    assert!(matches!(r, Err(PlatformError::StubDied { pid: p, .. }) if p == pid), "{r:?}");
    assert!(space.unmap(0x40_0000, 4096).is_err());
    assert!(ctx.switch(space.as_mut(), &mut regs).is_err());
}

#[test]
fn app_cannot_use_the_stubs_privileges() {
    let mem = memfd(4096);
    // mov x8, #94; mov x0, #3; svc #0; udf #0: exit_group(3) only traps.
    code(&mem, &[0xd280_0bc8, 0xd280_0060, SVC, 0], 0);
    let platform = SystrapPlatform::new(mem.as_fd()).unwrap();
    let mut space = platform.new_address_space().unwrap();
    space.map_file(0x40_0000, 4096, 0, RX).unwrap();
    let mut ctx = platform.new_context();
    let mut regs = Regs::for_entry(0x40_0000, 0);
    assert_eq!(ctx.switch(space.as_mut(), &mut regs).unwrap(), SwitchOutcome::Syscall);
    assert_eq!(regs.syscall_nr(), 94);
    let out = ctx.switch(space.as_mut(), &mut regs).unwrap();
    assert!(matches!(out, SwitchOutcome::Fault { signo, access: None, .. } if signo == libc::SIGILL as u32), "{out:?}");
}

#[test]
fn probe_succeeds() {
    platform::systrap::probe().expect("systrap works on this host");
}

#[test]
fn interrupt_stops_a_running_thread() {
    let mem = memfd(4096);
    code(&mem, &[0x1400_0000], 0); // b .
    let platform = SystrapPlatform::new(mem.as_fd()).unwrap();
    let mut space = platform.new_address_space().unwrap();
    space.map_file(0x40_0000, 4096, 0, RX).unwrap();
    let mut ctx = platform.new_context();
    let interrupter = ctx.interrupter().expect("systrap contexts can be interrupted");
    let mut regs = Regs::for_entry(0x40_0000, 0);
    let t = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(200));
        interrupter.interrupt();
    });
    assert_eq!(ctx.switch(space.as_mut(), &mut regs).unwrap(), SwitchOutcome::Interrupted);
    t.join().unwrap();
    assert_eq!(regs.pc, 0x40_0000);
    assert_eq!(regs.syscall_nr(), u64::MAX);
}

#[test]
fn a_sigsys_from_outside_is_ignored() {
    let mem = memfd(4096);
    // loop: subs x0, x0, #1; b.ne loop; svc #0
    code(&mem, &[0xf100_0400, 0x54ff_ffe1, SVC], 0);
    let platform = SystrapPlatform::new(mem.as_fd()).unwrap();
    let mut space = platform.new_address_space().unwrap();
    space.map_file(0x40_0000, 4096, 0, RX).unwrap();
    let pid = SystrapPlatform::downcast(space.as_mut()).unwrap().host_pid();
    let mut ctx = platform.new_context();
    let mut regs = Regs::for_entry(0x40_0000, 0);
    regs.regs[0] = 1 << 27;
    regs.regs[8] = 39;
    let t = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(20));
        // SAFETY: plain kill of our own child.
        unsafe { libc::kill(pid, libc::SIGSYS) };
    });
    assert_eq!(ctx.switch(space.as_mut(), &mut regs).unwrap(), SwitchOutcome::Syscall);
    t.join().unwrap();
    assert_eq!(regs.pc, 0x40_000c);
    assert_eq!((regs.regs[0], regs.syscall_nr()), (0, 39), "x0 counted down to 0");
}

#[test]
fn fp_state_is_read_and_written_in_the_frame() {
    let mem = memfd(4096);
    // fmov d1, x0; svc #0; fmov x8, d0; svc #0
    code(&mem, &[0x9e67_0001, SVC, 0x9e66_0008, SVC], 0);
    let platform = SystrapPlatform::new(mem.as_fd()).unwrap();
    let mut space = platform.new_address_space().unwrap();
    space.map_file(0x40_0000, 4096, 0, RX).unwrap();
    let mut ctx = platform.new_context();
    let mut fp = FpState::default();
    // Nothing to read before the thread first ran.
    assert!(!ctx.get_fp_state(space.as_mut(), &mut fp).unwrap());
    let mut regs = Regs::for_entry(0x40_0000, 0);
    regs.regs[0] = 0x0123_4567_89ab_cdef;
    assert_eq!(ctx.switch(space.as_mut(), &mut regs).unwrap(), SwitchOutcome::Syscall);
    assert!(ctx.get_fp_state(space.as_mut(), &mut fp).unwrap());
    // user_fpsimd_state: V1 at 16.
    assert_eq!(fp.bytes[16..24], 0x0123_4567_89ab_cdefu64.to_le_bytes());
    assert_eq!(fp.fpcr(), 0);
    // V0 := 0x1111..., which the app then reads back as the syscall number.
    fp.bytes[..8].copy_from_slice(&0x1111_2222_3333_4444u64.to_le_bytes());
    assert!(ctx.set_fp_state(space.as_mut(), &fp).unwrap());
    regs.set_return(0);
    assert_eq!(ctx.switch(space.as_mut(), &mut regs).unwrap(), SwitchOutcome::Syscall);
    assert_eq!(regs.syscall_nr(), 0x1111_2222_3333_4444);
}

#[test]
fn fp_state_staged_before_the_first_run_is_loaded() {
    let mem = memfd(4096);
    // fmov x8, d0; mrs x9, fpcr; svc #0
    code(&mem, &[0x9e66_0008, 0xd53b_4409, SVC], 0);
    let platform = SystrapPlatform::new(mem.as_fd()).unwrap();
    let mut space = platform.new_address_space().unwrap();
    space.map_file(0x40_0000, 4096, 0, RX).unwrap();
    let mut ctx = platform.new_context();
    let mut fp = FpState::default();
    fp.bytes[..8].copy_from_slice(&0x0abc_def0_1234_5678u64.to_le_bytes());
    fp.set_fpcr(0x0040_0000); // round towards +infinity
    assert!(ctx.set_fp_state(space.as_mut(), &fp).unwrap());
    let mut back = FpState::default();
    assert!(ctx.get_fp_state(space.as_mut(), &mut back).unwrap());
    assert_eq!(back, fp);
    let mut regs = Regs::for_entry(0x40_0000, 0);
    assert_eq!(ctx.switch(space.as_mut(), &mut regs).unwrap(), SwitchOutcome::Syscall);
    assert_eq!((regs.syscall_nr(), regs.regs[9]), (0x0abc_def0_1234_5678, 0x0040_0000));
}

/// The host's view of process `pid`: (parent pid, fds open, session id).
fn host_view(pid: i32) -> (i32, usize, i32) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let ppid = status.lines().find_map(|l| l.strip_prefix("PPid:")).unwrap().trim().parse().unwrap();
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let session = after.split(' ').nth(3).unwrap().parse().unwrap();
    (ppid, fds, session)
}

/// Runs `getpid` once in `space` and answers it with `answer`, then the
/// app stores the answer at 8, which faults: the stub works.
fn round_trip(platform: &SystrapPlatform, space: &mut dyn platform::AddressSpace, answer: u64) {
    space.map_file(0x40_0000, 4096, 0, RX).unwrap();
    let mut ctx = platform.new_context();
    let mut regs = Regs::for_entry(0x40_0000, 0);
    assert_eq!(ctx.switch(space, &mut regs).unwrap(), SwitchOutcome::Syscall);
    assert_eq!(regs.syscall_nr(), GETPID);
    regs.set_return(answer);
    assert!(matches!(ctx.switch(space, &mut regs).unwrap(), SwitchOutcome::Fault { addr: 8, .. }));
    assert_eq!(regs.regs[0], answer);
}

#[test]
fn the_factory_clones_stubs_as_forked_ones() {
    let mem = memfd(4096);
    code(&mem, &GETPID_THEN_FAULT, 0);
    let platform = SystrapPlatform::new(mem.as_fd()).unwrap();
    // SAFETY: getpid takes nothing.
    let me = unsafe { libc::getpid() };
    let mut first = platform.new_address_space().unwrap();
    assert_eq!(platform.factory_pid(), None);
    let mut spaces: Vec<_> = (0..3).map(|_| platform.new_address_space().unwrap()).collect();
    let factory = platform.factory_pid().expect("a factory after the second address space");
    let (factory_parent, factory_fds, factory_session) = host_view(factory);
    assert_eq!(factory_parent, me);
    assert_eq!(factory_fds, 2, "the factory keeps the memory file and the control pool");
    assert_eq!(factory_session, factory);
    for (i, space) in spaces.iter_mut().enumerate() {
        let pid = SystrapPlatform::downcast(space.as_mut()).unwrap().host_pid();
        let (parent, fds, session) = host_view(pid);
        assert_eq!(parent, me, "a cloned stub is the Sentry's child");
        assert_eq!(fds, 1, "a cloned stub keeps only the memory file");
        assert_eq!(session, factory);
        round_trip(&platform, space.as_mut(), 1000 + i as u64);
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        assert!(status.lines().any(|l| l.starts_with("Seccomp:") && l.ends_with('2')), "filtered");
    }
    round_trip(&platform, first.as_mut(), 7);
    drop(spaces);
    let mut again = platform.new_address_space().unwrap();
    round_trip(&platform, again.as_mut(), 8);
}

#[test]
fn queued_changes_beyond_one_batch_are_all_made_before_the_app_runs() {
    let pages = 200u64;
    let mem = memfd(pages * 4096);
    // ldr x8, [x1]; svc #0, with x1 at the last page, which holds 77.
    code(&mem, &[0xf940_0028, SVC], 0);
    pwrite(&mem, &77u64.to_le_bytes(), (pages - 1) * 4096);
    let platform = SystrapPlatform::new(mem.as_fd()).unwrap();
    let mut space = platform.new_address_space().unwrap();
    for i in 0..pages {
        space.map_file(0x40_0000 + i * 4096, 4096, i * 4096, Prot(Prot::READ | Prot::WRITE)).unwrap();
    }
    space.protect(0x40_0000, 4096, RX).unwrap();
    space.protect(0x40_1000, (pages - 1) * 4096, Prot(Prot::READ)).unwrap();
    let mut ctx = platform.new_context();
    let mut regs = Regs::for_entry(0x40_0000, 0);
    regs.regs[1] = 0x40_0000 + (pages - 1) * 4096;
    assert_eq!(ctx.switch(space.as_mut(), &mut regs).unwrap(), SwitchOutcome::Syscall);
    assert_eq!(regs.syscall_nr(), 77);
}

#[test]
fn a_failed_queued_change_is_an_error_at_the_switch() {
    let mem = memfd(4096);
    code(&mem, &GETPID_THEN_FAULT, 0);
    let platform = SystrapPlatform::new(mem.as_fd()).unwrap();
    let mut space = platform.new_address_space().unwrap();
    space.map_file(0x40_0000, 4096, 0, RX).unwrap();
    space.map_file(0x50_0001, 4096, 0, RX).unwrap();
    let mut ctx = platform.new_context();
    let mut regs = Regs::for_entry(0x40_0000, 0);
    let r = ctx.switch(space.as_mut(), &mut regs);
    assert!(matches!(r, Err(PlatformError::AddressSpaceOp { op: "mmap", errno: libc::EINVAL, .. })), "{r:?}");
    assert_eq!(regs.pc, 0x40_0000);
    // The stub lives on: the next switch runs the app.
    assert_eq!(ctx.switch(space.as_mut(), &mut regs).unwrap(), SwitchOutcome::Syscall);
}

/// The stub shows the host the command line it is given (its
/// /proc/PID/cmdline, what `ps` prints), cut to a page, and the app runs
/// on as before.
#[test]
fn the_stub_shows_the_apps_command_line() {
    let mem = memfd(4096);
    code(&mem, &[0xd280_1588, SVC], 0); // mov x8, #172; svc #0
    let platform = SystrapPlatform::new(mem.as_fd()).unwrap();
    let mut space = platform.new_address_space().unwrap();
    let pid = space.host_pid().unwrap();
    let mut ctx = platform.new_context();
    let long = vec![b'x'; 10_000];
    for cmdline in [&b"sleep\x001000\0"[..], &long] {
        space.map_file(0x40_0000, 4096, 0, RX).unwrap();
        space.show_args(cmdline).unwrap();
        let mut regs = Regs::for_entry(0x40_0000, 0);
        assert_eq!(ctx.switch(space.as_mut(), &mut regs).unwrap(), SwitchOutcome::Syscall);
        assert_eq!(regs.syscall_nr(), GETPID);
        let shown = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        if cmdline.len() < 4096 {
            assert_eq!(shown, cmdline);
        } else {
            assert_eq!(shown.len(), 4096);
            assert!(shown.ends_with(b"x\0"));
        }
    }
}

//! Drives a real systrap stub: maps pages of a memfd, runs a few instructions
//! of app code that make syscalls and fault, and checks that each syscall
//! stops in the platform (with the registers as ptrace would show them)
//! instead of running on the host.
//!
//! x86_64 only, as the systrap stub is.
#![cfg(target_arch = "x86_64")]

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

const RX: Prot = Prot(Prot::READ | Prot::EXEC);

#[test]
fn syscall_stops_and_fault_reports_address() {
    let mem = memfd(2 * 4096);
    // mov eax, 39; syscall; mov qword ptr [8], rax
    let code: [u8; 17] =
        [0xb8, 0x27, 0x00, 0x00, 0x00, 0x0f, 0x05, 0x48, 0x89, 0x04, 0x25, 0x08, 0x00, 0x00, 0x00, 0x90, 0x90];
    pwrite(&mem, &code, 0);

    let platform = SystrapPlatform::new(mem.as_fd()).expect("platform");
    assert_eq!(platform.name(), "systrap");
    assert!(platform.max_user_address() > 0x1000_0000);
    let mut space = platform.new_address_space().expect("address space");
    let base = 0x40_0000;
    space.map_file(base, 4096, 0, RX).unwrap();
    let mut ctx = platform.new_context();
    let mut regs = Regs::for_entry(base, 0);

    let out = ctx.switch(space.as_mut(), &mut regs).unwrap();
    assert_eq!(out, SwitchOutcome::Syscall);
    assert_eq!(regs.syscall_nr(), 39);
    // As at a PTRACE_SYSEMU stop.
    assert_eq!(regs.rax, (-libc::ENOSYS) as i64 as u64);
    assert_eq!(regs.rip, base + 7);
    assert_eq!(regs.rcx, base + 7, "syscall puts the return address in rcx");
    assert_eq!(regs.cs, 0x33);
    assert_eq!(regs.ss, 0x2b);
    regs.set_return(4242);

    let out = ctx.switch(space.as_mut(), &mut regs).unwrap();
    match out {
        SwitchOutcome::Fault { signo, addr, code, access, .. } => {
            assert_eq!(signo, libc::SIGSEGV as u32);
            assert_eq!(addr, 8);
            assert_eq!(code, 1, "SEGV_MAPERR");
            assert_eq!(access, Some(Access::Write));
        }
        other => panic!("expected a fault, got {other:?}"),
    }
    // The emulated result, not the host's pid, reached the app.
    assert_eq!(regs.rax, 4242);
    assert_eq!(regs.orig_rax, u64::MAX);
    assert_eq!(regs.rip, base + 7);
}

#[test]
fn mapping_is_shared_with_the_memory_file() {
    let mem = memfd(2 * 4096);
    // mov rax, [0x500000 + 4096]; syscall
    let code: [u8; 10] = [0x48, 0x8b, 0x04, 0x25, 0x00, 0x10, 0x50, 0x00, 0x0f, 0x05];
    pwrite(&mem, &code, 0);
    pwrite(&mem, &0x1122_3344_5566_7788u64.to_le_bytes(), 4096);
    let platform = SystrapPlatform::new(mem.as_fd()).unwrap();
    let mut space = platform.new_address_space().unwrap();
    space.map_file(0x50_0000, 8192, 0, RX).unwrap();
    let mut ctx = platform.new_context();
    let mut regs = Regs::for_entry(0x50_0000, 0);
    assert_eq!(ctx.switch(space.as_mut(), &mut regs).unwrap(), SwitchOutcome::Syscall);
    // The loaded value became the syscall number.
    assert_eq!(regs.syscall_nr(), 0x1122_3344_5566_7788);
    // Unmapping makes the next access fault.
    space.unmap(0x50_1000, 4096).unwrap();
    let mut regs = Regs::for_entry(0x50_0000, 0);
    assert!(matches!(
        ctx.switch(space.as_mut(), &mut regs).unwrap(),
        SwitchOutcome::Fault { addr: 0x50_1000, access: Some(Access::Read), .. }
    ));
    // Protecting the code page makes the next fetch fault.
    space.protect(0x50_0000, 4096, Prot(Prot::READ)).unwrap();
    let mut regs = Regs::for_entry(0x50_0000, 0);
    assert!(matches!(
        ctx.switch(space.as_mut(), &mut regs).unwrap(),
        SwitchOutcome::Fault { addr: 0x50_0000, access: Some(Access::Exec), .. }
    ));
    // A request the host refuses is an error, not a hang.
    assert!(matches!(
        space.map_file(0x50_0000, 4096, 1 << 40, RX),
        Err(PlatformError::AddressSpaceOp { op: "mmap", .. }) | Ok(())
    ));
}

#[test]
fn registers_round_trip_both_ways() {
    let mem = memfd(4096);
    // syscall; syscall
    pwrite(&mem, &[0x0f, 0x05, 0x0f, 0x05], 0);
    let platform = SystrapPlatform::new(mem.as_fd()).unwrap();
    let mut space = platform.new_address_space().unwrap();
    space.map_file(0x60_0000, 4096, 0, RX).unwrap();
    let mut ctx = platform.new_context();
    let mut regs = Regs::for_entry(0x60_0000, 0x7000_0000);
    [regs.rax, regs.rbx, regs.rdx, regs.rsi, regs.rdi, regs.rbp, regs.r8, regs.r9] = [1, 2, 3, 4, 5, 6, 8, 9];
    [regs.r10, regs.r12, regs.r13, regs.r14, regs.r15] = [10, 12, 13, 14, 15];
    let before = regs;
    assert_eq!(ctx.switch(space.as_mut(), &mut regs).unwrap(), SwitchOutcome::Syscall);
    assert_eq!(regs.syscall_nr(), 1);
    assert_eq!(regs.syscall_args(), [5, 4, 3, 10, 8, 9]);
    assert_eq!(
        (regs.rbx, regs.rbp, regs.r12, regs.r13, regs.r14, regs.r15, regs.rsp),
        (2, 6, 12, 13, 14, 15, 0x7000_0000)
    );
    assert_eq!(regs.r11 & !0x10000, before.eflags, "syscall puts rflags in r11");
    // What the Sentry writes is what the app sees at its next syscall.
    regs.set_return(0x4444);
    regs.r12 = 0x5555;
    regs.rdi = 0x6666;
    assert_eq!(ctx.switch(space.as_mut(), &mut regs).unwrap(), SwitchOutcome::Syscall);
    assert_eq!(regs.syscall_nr(), 0x4444);
    assert_eq!((regs.r12, regs.rdi), (0x5555, 0x6666));
    assert_eq!(regs.rip, 0x60_0004);
}

#[test]
fn tls_base_follows_the_registers() {
    tls_base_test(false);
}

#[test]
fn tls_base_follows_the_registers_with_arch_prctl() {
    tls_base_test(true);
}

fn tls_base_test(arch_prctl: bool) {
    let mem = memfd(2 * 4096);
    // mov rax, fs:[0]; syscall; mov rax, fs:[8]; syscall; mov rax, gs:[0x10]; syscall
    let code: [u8; 33] = [
        0x64, 0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x00, 0x00, 0x0f, 0x05, //
        0x64, 0x48, 0x8b, 0x04, 0x25, 0x08, 0x00, 0x00, 0x00, 0x0f, 0x05, //
        0x65, 0x48, 0x8b, 0x04, 0x25, 0x10, 0x00, 0x00, 0x00, 0x0f, 0x05,
    ];
    pwrite(&mem, &code, 0);
    let mut data = [0u8; 24];
    data[..8].copy_from_slice(&77u64.to_le_bytes());
    data[8..16].copy_from_slice(&88u64.to_le_bytes());
    data[16..24].copy_from_slice(&99u64.to_le_bytes());
    pwrite(&mem, &data, 4096);
    let mut platform = SystrapPlatform::new(mem.as_fd()).unwrap();
    if arch_prctl {
        platform = platform.without_fsgsbase();
    }
    let mut space = platform.new_address_space().unwrap();
    space.map_file(0x70_0000, 4096, 0, RX).unwrap();
    space.map_file(0x71_0000, 4096, 4096, Prot(Prot::READ)).unwrap();
    let mut ctx = platform.new_context();
    let mut regs = Regs::for_entry(0x70_0000, 0);
    regs.set_tls(0x71_0000);
    assert_eq!(ctx.switch(space.as_mut(), &mut regs).unwrap(), SwitchOutcome::Syscall);
    assert_eq!(regs.syscall_nr(), 77);
    assert_eq!(regs.tls(), 0x71_0000);
    // As after arch_prctl(ARCH_SET_FS): the next instruction sees the change.
    regs.set_tls(0x71_0008);
    assert_eq!(ctx.switch(space.as_mut(), &mut regs).unwrap(), SwitchOutcome::Syscall);
    assert_eq!(regs.syscall_nr(), 99);
    // And ARCH_SET_GS.
    regs.gs_base = 0x70_fff8;
    assert_eq!(ctx.switch(space.as_mut(), &mut regs).unwrap(), SwitchOutcome::Syscall);
    assert_eq!(regs.syscall_nr(), 88);
    assert_eq!((regs.tls(), regs.gs_base), (0x71_0008, 0x70_fff8));
}

#[test]
fn many_round_trips() {
    let mem = memfd(4096);
    // loop: mov eax, 39; syscall; jmp loop
    let code: [u8; 9] = [0xb8, 0x27, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xeb, 0xf7];
    pwrite(&mem, &code, 0);
    let platform = SystrapPlatform::new(mem.as_fd()).unwrap();
    let mut space = platform.new_address_space().unwrap();
    space.map_file(0x40_0000, 4096, 0, RX).unwrap();
    let mut ctx = platform.new_context();
    let mut regs = Regs::for_entry(0x40_0000, 0);
    for i in 0..100_000u64 {
        let out = ctx.switch(space.as_mut(), &mut regs).unwrap();
        assert_eq!(out, SwitchOutcome::Syscall, "round trip {i}");
        assert_eq!(regs.syscall_nr(), 39);
        regs.set_return(i);
    }
}

#[test]
fn dead_stub_is_an_error() {
    let mem = memfd(4096);
    // loop: jmp loop
    pwrite(&mem, &[0xeb, 0xfe], 0);
    let platform = SystrapPlatform::new(mem.as_fd()).unwrap();
    let mut space = platform.new_address_space().unwrap();
    space.map_file(0x40_0000, 4096, 0, RX).unwrap();
    let pid = SystrapPlatform::downcast(space.as_mut()).unwrap().host_pid();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(100));
        // SAFETY: plain kill of our own child.
        unsafe { libc::kill(pid, libc::SIGKILL) };
    });
    let mut ctx = platform.new_context();
    let mut regs = Regs::for_entry(0x40_0000, 0);
    let r = ctx.switch(space.as_mut(), &mut regs);
    killer.join().unwrap();
    assert!(matches!(r, Err(PlatformError::StubDied { pid: p, .. }) if p == pid), "{r:?}");
    // And stays an error.
    assert!(space.unmap(0x40_0000, 4096).is_err());
    assert!(ctx.switch(space.as_mut(), &mut regs).is_err());
}

#[test]
fn app_cannot_use_the_stubs_privileges() {
    let mem = memfd(4096);
    // A real host syscall from app code is only ever a trap: exit_group(3)
    // stops in the platform and the stub lives on.
    // mov eax, 231; mov edi, 3; syscall; ud2
    let code = [0xb8, 0xe7, 0x00, 0x00, 0x00, 0xbf, 0x03, 0x00, 0x00, 0x00, 0x0f, 0x05, 0x0f, 0x0b];
    pwrite(&mem, &code, 0);
    let platform = SystrapPlatform::new(mem.as_fd()).unwrap();
    let mut space = platform.new_address_space().unwrap();
    space.map_file(0x40_0000, 4096, 0, RX).unwrap();
    let mut ctx = platform.new_context();
    let mut regs = Regs::for_entry(0x40_0000, 0);
    assert_eq!(ctx.switch(space.as_mut(), &mut regs).unwrap(), SwitchOutcome::Syscall);
    assert_eq!(regs.syscall_nr(), 231);
    assert!(matches!(
        ctx.switch(space.as_mut(), &mut regs).unwrap(),
        SwitchOutcome::Fault { signo, .. } if signo == libc::SIGILL as u32
    ));
}

#[test]
fn probe_succeeds() {
    platform::systrap::probe().expect("systrap works on this host");
}

#[test]
fn interrupt_stops_a_running_thread() {
    let mem = memfd(4096);
    // loop: jmp loop
    pwrite(&mem, &[0xeb, 0xfe], 0);
    let platform = SystrapPlatform::new(mem.as_fd()).unwrap();
    let mut space = platform.new_address_space().unwrap();
    space.map_file(0x40_0000, 4096, 0, RX).unwrap();
    let mut ctx = platform.new_context();
    let interrupter = ctx.interrupter().expect("systrap contexts can be interrupted");
    let mut regs = Regs::for_entry(0x40_0000, 0);
    let t = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(50));
        interrupter.interrupt();
    });
    assert_eq!(ctx.switch(space.as_mut(), &mut regs).unwrap(), SwitchOutcome::Interrupted);
    t.join().unwrap();
    assert_eq!(regs.rip, 0x40_0000);
    assert_eq!(regs.orig_rax, u64::MAX);
}

#[test]
fn fp_state_is_read_and_written_in_the_frame() {
    let mem = memfd(4096);
    // movq xmm1, rdi; syscall; movq rax, xmm0; syscall
    let code = [0x66, 0x48, 0x0f, 0x6e, 0xcf, 0x0f, 0x05, 0x66, 0x48, 0x0f, 0x7e, 0xc0, 0x0f, 0x05];
    pwrite(&mem, &code, 0);
    let platform = SystrapPlatform::new(mem.as_fd()).unwrap();
    let mut space = platform.new_address_space().unwrap();
    space.map_file(0x40_0000, 4096, 0, RX).unwrap();
    let mut ctx = platform.new_context();
    let mut fp = FpState::default();
    // Nothing to read before the thread first ran.
    assert!(!ctx.get_fp_state(space.as_mut(), &mut fp).unwrap());
    let mut regs = Regs::for_entry(0x40_0000, 0);
    regs.rdi = 0x0123_4567_89ab_cdef;
    assert_eq!(ctx.switch(space.as_mut(), &mut regs).unwrap(), SwitchOutcome::Syscall);
    assert!(ctx.get_fp_state(space.as_mut(), &mut fp).unwrap());
    // FXSAVE: xmm1 at 176; the default MXCSR (0x1f80) at 24.
    assert_eq!(fp.bytes[176..184], 0x0123_4567_89ab_cdefu64.to_le_bytes());
    assert_eq!(fp.mxcsr(), 0x1f80);
    // The kernel's marker is not handed out.
    assert!(fp.bytes[464..512].iter().all(|&b| b == 0));
    // xmm0 := 0x1111..., which the app then reads back as the syscall number.
    fp.bytes[160..168].copy_from_slice(&0x1111_2222_3333_4444u64.to_le_bytes());
    assert!(ctx.set_fp_state(space.as_mut(), &fp).unwrap());
    regs.set_return(0);
    assert_eq!(ctx.switch(space.as_mut(), &mut regs).unwrap(), SwitchOutcome::Syscall);
    assert_eq!(regs.syscall_nr(), 0x1111_2222_3333_4444);
}

/// AVX state (ymm upper halves) is read and written, under both platforms.
#[test]
fn avx_state_is_read_and_written() {
    if !std::arch::is_x86_feature_detected!("avx") {
        eprintln!("no AVX: skipped");
        return;
    }
    let layout = platform::fp_layout();
    assert!(layout.xsave && layout.features & 4 != 0, "AVX but no AVX XSAVE component: {layout:?}");
    let ymm_hi = std::arch::x86_64::__cpuid_count(0xd, 2).ebx as usize;
    let mem = memfd(4096);
    // movq xmm1, rdi; vinsertf128 ymm1, ymm1, xmm1, 1; syscall;
    // vextractf128 xmm0, ymm2, 1; movq rax, xmm0; syscall
    let code = [
        0x66, 0x48, 0x0f, 0x6e, 0xcf, 0xc4, 0xe3, 0x75, 0x18, 0xc9, 0x01, 0x0f, 0x05, 0xc4, 0xe3, 0x7d, 0x19, 0xd0,
        0x01, 0x66, 0x48, 0x0f, 0x7e, 0xc0, 0x0f, 0x05,
    ];
    pwrite(&mem, &code, 0);
    for name in ["ptrace", "systrap"] {
        let platform: Box<dyn Platform> = match name {
            "ptrace" => Box::new(platform::ptrace::PtracePlatform::new(mem.as_fd()).unwrap()),
            _ => Box::new(SystrapPlatform::new(mem.as_fd()).unwrap()),
        };
        let mut space = platform.new_address_space().unwrap();
        space.map_file(0x40_0000, 4096, 0, RX).unwrap();
        let mut ctx = platform.new_context();
        let mut regs = Regs::for_entry(0x40_0000, 0);
        regs.rdi = 0x0123_4567_89ab_cdef;
        assert_eq!(ctx.switch(space.as_mut(), &mut regs).unwrap(), SwitchOutcome::Syscall, "{name}");
        let mut fp = FpState::default();
        assert!(ctx.get_fp_state(space.as_mut(), &mut fp).unwrap(), "{name}");
        // ymm1 = rdi in both halves: xmm1 in the legacy area, its upper
        // half in the AVX component, which xstate_bv says is there.
        assert_eq!(fp.bytes[176..184], 0x0123_4567_89ab_cdefu64.to_le_bytes(), "{name}");
        assert_eq!(fp.bytes[ymm_hi + 16..ymm_hi + 24], 0x0123_4567_89ab_cdefu64.to_le_bytes(), "{name}");
        assert_ne!(fp.xstate_bv() & 4, 0, "{name}");
        assert!(fp.bytes[464..512].iter().all(|&b| b == 0), "{name}: marker handed out");
        // ymm2's upper half := 0x5555..., which the app reads as the next
        // syscall number.
        fp.bytes[ymm_hi + 32..ymm_hi + 40].copy_from_slice(&0x5555_6666_7777_8888u64.to_le_bytes());
        assert!(ctx.set_fp_state(space.as_mut(), &fp).unwrap(), "{name}");
        regs.set_return(0);
        assert_eq!(ctx.switch(space.as_mut(), &mut regs).unwrap(), SwitchOutcome::Syscall, "{name}");
        assert_eq!(regs.syscall_nr(), 0x5555_6666_7777_8888, "{name}");
        // An initial state resets the AVX component: ymm2's upper half is 0.
        assert!(ctx.set_fp_state(space.as_mut(), &FpState::initial()).unwrap(), "{name}");
        regs.rip = 0x40_000d;
        assert_eq!(ctx.switch(space.as_mut(), &mut regs).unwrap(), SwitchOutcome::Syscall, "{name}");
        assert_eq!(regs.syscall_nr(), 0, "{name}");
    }
}

#[test]
fn registers_look_as_under_ptrace() {
    let mem = memfd(4096);
    // mov rbx, 7; stc; syscall; mov byte ptr [0x10], 1
    let code =
        [0x48, 0xc7, 0xc3, 0x07, 0x00, 0x00, 0x00, 0xf9, 0x0f, 0x05, 0xc6, 0x04, 0x25, 0x10, 0x00, 0x00, 0x00, 0x01];
    pwrite(&mem, &code, 0);
    let mut seen = Vec::new();
    for name in ["ptrace", "systrap"] {
        let platform: Box<dyn Platform> = match name {
            "ptrace" => Box::new(platform::ptrace::PtracePlatform::new(mem.as_fd()).unwrap()),
            _ => Box::new(SystrapPlatform::new(mem.as_fd()).unwrap()),
        };
        let mut space = platform.new_address_space().unwrap();
        space.map_file(0x40_0000, 4096, 0, RX).unwrap();
        let mut ctx = platform.new_context();
        let mut regs = Regs::for_entry(0x40_0000, 0x7fff_0000);
        [regs.rax, regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9] = [60, 1, 2, 3, 4, 5, 6];
        let a = ctx.switch(space.as_mut(), &mut regs).unwrap();
        let at_syscall = regs;
        regs.set_return(0);
        let b = ctx.switch(space.as_mut(), &mut regs).unwrap();
        seen.push((a, at_syscall, b, regs));
    }
    let (p, s) = (&seen[0], &seen[1]);
    assert_eq!(p.0, s.0);
    assert_eq!(p.1, s.1, "registers at the syscall stop");
    // ptrace cannot tell the access kind; the rest of the fault agrees.
    let strip = |o: SwitchOutcome| match o {
        SwitchOutcome::Fault { signo, code, addr, .. } => (signo, code, addr),
        other => panic!("expected a fault, got {other:?}"),
    };
    assert_eq!(strip(p.2), strip(s.2));
    assert_eq!(p.3, s.3, "registers at the fault");
}

#[test]
fn interrupt_while_parked_is_reported_at_the_next_switch() {
    let mem = memfd(4096);
    // syscall; syscall
    pwrite(&mem, &[0x0f, 0x05, 0x0f, 0x05], 0);
    let platform = SystrapPlatform::new(mem.as_fd()).unwrap();
    let mut space = platform.new_address_space().unwrap();
    space.map_file(0x40_0000, 4096, 0, RX).unwrap();
    let mut ctx = platform.new_context();
    let interrupter = ctx.interrupter().unwrap();
    let mut regs = Regs::for_entry(0x40_0000, 0);
    // Before the first run: the stub waits at startup with signals blocked.
    interrupter.interrupt();
    std::thread::sleep(std::time::Duration::from_millis(20));
    assert_eq!(ctx.switch(space.as_mut(), &mut regs).unwrap(), SwitchOutcome::Interrupted);
    assert_eq!(regs.rip, 0x40_0000, "interrupted before the first instruction");
    assert_eq!(ctx.switch(space.as_mut(), &mut regs).unwrap(), SwitchOutcome::Syscall);
    assert_eq!(regs.rip, 0x40_0002);
    // While parked at a syscall.
    interrupter.interrupt();
    std::thread::sleep(std::time::Duration::from_millis(20));
    regs.set_return(0);
    assert_eq!(ctx.switch(space.as_mut(), &mut regs).unwrap(), SwitchOutcome::Interrupted);
    assert_eq!(ctx.switch(space.as_mut(), &mut regs).unwrap(), SwitchOutcome::Syscall);
    assert_eq!(regs.rip, 0x40_0004);
}

#[test]
fn a_sigsys_from_outside_is_ignored() {
    let mem = memfd(4096);
    // Spin for a while (rcx counts down), then syscall.
    // loop: dec rcx; jnz loop; syscall
    pwrite(&mem, &[0x48, 0xff, 0xc9, 0x75, 0xfb, 0x0f, 0x05], 0);
    let platform = SystrapPlatform::new(mem.as_fd()).unwrap();
    let mut space = platform.new_address_space().unwrap();
    space.map_file(0x40_0000, 4096, 0, RX).unwrap();
    let pid = SystrapPlatform::downcast(space.as_mut()).unwrap().host_pid();
    let mut ctx = platform.new_context();
    let mut regs = Regs::for_entry(0x40_0000, 0);
    regs.rcx = 1 << 29;
    let t = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(10));
        // SAFETY: plain kill of our own child.
        unsafe { libc::kill(pid, libc::SIGSYS) };
    });
    assert_eq!(ctx.switch(space.as_mut(), &mut regs).unwrap(), SwitchOutcome::Syscall);
    t.join().unwrap();
    assert_eq!(regs.rip, 0x40_0007);
    assert_eq!(regs.rcx, 0x40_0007, "rcx counted down to 0, then syscall set it");
}

/// The host's view of process `pid`: (parent pid, fds open, session id).
fn host_view(pid: i32) -> (i32, usize, i32) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let ppid = status.lines().find_map(|l| l.strip_prefix("PPid:")).unwrap().trim().parse().unwrap();
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // pid (comm) state ppid pgrp session
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
    assert_eq!(regs.syscall_nr(), 39);
    regs.set_return(answer);
    assert!(matches!(ctx.switch(space, &mut regs).unwrap(), SwitchOutcome::Fault { addr: 8, .. }));
    assert_eq!(regs.rax, answer);
}

/// mov eax, 39; syscall; mov qword ptr [8], rax
const GETPID_THEN_FAULT: [u8; 15] =
    [0xb8, 0x27, 0x00, 0x00, 0x00, 0x0f, 0x05, 0x48, 0x89, 0x04, 0x25, 0x08, 0x00, 0x00, 0x00];

#[test]
fn the_factory_clones_stubs_as_forked_ones() {
    let mem = memfd(4096);
    pwrite(&mem, &GETPID_THEN_FAULT, 0);
    let platform = SystrapPlatform::new(mem.as_fd()).unwrap();
    // SAFETY: getpid takes nothing.
    let me = unsafe { libc::getpid() };
    // The first address space's stub is forked; the factory clones the rest.
    let mut first = platform.new_address_space().unwrap();
    assert_eq!(platform.factory_pid(), None);
    let mut spaces: Vec<_> = (0..4).map(|_| platform.new_address_space().unwrap()).collect();
    let factory = platform.factory_pid().expect("a factory after the second address space");
    let (factory_parent, factory_fds, factory_session) = host_view(factory);
    assert_eq!(factory_parent, me);
    assert_eq!(factory_fds, 2, "the factory keeps the memory file and the control pool");
    assert_eq!(factory_session, factory, "the factory leads a session of its own");
    for (i, space) in spaces.iter_mut().enumerate() {
        let pid = SystrapPlatform::downcast(space.as_mut()).unwrap().host_pid();
        let (parent, fds, session) = host_view(pid);
        assert_eq!(parent, me, "a cloned stub is the Sentry's child");
        assert_eq!(fds, 1, "a cloned stub keeps only the memory file");
        assert_eq!(session, factory, "a cloned stub is in the factory's session, not the Sentry's");
        // Its own control region: each answers its own syscall.
        round_trip(&platform, space.as_mut(), 1000 + i as u64);
        let seccomp = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
        assert!(seccomp.lines().any(|l| l.starts_with("Seccomp:") && l.ends_with('2')), "filtered");
    }
    round_trip(&platform, first.as_mut(), 7);
    // Regions given back are reused, zeroed: a new stub works in them.
    drop(spaces);
    let mut again = platform.new_address_space().unwrap();
    round_trip(&platform, again.as_mut(), 8);
}

#[test]
fn stubs_are_forked_again_once_the_factory_dies() {
    let mem = memfd(4096);
    pwrite(&mem, &GETPID_THEN_FAULT, 0);
    let platform = SystrapPlatform::new(mem.as_fd()).unwrap();
    let _first = platform.new_address_space().unwrap();
    let mut cloned = platform.new_address_space().unwrap();
    let factory = platform.factory_pid().unwrap();
    // SAFETY: plain kill of our own child.
    unsafe { libc::kill(factory, libc::SIGKILL) };
    std::thread::sleep(std::time::Duration::from_millis(50));
    // A stub lives on without its factory.
    round_trip(&platform, cloned.as_mut(), 5);
    // (The next may be the one cloned ahead before the factory died.)
    for answer in 6..9 {
        let mut space = platform.new_address_space().expect("a stub");
        round_trip(&platform, space.as_mut(), answer);
    }
}

#[test]
fn queued_changes_beyond_one_batch_are_all_made_before_the_app_runs() {
    // 200 pages, each mapped on its own (more than one control page of
    // queued changes), then protected read-only but the first; the code
    // loads a word of the last page, which holds 77.
    let pages = 200u64;
    let mem = memfd(pages * 4096);
    // mov rax, [0x400000 + 199 * 4096]; mov eax, 39; ... as a syscall stop:
    // mov rax, qword ptr [abs]; mov rdi, rax; mov eax, 39; syscall
    let last = 0x40_0000 + (pages - 1) * 4096;
    let mut code = vec![0x48, 0x8b, 0x04, 0x25];
    code.extend_from_slice(&(last as u32).to_le_bytes());
    code.extend_from_slice(&[0x48, 0x89, 0xc7, 0xb8, 0x27, 0x00, 0x00, 0x00, 0x0f, 0x05]);
    pwrite(&mem, &code, 0);
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
    assert_eq!(ctx.switch(space.as_mut(), &mut regs).unwrap(), SwitchOutcome::Syscall);
    assert_eq!(regs.rdi, 77);
}

#[test]
fn a_failed_queued_change_is_an_error_at_the_switch() {
    let mem = memfd(4096);
    pwrite(&mem, &GETPID_THEN_FAULT, 0);
    let platform = SystrapPlatform::new(mem.as_fd()).unwrap();
    let mut space = platform.new_address_space().unwrap();
    space.map_file(0x40_0000, 4096, 0, RX).unwrap();
    // Not page-aligned: the stub's mmap fails with EINVAL.
    space.map_file(0x50_0001, 4096, 0, RX).unwrap();
    let mut ctx = platform.new_context();
    let mut regs = Regs::for_entry(0x40_0000, 0);
    let r = ctx.switch(space.as_mut(), &mut regs);
    assert!(matches!(r, Err(PlatformError::AddressSpaceOp { op: "mmap", errno: libc::EINVAL, .. })), "{r:?}");
    // The app did not run: its registers are as they were.
    assert_eq!(regs.rip, 0x40_0000);
}

/// The stub shows the host the command line it is given (its
/// /proc/PID/cmdline, what `ps` prints), cut to a page, by the app's next
/// resume at the latest, and the app runs on as before, with the changes
/// queued before it made.
#[test]
fn the_stub_shows_the_apps_command_line() {
    let mem = memfd(4096);
    // mov eax, 39; syscall
    pwrite(&mem, &[0xb8, 0x27, 0x00, 0x00, 0x00, 0x0f, 0x05], 0);
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
        assert_eq!(regs.syscall_nr(), 39);
        let shown = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        if cmdline.len() < 4096 {
            assert_eq!(shown, cmdline);
        } else {
            assert_eq!(shown.len(), 4096);
            assert!(shown.ends_with(b"x\0"));
        }
    }
}

//! Platform round-trip costs, measured by driving each platform directly.
//!
//! - `getpid/<platform>`: app code `loop: mov eax, 39; syscall; jmp loop` in a
//!   stub (on arm64, `mov x8, 172; svc 0; b loop`); one iteration is one `switch` that returns at the syscall, plus the
//!   Sentry's share of emulating getpid (setting the return register). This
//!   isolates the platform's round trip from the Sentry's dispatch.
//! - `getpid/native`: `syscall(SYS_getpid)` in this process.
//! - `first_touch/<platform>`: app code that stores to one new page after
//!   another; one iteration is the fault, the `map_file` that backs the page
//!   and the resume, as the Sentry's fault path does.
//! - `first_touch/native`: storing to fresh pages of an anonymous mapping.
//!
//! Run with `cargo bench --bench syscall` (HUSK_BENCH_PLATFORMS=systrap to
//! pick platforms; `kvm` is measured where the host's KVM can run it). The medians are recorded in docs/benchmarks.md.

use std::os::fd::{AsFd, OwnedFd};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use platform::{AddressSpace, Context, Platform, Prot, Regs, SwitchOutcome};

const PAGE: u64 = 4096;
const CODE_AT: u64 = 0x40_0000;
const DATA_AT: u64 = 0x1000_0000;
/// Pages the first-touch benchmark cycles through before starting over.
const TOUCH_PAGES: u64 = 4096;

fn memfd(len: u64) -> OwnedFd {
    let fd = rustix::fs::memfd_create("bench-mem", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
    rustix::fs::ftruncate(&fd, len).unwrap();
    fd
}

fn pwrite(fd: &OwnedFd, data: &[u8], off: u64) {
    assert_eq!(rustix::io::pwrite(fd, data, off).unwrap(), data.len());
}

fn new_platform(name: &str, mem: &OwnedFd) -> Box<dyn Platform> {
    match name {
        "ptrace" => Box::new(platform::ptrace::PtracePlatform::new(mem.as_fd()).unwrap()),
        #[cfg(target_arch = "x86_64")]
        "systrap" => Box::new(platform::systrap::SystrapPlatform::new(mem.as_fd()).unwrap()),
        #[cfg(target_arch = "x86_64")]
        "kvm" => Box::new(platform::kvm::KvmPlatform::new(mem.as_fd()).unwrap()),
        other => panic!("unknown platform {other}"),
    }
}

fn platforms() -> Vec<String> {
    let chosen = std::env::var("HUSK_BENCH_PLATFORMS").ok();
    let list: Vec<String> = chosen
        .clone()
        .unwrap_or_else(|| if cfg!(target_arch = "x86_64") { "systrap,ptrace,kvm" } else { "ptrace" }.into())
        .split(',')
        .map(str::to_string)
        .collect();
    list.into_iter()
        .filter(|p| {
            if p != "kvm" || chosen.is_some() {
                return true;
            }
            match sentry::platform_usable_here() {
                Ok(()) => true,
                Err(why) => {
                    eprintln!("kvm not measured: {why}");
                    false
                }
            }
        })
        .collect()
}

/// arm64 instructions as the bytes of a code page.
#[cfg(target_arch = "aarch64")]
fn words(insns: &[u32]) -> Vec<u8> {
    insns.iter().flat_map(|i| i.to_le_bytes()).collect()
}

/// The register the first-touch loop stores through.
fn data_reg(regs: &mut Regs) -> &mut u64 {
    #[cfg(target_arch = "x86_64")]
    return &mut regs.rbx;
    #[cfg(target_arch = "aarch64")]
    return &mut regs.regs[19];
}

/// A platform with one address space whose code page holds `code`.
struct Rig {
    _mem: OwnedFd,
    platform: Box<dyn Platform>,
    space: Box<dyn AddressSpace>,
    ctx: Box<dyn Context>,
}

impl Rig {
    fn new(name: &str, code: &[u8], extra: u64) -> Rig {
        let mem = memfd(PAGE + extra);
        pwrite(&mem, code, 0);
        let platform = new_platform(name, &mem);
        let mut space = platform.new_address_space().unwrap();
        space.map_file(CODE_AT, PAGE, 0, Prot(Prot::READ | Prot::EXEC)).unwrap();
        let ctx = platform.new_context();
        Rig { _mem: mem, platform, space, ctx }
    }
}

fn getpid(c: &mut Criterion) {
    let mut g = c.benchmark_group("getpid");
    g.measurement_time(Duration::from_secs(5));
    #[cfg(target_arch = "x86_64")]
    // loop: mov eax, 39; syscall; jmp loop
    let code = [0xb8, 0x27, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xeb, 0xf7];
    #[cfg(target_arch = "aarch64")]
    // loop: mov x8, 172; svc 0; b loop
    let code = words(&[0xd280_1588, 0xd400_0001, 0x17ff_fffe]);
    for name in platforms() {
        let mut rig = Rig::new(&name, &code, 0);
        assert_eq!(rig.platform.name(), name);
        let mut regs = Regs::for_entry(CODE_AT, 0);
        g.bench_function(name.as_str(), |b| {
            b.iter(|| {
                let out = rig.ctx.switch(rig.space.as_mut(), &mut regs).unwrap();
                debug_assert_eq!(out, SwitchOutcome::Syscall);
                debug_assert_eq!(regs.syscall_nr(), abi::nr::GETPID);
                regs.set_return(1);
            })
        });
    }
    // std's process::id is glibc's getpid, a real syscall every time.
    g.bench_function("native", |b| b.iter(std::process::id));
    g.finish();
}

fn first_touch(c: &mut Criterion) {
    let mut g = c.benchmark_group("first_touch");
    g.measurement_time(Duration::from_secs(5));
    #[cfg(target_arch = "x86_64")]
    // loop: mov byte ptr [rbx], 1; add rbx, 4096; jmp loop
    let code = [0xc6, 0x03, 0x01, 0x48, 0x81, 0xc3, 0x00, 0x10, 0x00, 0x00, 0xeb, 0xf4];
    #[cfg(target_arch = "aarch64")]
    // mov w1, 1; loop: strb w1, [x19]; add x19, x19, 4096; b loop
    let code = words(&[0x5280_0021, 0x3900_0261, 0x9140_0673, 0x17ff_fffe]);
    let rw = Prot(Prot::READ | Prot::WRITE);
    for name in platforms() {
        let mut rig = Rig::new(&name, &code, TOUCH_PAGES * PAGE);
        let mut regs = Regs::for_entry(CODE_AT, 0);
        *data_reg(&mut regs) = DATA_AT;
        g.bench_function(name.as_str(), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    // The page at rbx is mapped; the next store goes to rbx + PAGE.
                    if *data_reg(&mut regs) + PAGE >= DATA_AT + TOUCH_PAGES * PAGE {
                        // Start over with fresh pages (not timed).
                        rig.space.unmap(DATA_AT, TOUCH_PAGES * PAGE).unwrap();
                        let flags = rustix::fs::FallocateFlags::PUNCH_HOLE | rustix::fs::FallocateFlags::KEEP_SIZE;
                        rustix::fs::fallocate(&rig._mem, flags, PAGE, TOUCH_PAGES * PAGE).unwrap();
                        *data_reg(&mut regs) = DATA_AT;
                    }
                    let t = Instant::now();
                    let out = rig.ctx.switch(rig.space.as_mut(), &mut regs).unwrap();
                    let SwitchOutcome::Fault { addr, .. } = out else { panic!("expected a fault, got {out:?}") };
                    assert_eq!(addr, *data_reg(&mut regs));
                    let off = PAGE + (addr - DATA_AT);
                    if let Err(e) = rig.space.map_file(addr, PAGE, off, rw) {
                        panic!("mapping {addr:#x} at {off:#x}: {e}");
                    }
                    total += t.elapsed();
                }
                total
            })
        });
    }
    g.bench_function("native", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            let mut done = 0;
            while done < iters {
                // A zeroed allocation above glibc's largest mmap threshold
                // (32 MiB) is always a fresh anonymous mapping whose pages are
                // not touched yet (calloc knows they are zero).
                const NATIVE_PAGES: u64 = 16384;
                let mut v = vec![0u8; (NATIVE_PAGES * PAGE) as usize];
                let n = (iters - done).min(NATIVE_PAGES);
                let t = Instant::now();
                for i in 0..n {
                    v[(i * PAGE) as usize] = 1;
                }
                std::hint::black_box(&mut v);
                total += t.elapsed();
                done += n;
            }
            total
        })
    });
    g.finish();
}

criterion_group!(benches, getpid, first_touch);
criterion_main!(benches);

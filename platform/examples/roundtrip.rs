//! Temporary: prints the median getpid round trip per platform.
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::time::Instant;

use platform::{Platform, Prot, Regs};

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let plats: Vec<String> = std::env::args().skip(2).collect();
    // SAFETY: temporary tool.
    let fd = unsafe { OwnedFd::from_raw_fd(libc::memfd_create(c"m".as_ptr(), 0)) };
    let code = [0xb8u8, 0x27, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xeb, 0xf7];
    // SAFETY: temporary tool.
    unsafe {
        libc::ftruncate(fd.as_raw_fd(), 4096);
        libc::pwrite(fd.as_raw_fd(), code.as_ptr().cast(), code.len(), 0);
    }
    for name in plats {
        let p: Box<dyn Platform> = match name.as_str() {
            "ptrace" => Box::new(platform::ptrace::PtracePlatform::new(fd.as_fd()).unwrap()),
            _ => Box::new(platform::systrap::SystrapPlatform::new(fd.as_fd()).unwrap()),
        };
        let mut space = p.new_address_space().unwrap();
        space.map_file(0x40_0000, 4096, 0, Prot(5)).unwrap();
        let mut ctx = p.new_context();
        if std::env::var("APART").is_ok() {
            let pid = platform::systrap::SystrapPlatform::downcast(space.as_mut()).map(|s| s.host_pid()).unwrap_or(0);
            // SAFETY: temporary tool.
            unsafe {
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(0, &mut set);
                libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set);
                let mut set: libc::cpu_set_t = std::mem::zeroed();
                libc::CPU_SET(1, &mut set);
                libc::sched_setaffinity(pid, std::mem::size_of_val(&set), &set);
            }
        }
        let mut regs = Regs::for_entry(0x40_0000, 0);
        let mut samples = Vec::with_capacity(n / 100);
        let t0 = Instant::now();
        for _ in 0..n / 100 {
            let t = Instant::now();
            for _ in 0..100 {
                ctx.switch(space.as_mut(), &mut regs).unwrap();
                regs.set_return(1);
            }
            samples.push(t.elapsed().as_nanos() as f64 / 100.0);
        }
        let total = t0.elapsed();
        if let Some(s) = platform::systrap::SystrapPlatform::downcast(space.as_mut()) {
            println!(
                "sentry sleeps {} stub sleeps {}",
                platform::systrap::SLEEPS.load(std::sync::atomic::Ordering::Relaxed),
                s.stub_sleeps()
            );
        }
        samples.sort_by(|a, b| a.partial_cmp(b).unwrap());
        let med = samples[samples.len() / 2];
        println!(
            "{name}: median {:.0} ns, p10 {:.0}, p90 {:.0}, mean {:.0} ns",
            med,
            samples[samples.len() / 10],
            samples[samples.len() * 9 / 10],
            total.as_nanos() as f64 / n as f64
        );
    }
}

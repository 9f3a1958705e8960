//! The vDSO: a small ELF image (`sentry/vdso/`, built by `build.rs`) that
//! every process gets, with its AT_SYSINFO_EHDR entry, so that
//! clock_gettime, gettimeofday, time and clock_getres run in the app's
//! own process instead of a round trip to the Sentry, as gVisor's
//! VDSOParamPage does.
//!
//! Below the image lies the *parameter page*, which the timekeeper thread
//! keeps current: a sequence count (odd while written), and the host's
//! clocks at one TSC reading, with the TSC's scale calibrated against the
//! host's CLOCK_MONOTONIC over an ever longer baseline. The vDSO computes
//! `base + (tsc - base_cycles) * mult >> 32`; before the first
//! calibration, on a CPU without an invariant TSC, or once the page is
//! stale (the timekeeper stalled), it makes the real syscall instead.
//!
//! Each update keeps the monotonic clock from going back: the new base is
//! the later of the host's time and the old parameters' time at the same
//! TSC reading, taken once readers already retry; when the page ran ahead
//! of the host, the new scale is a little slower, so that the host catches
//! up over the next interval rather than the clock stepping back.
//!
//! Both pages are memory-file pages shared by every process: the parameter
//! page mapped read-only (mprotect cannot make it writable: EACCES, as for
//! Linux's vvar), the image privately (a debugger's breakpoint gets a
//! copy).

use std::sync::Arc;
use std::time::Duration;

use abi::{page_up, Errno, PAGE_SIZE};

use crate::mm::{Chunk, FileSource, MapFile, MemoryFile, MemoryManager, MmapRequest, PageSource, SysResult};

/// The image, as `build.rs` linked it (empty where there is none yet).
const IMAGE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/vdso.so"));

/// The parameter page's layout: `struct husk_vdso_params` in vdso.c.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Params {
    base_cycles: u64,
    mono_ns: u64,
    real_ns: u64,
    boot_ns: u64,
    mult: u64,
    max_cycles: u64,
}

/// Offsets in the page.
const SEQ: u64 = 0;
const READY: u64 = 4;
const BODY: u64 = 8;

impl Params {
    fn bytes(&self) -> [u8; 48] {
        let mut b = [0u8; 48];
        for (i, v) in
            [self.base_cycles, self.mono_ns, self.real_ns, self.boot_ns, self.mult, self.max_cycles].iter().enumerate()
        {
            b[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
        }
        b
    }

    /// CLOCK_MONOTONIC at `cycles`, as these parameters say it.
    fn mono_at(&self, cycles: u64) -> u64 {
        self.mono_ns + scale(cycles.saturating_sub(self.base_cycles), self.mult)
    }
}

/// `cycles` in ns at `mult` (ns per cycle, times 2^32).
fn scale(cycles: u64, mult: u64) -> u64 {
    ((u128::from(cycles) * u128::from(mult)) >> 32) as u64
}

/// The offset of `name` in the image (a symbol of its `.dynsym`), if it
/// has one.
pub fn symbol(name: &str) -> Option<u64> {
    elf_symbol(IMAGE, name)
}

/// `name`'s value in the shared object `elf`, from the section headers'
/// dynamic symbol table and its string table.
fn elf_symbol(elf: &[u8], name: &str) -> Option<u64> {
    const SHT_DYNSYM: u32 = 11;
    let u16_at = |at: usize| Some(u16::from_le_bytes(elf.get(at..at + 2)?.try_into().ok()?));
    let u32_at = |at: usize| Some(u32::from_le_bytes(elf.get(at..at + 4)?.try_into().ok()?));
    let u64_at = |at: usize| Some(u64::from_le_bytes(elf.get(at..at + 8)?.try_into().ok()?));
    let shoff = usize::try_from(u64_at(0x28)?).ok()?;
    let shentsize = usize::from(u16_at(0x3a)?);
    let shnum = usize::from(u16_at(0x3c)?);
    let section = |i: usize| shoff.checked_add(i.checked_mul(shentsize)?);
    for i in 0..shnum {
        let sh = section(i)?;
        if u32_at(sh + 4)? != SHT_DYNSYM {
            continue;
        }
        let (syms, size, entsize) = (u64_at(sh + 0x18)?, u64_at(sh + 0x20)?, u64_at(sh + 0x38)?);
        let strtab = u64_at(section(usize::try_from(u32_at(sh + 0x28)?).ok()?)? + 0x18)?;
        let (syms, size, entsize, strtab) = (
            usize::try_from(syms).ok()?,
            usize::try_from(size).ok()?,
            usize::try_from(entsize).ok()?.max(1),
            usize::try_from(strtab).ok()?,
        );
        for s in (syms..syms.checked_add(size)?).step_by(entsize) {
            let at = strtab.checked_add(usize::try_from(u32_at(s)?).ok()?)?;
            let tail = elf.get(at..)?;
            let n = tail.iter().position(|&b| b == 0)?;
            if &tail[..n] == name.as_bytes() {
                return u64_at(s + 8);
            }
        }
    }
    None
}

/// The vDSO's pages in the memory file.
pub struct Vdso {
    mf: Arc<MemoryFile>,
    /// The parameter page.
    params: u64,
    /// The parameter page of processes outside the sandbox's first time
    /// namespace: zeros, never ready, so that their vDSO makes the
    /// syscall, which applies their namespace's offsets (Linux gives
    /// them its timens vvar page). The first namespace's fast path does
    /// not change.
    timens_params: u64,
    /// The image's pages.
    image: u64,
    image_len: u64,
}

/// Which of the vDSO's two mappings.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    Params,
    TimensParams,
    Image,
}

struct Mapping {
    vdso: Arc<Vdso>,
    part: Part,
}

impl Vdso {
    /// The vDSO in pages of `mf`; `None` where this build has no image.
    pub fn new(mf: &Arc<MemoryFile>) -> SysResult<Option<Arc<Vdso>>> {
        if IMAGE.is_empty() {
            return Ok(None);
        }
        let image_len = page_up(IMAGE.len() as u64).ok_or(Errno::ENOMEM)?;
        let params = mf.allocate(PAGE_SIZE)?;
        let timens_params = match mf.allocate(PAGE_SIZE) {
            Ok(off) => off,
            Err(e) => {
                mf.release(params, PAGE_SIZE);
                return Err(e);
            }
        };
        let image = match mf.allocate(image_len) {
            Ok(off) => off,
            Err(e) => {
                mf.release(params, PAGE_SIZE);
                mf.release(timens_params, PAGE_SIZE);
                return Err(e);
            }
        };
        mf.write(image, IMAGE);
        Ok(Some(Arc::new(Vdso { mf: mf.clone(), params, timens_params, image, image_len })))
    }

    /// The memory-file runs it owns, (offset, length) each: the parameter
    /// pages and the image.
    pub fn runs(&self) -> [(u64, u64); 3] {
        [(self.params, PAGE_SIZE), (self.timens_params, PAGE_SIZE), (self.image, self.image_len)]
    }

    /// What a mapping of its image (`image`) or its parameter page maps,
    /// for a restored address space (the first time namespace's page: a
    /// restore gives the others theirs with [`Vdso::set_timens`]).
    pub fn source(self: &Arc<Self>, image: bool) -> Arc<dyn PageSource> {
        Arc::new(Mapping { vdso: self.clone(), part: if image { Part::Image } else { Part::Params } })
    }

    /// Maps, in place of each `[vvar]` mapping of `mm`, the parameter
    /// page of a process outside the sandbox's first time namespace
    /// (`timens`) or in it: what a process entering a time namespace
    /// reads its clocks through.
    pub fn set_timens(self: &Arc<Self>, mm: &mut MemoryManager, timens: bool) {
        use abi::flags::mm::{MAP_FIXED, MAP_SHARED};
        let part = if timens { Part::TimensParams } else { Part::Params };
        let vvars: Vec<(u64, u64, u64, u32)> = mm
            .vmas()
            .filter_map(|(start, v)| match &v.backing {
                crate::mm::Backing::Pages { source, offset } if source.map_name().as_deref() == Some("[vvar]") => {
                    Some((start, v.end, *offset, v.prot))
                }
                _ => None,
            })
            .collect();
        for (start, end, offset, prot) in vvars {
            let file = MapFile {
                source: FileSource::Pages(Arc::new(Mapping { vdso: self.clone(), part })),
                offset,
                size: PAGE_SIZE,
                may_write: false,
                name: None,
            };
            let req =
                MmapRequest { addr: start, len: end - start, prot, flags: MAP_SHARED | MAP_FIXED, file: Some(file) };
            if let Err(e) = mm.mmap(req) {
                // (A sealed [vvar]: the process keeps the page it had.)
                log::warn!("vdso: the [vvar] mapping at {start:#x} stays as it was ({e})");
            }
        }
    }

    /// Maps the parameter page (`timens`: the one of a process outside
    /// the first time namespace) and the image into `mm` (an exec's new
    /// address space), one just below the other; the image's address,
    /// for AT_SYSINFO_EHDR.
    pub fn map_into(self: &Arc<Self>, mm: &mut MemoryManager, timens: bool) -> SysResult<u64> {
        use abi::flags::mm::{MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE, MAP_SHARED, PROT_EXEC, PROT_NONE, PROT_READ};
        let len = PAGE_SIZE + self.image_len;
        // A place for both, then each over its part of it.
        let at =
            mm.mmap(MmapRequest { addr: 0, len, prot: PROT_NONE, flags: MAP_PRIVATE | MAP_ANONYMOUS, file: None })?;
        let part = |part: Part, size: u64| MapFile {
            source: FileSource::Pages(Arc::new(Mapping { vdso: self.clone(), part })),
            offset: 0,
            size,
            may_write: part == Part::Image,
            name: None,
        };
        mm.mmap(MmapRequest {
            addr: at,
            len: PAGE_SIZE,
            prot: PROT_READ,
            flags: MAP_SHARED | MAP_FIXED,
            file: Some(part(if timens { Part::TimensParams } else { Part::Params }, PAGE_SIZE)),
        })?;
        mm.mmap(MmapRequest {
            addr: at + PAGE_SIZE,
            len: self.image_len,
            prot: PROT_READ | PROT_EXEC,
            flags: MAP_PRIVATE | MAP_FIXED,
            file: Some(part(Part::Image, self.image_len)),
        })?;
        Ok(at + PAGE_SIZE)
    }

    /// Starts the timekeeper thread, which keeps the parameter page
    /// current for as long as the Sentry runs. Where the CPU's TSC is not
    /// invariant it never marks the page ready, and the vDSO always makes
    /// the syscall.
    pub fn start_timekeeper(self: &Arc<Self>) -> SysResult<()> {
        if !crate::arch::cycles_usable() {
            log::info!("vdso: the CPU's TSC is not invariant; clocks are read by syscall");
            return Ok(());
        }
        let vdso = self.clone();
        std::thread::Builder::new()
            .name("husk-timekeeper".into())
            .spawn(move || {
                crate::sys::block_all_signals_in_this_thread();
                vdso.keep_time()
            })
            .map(drop)
            .map_err(|_| Errno::EAGAIN)
    }

    fn keep_time(&self) {
        let Some(first) = Sample::take() else { return };
        let mut published: Option<Params> = None;
        let mut interval = FIRST_INTERVAL;
        loop {
            std::thread::sleep(interval);
            let next = (interval * 2).min(INTERVAL);
            let Some(now) = Sample::take() else { continue };
            let (Some(cycles), Some(ns)) =
                (now.cycles.checked_sub(first.cycles), now.mono.checked_sub(first.mono).filter(|&n| n > 0))
            else {
                continue;
            };
            if cycles == 0 {
                continue;
            }
            let mult = ((u128::from(ns) << 32) / u128::from(cycles)).min(u128::from(u64::MAX)) as u64;
            published = Some(self.publish(published, &now, mult, next));
            interval = next;
        }
    }

    /// Writes new parameters (from `sample`, at the scale `mult`, for
    /// the next `interval`), keeping the clock from going back across
    /// `old`; returns what it wrote.
    fn publish(&self, old: Option<Params>, sample: &Sample, mult: u64, interval: Duration) -> Params {
        // Readers retry from here on: every time they returned was read at
        // a TSC before `at`.
        self.mf.atomic_update_u32(self.params + SEQ, |s| s | 1);
        let at = crate::arch::read_cycles();
        let host = sample.mono + scale(at.saturating_sub(sample.cycles), mult);
        let from_old = old.map_or(0, |p| p.mono_at(at));
        let mono_ns = host.max(from_old);
        // Ahead of the host: slower for one interval, by as much as makes
        // up the difference (at most a tenth).
        let ahead = mono_ns - host;
        let interval_ns = interval.as_nanos() as u64;
        let slowdown = (u128::from(mult) * u128::from(ahead) / u128::from(interval_ns.max(1))) as u64;
        let scaled = mult - slowdown.min(mult / 10);
        let offset = |clock: u64| (i128::from(clock) - i128::from(sample.mono) + i128::from(mono_ns)).max(0) as u64;
        let cycles_per_sec = ((1u128 << 32) * 1_000_000_000 / u128::from(mult.max(1))) as u64;
        let params = Params {
            base_cycles: at,
            mono_ns,
            real_ns: offset(sample.real),
            boot_ns: offset(sample.boot),
            mult: scaled,
            max_cycles: cycles_per_sec.saturating_mul(STALE_AFTER_SECS),
        };
        self.mf.write(self.params + BODY, &params.bytes());
        self.mf.write(self.params + READY, &1u32.to_le_bytes());
        self.mf.atomic_update_u32(self.params + SEQ, |s| s.wrapping_add(1));
        params
    }
}

/// The first calibration's baseline; each next one doubles, up to
/// [`INTERVAL`]. The vDSO makes syscalls until the first.
const FIRST_INTERVAL: Duration = Duration::from_millis(50);
/// How often the page is brought up to date.
const INTERVAL: Duration = Duration::from_secs(1);
/// Past this many seconds without an update, the vDSO makes syscalls.
const STALE_AFTER_SECS: u64 = 10;

/// The host's clocks at one TSC reading.
struct Sample {
    cycles: u64,
    mono: u64,
    real: u64,
    boot: u64,
}

impl Sample {
    /// A sample whose clock reads took little time (the TSC at their
    /// middle); `None` if the host's clocks cannot be read.
    fn take() -> Option<Sample> {
        let ns = |id| crate::sys::clock_gettime(id).ok().map(|(s, n)| s as u64 * 1_000_000_000 + n as u64);
        let mut best: Option<(u64, Sample)> = None;
        for _ in 0..8 {
            let before = crate::arch::read_cycles();
            let mono = ns(libc::CLOCK_MONOTONIC as u32)?;
            let real = ns(libc::CLOCK_REALTIME as u32)?;
            let boot = ns(libc::CLOCK_BOOTTIME as u32)?;
            let after = crate::arch::read_cycles();
            let took = after.wrapping_sub(before);
            if best.as_ref().is_none_or(|(t, _)| took < *t) {
                best = Some((took, Sample { cycles: before + took / 2, mono, real, boot }));
            }
        }
        best.map(|(_, s)| s)
    }
}

impl Mapping {
    /// This part's first page in the memory file, and its length.
    fn run(&self) -> (u64, u64) {
        match self.part {
            Part::Params => (self.vdso.params, PAGE_SIZE),
            Part::TimensParams => (self.vdso.timens_params, PAGE_SIZE),
            Part::Image => (self.vdso.image, self.vdso.image_len),
        }
    }
}

impl PageSource for Mapping {
    fn copy_to(&self, mf: &MemoryFile, dst: &[Chunk], offset: u64) -> SysResult<()> {
        let (start, len) = self.run();
        let mut at = offset;
        for c in dst {
            let n = c.len.min(len.saturating_sub(at));
            if n == 0 {
                break;
            }
            mf.copy(c.off, start + at, n);
            at += n;
        }
        Ok(())
    }

    fn share(&self, offset: u64, len: u64) -> SysResult<Vec<Chunk>> {
        let (start, total) = self.run();
        let n = len.min(total.saturating_sub(offset));
        if n == 0 {
            return Ok(Vec::new());
        }
        self.vdso.mf.incref(start + offset, n);
        Ok(vec![Chunk { off: start + offset, len: n }])
    }

    fn is_file(&self) -> bool {
        false
    }

    fn map_name(&self) -> Option<String> {
        Some(match self.part {
            Part::Params | Part::TimensParams => "[vvar]".into(),
            Part::Image => "[vdso]".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_image_is_an_elf_shared_object_with_the_names_libc_looks_up() {
        assert_eq!(&IMAGE[..4], b"\x7fELF");
        assert_eq!(IMAGE[16], 3, "ET_DYN");
        #[cfg(target_arch = "x86_64")]
        let (names, version) =
            (["__vdso_clock_gettime", "__vdso_gettimeofday", "__vdso_time", "__vdso_getcpu"], "LINUX_2.6");
        #[cfg(target_arch = "aarch64")]
        let (names, version) = (
            ["__kernel_clock_gettime", "__kernel_gettimeofday", "__kernel_clock_getres", "__kernel_rt_sigreturn"],
            "LINUX_2.6.39",
        );
        for name in names {
            let at = symbol(name).unwrap_or_else(|| panic!("{name} missing from .dynsym"));
            assert!(at > 0 && at < IMAGE.len() as u64, "{name} at {at:#x}, outside the image");
        }
        assert!(IMAGE.windows(version.len()).any(|w| w == version.as_bytes()), "{version} missing");
        assert_eq!(symbol("no_such_symbol"), None);
    }

    /// The trampoline is the two instructions unwinders recognise
    /// (libgcc's aarch64 linux-unwind.h): `mov x8, #139; svc #0`.
    #[cfg(target_arch = "aarch64")]
    #[test]
    fn the_signal_trampoline_is_what_unwinders_look_for() {
        let at = symbol("__kernel_rt_sigreturn").expect("the trampoline") as usize;
        assert_eq!(IMAGE[at..at + 8], [0x68, 0x11, 0x80, 0xd2, 0x01, 0x00, 0x00, 0xd4]);
    }

    #[test]
    fn updates_never_take_the_clock_back_and_a_page_ahead_runs_slower() {
        let mf = Arc::new(MemoryFile::new(1 << 20).expect("a memory file"));
        let vdso = Vdso::new(&mf).expect("pages").expect("an image");
        let one_ns_per_cycle = 1u64 << 32;
        let sample =
            |mono| Sample { cycles: crate::arch::read_cycles(), mono, real: mono + 1_000_000, boot: mono + 500 };
        let first = vdso.publish(None, &sample(1_000_000), one_ns_per_cycle, INTERVAL);
        assert!(first.mono_ns >= 1_000_000);
        assert_eq!(first.real_ns - first.mono_ns, 1_000_000);
        assert_eq!(first.boot_ns - first.mono_ns, 500);
        assert_eq!(first.mult, one_ns_per_cycle, "on time: the scale as measured");
        // The host says less time passed than the page does: the new base
        // keeps the page's time, and the next second runs a little slower.
        let second = vdso.publish(Some(first), &sample(1_000_000), one_ns_per_cycle, INTERVAL);
        assert!(second.mono_ns >= first.mono_at(second.base_cycles));
        assert!(second.mult < one_ns_per_cycle && second.mult >= one_ns_per_cycle / 10 * 9);
        // The page: its sequence even (two updates), ready, the body.
        let mut page = [0u8; 56];
        mf.read(vdso.params, &mut page);
        assert_eq!(u32::from_le_bytes(page[0..4].try_into().expect("4 bytes")), 4);
        assert_eq!(u32::from_le_bytes(page[4..8].try_into().expect("4 bytes")), 1);
        assert_eq!(&page[8..], &second.bytes());
        assert_eq!(scale(3_000_000_000, (1u64 << 32) / 3), 999_999_999);
    }
}

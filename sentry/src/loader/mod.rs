//! Loads a program into a fresh address space: the ELF image (and its
//! interpreter, for dynamically linked programs), the initial stack with
//! argv, envp and the auxiliary vector, and the program break.
//!
//! The Sentry reads the binary itself, through the fd the Gofer donates; the
//! host never execs anything of the app's.

pub mod elf;

use std::os::fd::OwnedFd;
use std::sync::Arc;

use abi::flags::auxv::*;
use abi::flags::mm::{MAP_ANONYMOUS, MAP_FIXED, MAP_PRIVATE};
use abi::{page_down, page_up, Errno, PAGE_SIZE};
use gofer::FileAttr;

use crate::kernel::process::Credentials;
use crate::mm::{FileSource, MapFile, MemoryManager, MmapRequest, SysResult};
use crate::sys;
use crate::vfs::{Dentry, Follow, Vfs};
use elf::ElfImage;

/// Where position-independent executables go (Linux's ELF_ET_DYN_BASE with
/// randomisation off).
const PIE_BASE: u64 = 0x5555_5555_4000;
/// Most bytes of argv plus envp strings (Linux's limit with an 8 MiB stack).
const MAX_ARG_BYTES: usize = 2 << 20;
/// The top of user space (Linux's TASK_SIZE_MAX on x86_64).
const TASK_SIZE: u64 = (1 << 47) - PAGE_SIZE;

/// Where address `vaddr` of an image goes when the image is loaded at
/// `bias`. A position-independent image whose segments sit above where it
/// is loaded has a "negative" bias: the sum wraps, as Linux's
/// `load_bias + vaddr` does.
fn biased(vaddr: u64, bias: u64) -> u64 {
    vaddr.wrapping_add(bias)
}

/// The first instruction of an image whose entry is `entry`, loaded at
/// `bias`: EINVAL outside user space, as Linux's `BAD_ADDR` check. The
/// entry is the image's own say, unchecked by the parser.
fn entry_point(entry: u64, bias: u64) -> SysResult<u64> {
    let at = biased(entry, bias);
    if at >= TASK_SIZE {
        return Err(Errno::EINVAL);
    }
    Ok(at)
}

/// What the task needs to start running a loaded program.
#[derive(Debug)]
pub struct Loaded {
    /// The first instruction.
    pub entry: u64,
    /// The initial stack pointer.
    pub sp: u64,
}

/// An executable file, opened through the Gofer (or, for a file of an
/// in-Sentry filesystem, copied into a memfd).
pub struct Executable {
    /// The donated host fd.
    pub fd: Arc<OwnedFd>,
    /// Its attributes.
    pub attr: FileAttr,
    /// Its name in the tree (/proc/PID/exe).
    pub dentry: Arc<Dentry>,
}

/// Whether `d` is on a noexec mount (a tmpfs mounted so).
pub fn on_noexec_mount(d: &Dentry) -> bool {
    d.on_noexec_mount()
}

/// Resolves and opens `path` for execution, with execve's checks.
pub fn open_executable(vfs: &Vfs, root: &Arc<Dentry>, cwd: &Arc<Dentry>, path: &[u8]) -> SysResult<Executable> {
    let d = vfs.resolve(root, cwd, path, Follow::Yes)?;
    if !d.is_regular() || on_noexec_mount(&d) {
        return Err(Errno::EACCES);
    }
    let attr = d.attr();
    if attr.mode & 0o111 == 0 {
        return Err(Errno::EACCES);
    }
    let fd = vfs.open_host(&d)?;
    Ok(Executable { fd: Arc::new(fd), attr, dentry: d })
}

/// The strings and identity that go on the initial stack.
pub struct ExecArgs<'a> {
    /// argv.
    pub argv: &'a [Vec<u8>],
    /// envp.
    pub envp: &'a [Vec<u8>],
    /// The path execve was given (AT_EXECFN).
    pub execfn: &'a [u8],
    /// The ids for AT_UID and friends.
    pub creds: Credentials,
    /// AT_SECURE: the program runs with privilege its caller may not
    /// have (see [`crate::kernel::caps::exec`]).
    pub secure: bool,
    /// The vDSO to map (AT_SYSINFO_EHDR), if there is one.
    pub vdso: Option<&'a std::sync::Arc<crate::kernel::vdso::Vdso>>,
    /// The process is outside the sandbox's first time namespace: its
    /// vDSO reads clocks by syscall.
    pub timens: bool,
}

fn map_image(mm: &mut MemoryManager, exe: &Executable, img: &ElfImage, bias: u64) -> SysResult<u64> {
    let mut brk = 0;
    for seg in &img.loads {
        // Below 2^48: the parser keeps vaddr + memsz within 2^47, and a
        // bias puts the lowest segment at an address mmap gave.
        let at = biased(seg.vaddr, bias);
        let start = page_down(at);
        let file_off = page_down(seg.offset);
        let file_end = at + seg.filesz;
        let mem_end = at + seg.memsz;
        let map_end = page_up(file_end).ok_or(Errno::ENOEXEC)?;
        if map_end > start {
            mm.mmap(MmapRequest {
                addr: start,
                len: map_end - start,
                prot: seg.prot,
                flags: MAP_PRIVATE | MAP_FIXED,
                file: Some(MapFile {
                    source: FileSource::Host(exe.fd.clone()),
                    offset: file_off,
                    size: exe.attr.size,
                    may_write: false,
                    name: Some(exe.dentry.clone()),
                }),
            })?;
        }
        if seg.memsz > seg.filesz {
            // The rest of the last file page belongs to .bss: zero it.
            let zero_len = (map_end - file_end) as usize;
            if zero_len > 0 {
                mm.poke(file_end, &vec![0u8; zero_len])?;
            }
            let bss_end = page_up(mem_end).ok_or(Errno::ENOEXEC)?;
            if bss_end > map_end {
                mm.mmap(MmapRequest {
                    addr: map_end,
                    len: bss_end - map_end,
                    prot: seg.prot,
                    flags: MAP_PRIVATE | MAP_FIXED | MAP_ANONYMOUS,
                    file: None,
                })?;
            }
        }
        brk = brk.max(mem_end);
    }
    Ok(brk)
}

/// Picks a base for a position-independent image: `preferred` if the whole
/// span is free there, else wherever mmap would put it.
fn choose_bias(mm: &mut MemoryManager, img: &ElfImage, preferred: Option<u64>) -> SysResult<u64> {
    if !img.dynamic {
        return Ok(0);
    }
    let span = page_up(img.max_vaddr).ok_or(Errno::ENOEXEC)? - page_down(img.min_vaddr);
    // Reserve the span with an inaccessible mapping, then map the segments
    // over it; whatever the segments leave uncovered stays reserved.
    let hint = preferred.unwrap_or(0);
    let base =
        mm.mmap(MmapRequest { addr: hint, len: span, prot: 0, flags: MAP_PRIVATE | MAP_ANONYMOUS, file: None })?;
    // Wraps when the segments sit above `base` (see `biased`).
    Ok(base.wrapping_sub(page_down(img.min_vaddr)))
}

/// Loads `exe` (and its interpreter) into the empty `mm` and builds the stack.
pub fn load(
    mm: &mut MemoryManager,
    vfs: &Vfs,
    root: &Arc<Dentry>,
    exe: &Executable,
    args: &ExecArgs<'_>,
) -> SysResult<Loaded> {
    let img = elf::parse(&exe.fd, exe.attr.size)?;
    let bias = choose_bias(mm, &img, Some(PIE_BASE))?;
    let brk = map_image(mm, exe, &img, bias)?;
    mm.set_brk_base(page_up(brk).ok_or(Errno::ENOEXEC)?);
    let phdr = img.phdr_vaddr.map(|v| biased(v, bias)).unwrap_or(0);

    let (entry, interp_base) = match &img.interp {
        None => (entry_point(img.entry, bias)?, 0),
        Some(path) => {
            let interp = open_executable(vfs, root, root, path).map_err(|e| match e {
                Errno::EACCES => Errno::ELIBBAD,
                e => e,
            })?;
            let iimg = elf::parse(&interp.fd, interp.attr.size)?;
            if iimg.interp.is_some() {
                return Err(Errno::ELIBBAD);
            }
            let ibias = choose_bias(mm, &iimg, None)?;
            map_image(mm, &interp, &iimg, ibias)?;
            (entry_point(iimg.entry, ibias)?, biased(page_down(iimg.min_vaddr), ibias))
        }
    };

    let stack_top = mm.map_stack()?;
    let vdso = match args.vdso {
        Some(v) => Some((AT_SYSINFO_EHDR, v.map_into(mm, args.timens)?)),
        None => None,
    };
    let auxv = [
        (AT_PHDR, phdr),
        (AT_PHENT, std::mem::size_of::<abi::elf::Elf64Phdr>() as u64),
        (AT_PHNUM, img.phnum),
        (AT_PAGESZ, PAGE_SIZE),
        (AT_BASE, interp_base),
        (AT_FLAGS, 0),
        (AT_ENTRY, biased(img.entry, bias)),
        (AT_UID, u64::from(args.creds.uid)),
        (AT_EUID, u64::from(args.creds.euid)),
        (AT_GID, u64::from(args.creds.gid)),
        (AT_EGID, u64::from(args.creds.egid)),
        (AT_SECURE, u64::from(args.secure)),
        (AT_CLKTCK, 100),
        (AT_HWCAP, crate::arch::hwcaps().0),
        (AT_HWCAP2, crate::arch::hwcaps().1),
        (AT_MINSIGSTKSZ, crate::arch::min_sigstack_size()),
    ];
    // Linux puts AT_SYSINFO_EHDR first.
    let auxv: Vec<(u64, u64)> = vdso.into_iter().chain(auxv).collect();
    let sp = build_stack(mm, stack_top, args, &auxv)?;
    Ok(Loaded { entry, sp })
}

/// Lays out the initial stack as Linux's `create_elf_tables` does:
/// strings at the top, then 16 random bytes, then (16-byte aligned) argc,
/// argv pointers, envp pointers and the auxv pairs.
fn build_stack(mm: &mut MemoryManager, top: u64, args: &ExecArgs<'_>, auxv: &[(u64, u64)]) -> SysResult<u64> {
    let total: usize = args.argv.iter().chain(args.envp).map(|s| s.len() + 1).sum();
    if total > MAX_ARG_BYTES {
        return Err(Errno::E2BIG);
    }
    let mut sp = top;
    let mut push_bytes = |mm: &mut MemoryManager, bytes: &[u8]| -> SysResult<u64> {
        sp -= bytes.len() as u64;
        mm.poke(sp, bytes)?;
        Ok(sp)
    };
    let cstr = |s: &[u8]| -> Vec<u8> {
        let mut v = s.to_vec();
        v.push(0);
        v
    };
    let execfn = push_bytes(mm, &cstr(args.execfn))?;
    let platform = push_bytes(mm, &cstr(abi::PLATFORM_STRING.as_bytes()))?;
    let mut envp = Vec::with_capacity(args.envp.len());
    for e in args.envp.iter().rev() {
        envp.push(push_bytes(mm, &cstr(e))?);
    }
    envp.reverse();
    let mut argv = Vec::with_capacity(args.argv.len());
    for a in args.argv.iter().rev() {
        argv.push(push_bytes(mm, &cstr(a))?);
    }
    argv.reverse();
    let mut random = [0u8; 16];
    sys::getrandom(&mut random)?;
    let random_at = push_bytes(mm, &random)?;

    let mut words: Vec<u64> = Vec::new();
    words.push(args.argv.len() as u64);
    words.extend(&argv);
    words.push(0);
    words.extend(&envp);
    words.push(0);
    for &(k, v) in auxv {
        words.extend([k, v]);
    }
    words.extend([AT_RANDOM, random_at, AT_EXECFN, execfn, AT_PLATFORM, platform, AT_NULL, 0]);
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    let sp = (sp - bytes.len() as u64) & !15;
    mm.poke(sp, &bytes)?;
    Ok(sp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_wraps_as_on_linux_and_outside_user_space_is_einval() {
        // A PIE's e_entry is app input: u64::MAX plus the bias used to
        // panic with an overflow (debug builds). As Linux's, the sum wraps.
        assert_eq!(entry_point(u64::MAX, PIE_BASE), Ok(PIE_BASE - 1));
        assert_eq!(entry_point(TASK_SIZE - PIE_BASE, PIE_BASE), Err(Errno::EINVAL));
        assert_eq!(entry_point(u64::MAX - 0x1000, 0), Err(Errno::EINVAL));
        assert_eq!(entry_point(TASK_SIZE, 0), Err(Errno::EINVAL));
        assert_eq!(entry_point(0x1040, PIE_BASE), Ok(PIE_BASE + 0x1040));
        assert_eq!(entry_point(0x40_1000, 0), Ok(0x40_1000));
    }

    #[test]
    fn a_negative_bias_wraps_to_where_the_image_was_loaded() {
        // Segments at 0x6000_0000_0000, loaded at PIE_BASE (below them).
        let min = 0x6000_0000_0000u64;
        let bias = PIE_BASE.wrapping_sub(min);
        assert_eq!(biased(min, bias), PIE_BASE);
        assert_eq!(biased(min + 0x1234, bias), PIE_BASE + 0x1234);
        assert_eq!(entry_point(min + 0x10, bias), Ok(PIE_BASE + 0x10));
    }
}

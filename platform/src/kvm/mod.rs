//! The KVM platform: the app runs in ring 3 of a hardware-virtualised
//! guest, with page tables of its own; its syscalls and faults leave the
//! guest and reach the Sentry as VM exits.
//!
//! - **One VM per platform** (one per sandbox). Guest-physical memory is
//!   the memory file at guest-physical 0 (the platform's own shared mapping
//!   of the memfd, so a guest-physical address *is* a memory-file offset
//!   and the Sentry's view of app memory is unchanged), in KVM memory slots
//!   of 1 GiB or more each, added as mappings first reach them (KVM keeps
//!   per-page data for a slot's whole size, charged to the sandbox's
//!   cgroup: one slot over the 64 GiB memory file cost a sandbox more than a
//!   small `--memory` limit); and above it, in one slot, the platform's
//!   kernel region (page tables, and each vCPU's block: stub code, save
//!   area and stack, GDT and TSS, IDT).
//! - **Page tables per address space**, built by the Sentry from `map_file`,
//!   `unmap` and `protect`: 4-level, user pages only; every address space's
//!   top table shares the one kernel entry that maps the kernel region (with
//!   2 MiB pages, supervisor-only) in the upper half. An entry that
//!   held a mapping and changes is re-written from inside the guest before
//!   the address space runs again (see `guest.rs`): where KVM shadows the
//!   guest's page tables (a nested host such as PVM) it only notices writes
//!   made by the guest.
//! - **One vCPU per context** (app thread), made at its first switch. Its
//!   FPU and XSAVE state stay in the vCPU between switches (KVM_GET_XSAVE
//!   and KVM_SET_XSAVE when the Sentry asks for them).
//! - **The stub** (`guest.rs`) is the guest's whole kernel: a `syscall`
//!   entry and exception entries that save the app's registers to the
//!   vCPU's data page and exit with an `out`, and a resume path that
//!   returns with `iretq`. One syscall is one VM exit and one entry.
//! - **Interrupts**: [`KvmInterrupter`] sets the vCPU's `immediate_exit`
//!   and signals its thread; a KVM_RUN cut short has a kick vector injected
//!   so that the app's registers reach the save area, as for any event.
//!
//! x86_64 only. The probe ([`probe`]) checks the host's KVM (API version,
//! capabilities, FSGSBASE) and runs a tiny guest through a syscall and a
//! fault; [`KvmPlatform::new`] refuses with the reason where it cannot run.

mod guest;
mod sys;

use std::any::Any;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use kvm_bindings::{kvm_msr_entry, kvm_userspace_memory_region, kvm_xcrs, Msrs, KVM_MAX_CPUID_ENTRIES};
use kvm_ioctls::{Cap, Kvm, VcpuExit, VcpuFd, VmFd};

use crate::{
    fp_layout, Access, AddressSpace, Context, FpState, Interrupter, Platform, PlatformError, Prot, Regs, SwitchOutcome,
    Syndrome, FX_SW_BYTES, XSAVE_HEADER,
};
use guest::*;

/// Bytes of the kernel region: page tables and vCPU blocks (sparse: pages
/// cost only once touched).
const KERNEL_REGION: u64 = 256 << 20;
/// The kernel region's layout: the kernel's own top table (used until a
/// vCPU first loads an address space), the kernel PDPT and PD, then pages
/// handed out to page tables and vCPU blocks.
const K_ROOT: u64 = 0;
const K_PDPT: u64 = PAGE;
const K_PD: u64 = 2 * PAGE;
const K_FIRST_FREE: u64 = 3 * PAGE;
/// The smallest memory slot over the memory file.
const MIN_SLOT_BYTES: u64 = 1 << 30;
/// The kernel region's slot; the memory file's come after it.
const KERNEL_SLOT: u32 = 0;

/// MSRs.
const MSR_STAR: u32 = 0xc000_0081;
const MSR_LSTAR: u32 = 0xc000_0082;
const MSR_SYSCALL_MASK: u32 = 0xc000_0084;
const MSR_FS_BASE: u32 = 0xc000_0100;
const MSR_GS_BASE: u32 = 0xc000_0101;
const MSR_KERNEL_GS_BASE: u32 = 0xc000_0102;
/// PVM's allowed linear address ranges (a nested PVM host only).
const MSR_PVM_LINEAR_ADDRESS_RANGE: u32 = 0x4b56_4df0;

/// The flags a user thread may set (sigreturn's FIX_EFLAGS), and IF.
const USER_EFLAGS: u64 = 0x40000 | 0x800 | 0x400 | 0x100 | 0x80 | 0x40 | 0x10 | 0x4 | 0x1 | 0x10000;
const EFLAGS_IF: u64 = 0x200;

fn kvm_err(what: impl std::fmt::Display) -> PlatformError {
    PlatformError::Kvm(what.to_string())
}

/// Page-table pages and vCPU blocks of the kernel region: a bump pointer and
/// the pages given back, which may still be shadowed by KVM and so are
/// re-written from the guest when reused.
struct PagePool {
    next: u64,
    free: Vec<u64>,
}

/// The VM, shared by the platform, its address spaces and contexts.
struct Vm {
    /// Dropped first: KVM lets go of the memory before it is unmapped.
    fd: VmFd,
    /// The memory file, guest-physical 0.
    mem: sys::Mapping,
    /// The kernel region, at guest-physical `kgpa`, virtual `kva`.
    kmem: sys::Mapping,
    kgpa: u64,
    kva: u64,
    /// The top-table entry that maps the kernel region, and its index.
    kernel_entry: u64,
    kernel_index: u64,
    pages: Mutex<PagePool>,
    stub: Stub,
    cpuid: kvm_bindings::CpuId,
    xcr0: u64,
    next_vcpu: AtomicU64,
    /// vCPU 0, made to read PVM's address range; the first context takes it.
    spare: Mutex<Option<VcpuFd>>,
    /// The bytes of the memory file each slot covers, and which slots are
    /// there (slot `KERNEL_SLOT + 1 + i` for the `i`th).
    slot_bytes: u64,
    mem_slots: Mutex<Vec<bool>>,
    /// vCPUs of contexts that ended, for new contexts to take: KVM never
    /// frees a vCPU before its VM, and a VM has at most KVM_MAX_VCPUS of
    /// them, so without reuse a sandbox could start only so many threads
    /// in its life. At most as many as were ever live at once.
    idle: Mutex<Vec<Vcpu>>,
    /// The FPU and XSAVE state of a vCPU as KVM makes it, which a reused
    /// vCPU gets back: nothing of the thread that ran on it before is left.
    fresh_fpu: Box<kvm_bindings::kvm_xsave>,
}

impl Vm {
    fn new(memfile: BorrowedFd<'_>) -> Result<Vm, PlatformError> {
        let kvm = check_host()?;
        let size = sys::file_size(memfile).map_err(|e| kvm_err(format!("the memory file: {e}")))?;
        let size = size.next_multiple_of(PAGE);
        let mem = sys::Mapping::of_file(memfile, size as usize).map_err(|e| kvm_err(format!("mapping: {e}")))?;
        let kmem =
            sys::Mapping::anonymous(KERNEL_REGION as usize).map_err(|e| kvm_err(format!("kernel region: {e}")))?;
        let kgpa = size.next_multiple_of(1 << 30);
        // Slots of 1 GiB, or larger where the host has too few for that.
        let free_slots = (kvm.get_nr_memslots() as u64).saturating_sub(1).max(1);
        let slot_bytes = size.div_ceil(free_slots).next_power_of_two().max(MIN_SLOT_BYTES);
        let fd = kvm.create_vm().map_err(|e| kvm_err(format!("KVM_CREATE_VM: {e}")))?;
        let region = kvm_userspace_memory_region {
            slot: KERNEL_SLOT,
            flags: 0,
            guest_phys_addr: kgpa,
            memory_size: kmem.len() as u64,
            userspace_addr: kmem.host_addr(),
        };
        // SAFETY: the mapping is owned by the Vm, which drops `fd` (and so
        // the slot) before it.
        unsafe { fd.set_user_memory_region(region) }
            .map_err(|e| kvm_err(format!("KVM_SET_USER_MEMORY_REGION (the kernel region): {e}")))?;
        let cpuid = kvm
            .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
            .map_err(|e| kvm_err(format!("KVM_GET_SUPPORTED_CPUID: {e}")))?;
        let xcr0 = guest_xcr0(&cpuid);
        let spare = fd.create_vcpu(0).map_err(|e| kvm_err(format!("KVM_CREATE_VCPU: {e}")))?;
        let fresh_fpu = Box::new(spare.get_xsave().map_err(|e| kvm_err(format!("KVM_GET_XSAVE: {e}")))?);
        // On PVM, the guest's kernel half must lie in the range it allows.
        let kernel_index = pvm_kernel_index(&spare).unwrap_or(256);
        let kva = 0xffff_0000_0000_0000 | (kernel_index << 39);
        let vm = Vm {
            fd,
            mem,
            kmem,
            kgpa,
            kva,
            kernel_entry: (kgpa + K_PDPT) | PTE_P | PTE_W,
            kernel_index,
            pages: Mutex::new(PagePool { next: K_FIRST_FREE, free: Vec::new() }),
            stub: stub(),
            cpuid,
            xcr0,
            next_vcpu: AtomicU64::new(1),
            spare: Mutex::new(Some(spare)),
            idle: Mutex::new(Vec::new()),
            fresh_fpu,
            slot_bytes,
            mem_slots: Mutex::new(vec![false; size.div_ceil(slot_bytes) as usize]),
        };
        // The kernel region, mapped with 2 MiB supervisor pages.
        for i in 0..KERNEL_REGION / (2 << 20) {
            vm.kmem.write_u64(K_PD + 8 * i, (kgpa + i * (2 << 20)) | PTE_P | PTE_W | PTE_PS);
        }
        vm.kmem.write_u64(K_PDPT, (kgpa + K_PD) | PTE_P | PTE_W);
        vm.kmem.write_u64(K_ROOT + 8 * kernel_index, vm.kernel_entry);
        Ok(vm)
    }

    /// A page of the kernel region (its offset), zeroed, and whether it had
    /// been used before (and so must be touched from the guest).
    fn alloc_page(&self) -> Result<(u64, bool), PlatformError> {
        let mut pool = self.pages.lock().unwrap_or_else(|e| e.into_inner());
        let (off, reused) = match pool.free.pop() {
            Some(off) => (off, true),
            None if pool.next + PAGE <= KERNEL_REGION => {
                pool.next += PAGE;
                (pool.next - PAGE, false)
            }
            None => return Err(kvm_err("the kernel region is full (too many page tables)")),
        };
        drop(pool);
        self.kmem.zero(off, PAGE as usize);
        Ok((off, reused))
    }

    /// Adds the memory slots over bytes `off..off + len` of the memory file
    /// that are not there yet (the caller checked the range is in it).
    fn ensure_slots(&self, off: u64, len: u64) -> Result<(), PlatformError> {
        if len == 0 {
            return Ok(());
        }
        let mut slots = self.mem_slots.lock().unwrap_or_else(|e| e.into_inner());
        for i in off / self.slot_bytes..=(off + len - 1) / self.slot_bytes {
            let Some(there) = slots.get_mut(i as usize) else {
                return Err(kvm_err("a mapping past the memory file"));
            };
            if *there {
                continue;
            }
            let gpa = i * self.slot_bytes;
            let region = kvm_userspace_memory_region {
                slot: KERNEL_SLOT + 1 + i as u32,
                flags: 0,
                guest_phys_addr: gpa,
                memory_size: self.slot_bytes.min(self.mem.len() as u64 - gpa),
                userspace_addr: self.mem.host_addr() + gpa,
            };
            // SAFETY: a part of the memory file's mapping, which the Vm owns
            // and drops after `fd` (and so the slot).
            unsafe { self.fd.set_user_memory_region(region) }
                .map_err(|e| kvm_err(format!("KVM_SET_USER_MEMORY_REGION (memory at {gpa:#x}): {e}")))?;
            *there = true;
        }
        Ok(())
    }

    /// `n` fresh contiguous pages (a vCPU block), never reused.
    fn alloc_block(&self, n: u64) -> Result<u64, PlatformError> {
        let mut pool = self.pages.lock().unwrap_or_else(|e| e.into_inner());
        if pool.next + n * PAGE > KERNEL_REGION {
            return Err(kvm_err("the kernel region is full (too many vCPUs)"));
        }
        pool.next += n * PAGE;
        Ok(pool.next - n * PAGE)
    }

    fn free_pages(&self, pages: &[u64]) {
        let mut pool = self.pages.lock().unwrap_or_else(|e| e.into_inner());
        pool.free.extend_from_slice(pages);
    }
}

/// /dev/kvm, opened before the Sentry left the host's paths behind.
static DEV_KVM: std::sync::OnceLock<std::io::Result<std::os::fd::OwnedFd>> = std::sync::OnceLock::new();

/// Opens /dev/kvm for the platforms made later, once the Sentry can no
/// longer open host paths.
pub fn open_dev_kvm() {
    DEV_KVM.get_or_init(sys::open_dev_kvm);
}

/// Opens /dev/kvm (or takes a copy of the one opened early) and checks
/// what the platform needs of it.
fn check_host() -> Result<Kvm, PlatformError> {
    let fd = match DEV_KVM.get() {
        Some(Ok(fd)) => sys::dup(fd.as_fd()),
        Some(Err(e)) => Err(std::io::Error::new(e.kind(), e.to_string())),
        None => sys::open_dev_kvm(),
    }
    .map_err(|e| kvm_err(format!("cannot open /dev/kvm: {e}")))?;
    // SAFETY: a /dev/kvm fd of our own, whose ownership moves to the Kvm.
    let kvm = unsafe { <Kvm as std::os::fd::FromRawFd>::from_raw_fd(std::os::fd::IntoRawFd::into_raw_fd(fd)) };
    let version = kvm.get_api_version();
    if version != 12 {
        return Err(kvm_err(format!("KVM API version {version}, not 12")));
    }
    for (cap, name) in [
        (Cap::UserMemory, "KVM_CAP_USER_MEMORY"),
        (Cap::ImmediateExit, "KVM_CAP_IMMEDIATE_EXIT"),
        (Cap::ExtCpuid, "KVM_CAP_EXT_CPUID"),
        (Cap::Xsave, "KVM_CAP_XSAVE"),
        (Cap::Xcrs, "KVM_CAP_XCRS"),
    ] {
        if !kvm.check_extension(cap) {
            return Err(kvm_err(format!("the host's KVM lacks {name}")));
        }
    }
    if kvm.get_nr_memslots() < 2 {
        return Err(kvm_err("the host's KVM has fewer than 2 memory slots"));
    }
    if !has_fsgsbase() {
        return Err(kvm_err("the CPU lacks FSGSBASE, which the guest's stub uses"));
    }
    Ok(kvm)
}

fn has_fsgsbase() -> bool {
    std::arch::x86_64::__cpuid_count(7, 0).ebx & 1 != 0
}

/// The XCR0 the guest runs with: what the host gives app threads and KVM
/// supports, with AMX's two components both in or both out.
fn guest_xcr0(cpuid: &kvm_bindings::CpuId) -> u64 {
    let supported = cpuid
        .as_slice()
        .iter()
        .find(|e| e.function == 0xd && e.index == 0)
        .map_or(0b11, |e| u64::from(e.eax) | (u64::from(e.edx) << 32));
    let mut x = fp_layout().features & supported & fp_layout().xcr0;
    const TILE: u64 = (1 << 17) | (1 << 18);
    if x & TILE != TILE {
        x &= !TILE;
    }
    x | 0b11
}

/// The first top-table index of PVM's upper-half range, if the host is PVM.
fn pvm_kernel_index(vcpu: &VcpuFd) -> Option<u64> {
    let mut msrs =
        Msrs::from_entries(&[kvm_msr_entry { index: MSR_PVM_LINEAR_ADDRESS_RANGE, ..Default::default() }]).ok()?;
    match vcpu.get_msrs(&mut msrs) {
        Ok(1) => {
            let start = msrs.as_slice().first()?.data & 0x1ff;
            (256..511).contains(&start).then_some(start)
        }
        _ => None,
    }
}

/// The KVM platform.
pub struct KvmPlatform {
    vm: Arc<Vm>,
}

impl KvmPlatform {
    /// A KVM platform whose guest memory is `memfile`: the fd must stay open
    /// as long as the platform lives. Fails, saying why, where the host's
    /// KVM cannot run it.
    pub fn new(memfile: BorrowedFd<'_>) -> Result<Self, PlatformError> {
        sys::install_kick_handler();
        Ok(KvmPlatform { vm: Arc::new(Vm::new(memfile)?) })
    }

    /// The KVM-specific address space behind `space`, if it is one.
    pub fn downcast(space: &mut dyn AddressSpace) -> Option<&mut KvmAddressSpace> {
        space.as_any_mut().downcast_mut()
    }
}

impl Platform for KvmPlatform {
    fn name(&self) -> &'static str {
        "kvm"
    }

    fn max_user_address(&self) -> u64 {
        USER_END
    }

    fn new_address_space(&self) -> Result<Box<dyn AddressSpace>, PlatformError> {
        let (root, reused) = self.vm.alloc_page()?;
        let vm = self.vm.clone();
        vm.kmem.write_u64(root + 8 * vm.kernel_index, vm.kernel_entry);
        let mut space = KvmAddressSpace { vm, root, tables: vec![root], pending: Vec::new() };
        if reused {
            space.pending.push((space.vm.kva + root) | TOUCH_PAGE);
        }
        Ok(Box::new(space))
    }

    fn new_context(&self) -> Box<dyn Context> {
        Box::new(KvmContext {
            vm: self.vm.clone(),
            vcpu: None,
            kick: Arc::new(KvmInterrupter {
                pending: AtomicBool::new(false),
                tid: AtomicI32::new(0),
                exit: Mutex::new(sys::ImmediateExit(std::ptr::null_mut())),
            }),
        })
    }
}

/// An address space: a guest page table in the kernel region.
pub struct KvmAddressSpace {
    vm: Arc<Vm>,
    /// The top table (an offset in the kernel region).
    root: u64,
    /// Every table page, given back when the address space goes.
    tables: Vec<u64>,
    /// Guest-virtual addresses of entries to re-write from the guest before
    /// this address space runs again ([`TOUCH_PAGE`]: a whole page).
    pending: Vec<u64>,
}

impl KvmAddressSpace {
    /// The kernel-region offset of the leaf entry for `addr`, making the
    /// tables on the way if `create`; without, `Err(span)` where a table is
    /// missing: nothing is mapped in the `span`-aligned block around `addr`.
    fn leaf_entry(&mut self, addr: u64, create: bool) -> Result<Result<u64, u64>, PlatformError> {
        let mut table = self.root;
        for shift in [39u32, 30, 21] {
            let at = table + 8 * ((addr >> shift) & 511);
            let e = self.vm.kmem.read_u64(at);
            table = if e & PTE_P != 0 {
                (e & PTE_ADDR) - self.vm.kgpa
            } else if create {
                let (page, reused) = self.vm.alloc_page()?;
                self.tables.push(page);
                if reused {
                    self.pending.push((self.vm.kva + page) | TOUCH_PAGE);
                }
                // A new entry where none was: KVM walks it afresh, no touch.
                self.vm.kmem.write_u64(at, (self.vm.kgpa + page) | PTE_P | PTE_W | PTE_U);
                page
            } else {
                return Ok(Err(1 << shift));
            };
        }
        Ok(Ok(table + 8 * ((addr >> 12) & 511)))
    }

    /// Sets the leaf entry at `at` to `e`, queueing a touch if the old one
    /// was present (KVM may hold a translation of it).
    fn set_entry(&mut self, at: u64, e: u64) {
        let old = self.vm.kmem.read_u64(at);
        if old == e {
            return;
        }
        if old & PTE_P != 0 {
            self.pending.push(self.vm.kva + at);
        }
        self.vm.kmem.write_u64(at, e);
    }

    fn check(&self, op: &'static str, addr: u64, len: u64) -> Result<(), PlatformError> {
        let ok = addr.is_multiple_of(PAGE)
            && len.is_multiple_of(PAGE)
            && addr.checked_add(len).is_some_and(|end| end <= USER_END);
        if ok {
            Ok(())
        } else {
            Err(PlatformError::AddressSpaceOp { op, pid: 0, errno: libc::EINVAL })
        }
    }

    /// The guest-physical address of the top table.
    fn root_gpa(&self) -> u64 {
        self.vm.kgpa + self.root
    }
}

impl AddressSpace for KvmAddressSpace {
    fn map_file(&mut self, addr: u64, len: u64, file_offset: u64, prot: Prot) -> Result<(), PlatformError> {
        self.check("mmap", addr, len)?;
        if file_offset.checked_add(len).is_none_or(|end| end > self.vm.mem.len() as u64) {
            return Err(PlatformError::AddressSpaceOp { op: "mmap", pid: 0, errno: libc::EINVAL });
        }
        self.vm.ensure_slots(file_offset, len)?;
        for i in 0..len / PAGE {
            let Ok(at) = self.leaf_entry(addr + i * PAGE, true)? else { continue };
            self.set_entry(at, leaf(file_offset + i * PAGE, prot.0));
        }
        Ok(())
    }

    fn unmap(&mut self, addr: u64, len: u64) -> Result<(), PlatformError> {
        self.check("munmap", addr, len)?;
        let mut a = addr;
        while a < addr + len {
            match self.leaf_entry(a, false)? {
                Ok(at) => {
                    self.set_entry(at, 0);
                    a += PAGE;
                }
                // No table here: on to the next block it would cover.
                Err(span) => a = (a | (span - 1)) + 1,
            }
        }
        Ok(())
    }

    fn protect(&mut self, addr: u64, len: u64, prot: Prot) -> Result<(), PlatformError> {
        self.check("mprotect", addr, len)?;
        let mut a = addr;
        while a < addr + len {
            match self.leaf_entry(a, false)? {
                Ok(at) => {
                    let old = self.vm.kmem.read_u64(at);
                    if old & (PTE_P | PTE_NONE) != 0 {
                        self.set_entry(at, leaf(old & PTE_ADDR, prot.0));
                    }
                    a += PAGE;
                }
                Err(span) => a = (a | (span - 1)) + 1,
            }
        }
        Ok(())
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

impl Drop for KvmAddressSpace {
    fn drop(&mut self) {
        self.vm.free_pages(&self.tables);
    }
}

/// Interrupts a context: sets its vCPU's `immediate_exit` and signals the
/// thread in KVM_RUN, or makes its next switch return at once.
pub struct KvmInterrupter {
    pending: AtomicBool,
    /// The thread that last ran the vCPU.
    tid: AtomicI32,
    /// Cleared (under the lock) before the vCPU goes.
    exit: Mutex<sys::ImmediateExit>,
}

impl Interrupter for KvmInterrupter {
    fn interrupt(&self) {
        self.pending.store(true, Ordering::SeqCst);
        let exit = self.exit.lock().unwrap_or_else(|e| e.into_inner());
        exit.set(1);
        let tid = self.tid.load(Ordering::SeqCst);
        if tid > 0 {
            sys::kick(tid);
        }
    }
}

/// One vCPU and its block in the kernel region.
struct Vcpu {
    fd: VcpuFd,
    /// The block's offset in the kernel region.
    block: u64,
    /// The top table it last loaded (guest-physical).
    loaded: u64,
    /// A kick vector has been injected and not yet taken.
    kicked: bool,
    /// The thread whose signal mask KVM_RUN was last given (the kick
    /// signal blocked outside KVM_RUN, unblocked inside).
    masked_for: i32,
}

/// A context: one app thread, run on a vCPU of its own.
pub struct KvmContext {
    vm: Arc<Vm>,
    vcpu: Option<Vcpu>,
    kick: Arc<KvmInterrupter>,
}

impl Drop for KvmContext {
    fn drop(&mut self) {
        let mut exit = self.kick.exit.lock().unwrap_or_else(|e| e.into_inner());
        *exit = sys::ImmediateExit(std::ptr::null_mut());
        drop(exit);
        // For the next context, unless a kick is still to be taken (it would
        // interrupt the next thread for nothing): that one is left.
        if let Some(vcpu) = self.vcpu.take().filter(|v| !v.kicked) {
            self.vm.idle.lock().unwrap_or_else(|e| e.into_inner()).push(vcpu);
        }
    }
}

impl KvmContext {
    fn vcpu(&mut self) -> Result<&mut Vcpu, PlatformError> {
        if self.vcpu.is_none() {
            let v = self.make_vcpu()?;
            self.vcpu = Some(v);
        }
        self.vcpu.as_mut().ok_or_else(|| kvm_err("no vCPU"))
    }

    /// A vCPU for this context: an idle one of a context that ended, its
    /// registers, segments and FPU state set as a new one's; else a new
    /// one with a block of its own.
    fn make_vcpu(&mut self) -> Result<Vcpu, PlatformError> {
        let vm = &self.vm;
        let idle = vm.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let (mut fd, block, reused) = match idle {
            Some(v) => {
                // SAFETY: a whole kvm_xsave that KVM_GET_XSAVE gave.
                unsafe { v.fd.set_xsave(&vm.fresh_fpu) }
                    .map_err(|e| kvm_err(format!("KVM_SET_XSAVE (a reused vCPU): {e}")))?;
                (v.fd, v.block, true)
            }
            None => {
                let spare = vm.spare.lock().unwrap_or_else(|e| e.into_inner()).take();
                let fd = match spare {
                    Some(fd) => fd,
                    None => {
                        let id = vm.next_vcpu.fetch_add(1, Ordering::Relaxed);
                        vm.fd.create_vcpu(id).map_err(|e| kvm_err(format!("KVM_CREATE_VCPU {id}: {e}")))?
                    }
                };
                (fd, vm.alloc_block(BLOCK_PAGES)?, false)
            }
        };
        // Nothing the context before asked of KVM carries over.
        let run = fd.get_kvm_run();
        (run.request_interrupt_window, run.immediate_exit) = (0, 0);
        let kva = vm.kva + block;
        vm.kmem.write_bytes(block + B_CODE, vm.stub.code);
        for (i, e) in gdt(kva + B_TSS).iter().enumerate() {
            vm.kmem.write_u64(block + B_GDT + 8 * i as u64, *e);
        }
        vm.kmem.write_bytes(block + B_TSS, &tss(kva + B_DATA + PAGE));
        vm.kmem.write_bytes(block + B_IDT, &idt(kva + B_CODE));

        // (KVM takes a vCPU's CPUID only before it first runs.)
        if !reused {
            fd.set_cpuid2(&vm.cpuid).map_err(|e| kvm_err(format!("KVM_SET_CPUID2: {e}")))?;
        }
        let mut s = fd.get_sregs().map_err(|e| kvm_err(format!("KVM_GET_SREGS: {e}")))?;
        let code = kvm_bindings::kvm_segment {
            base: 0,
            limit: 0xffff_ffff,
            selector: KERNEL_CS,
            type_: 11,
            present: 1,
            dpl: 0,
            db: 0,
            s: 1,
            l: 1,
            g: 1,
            ..Default::default()
        };
        let data = kvm_bindings::kvm_segment { selector: KERNEL_DS, type_: 3, db: 1, l: 0, ..code };
        let null = kvm_bindings::kvm_segment { selector: 0, type_: 3, present: 0, unusable: 1, ..data };
        s.cs = code;
        s.ss = data;
        (s.ds, s.es, s.fs, s.gs) = (null, null, null, null);
        s.tr = kvm_bindings::kvm_segment {
            base: kva + B_TSS,
            limit: 0x67,
            selector: TSS_SEL,
            type_: 11,
            present: 1,
            s: 0,
            db: 0,
            l: 0,
            g: 0,
            ..code
        };
        s.ldt = kvm_bindings::kvm_segment { selector: 0, type_: 2, present: 0, unusable: 1, s: 0, ..code };
        s.gdt = kvm_bindings::kvm_dtable { base: kva + B_GDT, limit: 9 * 8 - 1, ..Default::default() };
        s.idt = kvm_bindings::kvm_dtable { base: kva + B_IDT, limit: 256 * 16 - 1, ..Default::default() };
        // PG, AM, WP, NE, ET, MP, PE.
        s.cr0 = 0x8005_0033;
        // PAE, OSFXSR, OSXMMEXCPT, FSGSBASE, OSXSAVE.
        s.cr4 = 0x20 | 0x200 | 0x400 | 0x1_0000 | 0x4_0000;
        // SCE, LME, LMA, NXE.
        s.efer = 0xd01;
        s.cr3 = vm.kgpa + K_ROOT;
        fd.set_sregs(&s).map_err(|e| kvm_err(format!("KVM_SET_SREGS: {e}")))?;
        let mut xcrs = kvm_xcrs { nr_xcrs: 1, ..Default::default() };
        xcrs.xcrs[0].xcr = 0;
        xcrs.xcrs[0].value = vm.xcr0;
        fd.set_xcrs(&xcrs).map_err(|e| kvm_err(format!("KVM_SET_XCRS (xcr0 {:#x}): {e}", vm.xcr0)))?;
        let msr = |index, data| kvm_msr_entry { index, data, ..Default::default() };
        let msrs = Msrs::from_entries(&[
            // Kernel CS 0x10 (SS 0x18); user CS 0x33 and SS 0x2b.
            msr(MSR_STAR, 0x0023_0010_0000_0000),
            msr(MSR_LSTAR, kva + B_CODE + vm.stub.syscall),
            // IF, TF, DF, AC and NT cleared on entry, as on Linux.
            msr(MSR_SYSCALL_MASK, 0x4_7700),
            msr(MSR_FS_BASE, 0),
            msr(MSR_GS_BASE, 0),
            msr(MSR_KERNEL_GS_BASE, 0),
        ])
        .map_err(|e| kvm_err(format!("MSR list: {e:?}")))?;
        match fd.set_msrs(&msrs) {
            Ok(6) => {}
            Ok(n) => return Err(kvm_err(format!("KVM_SET_MSRS set {n} of 6"))),
            Err(e) => return Err(kvm_err(format!("KVM_SET_MSRS: {e}"))),
        }
        let regs = kvm_bindings::kvm_regs {
            rip: kva + B_CODE + vm.stub.resume,
            rsp: kva + B_DATA + PAGE,
            rflags: 2,
            ..Default::default()
        };
        fd.set_regs(&regs).map_err(|e| kvm_err(format!("KVM_SET_REGS: {e}")))?;
        // The context's interrupter may write immediate_exit from now on.
        let exit = sys::ImmediateExit(&mut fd.get_kvm_run().immediate_exit as *mut u8);
        *self.kick.exit.lock().unwrap_or_else(|e| e.into_inner()) = exit;
        Ok(Vcpu { fd, block, loaded: 0, kicked: false, masked_for: 0 })
    }

    /// Runs the vCPU until the stub's `out`, and returns the kind of stop the
    /// stub saved (`KIND_*`). A KVM_RUN cut short by a kick
    /// has the kick vector injected (once the vCPU can take it) so that the
    /// app's state reaches the save area, as for any other event.
    fn run(vm: &Vm, vcpu: &mut Vcpu, kick: &KvmInterrupter) -> Result<u64, PlatformError> {
        loop {
            let exit = vcpu.fd.run();
            match exit {
                Ok(VcpuExit::IoOut(EXIT_PORT, _)) => {
                    return Ok(vm.kmem.read_u64(vcpu.block + B_DATA + D_KIND));
                }
                Ok(VcpuExit::IrqWindowOpen) => {}
                Ok(other) => return Err(kvm_err(format!("unexpected exit {other:?}"))),
                Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => {}
                Err(e) => return Err(kvm_err(format!("KVM_RUN: {e}"))),
            }
            // Cut short (or the window asked for opened).
            sys::eat_kick();
            kick.exit.lock().unwrap_or_else(|e| e.into_inner()).set(0);
            let run = vcpu.fd.get_kvm_run();
            run.request_interrupt_window = 0;
            if vcpu.kicked {
                continue;
            }
            if run.if_flag != 0 && run.ready_for_interrupt_injection != 0 {
                sys::interrupt(vcpu.fd.as_raw_fd(), KICK_VECTOR).map_err(|e| kvm_err(format!("KVM_INTERRUPT: {e}")))?;
                vcpu.kicked = true;
            } else {
                // In the stub: on to the `out`, or to the app, whose first
                // instruction then takes the kick.
                run.request_interrupt_window = 1;
            }
        }
    }

    /// Has the stub apply the touches in `pending` and load `root`, in as
    /// many rounds as the ops page needs; the last round's touches are left
    /// for the resume.
    fn stage_ops(&mut self, pending: &mut Vec<u64>, root: u64) -> Result<(), PlatformError> {
        let vm = self.vm.clone();
        let kick = self.kick.clone();
        let vcpu = self.vcpu()?;
        let d = vcpu.block + B_DATA;
        loop {
            let n = pending.len().min(MAX_OPS);
            for (i, t) in pending.drain(..n).enumerate() {
                vm.kmem.write_u64(vcpu.block + B_OPS + 8 * i as u64, t);
            }
            vm.kmem.write_u64(d + D_OPS_N, n as u64);
            let load = n > 0 || vcpu.loaded != root;
            vm.kmem.write_u64(d + D_CR3, if load { root } else { 0 });
            vcpu.loaded = root;
            if pending.is_empty() {
                vm.kmem.write_u64(d + D_REQ, REQ_RESUME);
                return Ok(());
            }
            vm.kmem.write_u64(d + D_REQ, REQ_OPS);
            match KvmContext::run(&vm, vcpu, &kick)? {
                KIND_OPS => {}
                k => return Err(kvm_err(format!("the stub stopped with kind {k} while touching"))),
            }
        }
    }
}

fn kvm_space(space: &mut dyn AddressSpace) -> Result<&mut KvmAddressSpace, PlatformError> {
    KvmPlatform::downcast(space).ok_or(PlatformError::WrongAddressSpace)
}

impl Context for KvmContext {
    fn switch(&mut self, space: &mut dyn AddressSpace, regs: &mut Regs) -> Result<SwitchOutcome, PlatformError> {
        let space = kvm_space(space)?;
        if !Arc::ptr_eq(&space.vm, &self.vm) {
            return Err(PlatformError::WrongAddressSpace);
        }
        if regs.fs_base >= USER_END || regs.gs_base >= USER_END {
            return Err(kvm_err("fs or gs base outside user space"));
        }
        let tid = sys::gettid();
        let vcpu = self.vcpu()?;
        if vcpu.masked_for != tid {
            // The kick signal interrupts KVM_RUN only: blocked in this
            // thread, unblocked while the vCPU runs.
            let mask = sys::block_kick();
            sys::set_run_mask(vcpu.fd.as_raw_fd(), mask).map_err(|e| kvm_err(format!("KVM_SET_SIGNAL_MASK: {e}")))?;
            vcpu.masked_for = tid;
        }
        self.kick.tid.store(tid, Ordering::SeqCst);
        self.kick.exit.lock().unwrap_or_else(|e| e.into_inner()).set(0);
        if self.kick.pending.swap(false, Ordering::SeqCst) {
            sys::eat_kick();
            return Ok(SwitchOutcome::Interrupted);
        }
        let root = space.root_gpa();
        let mut pending = std::mem::take(&mut space.pending);
        self.stage_ops(&mut pending, root)?;
        let vm = self.vm.clone();
        let kick = self.kick.clone();
        let vcpu = self.vcpu()?;
        let d = vcpu.block + B_DATA;
        let k = &vm.kmem;
        let gp = [
            regs.r15, regs.r14, regs.r13, regs.r12, regs.rbp, regs.rbx, regs.r11, regs.r10, regs.r9, regs.r8, regs.rax,
            regs.rcx, regs.rdx, regs.rsi, regs.rdi,
        ];
        for (i, w) in gp.iter().enumerate() {
            k.write_u64(d + D_REGS + 8 * i as u64, *w);
        }
        k.write_u64(d + D_RIP, regs.rip);
        k.write_u64(d + D_RSP, regs.rsp);
        k.write_u64(d + D_RFLAGS, (regs.eflags & USER_EFLAGS) | EFLAGS_IF | 2);
        k.write_u64(d + D_FS, regs.fs_base);
        k.write_u64(d + D_GS, regs.gs_base);
        let kind = KvmContext::run(&vm, vcpu, &kick)?;
        let mut g = [0u64; 15];
        for (i, w) in g.iter_mut().enumerate() {
            *w = k.read_u64(d + D_REGS + 8 * i as u64);
        }
        [
            regs.r15, regs.r14, regs.r13, regs.r12, regs.rbp, regs.rbx, regs.r11, regs.r10, regs.r9, regs.r8, regs.rax,
            regs.rcx, regs.rdx, regs.rsi, regs.rdi,
        ] = g;
        regs.rip = k.read_u64(d + D_RIP);
        regs.rsp = k.read_u64(d + D_RSP);
        regs.eflags = k.read_u64(d + D_RFLAGS);
        regs.fs_base = k.read_u64(d + D_FS);
        regs.gs_base = k.read_u64(d + D_GS);
        regs.cs = USER_CS;
        regs.ss = USER_DS;
        match kind {
            KIND_SYSCALL => {
                regs.orig_rax = regs.rax;
                regs.rax = (-libc::ENOSYS) as i64 as u64;
                Ok(SwitchOutcome::Syscall)
            }
            KIND_EVENT => {
                regs.orig_rax = u64::MAX;
                let vector = k.read_u64(d + D_VEC);
                let err = k.read_u64(d + D_ERR);
                let cr2 = k.read_u64(d + D_CR2);
                let lstar = vm.kva + vcpu.block + B_CODE + vm.stub.syscall;
                if vector == 14 && cr2 == lstar && regs.rip == lstar && err & 0x14 == 0x14 {
                    // A nested PVM host runs the app's `syscall` as a jump
                    // to MSR_LSTAR that stays in ring 3, whose fetch of the
                    // (supervisor) entry page faults: the syscall all the
                    // same, its return address in rcx and flags in r11 as
                    // the instruction leaves them.
                    regs.rip = regs.rcx;
                    regs.eflags = regs.r11;
                    regs.orig_rax = regs.rax;
                    regs.rax = (-libc::ENOSYS) as i64 as u64;
                    return Ok(SwitchOutcome::Syscall);
                }
                if vector == u64::from(KICK_VECTOR) {
                    vcpu.kicked = false;
                    self.kick.pending.store(false, Ordering::SeqCst);
                    return Ok(SwitchOutcome::Interrupted);
                }
                Ok(fault(vector, err, cr2, regs.rip))
            }
            KIND_KERNEL_FAULT => Err(kvm_err(format!(
                "the guest's stub faulted: vector {} error {:#x} at {:#x} (cr2 {:#x})",
                k.read_u64(d + D_VEC),
                k.read_u64(d + D_ERR),
                k.read_u64(d + D_RIP),
                k.read_u64(d + D_CR2)
            ))),
            other => Err(kvm_err(format!("the stub stopped with kind {other}"))),
        }
    }

    fn interrupter(&self) -> Option<Arc<dyn Interrupter>> {
        Some(self.kick.clone())
    }

    /// The vCPU's XSAVE area (KVM_GET_XSAVE), in the standard format.
    fn get_fp_state(&mut self, _space: &mut dyn AddressSpace, fp: &mut FpState) -> Result<bool, PlatformError> {
        let vcpu = self.vcpu()?;
        let x = vcpu.fd.get_xsave().map_err(|e| kvm_err(format!("KVM_GET_XSAVE: {e}")))?;
        for (i, w) in x.region.iter().enumerate() {
            fp.bytes[4 * i..4 * i + 4].copy_from_slice(&w.to_le_bytes());
        }
        fp.bytes[FX_SW_BYTES..XSAVE_HEADER].fill(0);
        Ok(true)
    }

    /// Loads `fp` into the vCPU (KVM_SET_XSAVE), components the guest lacks
    /// dropped.
    fn set_fp_state(&mut self, _space: &mut dyn AddressSpace, fp: &FpState) -> Result<bool, PlatformError> {
        let xcr0 = self.vm.xcr0;
        let vcpu = self.vcpu()?;
        let mut clean = fp.clone();
        clean.sanitize(fp_layout());
        clean.bytes[FX_SW_BYTES..XSAVE_HEADER].fill(0);
        let bv = clean.xstate_bv() & xcr0;
        clean.set_xstate_bv(bv);
        let mut x = kvm_bindings::kvm_xsave::default();
        for (i, w) in x.region.iter_mut().enumerate() {
            let b = &clean.bytes[4 * i..4 * i + 4];
            *w = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        }
        // SAFETY: a whole kvm_xsave of the legacy size (no XSAVE2 features
        // are enabled for this VM), built above.
        unsafe { vcpu.fd.set_xsave(&x) }.map_err(|e| kvm_err(format!("KVM_SET_XSAVE: {e}")))?;
        Ok(true)
    }
}

/// The signal Linux raises for exception `vector` with error code `err`
/// at `rip` (CR2 `cr2` for a page fault), as the other platforms report it.
fn fault(vector: u64, err: u64, cr2: u64, rip: u64) -> SwitchOutcome {
    const SI_KERNEL: i32 = 0x80;
    let syndrome = Some(Syndrome { number: vector, code: err });
    let (signo, code, addr) = match vector {
        0 => (libc::SIGFPE, 1 /* FPE_INTDIV */, rip),
        1 => (libc::SIGTRAP, 2 /* TRAP_TRACE */, rip),
        3 => (libc::SIGTRAP, SI_KERNEL, 0),
        6 => (libc::SIGILL, 2 /* ILL_ILLOPN */, rip),
        11 | 12 => (libc::SIGBUS, SI_KERNEL, 0),
        14 => {
            let code = if err & 1 != 0 {
                2 /* SEGV_ACCERR */
            } else {
                1 /* SEGV_MAPERR */
            };
            let access = if err & 0x10 != 0 {
                Access::Exec
            } else if err & 2 != 0 {
                Access::Write
            } else {
                Access::Read
            };
            return SwitchOutcome::Fault {
                signo: libc::SIGSEGV as u32,
                code,
                addr: cr2,
                access: Some(access),
                syndrome,
            };
        }
        16 | 19 => (libc::SIGFPE, 0, rip),
        17 => (libc::SIGBUS, 1 /* BUS_ADRALN */, 0),
        _ => (libc::SIGSEGV, SI_KERNEL, 0),
    };
    SwitchOutcome::Fault { signo: signo as u32, code, addr, access: None, syndrome }
}

/// Checks that the host can run the KVM platform: its KVM has what the
/// platform needs, and a tiny guest makes a syscall that reaches the
/// Sentry and then faults with SIGILL. Returns why not otherwise.
pub fn probe() -> Result<(), PlatformError> {
    static RESULT: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    RESULT.get_or_init(|| run_probe().map_err(|e| e.to_string())).clone().map_err(PlatformError::Kvm)
}

fn run_probe() -> Result<(), PlatformError> {
    // A syscall (getpid), then an undefined instruction.
    let mem = sys::probe_memfd(&[0x0f, 0x05, 0x0f, 0x0b]).map_err(|e| kvm_err(format!("probe memory: {e}")))?;
    let platform = KvmPlatform::new(mem.as_fd())?;
    let mut space = platform.new_address_space()?;
    let at = platform.min_user_address();
    space.map_file(at, PAGE, 0, Prot(Prot::READ | Prot::EXEC))?;
    let mut ctx = platform.new_context();
    let mut regs = Regs::for_entry(at, 0);
    regs.rax = libc::SYS_getpid as u64;
    match ctx.switch(space.as_mut(), &mut regs)? {
        SwitchOutcome::Syscall if regs.syscall_nr() == libc::SYS_getpid as u64 && regs.rip == at + 2 => {}
        other => return Err(kvm_err(format!("probe: expected a getpid syscall, got {other:?} at {:#x}", regs.rip))),
    }
    match ctx.switch(space.as_mut(), &mut regs)? {
        SwitchOutcome::Fault { signo, .. } if signo == libc::SIGILL as u32 => Ok(()),
        other => Err(kvm_err(format!("probe: expected SIGILL, got {other:?}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether this host has a KVM the platform can open; prints why the
    /// test is skipped otherwise.
    pub(super) fn usable() -> bool {
        match check_host() {
            Ok(_) => true,
            Err(e) => {
                eprintln!("skipped: no usable KVM here ({e})");
                false
            }
        }
    }

    #[test]
    fn a_tiny_guest_makes_a_syscall_and_faults() {
        if !usable() {
            return;
        }
        run_probe().expect("the probe's guest runs");
    }

    pub(super) const CODE: u64 = 0x10000;
    const DATA: u64 = 0x20000;

    /// A platform over a memfd of 16 pages whose first page holds `code`,
    /// an address space with that page mapped at [`CODE`], and a context.
    pub(super) fn guest(code: &[u8]) -> (std::os::fd::OwnedFd, KvmPlatform, Box<dyn AddressSpace>, Box<dyn Context>) {
        let mem = sys::probe_memfd(code).expect("memfd");
        // SAFETY: plain call on our own fd.
        assert_eq!(unsafe { libc::ftruncate(mem.as_raw_fd(), 16 * 4096) }, 0);
        let platform = KvmPlatform::new(mem.as_fd()).expect("platform");
        let mut space = platform.new_address_space().expect("address space");
        space.map_file(CODE, PAGE, 0, Prot(Prot::READ | Prot::EXEC)).expect("map code");
        let ctx = platform.new_context();
        (mem, platform, space, ctx)
    }

    fn read_file_u64(fd: &std::os::fd::OwnedFd, off: u64) -> u64 {
        let mut b = [0u8; 8];
        // SAFETY: reads 8 bytes into our buffer.
        let n = unsafe { libc::pread(fd.as_raw_fd(), b.as_mut_ptr().cast(), 8, off as i64) };
        assert_eq!(n, 8);
        u64::from_le_bytes(b)
    }

    fn fault_of(o: SwitchOutcome) -> (u32, i32, u64, Option<Access>) {
        match o {
            SwitchOutcome::Fault { signo, code, addr, access, .. } => (signo, code, addr, access),
            other => panic!("expected a fault, got {other:?}"),
        }
    }

    #[test]
    fn faults_mappings_protections_and_unmaps_take_effect_at_once() {
        if !usable() {
            return;
        }
        // loop: mov [rbx], rax; syscall; jmp loop
        let (mem, _p, mut space, mut ctx) = guest(&[0x48, 0x89, 0x03, 0x0f, 0x05, 0xeb, 0xf9]);
        let mut regs = Regs::for_entry(CODE, 0);
        regs.rbx = DATA;
        regs.rax = 0x1111;
        let segv = libc::SIGSEGV as u32;
        // Nothing mapped there: a write fault, at the store.
        let f = fault_of(ctx.switch(space.as_mut(), &mut regs).expect("switch"));
        assert_eq!(f, (segv, 1, DATA, Some(Access::Write)));
        assert_eq!(regs.rip, CODE);
        // Mapped: the store lands in the memory file, then the syscall.
        space.map_file(DATA, PAGE, 0x1000, Prot(Prot::READ | Prot::WRITE)).expect("map");
        assert_eq!(ctx.switch(space.as_mut(), &mut regs).expect("switch"), SwitchOutcome::Syscall);
        assert_eq!((regs.orig_rax, regs.rip, regs.rcx), (0x1111, CODE + 5, CODE + 5));
        assert_eq!(read_file_u64(&mem, 0x1000), 0x1111);
        // Read-only now: the same store faults with SEGV_ACCERR.
        space.protect(DATA, PAGE, Prot(Prot::READ)).expect("protect");
        regs.rax = 0x2222;
        let f = fault_of(ctx.switch(space.as_mut(), &mut regs).expect("switch"));
        assert_eq!(f, (segv, 2, DATA, Some(Access::Write)));
        assert_eq!(read_file_u64(&mem, 0x1000), 0x1111);
        space.protect(DATA, PAGE, Prot(Prot::READ | Prot::WRITE)).expect("protect");
        assert_eq!(ctx.switch(space.as_mut(), &mut regs).expect("switch"), SwitchOutcome::Syscall);
        assert_eq!(read_file_u64(&mem, 0x1000), 0x2222);
        // Unmapped: faults again.
        space.unmap(DATA, PAGE).expect("unmap");
        regs.rax = 0x3333;
        let f = fault_of(ctx.switch(space.as_mut(), &mut regs).expect("switch"));
        assert_eq!(f, (segv, 1, DATA, Some(Access::Write)));
        // Mapped elsewhere in the file: the store goes there.
        space.map_file(DATA, PAGE, 0x2000, Prot(Prot::READ | Prot::WRITE)).expect("map");
        assert_eq!(ctx.switch(space.as_mut(), &mut regs).expect("switch"), SwitchOutcome::Syscall);
        assert_eq!((read_file_u64(&mem, 0x1000), read_file_u64(&mem, 0x2000)), (0x2222, 0x3333));
        // Replaced in place, without an unmap between.
        space.map_file(DATA, PAGE, 0x3000, Prot(Prot::READ | Prot::WRITE)).expect("map");
        regs.rax = 0x4444;
        assert_eq!(ctx.switch(space.as_mut(), &mut regs).expect("switch"), SwitchOutcome::Syscall);
        assert_eq!((read_file_u64(&mem, 0x2000), read_file_u64(&mem, 0x3000)), (0x3333, 0x4444));
    }

    #[test]
    fn two_address_spaces_on_one_context_stay_apart() {
        if !usable() {
            return;
        }
        let (mem, p, mut a, mut ctx) = guest(&[0x48, 0x89, 0x03, 0x0f, 0x05, 0xeb, 0xf9]);
        let mut b = p.new_address_space().expect("address space");
        b.map_file(CODE, PAGE, 0, Prot(Prot::READ | Prot::EXEC)).expect("map code");
        a.map_file(DATA, PAGE, 0x1000, Prot(Prot::READ | Prot::WRITE)).expect("map");
        b.map_file(DATA, PAGE, 0x2000, Prot(Prot::READ | Prot::WRITE)).expect("map");
        for i in 0..3u64 {
            let space = if i == 1 { &mut b } else { &mut a };
            let mut regs = Regs::for_entry(CODE, 0);
            regs.rbx = DATA;
            regs.rax = 0x100 + i;
            assert_eq!(ctx.switch(space.as_mut(), &mut regs).expect("switch"), SwitchOutcome::Syscall);
        }
        assert_eq!((read_file_u64(&mem, 0x1000), read_file_u64(&mem, 0x2000)), (0x102, 0x101));
        // A dropped address space's tables are reused, and the new one sees
        // none of the old mappings.
        drop(b);
        let mut c = p.new_address_space().expect("address space");
        c.map_file(CODE, PAGE, 0, Prot(Prot::READ | Prot::EXEC)).expect("map code");
        let mut regs = Regs::for_entry(CODE, 0);
        regs.rbx = DATA;
        let f = fault_of(ctx.switch(c.as_mut(), &mut regs).expect("switch"));
        assert_eq!(f, (libc::SIGSEGV as u32, 1, DATA, Some(Access::Write)));
    }

    #[test]
    fn the_tls_base_and_registers_go_through() {
        if !usable() {
            return;
        }
        // mov rax, fs:[0]; syscall; wrgsbase? no: mov rdx, gs:[8]; syscall
        let code = [
            0x64, 0x48, 0x8b, 0x04, 0x25, 0, 0, 0, 0, 0x0f, 0x05, 0x65, 0x48, 0x8b, 0x14, 0x25, 8, 0, 0, 0, 0x0f, 0x05,
        ];
        let (mem, _p, mut space, mut ctx) = guest(&code);
        let v: [u8; 16] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16];
        // SAFETY: writes our buffer into our memfd.
        assert_eq!(unsafe { libc::pwrite(mem.as_raw_fd(), v.as_ptr().cast(), 16, 0x1000) }, 16);
        space.map_file(DATA, PAGE, 0x1000, Prot(Prot::READ)).expect("map");
        let mut regs = Regs::for_entry(CODE, 0x7000);
        regs.fs_base = DATA;
        regs.gs_base = DATA;
        (regs.r8, regs.r15, regs.rbp) = (8, 15, 0xbb);
        assert_eq!(ctx.switch(space.as_mut(), &mut regs).expect("switch"), SwitchOutcome::Syscall);
        assert_eq!(regs.orig_rax, 0x0807_0605_0403_0201);
        assert_eq!((regs.r8, regs.r15, regs.rbp, regs.rsp, regs.fs_base), (8, 15, 0xbb, 0x7000, DATA));
        assert_eq!(ctx.switch(space.as_mut(), &mut regs).expect("switch"), SwitchOutcome::Syscall);
        assert_eq!(regs.rdx, 0x100f_0e0d_0c0b_0a09);
    }

    #[test]
    fn the_fpu_state_is_the_threads() {
        if !usable() {
            return;
        }
        // syscall; syscall
        let (_mem, _p, mut space, mut ctx) = guest(&[0x0f, 0x05, 0x0f, 0x05]);
        let mut fp = FpState::initial();
        fp.set_mxcsr(0x1f80 | 0x6000);
        assert!(ctx.set_fp_state(space.as_mut(), &fp).expect("set"));
        let mut regs = Regs::for_entry(CODE, 0);
        assert_eq!(ctx.switch(space.as_mut(), &mut regs).expect("switch"), SwitchOutcome::Syscall);
        let mut got = FpState::default();
        assert!(ctx.get_fp_state(space.as_mut(), &mut got).expect("get"));
        assert_eq!(got.mxcsr(), 0x1f80 | 0x6000);
    }

    #[test]
    fn an_interrupt_stops_a_spinning_guest() {
        if !usable() {
            return;
        }
        // jmp $
        let (_mem, _p, mut space, mut ctx) = guest(&[0xeb, 0xfe]);
        let kick = ctx.interrupter().expect("an interrupter");
        // Before the switch: the next one returns at once.
        kick.interrupt();
        let mut regs = Regs::for_entry(CODE, 0);
        assert_eq!(ctx.switch(space.as_mut(), &mut regs).expect("switch"), SwitchOutcome::Interrupted);
        // While the guest spins.
        let t = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(100));
            kick.interrupt();
        });
        assert_eq!(ctx.switch(space.as_mut(), &mut regs).expect("switch"), SwitchOutcome::Interrupted);
        assert_eq!(regs.rip, CODE);
        t.join().expect("kicker");
    }
}

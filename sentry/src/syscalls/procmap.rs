//! PROCMAP_QUERY, the ioctl on an open /proc/PID/maps (Linux 6.11's
//! `do_procmap_query`): one mapping of that process, chosen by address and
//! flags, described as its maps line describes it, with its name and its
//! file's build ID copied out where asked.

use abi::flags::procmap_query::*;
use abi::types::ProcmapQuery;
use abi::{Errno, PAGE_SIZE};
use zerocopy::IntoBytes;

use crate::kernel::task::Task;
use crate::mm::SysResult;
use crate::vfs::procfs::MapView;

/// The flags Linux knows (PROCMAP_QUERY_VALID_FLAGS_MASK).
const VALID_FLAGS: u64 =
    VMA_READABLE | VMA_WRITABLE | VMA_EXECUTABLE | VMA_SHARED | COVERING_OR_NEXT_VMA | FILE_BACKED_VMA;

/// The shortest argument Linux takes: up to and including `query_addr`.
const MIN_SIZE: u64 = 24;

/// The name buffer's bound (PATH_MAX).
const NAME_MAX: usize = 4096;

/// The ioctl on the maps file of process `tgid` (thread `tid`), whose
/// argument is at `arg`.
pub(super) fn query(t: &mut Task, (tgid, tid): (i32, Option<i32>), arg: u64) -> SysResult<u64> {
    // copy_struct_from_user: a larger struct from a newer caller is taken
    // if what we do not know of it is zero.
    let size: u64 = t.mm().read_val(arg)?;
    if size > PAGE_SIZE {
        return Err(Errno::E2BIG);
    }
    if size < MIN_SIZE {
        return Err(Errno::EINVAL);
    }
    let mut raw = vec![0u8; size as usize];
    t.mm().copy_in(arg, &mut raw)?;
    let known = std::mem::size_of::<ProcmapQuery>();
    if raw.get(known..).is_some_and(|extra| extra.iter().any(|&b| b != 0)) {
        return Err(Errno::E2BIG);
    }
    let mut q = ProcmapQuery::default();
    let n = raw.len().min(known);
    q.as_mut_bytes()[..n].copy_from_slice(&raw[..n]);
    if q.query_flags & !VALID_FLAGS != 0
        || (q.vma_name_size != 0) != (q.vma_name_addr != 0)
        || (q.build_id_size != 0) != (q.build_id_addr != 0)
    {
        return Err(Errno::EINVAL);
    }
    let mm = crate::vfs::procfs::mm_of(&t.kernel, tgid, tid)?;
    let views = crate::vfs::procfs::map_views(&t.kernel, &mm);
    let m = matching(&views, q.query_addr, q.query_flags).ok_or(Errno::ENOENT)?;
    q.vma_start = m.start;
    q.vma_end = m.end;
    q.vma_flags = vma_flags(m);
    q.vma_page_size = PAGE_SIZE;
    (q.vma_offset, q.inode, q.dev_major, q.dev_minor) = if m.file {
        (m.offset, m.ino, crate::vfs::devfs::major(m.dev), crate::vfs::devfs::minor(m.dev))
    } else {
        (0, 0, 0, 0)
    };
    // No build ID (not a host ELF file, or none in it) is size 0, not an
    // error; one longer than the buffer is.
    let build_id = if q.build_id_size != 0 {
        let id = m.host_fd.as_ref().and_then(|fd| crate::loader::elf::build_id(fd)).unwrap_or_default();
        if id.len() > q.build_id_size as usize {
            return Err(Errno::ENAMETOOLONG);
        }
        q.build_id_size = id.len() as u32;
        id
    } else {
        Vec::new()
    };
    let name = if q.vma_name_size != 0 {
        let room = NAME_MAX.min(q.vma_name_size as usize);
        let name = m.name.clone().map(|mut n| {
            n.push(0);
            n
        });
        let len = name.as_ref().map_or(0, Vec::len);
        if len > room {
            return Err(Errno::ENAMETOOLONG);
        }
        q.vma_name_size = len as u32;
        name.unwrap_or_default()
    } else {
        Vec::new()
    };
    if !name.is_empty() {
        t.mm().copy_out(q.vma_name_addr, &name)?;
    }
    if !build_id.is_empty() {
        t.mm().copy_out(q.build_id_addr, &build_id)?;
    }
    t.mm().copy_out(arg, &q.as_bytes()[..n])?;
    Ok(0)
}

/// The mapping's rights as PROCMAP_QUERY reports them.
fn vma_flags(m: &MapView) -> u64 {
    use abi::flags::mm::{PROT_EXEC, PROT_READ, PROT_WRITE};
    [(PROT_READ, VMA_READABLE), (PROT_WRITE, VMA_WRITABLE), (PROT_EXEC, VMA_EXECUTABLE)]
        .iter()
        .filter(|(prot, _)| m.prot & prot != 0)
        .fold(if m.shared { VMA_SHARED } else { 0 }, |f, (_, flag)| f | flag)
}

/// Linux's `query_matching_vma`: the mapping covering `addr` that meets
/// `flags`' conditions, or with COVERING_OR_NEXT_VMA the first one from
/// `addr` on that does.
fn matching(views: &[MapView], addr: u64, flags: u64) -> Option<&MapView> {
    let wanted = flags & (VMA_READABLE | VMA_WRITABLE | VMA_EXECUTABLE | VMA_SHARED);
    views.iter().filter(|m| m.end > addr).find_map(|m| {
        let meets = (flags & FILE_BACKED_VMA == 0 || m.file) && vma_flags(m) & wanted == wanted;
        if meets && (flags & COVERING_OR_NEXT_VMA != 0 || m.start <= addr) {
            Some(Some(m))
        } else if flags & COVERING_OR_NEXT_VMA != 0 {
            None // keep looking
        } else {
            Some(None) // the covering one does not do: ENOENT
        }
    })?
}

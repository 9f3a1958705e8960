//! Memory syscalls: mmap, munmap, mprotect, brk, madvise.

use abi::flags::mm::{MAP_ANONYMOUS, MAP_PRIVATE, MAP_TYPE, PROT_WRITE};
use abi::flags::open::{O_ACCMODE, O_PATH, O_RDWR, O_WRONLY};
use abi::Errno;

use super::Args;
use crate::kernel::task::Task;
use crate::mm::{FileSource, MapFile, MmapRequest, SysResult};
use crate::vfs::file::Mappable;

pub fn mmap(t: &mut Task, a: &Args) -> SysResult<u64> {
    let (addr, len, prot, mut flags, fd, offset) = (a.addr(0), a.u64(1), a.u32(2), a.u32(3), a.fd(4), a.u64(5));
    let file = if flags & MAP_ANONYMOUS != 0 {
        None
    } else {
        let f = t.fds().get(fd)?.clone();
        if f.flags() & O_PATH != 0 {
            return Err(Errno::EBADF);
        }
        let acc = f.flags() & O_ACCMODE;
        if acc == O_WRONLY {
            return Err(Errno::EACCES);
        }
        let shared = flags & MAP_TYPE != MAP_PRIVATE;
        let shared_write = shared && prot & PROT_WRITE != 0;
        // A shared mapping of a volume's file maps its cache, which is
        // written back to the host.
        // A file open for writing registers its fd for writeback even when
        // mapped read-only: mprotect may make the mapping writable.
        let volume_pages =
            if shared && !(shared_write && acc != O_RDWR) { f.ops.shared_pages(acc == O_RDWR) } else { None };
        let mappable = match volume_pages {
            Some(pages) => Mappable::Pages(pages?, f.ops.stat()?.size),
            None => f.ops.mappable().ok_or(Errno::ENODEV)?,
        };
        match mappable {
            // The rootfs is read-only: a writable shared mapping of its files
            // is refused as Linux refuses it for a file opened read-only.
            Mappable::Host(host_fd, size) => {
                if shared_write {
                    return Err(Errno::EACCES);
                }
                Some(MapFile { source: FileSource::Host(host_fd), offset, size, may_write: acc == O_RDWR })
            }
            Mappable::Pages(source, size) => {
                if shared_write && acc != O_RDWR {
                    return Err(Errno::EACCES);
                }
                if shared_write && f.ops.write_sealed() {
                    return Err(Errno::EPERM);
                }
                Some(MapFile { source: FileSource::Pages(source), offset, size, may_write: acc == O_RDWR })
            }
            // /dev/zero: anonymous memory (shared or private).
            Mappable::Anon => {
                flags |= MAP_ANONYMOUS;
                None
            }
        }
    };
    t.mm().mmap(MmapRequest { addr, len, prot, flags, file })
}

pub fn munmap(t: &mut Task, a: &Args) -> SysResult<u64> {
    t.mm().munmap(a.addr(0), a.u64(1)).map(|_| 0)
}

pub fn mprotect(t: &mut Task, a: &Args) -> SysResult<u64> {
    t.mm().mprotect(a.addr(0), a.u64(1), a.u32(2)).map(|_| 0)
}

pub fn brk(t: &mut Task, a: &Args) -> SysResult<u64> {
    Ok(t.mm().brk(a.addr(0)))
}

pub fn madvise(t: &mut Task, a: &Args) -> SysResult<u64> {
    t.mm().madvise(a.addr(0), a.u64(1), a.u32(2)).map(|_| 0)
}

pub fn mremap(t: &mut Task, a: &Args) -> SysResult<u64> {
    t.mm().mremap(a.addr(0), a.u64(1), a.u64(2), a.u32(3), a.addr(4))
}

pub fn msync(t: &mut Task, a: &Args) -> SysResult<u64> {
    t.mm().msync(a.addr(0), a.u64(1), a.u32(2)).map(|_| 0)
}

pub fn mincore(t: &mut Task, a: &Args) -> SysResult<u64> {
    let v = t.mm().mincore(a.addr(0), a.u64(1))?;
    t.mm().copy_out(a.addr(2), &v)?;
    Ok(0)
}

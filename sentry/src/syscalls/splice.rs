//! Moving data between two files without the app's buffers: sendfile, and
//! fadvise's validation.

use abi::Errno;

use super::Args;
use crate::kernel::task::Task;
use crate::mm::{Chunk, SysResult};

/// Bytes sendfile moves per step, through a scratch run of the memory file.
const STEP: u64 = 64 * 1024;

pub fn sendfile(t: &mut Task, a: &Args) -> SysResult<u64> {
    use abi::flags::open::{O_ACCMODE, O_RDONLY, O_WRONLY};
    let (out_fd, in_fd, off_addr, count) = (a.fd(0), a.fd(1), a.addr(2), a.u64(3));
    let (out, inp) = {
        let fds = t.fds();
        (fds.get(out_fd)?.clone(), fds.get(in_fd)?.clone())
    };
    if inp.flags() & O_ACCMODE == O_WRONLY || out.flags() & O_ACCMODE == O_RDONLY {
        return Err(Errno::EBADF);
    }
    if !inp.ops.seekable() {
        return Err(Errno::EINVAL);
    }
    let mut pos: u64 = if off_addr != 0 {
        let v: i64 = t.mm().read_val(off_addr)?;
        u64::try_from(v).map_err(|_| Errno::EINVAL)?
    } else {
        *inp.offset.lock().unwrap_or_else(|e| e.into_inner())
    };
    let count = count.min(0x7fff_f000);
    let mf = t.kernel.memfile.clone();
    let scratch = mf.allocate(STEP)?;
    let mut done = 0u64;
    let mut result = Ok(());
    while done < count {
        let want = (count - done).min(STEP);
        let n = match inp.ops.read(&mf, &[Chunk { off: scratch, len: want }], Some(pos)) {
            Ok(0) => break,
            Ok(n) => n as u64,
            Err(e) => {
                result = Err(e);
                break;
            }
        };
        let mut written = 0;
        while written < n {
            let chunk = [Chunk { off: scratch + written, len: n - written }];
            let off =
                if out.ops.seekable() { Some(*out.offset.lock().unwrap_or_else(|e| e.into_inner())) } else { None };
            match out.ops.write(&mf, &chunk, off) {
                Ok(w) => {
                    if out.ops.seekable() {
                        *out.offset.lock().unwrap_or_else(|e| e.into_inner()) += w as u64;
                    }
                    written += w as u64;
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        pos += written;
        done += written;
        if result.is_err() || written < n {
            break;
        }
    }
    mf.release(scratch, STEP);
    if off_addr != 0 {
        t.mm().write_val(off_addr, &(pos as i64))?;
    } else {
        *inp.offset.lock().unwrap_or_else(|e| e.into_inner()) = pos;
    }
    match result {
        Err(e) if done == 0 => Err(e),
        _ => Ok(done),
    }
}

pub fn fadvise64(t: &mut Task, a: &Args) -> SysResult<u64> {
    let f = t.fds().get(a.fd(0))?.clone();
    if !f.ops.seekable() {
        return Err(Errno::ESPIPE);
    }
    if a.u32(3) > 5 {
        return Err(Errno::EINVAL);
    }
    Ok(0)
}

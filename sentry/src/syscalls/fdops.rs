//! Operations on many descriptors at once.

use std::sync::{Arc, Mutex};

use abi::Errno;

use super::Args;
use crate::kernel::task::Task;
use crate::mm::SysResult;

/// close_range(2): closes, or marks close-on-exec, every fd in
/// `[first, last]`; CLOSE_RANGE_UNSHARE gives the caller its own table first.
pub fn close_range(t: &mut Task, a: &Args) -> SysResult<u64> {
    const CLOSE_RANGE_UNSHARE: u32 = 2;
    const CLOSE_RANGE_CLOEXEC: u32 = 4;
    let (first, last, flags) = (a.u32(0), a.u32(1), a.u32(2));
    if flags & !(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC) != 0 || first > last {
        return Err(Errno::EINVAL);
    }
    if flags & CLOSE_RANGE_UNSHARE != 0 {
        let copy = t.fds().clone();
        t.fds = Arc::new(Mutex::new(copy));
        t.publish_view();
    }
    let mut fds = t.fds();
    let targets: Vec<i32> = fds.fds().filter(|&fd| (first..=last).contains(&(fd as u32))).collect();
    let mut closed = Vec::new();
    for fd in targets {
        if flags & CLOSE_RANGE_CLOEXEC != 0 {
            fds.set_cloexec(fd, true)?;
        } else if let Ok(f) = fds.remove(fd) {
            closed.push(f);
        }
    }
    drop(fds);
    for f in &closed {
        super::locks::closed(t, f);
    }
    Ok(0)
}

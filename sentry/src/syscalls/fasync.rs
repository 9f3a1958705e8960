//! A file's owner and its signals: fcntl's F_SETOWN, F_GETOWN,
//! F_SETOWN_EX, F_GETOWN_EX, F_SETSIG and F_GETSIG, O_ASYNC through
//! F_SETFL, and the ioctls that do the same (FIOASYNC, FIOSETOWN,
//! SIOCSPGRP, FIOGETOWN, SIOCGPGRP). The rules are
//! [`crate::kernel::fasync`]'s.

use std::sync::Arc;

use abi::Errno;

use crate::kernel::fasync::{FileOwner, OwnerKind};
use crate::kernel::task::Task;
use crate::kernel::Kernel;
use crate::mm::SysResult;
use crate::vfs::file::File;

pub const F_SETOWN: u32 = 8;
pub const F_GETOWN: u32 = 9;
pub const F_SETSIG: u32 = 10;
pub const F_GETSIG: u32 = 11;
pub const F_SETOWN_EX: u32 = 15;
pub const F_GETOWN_EX: u32 = 16;

/// ioctls: O_ASYNC on or off, and the owner (sockets).
pub const FIOASYNC: u32 = 0x5452;
pub const FIOSETOWN: u32 = 0x8901;
pub const SIOCSPGRP: u32 = 0x8902;
pub const FIOGETOWN: u32 = 0x8903;
pub const SIOCGPGRP: u32 = 0x8904;

/// `struct f_owner_ex`'s types.
const F_OWNER_TID: i32 = 0;
const F_OWNER_PID: i32 = 1;
const F_OWNER_PGRP: i32 = 2;

/// `struct f_owner_ex`.
#[repr(C)]
#[derive(
    Clone, Copy, Default, zerocopy::FromBytes, zerocopy::IntoBytes, zerocopy::Immutable, zerocopy::KnownLayout,
)]
struct FOwnerEx {
    kind: i32,
    pid: i32,
}

/// Whether `id` is in use as a thread, process, group or session id
/// (Linux's find_vpid finds a `struct pid` for it).
fn pid_in_use(kernel: &Kernel, id: i32) -> bool {
    let procs = kernel.procs();
    procs.threads.contains_key(&id)
        || procs.procs.contains_key(&id)
        || procs.procs.values().any(|p| p.pgid == id || p.sid == id)
}

/// F_SETOWN (and FIOSETOWN, SIOCSPGRP): a process, or with a negative id
/// a process group; 0 clears.
pub fn set_owner(t: &Task, f: &File, who: i32) -> SysResult<u64> {
    if who == i32::MIN {
        return Err(Errno::EINVAL);
    }
    let (kind, id) = if who < 0 { (OwnerKind::Group, -who) } else { (OwnerKind::Process, who) };
    if id != 0 && !pid_in_use(&t.kernel, id) {
        return Err(Errno::ESRCH);
    }
    f.owner.set(kind, id, &t.creds(), &t.kernel, true);
    Ok(0)
}

/// F_GETOWN: the owner, a group as its id negated; 0 for none (or one
/// that is gone). A thread owner (F_OWNER_TID) shows as its id.
pub fn get_owner(f: &File) -> u64 {
    match f.owner.get() {
        (OwnerKind::Group, id) => i64::from(-id) as u64,
        (_, id) => id as u64,
    }
}

/// fcntl's owner and signal commands on `f`, fd `fd`.
pub fn fcntl(t: &mut Task, f: &Arc<File>, cmd: u32, arg: u64) -> SysResult<u64> {
    match cmd {
        F_SETOWN => set_owner(t, f, arg as i32),
        F_GETOWN => Ok(get_owner(f)),
        F_SETOWN_EX => {
            let ex: FOwnerEx = t.mm().read_val(arg)?;
            let kind = match ex.kind {
                F_OWNER_TID => OwnerKind::Thread,
                F_OWNER_PID => OwnerKind::Process,
                F_OWNER_PGRP => OwnerKind::Group,
                _ => return Err(Errno::EINVAL),
            };
            if ex.pid != 0 && (ex.pid < 0 || !pid_in_use(&t.kernel, ex.pid)) {
                return Err(Errno::ESRCH);
            }
            f.owner.set(kind, ex.pid, &t.creds(), &t.kernel, true);
            Ok(0)
        }
        F_GETOWN_EX => {
            let (kind, pid) = f.owner.get();
            let kind = match kind {
                OwnerKind::Thread => F_OWNER_TID,
                OwnerKind::Process => F_OWNER_PID,
                OwnerKind::Group => F_OWNER_PGRP,
            };
            t.mm().write_val(arg, &FOwnerEx { kind, pid })?;
            Ok(0)
        }
        F_SETSIG => {
            if f.owner.set_signal(arg) {
                Ok(0)
            } else {
                Err(Errno::EINVAL)
            }
        }
        F_GETSIG => Ok(u64::from(f.owner.signal())),
        _ => Err(Errno::EINVAL),
    }
}

/// F_SETFL's O_ASYNC change to `on`, through fd `fd`: false if the file
/// has no fasync (O_ASYNC then stays off, as on Linux).
pub fn set_async(f: &Arc<File>, fd: i32, on: bool) -> bool {
    f.ops.fasync() && FileOwner::set_async(f, fd, on)
}

/// The ioctls of this family on `f`, fd `fd`; None for other commands.
/// FIOASYNC is ENOTTY on a file without fasync; the owner ioctls are
/// sockets' (ENOTTY elsewhere).
pub fn ioctl(t: &mut Task, f: &Arc<File>, fd: i32, cmd: u32, arg: u64) -> Option<SysResult<u64>> {
    let socket = f.ops.unix_socket().is_some() || f.ops.host_socket().is_some();
    Some(match cmd {
        FIOASYNC => (|| {
            let on = t.mm().read_val::<i32>(arg)? != 0;
            let flags = f.flags();
            if (flags & abi::flags::open::O_ASYNC != 0) != on {
                if !set_async(f, fd, on) {
                    return Err(Errno::ENOTTY);
                }
                let async_bit = abi::flags::open::O_ASYNC;
                f.set_flags(if on { flags | async_bit } else { flags & !async_bit });
            }
            Ok(0)
        })(),
        FIOSETOWN | SIOCSPGRP if socket => t.mm().read_val::<i32>(arg).and_then(|who| set_owner(t, f, who)),
        FIOGETOWN | SIOCGPGRP if socket => t.mm().write_val(arg, &(get_owner(f) as i32)).map(|()| 0),
        _ => return None,
    })
}

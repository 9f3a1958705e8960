//! Process and user identity.

use super::Args;
use crate::kernel::task::Task;
use crate::mm::SysResult;

pub fn getpid(t: &mut Task, _: &Args) -> SysResult<u64> {
    Ok(t.pid as u64)
}

pub fn getppid(t: &mut Task, _: &Args) -> SysResult<u64> {
    Ok(t.ppid as u64)
}

pub fn gettid(t: &mut Task, _: &Args) -> SysResult<u64> {
    Ok(t.tid as u64)
}

pub fn getuid(t: &mut Task, _: &Args) -> SysResult<u64> {
    Ok(u64::from(t.creds.uid))
}

pub fn geteuid(t: &mut Task, _: &Args) -> SysResult<u64> {
    Ok(u64::from(t.creds.euid))
}

pub fn getgid(t: &mut Task, _: &Args) -> SysResult<u64> {
    Ok(u64::from(t.creds.gid))
}

pub fn getegid(t: &mut Task, _: &Args) -> SysResult<u64> {
    Ok(u64::from(t.creds.egid))
}

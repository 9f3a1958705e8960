//! The key retention service: add_key, request_key and keyctl, over
//! [`crate::kernel::keys`]. This layer finds the keys a call names (the
//! special ids stand for the caller's own keyrings, made when asked for)
//! and checks them as Linux's `lookup_user_key` does, in Linux's order.

use std::sync::Arc;

use abi::Errno;

use super::Args;
use crate::kernel::keys::{
    Caller, KeyRef, KeyType, Lookup, KEY_ALL, KEY_LINK, KEY_MAX_DESC_SIZE, KEY_READ, KEY_SEARCH, KEY_SETATTR, KEY_VIEW,
    KEY_WRITE, MAX_PAYLOAD,
};
use crate::kernel::task::Task;
use crate::mm::SysResult;

/// The special key ids.
const KEY_SPEC_THREAD_KEYRING: i32 = -1;
const KEY_SPEC_PROCESS_KEYRING: i32 = -2;
const KEY_SPEC_SESSION_KEYRING: i32 = -3;
const KEY_SPEC_USER_KEYRING: i32 = -4;
const KEY_SPEC_USER_SESSION_KEYRING: i32 = -5;
const KEY_SPEC_GROUP_KEYRING: i32 = -6;
const KEY_SPEC_REQKEY_AUTH_KEY: i32 = -7;
const KEY_SPEC_REQUESTOR_KEYRING: i32 = -8;

/// request_key's default keyrings (KEYCTL_SET_REQKEY_KEYRING).
const KEY_REQKEY_DEFL_NO_CHANGE: i32 = -1;
const KEY_REQKEY_DEFL_DEFAULT: i32 = 0;
const KEY_REQKEY_DEFL_THREAD_KEYRING: i32 = 1;
const KEY_REQKEY_DEFL_PROCESS_KEYRING: i32 = 2;
const KEY_REQKEY_DEFL_SESSION_KEYRING: i32 = 3;
const KEY_REQKEY_DEFL_USER_KEYRING: i32 = 4;
const KEY_REQKEY_DEFL_USER_SESSION_KEYRING: i32 = 5;
const KEY_REQKEY_DEFL_REQUESTOR_KEYRING: i32 = 7;

/// keyctl's operations.
const KEYCTL_GET_KEYRING_ID: u32 = 0;
const KEYCTL_JOIN_SESSION_KEYRING: u32 = 1;
const KEYCTL_UPDATE: u32 = 2;
const KEYCTL_REVOKE: u32 = 3;
const KEYCTL_CHOWN: u32 = 4;
const KEYCTL_SETPERM: u32 = 5;
const KEYCTL_DESCRIBE: u32 = 6;
const KEYCTL_CLEAR: u32 = 7;
const KEYCTL_LINK: u32 = 8;
const KEYCTL_UNLINK: u32 = 9;
const KEYCTL_SEARCH: u32 = 10;
const KEYCTL_READ: u32 = 11;
const KEYCTL_INSTANTIATE: u32 = 12;
const KEYCTL_NEGATE: u32 = 13;
const KEYCTL_SET_REQKEY_KEYRING: u32 = 14;
const KEYCTL_SET_TIMEOUT: u32 = 15;
const KEYCTL_ASSUME_AUTHORITY: u32 = 16;
const KEYCTL_GET_SECURITY: u32 = 17;
const KEYCTL_SESSION_TO_PARENT: u32 = 18;
const KEYCTL_REJECT: u32 = 19;
const KEYCTL_INSTANTIATE_IOV: u32 = 20;
const KEYCTL_INVALIDATE: u32 = 21;
const KEYCTL_MOVE: u32 = 30;
const KEYCTL_CAPABILITIES: u32 = 31;

/// KEYCTL_MOVE's flag.
const KEYCTL_MOVE_EXCL: u32 = 1;
/// KEYCTL_CAPABILITIES' answer: capabilities, big_key, invalidate, move;
/// keyring names and key tags per namespace.
const CAPABILITIES: [u8; 2] = [0x01 | 0x10 | 0x20 | 0x80, 0x01 | 0x02];
/// The page size, callout info's and KEYCTL_UPDATE's limit.
const PAGE: usize = 4096;

/// The possessor's and owner's permission classes, shifted.
const POS_ALL: u32 = KEY_ALL << 24;
const USR_VIEW: u32 = KEY_VIEW << 16;
const USR_READ: u32 = KEY_READ << 16;
const USR_LINK: u32 = KEY_LINK << 16;

/// A key type name (at most 31 bytes, EINVAL; not starting with '.',
/// which names the kernel's own types: EPERM).
fn read_type(t: &Task, addr: u64) -> SysResult<Vec<u8>> {
    let name = match t.mm().read_cstr(addr, 32) {
        Err(Errno::ENAMETOOLONG) => return Err(Errno::EINVAL),
        r => r?,
    };
    if name.is_empty() {
        return Err(Errno::EINVAL);
    }
    if name[0] == b'.' {
        return Err(Errno::EPERM);
    }
    Ok(name)
}

/// A string argument of at most `max - 1` bytes (Linux's strndup_user:
/// EINVAL past it).
fn read_string(t: &Task, addr: u64, max: usize) -> SysResult<Vec<u8>> {
    match t.mm().read_cstr(addr, max) {
        Err(Errno::ENAMETOOLONG) => Err(Errno::EINVAL),
        r => r,
    }
}

/// The caller, as key permissions see it, with the keyrings it possesses.
fn caller(t: &Task) -> SysResult<Caller> {
    let creds = t.creds();
    let mut keyrings = Vec::new();
    keyrings.extend(t.keys.thread.as_ref().map(|k| k.serial()));
    let (process, session) = {
        let pk = t.handle.tg.keys.lock().unwrap_or_else(|e| e.into_inner());
        (pk.process.as_ref().map(|k| k.serial()), pk.session.as_ref().map(|k| k.serial()))
    };
    keyrings.extend(process);
    match session {
        Some(s) => keyrings.push(s),
        // No session keyring: the user session keyring is searched.
        None => keyrings.push(t.kernel.keys.user_keyrings(creds.uid)?.1),
    }
    Ok(Caller {
        uid: creds.fsuid,
        gid: creds.fsgid,
        groups: creds.groups.clone(),
        sys_admin: creds.has_cap(abi::flags::capability::CAP_SYS_ADMIN),
        keyrings,
    })
}

/// The thread keyring, made if `create` (ENOKEY otherwise).
fn thread_keyring(t: &mut Task, create: bool) -> SysResult<i32> {
    if let Some(k) = &t.keys.thread {
        return Ok(k.serial());
    }
    if !create {
        return Err(Errno::ENOKEY);
    }
    let creds = t.creds();
    let k = t.kernel.keys.new_thread_keyring(creds.uid, creds.gid)?;
    let serial = k.serial();
    t.keys.thread = Some(Arc::new(k));
    Ok(serial)
}

/// The process keyring, made if `create` (ENOKEY otherwise).
fn process_keyring(t: &Task, create: bool) -> SysResult<i32> {
    let mut pk = t.handle.tg.keys.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(k) = &pk.process {
        return Ok(k.serial());
    }
    if !create {
        return Err(Errno::ENOKEY);
    }
    let creds = t.creds();
    let k = t.kernel.keys.new_keyring(b"_pid", creds.uid, creds.gid, POS_ALL | USR_VIEW, true)?;
    let serial = k.serial();
    pk.process = Some(Arc::new(k));
    Ok(serial)
}

/// Makes `k` the session keyring; the old one's hold goes after the lock.
fn install_session(t: &Task, k: KeyRef) -> i32 {
    let serial = k.serial();
    let old = t.handle.tg.keys.lock().unwrap_or_else(|e| e.into_inner()).session.replace(Arc::new(k));
    drop(old);
    serial
}

/// A new session keyring, `name` (found if a keyring of that name the
/// caller may search exists) or anonymous, joined (Linux's
/// join_session_keyring).
fn join_session(t: &Task, name: Option<&[u8]>) -> SysResult<i32> {
    let creds = t.creds();
    let keys = &t.kernel.keys;
    let had_session = t.handle.tg.keys.lock().unwrap_or_else(|e| e.into_inner()).session.is_some();
    let k = match name {
        None => keys.new_keyring(b"_ses", creds.uid, creds.gid, POS_ALL | USR_VIEW | USR_READ, !had_session)?,
        Some(name) => {
            let c = caller(t)?;
            match keys.find_named_keyring(&c, name) {
                Some(found) => keys.hold(found)?,
                None => {
                    keys.new_keyring(name, creds.uid, creds.gid, POS_ALL | USR_VIEW | USR_READ | USR_LINK, false)?
                }
            }
        }
    };
    Ok(install_session(t, k))
}

/// The session keyring: with none, the user session keyring becomes it,
/// or (`create`) a new anonymous one; with `create`, a user session
/// keyring is replaced by a new one too.
fn session_keyring(t: &Task, create: bool) -> SysResult<i32> {
    let current = t.handle.tg.keys.lock().unwrap_or_else(|e| e.into_inner()).session.as_ref().map(|k| k.serial());
    let keys = &t.kernel.keys;
    match current {
        None => {
            let user_session = keys.user_keyrings(t.creds().uid)?.1;
            if create {
                join_session(t, None)
            } else {
                let k = keys.hold(user_session)?;
                Ok(install_session(t, k))
            }
        }
        Some(s) if create && keys.is_uid_keyring(s) => join_session(t, None),
        Some(s) => Ok(s),
    }
}

/// Linux's lookup_user_key: the key `id` names (a special id, made with
/// `create` where that applies), whether the caller possesses it, after
/// the checks of `mode` and the permissions `want`.
fn lookup(t: &mut Task, id: i32, create: bool, mode: Lookup, want: u32) -> SysResult<(i32, bool)> {
    let keys = t.kernel.keys.clone();
    let (serial, possessed) = match id {
        KEY_SPEC_THREAD_KEYRING => (thread_keyring(t, create)?, true),
        KEY_SPEC_PROCESS_KEYRING => (process_keyring(t, create)?, true),
        KEY_SPEC_SESSION_KEYRING => (session_keyring(t, create)?, true),
        KEY_SPEC_USER_KEYRING => (keys.user_keyrings(t.creds().uid)?.0, true),
        KEY_SPEC_USER_SESSION_KEYRING => (keys.user_keyrings(t.creds().uid)?.1, true),
        // Group keyrings are not implemented in Linux either.
        KEY_SPEC_GROUP_KEYRING => return Err(Errno::EINVAL),
        // No request_key authorisation ever exists: there is no upcall.
        KEY_SPEC_REQKEY_AUTH_KEY | KEY_SPEC_REQUESTOR_KEYRING => return Err(Errno::ENOKEY),
        id if id < 1 => return Err(Errno::EINVAL),
        id => {
            let c = caller(t)?;
            (id, keys.find(&c, id)?)
        }
    };
    let c = caller(t)?;
    keys.check(&c, serial, possessed, mode, want)?;
    Ok((serial, possessed))
}

/// Copies `data` to a buffer of `len` bytes at `buf` if it fits (nothing
/// otherwise, as Linux's keyctl_read_key); returns its whole length.
fn give(t: &Task, buf: u64, len: usize, data: &[u8]) -> SysResult<u64> {
    if buf != 0 && len >= data.len() {
        t.mm().copy_out(buf, data)?;
    }
    Ok(data.len() as u64)
}

/// A payload argument of `len` bytes (None when there is none).
fn read_payload(t: &Task, addr: u64, len: usize) -> SysResult<Option<Vec<u8>>> {
    if len == 0 {
        return Ok(None);
    }
    let mut data = vec![0u8; len];
    t.mm().copy_in(addr, &mut data)?;
    Ok(Some(data))
}

/// add_key(type, description, payload, plen, keyring).
pub fn add_key(t: &mut Task, a: &Args) -> SysResult<u64> {
    let plen = a.u64(3) as usize;
    if plen > MAX_PAYLOAD {
        return Err(Errno::EINVAL);
    }
    let kind_name = read_type(t, a.addr(0))?;
    let desc = if a.addr(1) == 0 { Vec::new() } else { read_string(t, a.addr(1), KEY_MAX_DESC_SIZE)? };
    // Keyrings named with a leading '.' are the kernel's.
    if desc.first() == Some(&b'.') && kind_name.starts_with(b"keyring") {
        return Err(Errno::EPERM);
    }
    let payload = read_payload(t, a.addr(2), plen)?;
    let (keyring, possessed) = lookup(t, a.i32(4), true, Lookup::Valid, KEY_WRITE)?;
    let kind = KeyType::lookup(&kind_name).ok_or(Errno::ENODEV)?;
    let c = caller(t)?;
    t.kernel.keys.add(&c, keyring, possessed, kind, &desc, payload.as_deref()).map(|s| s as u64)
}

/// request_key's default destination (Linux's construct_get_dest_keyring):
/// the keyring KEYCTL_SET_REQKEY_KEYRING chose, or the first the caller
/// has of thread, process, session and user session; the caller must be
/// able to write it (EACCES).
fn default_dest(t: &mut Task) -> SysResult<i32> {
    let keys = t.kernel.keys.clone();
    let uid = t.creds().uid;
    let (process, session) = {
        let pk = t.handle.tg.keys.lock().unwrap_or_else(|e| e.into_inner());
        (pk.process.as_ref().map(|k| k.serial()), pk.session.as_ref().map(|k| k.serial()))
    };
    let thread = t.keys.thread.as_ref().map(|k| k.serial());
    let from = t.keys.reqkey_default;
    let chain: &[Option<i32>] = match from {
        KEY_REQKEY_DEFL_DEFAULT | KEY_REQKEY_DEFL_REQUESTOR_KEYRING | KEY_REQKEY_DEFL_THREAD_KEYRING => {
            &[thread, process, session]
        }
        KEY_REQKEY_DEFL_PROCESS_KEYRING => &[process, session],
        KEY_REQKEY_DEFL_SESSION_KEYRING => &[session],
        _ => &[],
    };
    let dest = match chain.iter().flatten().next() {
        Some(&k) => k,
        None if from == KEY_REQKEY_DEFL_USER_KEYRING => keys.user_keyrings(uid)?.0,
        None => keys.user_keyrings(uid)?.1,
    };
    let c = caller(t)?;
    if keys.permits(&c, dest, true, KEY_WRITE)? {
        Ok(dest)
    } else {
        Err(Errno::EACCES)
    }
}

/// request_key(type, description, callout_info, dest_keyring): finds the
/// key in the caller's keyrings (and links it into the destination);
/// without it, and with callout info, the key would be made by
/// /sbin/request-key, which the sandbox does not have: a negative key is
/// left in the destination and the call fails with ENOENT.
pub fn request_key(t: &mut Task, a: &Args) -> SysResult<u64> {
    let kind_name = read_type(t, a.addr(0))?;
    let desc = read_string(t, a.addr(1), KEY_MAX_DESC_SIZE)?;
    let callout = if a.addr(2) == 0 { None } else { Some(read_string(t, a.addr(2), PAGE)?) };
    let dest = match a.i32(3) {
        0 => None,
        id => Some(lookup(t, id, true, Lookup::Valid, KEY_WRITE)?.0),
    };
    let kind = KeyType::lookup(&kind_name).ok_or(Errno::ENOKEY)?;
    let keys = t.kernel.keys.clone();
    let c = caller(t)?;
    match keys.search_process(&c, kind, &desc) {
        Ok(found) => {
            if let Some(d) = dest {
                keys.link(d, found)?;
            }
            Ok(found as u64)
        }
        Err(Errno::EAGAIN) => {
            if callout.is_none() {
                return Err(Errno::ENOKEY);
            }
            // Keyrings are never constructed.
            if kind == KeyType::Keyring {
                return Err(Errno::EPERM);
            }
            let dest = match dest {
                Some(d) => d,
                None => default_dest(t)?,
            };
            keys.add_negative(&c, dest, kind, &desc)?;
            Err(Errno::ENOENT)
        }
        Err(e) => Err(e),
    }
}

/// keyctl(operation, ...).
pub fn keyctl(t: &mut Task, a: &Args) -> SysResult<u64> {
    let keys = t.kernel.keys.clone();
    let id = a.i32(1);
    match a.u32(0) {
        KEYCTL_GET_KEYRING_ID => lookup(t, id, a.u64(2) != 0, Lookup::Valid, KEY_SEARCH).map(|(k, _)| k as u64),
        KEYCTL_JOIN_SESSION_KEYRING => {
            let name = if a.addr(1) == 0 { None } else { Some(read_string(t, a.addr(1), KEY_MAX_DESC_SIZE)?) };
            if name.as_ref().is_some_and(|n| n.first() == Some(&b'.')) {
                return Err(Errno::EPERM);
            }
            join_session(t, name.as_deref()).map(|k| k as u64)
        }
        KEYCTL_UPDATE => {
            let plen = a.u64(3) as usize;
            if plen > PAGE {
                return Err(Errno::EINVAL);
            }
            let payload = read_payload(t, a.addr(2), plen)?;
            let (key, _) = lookup(t, id, false, Lookup::Valid, KEY_WRITE)?;
            keys.update(key, payload.as_deref()).map(|()| 0)
        }
        KEYCTL_REVOKE => {
            let key = match lookup(t, id, false, Lookup::Valid, KEY_WRITE) {
                Err(Errno::EACCES) => lookup(t, id, false, Lookup::Valid, KEY_SETATTR)?.0,
                r => r?.0,
            };
            keys.revoke(key).map(|()| 0)
        }
        KEYCTL_CHOWN => {
            let (key, _) = lookup(t, id, true, Lookup::Partial, KEY_SETATTR)?;
            let uid = Some(a.u32(2)).filter(|&u| u != u32::MAX);
            let gid = Some(a.u32(3)).filter(|&g| g != u32::MAX);
            let c = caller(t)?;
            keys.chown(&c, key, uid, gid).map(|()| 0)
        }
        KEYCTL_SETPERM => {
            let perm = a.u32(2);
            if perm & !(KEY_ALL << 24 | KEY_ALL << 16 | KEY_ALL << 8 | KEY_ALL) != 0 {
                return Err(Errno::EINVAL);
            }
            let (key, _) = lookup(t, id, true, Lookup::Partial, KEY_SETATTR)?;
            let c = caller(t)?;
            keys.set_perm(&c, key, perm).map(|()| 0)
        }
        KEYCTL_DESCRIBE => {
            let (key, _) = lookup(t, id, false, Lookup::Partial, KEY_VIEW)?;
            give(t, a.addr(2), a.u64(3) as usize, &keys.describe(key)?)
        }
        KEYCTL_CLEAR => {
            let (key, _) = lookup(t, id, true, Lookup::Valid, KEY_WRITE)?;
            keys.clear(key).map(|()| 0)
        }
        KEYCTL_LINK => {
            let (keyring, _) = lookup(t, a.i32(2), true, Lookup::Valid, KEY_WRITE)?;
            let (key, _) = lookup(t, id, true, Lookup::Valid, KEY_LINK)?;
            keys.link(keyring, key).map(|()| 0)
        }
        KEYCTL_UNLINK => {
            let (keyring, _) = lookup(t, a.i32(2), false, Lookup::Valid, KEY_WRITE)?;
            let (key, _) = lookup(t, id, false, Lookup::Any, 0)?;
            keys.unlink(keyring, key).map(|()| 0)
        }
        KEYCTL_SEARCH => {
            let kind_name = read_type(t, a.addr(2))?;
            let desc = read_string(t, a.addr(3), KEY_MAX_DESC_SIZE)?;
            let (keyring, possessed) = lookup(t, id, false, Lookup::Valid, KEY_SEARCH)?;
            let dest = match a.i32(4) {
                0 => None,
                d => Some(lookup(t, d, true, Lookup::Valid, KEY_WRITE)?.0),
            };
            let kind = KeyType::lookup(&kind_name).ok_or(Errno::ENOKEY)?;
            let c = caller(t)?;
            let found = keys.search(&c, keyring, possessed, kind, &desc).map_err(|e| {
                // A negative key and none at all look the same here.
                if e == Errno::EAGAIN {
                    Errno::ENOKEY
                } else {
                    e
                }
            })?;
            if let Some(d) = dest {
                if !keys.permits(&c, found, possessed, KEY_LINK)? {
                    return Err(Errno::EACCES);
                }
                keys.link(d, found)?;
            }
            Ok(found as u64)
        }
        KEYCTL_READ => {
            // Any failure to find the key reads as ENOKEY.
            let (key, possessed) = lookup(t, id, false, Lookup::Deferred, 0).map_err(|_| Errno::ENOKEY)?;
            let c = caller(t)?;
            let data = keys.read(&c, key, possessed)?;
            give(t, a.addr(2), a.u64(3) as usize, &data)
        }
        // Instantiating needs the authority request_key hands its upcall;
        // with no upcall, nobody holds it.
        KEYCTL_INSTANTIATE | KEYCTL_INSTANTIATE_IOV | KEYCTL_NEGATE => Err(Errno::EPERM),
        KEYCTL_REJECT => {
            let error = a.u64(3);
            if error == 0 || error >= 4096 || [512, 513, 514, 516].contains(&error) {
                return Err(Errno::EINVAL);
            }
            Err(Errno::EPERM)
        }
        KEYCTL_ASSUME_AUTHORITY => match id {
            i32::MIN..=-1 => Err(Errno::EINVAL),
            0 => Ok(0),
            _ => Err(Errno::ENOKEY),
        },
        KEYCTL_SET_REQKEY_KEYRING => set_reqkey(t, id),
        KEYCTL_SET_TIMEOUT => {
            let (key, _) = lookup(t, id, true, Lookup::Partial, KEY_SETATTR)?;
            keys.set_timeout(key, a.u32(2)).map(|()| 0)
        }
        KEYCTL_GET_SECURITY => {
            lookup(t, id, false, Lookup::Partial, KEY_VIEW)?;
            // No security module: an empty label.
            if a.addr(2) != 0 && a.u64(3) > 0 {
                t.mm().copy_out(a.addr(2), &[0])?;
            }
            Ok(1)
        }
        KEYCTL_SESSION_TO_PARENT => session_to_parent(t),
        KEYCTL_INVALIDATE => {
            let (key, _) = lookup(t, id, false, Lookup::Valid, KEY_SEARCH)?;
            keys.invalidate(key).map(|()| 0)
        }
        KEYCTL_MOVE => {
            if a.u32(4) & !KEYCTL_MOVE_EXCL != 0 {
                return Err(Errno::EINVAL);
            }
            let (key, _) = lookup(t, id, true, Lookup::Valid, KEY_LINK)?;
            let (from, _) = lookup(t, a.i32(2), false, Lookup::Valid, KEY_WRITE)?;
            let (to, _) = lookup(t, a.i32(3), true, Lookup::Valid, KEY_WRITE)?;
            keys.move_key(key, from, to, a.u32(4) & KEYCTL_MOVE_EXCL != 0).map(|()| 0)
        }
        KEYCTL_CAPABILITIES => {
            let n = (a.u64(2) as usize).min(CAPABILITIES.len());
            if a.addr(1) != 0 && n > 0 {
                t.mm().copy_out(a.addr(1), &CAPABILITIES[..n])?;
            }
            Ok(CAPABILITIES.len() as u64)
        }
        // Persistent keyrings, Diffie-Hellman, public keys, keyring
        // restrictions and notifications are not offered.
        _ => Err(Errno::EOPNOTSUPP),
    }
}

/// KEYCTL_SET_REQKEY_KEYRING: returns the old setting; choosing the
/// thread or process keyring makes it.
fn set_reqkey(t: &mut Task, which: i32) -> SysResult<u64> {
    let old = t.keys.reqkey_default;
    match which {
        KEY_REQKEY_DEFL_NO_CHANGE => return Ok(old as u64),
        KEY_REQKEY_DEFL_THREAD_KEYRING => {
            thread_keyring(t, true)?;
        }
        KEY_REQKEY_DEFL_PROCESS_KEYRING => {
            process_keyring(t, true)?;
        }
        KEY_REQKEY_DEFL_DEFAULT
        | KEY_REQKEY_DEFL_SESSION_KEYRING
        | KEY_REQKEY_DEFL_USER_KEYRING
        | KEY_REQKEY_DEFL_USER_SESSION_KEYRING
        | KEY_REQKEY_DEFL_REQUESTOR_KEYRING => {}
        _ => return Err(Errno::EINVAL),
    }
    t.keys.reqkey_default = which;
    Ok(old as u64)
}

/// KEYCTL_SESSION_TO_PARENT: the parent's session keyring becomes the
/// caller's, if the parent (not init, one thread) has the caller's ids.
fn session_to_parent(t: &mut Task) -> SysResult<u64> {
    let (mine, _) = lookup(t, KEY_SPEC_SESSION_KEYRING, false, Lookup::Valid, KEY_LINK)?;
    let me = t.creds();
    let parent_tg = {
        let procs = t.kernel.procs();
        let parent = procs.procs.get(&t.pid).map(|p| p.parent).ok_or(Errno::ESRCH)?;
        let pp = procs.procs.get(&parent).filter(|_| parent > 1).ok_or(Errno::EPERM)?;
        if pp.threads.len() != 1 || t.handle.tg.keys.lock().unwrap_or_else(|e| e.into_inner()).session.is_none() {
            return Err(Errno::EPERM);
        }
        pp.tg.clone()
    };
    let p = parent_tg.creds.lock().unwrap_or_else(|e| e.into_inner()).clone();
    if [p.uid, p.euid, p.suid].iter().any(|&u| u != me.euid) || [p.gid, p.egid, p.sgid].iter().any(|&g| g != me.egid) {
        return Err(Errno::EPERM);
    }
    let k = t.kernel.keys.hold(mine)?;
    let old = parent_tg.keys.lock().unwrap_or_else(|e| e.into_inner()).session.replace(Arc::new(k));
    drop(old);
    Ok(0)
}

//! The kernel key retention service (add_key, request_key, keyctl), after
//! Linux's `security/keys/`: the sandbox's keys and keyrings, their
//! permissions, the per-user quotas, and revocation, expiry and garbage
//! collection.
//!
//! A key has a type ("keyring", "user", "logon" or "big_key"), a
//! description, an owner, a permission mask (possessor, user, group,
//! other) and a payload; a keyring's payload is the keys linked into it.
//! A key lives while something refers to it: a link from a keyring, or a
//! process's hold on it as its thread, process or session keyring
//! ([`KeyRef`]); the last reference gone, it is destroyed at once, and a
//! keyring lets go of what it links to. A revoked key (or one whose
//! expiry passed) stays linked, failing with EKEYREVOKED (EKEYEXPIRED),
//! until `gc_delay` seconds later, when its keyrings let it go.
//!
//! Each user (uid) has a user keyring and a user session keyring, made on
//! first use and kept for the sandbox's life, and quotas
//! (`/proc/sys/kernel/keys/maxkeys`, `maxbytes`; root's `root_maxkeys`,
//! `root_maxbytes`) that key creation and payload growth are checked
//! against (EDQUOT). Whatever the sysctls say, the sandbox holds at most
//! [`MAX_KEYS`] keys and [`MAX_BYTES`] bytes of descriptions and payloads.
//!
//! There is no upcall: request_key of a key that is not there and may be
//! constructed fails as Linux does without /sbin/request-key (ENOENT),
//! leaving a negative key behind for 60 seconds.
//!
//! The table has one lock, never held while a [`KeyRef`] is dropped (which
//! takes it); callers take a process's keyrings first, then the table.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use abi::Errno;

use crate::mm::SysResult;

/// Permission bits, per class.
pub const KEY_VIEW: u32 = 0x01;
pub const KEY_READ: u32 = 0x02;
pub const KEY_WRITE: u32 = 0x04;
pub const KEY_SEARCH: u32 = 0x08;
pub const KEY_LINK: u32 = 0x10;
pub const KEY_SETATTR: u32 = 0x20;
pub const KEY_ALL: u32 = 0x3f;
/// The classes' shifts: possessor, user (owner), group, other.
const POS: u32 = 24;
const USR: u32 = 16;
const GRP: u32 = 8;

/// The longest description.
pub const KEY_MAX_DESC_SIZE: usize = 4096;
/// The largest payload add_key takes.
pub const MAX_PAYLOAD: usize = 1024 * 1024 - 1;
/// The largest "user" or "logon" payload.
const MAX_USER_PAYLOAD: usize = 32767;
/// A "big_key" payload past this is counted as 16 bytes of quota (Linux
/// keeps it in a file).
const BIG_KEY_FILE_THRESHOLD: usize = 1024;
/// How deep searches go into nested keyrings.
const MAX_DEPTH: usize = 6;
/// How long a negative key lasts, in seconds.
const NEGATIVE_TIMEOUT: i64 = 60;
/// The most keys one keyring links to (ENFILE past it).
const MAX_LINKS: usize = 1 << 16;
/// What a keyring's link counts toward [`MAX_BYTES`].
const LINK_COST: usize = 16;
/// The most keys the sandbox holds, whatever the quotas say.
pub const MAX_KEYS: usize = 1 << 18;
/// The most bytes of descriptions, payloads and links the sandbox holds
/// (EDQUOT past it).
pub const MAX_BYTES: usize = 128 << 20;

/// The key types the sandbox has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum KeyType {
    Keyring,
    User,
    Logon,
    BigKey,
}

impl KeyType {
    /// The type named `name`, if the sandbox has it.
    pub fn lookup(name: &[u8]) -> Option<KeyType> {
        match name {
            b"keyring" => Some(KeyType::Keyring),
            b"user" => Some(KeyType::User),
            b"logon" => Some(KeyType::Logon),
            b"big_key" => Some(KeyType::BigKey),
            _ => None,
        }
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            KeyType::Keyring => "keyring",
            KeyType::User => "user",
            KeyType::Logon => "logon",
            KeyType::BigKey => "big_key",
        }
    }

    /// Whether KEYCTL_READ can read it (a logon key's secret cannot be).
    fn readable(self) -> bool {
        self != KeyType::Logon
    }

    /// Whether it can be updated (a keyring cannot).
    pub fn updatable(self) -> bool {
        self != KeyType::Keyring
    }

    /// Linux's `preparse`: checks a payload and a description; returns the
    /// bytes of quota the payload takes.
    pub fn check(self, desc: &[u8], payload: Option<&[u8]>) -> SysResult<usize> {
        match self {
            KeyType::Keyring => match payload {
                Some(p) if !p.is_empty() => Err(Errno::EINVAL),
                _ => Ok(0),
            },
            KeyType::User | KeyType::Logon => {
                let p = payload.ok_or(Errno::EINVAL)?;
                if p.is_empty() || p.len() > MAX_USER_PAYLOAD {
                    return Err(Errno::EINVAL);
                }
                // A logon key's description is "service:name".
                if self == KeyType::Logon && desc.iter().position(|&b| b == b':').is_none_or(|i| i == 0) {
                    return Err(Errno::EINVAL);
                }
                Ok(p.len())
            }
            KeyType::BigKey => {
                let p = payload.ok_or(Errno::EINVAL)?;
                if p.is_empty() || p.len() > MAX_PAYLOAD {
                    return Err(Errno::EINVAL);
                }
                Ok(if p.len() > BIG_KEY_FILE_THRESHOLD { 16 } else { p.len() })
            }
        }
    }

    /// The permissions a key made by add_key gets: all but READ (for
    /// unreadable types) and WRITE (for keys that cannot be updated, but
    /// keyrings) to its possessor, VIEW to its owner.
    fn default_perm(self) -> u32 {
        let mut pos = KEY_VIEW | KEY_SEARCH | KEY_LINK | KEY_SETATTR;
        if self.readable() {
            pos |= KEY_READ;
        }
        if self == KeyType::Keyring || self.updatable() {
            pos |= KEY_WRITE;
        }
        pos << POS | KEY_VIEW << USR
    }
}

/// Who asks: the ids and privilege that key permissions and quotas go by,
/// and the keyrings the caller possesses (thread, process, and session or,
/// without one, the user session keyring).
#[derive(Clone, Debug, Default)]
pub struct Caller {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    pub sys_admin: bool,
    pub keyrings: Vec<i32>,
}

struct Key {
    kind: KeyType,
    desc: Vec<u8>,
    uid: u32,
    gid: u32,
    perm: u32,
    /// A negative key's error (request_key found nothing to make it).
    negative: Option<Errno>,
    payload: Vec<u8>,
    /// A keyring's keys, in the order they were linked.
    links: Vec<i32>,
    revoked: bool,
    invalidated: bool,
    /// When it expires (seconds of the realtime clock; 0: never).
    expiry: i64,
    /// Links to it and holds on it.
    refs: u32,
    /// Bytes it counts against its owner's quota.
    quota_len: usize,
    /// Whether it counts against the quota at all.
    in_quota: bool,
    /// A user or user session keyring.
    uid_keyring: bool,
}

impl Key {
    /// The bytes it holds for the sandbox's bound: description, payload
    /// and a keyring's links.
    fn mem(&self) -> usize {
        self.desc.len() + self.payload.len() + self.links.len() * LINK_COST
    }

    /// Linux's key_validate.
    fn validate(&self, now: i64) -> SysResult<()> {
        if self.invalidated {
            return Err(Errno::ENOKEY);
        }
        if self.revoked {
            return Err(Errno::EKEYREVOKED);
        }
        if self.expiry != 0 && now >= self.expiry {
            return Err(Errno::EKEYEXPIRED);
        }
        Ok(())
    }

    /// Linux's key_task_permission: the owner's, group's or others' bits,
    /// plus the possessor's for a possessed key.
    fn permits(&self, possessed: bool, c: &Caller, want: u32) -> bool {
        let mut kperm = if self.uid == c.uid {
            self.perm >> USR
        } else if self.gid != u32::MAX
            && self.perm & (KEY_ALL << GRP) != 0
            && (self.gid == c.gid || c.groups.contains(&self.gid))
        {
            self.perm >> GRP
        } else {
            self.perm
        };
        if possessed {
            kperm |= self.perm >> POS;
        }
        kperm & want & KEY_ALL == want
    }
}

/// One user's keys: counts, quota use and user keyrings.
#[derive(Default)]
struct KeyUser {
    nkeys: u32,
    nikeys: u32,
    qnkeys: u32,
    qnbytes: usize,
    user_keyring: Option<i32>,
    session_keyring: Option<i32>,
}

/// The key sysctls (`/proc/sys/kernel/keys`).
pub struct Limits {
    pub maxkeys: AtomicI64,
    pub maxbytes: AtomicI64,
    pub root_maxkeys: AtomicI64,
    pub root_maxbytes: AtomicI64,
    pub gc_delay: AtomicI64,
    pub persistent_keyring_expiry: AtomicI64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            maxkeys: AtomicI64::new(200),
            maxbytes: AtomicI64::new(20_000),
            root_maxkeys: AtomicI64::new(1_000_000),
            root_maxbytes: AtomicI64::new(25_000_000),
            gc_delay: AtomicI64::new(300),
            persistent_keyring_expiry: AtomicI64::new(3 * 24 * 3600),
        }
    }
}

impl Limits {
    /// The six values, in the order of their sysctls' table
    /// (`/proc/sys/kernel/keys/`): maxkeys, maxbytes, root_maxkeys,
    /// root_maxbytes, gc_delay, persistent_keyring_expiry.
    fn fields(&self) -> [&AtomicI64; 6] {
        [
            &self.maxkeys,
            &self.maxbytes,
            &self.root_maxkeys,
            &self.root_maxbytes,
            &self.gc_delay,
            &self.persistent_keyring_expiry,
        ]
    }

    /// The values, for a checkpoint.
    pub fn snapshot(&self) -> [i64; 6] {
        self.fields().map(|f| f.load(Ordering::Relaxed))
    }

    /// Takes the values of a checkpoint, each within what its sysctl
    /// accepts (0 to INT_MAX); false, and nothing changed, otherwise.
    pub fn restore(&self, values: &[i64; 6]) -> bool {
        if values.iter().any(|v| !(0..=i64::from(i32::MAX)).contains(v)) {
            return false;
        }
        for (f, v) in self.fields().into_iter().zip(values) {
            f.store(*v, Ordering::Relaxed);
        }
        true
    }
}

#[derive(Default)]
struct State {
    keys: HashMap<i32, Key>,
    users: BTreeMap<u32, KeyUser>,
    /// Bytes of descriptions and payloads held.
    bytes: usize,
    /// Keys whose keyrings let them go at the given time (seconds of the
    /// realtime clock): revoked and expired ones.
    gc: BTreeMap<(i64, i32), ()>,
    /// State for serial numbers.
    seed: u64,
}

/// A key as a checkpoint keeps it. Its reference count is not kept: a
/// restore counts the links to it, a user keyring's own reference, and
/// the holds of the restored processes and threads.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeySnapshot {
    pub serial: i32,
    pub kind: KeyType,
    pub desc: Vec<u8>,
    pub uid: u32,
    pub gid: u32,
    pub perm: u32,
    /// A negative key's errno.
    pub negative: Option<i32>,
    pub payload: Vec<u8>,
    pub links: Vec<i32>,
    pub revoked: bool,
    pub invalidated: bool,
    pub expiry: i64,
    pub quota_len: u64,
    pub in_quota: bool,
    pub uid_keyring: bool,
}

/// One user's key counts, quota use and user keyrings, for a checkpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeyUserSnapshot {
    pub uid: u32,
    pub nkeys: u32,
    pub nikeys: u32,
    pub qnkeys: u32,
    pub qnbytes: u64,
    pub user_keyring: Option<i32>,
    pub session_keyring: Option<i32>,
}

/// The key table, for a checkpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct KeysSnapshot {
    /// In serial order.
    pub keys: Vec<KeySnapshot>,
    pub users: Vec<KeyUserSnapshot>,
    /// The collection schedule: (time, serial).
    pub gc: Vec<(i64, i32)>,
    /// The serial numbers' generator.
    pub seed: u64,
}

/// The sandbox's keys.
pub struct KeyTable {
    state: Mutex<State>,
    /// The sysctls.
    pub limits: Limits,
    me: Weak<KeyTable>,
}

/// A process's hold on a key (its thread, process or session keyring):
/// the key lives while one exists. Dropping it takes the table's lock.
pub struct KeyRef {
    serial: i32,
    table: Weak<KeyTable>,
}

impl KeyRef {
    /// The key's serial number.
    pub fn serial(&self) -> i32 {
        self.serial
    }
}

impl Drop for KeyRef {
    fn drop(&mut self) {
        if let Some(t) = self.table.upgrade() {
            let mut st = t.state();
            st.put(self.serial);
        }
    }
}

impl std::fmt::Debug for KeyRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyRef({})", self.serial)
    }
}

/// The realtime clock, in seconds.
fn now() -> i64 {
    crate::vfs::tmpfs::now().0
}

/// What a search found, or why not.
enum Found {
    Key(i32),
    /// Nothing: the last reason a matching key was passed over, or EAGAIN.
    Not(Errno),
}

impl State {
    fn user(&mut self, uid: u32) -> &mut KeyUser {
        self.users.entry(uid).or_default()
    }

    /// A new serial number: random, positive, above 2 and unused.
    fn serial(&mut self) -> i32 {
        loop {
            if self.seed == 0 {
                let mut b = [0u8; 8];
                let _ = crate::sys::getrandom(&mut b);
                self.seed = u64::from_le_bytes(b) | 1;
            }
            // xorshift64*
            self.seed ^= self.seed >> 12;
            self.seed ^= self.seed << 25;
            self.seed ^= self.seed >> 27;
            let s = (self.seed.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as i32;
            if s > 2 && !self.keys.contains_key(&s) {
                return s;
            }
        }
    }

    /// Whether `uid` may take one more key of `quota_len` bytes (Linux's
    /// key_alloc check), and the sandbox may hold `mem` more bytes.
    fn quota_ok(&self, limits: &Limits, uid: u32, keys: u32, quota_len: usize, mem: usize) -> bool {
        let (maxkeys, maxbytes) = if uid == 0 {
            (limits.root_maxkeys.load(Ordering::Relaxed), limits.root_maxbytes.load(Ordering::Relaxed))
        } else {
            (limits.maxkeys.load(Ordering::Relaxed), limits.maxbytes.load(Ordering::Relaxed))
        };
        let u = self.users.get(&uid);
        let (qnkeys, qnbytes) = u.map_or((0, 0), |u| (u.qnkeys, u.qnbytes));
        i64::from(qnkeys) + i64::from(keys) <= maxkeys
            && (qnbytes + quota_len) as i64 <= maxbytes
            && self.keys.len() + keys as usize <= MAX_KEYS
            && self.bytes + mem <= MAX_BYTES
    }

    /// A new key, with no reference yet.
    #[allow(clippy::too_many_arguments)]
    fn alloc(
        &mut self,
        limits: &Limits,
        kind: KeyType,
        desc: &[u8],
        uid: u32,
        gid: u32,
        perm: u32,
        payload: Vec<u8>,
        quota_payload: usize,
        in_quota: bool,
    ) -> SysResult<i32> {
        let quota_len = desc.len() + 1 + quota_payload;
        let mem = desc.len() + payload.len();
        let ok = if in_quota {
            self.quota_ok(limits, uid, 1, quota_len, mem)
        } else {
            self.keys.len() < MAX_KEYS && self.bytes + mem <= MAX_BYTES
        };
        if !ok {
            return Err(Errno::EDQUOT);
        }
        let serial = self.serial();
        let u = self.user(uid);
        u.nkeys += 1;
        u.nikeys += 1;
        if in_quota {
            u.qnkeys += 1;
            u.qnbytes += quota_len;
        }
        self.bytes += mem;
        let key = Key {
            kind,
            desc: desc.to_vec(),
            uid,
            gid,
            perm,
            negative: None,
            payload,
            links: Vec::new(),
            revoked: false,
            invalidated: false,
            expiry: 0,
            refs: 0,
            quota_len,
            in_quota,
            uid_keyring: false,
        };
        self.keys.insert(serial, key);
        Ok(serial)
    }

    /// Drops a reference to `serial`; the last one destroys it, and a
    /// destroyed keyring drops its links.
    fn put(&mut self, serial: i32) {
        let mut work = vec![serial];
        while let Some(s) = work.pop() {
            let Some(k) = self.keys.get_mut(&s) else { continue };
            k.refs = k.refs.saturating_sub(1);
            if k.refs > 0 {
                continue;
            }
            let Some(k) = self.keys.remove(&s) else { continue };
            self.bytes -= k.mem().min(self.bytes);
            let u = self.user(k.uid);
            u.nkeys = u.nkeys.saturating_sub(1);
            u.nikeys = u.nikeys.saturating_sub(1);
            if k.in_quota {
                u.qnkeys = u.qnkeys.saturating_sub(1);
                u.qnbytes = u.qnbytes.saturating_sub(k.quota_len);
            }
            // A user with no keys left is forgotten (one with user
            // keyrings never is): the records stay as many as the keys.
            if u.nkeys == 0 && u.user_keyring.is_none() && u.session_keyring.is_none() {
                self.users.remove(&k.uid);
            }
            work.extend(k.links);
        }
    }

    /// A new hold on `serial`.
    fn hold(&mut self, serial: i32, table: &Weak<KeyTable>) -> KeyRef {
        if let Some(k) = self.keys.get_mut(&serial) {
            k.refs += 1;
        }
        KeyRef { serial, table: table.clone() }
    }

    fn key(&self, serial: i32) -> SysResult<&Key> {
        self.keys.get(&serial).ok_or(Errno::ENOKEY)
    }

    fn key_mut(&mut self, serial: i32) -> SysResult<&mut Key> {
        self.keys.get_mut(&serial).ok_or(Errno::ENOKEY)
    }

    /// Changes a key's quota use to `quota_len` bytes (Linux's
    /// key_payload_reserve): EDQUOT if its owner cannot have that many.
    fn reserve(&mut self, limits: &Limits, serial: i32, quota_len: usize, mem: usize) -> SysResult<()> {
        let (uid, old, old_mem, in_quota) = {
            let k = self.key(serial)?;
            (k.uid, k.quota_len, k.mem(), k.in_quota)
        };
        let grow = quota_len.saturating_sub(old);
        let grow_mem = mem.saturating_sub(old_mem);
        if (grow > 0 || grow_mem > 0) && in_quota && !self.quota_ok(limits, uid, 0, grow, grow_mem) {
            return Err(Errno::EDQUOT);
        }
        if in_quota {
            let u = self.user(uid);
            u.qnbytes = (u.qnbytes + quota_len).saturating_sub(old);
        }
        self.bytes = (self.bytes + mem).saturating_sub(old_mem);
        self.key_mut(serial)?.quota_len = quota_len;
        Ok(())
    }

    /// Links `key` into `keyring`, replacing a key of the same type and
    /// description (Linux's key_link).
    fn link(&mut self, keyring: i32, key: i32) -> SysResult<()> {
        let (kind, desc) = {
            let k = self.key(key)?;
            (k.kind, k.desc.clone())
        };
        let r = self.key(keyring)?;
        if r.kind != KeyType::Keyring {
            return Err(Errno::ENOTDIR);
        }
        if kind == KeyType::Keyring {
            self.check_cycle(keyring, key)?;
        }
        let same = r.links.iter().position(|&l| self.keys.get(&l).is_some_and(|o| o.kind == kind && o.desc == desc));
        if same.is_none() && r.links.len() >= MAX_LINKS {
            return Err(Errno::ENFILE);
        }
        if same.is_none() && self.bytes + LINK_COST > MAX_BYTES {
            return Err(Errno::EDQUOT);
        }
        let old = match same {
            Some(i) => {
                let r = self.key_mut(keyring)?;
                std::mem::replace(&mut r.links[i], key)
            }
            None => {
                self.key_mut(keyring)?.links.push(key);
                self.bytes += LINK_COST;
                0
            }
        };
        if old == key {
            return Ok(());
        }
        self.key_mut(key)?.refs += 1;
        if old != 0 {
            self.put(old);
        }
        Ok(())
    }

    /// Whether linking keyring `key` into `keyring` would make a cycle
    /// (EDEADLK) or too deep a nest (ELOOP).
    fn check_cycle(&self, keyring: i32, key: i32) -> SysResult<()> {
        let mut stack = vec![(key, 1usize)];
        while let Some((s, depth)) = stack.pop() {
            if s == keyring {
                return Err(Errno::EDEADLK);
            }
            let Some(k) = self.keys.get(&s) else { continue };
            for &l in &k.links {
                if self.keys.get(&l).is_some_and(|c| c.kind == KeyType::Keyring) {
                    if depth >= MAX_DEPTH {
                        return Err(Errno::ELOOP);
                    }
                    stack.push((l, depth + 1));
                }
            }
        }
        Ok(())
    }

    /// Removes `key` from `keyring` (ENOENT if it is not there).
    fn unlink(&mut self, keyring: i32, key: i32) -> SysResult<()> {
        let r = self.key_mut(keyring)?;
        if r.kind != KeyType::Keyring {
            return Err(Errno::ENOTDIR);
        }
        let i = r.links.iter().position(|&l| l == key).ok_or(Errno::ENOENT)?;
        r.links.remove(i);
        self.bytes = self.bytes.saturating_sub(LINK_COST);
        self.put(key);
        Ok(())
    }

    /// Empties `keyring`.
    fn clear(&mut self, keyring: i32) -> SysResult<()> {
        let r = self.key_mut(keyring)?;
        if r.kind != KeyType::Keyring {
            return Err(Errno::ENOTDIR);
        }
        let links = std::mem::take(&mut r.links);
        self.drop_links(links);
        Ok(())
    }

    /// Lets go of links a keyring no longer has.
    fn drop_links(&mut self, links: Vec<i32>) {
        self.bytes = self.bytes.saturating_sub(links.len() * LINK_COST);
        for l in links {
            self.put(l);
        }
    }

    /// Every keyring lets go of `key`.
    fn unlink_everywhere(&mut self, key: i32) {
        let holders: Vec<i32> = self.keys.iter().filter(|(_, k)| k.links.contains(&key)).map(|(&s, _)| s).collect();
        for h in holders {
            let Some(r) = self.keys.get_mut(&h) else { continue };
            let n = r.links.len();
            r.links.retain(|&l| l != key);
            let gone = vec![key; n - r.links.len()];
            self.drop_links(gone);
        }
    }

    /// Lets keyrings go of keys revoked or expired `gc_delay` ago.
    fn collect(&mut self, now: i64) {
        while let Some((&(at, serial), ())) = self.gc.first_key_value() {
            if at > now {
                break;
            }
            self.gc.remove(&(at, serial));
            if self.keys.get(&serial).is_some_and(|k| k.revoked || (k.expiry != 0 && k.expiry <= now)) {
                self.unlink_everywhere(serial);
            }
        }
    }

    /// Schedules [`State::collect`] for `serial` at `at` (bounded by the
    /// keys there are: one entry per key and time).
    fn schedule_gc(&mut self, at: i64, serial: i32) {
        if self.gc.len() < 2 * MAX_KEYS {
            self.gc.insert((at, serial), ());
        }
    }

    /// Whether `target` is possessed: reachable from the caller's keyrings
    /// through keyrings it may search, and searchable itself (Linux's
    /// search_process_keyrings for the key itself).
    fn possessed(&self, c: &Caller, target: i32) -> bool {
        let mut stack: Vec<(i32, usize)> = c.keyrings.iter().rev().map(|&k| (k, 1)).collect();
        while let Some((s, depth)) = stack.pop() {
            let Some(k) = self.keys.get(&s) else { continue };
            if !k.permits(true, c, KEY_SEARCH) {
                continue;
            }
            if s == target {
                return true;
            }
            if k.kind != KeyType::Keyring {
                continue;
            }
            if k.links.contains(&target) && self.keys.get(&target).is_some_and(|t| t.permits(true, c, KEY_SEARCH)) {
                return true;
            }
            if depth < MAX_DEPTH {
                for &l in k.links.iter().rev() {
                    if self.keys.get(&l).is_some_and(|x| x.kind == KeyType::Keyring) {
                        stack.push((l, depth + 1));
                    }
                }
            }
        }
        false
    }

    /// Linux's keyring_search_iterator on `serial`, a key of the type and
    /// description sought.
    /// An expired key is passed over with EKEYEXPIRED, or with `skip_expired`
    /// (request_key's search) as if it were not there (EAGAIN).
    fn consider(&self, serial: i32, possessed: bool, c: &Caller, now: i64, skip_expired: bool) -> Result<i32, Errno> {
        let k = self.key(serial)?;
        if k.invalidated || k.revoked {
            return Err(Errno::EKEYREVOKED);
        }
        if k.expiry != 0 && now >= k.expiry {
            return Err(if skip_expired { Errno::EAGAIN } else { Errno::EKEYEXPIRED });
        }
        if !k.permits(possessed, c, KEY_SEARCH) {
            return Err(Errno::EACCES);
        }
        if let Some(e) = k.negative {
            return Err(e);
        }
        Ok(serial)
    }

    /// Searches `keyring` and the keyrings nested in it (that the caller
    /// may search) for a key of `kind` and `desc`, as Linux's
    /// keyring_search_rcu with state checks: EACCES if the caller may not
    /// search `keyring`; otherwise the key, or the reason the last match
    /// was passed over (EAGAIN: none).
    #[allow(clippy::too_many_arguments)]
    fn search(
        &self,
        keyring: i32,
        possessed: bool,
        c: &Caller,
        kind: KeyType,
        desc: &[u8],
        now: i64,
        skip_expired: bool,
    ) -> Found {
        let Some(top) = self.keys.get(&keyring) else { return Found::Not(Errno::ENOKEY) };
        if top.kind != KeyType::Keyring {
            return Found::Not(Errno::ENOTDIR);
        }
        if !top.permits(possessed, c, KEY_SEARCH) {
            return Found::Not(Errno::EACCES);
        }
        let mut result = Errno::EAGAIN;
        // The top keyring itself may be what is sought.
        if kind == KeyType::Keyring && top.desc == desc {
            match self.consider(keyring, possessed, c, now, skip_expired) {
                Ok(s) => return Found::Key(s),
                Err(e) => return Found::Not(e),
            }
        }
        let mut stack = vec![(keyring, 1usize)];
        while let Some((s, depth)) = stack.pop() {
            let Some(r) = self.keys.get(&s) else { continue };
            if let Some(&m) =
                r.links.iter().find(|&&l| self.keys.get(&l).is_some_and(|k| k.kind == kind && k.desc == desc))
            {
                match self.consider(m, possessed, c, now, skip_expired) {
                    Ok(found) => return Found::Key(found),
                    Err(Errno::EAGAIN) => {}
                    Err(e) => result = e,
                }
            }
            if depth >= MAX_DEPTH {
                continue;
            }
            for &l in r.links.iter().rev() {
                if self.keys.get(&l).is_some_and(|k| k.kind == KeyType::Keyring && k.permits(possessed, c, KEY_SEARCH))
                {
                    stack.push((l, depth + 1));
                }
            }
        }
        Found::Not(result)
    }
}

/// How [`KeyTable::lookup_checked`] treats the key found.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// A usable key: not negative, revoked, expired or invalidated.
    Valid,
    /// Negative keys too (Linux's KEY_LOOKUP_PARTIAL), still not revoked
    /// or expired ones.
    Partial,
    /// Any key there is: unlink names a key only to find it in a keyring.
    Any,
    /// Whatever state the key is in, and whatever the permissions: the
    /// call checks them itself (keyctl_read).
    Deferred,
}

impl KeyTable {
    /// An empty table.
    pub fn new() -> Arc<KeyTable> {
        Arc::new_cyclic(|me| KeyTable { state: Mutex::default(), limits: Limits::default(), me: me.clone() })
    }

    /// Whether it holds no key (nor keyring).
    pub fn is_empty(&self) -> bool {
        self.state().keys.is_empty()
    }

    /// Every key, user and scheduled collection, for a checkpoint.
    pub fn snapshot(&self) -> KeysSnapshot {
        let st = self.state();
        let mut keys: Vec<KeySnapshot> = st
            .keys
            .iter()
            .map(|(&serial, k)| KeySnapshot {
                serial,
                kind: k.kind,
                desc: k.desc.clone(),
                uid: k.uid,
                gid: k.gid,
                perm: k.perm,
                negative: k.negative.map(|e| e.0),
                payload: k.payload.clone(),
                links: k.links.clone(),
                revoked: k.revoked,
                invalidated: k.invalidated,
                expiry: k.expiry,
                quota_len: k.quota_len as u64,
                in_quota: k.in_quota,
                uid_keyring: k.uid_keyring,
            })
            .collect();
        keys.sort_by_key(|k| k.serial);
        let users = st
            .users
            .iter()
            .map(|(&uid, u)| KeyUserSnapshot {
                uid,
                nkeys: u.nkeys,
                nikeys: u.nikeys,
                qnkeys: u.qnkeys,
                qnbytes: u.qnbytes as u64,
                user_keyring: u.user_keyring,
                session_keyring: u.session_keyring,
            })
            .collect();
        KeysSnapshot { keys, users, gc: st.gc.keys().copied().collect(), seed: st.seed }
    }

    /// Takes a checkpoint's keys into this table, which must be empty.
    /// Each key's references are counted again: the keyrings that link
    /// to it, and a user keyring's own; the restored processes' and
    /// threads' holds ([`KeyTable::hold`]) come on top. Anything out of
    /// the bounds add_key and keyctl keep is refused, and the table left
    /// empty.
    pub fn restore(&self, s: &KeysSnapshot) -> Result<(), &'static str> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if !st.keys.is_empty() {
            return Err("keys exist already");
        }
        if s.keys.len() > MAX_KEYS {
            return Err("too many keys");
        }
        let mut keys = HashMap::with_capacity(s.keys.len());
        let mut bytes = 0usize;
        for k in &s.keys {
            let in_bounds = k.serial > 2
                && k.desc.len() <= KEY_MAX_DESC_SIZE
                && k.payload.len() <= MAX_PAYLOAD
                && k.links.len() <= MAX_LINKS
                && (k.links.is_empty() || k.kind == KeyType::Keyring);
            if !in_bounds {
                return Err("a key out of bounds");
            }
            let key = Key {
                kind: k.kind,
                desc: k.desc.clone(),
                uid: k.uid,
                gid: k.gid,
                perm: k.perm,
                negative: k.negative.map(Errno),
                payload: k.payload.clone(),
                links: k.links.clone(),
                revoked: k.revoked,
                invalidated: k.invalidated,
                expiry: k.expiry,
                refs: u32::from(k.uid_keyring),
                quota_len: usize::try_from(k.quota_len).map_err(|_| "a key's quota")?,
                in_quota: k.in_quota,
                uid_keyring: k.uid_keyring,
            };
            bytes += key.mem();
            if keys.insert(k.serial, key).is_some() {
                return Err("a serial number twice");
            }
        }
        if bytes > MAX_BYTES {
            return Err("too many bytes of keys");
        }
        for k in &s.keys {
            for l in &k.links {
                let linked = keys.get_mut(l).ok_or("a link to no key")?;
                linked.refs += 1;
            }
        }
        let mut users = BTreeMap::new();
        for u in &s.users {
            let named = [u.user_keyring, u.session_keyring];
            if named.iter().flatten().any(|k| !keys.get(k).is_some_and(|k| k.uid_keyring)) {
                return Err("a user keyring");
            }
            let user = KeyUser {
                nkeys: u.nkeys,
                nikeys: u.nikeys,
                qnkeys: u.qnkeys,
                qnbytes: usize::try_from(u.qnbytes).map_err(|_| "a user's quota")?,
                user_keyring: u.user_keyring,
                session_keyring: u.session_keyring,
            };
            users.insert(u.uid, user);
        }
        st.gc = s.gc.iter().filter(|(_, k)| keys.contains_key(k)).take(2 * MAX_KEYS).map(|&g| (g, ())).collect();
        st.keys = keys;
        st.users = users;
        st.bytes = bytes;
        st.seed = s.seed;
        Ok(())
    }

    fn state(&self) -> MutexGuard<'_, State> {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let gc = now();
        st.collect(gc);
        st
    }

    /// A new keyring named `desc` owned by `uid`/`gid` with `perm`, held
    /// (a process's thread, process or session keyring). With `overrun`,
    /// it counts against the owner's quota but may pass it (Linux's
    /// KEY_ALLOC_QUOTA_OVERRUN, for the keyrings a process gets by itself).
    pub fn new_keyring(&self, desc: &[u8], uid: u32, gid: u32, perm: u32, overrun: bool) -> SysResult<KeyRef> {
        let mut st = self.state();
        let s = if overrun {
            let mem = desc.len();
            if st.keys.len() >= MAX_KEYS || st.bytes + mem > MAX_BYTES {
                return Err(Errno::EDQUOT);
            }
            let s = st.alloc(&self.limits, KeyType::Keyring, desc, uid, gid, perm, Vec::new(), 0, false)?;
            // Counted all the same.
            let quota_len = desc.len() + 1;
            let u = st.user(uid);
            u.qnkeys += 1;
            u.qnbytes += quota_len;
            st.key_mut(s)?.in_quota = true;
            s
        } else {
            st.alloc(&self.limits, KeyType::Keyring, desc, uid, gid, perm, Vec::new(), 0, true)?
        };
        Ok(st.hold(s, &self.me))
    }

    /// A new thread keyring ("_tid") for a thread of `uid` and `gid`.
    pub fn new_thread_keyring(&self, uid: u32, gid: u32) -> SysResult<KeyRef> {
        self.new_keyring(b"_tid", uid, gid, KEY_ALL << POS | KEY_VIEW << USR, true)
    }

    /// A new hold on key `serial` (ENOKEY if it is gone).
    pub fn hold(&self, serial: i32) -> SysResult<KeyRef> {
        let mut st = self.state();
        st.key(serial)?;
        Ok(st.hold(serial, &self.me))
    }

    /// The user keyring and user session keyring of `uid`, made on first
    /// use (they link: the session one to the user one) and kept.
    pub fn user_keyrings(&self, uid: u32) -> SysResult<(i32, i32)> {
        let mut st = self.state();
        let u = st.user(uid);
        if let (Some(a), Some(b)) = (u.user_keyring, u.session_keyring) {
            return Ok((a, b));
        }
        let perm = (KEY_ALL & !KEY_SETATTR) << POS | KEY_ALL << USR;
        // No group: Linux gives them INVALID_GID.
        let gid = u32::MAX;
        let user = match st.user(uid).user_keyring {
            Some(k) => k,
            None => {
                let desc = format!("_uid.{uid}");
                let k =
                    st.alloc(&self.limits, KeyType::Keyring, desc.as_bytes(), uid, gid, perm, Vec::new(), 0, true)?;
                let key = st.key_mut(k)?;
                key.refs = 1;
                key.uid_keyring = true;
                st.user(uid).user_keyring = Some(k);
                k
            }
        };
        let desc = format!("_uid_ses.{uid}");
        let ses = st.alloc(&self.limits, KeyType::Keyring, desc.as_bytes(), uid, gid, perm, Vec::new(), 0, true)?;
        let key = st.key_mut(ses)?;
        key.refs = 1;
        key.uid_keyring = true;
        st.user(uid).session_keyring = Some(ses);
        st.link(ses, user)?;
        Ok((user, ses))
    }

    /// Whether `serial` is a user or user session keyring.
    pub fn is_uid_keyring(&self, serial: i32) -> bool {
        self.state().keys.get(&serial).is_some_and(|k| k.uid_keyring)
    }

    /// Whether key `serial` exists, and whether the caller possesses it.
    pub fn find(&self, c: &Caller, serial: i32) -> SysResult<bool> {
        let st = self.state();
        st.key(serial)?;
        Ok(st.possessed(c, serial))
    }

    /// Linux's lookup_user_key checks on a key found: its state, as
    /// `mode` asks, then the permissions `want` (none for
    /// [`Lookup::Any`]).
    pub fn check(&self, c: &Caller, serial: i32, possessed: bool, mode: Lookup, want: u32) -> SysResult<()> {
        let st = self.state();
        let k = st.key(serial)?;
        let t = now();
        match mode {
            Lookup::Any => return Ok(()),
            Lookup::Valid => {
                if let Some(e) = k.negative {
                    return Err(e);
                }
                k.validate(t)?;
            }
            Lookup::Partial => k.validate(t)?,
            Lookup::Deferred => return Ok(()),
        }
        if k.permits(possessed, c, want) {
            Ok(())
        } else {
            Err(Errno::EACCES)
        }
    }

    /// Whether the caller has `want` on key `serial`.
    pub fn permits(&self, c: &Caller, serial: i32, possessed: bool, want: u32) -> SysResult<bool> {
        Ok(self.state().key(serial)?.permits(possessed, c, want))
    }

    /// add_key into `keyring` (which the caller may write): updates a key
    /// of the same type and description there if the type allows, else
    /// makes one and links it, replacing any such key. Returns its serial.
    /// An empty description is none (EINVAL, after the payload's checks).
    pub fn add(
        &self,
        c: &Caller,
        keyring: i32,
        keyring_possessed: bool,
        kind: KeyType,
        desc: &[u8],
        payload: Option<&[u8]>,
    ) -> SysResult<i32> {
        let mut st = self.state();
        if st.key(keyring)?.kind != KeyType::Keyring {
            return Err(Errno::ENOTDIR);
        }
        let quota_payload = kind.check(desc, payload)?;
        if desc.is_empty() {
            return Err(Errno::EINVAL);
        }
        if !st.key(keyring)?.permits(keyring_possessed, c, KEY_WRITE) {
            return Err(Errno::EACCES);
        }
        let data = payload.unwrap_or_default().to_vec();
        if kind.updatable() {
            let existing = st.key(keyring)?.links.iter().copied().find(|&l| {
                st.keys.get(&l).is_some_and(|k| k.kind == kind && k.desc == desc && !k.revoked && !k.invalidated)
            });
            if let Some(k) = existing {
                // Linux's __key_update: the key must be writable to us.
                if !st.key(k)?.permits(keyring_possessed, c, KEY_WRITE) {
                    return Err(Errno::EACCES);
                }
                let quota_len = desc.len() + 1 + quota_payload;
                let mem = desc.len() + data.len();
                st.reserve(&self.limits, k, quota_len, mem)?;
                let key = st.key_mut(k)?;
                key.payload = data;
                key.negative = None;
                key.expiry = 0;
                return Ok(k);
            }
        }
        let serial =
            st.alloc(&self.limits, kind, desc, c.uid, c.gid, kind.default_perm(), data, quota_payload, true)?;
        if let Err(e) = st.link(keyring, serial) {
            st.key_mut(serial)?.refs = 1;
            st.put(serial);
            return Err(e);
        }
        Ok(serial)
    }

    /// KEYCTL_UPDATE of key `serial` (writable, checked) with `payload`.
    pub fn update(&self, serial: i32, payload: Option<&[u8]>) -> SysResult<()> {
        let mut st = self.state();
        let (kind, desc) = {
            let k = st.key(serial)?;
            (k.kind, k.desc.clone())
        };
        if !kind.updatable() {
            return Err(Errno::EOPNOTSUPP);
        }
        let quota_payload = kind.check(&desc, payload)?;
        let data = payload.unwrap_or_default().to_vec();
        st.reserve(&self.limits, serial, desc.len() + 1 + quota_payload, desc.len() + data.len())?;
        let k = st.key_mut(serial)?;
        k.payload = data;
        k.negative = None;
        Ok(())
    }

    /// KEYCTL_REVOKE: the key fails from now on; its keyrings let it go
    /// `gc_delay` seconds later. A keyring is emptied, a payload freed.
    pub fn revoke(&self, serial: i32) -> SysResult<()> {
        let mut st = self.state();
        let t = now();
        let k = st.key(serial)?;
        if k.revoked {
            return Ok(());
        }
        let desc_len = k.desc.len();
        let links = {
            let k = st.key_mut(serial)?;
            k.revoked = true;
            std::mem::take(&mut k.links)
        };
        st.drop_links(links);
        // The payload goes (Linux's revoke methods reserve 0 bytes).
        let _ = st.reserve(&self.limits, serial, desc_len + 1, desc_len);
        st.key_mut(serial)?.payload = Vec::new();
        let delay = self.limits.gc_delay.load(Ordering::Relaxed).max(0);
        st.schedule_gc(t.saturating_add(delay), serial);
        Ok(())
    }

    /// KEYCTL_INVALIDATE: the key is gone from every keyring at once.
    pub fn invalidate(&self, serial: i32) -> SysResult<()> {
        let mut st = self.state();
        st.key_mut(serial)?.invalidated = true;
        st.unlink_everywhere(serial);
        Ok(())
    }

    /// KEYCTL_SET_TIMEOUT: the key expires `secs` from now (0: never).
    pub fn set_timeout(&self, serial: i32, secs: u32) -> SysResult<()> {
        let mut st = self.state();
        let t = now();
        let expiry = if secs == 0 { 0 } else { t + i64::from(secs) };
        st.key_mut(serial)?.expiry = expiry;
        if expiry != 0 {
            let delay = self.limits.gc_delay.load(Ordering::Relaxed).max(0);
            st.schedule_gc(expiry.saturating_add(delay), serial);
        }
        Ok(())
    }

    /// KEYCTL_SETPERM: the owner's, or CAP_SYS_ADMIN's (EACCES).
    pub fn set_perm(&self, c: &Caller, serial: i32, perm: u32) -> SysResult<()> {
        let mut st = self.state();
        let k = st.key_mut(serial)?;
        if k.uid != c.uid && !c.sys_admin {
            return Err(Errno::EACCES);
        }
        k.perm = perm;
        Ok(())
    }

    /// KEYCTL_CHOWN (None: unchanged): only CAP_SYS_ADMIN gives a key
    /// away or to a group the caller is not in; the new owner's quota
    /// must take it (EDQUOT).
    pub fn chown(&self, c: &Caller, serial: i32, uid: Option<u32>, gid: Option<u32>) -> SysResult<()> {
        let mut st = self.state();
        let (kuid, kgid, quota_len, in_quota) = {
            let k = st.key(serial)?;
            (k.uid, k.gid, k.quota_len, k.in_quota)
        };
        if !c.sys_admin {
            if uid.is_some_and(|u| u != kuid) {
                return Err(Errno::EACCES);
            }
            if gid.is_some_and(|g| g != kgid && g != c.gid && !c.groups.contains(&g)) {
                return Err(Errno::EACCES);
            }
        }
        if let Some(u) = uid.filter(|&u| u != kuid) {
            if in_quota && !st.quota_ok(&self.limits, u, 1, quota_len, 0) {
                return Err(Errno::EDQUOT);
            }
            let old = st.user(kuid);
            old.nkeys = old.nkeys.saturating_sub(1);
            old.nikeys = old.nikeys.saturating_sub(1);
            if in_quota {
                old.qnkeys = old.qnkeys.saturating_sub(1);
                old.qnbytes = old.qnbytes.saturating_sub(quota_len);
            }
            let new = st.user(u);
            new.nkeys += 1;
            new.nikeys += 1;
            if in_quota {
                new.qnkeys += 1;
                new.qnbytes += quota_len;
            }
            st.key_mut(serial)?.uid = u;
        }
        if let Some(g) = gid {
            st.key_mut(serial)?.gid = g;
        }
        Ok(())
    }

    /// KEYCTL_DESCRIBE's text: "type;uid;gid;perm;description".
    pub fn describe(&self, serial: i32) -> SysResult<Vec<u8>> {
        let st = self.state();
        let k = st.key(serial)?;
        let mut s = format!("{};{};{};{:08x};", k.kind.name(), k.uid as i32, k.gid as i32, k.perm).into_bytes();
        s.extend_from_slice(&k.desc);
        s.push(0);
        Ok(s)
    }

    /// KEYCTL_READ's data, as Linux's keyctl_read_key checks it: a
    /// negative key's error; READ permission, or else possession
    /// (EACCES); a type that can be read (EOPNOTSUPP); a valid key. Then a
    /// keyring's serials, or a key's payload.
    pub fn read(&self, c: &Caller, serial: i32, possessed: bool) -> SysResult<Vec<u8>> {
        let st = self.state();
        let k = st.key(serial)?;
        if let Some(e) = k.negative {
            return Err(e);
        }
        if !k.permits(possessed, c, KEY_READ) && !possessed {
            return Err(Errno::EACCES);
        }
        if !k.kind.readable() {
            return Err(Errno::EOPNOTSUPP);
        }
        k.validate(now())?;
        Ok(match k.kind {
            KeyType::Keyring => k.links.iter().flat_map(|l| l.to_le_bytes()).collect(),
            _ => k.payload.clone(),
        })
    }

    /// KEYCTL_LINK of `key` into `keyring`.
    pub fn link(&self, keyring: i32, key: i32) -> SysResult<()> {
        self.state().link(keyring, key)
    }

    /// KEYCTL_UNLINK.
    pub fn unlink(&self, keyring: i32, key: i32) -> SysResult<()> {
        self.state().unlink(keyring, key)
    }

    /// KEYCTL_MOVE of `key` from keyring `from` to `to`; with `excl`,
    /// EEXIST if `to` has a key of its type and description.
    pub fn move_key(&self, key: i32, from: i32, to: i32, excl: bool) -> SysResult<()> {
        if from == to {
            return Ok(());
        }
        let mut st = self.state();
        let (kind, desc) = {
            let k = st.key(key)?;
            (k.kind, k.desc.clone())
        };
        for r in [from, to] {
            if st.key(r)?.kind != KeyType::Keyring {
                return Err(Errno::ENOTDIR);
            }
        }
        if !st.key(from)?.links.contains(&key) {
            return Err(Errno::ENOENT);
        }
        if excl && st.key(to)?.links.iter().any(|&l| st.keys.get(&l).is_some_and(|o| o.kind == kind && o.desc == desc))
        {
            return Err(Errno::EEXIST);
        }
        st.link(to, key)?;
        st.unlink(from, key)
    }

    /// KEYCTL_CLEAR.
    pub fn clear(&self, keyring: i32) -> SysResult<()> {
        self.state().clear(keyring)
    }

    /// Searches the caller's keyrings (in order) for a key of `kind` and
    /// `desc`, as Linux's search_process_keyrings for request_key (expired
    /// keys passed over unseen): the key; or EAGAIN if a
    /// keyring simply lacked it (or held it negative: that key's error),
    /// else the last other reason (EKEYREVOKED, EKEYEXPIRED, EACCES).
    pub fn search_process(&self, c: &Caller, kind: KeyType, desc: &[u8]) -> Result<i32, Errno> {
        let st = self.state();
        let t = now();
        let (mut soft, mut hard) = (None, Errno::EAGAIN);
        for &r in &c.keyrings {
            match st.search(r, true, c, kind, desc, t, true) {
                Found::Key(k) => return Ok(k),
                Found::Not(e @ (Errno::EAGAIN | Errno::ENOKEY)) => soft = Some(e),
                Found::Not(e) => hard = e,
            }
        }
        Err(soft.unwrap_or(hard))
    }

    /// KEYCTL_SEARCH's search of `keyring` and what it nests.
    pub fn search(&self, c: &Caller, keyring: i32, possessed: bool, kind: KeyType, desc: &[u8]) -> Result<i32, Errno> {
        match self.state().search(keyring, possessed, c, kind, desc, now(), false) {
            Found::Key(k) => Ok(k),
            Found::Not(e) => Err(e),
        }
    }

    /// A negative key of `kind` and `desc` (request_key's, when nothing
    /// could make the key), linked into `keyring`, lasting 60 seconds.
    pub fn add_negative(&self, c: &Caller, keyring: i32, kind: KeyType, desc: &[u8]) -> SysResult<i32> {
        let mut st = self.state();
        let t = now();
        let serial = st.alloc(&self.limits, kind, desc, c.uid, c.gid, kind.default_perm(), Vec::new(), 0, true)?;
        {
            let k = st.key_mut(serial)?;
            k.negative = Some(Errno::ENOKEY);
            k.expiry = t + NEGATIVE_TIMEOUT;
        }
        let delay = self.limits.gc_delay.load(Ordering::Relaxed).max(0);
        st.schedule_gc((t + NEGATIVE_TIMEOUT).saturating_add(delay), serial);
        if let Err(e) = st.link(keyring, serial) {
            st.key_mut(serial)?.refs = 1;
            st.put(serial);
            return Err(e);
        }
        Ok(serial)
    }

    /// A keyring named `name` the caller may search, for
    /// KEYCTL_JOIN_SESSION_KEYRING (revoked ones and user keyrings aside).
    pub fn find_named_keyring(&self, c: &Caller, name: &[u8]) -> Option<i32> {
        let st = self.state();
        let t = now();
        let mut found: Vec<i32> = st
            .keys
            .iter()
            .filter(|(_, k)| {
                k.kind == KeyType::Keyring
                    && k.desc == name
                    && !k.uid_keyring
                    && k.validate(t).is_ok()
                    && k.permits(false, c, KEY_SEARCH)
            })
            .map(|(&s, _)| s)
            .collect();
        found.sort_unstable();
        found.first().copied()
    }

    /// /proc/key-users: a line per user with keys.
    pub fn key_users(&self) -> String {
        use std::fmt::Write;
        let st = self.state();
        let mut o = String::new();
        for (uid, u) in &st.users {
            if u.nkeys == 0 {
                continue;
            }
            let (mk, mb) = if *uid == 0 {
                (self.limits.root_maxkeys.load(Ordering::Relaxed), self.limits.root_maxbytes.load(Ordering::Relaxed))
            } else {
                (self.limits.maxkeys.load(Ordering::Relaxed), self.limits.maxbytes.load(Ordering::Relaxed))
            };
            let _ =
                writeln!(o, "{uid:5}: {:5} {}/{} {}/{} {}/{}", u.nkeys, u.nkeys, u.nikeys, u.qnkeys, mk, u.qnbytes, mb);
        }
        o
    }
}

/// A process's keyrings (its threads share them here): the process keyring
/// and the session keyring (shared with the children that fork inherits
/// it to).
#[derive(Default, Debug)]
pub struct ProcessKeys {
    pub process: Option<Arc<KeyRef>>,
    pub session: Option<Arc<KeyRef>>,
}

/// A thread's keyring, and where request_key puts keys by default
/// (KEYCTL_SET_REQKEY_KEYRING).
#[derive(Default, Debug)]
pub struct ThreadKeys {
    pub thread: Option<Arc<KeyRef>>,
    pub reqkey_default: i32,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> Caller {
        Caller { uid: 0, gid: 0, groups: Vec::new(), sys_admin: true, keyrings: Vec::new() }
    }

    #[test]
    fn last_reference_destroys_a_keyring_and_what_only_it_links() {
        let t = KeyTable::new();
        let mut c = root();
        let ses = t.new_keyring(b"_ses", 0, 0, KEY_ALL << POS, false).unwrap();
        c.keyrings.push(ses.serial());
        let ring = t.add(&c, ses.serial(), true, KeyType::Keyring, b"ring", None).unwrap();
        let key = t.add(&c, ring, true, KeyType::User, b"k", Some(b"v")).unwrap();
        assert!(t.find(&c, key).unwrap(), "reachable through the session: possessed");
        drop(ses);
        assert_eq!(t.find(&c, ring), Err(Errno::ENOKEY));
        assert_eq!(t.find(&c, key), Err(Errno::ENOKEY));
        assert!(t.state().users.is_empty(), "no keys, no user record");
    }

    #[test]
    fn a_snapshot_restores_with_references_counted_again() {
        let t = KeyTable::new();
        let mut c = root();
        let ses = t.new_keyring(b"_ses", 0, 0, KEY_ALL << POS, false).unwrap();
        c.keyrings.push(ses.serial());
        let ring = t.add(&c, ses.serial(), true, KeyType::Keyring, b"ring", None).unwrap();
        let key = t.add(&c, ring, true, KeyType::User, b"k", Some(b"v")).unwrap();
        let snap = t.snapshot();

        let back = KeyTable::new();
        back.restore(&snap).unwrap();
        assert_eq!(back.snapshot(), snap, "the same keys, users and schedule");
        assert_eq!(back.restore(&snap), Err("keys exist already"));
        // The session keyring's hold comes back; dropping it destroys
        // everything only it kept, as before the checkpoint.
        let hold = back.hold(ses.serial()).unwrap();
        c.keyrings = vec![hold.serial()];
        assert!(back.find(&c, key).unwrap());
        assert_eq!(back.read(&c, key, true).unwrap(), b"v");
        drop(hold);
        assert_eq!(back.find(&c, ring), Err(Errno::ENOKEY));
        assert_eq!(back.find(&c, key), Err(Errno::ENOKEY));

        // Images that do not hold together are refused, the table left empty.
        let mut dangling = snap.clone();
        dangling.keys.retain(|k| k.serial != key);
        assert_eq!(KeyTable::new().restore(&dangling), Err("a link to no key"));
        let mut linked_user = snap.clone();
        linked_user.keys.iter_mut().find(|k| k.serial == key).unwrap().links = vec![ring];
        assert_eq!(KeyTable::new().restore(&linked_user), Err("a key out of bounds"));
        let mut twice = snap.clone();
        twice.keys.push(twice.keys[0].clone());
        let empty = KeyTable::new();
        assert_eq!(empty.restore(&twice), Err("a serial number twice"));
        assert!(empty.is_empty());
    }

    #[test]
    fn links_refuse_cycles_and_replace_same_descriptions() {
        let t = KeyTable::new();
        let mut c = root();
        let ses = t.new_keyring(b"_ses", 0, 0, KEY_ALL << POS, false).unwrap();
        c.keyrings.push(ses.serial());
        let a = t.add(&c, ses.serial(), true, KeyType::Keyring, b"a", None).unwrap();
        let b = t.add(&c, a, true, KeyType::Keyring, b"b", None).unwrap();
        assert_eq!(t.link(b, a), Err(Errno::EDEADLK));
        assert_eq!(t.link(a, a), Err(Errno::EDEADLK));
        let k1 = t.add(&c, a, true, KeyType::User, b"k", Some(b"1")).unwrap();
        assert_eq!(t.add(&c, a, true, KeyType::User, b"k", Some(b"2")).unwrap(), k1, "updated in place");
        t.revoke(k1).unwrap();
        let k2 = t.add(&c, a, true, KeyType::User, b"k", Some(b"3")).unwrap();
        assert_ne!(k2, k1);
        assert_eq!(t.find(&c, k1), Err(Errno::ENOKEY), "the revoked key, replaced, is gone");
    }

    #[test]
    fn quotas_count_keys_and_bytes() {
        let t = KeyTable::new();
        t.limits.maxkeys.store(3, Ordering::Relaxed);
        t.limits.maxbytes.store(100, Ordering::Relaxed);
        let mut c = Caller { uid: 1000, gid: 1000, ..root() };
        let ses = t.new_keyring(b"_ses", 1000, 1000, KEY_ALL << POS, false).unwrap();
        c.keyrings.push(ses.serial());
        assert_eq!(t.add(&c, ses.serial(), true, KeyType::User, b"big", Some(&[0; 100])), Err(Errno::EDQUOT));
        t.add(&c, ses.serial(), true, KeyType::User, b"a", Some(b"x")).unwrap();
        t.add(&c, ses.serial(), true, KeyType::User, b"b", Some(b"x")).unwrap();
        assert_eq!(t.add(&c, ses.serial(), true, KeyType::User, b"c", Some(b"x")), Err(Errno::EDQUOT));
        assert!(t.key_users().contains("3/3"), "{}", t.key_users());
    }
}

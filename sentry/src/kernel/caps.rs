//! Capabilities: the app's view of privilege, as Linux's capabilities(7)
//! has it. Each process holds five sets (effective, permitted,
//! inheritable, bounding, ambient) and its securebits in its
//! [`Credentials`]; permission checks ask for a capability in the
//! effective set ([`Credentials::has_cap`]), never for uid 0.
//!
//! This module holds the rules by which the sets change, as pure
//! functions of the credentials: set*id calls ([`fix_setuid`],
//! [`fix_setfsuid`]), capset ([`capset`]), the prctl calls ([`prctl`]) and
//! execve ([`exec`]), after Linux's `security/commoncap.c` (6.18).
//!
//! What is not modelled: file capabilities (no `security.capability`
//! xattr is read at execve: every program is a file without them), and
//! set-user-ID and set-group-ID programs (execve keeps the ids; Husk does
//! not honour those bits). The sets belong to the process, not to each
//! thread: a capset in one thread changes its siblings too (glibc's
//! set*id calls do the same for ids, but libcap's per-thread capset does
//! not).

use abi::flags::capability::*;
use abi::flags::prctl::*;
use abi::Errno;

use super::process::Credentials;

/// A process's capability sets, one bit per capability (bit N is
/// capability N). Plain data: the runtime fills one in for each process
/// it starts (from an OCI config's `process.capabilities`, or Docker's
/// default set for `husk run`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CapSets {
    /// What permission checks consult.
    pub effective: u64,
    /// The most the effective set may hold.
    pub permitted: u64,
    /// What a program may keep across execve (with ambient).
    pub inheritable: u64,
    /// The most a process may ever gain again.
    pub bounding: u64,
    /// What an unprivileged program keeps across execve.
    pub ambient: u64,
}

/// The bit of capability `cap`.
pub const fn bit(cap: u32) -> u64 {
    1 << cap
}

/// The capabilities that follow the filesystem uid (Linux's CAP_FS_SET):
/// setfsuid away from 0 drops them from the effective set, back to 0
/// raises them again from the permitted set.
pub const FS_SET: u64 = bit(CAP_CHOWN)
    | bit(CAP_DAC_OVERRIDE)
    | bit(CAP_DAC_READ_SEARCH)
    | bit(CAP_FOWNER)
    | bit(CAP_FSETID)
    | bit(CAP_LINUX_IMMUTABLE)
    | bit(CAP_MKNOD)
    | bit(CAP_MAC_OVERRIDE);

impl CapSets {
    /// Every capability effective, permitted and bounding; none
    /// inheritable or ambient: what root has on a Linux host.
    pub const FULL: CapSets = CapSets {
        effective: CAP_VALID_MASK,
        permitted: CAP_VALID_MASK,
        inheritable: 0,
        bounding: CAP_VALID_MASK,
        ambient: 0,
    };

    /// What a program run as `uid` by a process with [`CapSets::FULL`]
    /// gets: everything for root, only the bounding set for others.
    pub fn for_uid(uid: u32) -> CapSets {
        if uid == 0 {
            CapSets::FULL
        } else {
            CapSets { bounding: CAP_VALID_MASK, ..CapSets::default() }
        }
    }

    /// The sets with Linux's invariants restored: no bits past the last
    /// capability, effective within permitted, ambient within permitted
    /// and inheritable. For sets that come from a configuration.
    pub fn normalized(self) -> CapSets {
        let permitted = self.permitted & CAP_VALID_MASK;
        let inheritable = self.inheritable & CAP_VALID_MASK;
        CapSets {
            effective: self.effective & permitted,
            permitted,
            inheritable,
            bounding: self.bounding & CAP_VALID_MASK,
            ambient: self.ambient & permitted & inheritable,
        }
    }
}

/// Linux's `cap_emulate_setxuid`, after a setuid, setreuid or setresuid
/// has changed `old`'s user ids into `new`'s: leaving root for good
/// (no id 0 among the real, effective and saved uids any more) empties
/// the permitted and effective sets unless SECBIT_KEEP_CAPS, and always
/// the ambient set; an effective uid leaving 0 empties the effective set,
/// one coming back to 0 fills it from the permitted set. Nothing changes
/// under SECBIT_NO_SETUID_FIXUP.
pub fn fix_setuid(old: &Credentials, new: &mut Credentials) {
    if old.securebits & SECBIT_NO_SETUID_FIXUP != 0 {
        return;
    }
    let had_root = old.uid == 0 || old.euid == 0 || old.suid == 0;
    let has_root = new.uid == 0 || new.euid == 0 || new.suid == 0;
    if had_root && !has_root {
        if old.securebits & SECBIT_KEEP_CAPS == 0 {
            new.caps.permitted = 0;
            new.caps.effective = 0;
        }
        // Programs written before ambient capabilities expect setuid to
        // a non-root user followed by execve to drop every capability.
        new.caps.ambient = 0;
    }
    if old.euid == 0 && new.euid != 0 {
        new.caps.effective = 0;
    }
    if old.euid != 0 && new.euid == 0 {
        new.caps.effective = new.caps.permitted;
    }
}

/// The same after setfsuid changed the filesystem uid: leaving 0 drops
/// the [`FS_SET`] capabilities from the effective set, coming back to 0
/// raises those of them that are permitted.
pub fn fix_setfsuid(old: &Credentials, new: &mut Credentials) {
    if old.securebits & SECBIT_NO_SETUID_FIXUP != 0 {
        return;
    }
    if old.fsuid == 0 && new.fsuid != 0 {
        new.caps.effective &= !FS_SET;
    }
    if old.fsuid != 0 && new.fsuid == 0 {
        new.caps.effective |= new.caps.permitted & FS_SET;
    }
}

/// Whether the change from `old` to `new` makes the process one its
/// former self may no longer trust (Linux's `commit_creds`): a new
/// effective or filesystem id, or permitted capabilities it did not have.
/// Such a process stops being dumpable and loses its parent-death signal.
pub fn changes_trust(old: &Credentials, new: &Credentials) -> bool {
    old.euid != new.euid
        || old.egid != new.egid
        || old.fsuid != new.fsuid
        || old.fsgid != new.fsgid
        || new.caps.permitted & !old.caps.permitted != 0
}

/// Whether a process with credentials `me` may look into or act on another
/// with `them`, as Linux's ptrace_may_access on real ids (kcmp,
/// process_vm_readv and writev, pidfd_getfd, get_robust_list): its real
/// ids are all of the target's, or it has CAP_SYS_PTRACE; and its
/// permitted set covers the target's, or it has CAP_SYS_PTRACE (commoncap).
/// The caller's own process may always; the caller checks that. Not
/// modelled: the target's dumpability and Yama's ptrace scope.
pub fn ptrace_may_access(me: &Credentials, them: &Credentials) -> bool {
    let same_ids = [them.uid, them.euid, them.suid].iter().all(|&u| u == me.uid)
        && [them.gid, them.egid, them.sgid].iter().all(|&g| g == me.gid);
    let covers_caps = them.caps.permitted & !me.caps.permitted == 0;
    let ptrace = me.has_cap(CAP_SYS_PTRACE);
    ptrace || (same_ids && covers_caps)
}

/// The credentials access(2) checks with: the real ids as filesystem ids,
/// and (unless SECBIT_NO_SETUID_FIXUP) no capabilities for a non-root
/// real uid, all permitted ones for root.
pub fn access_creds(c: &Credentials) -> Credentials {
    let mut a = c.clone();
    (a.fsuid, a.fsgid) = (c.uid, c.gid);
    if c.securebits & SECBIT_NO_SETUID_FIXUP == 0 {
        a.caps.effective = if c.uid == 0 { c.caps.permitted } else { 0 };
    }
    a
}

/// capset(2)'s rules (`cap_capset`): the new sets of a process with `c`,
/// or EPERM. A new inheritable capability must be permitted, unless the
/// caller has CAP_SETPCAP, and within the bounding set; the permitted set
/// may only shrink; the effective set must be within the new permitted
/// set. Ambient capabilities no longer both permitted and inheritable go.
pub fn capset(c: &Credentials, effective: u64, permitted: u64, inheritable: u64) -> Result<CapSets, Errno> {
    let old = &c.caps;
    let subset = |a: u64, b: u64| a & !b == 0;
    if !c.has_cap(CAP_SETPCAP) && !subset(inheritable, old.inheritable | old.permitted) {
        return Err(Errno::EPERM);
    }
    if !subset(inheritable, old.inheritable | old.bounding) {
        return Err(Errno::EPERM);
    }
    if !subset(permitted, old.permitted) || !subset(effective, permitted) {
        return Err(Errno::EPERM);
    }
    Ok(CapSets { effective, permitted, inheritable, ambient: old.ambient & permitted & inheritable, ..*old })
}

/// The prctl options about capabilities (`cap_task_prctl`), on the
/// calling process's credentials `c`; `None` for any other option.
pub fn prctl(c: &mut Credentials, option: u32, args: [u64; 4]) -> Option<Result<u64, Errno>> {
    let [arg2, arg3, arg4, arg5] = args;
    let valid = |cap: u64| (cap <= u64::from(CAP_LAST_CAP)).then_some(cap as u32);
    let done = match option {
        PR_CAPBSET_READ => valid(arg2).map(|cap| u64::from(c.caps.bounding & bit(cap) != 0)).ok_or(Errno::EINVAL),
        PR_CAPBSET_DROP => {
            if !c.has_cap(CAP_SETPCAP) {
                return Some(Err(Errno::EPERM));
            }
            valid(arg2).map(|cap| c.caps.bounding &= !bit(cap)).map(|()| 0).ok_or(Errno::EINVAL)
        }
        PR_GET_SECUREBITS => Ok(u64::from(c.securebits)),
        PR_SET_SECUREBITS => set_securebits(c, arg2).map(|()| 0),
        PR_GET_KEEPCAPS => Ok(u64::from(c.securebits & SECBIT_KEEP_CAPS != 0)),
        PR_SET_KEEPCAPS => {
            if arg2 > 1 {
                Err(Errno::EINVAL)
            } else if c.securebits & SECBIT_KEEP_CAPS_LOCKED != 0 {
                Err(Errno::EPERM)
            } else {
                if arg2 == 1 {
                    c.securebits |= SECBIT_KEEP_CAPS;
                } else {
                    c.securebits &= !SECBIT_KEEP_CAPS;
                }
                Ok(0)
            }
        }
        PR_CAP_AMBIENT => ambient(c, arg2, arg3, arg4 | arg5),
        _ => return None,
    };
    Some(done)
}

/// PR_SET_SECUREBITS: locked bits may not change nor locks go; unknown
/// bits are refused; and without CAP_SETPCAP only the bits user space
/// enforces on itself may change (and something must).
fn set_securebits(c: &mut Credentials, arg: u64) -> Result<(), Errno> {
    let old = u64::from(c.securebits);
    let locks = u64::from(SECURE_ALL_LOCKS);
    let changed = old ^ arg;
    if ((old & locks) >> 1) & changed != 0
        || old & locks & !arg != 0
        || arg & !u64::from(SECURE_ALL_LOCKS | SECURE_ALL_BITS) != 0
    {
        return Err(Errno::EPERM);
    }
    if !c.has_cap(CAP_SETPCAP) {
        let unprivileged = u64::from(SECURE_ALL_UNPRIVILEGED | (SECURE_ALL_UNPRIVILEGED << 1));
        if changed == 0 || changed & !unprivileged != 0 {
            return Err(Errno::EPERM);
        }
    }
    c.securebits = arg as u32;
    Ok(())
}

/// PR_CAP_AMBIENT's operations; `extra` is arguments 4 and 5, which must
/// be 0.
fn ambient(c: &mut Credentials, op: u64, cap: u64, extra: u64) -> Result<u64, Errno> {
    if op == PR_CAP_AMBIENT_CLEAR_ALL {
        if cap | extra != 0 {
            return Err(Errno::EINVAL);
        }
        c.caps.ambient = 0;
        return Ok(0);
    }
    if cap > u64::from(CAP_LAST_CAP) || extra != 0 {
        return Err(Errno::EINVAL);
    }
    let b = bit(cap as u32);
    match op {
        PR_CAP_AMBIENT_IS_SET => Ok(u64::from(c.caps.ambient & b != 0)),
        PR_CAP_AMBIENT_RAISE => {
            if c.caps.permitted & b == 0
                || c.caps.inheritable & b == 0
                || c.securebits & SECBIT_NO_CAP_AMBIENT_RAISE != 0
            {
                return Err(Errno::EPERM);
            }
            c.caps.ambient |= b;
            Ok(0)
        }
        PR_CAP_AMBIENT_LOWER => {
            c.caps.ambient &= !b;
            Ok(0)
        }
        _ => Err(Errno::EINVAL),
    }
}

/// execve's transformation of the credentials (`cap_bprm_creds_from_file`
/// for a file without capabilities). Returns whether the exec is secure
/// (AT_SECURE: the new program has privilege its caller may not trust).
///
/// Root (a real or effective uid 0, unless SECBIT_NOROOT) gets the
/// bounding set and the inheritable set as permitted, and as effective
/// too if its effective uid is 0; everyone else keeps only the ambient
/// set, as permitted and effective. With no_new_privs, a gain over the
/// old permitted set is taken away again. The saved and filesystem ids
/// become the effective ones, and SECBIT_KEEP_CAPS is cleared.
pub fn exec(c: &mut Credentials, no_new_privs: bool) -> bool {
    let old = c.clone();
    let mut permitted = 0;
    let mut effective = false;
    if old.securebits & SECBIT_NOROOT == 0 {
        if old.euid == 0 || old.uid == 0 {
            permitted = old.caps.bounding | old.caps.inheritable;
        }
        effective = old.euid == 0;
    }
    // The effective ids stay (no set-id programs), so the effective gid
    // is all that can make this count as an id change: Linux's in_group_p
    // of it, against the old filesystem gid and groups.
    let id_changed = !(old.egid == old.fsgid || old.groups.contains(&old.egid));
    let gained = permitted & !old.caps.permitted != 0;
    if (id_changed || gained) && no_new_privs {
        (c.euid, c.egid) = (c.uid, c.gid);
        permitted &= old.caps.permitted;
    }
    (c.suid, c.fsuid) = (c.euid, c.euid);
    (c.sgid, c.fsgid) = (c.egid, c.egid);
    let ambient = if id_changed { 0 } else { old.caps.ambient };
    permitted |= ambient;
    c.caps.permitted = permitted;
    c.caps.ambient = ambient;
    c.caps.effective = if effective { permitted } else { ambient };
    c.securebits &= !SECBIT_KEEP_CAPS;
    id_changed || c.euid != old.uid || c.egid != old.gid || (c.uid != 0 && (effective || permitted & !ambient != 0))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: u64 = CAP_VALID_MASK;

    fn root() -> Credentials {
        Credentials::new(0, 0)
    }

    #[test]
    fn ptrace_access_needs_the_same_ids_and_caps_or_cap_sys_ptrace() {
        let user = Credentials::new(1000, 1000);
        assert!(ptrace_may_access(&user, &user));
        assert!(ptrace_may_access(&root(), &user));
        assert!(!ptrace_may_access(&user, &root()));
        let mut setuid = user.clone();
        setuid.suid = 0;
        assert!(!ptrace_may_access(&user, &setuid));
        let mut other_group = user.clone();
        other_group.egid = 5;
        assert!(!ptrace_may_access(&user, &other_group));
        // Same ids, but the target holds a capability the caller lacks.
        let mut capable = user.clone();
        capable.caps.permitted = bit(CAP_KILL);
        assert!(!ptrace_may_access(&user, &capable));
        let mut tracer = user.clone();
        tracer.caps.effective = bit(CAP_SYS_PTRACE);
        assert!(ptrace_may_access(&tracer, &root()));
    }

    /// Root with CAP_KILL inheritable and ambient.
    fn root_with_ambient_kill() -> Credentials {
        let mut c = root();
        c.caps.inheritable = bit(CAP_KILL);
        c.caps.ambient = bit(CAP_KILL);
        c
    }

    /// `c` after its user ids become (r, e, s), as setresuid makes them.
    fn setresuid(c: &Credentials, r: u32, e: u32, s: u32) -> Credentials {
        let mut new = c.clone();
        (new.uid, new.euid, new.suid, new.fsuid) = (r, e, s, e);
        fix_setuid(c, &mut new);
        new
    }

    #[test]
    fn leaving_root_for_good_empties_permitted_effective_and_ambient() {
        let c = root_with_ambient_kill();
        let after = setresuid(&c, 1000, 1000, 1000);
        assert_eq!(after.caps, CapSets { inheritable: bit(CAP_KILL), bounding: ALL, ..CapSets::default() });
    }

    #[test]
    fn keepcaps_keeps_the_permitted_set_but_not_the_effective_one() {
        let mut c = root_with_ambient_kill();
        c.securebits = SECBIT_KEEP_CAPS;
        let after = setresuid(&c, 1000, 1000, 1000);
        assert_eq!((after.caps.permitted, after.caps.effective, after.caps.ambient), (ALL, 0, 0));
    }

    #[test]
    fn a_saved_uid_0_keeps_permitted_and_ambient_and_euid_0_brings_effective_back() {
        let c = root_with_ambient_kill();
        let away = setresuid(&c, 1000, 1000, 0);
        assert_eq!((away.caps.permitted, away.caps.effective, away.caps.ambient), (ALL, 0, bit(CAP_KILL)));
        let back = setresuid(&away, 1000, 0, 0);
        assert_eq!(back.caps.effective, ALL);
        // Only the permitted set comes back.
        let mut fewer = away.clone();
        fewer.caps.permitted = ALL & !bit(CAP_NET_RAW);
        assert_eq!(setresuid(&fewer, 1000, 0, 0).caps.effective, ALL & !bit(CAP_NET_RAW));
    }

    #[test]
    fn no_setuid_fixup_leaves_the_sets_alone() {
        let mut c = root();
        c.securebits = SECBIT_NO_SETUID_FIXUP;
        let after = setresuid(&c, 1000, 1000, 1000);
        assert_eq!(after.caps, CapSets::FULL);
        let mut fs = after.clone();
        fs.fsuid = 0;
        fix_setfsuid(&after, &mut fs);
        assert_eq!(fs.caps, CapSets::FULL);
    }

    #[test]
    fn setfsuid_moves_the_filesystem_capabilities_only() {
        let c = root();
        let mut away = c.clone();
        away.fsuid = 1000;
        fix_setfsuid(&c, &mut away);
        assert_eq!(away.caps.effective, ALL & !FS_SET);
        assert_eq!(away.caps.permitted, ALL);
        let mut back = away.clone();
        back.caps.permitted &= !bit(CAP_DAC_OVERRIDE);
        let before = back.clone();
        back.fsuid = 0;
        fix_setfsuid(&before, &mut back);
        assert_eq!(back.caps.effective, ALL & !bit(CAP_DAC_OVERRIDE));
    }

    #[test]
    fn capset_only_shrinks_permitted_and_bounds_inheritable() {
        let c = root();
        assert_eq!(capset(&c, 0, ALL, 0).map(|s| s.effective), Ok(0));
        let mut fewer = c.clone();
        fewer.caps = capset(&c, ALL & !bit(CAP_NET_RAW), ALL & !bit(CAP_NET_RAW), 0).unwrap();
        assert_eq!(capset(&fewer, 0, ALL, 0), Err(Errno::EPERM));
        assert_eq!(capset(&fewer, ALL, ALL & !bit(CAP_NET_RAW), 0), Err(Errno::EPERM));
        // With CAP_SETPCAP, an inheritable capability need not be permitted.
        assert!(capset(&fewer, 0, 0, bit(CAP_NET_RAW)).is_ok());
        let mut no_setpcap = fewer.clone();
        no_setpcap.caps.effective &= !bit(CAP_SETPCAP);
        assert_eq!(capset(&no_setpcap, 0, 0, bit(CAP_NET_RAW)), Err(Errno::EPERM));
        assert!(capset(&no_setpcap, 0, bit(CAP_KILL), bit(CAP_KILL)).is_ok());
        // Never outside the bounding set.
        let mut bounded = c.clone();
        bounded.caps.bounding &= !bit(CAP_MKNOD);
        assert_eq!(capset(&bounded, ALL, ALL, bit(CAP_MKNOD)), Err(Errno::EPERM));
        // Ambient capabilities go with their permitted or inheritable bit.
        let mut amb = c.clone();
        amb.caps.inheritable = bit(CAP_KILL) | bit(CAP_CHOWN);
        amb.caps.ambient = bit(CAP_KILL) | bit(CAP_CHOWN);
        let s = capset(&amb, 0, ALL & !bit(CAP_CHOWN), bit(CAP_KILL) | bit(CAP_CHOWN)).unwrap();
        assert_eq!(s.ambient, bit(CAP_KILL));
    }

    #[test]
    fn prctl_keepcaps_bounding_and_ambient() {
        let mut c = root();
        assert_eq!(prctl(&mut c, PR_SET_KEEPCAPS, [2, 0, 0, 0]), Some(Err(Errno::EINVAL)));
        assert_eq!(prctl(&mut c, PR_SET_KEEPCAPS, [1, 0, 0, 0]), Some(Ok(0)));
        assert_eq!(prctl(&mut c, PR_GET_SECUREBITS, [0; 4]), Some(Ok(u64::from(SECBIT_KEEP_CAPS))));
        assert_eq!(prctl(&mut c, PR_CAPBSET_READ, [41, 0, 0, 0]), Some(Err(Errno::EINVAL)));
        assert_eq!(prctl(&mut c, PR_CAPBSET_DROP, [u64::from(CAP_MKNOD), 0, 0, 0]), Some(Ok(0)));
        assert_eq!(prctl(&mut c, PR_CAPBSET_READ, [u64::from(CAP_MKNOD), 0, 0, 0]), Some(Ok(0)));
        let nbs = u64::from(CAP_NET_BIND_SERVICE);
        assert_eq!(prctl(&mut c, PR_CAP_AMBIENT, [PR_CAP_AMBIENT_RAISE, nbs, 0, 0]), Some(Err(Errno::EPERM)));
        c.caps.inheritable = bit(CAP_NET_BIND_SERVICE);
        assert_eq!(prctl(&mut c, PR_CAP_AMBIENT, [PR_CAP_AMBIENT_RAISE, nbs, 0, 0]), Some(Ok(0)));
        assert_eq!(prctl(&mut c, PR_CAP_AMBIENT, [PR_CAP_AMBIENT_IS_SET, nbs, 0, 0]), Some(Ok(1)));
        assert_eq!(prctl(&mut c, PR_CAP_AMBIENT, [PR_CAP_AMBIENT_CLEAR_ALL, 1, 0, 0]), Some(Err(Errno::EINVAL)));
        assert_eq!(prctl(&mut c, PR_CAP_AMBIENT, [PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0]), Some(Ok(0)));
        assert_eq!(c.caps.ambient, 0);
        c.caps.effective &= !bit(CAP_SETPCAP);
        assert_eq!(prctl(&mut c, PR_CAPBSET_DROP, [99, 0, 0, 0]), Some(Err(Errno::EPERM)));
        assert_eq!(prctl(&mut c, PR_SET_NAME, [0; 4]), None);
    }

    #[test]
    fn securebits_locks_and_unprivileged_bits() {
        let mut c = root();
        let locked = SECBIT_KEEP_CAPS | SECBIT_KEEP_CAPS_LOCKED;
        assert_eq!(set_securebits(&mut c, 1 << 20), Err(Errno::EPERM));
        assert_eq!(set_securebits(&mut c, u64::from(locked)), Ok(()));
        assert_eq!(prctl(&mut c, PR_SET_KEEPCAPS, [0; 4]), Some(Err(Errno::EPERM)));
        assert_eq!(set_securebits(&mut c, u64::from(SECBIT_KEEP_CAPS)), Err(Errno::EPERM));
        assert_eq!(set_securebits(&mut c, u64::from(SECBIT_KEEP_CAPS_LOCKED)), Err(Errno::EPERM));
        c.caps.effective &= !bit(CAP_SETPCAP);
        assert_eq!(set_securebits(&mut c, u64::from(locked)), Err(Errno::EPERM));
        assert_eq!(set_securebits(&mut c, u64::from(locked | SECBIT_NOROOT)), Err(Errno::EPERM));
        assert_eq!(set_securebits(&mut c, u64::from(locked | SECBIT_EXEC_RESTRICT_FILE)), Ok(()));
    }

    #[test]
    fn exec_gives_root_the_bounding_set() {
        let mut c = root();
        c.caps.permitted = ALL & !bit(CAP_NET_RAW);
        c.caps.effective = 0;
        c.caps.bounding = ALL & !bit(CAP_MKNOD) & !bit(CAP_SYS_TIME);
        c.caps.inheritable = bit(CAP_MKNOD);
        c.securebits = SECBIT_KEEP_CAPS;
        let secure = exec(&mut c, false);
        assert!(!secure);
        assert_eq!((c.caps.permitted, c.caps.effective), (ALL & !bit(CAP_SYS_TIME), ALL & !bit(CAP_SYS_TIME)));
        assert_eq!(c.securebits, 0);
    }

    #[test]
    fn no_new_privs_keeps_root_from_regaining() {
        let mut c = root();
        c.caps.permitted = ALL & !bit(CAP_NET_RAW);
        exec(&mut c, true);
        assert_eq!((c.caps.permitted, c.caps.effective), (ALL & !bit(CAP_NET_RAW), ALL & !bit(CAP_NET_RAW)));
    }

    #[test]
    fn noroot_leaves_root_with_the_ambient_set() {
        let mut c = root_with_ambient_kill();
        c.securebits = SECBIT_NOROOT;
        exec(&mut c, false);
        assert_eq!((c.caps.permitted, c.caps.effective, c.securebits), (bit(CAP_KILL), bit(CAP_KILL), SECBIT_NOROOT));
    }

    #[test]
    fn others_keep_only_the_ambient_set() {
        let mut c = Credentials::new(1000, 1000);
        c.caps = CapSets {
            permitted: ALL,
            inheritable: bit(CAP_KILL) | bit(CAP_NET_BIND_SERVICE),
            ambient: bit(CAP_NET_BIND_SERVICE),
            bounding: ALL,
            effective: 0,
        };
        assert!(!exec(&mut c, false));
        let nbs = bit(CAP_NET_BIND_SERVICE);
        assert_eq!((c.caps.permitted, c.caps.effective, c.caps.ambient), (nbs, nbs, nbs));
        assert_eq!(c.caps.inheritable, bit(CAP_KILL) | nbs);
    }

    #[test]
    fn exec_with_uid_and_euid_apart_is_secure() {
        // uid 1000, euid 0: root's sets, and AT_SECURE.
        let mut c = root();
        c.uid = 1000;
        assert!(exec(&mut c, false));
        assert_eq!((c.caps.permitted, c.caps.effective), (ALL, ALL));
        // uid 0, euid 1000: permitted but not effective, and AT_SECURE.
        let mut c = root();
        (c.euid, c.suid, c.fsuid) = (1000, 1000, 1000);
        c.caps.effective = 0;
        assert!(exec(&mut c, false));
        assert_eq!((c.caps.permitted, c.caps.effective), (ALL, 0));
        // The saved and filesystem ids become the effective one.
        let mut c = root();
        c.suid = 1000;
        assert!(!exec(&mut c, false));
        assert_eq!((c.suid, c.fsuid), (0, 0));
    }

    #[test]
    fn an_effective_gid_outside_the_groups_counts_as_an_id_change() {
        let mut c = root_with_ambient_kill();
        c.egid = 50;
        assert!(exec(&mut c, false));
        assert_eq!(c.caps.ambient, 0);
        // With no_new_privs the effective ids go back to the real ones.
        let mut c = root();
        c.egid = 50;
        exec(&mut c, true);
        assert_eq!((c.egid, c.sgid, c.fsgid), (0, 0, 0));
    }

    #[test]
    fn new_ids_or_more_permitted_capabilities_change_trust() {
        let c = root();
        assert!(!changes_trust(&c, &c));
        assert!(changes_trust(&c, &setresuid(&c, 0, 1000, 0)));
        let mut fewer = c.clone();
        fewer.caps.permitted &= !bit(CAP_KILL);
        assert!(!changes_trust(&c, &fewer));
        assert!(changes_trust(&fewer, &c));
        let mut fs = c.clone();
        fs.fsgid = 5;
        assert!(changes_trust(&c, &fs));
    }

    #[test]
    fn normalized_restores_the_invariants() {
        let s = CapSets {
            effective: u64::MAX,
            permitted: bit(CAP_KILL),
            inheritable: 0,
            bounding: u64::MAX,
            ambient: u64::MAX,
        };
        assert_eq!(
            s.normalized(),
            CapSets { effective: bit(CAP_KILL), permitted: bit(CAP_KILL), inheritable: 0, bounding: ALL, ambient: 0 }
        );
    }
}

//! The capability sets the runtime gives the app's processes: Docker's
//! default set for `husk run` (with `--cap-add` and `--cap-drop`, as
//! `docker run` takes them), or an OCI config's `process.capabilities`.
//! The sets are those in place when the program is executed; the Sentry
//! then applies execve's rules to them (see `sentry::kernel::caps`).

use abi::flags::capability::{by_name, CAP_VALID_MASK, NAMES};
use anyhow::bail;
use oci_spec::runtime::{Capabilities, LinuxCapabilities};
use sentry::CapSets;

/// Docker's default capabilities (moby's `caps.DefaultCapabilities`).
pub const DOCKER_DEFAULT: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// The name `docker run` and this runtime take for every capability.
const ALL: &str = "ALL";

/// A process's capability sets in a form the control socket carries
/// (`sentry::CapSets`, which is plain data without serde).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CapsPlan {
    /// The effective set.
    pub effective: u64,
    /// The permitted set.
    pub permitted: u64,
    /// The inheritable set.
    pub inheritable: u64,
    /// The bounding set.
    pub bounding: u64,
    /// The ambient set.
    pub ambient: u64,
}

impl From<CapsPlan> for CapSets {
    fn from(p: CapsPlan) -> CapSets {
        CapSets {
            effective: p.effective,
            permitted: p.permitted,
            inheritable: p.inheritable,
            bounding: p.bounding,
            ambient: p.ambient,
        }
    }
}

/// The bit of the capability called `name` (`CAP_CHOWN`, `chown`...).
fn bit_of(name: &str) -> anyhow::Result<u64> {
    match by_name(name) {
        Some(cap) => Ok(1 << cap),
        None => bail!("unknown capability {name:?} (known: ALL, {})", NAMES.join(", ")),
    }
}

fn is_all(name: &str) -> bool {
    name.eq_ignore_ascii_case(ALL)
}

/// Docker's set after `--cap-add` and `--cap-drop`, as moby's
/// `TweakCapabilities` makes it: with ALL added, every capability but
/// those dropped; with ALL dropped, only those added; else the default
/// set less those dropped, plus those added (an added capability wins).
pub fn docker_set(add: &[String], drop: &[String]) -> anyhow::Result<u64> {
    let named = |names: &[String]| -> anyhow::Result<u64> {
        names.iter().filter(|n| !is_all(n)).try_fold(0, |set, n| Ok(set | bit_of(n)?))
    };
    let (added, dropped) = (named(add)?, named(drop)?);
    let set = if add.iter().any(|n| is_all(n)) {
        CAP_VALID_MASK & !dropped
    } else if drop.iter().any(|n| is_all(n)) {
        added
    } else {
        let default = DOCKER_DEFAULT.iter().try_fold(0, |set, n| Ok::<u64, anyhow::Error>(set | bit_of(n)?))?;
        (default & !dropped) | added
    };
    Ok(set)
}

/// The sets Docker gives a process of user `uid` with capabilities
/// `set`: bounding, permitted and effective for root; for another user
/// only the bounding set (execve would leave it nothing else).
pub fn docker_sets(set: u64, uid: u32) -> CapSets {
    let granted = if uid == 0 { set } else { 0 };
    CapSets { effective: granted, permitted: granted, inheritable: 0, bounding: set, ambient: 0 }
}

/// `husk run`'s sets: Docker's default, changed by `--cap-add` and
/// `--cap-drop`, for a process of user `uid`.
pub fn for_husk_run(add: &[String], drop: &[String], uid: u32) -> anyhow::Result<CapSets> {
    Ok(docker_sets(docker_set(add, drop)?, uid))
}

/// An OCI `process.capabilities` as sets (a missing set is empty).
pub fn from_oci(caps: &LinuxCapabilities) -> anyhow::Result<CapsPlan> {
    let set = |names: &Option<Capabilities>| -> anyhow::Result<u64> {
        let mut set = 0;
        for cap in names.iter().flatten() {
            // The spec's own spelling, "CAP_CHOWN".
            let name = serde_json::to_value(cap)?;
            set |= bit_of(name.as_str().unwrap_or_default())?;
        }
        Ok(set)
    };
    Ok(CapsPlan {
        effective: set(caps.effective())?,
        permitted: set(caps.permitted())?,
        inheritable: set(caps.inheritable())?,
        bounding: set(caps.bounding())?,
        ambient: set(caps.ambient())?,
    })
}

/// `runc exec --cap CAP`: the capabilities added to the bounding,
/// effective and permitted sets, and to the ambient set when the process
/// has inheritable ones (as runc does).
pub fn add_exec_caps(plan: &mut CapsPlan, names: &[String]) -> anyhow::Result<()> {
    let added = names.iter().try_fold(0, |set, n| Ok::<u64, anyhow::Error>(set | bit_of(n)?))?;
    plan.bounding |= added;
    plan.effective |= added;
    plan.permitted |= added;
    if plan.inheritable != 0 {
        plan.ambient |= added;
    }
    Ok(())
}

/// What a process has when its config says nothing of capabilities: what
/// runc leaves it (runc runs as root with every capability, and its
/// setuid to a non-root user empties the other sets).
pub fn unspecified(uid: u32) -> CapsPlan {
    let s = CapSets::for_uid(uid);
    CapsPlan {
        effective: s.effective,
        permitted: s.permitted,
        inheritable: s.inheritable,
        bounding: s.bounding,
        ambient: s.ambient,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT: u64 = 0xa80425fb;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn docker_default_set_is_dockers() {
        assert_eq!(docker_set(&[], &[]).unwrap(), DEFAULT);
        assert_eq!(
            docker_sets(DEFAULT, 0),
            CapSets { effective: DEFAULT, permitted: DEFAULT, inheritable: 0, bounding: DEFAULT, ambient: 0 }
        );
        assert_eq!(docker_sets(DEFAULT, 1000), CapSets { bounding: DEFAULT, ..CapSets::default() });
    }

    #[test]
    fn cap_add_and_cap_drop_as_docker_takes_them() {
        let sys_admin = 1 << 21;
        assert_eq!(docker_set(&names(&["sys_admin"]), &[]).unwrap(), DEFAULT | sys_admin);
        assert_eq!(docker_set(&[], &names(&["CAP_CHOWN", "net_raw"])).unwrap(), DEFAULT & !1 & !(1 << 13));
        assert_eq!(docker_set(&names(&["ALL"]), &names(&["SYS_RESOURCE"])).unwrap(), CAP_VALID_MASK & !(1 << 24));
        assert_eq!(docker_set(&names(&["KILL"]), &names(&["all"])).unwrap(), 1 << 5);
        // An added capability wins over the same one dropped.
        assert_eq!(docker_set(&names(&["CHOWN"]), &names(&["CHOWN"])).unwrap(), DEFAULT);
        let err = docker_set(&names(&["NOT_A_CAP"]), &[]).unwrap_err().to_string();
        assert!(err.contains("NOT_A_CAP"), "{err}");
    }

    #[test]
    fn oci_capabilities_become_sets() {
        let caps: LinuxCapabilities = serde_json::from_str(
            r#"{"bounding":["CAP_KILL","CAP_CHOWN"],"effective":["CAP_KILL"],"permitted":["CAP_KILL"]}"#,
        )
        .unwrap();
        let plan = from_oci(&caps).unwrap();
        assert_eq!(plan, CapsPlan { effective: 1 << 5, permitted: 1 << 5, inheritable: 0, bounding: 0x21, ambient: 0 });
        let mut exec = plan;
        add_exec_caps(&mut exec, &names(&["CAP_SYS_ADMIN"])).unwrap();
        assert_eq!((exec.bounding, exec.ambient), (0x21 | 1 << 21, 0));
    }
}

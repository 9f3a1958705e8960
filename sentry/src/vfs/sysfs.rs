//! sysfs, served by the Sentry: a read-only tree with what programs look
//! for to size themselves (the CPUs online), the sandbox's network
//! interfaces (/sys/class/net), and the empty directories tools expect to
//! find.

use std::sync::Arc;

use super::netlink::{Interface, NetView};
use super::synth::{static_tree_with_links, SynthFs};
use super::Dentry;

/// sysfs's `f_type`.
pub const SYSFS_MAGIC: i64 = 0x6265_6572;

/// A sandbox's resource limits, for the cgroup v2 view at /sys/fs/cgroup
/// (the root cgroup of the sandbox: `/proc/PID/cgroup` says `0::/`).
/// `None` is no limit ("max").
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CgroupLimits {
    /// memory.max, in bytes.
    pub memory_max: Option<u64>,
    /// pids.max.
    pub pids_max: Option<u64>,
    /// cpu.max: quota and period, in microseconds.
    pub cpu_max: Option<(u64, u64)>,
    /// cpu.weight (1..10000; 100 by default).
    pub cpu_weight: Option<u64>,
}

/// The files of /sys/fs/cgroup for `limits`, as cgroup v2 prints them.
fn cgroup_files(limits: &CgroupLimits) -> Vec<(String, Vec<u8>)> {
    let max = |v: Option<u64>| v.map_or("max\n".to_string(), |v| format!("{v}\n"));
    let cpu_max = match limits.cpu_max {
        Some((quota, period)) => format!("{quota} {period}\n"),
        None => "max 100000\n".to_string(),
    };
    [
        ("cgroup.controllers", "cpu memory pids\n".to_string()),
        ("cgroup.subtree_control", String::new()),
        ("memory.max", max(limits.memory_max)),
        ("memory.high", "max\n".to_string()),
        ("memory.swap.max", "0\n".to_string()),
        ("pids.max", max(limits.pids_max)),
        ("cpu.max", cpu_max),
        ("cpu.weight", format!("{}\n", limits.cpu_weight.unwrap_or(100))),
    ]
    .into_iter()
    .map(|(name, text)| (format!("fs/cgroup/{name}"), text.into_bytes()))
    .collect()
}

/// The counters of `statistics/`, all zero as in /proc/net/dev.
const NET_STATISTICS: [&str; 23] = [
    "collisions",
    "multicast",
    "rx_bytes",
    "rx_compressed",
    "rx_crc_errors",
    "rx_dropped",
    "rx_errors",
    "rx_fifo_errors",
    "rx_frame_errors",
    "rx_length_errors",
    "rx_missed_errors",
    "rx_nohandler",
    "rx_over_errors",
    "rx_packets",
    "tx_aborted_errors",
    "tx_bytes",
    "tx_carrier_errors",
    "tx_compressed",
    "tx_dropped",
    "tx_errors",
    "tx_fifo_errors",
    "tx_heartbeat_errors",
    "tx_packets",
];

/// The attributes of /sys/class/net/NAME for `i`, as Linux's
/// net/core/net-sysfs.c prints them for an interface that is up: the
/// loopback (`IFF_UP | IFF_LOOPBACK`, ARPHRD_LOOPBACK, operstate
/// unknown) or an Ethernet one (`IFF_UP | IFF_BROADCAST |
/// IFF_MULTICAST`, ARPHRD_ETHER, up). Paths are relative to the
/// interface's directory.
fn net_files(i: &Interface) -> Vec<(String, String)> {
    let mac = |m: [u8; 6]| m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":");
    let (flags, ty, operstate, broadcast) =
        if i.loopback { (0x9, 772, "unknown", [0; 6]) } else { (0x1003, 1, "up", [0xff; 6]) };
    let mut files: Vec<(String, String)> = [
        ("addr_assign_type", "0".to_string()),
        ("addr_len", "6".to_string()),
        ("address", mac(i.mac)),
        ("broadcast", mac(broadcast)),
        ("carrier", "1".to_string()),
        ("carrier_changes", "0".to_string()),
        ("carrier_down_count", "0".to_string()),
        ("carrier_up_count", "0".to_string()),
        ("dev_id", "0x0".to_string()),
        ("dev_port", "0".to_string()),
        ("dormant", "0".to_string()),
        ("flags", format!("{flags:#x}")),
        ("ifalias", String::new()),
        ("ifindex", i.index.to_string()),
        ("iflink", i.index.to_string()),
        ("link_mode", "0".to_string()),
        ("mtu", i.mtu.to_string()),
        ("netdev_group", "0".to_string()),
        ("operstate", operstate.to_string()),
        ("proto_down", "0".to_string()),
        ("testing", "0".to_string()),
        ("tx_queue_len", "1000".to_string()),
        ("type", ty.to_string()),
        ("uevent", format!("INTERFACE={}\nIFINDEX={}", i.name, i.index)),
    ]
    .into_iter()
    .map(|(name, v)| (name.to_string(), format!("{v}\n")))
    .collect();
    files.extend(NET_STATISTICS.iter().map(|n| (format!("statistics/{n}"), "0\n".to_string())));
    files
}

/// A new sysfs for a sandbox with `ncpus` CPUs, `limits` and the network
/// interfaces of `net`; returns its root.
pub fn new(ncpus: usize, limits: &CgroupLimits, net: &NetView) -> Arc<Dentry> {
    let fs = SynthFs::new(SYSFS_MAGIC);
    let range = match ncpus.max(1) {
        1 => "0\n".to_string(),
        n => format!("0-{}\n", n - 1),
    };
    let cpu = |name: &str| (format!("devices/system/cpu/{name}"), range.clone().into_bytes());
    let mut files = vec![cpu("online"), cpu("possible"), cpu("present")];
    files.extend(cgroup_files(limits));
    // Each interface is a directory under devices/virtual/net, linked
    // from class/net as on Linux.
    let mut links = Vec::new();
    for i in &net.interfaces {
        let dir = format!("devices/virtual/net/{}", i.name);
        files.extend(net_files(i).into_iter().map(|(name, text)| (format!("{dir}/{name}"), text.into_bytes())));
        links.push((format!("class/net/{}", i.name), format!("../../{dir}")));
        links.push((format!("{dir}/subsystem"), "../../../../class/net".to_string()));
    }
    let files: Vec<(&str, Vec<u8>)> = files.iter().map(|(p, d)| (p.as_str(), d.clone())).collect();
    let links: Vec<(&str, &str)> = links.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    let root = static_tree_with_links(&fs, &files, &links, &["class/net", "kernel", "bus", "dev/block", "dev/char"]);
    super::synth::new_root(root)
}

#[cfg(test)]
mod tests {
    use super::super::netlink::NetView;
    use super::super::synth::{SynthFile, SynthKind};
    use super::super::{Follow, Vfs};

    #[test]
    fn class_net_links_to_each_interface() {
        let vfs = Vfs::with_root(super::new(1, &Default::default(), &NetView::new(true)));
        let root = vfs.root().clone();
        let read = |path: &str| {
            let d = vfs.resolve(&root, &root, path.as_bytes(), Follow::Yes).unwrap_or_else(|e| panic!("{path}: {e:?}"));
            String::from_utf8(SynthFile::open(d.synth().unwrap()).unwrap().contents().unwrap().to_vec()).unwrap()
        };
        let net = vfs.resolve(&root, &root, b"/class/net", Follow::Yes).unwrap();
        let SynthKind::Dir(dir) = &net.synth().unwrap().kind else { panic!("/class/net is not a directory") };
        let names: Vec<Vec<u8>> = dir.entries().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, [b"lo".to_vec(), b"eth0".to_vec()]);
        let link = vfs.resolve(&root, &root, b"/class/net/eth0", Follow::No).unwrap();
        let SynthKind::Link(target) = &link.synth().unwrap().kind else { panic!("/class/net/eth0 is not a link") };
        assert_eq!(target().unwrap(), b"../../devices/virtual/net/eth0");
        for (path, text) in [
            ("/class/net/lo/mtu", "65536\n"),
            ("/class/net/lo/type", "772\n"),
            ("/class/net/lo/flags", "0x9\n"),
            ("/class/net/lo/operstate", "unknown\n"),
            ("/class/net/lo/address", "00:00:00:00:00:00\n"),
            ("/class/net/lo/tx_queue_len", "1000\n"),
            ("/class/net/lo/statistics/rx_bytes", "0\n"),
            ("/class/net/lo/uevent", "INTERFACE=lo\nIFINDEX=1\n"),
            ("/class/net/eth0/address", "52:54:00:12:34:56\n"),
            ("/class/net/eth0/broadcast", "ff:ff:ff:ff:ff:ff\n"),
            ("/class/net/eth0/addr_len", "6\n"),
            ("/class/net/eth0/mtu", "1500\n"),
            ("/class/net/eth0/ifindex", "2\n"),
            ("/class/net/eth0/iflink", "2\n"),
            ("/class/net/eth0/type", "1\n"),
            ("/class/net/eth0/flags", "0x1003\n"),
            ("/class/net/eth0/operstate", "up\n"),
            ("/class/net/eth0/carrier", "1\n"),
            ("/class/net/eth0/subsystem/lo/ifindex", "1\n"),
        ] {
            assert_eq!(read(path), text, "{path}");
        }
        let none = Vfs::with_root(super::new(1, &Default::default(), &NetView::new(false)));
        let r = none.root().clone();
        assert!(none.resolve(&r, &r, b"/class/net/lo", Follow::Yes).unwrap().is_dir());
        assert_eq!(none.resolve(&r, &r, b"/class/net/eth0", Follow::Yes).err(), Some(abi::Errno::ENOENT));
    }

    #[test]
    fn cpu_ranges_and_empty_dirs() {
        let limits = super::CgroupLimits { memory_max: Some(1 << 30), ..Default::default() };
        let vfs = Vfs::with_root(super::new(4, &limits, &NetView::new(false)));
        let root = vfs.root().clone();
        for name in ["online", "possible", "present"] {
            let d = vfs.resolve(&root, &root, format!("/devices/system/cpu/{name}").as_bytes(), Follow::Yes).unwrap();
            let f = SynthFile::open(d.synth().unwrap()).unwrap();
            assert_eq!(f.contents().unwrap(), b"0-3\n");
        }
        for dir in ["/fs/cgroup", "/class", "/kernel"] {
            assert!(vfs.resolve(&root, &root, dir.as_bytes(), Follow::Yes).unwrap().is_dir());
        }
        for (name, text) in [("memory.max", "1073741824\n"), ("pids.max", "max\n"), ("cpu.max", "max 100000\n")] {
            let d = vfs.resolve(&root, &root, format!("/fs/cgroup/{name}").as_bytes(), Follow::Yes).unwrap();
            assert_eq!(SynthFile::open(d.synth().unwrap()).unwrap().contents().unwrap(), text.as_bytes());
        }
        let one = Vfs::with_root(super::new(1, &Default::default(), &NetView::new(false)));
        let r = one.root().clone();
        let d = one.resolve(&r, &r, b"/devices/system/cpu/online", Follow::Yes).unwrap();
        assert_eq!(SynthFile::open(d.synth().unwrap()).unwrap().contents().unwrap(), b"0\n");
    }
}

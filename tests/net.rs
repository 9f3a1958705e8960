//! Networking inside the sandbox: Internet sockets on its loopback (TCP
//! and UDP, IPv4 and IPv6), compared with a native run in a network
//! namespace of its own whose only interface is its loopback.

use std::time::Duration;

use husk_suite::{differential, differential_test, husk_test, prog_rootfs, run_husk, self_checking_case, Case, Rootfs};

const TIMEOUT: Duration = Duration::from_secs(120);

fn case(rootfs: &Rootfs, prog: &str) -> Case {
    self_checking_case(rootfs, prog, TIMEOUT)
}

differential_test! {
    /// Unprivileged ICMP echo sockets on the loopback, IPv4 and IPv6: the
    /// reply's type, sequence, payload, identifier, source and checksum;
    /// EINVAL for a request that is no echo or too short, EDESTADDRREQ
    /// without an address, EPROTONOSUPPORT for the other family's ICMP.
    fn ping_socket(platform, link) {
        let (rootfs, prog) = prog_rootfs("ping_socket", link);
        let case = case(&rootfs, &prog).expect_lines(&[
            "v4: SO_PROTOCOL 1, SO_TYPE dgram",
            "v4: sendto 12",
            "v4: reply 12 bytes, type 0 code 0, seq 7, payload husk, ident set 1, from the loopback 1, checksum ok 1",
            "v4: not an echo: EINVAL",
            "v4: 4 bytes: EINVAL",
            "v4: no address: EDESTADDRREQ",
            "v6: SO_PROTOCOL 58, SO_TYPE dgram",
            "v6: sendto 12",
            "v6: reply 12 bytes, type 129 code 0, seq 7, payload husk, ident set 1, from the loopback 1",
            "v6: not an echo: EINVAL",
            "v6: 4 bytes: EINVAL",
            "v6: no address: EDESTADDRREQ",
            "AF_INET with ICMPv6: EPROTONOSUPPORT",
            "AF_INET6 with ICMP: EPROTONOSUPPORT",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// TCP on the loopback: ephemeral ports, listen, connect (blocking and
    /// not, EINPROGRESS then EISCONN's one success), accept4 and the
    /// names each side sees, data, peeking, shutdown and EOF, a send in
    /// CLOSE_WAIT then EPIPE, a reset for unread data, epoll on a listener, the bind rules (EADDRINUSE,
    /// SO_REUSEADDR, SO_REUSEPORT, wildcards, IPV6_V6ONLY), options;
    /// UDP's names, lost datagrams and a connected socket's refusal; IPv6
    /// with dual stack; a fork server; and the errors, off the sandbox too.
    fn inet_loopback(platform, link) {
        let (rootfs, prog) = prog_rootfs("inet_loopback", link);
        let case = case(&rootfs, &prog).expect_lines(&[
            "tcp: recv(MSG_OOB) with no urgent data: EINVAL",
            "tcp: getsockopt at level 500: EOPNOTSUPP",
            "tcp: getsockopt at IPPROTO_UDP: EOPNOTSUPP",
            "tcp: setsockopt at level 500: ENOPROTOOPT",
            "tcp: getsockopt of IP option -1: ENOPROTOOPT",
            "tcp: setsockopt of TCP option -1: ENOPROTOOPT",
            "udp: a 65508-byte datagram: EMSGSIZE",
            "udp: a 65507-byte one: ok",
            "udp: a bad buffer to a port nobody has: EFAULT",
            "udp: accept: EOPNOTSUPP",
            "tcp: accepted from AF_INET 127.0.0.1 (len 16)",
            "tcp: client got 6 'world!'",
            "tcp: after the client's SHUT_WR the server reads 0",
            "tcp: a send after the peer closed: ok",
            "tcp: and another: EPIPE",
            "tcp: recv after the peer closed with data unread: ECONNRESET",
            "tcp: non-blocking connect: EINPROGRESS",
            "tcp: then POLLOUT 1, SO_ERROR 0",
            "bind: the listener's port with SO_REUSEADDR: EADDRINUSE",
            "bind: SO_REUSEPORT on both: ok",
            "connect: off the sandbox: ENETUNREACH",
            "udp: recvfrom 4 'ping' from AF_INET 127.0.0.1 (len 16)",
            "udp: sendto a port nobody has: 4",
            "udp: then recv: ECONNREFUSED",
            "ipv6: accepted from AF_INET6 ::ffff:127.0.0.1 (len 28)",
            "ipv6: IPv4 connect to a V6ONLY listener: ECONNREFUSED",
            "udplite: coverage 20, SO_PROTOCOL 136",
            "udplite: received 4 'lite'",
            "fork server: exited 0",
            "done",
        ]);
        differential(platform, &case);
        // The same program on host sockets (`--network host`), in a fresh
        // namespace whose only interface is its loopback, as natively.
        if platform != husk_suite::NATIVE {
            differential(platform, &case.husk_flags(["--network", "host"]));
        }
    }
}

differential_test! {
    /// UDP's ancillary data on the loopback (RFC 3542, and IPv4's
    /// equivalents): the hop limit, traffic class and packet info
    /// (IPV6_RECVHOPLIMIT, IPV6_RECVTCLASS, IPV6_RECVPKTINFO; IP_RECVTTL,
    /// IP_RECVTOS, IP_PKTINFO) that the sender's options or its sendmsg's
    /// control messages give; dual stack; control buffers of every size
    /// up to what fits (cut messages and MSG_CTRUNC); and the EINVAL,
    /// ENODEV and ignored levels of bad control messages and values.
    fn inet_ancillary(platform, link) {
        let (rootfs, prog) = prog_rootfs("inet_ancillary", link);
        let case = case(&rootfs, &prog).expect_lines(&[
            "v6 defaults: 4 bytes, controllen 48; 41/52 len 20: 40000000; 41/67 len 20: 00000000",
            "v6 cmsgs (hop limit 2, tclass -1): 4 bytes, controllen 48; 41/52 len 20: 02000000; 41/67 len 20: ff000000",
            "v6 room 17: 4 bytes, controllen 17, MSG_CTRUNC; 41/50 len 17: 00",
            "v6 hop limit 256: EINVAL",
            "v6 hop limit of 5 bytes: EINVAL",
            "v6 pktinfo on interface 999: ENODEV",
            "v4 cmsgs (ttl 3, tos 0x20 as a byte): 4 bytes, controllen 80; \
             0/8 len 28: 01000000 7f000002 7f000002; 0/2 len 20: 03000000; 0/1 len 17: 20",
            "v4 ttl 0: EINVAL",
            "dual from IPv4: 4 bytes, controllen 64; \
             41/50 len 36: 00000000 00000000 0000ffff 7f000001 01000000; 0/2 len 20: 0b000000",
            "done",
        ]);
        differential(platform, &case);
    }
}

differential_test! {
    /// NETLINK_ROUTE and the interface view: getifaddrs, if_nameindex, the
    /// dumps of links, addresses and routes ip(8) makes, a netlink
    /// socket's name and errors; against a native network namespace whose
    /// only interface is its loopback, up.
    fn netlink_route(platform, link) {
        let (rootfs, prog) = prog_rootfs("netlink_route", link);
        let case = case(&rootfs, &prog).expect_lines(&[
            "getifaddrs: lo AF_INET 127.0.0.1/255.0.0.0 up 1 loopback 1 running 1",
            "if_nameindex: 1 lo",
            "name: len 12 family 16 pid is ours 1",
            "link: 1 lo type 772 mtu 65536 up 1 loopback 1",
            "addr: AF_INET 127.0.0.1/8 index 1 scope 254",
            "a short bind: EINVAL",
            "protocol 31: EPROTONOSUPPORT",
            "done",
        ]);
        differential(platform, &case);
        // `--network host` shows the namespace's interfaces: here, as
        // natively, its loopback alone.
        if platform != husk_suite::NATIVE {
            differential(platform, &case.husk_flags(["--network", "host"]));
        }
    }
}

differential_test! {
    /// /proc/net/unix: its header, and the line of each kind of Unix
    /// socket (a path listener, a connection it has not yet accepted,
    /// then accepted, bound and connected datagram sockets, an abstract
    /// seqpacket listener whose name holds a NUL, a socketpair) with
    /// Linux's reference counts, flags, types, states, inodes and paths.
    fn proc_net_unix(platform, link) {
        let (rootfs, prog) = prog_rootfs("proc_net_unix", link);
        let case = case(&rootfs, &prog).expect_lines(&[
            "header: Num       RefCount Protocol Flags    Type St Inode Path",
            "pointers are 16 hex digits: ok",
            "lines: 8",
            "listener: refs 2 proto 0 flags 00010000 type 0001 st 01 path '/tmp/x.sock'",
            "client: refs 3 proto 0 flags 00000000 type 0001 st 03 path ''",
            "datagram: refs 3 proto 0 flags 00000000 type 0002 st 03 path '/tmp/d.sock'",
            "connected datagram: refs 2 proto 0 flags 00000000 type 0002 st 03 path ''",
            "seqpacket: refs 2 proto 0 flags 00010000 type 0005 st 01 path '@husk-proc@x'",
            "pair 0: refs 3 proto 0 flags 00000000 type 0001 st 03 path ''",
            "not yet accepted (inode 0): refs 3 proto 0 flags 00000000 type 0001 st 02 path '/tmp/x.sock'",
            "accepted: refs 3 proto 0 flags 00000000 type 0001 st 03 path '/tmp/x.sock'",
            "lines at /tmp/x.sock: 2",
            "after closing the listeners, lines: 6, at /tmp/x.sock: 1, at @husk-proc@x: 0",
            "done",
        ]);
        differential(platform, &case);
    }
}

/// A root with busybox's shell and the applets the /sys/class/net cases
/// use.
fn sysfs_rootfs() -> Rootfs {
    let rootfs = Rootfs::new();
    rootfs.busybox(&["sh", "ls", "cat", "readlink", "ip", "grep"]).dir_mode("/tmp", 0o1777).dir("/dev");
    rootfs
}

differential_test! {
    /// /sys/class/net with the loopback only: a link into
    /// /sys/devices/virtual/net, and the attributes of an interface that
    /// is up, read through the link and back through `subsystem`.
    fn sys_class_net_loopback(platform) {
        let rootfs = sysfs_rootfs();
        let script = "ls /sys/class/net; readlink /sys/class/net/lo; cd /sys/class/net/lo || exit 1; \
             for f in address addr_len broadcast carrier dev_id flags ifindex iflink mtu operstate tx_queue_len type; \
             do echo \"$f=$(cat $f)\"; done; cat uevent; cat subsystem/lo/ifindex";
        let case = Case::new(&rootfs, "/bin/sh").args(["-c", script]).timeout(TIMEOUT).expect_stdout(
            "lo\n../../devices/virtual/net/lo\naddress=00:00:00:00:00:00\naddr_len=6\n\
             broadcast=00:00:00:00:00:00\ncarrier=1\ndev_id=0x0\nflags=0x9\nifindex=1\niflink=1\nmtu=65536\n\
             operstate=unknown\ntx_queue_len=1000\ntype=772\nINTERFACE=lo\nIFINDEX=1\n1\n",
        );
        differential(platform, &case);
    }
}

husk_test! {
    /// Under NAT /sys/class/net has eth0 too, with the hardware address,
    /// index and MTU netlink gives `ip link`.
    fn sys_class_net_under_nat(platform) {
        let rootfs = sysfs_rootfs();
        let script = "ls /sys/class/net; cd /sys/class/net/eth0 || exit 1; \
             for f in address broadcast flags ifindex mtu operstate type carrier; do echo \"$f=$(cat $f)\"; done; \
             ip link show eth0 | grep -c \"link/ether $(cat address) brd $(cat broadcast)\"; \
             ip link show eth0 | grep -c \"^$(cat ifindex): eth0: .* mtu $(cat mtu) \"";
        let case = Case::new(&rootfs, "/bin/sh").args(["-c", script]).timeout(TIMEOUT).husk_flags(["--network", "nat"]);
        let out = run_husk(platform, &case);
        assert_eq!(
            out.stdout_str(),
            "eth0\nlo\naddress=52:54:00:12:34:56\nbroadcast=ff:ff:ff:ff:ff:ff\nflags=0x1003\nifindex=2\nmtu=1500\n\
             operstate=up\ntype=1\ncarrier=1\n1\n1\n",
            "stderr:\n{}",
            out.stderr_str()
        );
    }
}

differential_test! {
    /// Socket edge cases LTP checks: raw IP without a protocol, socketpair
    /// of Internet families, sends on never-connected TCP (EPIPE and
    /// SIGPIPE) and Unix streams (ENOTCONN), shutdown's ENOTCONN,
    /// MSG_ERRQUEUE, TCP's nameless recvfrom, UIO_MAXIOV in messages,
    /// MSG_MORE's cork on TCP and UDP, SIOCATMARK and a bad ifreq.
    fn sock_edges(platform, link) {
        let (rootfs, prog) = prog_rootfs("sock_edges", link);
        let case = case(&rootfs, &prog).expect_lines(&[
            "socket(AF_INET, SOCK_RAW, 0): EPROTONOSUPPORT",
            "socketpair(AF_INET, SOCK_DGRAM, IPPROTO_TCP): EPROTONOSUPPORT",
            "socketpair(AF_INET, SOCK_STREAM, 0): EOPNOTSUPP",
            "send on a new TCP socket: EPIPE",
            "SIGPIPEs: 1",
            "send on a new Unix stream: ENOTCONN",
            "shutdown of a bound TCP socket: ENOTCONN",
            "shutdown of an unconnected UDP socket: ENOTCONN",
            "shutdown of an unconnected Unix stream: ok",
            "MSG_ERRQUEUE on TCP, blocking: EAGAIN",
            "recvfrom on TCP: 2 bytes, length 0, buffer untouched 1",
            "recvfrom on TCP with a negative length: EINVAL",
            "recvmsg with 1025 pieces: EMSGSIZE",
            "TCP: recv after 16 bytes with MSG_MORE: EAGAIN",
            "TCP: recv after 1 more without it: 17 bytes",
            "TCP: after 4 bytes with MSG_MORE and a close: 4 bytes, then 0",
            "UDP: recv after 3 bytes with MSG_MORE: EAGAIN",
            "UDP: recv after 2 more without it: 5 bytes",
            "SIOCATMARK on TCP: 0",
            "SIOCATMARK on TCP, NULL: EFAULT",
            "SIOCSIFFLAGS, NULL: EFAULT",
            "done",
        ]);
        differential(platform, &case);
    }
}

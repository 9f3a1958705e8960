//! Networking inside the sandbox: Internet sockets on its loopback (TCP
//! and UDP, IPv4 and IPv6), compared with a native run in a network
//! namespace of its own whose only interface is its loopback.

use std::time::Duration;

use husk_suite::{differential, differential_test, prog_rootfs, self_checking_case, Case, Rootfs};

const TIMEOUT: Duration = Duration::from_secs(120);

fn case(rootfs: &Rootfs, prog: &str) -> Case {
    self_checking_case(rootfs, prog, TIMEOUT)
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
    }
}

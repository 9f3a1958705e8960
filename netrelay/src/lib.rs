//! Husk's NAT relay: the one Husk process that opens host sockets.
//!
//! In `--network nat`, the Sentry's network namespace has no interface at
//! all, and its seccomp filter makes no socket. When the app connects to
//! an address outside the sandbox, the Sentry asks the relay, a separate
//! process left in the host's network namespace, over a seqpacket socket.
//! The relay checks the destination against the egress [`Policy`]
//! (default deny), opens and connects a host socket, and donates it with
//! `SCM_RIGHTS`; the Sentry then moves the app's bytes on it directly.
//! A denied destination gets ECONNREFUSED and one audit record.
//!
//! The relay treats every request as hostile (a compromised Sentry): it
//! takes fixed-size messages, opens only TCP and UDP sockets of the
//! families asked, never to the sandbox's own subnet, and serves under a
//! seccomp filter that allows no path at all (`seccomp::relay`).
//!
//! The sandbox's side of the network, as slirp lays it out: the sandbox is
//! [`SANDBOX_ADDR`] on a /24 whose gateway is [`GATEWAY_ADDR`], and
//! [`DNS_ADDR`] port 53 is a DNS forwarder (the relay sends it on to the
//! host's resolver).

mod client;
pub mod dns;
pub mod policy;
pub mod protocol;
mod server;

use std::net::Ipv4Addr;

pub use client::{receive_ingress, send_datagram, Client, Ingress, INGRESS_BUF_LEN};
pub use policy::{Policy, PolicyError};
pub use server::{bind_udp, listen_on, serve, Audit, Published, ServeConfig};

/// The sandbox's address on its NAT interface.
pub const SANDBOX_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 15);
/// The NAT interface's gateway.
pub const GATEWAY_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 2);
/// The DNS forwarder the sandbox's /etc/resolv.conf names.
pub const DNS_ADDR: Ipv4Addr = Ipv4Addr::new(10, 0, 2, 3);
/// The prefix length of the sandbox's subnet.
pub const PREFIX_LEN: u8 = 24;

/// Whether `ip` is in the sandbox's own subnet (never relayed to the host).
pub fn in_sandbox_subnet(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => u32::from(v4) >> (32 - PREFIX_LEN) == u32::from(SANDBOX_ADDR) >> (32 - PREFIX_LEN),
        std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().is_some_and(|v4| in_sandbox_subnet(v4.into())),
    }
}

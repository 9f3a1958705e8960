//! Husk's TCP/IP stack for `--network sandbox`: smoltcp on the network
//! namespace's own interface (the veth that CNI or the user set up),
//! reached through a packet socket, as gVisor's netstack reaches it.
//!
//! The runtime takes the interface before the Sentry confines itself
//! ([`capture`]): it reads the interface's addresses, routes and MTU,
//! opens an `AF_PACKET` socket bound to it, and removes the addresses
//! from the host side, so that the host kernel no longer answers for them
//! (it would reset every connection the sandbox makes). From then on the
//! sandbox's [`Stack`] owns those addresses: it answers ARP and neighbour
//! discovery, ends TCP and UDP, and hands the Sentry [`Conn`]s, never
//! smoltcp types.
//!
//! What is added to smoltcp here, for apps:
//! - a closed connection stays until its FIN exchange and TIME-WAIT are
//!   over (smoltcp would drop it with its socket);
//! - listening is by port, with one smoltcp socket per half-open
//!   connection (a SYN backlog), made when a SYN arrives for a port the
//!   sandbox listens on;
//! - refused, reset and timed-out connections become the errno Linux
//!   gives (ECONNREFUSED, ECONNRESET, ETIMEDOUT);
//! - 256 KiB buffers with window scaling, CUBIC, no Nagle delay.

pub mod capture;
mod device;
mod stack;
mod sys;
mod wire;

pub use stack::{
    Config, Conn, ConnectState, Fill, Hooks, Kind, Sink, Stack, POLLERR, POLLHUP, POLLIN, POLLOUT, POLLRDHUP,
};

//! A look at frames before smoltcp sees them.

use smoltcp::wire::{EthernetFrame, EthernetProtocol, IpProtocol, Ipv4Packet, Ipv6Packet, TcpPacket};

use crate::stack::Config;

/// The destination port of `frame` (as read: after its virtio-net header)
/// when it opens a TCP connection (a SYN
/// without ACK) to one of the interface's addresses.
pub(crate) fn syn_port(frame: &[u8], config: &Config) -> Option<u16> {
    let eth = EthernetFrame::new_checked(frame.get(crate::device::VNET_HDR..)?).ok()?;
    let (dst, proto, payload) = match eth.ethertype() {
        EthernetProtocol::Ipv4 => {
            let ip = Ipv4Packet::new_checked(eth.payload()).ok()?;
            (std::net::IpAddr::V4(ip.dst_addr()), ip.next_header(), &eth.payload()[ip.header_len() as usize..])
        }
        EthernetProtocol::Ipv6 => {
            let ip = Ipv6Packet::new_checked(eth.payload()).ok()?;
            (std::net::IpAddr::V6(ip.dst_addr()), ip.next_header(), &eth.payload()[ip.header_len()..])
        }
        _ => return None,
    };
    if proto != IpProtocol::Tcp || !config.addrs.iter().any(|(a, _)| *a == dst) {
        return None;
    }
    let tcp = TcpPacket::new_checked(payload).ok()?;
    (tcp.syn() && !tcp.ack()).then(|| tcp.dst_port())
}

//! The interface as smoltcp sees it: frames read from the packet socket
//! (queued by the driver thread) and frames written straight to it.
//!
//! The packet socket has `PACKET_VNET_HDR`: every frame in either
//! direction comes after a virtio-net header. Outgoing TCP segments larger
//! than the MTU carry GSO fields there, and the kernel cuts them into
//! MTU-sized segments (with their checksums) on the way to the veth.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use smoltcp::phy::{self, Checksum, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// Most frames queued for smoltcp between two polls; more are dropped, as
/// a full NIC ring drops them (TCP resends).
pub(crate) const RX_QUEUE: usize = 512;

/// A frame buffer: a virtio-net header, an Ethernet header and the
/// largest IP packet. A frame the kernel hands over unsegmented (GSO on
/// the other end of a veth) can be that large.
pub(crate) const FRAME_MAX: usize = VNET_HDR + 14 + 65535;

/// `struct virtio_net_hdr`: flags, gso_type, hdr_len, gso_size,
/// csum_start, csum_offset.
pub(crate) const VNET_HDR: usize = 10;
const GSO_TCPV4: u8 = 1;
const GSO_TCPV6: u8 = 4;
/// The largest TCP packet smoltcp hands over for segmentation (with its
/// Ethernet header), within IPv4's 16-bit total length.
const GSO_MAX: usize = 14 + 65_000;

pub(crate) struct PacketDevice {
    fd: OwnedFd,
    mtu: usize,
    pub(crate) rx: VecDeque<Vec<u8>>,
}

impl PacketDevice {
    pub(crate) fn new(fd: OwnedFd, ip_mtu: usize) -> PacketDevice {
        PacketDevice { fd, mtu: ip_mtu + 14, rx: VecDeque::new() }
    }

    pub(crate) fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// Reads one frame from the packet socket `fd` into `buf`: its length, or
/// None when none is waiting (or the read failed).
pub(crate) fn read_frame(fd: RawFd, buf: &mut [u8]) -> Option<usize> {
    crate::sys::read(fd, buf)
}

/// A frame the socket cannot take now (ENOBUFS, EAGAIN) is lost, as on a
/// wire; TCP sends again.
fn write_frame(fd: RawFd, frame: &[u8]) {
    crate::sys::write(fd, frame)
}

impl phy::Device for PacketDevice {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = TxToken;

    fn receive(&mut self, _now: Instant) -> Option<(RxToken, TxToken)> {
        let frame = self.rx.pop_front()?;
        Some((RxToken(frame), TxToken { fd: self.raw(), gso: None }))
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxToken> {
        Some(TxToken { fd: self.raw(), gso: None })
    }

    fn capabilities(&self) -> DeviceCapabilities {
        let mut caps = DeviceCapabilities::default();
        caps.medium = Medium::Ethernet;
        caps.max_transmission_unit = self.mtu;
        // Frames come from the host kernel across a veth, whose sender
        // leaves the checksum to "hardware" that never runs (the frame
        // never leaves the machine): verifying them would drop good
        // frames. Outgoing frames get theirs.
        caps.checksum.ipv4 = Checksum::Tx;
        // TCP's is left to the kernel (the virtio-net header says where),
        // as segmentation offload needs.
        caps.checksum.tcp = Checksum::None;
        caps.checksum.udp = Checksum::Tx;
        caps.checksum.icmpv4 = Checksum::Tx;
        caps.checksum.icmpv6 = Checksum::Tx;
        caps.segmentation.tcpv4 = std::num::NonZeroUsize::new(GSO_MAX);
        caps.segmentation.tcpv6 = std::num::NonZeroUsize::new(GSO_MAX);
        caps
    }
}

/// A frame as read, virtio-net header first.
pub(crate) struct RxToken(Vec<u8>);

impl phy::RxToken for RxToken {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(self.0.get(VNET_HDR..).unwrap_or(&[]))
    }
}

pub(crate) struct TxToken {
    fd: RawFd,
    /// The segment size asked for a TCP packet larger than the MTU.
    gso: Option<u16>,
}

impl phy::TxToken for TxToken {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = vec![0u8; VNET_HDR + len];
        let r = f(&mut buf[VNET_HDR..]);
        let (hdr, frame) = buf.split_at_mut(VNET_HDR);
        offload_header(hdr, frame, self.gso);
        write_frame(self.fd, &buf);
        r
    }

    fn set_meta(&mut self, meta: phy::PacketMeta) {
        self.gso = meta.segmentation_offload_size.map(|s| s.get());
    }
}

const NEEDS_CSUM: u8 = 1;
/// Where the checksum sits in a TCP header.
const TCP_CHECK: usize = 16;

/// Fills the virtio-net header `hdr` of a TCP packet in `frame`: the
/// kernel is to finish its checksum (smoltcp leaves it; the pseudo-header's
/// sum goes in the checksum field, as Linux's own partial checksums have
/// it) and, with `mss`, to cut it into segments of that size. Any other
/// frame goes as it is (a zero header).
fn offload_header(hdr: &mut [u8], frame: &mut [u8], mss: Option<u16>) {
    let Some(ip) = frame.get(14..) else { return };
    let (gso_type, ip_len, pseudo) = match (frame.get(12..14), ip.first()) {
        (Some([0x08, 0x00]), Some(v)) if ip.get(9) == Some(&6) && ip.len() >= 20 => {
            let ip_len = usize::from(v & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
            let tcp_len = total.saturating_sub(ip_len) as u32;
            (GSO_TCPV4, ip_len, sum_words(&ip[12..20]) + 6 + tcp_len)
        }
        (Some([0x86, 0xdd]), Some(_)) if ip.get(6) == Some(&6) && ip.len() >= 40 => {
            let tcp_len = u32::from(u16::from_be_bytes([ip[4], ip[5]]));
            (GSO_TCPV6, 40, sum_words(&ip[8..40]) + 6 + tcp_len)
        }
        _ => return,
    };
    let tcp_at = 14 + ip_len;
    let Some(&data_offset) = frame.get(tcp_at + 12) else { return };
    let hdr_len = tcp_at + usize::from(data_offset >> 4) * 4;
    if hdr_len > frame.len() {
        return;
    }
    frame[tcp_at + TCP_CHECK..tcp_at + TCP_CHECK + 2].copy_from_slice(&fold(pseudo).to_be_bytes());
    hdr[0] = NEEDS_CSUM;
    hdr[6..8].copy_from_slice(&(tcp_at as u16).to_ne_bytes());
    hdr[8..10].copy_from_slice(&(TCP_CHECK as u16).to_ne_bytes());
    if let Some(mss) = mss.filter(|_| hdr_len < frame.len()) {
        hdr[1] = gso_type;
        hdr[2..4].copy_from_slice(&(hdr_len as u16).to_ne_bytes());
        hdr[4..6].copy_from_slice(&mss.to_ne_bytes());
    }
}

/// The sum of `bytes` as big-endian 16-bit words (an even count).
fn sum_words(bytes: &[u8]) -> u32 {
    bytes.chunks(2).map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]))).sum()
}

/// A one's-complement sum folded to 16 bits (not inverted).
fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_frames_get_a_partial_checksum_and_big_ones_gso() {
        // Ethernet, IPv4 (10.0.0.1 -> 10.0.0.2, 20-byte header, total 40 +
        // 3000), TCP with a 20-byte header.
        let mut frame = vec![0u8; 14 + 40 + 3000];
        frame[12..14].copy_from_slice(&[0x08, 0x00]);
        frame[14] = 0x45;
        frame[16..18].copy_from_slice(&3040u16.to_be_bytes());
        frame[23] = 6;
        frame[26..30].copy_from_slice(&[10, 0, 0, 1]);
        frame[30..34].copy_from_slice(&[10, 0, 0, 2]);
        frame[34 + 12] = 5 << 4;
        let mut hdr = [0u8; VNET_HDR];
        offload_header(&mut hdr, &mut frame, Some(1448));
        assert_eq!(hdr[0], NEEDS_CSUM);
        assert_eq!(hdr[1], GSO_TCPV4);
        assert_eq!(u16::from_ne_bytes([hdr[2], hdr[3]]), 54);
        assert_eq!(u16::from_ne_bytes([hdr[4], hdr[5]]), 1448);
        assert_eq!(u16::from_ne_bytes([hdr[6], hdr[7]]), 34);
        assert_eq!(u16::from_ne_bytes([hdr[8], hdr[9]]), 16);
        // 0x0a00 + 0x0001 + 0x0a00 + 0x0002 + 6 + 3020.
        assert_eq!(u16::from_be_bytes([frame[50], frame[51]]), 0x0a00 + 1 + 0x0a00 + 2 + 6 + 3020);
        // A frame that is not TCP goes as it is.
        let mut arp = vec![0u8; 42];
        arp[12..14].copy_from_slice(&[0x08, 0x06]);
        let mut hdr = [0u8; VNET_HDR];
        offload_header(&mut hdr, &mut arp, None);
        assert_eq!(hdr, [0; VNET_HDR]);
    }
}

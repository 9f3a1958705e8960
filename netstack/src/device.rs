//! The interface as smoltcp sees it: frames read from the packet socket
//! (queued by the driver thread) and frames written straight to it.

use std::collections::VecDeque;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use smoltcp::phy::{self, Checksum, DeviceCapabilities, Medium};
use smoltcp::time::Instant;

/// Most frames queued for smoltcp between two polls; more are dropped, as
/// a full NIC ring drops them (TCP resends).
pub(crate) const RX_QUEUE: usize = 512;

/// A frame buffer: an Ethernet header and the largest IP packet. A frame
/// the kernel hands over unsegmented (GSO on the other end of a veth) can
/// be that large.
pub(crate) const FRAME_MAX: usize = 14 + 65535;

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
    // SAFETY: `buf` is writable for its length; the kernel writes at most
    // that many bytes.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    (n > 0).then_some(n as usize)
}

fn write_frame(fd: RawFd, frame: &[u8]) {
    // SAFETY: `frame` is readable for its length. A frame the socket cannot
    // take now (ENOBUFS, EAGAIN) is lost, as on a wire; TCP sends again.
    let _ = unsafe { libc::write(fd, frame.as_ptr().cast(), frame.len()) };
}

impl phy::Device for PacketDevice {
    type RxToken<'a> = RxToken;
    type TxToken<'a> = TxToken;

    fn receive(&mut self, _now: Instant) -> Option<(RxToken, TxToken)> {
        let frame = self.rx.pop_front()?;
        Some((RxToken(frame), TxToken(self.raw())))
    }

    fn transmit(&mut self, _now: Instant) -> Option<TxToken> {
        Some(TxToken(self.raw()))
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
        caps.checksum.tcp = Checksum::Tx;
        caps.checksum.udp = Checksum::Tx;
        caps.checksum.icmpv4 = Checksum::Tx;
        caps.checksum.icmpv6 = Checksum::Tx;
        caps
    }
}

pub(crate) struct RxToken(Vec<u8>);

impl phy::RxToken for RxToken {
    fn consume<R, F: FnOnce(&[u8]) -> R>(self, f: F) -> R {
        f(&self.0)
    }
}

pub(crate) struct TxToken(RawFd);

impl phy::TxToken for TxToken {
    fn consume<R, F: FnOnce(&mut [u8]) -> R>(self, len: usize, f: F) -> R {
        let mut buf = vec![0u8; len];
        let r = f(&mut buf);
        write_frame(self.0, &buf);
        r
    }
}

//! The host calls netstack makes, each a thin safe wrapper: the one place
//! of the crate with `unsafe` (FFI).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// A non-blocking, close-on-exec pipe: (read end, write end).
pub(crate) fn pipe_nonblock() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_NONBLOCK | libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: pipe2 made both, and nothing else owns them.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Eight random bytes from the kernel (zero if it has none to give).
pub(crate) fn random_u64() -> u64 {
    let mut seed = [0u8; 8];
    // SAFETY: `seed` is writable for its length.
    unsafe { libc::getrandom(seed.as_mut_ptr().cast(), seed.len(), 0) };
    u64::from_ne_bytes(seed)
}

/// read(2) into `buf`: the count, or None on EOF or an error (EAGAIN).
pub(crate) fn read(fd: RawFd, buf: &mut [u8]) -> Option<usize> {
    // SAFETY: `buf` is writable for its length; the kernel writes at most
    // that many bytes.
    let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
    (n > 0).then_some(n as usize)
}

/// write(2) of `buf`, best effort (a frame the socket cannot take now is
/// lost, as on a wire).
pub(crate) fn write(fd: RawFd, buf: &[u8]) {
    // SAFETY: `buf` is readable for its length.
    let _ = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
}

/// poll(2) over `fds`.
pub(crate) fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) {
    // SAFETY: `fds` is a slice of initialised pollfds of the length given.
    unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) };
}

/// A close-on-exec socket.
pub(crate) fn socket(domain: i32, ty: i32, proto: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the fd is owned at once.
    let fd = unsafe { libc::socket(domain, ty | libc::SOCK_CLOEXEC, proto) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a new fd nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// An int socket option.
pub(crate) fn setsockopt_int(fd: &OwnedFd, level: i32, opt: i32, value: i32) -> std::io::Result<()> {
    // SAFETY: the option value is an int that lives across the call.
    let r = unsafe {
        libc::setsockopt(fd.as_raw_fd(), level, opt, (&value as *const i32).cast(), std::mem::size_of::<i32>() as u32)
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Binds the packet socket `fd` to interface `index`, for `proto`
/// (network byte order).
pub(crate) fn bind_packet(fd: &OwnedFd, index: u32, proto: u16) -> std::io::Result<()> {
    // SAFETY: an all-zero sockaddr_ll is valid; the fields are set below.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = proto;
    sll.sll_ifindex = index as i32;
    // SAFETY: `sll` is a sockaddr_ll of the size given.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            (&sll as *const libc::sockaddr_ll).cast(),
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if r != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The MTU of interface `name` (SIOCGIFMTU).
pub(crate) fn if_mtu(name: &str) -> std::io::Result<u32> {
    let s = socket(libc::AF_INET, libc::SOCK_DGRAM, 0)?;
    // SAFETY: an all-zero ifreq is valid.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (d, b) in req.ifr_name.iter_mut().zip(name.bytes().take(libc::IFNAMSIZ - 1)) {
        *d = b as libc::c_char;
    }
    // SAFETY: SIOCGIFMTU reads the name and writes the MTU into `req`.
    if unsafe { libc::ioctl(s.as_raw_fd(), libc::SIOCGIFMTU, &mut req) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: SIOCGIFMTU filled the union's MTU member.
    Ok(unsafe { req.ifr_ifru.ifru_mtu } as u32)
}

/// send(2) of `buf` on `fd`.
pub(crate) fn send(fd: &OwnedFd, buf: &[u8]) -> std::io::Result<usize> {
    // SAFETY: `buf` is readable for its length.
    let n = unsafe { libc::send(fd.as_raw_fd(), buf.as_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// recv(2) into `buf` on `fd`.
pub(crate) fn recv(fd: &OwnedFd, buf: &mut [u8]) -> std::io::Result<usize> {
    // SAFETY: `buf` is writable for its length.
    let n = unsafe { libc::recv(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(n as usize)
}

/// What one getifaddrs entry says of its interface.
pub(crate) enum IfAddr {
    /// The link: its index and hardware address (if 6 bytes long).
    Link { index: u32, mac: Option<[u8; 6]> },
    /// An IP address with its prefix length.
    Ip(IpAddr, u8),
    /// Anything else, or no address.
    Other,
}

/// One getifaddrs entry: the interface's name and flags, and its address.
pub(crate) struct IfEntry {
    pub name: String,
    pub flags: u32,
    pub addr: IfAddr,
}

fn prefix_of(mask: *const libc::sockaddr) -> u8 {
    if mask.is_null() {
        return 0;
    }
    // SAFETY: getifaddrs gives netmasks as sockaddrs of the entry's family,
    // which is checked before reading the longer IPv6 form.
    unsafe {
        match i32::from((*mask).sa_family) {
            libc::AF_INET => u32::from_be((*mask.cast::<libc::sockaddr_in>()).sin_addr.s_addr).count_ones() as u8,
            libc::AF_INET6 => {
                (*mask.cast::<libc::sockaddr_in6>()).sin6_addr.s6_addr.iter().map(|b| b.count_ones() as u8).sum()
            }
            _ => 0,
        }
    }
}

/// The namespace's interfaces and addresses, as getifaddrs(3) lists them.
pub(crate) fn getifaddrs() -> std::io::Result<Vec<IfEntry>> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list`, freed below.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut out = Vec::new();
    let mut cur = list;
    while !cur.is_null() {
        // SAFETY: `cur` is a live entry of the list getifaddrs made; its
        // name is a C string and its address (if any) a sockaddr of the
        // family it names.
        unsafe {
            let e = &*cur;
            cur = e.ifa_next;
            let name = std::ffi::CStr::from_ptr(e.ifa_name).to_string_lossy().into_owned();
            let addr = if e.ifa_addr.is_null() {
                IfAddr::Other
            } else {
                match i32::from((*e.ifa_addr).sa_family) {
                    libc::AF_PACKET => {
                        let ll = &*e.ifa_addr.cast::<libc::sockaddr_ll>();
                        let mac = (ll.sll_halen == 6).then(|| {
                            let mut m = [0u8; 6];
                            m.copy_from_slice(&ll.sll_addr[..6]);
                            m
                        });
                        IfAddr::Link { index: ll.sll_ifindex as u32, mac }
                    }
                    libc::AF_INET => IfAddr::Ip(
                        IpAddr::V4(Ipv4Addr::from(u32::from_be(
                            (*e.ifa_addr.cast::<libc::sockaddr_in>()).sin_addr.s_addr,
                        ))),
                        prefix_of(e.ifa_netmask),
                    ),
                    libc::AF_INET6 => IfAddr::Ip(
                        IpAddr::V6(Ipv6Addr::from((*e.ifa_addr.cast::<libc::sockaddr_in6>()).sin6_addr.s6_addr)),
                        prefix_of(e.ifa_netmask),
                    ),
                    _ => IfAddr::Other,
                }
            };
            out.push(IfEntry { name, flags: e.ifa_flags, addr });
        }
    }
    // SAFETY: `list` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(list) };
    Ok(out)
}

//! Addresses: the [`Family`] and [`Type`] of a socket, and [`ToAddress`] (Python's `(host, port)`
//! tuples).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use crate::error::{Error, Result};

/// An address family. `Debug` prints the C name, as strace does.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// `AF_INET`: IPv4.
    Inet,
    /// `AF_INET6`: IPv6.
    Inet6,
}

impl Family {
    pub(crate) fn raw(self) -> i32 {
        match self {
            Family::Inet => libc::AF_INET,
            Family::Inet6 => libc::AF_INET6,
        }
    }

    /// The family of an address.
    pub fn of(addr: &SocketAddr) -> Family {
        match addr {
            SocketAddr::V4(_) => Family::Inet,
            SocketAddr::V6(_) => Family::Inet6,
        }
    }
}

impl fmt::Debug for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Family::Inet => "AF_INET",
            Family::Inet6 => "AF_INET6",
        })
    }
}

/// A socket type. `Debug` prints the C name, as strace does.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum Type {
    /// `SOCK_STREAM`: TCP.
    Stream,
    /// `SOCK_DGRAM`: UDP.
    Dgram,
}

impl Type {
    pub(crate) fn raw(self) -> i32 {
        match self {
            Type::Stream => libc::SOCK_STREAM,
            Type::Dgram => libc::SOCK_DGRAM,
        }
    }
}

impl fmt::Debug for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Type::Stream => "SOCK_STREAM",
            Type::Dgram => "SOCK_DGRAM",
        })
    }
}

/// Something that names a socket address, as Python's `(host, port)` tuples do.
///
/// Hosts are numeric addresses, `""` (any address: `INADDR_ANY` / `in6addr_any`, as Python),
/// or `"localhost"`. pyselect resolves no other names: it makes no DNS queries, so a trace
/// shows only the socket syscalls. Another name fails as Python's `socket.gaierror` does.
pub trait ToAddress {
    /// The address for a socket of `family`.
    fn to_address(&self, family: Family) -> Result<SocketAddr>;
}

fn host_to_ip(host: &str, family: Family) -> Result<IpAddr> {
    let ip = match host {
        "" => match family {
            Family::Inet => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            Family::Inet6 => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        },
        "<broadcast>" if family == Family::Inet => IpAddr::V4(Ipv4Addr::BROADCAST),
        "localhost" => match family {
            Family::Inet => IpAddr::V4(Ipv4Addr::LOCALHOST),
            Family::Inet6 => IpAddr::V6(Ipv6Addr::LOCALHOST),
        },
        _ => host.parse::<IpAddr>().map_err(|_| Error::gai_noname())?,
    };
    match (family, ip) {
        (Family::Inet, IpAddr::V4(_)) | (Family::Inet6, IpAddr::V6(_)) => Ok(ip),
        _ => Err(Error::gai_family()),
    }
}

impl ToAddress for (&str, u16) {
    fn to_address(&self, family: Family) -> Result<SocketAddr> {
        Ok(SocketAddr::new(host_to_ip(self.0, family)?, self.1))
    }
}

impl ToAddress for (String, u16) {
    fn to_address(&self, family: Family) -> Result<SocketAddr> {
        (self.0.as_str(), self.1).to_address(family)
    }
}

impl ToAddress for (IpAddr, u16) {
    fn to_address(&self, family: Family) -> Result<SocketAddr> {
        SocketAddr::new(self.0, self.1).to_address(family)
    }
}

impl ToAddress for SocketAddr {
    fn to_address(&self, family: Family) -> Result<SocketAddr> {
        if Family::of(self) == family {
            Ok(*self)
        } else {
            Err(Error::gai_family())
        }
    }
}

impl ToAddress for SocketAddrV4 {
    fn to_address(&self, family: Family) -> Result<SocketAddr> {
        SocketAddr::V4(*self).to_address(family)
    }
}

impl ToAddress for SocketAddrV6 {
    fn to_address(&self, family: Family) -> Result<SocketAddr> {
        SocketAddr::V6(*self).to_address(family)
    }
}

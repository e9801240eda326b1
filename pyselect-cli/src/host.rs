//! [`host_addr`], the one host rule both binaries apply to `--host`.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use pyselect::{Family, Result, ToAddress};

/// The host rule of `pyselect-server --host` and `pyselect-client --host`: the address for
/// `host` and `port`, its family following the host, as the seed's `AF_INET` follows its
/// IPv4 address.
///
/// - an IPv4 address (`127.0.0.1`), or `""` for every IPv4 interface (`0.0.0.0`, as Python's
///   `''`);
/// - an IPv6 address, bare or in brackets (`::1`, `[::1]`, `::` for every interface);
/// - `localhost`, which is `127.0.0.1`.
///
/// No other name is resolved: no DNS query and no `/etc/hosts` lookup, so a trace shows only
/// the socket syscalls. Another name fails with Python's `socket.gaierror` text
/// (`[Errno -2] Name or service not known`).
pub fn host_addr(host: &str, port: u16) -> Result<SocketAddr> {
    let bare = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(inner) => match inner.parse::<Ipv6Addr>() {
            Ok(ip) => return Ok(SocketAddr::new(IpAddr::V6(ip), port)),
            // No name pyselect resolves either: the library's gaierror for it, brackets and all.
            Err(_) => return (host, port).to_address(Family::Inet),
        },
        None => host,
    };
    match bare.parse::<IpAddr>() {
        Ok(ip) => Ok(SocketAddr::new(ip, port)),
        Err(_) => (bare, port).to_address(Family::Inet),
    }
}

//! Python-style text rendering for values the server and client binaries print.
//!
//! The seed programs are Python scripts that log received data with
//! `repr(data)` and peer addresses with `repr(addr)`. The functions here
//! reproduce that output byte for byte (as printed by CPython 3.11 on a
//! glibc-based Linux), so the Rust binaries' logs can be diffed against the
//! Python originals.
//!
//! ```
//! use pyselect_cli::pyrepr::{addr_repr, bytes_repr};
//!
//! assert_eq!(bytes_repr(b"hi\n"), r"b'hi\n'");
//! let addr = "127.0.0.1:59744".parse().unwrap();
//! assert_eq!(addr_repr(&addr), "('127.0.0.1', 59744)");
//! ```

use std::fmt::Write as _;
use std::net::{Ipv6Addr, SocketAddr};

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Returns exactly what CPython's `repr()` prints for a `bytes` object
/// holding `data`.
///
/// The rules are those of CPython's `PyBytes_Repr` with "smart quotes":
///
/// * the result is `b'...'`, except that it is `b"..."` when the data
///   contains a single quote `'` and no double quote `"`;
/// * the quote character in use and the backslash are escaped with a
///   backslash (so `'` is escaped only inside single quotes, and `"` is never
///   escaped, since double quotes are chosen only when no `"` is present);
/// * tab, newline and carriage return become `\t`, `\n` and `\r`;
/// * every other byte below `0x20`, and every byte from `0x7f` up, becomes
///   `\xNN` with two lowercase hex digits (multi-byte UTF-8 sequences are
///   therefore escaped byte by byte);
/// * all remaining (printable ASCII) bytes are copied unchanged.
///
/// ```
/// use pyselect_cli::pyrepr::bytes_repr;
///
/// assert_eq!(bytes_repr(b""), "b''");
/// assert_eq!(bytes_repr(b"it's"), r#"b"it's""#);
/// assert_eq!(bytes_repr(b"'\""), r#"b'\'"'"#);
/// assert_eq!(bytes_repr(b"a\\b\t\x00\x7f"), r"b'a\\b\t\x00\x7f'");
/// assert_eq!(bytes_repr("é".as_bytes()), r"b'\xc3\xa9'");
/// ```
#[must_use]
pub fn bytes_repr(data: &[u8]) -> String {
    let quote = if data.contains(&b'\'') && !data.contains(&b'"') {
        '"'
    } else {
        '\''
    };

    // "b" + two quotes, and most bytes take one character.
    let mut out = String::with_capacity(data.len() + 3);
    out.push('b');
    out.push(quote);
    for &byte in data {
        match byte {
            b'\t' => out.push_str("\\t"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\\' => out.push_str("\\\\"),
            _ if char::from(byte) == quote => {
                out.push('\\');
                out.push(quote);
            }
            0x20..=0x7e => out.push(char::from(byte)),
            _ => {
                out.push_str("\\x");
                out.push(char::from(HEX_DIGITS[usize::from(byte >> 4)]));
                out.push(char::from(HEX_DIGITS[usize::from(byte & 0x0f)]));
            }
        }
    }
    out.push(quote);
    out
}

/// Returns the `repr()` of the address tuple CPython's `socket` module
/// produces for `addr` (as returned by `accept()`, `getpeername()` or
/// `recvfrom()`).
///
/// * IPv4: `('host', port)`, for example `('127.0.0.1', 59744)`.
/// * IPv6: `('host', port, flowinfo, scope_id)`, for example
///   `('::1', 33538, 0, 0)`. The host is formatted like glibc's
///   `inet_ntop(AF_INET6, ...)`, which is what CPython uses: it never carries
///   a `%scope` suffix (the scope is the fourth tuple item), and it keeps the
///   dotted-quad tail both for IPv4-mapped addresses (`::ffff:127.0.0.1`)
///   and for the deprecated IPv4-compatible form (`::1.2.3.4`, which Rust's
///   `Ipv6Addr` `Display` would print as `::102:304`).
///
/// The variant of `addr` decides the tuple shape: an IPv4 peer accepted on a
/// dual-stack IPv6 socket arrives as a V6 `::ffff:a.b.c.d` address and is
/// printed as a 4-tuple, exactly as CPython prints it. Do not canonicalise
/// the address first if the output must match Python's.
///
/// `flowinfo` and `scope_id` are printed as returned by
/// [`SocketAddrV6::flowinfo`](std::net::SocketAddrV6::flowinfo) and
/// [`SocketAddrV6::scope_id`](std::net::SocketAddrV6::scope_id). CPython
/// applies `ntohl` to the kernel's `sin6_flowinfo`, whereas Rust's standard
/// library copies it unconverted (rust-lang/rust#101605), so a non-zero flow
/// label taken from a std socket would appear byte-swapped relative to
/// Python. Accepted TCP peers normally report a flowinfo of 0, where the two
/// agree.
///
/// ```
/// use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
/// use pyselect_cli::pyrepr::addr_repr;
///
/// let v4: SocketAddr = "127.0.0.1:59744".parse().unwrap();
/// assert_eq!(addr_repr(&v4), "('127.0.0.1', 59744)");
///
/// let v6: SocketAddr = "[::1]:33538".parse().unwrap();
/// assert_eq!(addr_repr(&v6), "('::1', 33538, 0, 0)");
///
/// let mapped = SocketAddrV6::new(Ipv4Addr::LOCALHOST.to_ipv6_mapped(), 8080, 0, 0);
/// assert_eq!(addr_repr(&mapped.into()), "('::ffff:127.0.0.1', 8080, 0, 0)");
///
/// let link_local = SocketAddrV6::new("fe80::1".parse::<Ipv6Addr>().unwrap(), 22, 5, 2);
/// assert_eq!(addr_repr(&link_local.into()), "('fe80::1', 22, 5, 2)");
/// ```
#[must_use]
pub fn addr_repr(addr: &SocketAddr) -> String {
    // Hosts contain only hex digits, '.' and ':', so Python's str repr is
    // always the text in single quotes, with nothing to escape.
    match addr {
        SocketAddr::V4(v4) => format!("('{}', {})", v4.ip(), v4.port()),
        SocketAddr::V6(v6) => format!(
            "('{}', {}, {}, {})",
            inet_ntop6(v6.ip()),
            v6.port(),
            v6.flowinfo(),
            v6.scope_id()
        ),
    }
}

/// Formats an IPv6 address the way glibc's `inet_ntop(AF_INET6, ...)` does.
///
/// Algorithm (glibc `inet_ntop6`): the first longest run of at least two
/// zero 16-bit words is compressed to `::`; words are lowercase hex without
/// leading zeros; if the compressed run starts the address and is either six
/// words long (IPv4-compatible, `::a.b.c.d`) or five words long followed by
/// `ffff` (IPv4-mapped, `::ffff:a.b.c.d`), the last 32 bits are printed as a
/// dotted quad.
fn inet_ntop6(ip: &Ipv6Addr) -> String {
    let words = ip.segments();

    // Find the first longest run of zero words, as (start, len).
    let mut best: Option<(usize, usize)> = None;
    let mut cur: Option<(usize, usize)> = None;
    for (i, &word) in words.iter().enumerate() {
        if word == 0 {
            cur = Some(match cur {
                Some((start, len)) => (start, len + 1),
                None => (i, 1),
            });
        } else if let Some(run) = cur.take() {
            if best.is_none_or(|b| run.1 > b.1) {
                best = Some(run);
            }
        }
    }
    if let Some(run) = cur {
        if best.is_none_or(|b| run.1 > b.1) {
            best = Some(run);
        }
    }
    let best = best.filter(|&(_, len)| len >= 2);

    let mut out = String::with_capacity(39);
    for (i, &word) in words.iter().enumerate() {
        if let Some((start, len)) = best {
            if (start..start + len).contains(&i) {
                if i == start {
                    out.push(':');
                }
                continue;
            }
        }
        if i != 0 {
            out.push(':');
        }
        let embeds_ipv4 =
            matches!(best, Some((0, 6))) || (best == Some((0, 5)) && words[5] == 0xffff);
        if i == 6 && embeds_ipv4 {
            let o = ip.octets();
            write!(out, "{}.{}.{}.{}", o[12], o[13], o[14], o[15])
                .expect("writing to a String cannot fail");
            return out;
        }
        write!(out, "{word:x}").expect("writing to a String cannot fail");
    }
    if let Some((start, len)) = best {
        if start + len == 8 {
            out.push(':');
        }
    }
    out
}

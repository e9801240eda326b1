//! The text of an errno: `strerror(3)`.

/// The text of an errno, as C's `strerror` gives it (what Python prints after `[Errno N]`).
///
#[doc = man!(strerror(3))]
pub(crate) fn strerror(errno: i32) -> String {
    let mut buf = [0 as libc::c_char; 256];
    // SAFETY: `buf` is a live, writable buffer and its exact length is passed; the XSI
    // strerror_r writes a NUL-terminated string of at most that length.
    let rc = unsafe { libc::strerror_r(errno, buf.as_mut_ptr(), buf.len()) };
    if rc != 0 {
        return format!("Unknown error {errno}");
    }
    // SAFETY: on success strerror_r left a NUL-terminated string inside `buf`.
    let text = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    text.to_string_lossy().into_owned()
}

//! Checks the `libc` crate's `FD_SETSIZE` and `sizeof(fd_set)` against the platform's C headers.
//!
//! When the host is the target and a C compiler (`$CC`, else `cc`) is present, a tiny C probe
//! is compiled and run; a mismatch fails the build, because `FdSet`'s range check and every
//! `select()` call rely on those two numbers. Without a compiler (or when cross-compiling) the
//! build warns and trusts `libc`.

use std::env;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

const PROBE: &str = r#"#include <stdio.h>
#include <sys/select.h>
int main(void) {
    printf("%d %d\n", (int)FD_SETSIZE, (int)sizeof(fd_set));
    return 0;
}
"#;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CC");

    let expected = (libc::FD_SETSIZE, std::mem::size_of::<libc::fd_set>());
    let host = env::var("HOST").unwrap_or_default();
    let target = env::var("TARGET").unwrap_or_default();
    if host != target {
        println!("cargo:warning=cross-compiling: FD_SETSIZE not probed, trusting the libc crate");
        return;
    }
    match probe() {
        Ok((setsize, size)) => {
            if (setsize, size) != expected {
                panic!(
                    "the C headers say FD_SETSIZE = {setsize} and sizeof(fd_set) = {size}, \
                     but the libc crate says {} and {}: refusing to build a select() wrapper \
                     that would disagree with the kernel's view of fd_set",
                    expected.0, expected.1
                );
            }
        }
        Err(why) => println!(
            "cargo:warning=FD_SETSIZE not probed ({why}); trusting the libc crate's value {}",
            expected.0
        ),
    }
}

fn probe() -> Result<(usize, usize), String> {
    let out = PathBuf::from(env::var("OUT_DIR").map_err(|e| e.to_string())?);
    let src = out.join("fd_setsize_probe.c");
    let exe = out.join("fd_setsize_probe");
    fs::write(&src, PROBE).map_err(|e| e.to_string())?;
    let cc = env::var("CC").unwrap_or_else(|_| "cc".to_string());
    let status = Command::new(&cc)
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .status()
        .map_err(|e| format!("no C compiler `{cc}`: {e}"))?;
    if !status.success() {
        return Err(format!("`{cc}` failed to compile the probe"));
    }
    let output = Command::new(&exe)
        .output()
        .map_err(|e| format!("the probe did not run: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let mut nums = text.split_whitespace().map(str::parse::<usize>);
    match (nums.next(), nums.next()) {
        (Some(Ok(a)), Some(Ok(b))) => Ok((a, b)),
        _ => Err(format!("the probe printed {text:?}")),
    }
}

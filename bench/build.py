"""Building what the benchmark runs, and finding it where cargo put it: the C baselines with
cc into <target>/bench/bin, the Rust contenders with cargo, whose own messages name each
executable (so CARGO_TARGET_DIR is honoured and nothing stale is run)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from common import ROOT, RUN, note


def target_dir():
    """cargo's target directory for this checkout (CARGO_TARGET_DIR, build.target-dir, or
    target/), from `cargo metadata`; target/ if cargo cannot say."""
    r, err = run_build(["cargo", "metadata", "--format-version", "1", "--no-deps"], 120)
    if not err and r.returncode == 0:
        try:
            return Path(json.loads(r.stdout)["target_directory"])
        except (ValueError, KeyError):
            pass
    return ROOT / "target"


def run_build(cmd, timeout):
    try:
        r = subprocess.run([str(c) for c in cmd], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"{cmd[0]} timed out after {timeout}s"
    except FileNotFoundError:
        return None, f"{cmd[0]} not found"
    return r, None


def build_c():
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        sys.exit("bench: no C compiler (cc); the C baselines need one")
    RUN.bin.mkdir(parents=True, exist_ok=True)
    built = {}
    for name in ("select_floor", "c_serial_server", "c_multiplex_server", "c_loadgen"):
        src = ROOT / "bench" / f"{name}.c"
        r, err = run_build([cc, "-O2", "-Wall", "-Wextra", "-o", RUN.bin / name, src], 120)
        if err or r.returncode != 0:
            note(f"cc failed for bench/{name}.c: {err or r.stderr.strip()[-800:]}")
            continue
        if r.stderr.strip():
            note(f"cc warned on bench/{name}.c: {r.stderr.strip()[:400]}")
        built[name] = RUN.bin / name
    return built


def cargo_build(args, timeout):
    """cargo build --release ARGS; returns ({target name: executable}, error text)."""
    r, err = run_build(
        ["cargo", "build", "--release", "--message-format=json-render-diagnostics", *args],
        timeout,
    )
    if err:
        return {}, err
    exes = {}
    for line in r.stdout.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("reason") == "compiler-artifact" and msg.get("executable"):
            exes[msg["target"]["name"]] = Path(msg["executable"])
    if r.returncode != 0:
        return exes, "\n".join(r.stderr.strip().splitlines()[-12:])
    return exes, None

#!/usr/bin/env python3
"""Build the extension module with cargo for the interpreter running this script, and stage
an importable package: <target dir>/pyselect-py/<python tag>/pyselect_py/ holding the Python
files (symlinks) and the built library under the name importlib expects
(_select<EXT_SUFFIX>). Prints the directory to put on PYTHONPATH.

cargo's own output names the artifact (--message-format=json), so CARGO_TARGET_DIR and
build.target-dir are honoured."""

import json
import os
import shutil
import subprocess
import sys
import sysconfig

HERE = os.path.dirname(os.path.abspath(__file__))


def build():
    env = dict(os.environ, PYO3_PYTHON=sys.executable)
    cargo = os.environ.get("CARGO", "cargo")
    cmd = [cargo, "build", "--release", "--quiet", "--message-format=json",
           "--manifest-path", os.path.join(HERE, "Cargo.toml")]
    out = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, check=True, text=True).stdout
    lib = None
    for line in out.splitlines():
        msg = json.loads(line)
        if msg.get("reason") == "compiler-artifact" and "cdylib" in msg["target"]["kind"]:
            lib = [f for f in msg["filenames"] if f.endswith(".so")][0]
    if lib is None:
        sys.exit("stage.py: cargo reported no cdylib for pyselect-py")
    return lib


def stage():
    lib = build()
    # <target dir>/release/lib_select.so -> <target dir>/pyselect-py/<tag>/
    target = os.path.dirname(os.path.dirname(lib))
    tag = "%s-%d.%d" % (sys.implementation.cache_tag, *sys.version_info[:2])
    root = os.path.join(target, "pyselect-py", tag + "-" + __import__("hashlib").sha1(sys.executable.encode()).hexdigest()[:8])
    pkg = os.path.join(root, "pyselect_py")
    os.makedirs(pkg, exist_ok=True)
    src = os.path.join(HERE, "python", "pyselect_py")
    for name in os.listdir(src):
        if name.endswith(".py"):
            link = os.path.join(pkg, name)
            if os.path.lexists(link):
                os.remove(link)
            os.symlink(os.path.join(src, name), link)
    dest = os.path.join(pkg, "_select" + sysconfig.get_config_var("EXT_SUFFIX"))
    tmp = dest + ".tmp"
    shutil.copyfile(lib, tmp)
    os.replace(tmp, dest)
    return root


if __name__ == "__main__":
    print(stage())

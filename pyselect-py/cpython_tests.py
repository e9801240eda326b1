#!/usr/bin/env python3
"""CPython's own test files, unmodified, against pyselect.

Pass "select": pyselect_py.select stands in for ``select`` (CPython's selectors.py then runs on
it) for test_select, test_poll, test_epoll, test_selectors and the select part of
_test_eintr (SelectEINTRTest). Pass "selectors": pyselect's selectors stand in for
``selectors`` too, for test_selectors. Each suite runs in a child interpreter that installs
the stand-in before importing the test module and refuses to run unless the marker is there.
One strace run proves the library is what runs (its .so is opened, and its epoll_ctl lines
carry data.u64 == the fd, where CPython's carry uninitialised upper bits).

A test listed in ruled_out.json is expected to fail, with the reason given; an unlisted
failure, or a listed test that passes, fails the run. A suite the interpreter lacks is one line
saying how to get it, and fails the run."""

import json
import os
import re
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SUITES = [
    ("select", "test_select", None),
    ("select", "test_poll", None),
    ("select", "test_epoll", None),
    ("select", "test_selectors", None),
    ("select", "_test_eintr", "SelectEINTRTest"),
    ("selectors", "test_selectors", None),
]
HOW_TO_GET = ("Debian: apt-get install libpython3.11-testsuite (or use an interpreter built "
              "from source, such as pyenv's, which ships Lib/test)")


def child(pass_name, module, only):
    """Inside the child: install, check the marker, run, print one JSON line of outcomes."""
    import unittest
    import pyselect_py

    pyselect_py.install(selectors=(pass_name == "selectors"))
    import select
    import selectors
    if getattr(select, "PYSELECT_STAND_IN", None) is None:
        sys.exit("the select module is not pyselect's")
    if pass_name == "selectors" and getattr(selectors, "PYSELECT_STAND_IN", None) is None:
        sys.exit("the selectors module is not pyselect's")
    if pass_name == "select" and getattr(selectors, "select", None) is not select:
        sys.exit("CPython's selectors does not run on pyselect's select")
    mod = __import__("test." + module, fromlist=["*"])
    loader = unittest.TestLoader()
    suite = (loader.loadTestsFromTestCase(getattr(mod, only)) if only
             else loader.loadTestsFromModule(mod))
    outcomes = {}

    class Result(unittest.TextTestResult):
        def addSuccess(self, test):
            super().addSuccess(test)
            outcomes[test.id()] = "pass"

        def addFailure(self, test, err):
            super().addFailure(test, err)
            outcomes[test.id()] = "fail"

        def addError(self, test, err):
            super().addError(test, err)
            outcomes.setdefault(test.id(), "error")

        def addSkip(self, test, reason):
            super().addSkip(test, reason)
            outcomes[test.id()] = "skip: " + reason

    verbose = os.environ.get("CPYTHON_TESTS_VERBOSE")
    runner = unittest.TextTestRunner(stream=sys.stderr, verbosity=2 if verbose else 0,
                                     resultclass=Result)
    runner.run(suite)
    print("OUTCOMES " + json.dumps(outcomes))


def test_dir():
    try:
        import test
        return os.path.dirname(test.__file__)
    except ImportError:
        return None


def strace_proof(stage):
    """One small program under strace: the stand-in's .so is opened, and the library's
    epoll_ctl line (data.u64 equal to the fd) appears. None when all is well, else why not."""
    prog = ("import pyselect_py; pyselect_py.install(); import select, os;"
            "r, w = os.pipe(); r = os.dup2(r, 100); ep = select.epoll(); ep.register(r);"
            "select.select([r], [], [], 0); ep.close()")
    log = os.path.join(stage, "proof.strace")
    env = dict(os.environ, PYTHONPATH=stage)
    cmd = ["strace", "-f", "-o", log, "-e", "trace=openat,epoll_ctl,pselect6",
           sys.executable, "-c", prog]
    try:
        subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    except (OSError, subprocess.CalledProcessError) as e:
        return "strace could not run: %s" % e
    text = open(log).read()
    if not re.search(r'openat\(.*pyselect_py/_select[^"]*\.so"', text):
        return "the trace shows no open of pyselect's _select module"
    if not re.search(r"epoll_ctl\(\d+, EPOLL_CTL_ADD, 100, \{events=[^}]*, "
                     r"data=\{u32=100, u64=100\}\}\) = 0", text):
        return "the trace shows no epoll_ctl with data.u64 == 100 (the library's)"
    if not re.search(r"pselect6\(101, \[100\], NULL, NULL, \{tv_sec=0, tv_nsec=0\}", text):
        return "the trace shows no pselect6 on fd 100"
    return None


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        return child(sys.argv[2], sys.argv[3], sys.argv[4] if len(sys.argv) > 4 else None)
    sys.path.insert(0, HERE)
    import stage as stager
    stage = stager.stage()
    with open(os.path.join(HERE, "ruled_out.json")) as f:
        ruled_out = json.load(f)
    tests = test_dir()
    ok = True
    print("cpython-tests: %s %s, stand-in from %s" % (sys.executable, sys.version.split()[0], stage))
    why = strace_proof(stage)
    if why:
        print("FAIL strace proof: " + why)
        ok = False
    else:
        print("ok   strace proof: pyselect's _select .so opened; epoll_ctl data.u64 == fd; pselect6")
    for pass_name, module, only in SUITES:
        label = "%s[%s]%s" % (module, pass_name, "." + only if only else "")
        path = os.path.join(tests, module + ".py") if tests else None
        if not path or not os.path.exists(path):
            print("MISSING %s: this interpreter has no %s; %s" % (label, module + ".py", HOW_TO_GET))
            ok = False
            continue
        env = dict(os.environ, PYTHONPATH=stage + os.pathsep + os.environ.get("PYTHONPATH", ""))
        start = time.monotonic()
        cmd = [sys.executable, os.path.abspath(__file__), "--child", pass_name, module]
        cmd += [only] if only else []
        proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, timeout=600)
        line = [l for l in proc.stdout.splitlines() if l.startswith("OUTCOMES ")]
        if not line:
            print("FAIL %s: the child ended without results (exit %d)\n%s"
                  % (label, proc.returncode, proc.stderr[-3000:]))
            ok = False
            continue
        outcomes = json.loads(line[-1][len("OUTCOMES "):])
        listed = ruled_out.get(pass_name, {})
        passed = [t for t, o in outcomes.items() if o == "pass"]
        skipped = [t for t, o in outcomes.items() if o.startswith("skip")]
        failed = [t for t, o in outcomes.items() if o in ("fail", "error")]
        expected = [t for t in failed if short(t) in listed]
        unexpected = [t for t in failed if short(t) not in listed]
        now_passing = [t for t in passed if short(t) in listed]
        status = "ok  " if not unexpected and not now_passing else "FAIL"
        print("%s %s: %d passed, %d ruled out, %d skipped by the suite, %d unexpected failures, "
              "%d ruled out but passing (%.1f s)"
              % (status, label, len(passed), len(expected), len(skipped), len(unexpected),
                 len(now_passing), time.monotonic() - start))
        for t in unexpected:
            print("     unexpected failure: " + short(t))
        for t in now_passing:
            print("     ruled out but passes (update ruled_out.json): " + short(t))
        if unexpected or os.environ.get("CPYTHON_TESTS_VERBOSE"):
            sys.stdout.write(proc.stderr[-6000:])
        if unexpected or now_passing:
            ok = False
    sys.exit(0 if ok else 1)


def short(test_id):
    """test.test_poll.PollTests.test_x -> test_poll.PollTests.test_x"""
    return test_id[len("test."):] if test_id.startswith("test.") else test_id


if __name__ == "__main__":
    main()

"""Run a Python program with pyselect's select (and selectors) in place of CPython's:

    python3 -m pyselect_py.run [--selectors] PROGRAM.py [ARGS...]
"""

import runpy
import sys

import pyselect_py


def main():
    args = sys.argv[1:]
    selectors = bool(args) and args[0] == "--selectors"
    if selectors:
        args = args[1:]
    if not args:
        sys.stderr.write("usage: python3 -m pyselect_py.run [--selectors] PROGRAM.py [ARGS...]\n")
        sys.exit(2)
    pyselect_py.install(selectors=selectors)
    sys.argv = args
    runpy.run_path(args[0], run_name="__main__")


if __name__ == "__main__":
    main()

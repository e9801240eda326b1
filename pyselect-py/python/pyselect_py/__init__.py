"""pyselect as Python's select module: the Rust library behind CPython's names.

``pyselect_py.select`` is a module offering what CPython's ``select`` offers on Linux,
``pyselect_py.selectors`` one usable in place of ``selectors``. ``install()`` puts them in
``sys.modules`` so that code importing ``select`` (or ``selectors``) afterwards gets them.
"""

import sys

from . import _select as select

PYSELECT_STAND_IN = select.PYSELECT_STAND_IN


def install(selectors=False):
    """Stand in for ``select`` (and, with ``selectors=True``, for ``selectors``) from now on."""
    sys.modules["select"] = select
    if selectors:
        from . import selectors as sel

        sys.modules["selectors"] = sel
    else:
        # A selectors imported before would hold CPython's select.
        sys.modules.pop("selectors", None)

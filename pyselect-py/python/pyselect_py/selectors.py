"""pyselect's selectors (the Rust library's SelectSelector, PollSelector, EpollSelector) with
the Python face of CPython's ``selectors``: ``SelectorKey`` named tuples, ``get_map()`` as a
mapping, the context manager. The checks, messages, timeout arithmetic and syscalls are the
library's; this file only turns file objects into fds (``_fileobj_to_fd``, and a closed
object found by identity, as CPython's ``_fileobj_lookup``)."""

from collections import namedtuple
from collections.abc import Mapping

from . import _select

PYSELECT_STAND_IN = _select.PYSELECT_STAND_IN

EVENT_READ = 1 << 0
EVENT_WRITE = 1 << 1

SelectorKey = namedtuple("SelectorKey", ["fileobj", "fd", "events", "data"])
SelectorKey.__doc__ = "SelectorKey(fileobj, fd, events, data): a registered file object."


def _fileobj_to_fd(fileobj):
    """An int, or ``int(fileobj.fileno())``; a negative fd is left to the library."""
    if isinstance(fileobj, int):
        return fileobj
    try:
        return int(fileobj.fileno())
    except (AttributeError, TypeError, ValueError):
        raise ValueError("Invalid file object: {!r}".format(fileobj)) from None


class _SelectorMapping(Mapping):
    """fd -> SelectorKey, looked up by file object (``get_map()``)."""

    def __init__(self, selector):
        self._selector = selector

    def _keys(self):
        return self._selector._impl.keys() or []

    def __len__(self):
        return len(self._keys())

    def get(self, fileobj, default=None):
        try:
            return self[fileobj]
        except KeyError:
            return default

    def __getitem__(self, fileobj):
        if self._selector._impl.keys() is None:
            # A mapping kept from before close() is empty, as CPython's.
            raise KeyError("{!r} is not registered".format(fileobj))
        fd = self._selector._lookup(fileobj)
        try:
            return SelectorKey(*self._selector._impl.get_key(fd))
        except KeyError:
            raise KeyError("{!r} is not registered".format(fileobj)) from None

    def __iter__(self):
        return iter([k[1] for k in self._keys()])


class _Selector:
    _impl_cls = None

    def __init__(self):
        self._impl = self._impl_cls()
        self._map = _SelectorMapping(self)

    def _lookup(self, fileobj):
        """The fd of ``fileobj``; one whose fileno() fails or is negative (closed) is found
        among the keys by identity, as CPython's ``_fileobj_lookup``."""
        try:
            fd = _fileobj_to_fd(fileobj)
        except ValueError:
            fd = None
        if fd is None or fd < 0:
            for key in self._impl.keys() or []:
                if key[0] is fileobj:
                    return key[1]
            if fd is None:
                raise ValueError("Invalid file object: {!r}".format(fileobj))
        return fd

    def register(self, fileobj, events, data=None):
        return SelectorKey(*self._impl.register(fileobj, _fileobj_to_fd(fileobj), events, data))

    def unregister(self, fileobj):
        return SelectorKey(*self._impl.unregister(self._lookup(fileobj)))

    def modify(self, fileobj, events, data=None):
        fd = self._lookup(fileobj)
        return SelectorKey(*self._impl.modify(fileobj, fd, events, data))

    def select(self, timeout=None):
        return [(SelectorKey(*key), events) for key, events in self._impl.select(timeout)]

    def close(self):
        self._impl.close()

    def get_key(self, fileobj):
        mapping = self.get_map()
        if mapping is None:
            raise RuntimeError("Selector is closed")
        return mapping[fileobj]

    def get_map(self):
        return None if self._impl.keys() is None else self._map

    def __enter__(self):
        return self

    def __exit__(self, *args):
        self.close()


class SelectSelector(_Selector):
    """Select-based selector (pselect6)."""

    _impl_cls = _select.SelectSelector


class PollSelector(_Selector):
    """Poll-based selector (poll)."""

    _impl_cls = _select.PollSelector


class EpollSelector(_Selector):
    """Epoll-based selector (epoll_wait)."""

    _impl_cls = _select.EpollSelector

    def fileno(self):
        return self._impl.fileno()


DefaultSelector = EpollSelector

"""CPython's select.select, timed the same way as bench/select_floor.c.

Usage: python3 bench/select_cpython.py KLIST ITERLIST MODE
  KLIST     comma-separated numbers of watched fds, e.g. 1,8,64,256,1000
  ITERLIST  calls per measurement: one number, or one per K; or "stdin":
            then it sets up max(KLIST) pairs and reads commands "K M" from
            stdin, one measurement pair per line, until EOF
  MODE      "int" (a list of ints) or "obj" (a list of socket objects, so
            select.select calls each object's fileno() method)

Prints, per K, "nothing ready" then "one ready" (a byte waiting on the K-th
watched socket):
  result contender=cpython-MODE k=K ready=R iters=M ns_per_call=X cpu_ns_per_call=Y found=F
(X wall-clock time, Y this thread's CPU time)

The watched sockets are one end of AF_UNIX socketpairs, below FD_SETSIZE;
the peer ends are moved above 1024 with F_DUPFD so that K=1000 fits.
"""

import fcntl
import os
import resource
import select
import socket
import sys
import time

PEER_BASE = 1100
FD_SETSIZE = 1024  # glibc on Linux; CPython rejects fds at or above it


def parse_list(text):
    return [int(v) for v in text.split(",") if v]


def measure(sel, socks, peers, mode, k, m):
    """Time m calls on the first k sockets: nothing ready, then one ready."""
    watched = [s.fileno() for s in socks[:k]] if mode == "int" else socks[:k]
    for ready in (0, 1):
        if ready:
            os.write(peers[k - 1], b"x")
        r = []
        for _ in range(m // 10 + 1):  # warm-up
            r, _w, _x = sel(watched, [], [], 0)
        c0 = time.thread_time_ns()
        t0 = time.perf_counter_ns()
        for _ in range(m):
            r, _w, _x = sel(watched, [], [], 0)
        t1 = time.perf_counter_ns()
        c1 = time.thread_time_ns()
        if ready:
            socks[k - 1].recv(1)
        print(
            f"result contender=cpython-{mode} k={k} ready={ready} iters={m} "
            f"ns_per_call={(t1 - t0) / m:.1f} cpu_ns_per_call={(c1 - c0) / m:.1f} found={len(r)}",
            flush=True,
        )


def main():
    if len(sys.argv) != 4 or sys.argv[3] not in ("int", "obj"):
        sys.exit("usage: select_cpython.py KLIST ITERLIST int|obj")
    ks = parse_list(sys.argv[1])
    use_stdin = sys.argv[2] == "stdin"
    iters = [1] if use_stdin else parse_list(sys.argv[2])
    if len(iters) == 1:
        iters = iters * len(ks)
    mode = sys.argv[3]
    maxk = max(ks)

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = PEER_BASE + maxk + 64
    if soft < want:
        if hard != resource.RLIM_INFINITY:
            want = min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))

    socks, peers = [], []
    for _ in range(maxk):
        a, b = socket.socketpair()
        peers.append(fcntl.fcntl(b.fileno(), fcntl.F_DUPFD_CLOEXEC, PEER_BASE))
        b.close()  # frees the low number for the next watched end
        if a.fileno() >= FD_SETSIZE:
            sys.exit(f"watched fd {a.fileno()} is not below FD_SETSIZE")
        socks.append(a)

    if use_stdin:
        for line in sys.stdin:
            k, m = (int(v) for v in line.split())
            if not 1 <= k <= maxk or m < 1:
                sys.exit(f"bad command: {line!r}")
            measure(select.select, socks, peers, mode, k, m)
        return
    for k, m in zip(ks, iters):
        measure(select.select, socks, peers, mode, k, m)


if __name__ == "__main__":
    main()

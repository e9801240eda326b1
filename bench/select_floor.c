/*
 * select_floor.c - the C floor for the select() micro-benchmark.
 *
 * Each call does the work any select() wrapper must do, and nothing more:
 * rebuild the read fd_set from a list of fds (tracking the highest fd for
 * nfds), call select() with a zero timeout, then scan the list against the
 * returned set and collect the ready fds.  A Rust or Python wrapper can
 * approach this cost but not beat it.
 *
 * Usage: select_floor KLIST ITERLIST
 *   KLIST     comma-separated numbers of watched fds, e.g. 1,8,64,256,1000
 *   ITERLIST  calls per measurement: one number, or one per K; or "stdin":
 *             then it sets up max(KLIST) pairs and reads commands "K M" from
 *             stdin, one measurement pair per line, until EOF (this lets
 *             bench/run.py interleave contenders measurement by measurement)
 *
 * For each K it measures "nothing ready" then "one ready" (one byte waiting
 * on the K-th watched socket) and prints one line per measurement:
 *   result contender=c-floor k=K ready=R iters=M ns_per_call=X cpu_ns_per_call=Y found=F
 * X is wall-clock time; Y is this thread's CPU time, which leaves out the
 * time other programs on a busy machine take the CPU away.
 *
 * The watched fds are one end of AF_UNIX socketpairs, all below FD_SETSIZE;
 * the peer ends are moved above 1024 (F_DUPFD) so that K=1000 fits.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_K 1000
#define PEER_BASE 1100 /* peer ends live at fds >= this, out of the way */

static int watched[MAX_K]; /* the fds handed to select(), all < FD_SETSIZE */
static int peer[MAX_K];    /* the other end of each socketpair */
static int ready_out[MAX_K]; /* result list, as a wrapper would return it */

static void die(const char *what)
{
    perror(what);
    exit(2);
}

/* Parse "a,b,c" into out[]; returns the count. */
static int parse_list(const char *s, long *out, int max)
{
    int n = 0;
    while (*s && n < max) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v <= 0) {
            fprintf(stderr, "bad number list: %s\n", s);
            exit(2);
        }
        out[n++] = v;
        s = (*end == ',') ? end + 1 : end;
    }
    return n;
}

static double clock_ns(clockid_t clock)
{
    struct timespec ts;
    clock_gettime(clock, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/*
 * One wrapper-style call: rebuild the set, select(), scan.  Returns the
 * number of ready fds written to ready_out.
 */
static int one_call(int k)
{
    fd_set rset;
    struct timeval tv = {0, 0}; /* timeout 0: a poll; rebuilt every call */
    int maxfd = -1, i, n, found = 0;

    FD_ZERO(&rset);
    for (i = 0; i < k; i++) {
        FD_SET(watched[i], &rset);
        if (watched[i] > maxfd)
            maxfd = watched[i];
    }
    n = select(maxfd + 1, &rset, NULL, NULL, &tv);
    if (n < 0)
        die("select");
    for (i = 0; i < k; i++)
        if (FD_ISSET(watched[i], &rset))
            ready_out[found++] = watched[i];
    return found;
}

/* Measure K watched fds with M calls: "nothing ready", then "one ready". */
static void measure(int k, long m)
{
    int ready;
    for (ready = 0; ready <= 1; ready++) {
        long j;
        int found = 0;
        double t0, t1, c0, c1;
        char byte = 'x';
        if (ready && write(peer[k - 1], &byte, 1) != 1)
            die("write");
        for (j = 0; j < m / 10 + 1; j++) /* warm caches and branches */
            found = one_call(k);
        c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        t0 = clock_ns(CLOCK_MONOTONIC);
        for (j = 0; j < m; j++)
            found = one_call(k);
        t1 = clock_ns(CLOCK_MONOTONIC);
        c1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        if (ready && read(watched[k - 1], &byte, 1) != 1)
            die("read");
        printf("result contender=c-floor k=%d ready=%d iters=%ld "
               "ns_per_call=%.1f cpu_ns_per_call=%.1f found=%d\n",
               k, ready, m, (t1 - t0) / (double)m, (c1 - c0) / (double)m, found);
    }
    fflush(stdout);
}

int main(int argc, char **argv)
{
    long ks[16], iters[16];
    int nk, ni, maxk = 0, i, use_stdin;
    struct rlimit rl;

    if (argc != 3) {
        fprintf(stderr, "usage: %s KLIST ITERLIST\n", argv[0]);
        return 2;
    }
    nk = parse_list(argv[1], ks, 16);
    use_stdin = strcmp(argv[2], "stdin") == 0;
    ni = use_stdin ? 1 : parse_list(argv[2], iters, 16);
    if (ni != 1 && ni != nk) {
        fprintf(stderr, "ITERLIST needs 1 or %d entries\n", nk);
        return 2;
    }
    for (i = 0; i < nk; i++) {
        if (ks[i] > MAX_K) {
            fprintf(stderr, "K=%ld above %d\n", ks[i], MAX_K);
            return 2;
        }
        if (ks[i] > maxk)
            maxk = (int)ks[i];
    }

    /* Room for the peers above 1024: raise the soft limit within the hard. */
    if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
        die("getrlimit");
    if (rl.rlim_cur < PEER_BASE + MAX_K + 64) {
        rl.rlim_cur = PEER_BASE + MAX_K + 64;
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_cur > rl.rlim_max)
            rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
            die("setrlimit");
    }

    for (i = 0; i < maxk; i++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
            die("socketpair");
        peer[i] = fcntl(sv[1], F_DUPFD_CLOEXEC, PEER_BASE);
        if (peer[i] < 0)
            die("fcntl(F_DUPFD)");
        close(sv[1]); /* frees the low number for the next watched end */
        watched[i] = sv[0];
        if (watched[i] >= FD_SETSIZE) {
            fprintf(stderr, "watched fd %d >= FD_SETSIZE\n", watched[i]);
            return 2;
        }
    }

    if (use_stdin) {
        char line[128];
        long k, m;
        while (fgets(line, sizeof line, stdin)) {
            if (sscanf(line, "%ld %ld", &k, &m) != 2 || k < 1 || k > maxk || m < 1) {
                fprintf(stderr, "bad command: %s", line);
                return 2;
            }
            measure((int)k, m);
        }
        return 0;
    }
    for (i = 0; i < nk; i++)
        measure((int)ks[i], iters[ni == 1 ? 0 : i]);
    return 0;
}

/*
 * poll_epoll_floor.c - the C floor for the poll()/epoll_wait() micro-benchmark.
 *
 * Each call does what any wrapper of Python's poll.poll(0) / epoll.poll(0) must do, and
 * nothing more:
 *   poll:  poll() on a pollfd array built once (as pyselect's Poll and CPython keep theirs
 *          between calls), then scan it and collect the (fd, revents) pairs that are ready;
 *   epoll: epoll_wait() with maxevents 1023 (Python's default) into a buffer allocated once,
 *          then copy the (fd, events) pairs out.
 * A Rust or Python wrapper can approach this cost but not beat it.
 *
 * Usage: poll_epoll_floor, then commands on stdin, one per line:  KIND K M
 *   KIND  poll or epoll;  K  watched fds (1..10000), one of them ready;  M  calls to time
 * For each command it prints one line:
 *   result contender=c-floor kind=KIND k=K ready=1 iters=M ns_per_call=X cpu_ns_per_call=Y found=F
 * X is wall-clock time; Y this thread's CPU time (CLOCK_THREAD_CPUTIME_ID), which leaves out
 * the time other programs on a busy machine take the CPU away.
 *
 * The watched fds, as in the Rust harness: the last REAL_K of the table are one end of
 * AF_UNIX socketpairs (the peer ends moved above PEER_BASE with F_DUPFD_CLOEXEC), and the
 * ones before them are dups of one more socketpair end whose peer never writes, so that 10,000
 * watched fds fit in a 20,000-file RLIMIT_NOFILE. A set of K is the last K of the table: up to
 * 1,000 all distinct sockets, beyond that the idle dups join; the ready one is always the last
 * (the highest fd).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_K 10000
#define REAL_K 1000
#define PEER_BASE 10100
#define MAXEVENTS 1023

static int watched[MAX_K];
static int peer[MAX_K];
static struct pollfd pfds[MAX_K];
static struct epoll_event evs[MAXEVENTS];
static struct {
    int fd;
    unsigned events;
} out[MAX_K];

static void die(const char *what)
{
    perror(what);
    exit(2);
}

static double now_ns(clockid_t clock)
{
    struct timespec ts;
    if (clock_gettime(clock, &ts) != 0)
        die("clock_gettime");
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static void setup(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        die("getrlimit");
    if (rl.rlim_cur < PEER_BASE + REAL_K + 16) {
        rl.rlim_cur = rl.rlim_max < PEER_BASE + REAL_K + 16 ? rl.rlim_max : PEER_BASE + REAL_K + 16;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            die("setrlimit");
    }
    int idle[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, idle) != 0)
        die("socketpair");
    for (int i = 0; i < MAX_K - REAL_K; i++) {
        watched[i] = fcntl(idle[0], F_DUPFD_CLOEXEC, 0);
        if (watched[i] < 0)
            die("fcntl(F_DUPFD_CLOEXEC)");
        peer[i] = -1;
    }
    for (int i = MAX_K - REAL_K; i < MAX_K; i++) {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
            die("socketpair");
        int high = fcntl(sv[1], F_DUPFD_CLOEXEC, PEER_BASE);
        if (high < 0)
            die("fcntl(F_DUPFD_CLOEXEC)");
        close(sv[1]);
        watched[i] = sv[0];
        peer[i] = high;
    }
}

static void run(const char *kind, int k, long iters)
{
    char byte = 'x';
    long found = 0;
    int *set = watched + (MAX_K - k);
    if (write(peer[MAX_K - 1], &byte, 1) != 1)
        die("write");
    int epfd = -1;
    if (strcmp(kind, "poll") == 0) {
        for (int i = 0; i < k; i++) {
            pfds[i].fd = set[i];
            pfds[i].events = POLLIN;
            pfds[i].revents = 0;
        }
    } else {
        epfd = epoll_create1(EPOLL_CLOEXEC);
        if (epfd < 0)
            die("epoll_create1");
        for (int i = 0; i < k; i++) {
            struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (unsigned)set[i]};
            if (epoll_ctl(epfd, EPOLL_CTL_ADD, set[i], &ev) != 0)
                die("epoll_ctl");
        }
    }
    double w0 = now_ns(CLOCK_MONOTONIC), c0 = now_ns(CLOCK_THREAD_CPUTIME_ID);
    if (epfd < 0) {
        for (long it = 0; it < iters; it++) {
            int n = poll(pfds, (nfds_t)k, 0);
            if (n < 0)
                die("poll");
            int j = 0;
            for (int i = 0; i < k && j < n; i++) {
                if (pfds[i].revents) {
                    out[j].fd = pfds[i].fd;
                    out[j].events = (unsigned short)pfds[i].revents;
                    j++;
                }
            }
            found += j;
        }
    } else {
        for (long it = 0; it < iters; it++) {
            int n = epoll_wait(epfd, evs, MAXEVENTS, 0);
            if (n < 0)
                die("epoll_wait");
            for (int i = 0; i < n; i++) {
                out[i].fd = (int)evs[i].data.u64;
                out[i].events = evs[i].events;
            }
            found += n;
        }
    }
    double w1 = now_ns(CLOCK_MONOTONIC), c1 = now_ns(CLOCK_THREAD_CPUTIME_ID);
    /* Keep the stores to out[] observable. */
    __asm__ volatile("" : : "r"(out) : "memory");
    if (epfd >= 0)
        close(epfd);
    if (read(watched[MAX_K - 1], &byte, 1) != 1)
        die("read");
    printf("result contender=c-floor kind=%s k=%d ready=1 iters=%ld ns_per_call=%.1f "
           "cpu_ns_per_call=%.1f found=%ld\n",
           kind, k, iters, (w1 - w0) / iters, (c1 - c0) / iters, found / iters);
    fflush(stdout);
}

int main(void)
{
    setup();
    char kind[16];
    int k;
    long iters;
    while (scanf("%15s %d %ld", kind, &k, &iters) == 3) {
        if (k < 1 || k > MAX_K || iters < 1 ||
            (strcmp(kind, "poll") != 0 && strcmp(kind, "epoll") != 0)) {
            fprintf(stderr, "bad command: %s %d %ld\n", kind, k, iters);
            return 2;
        }
        run(kind, k, iters);
    }
    return 0;
}

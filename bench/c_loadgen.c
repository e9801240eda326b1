/*
 * c_loadgen.c - a small load generator with the shape of pyselect-client's
 * load mode, for when the client itself would be the bottleneck.
 *
 * Usage: c_loadgen [--host 127.0.0.1] --port P --connections N
 *                  --concurrency C [--message hi] [--max-seconds S]
 *
 * Drives N transactions (connect, send the message, read to EOF, close) over
 * C non-blocking sockets multiplexed with select(); checks each reply is
 * "welcome P!".  Stops after N transactions or S seconds (default 120),
 * whichever is first.  Last stdout line, one summary, as pyselect-client's:
 *   transactions=N errors=E seconds=S tx/s=X p50_us=A p99_us=B max_us=C
 * (tx/s counts successful transactions; percentiles are nearest-rank).
 * Exit status 1 when any transaction failed.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONC 512

enum state { FREE, CONNECTING, READING };

struct slot {
    int fd;
    enum state st;
    double t0;       /* start of the transaction, ns */
    char buf[64];    /* reply so far */
    size_t len;
};

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of n sorted samples: the ceil(p*n/100)-th smallest. */
static double percentile(const double *sorted, long n, long p)
{
    long rank = (p * n + 99) / 100;
    return sorted[(rank < 1 ? 1 : rank) - 1];
}

int main(int argc, char **argv)
{
    const char *host = "127.0.0.1", *message = "hi";
    long port = 0, total = 0, conc = 1, started = 0, done = 0, errors = 0;
    double max_seconds = 120, t_begin, elapsed, *lat;
    char expected[32];
    size_t explen;
    struct sockaddr_in addr;
    static struct slot slots[MAX_CONC];
    int i;

    for (i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--host"))
            host = argv[i + 1];
        else if (!strcmp(argv[i], "--port"))
            port = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--connections"))
            total = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--concurrency"))
            conc = atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--message"))
            message = argv[i + 1];
        else if (!strcmp(argv[i], "--max-seconds"))
            max_seconds = atof(argv[i + 1]);
        else
            break;
    }
    if (i != argc || port <= 0 || port > 65535 || total <= 0 || conc <= 0 ||
        conc > MAX_CONC) {
        fprintf(stderr, "usage: %s [--host H] --port P --connections N "
                        "--concurrency C (C <= %d) [--message M] [--max-seconds S]\n",
                argv[0], MAX_CONC);
        return 2;
    }
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((unsigned short)port);
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "bad IPv4 host %s\n", host);
        return 2;
    }
    explen = (size_t)snprintf(expected, sizeof expected, "welcome %ld!", port);
    lat = malloc(sizeof(double) * (size_t)total);
    if (!lat)
        return 2;
    for (i = 0; i < conc; i++)
        slots[i].st = FREE;

    t_begin = now_ns();
    while (done < total && (now_ns() - t_begin) < max_seconds * 1e9) {
        fd_set rset, wset;
        struct timeval tv = {1, 0};
        int maxfd = -1;

        /* Start new transactions in free slots. */
        for (i = 0; i < conc && started < total; i++) {
            struct slot *s = &slots[i];
            if (s->st != FREE)
                continue;
            started++;
            s->t0 = now_ns();
            s->len = 0;
            s->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
            if (s->fd < 0) {
                perror("socket");
                return 2;
            }
            if (connect(s->fd, (struct sockaddr *)&addr, sizeof addr) == 0) {
                s->st = CONNECTING; /* writable at once; sent below */
            } else if (errno == EINPROGRESS) {
                s->st = CONNECTING;
            } else {
                if (errors == 0)
                    perror("connect");
                close(s->fd);
                errors++;
                done++;
            }
        }

        FD_ZERO(&rset);
        FD_ZERO(&wset);
        for (i = 0; i < conc; i++) {
            if (slots[i].st == CONNECTING)
                FD_SET(slots[i].fd, &wset);
            else if (slots[i].st == READING)
                FD_SET(slots[i].fd, &rset);
            else
                continue;
            if (slots[i].fd > maxfd)
                maxfd = slots[i].fd;
        }
        if (maxfd < 0)
            continue;
        if (select(maxfd + 1, &rset, &wset, NULL, &tv) < 0) {
            if (errno == EINTR)
                continue;
            perror("select");
            return 2;
        }

        for (i = 0; i < conc; i++) {
            struct slot *s = &slots[i];
            int fail = 0, finished = 0;
            if (s->st == CONNECTING && FD_ISSET(s->fd, &wset)) {
                int err = 0;
                socklen_t elen = sizeof err;
                getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &elen);
                if (err || send(s->fd, message, strlen(message), MSG_NOSIGNAL) < 0)
                    fail = 1;
                else
                    s->st = READING;
            } else if (s->st == READING && FD_ISSET(s->fd, &rset)) {
                ssize_t n = recv(s->fd, s->buf + s->len, sizeof s->buf - s->len, 0);
                if (n > 0 && s->len + (size_t)n < sizeof s->buf)
                    s->len += (size_t)n;
                else if (n == 0)
                    finished = 1;
                else if (!(n < 0 && (errno == EAGAIN || errno == EINTR)))
                    fail = 1;
            }
            if (finished && (s->len != explen || memcmp(s->buf, expected, explen)))
                fail = 1;
            if (finished && !fail)
                lat[done - errors] = (now_ns() - s->t0) / 1e3;
            if (fail || finished) {
                if (fail)
                    errors++;
                done++;
                close(s->fd);
                s->st = FREE;
            }
        }
    }
    elapsed = (now_ns() - t_begin) / 1e9;
    for (i = 0; i < conc; i++) /* a time-out leaves some in flight */
        if (slots[i].st != FREE) {
            close(slots[i].fd);
            errors++;
        }

    {
        long ok = done - errors < 0 ? 0 : done - errors;
        double p50 = 0, p99 = 0, mx = 0;
        if (ok > 0) {
            qsort(lat, (size_t)ok, sizeof(double), cmp_double);
            p50 = percentile(lat, ok, 50);
            p99 = percentile(lat, ok, 99);
            mx = lat[ok - 1];
        }
        printf("transactions=%ld errors=%ld seconds=%.3f tx/s=%.1f "
               "p50_us=%.0f p99_us=%.0f max_us=%.0f\n",
               done, errors, elapsed, elapsed > 0 ? (double)ok / elapsed : 0.0,
               p50, p99, mx);
    }
    free(lat);
    return errors ? 1 : 0;
}

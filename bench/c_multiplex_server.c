/*
 * c_multiplex_server.c - a Stevens-style multiplexed select server (after
 * UNP's tcpservselect01: one fd_set of everything, a client[] table, maxi and
 * nready bookkeeping): the baseline for `pyselect-server --mode multiplex`.
 *
 * Usage: c_multiplex_server PORT1 PORT2 [-q] [-t SECS]
 *
 * Clients join the read set after accept4(); when one is readable: recv(1024),
 * print the message line (not with -q), send "welcome <port>!" and close.
 * Nothing blocks on one client: client sockets are non-blocking, and a reply
 * that cannot be sent at once waits in the write set.  127.0.0.1 only; runs
 * until killed.
 *
 * Plain Stevens has no timers.  -t SECS adds what pyselect-server's multiplex
 * mode also does, to tell its cost apart: clients join the exception set too
 * (urgent data is read with MSG_OOB), and select() gets a timeout, the time to
 * the earliest client's idle deadline; a client idle for SECS is closed.
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

#define SIZE 1024

struct client {
    int fd;             /* -1: free slot */
    int port;           /* listening port it came through, for the reply */
    int pending;        /* reply waiting for writability */
    double deadline;    /* -t: monotonic seconds when it is closed as idle */
    struct sockaddr_in peer;
};

static struct client client[FD_SETSIZE];
static fd_set allread, allwrite, allexcept; /* as maintained; copied per select */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int listen_on(int port)
{
    struct sockaddr_in a;
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        perror("socket");
        exit(1);
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) < 0 || listen(fd, 128) < 0) {
        fprintf(stderr, "127.0.0.1:%d: %s\n", port, strerror(errno));
        exit(1);
    }
    return fd;
}

static void print_message(const struct sockaddr_in *peer, const char *msg, ssize_t n)
{
    char line[SIZE * 4 + 128], ip[INET_ADDRSTRLEN];
    int len;
    ssize_t i;
    inet_ntop(AF_INET, &peer->sin_addr, ip, sizeof ip);
    len = snprintf(line, sizeof line, "[('%s', %d)] message : b'", ip, ntohs(peer->sin_port));
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)msg[i];
        if (c == '\\' || c == '\'')
            len += snprintf(line + len, sizeof line - len, "\\%c", c);
        else if (c >= 32 && c < 127)
            line[len++] = (char)c;
        else
            len += snprintf(line + len, sizeof line - len, "\\x%02x", c);
    }
    len += snprintf(line + len, sizeof line - len, "'\n");
    if (write(1, line, (size_t)len) < 0)
        exit(1);
}

static void drop_client(struct client *c)
{
    close(c->fd);
    FD_CLR(c->fd, &allread);
    FD_CLR(c->fd, &allwrite);
    FD_CLR(c->fd, &allexcept);
    c->fd = -1;
    c->pending = 0;
}

/* Send the reply; done (and closed) unless the socket is not writable yet. */
static void send_reply(struct client *c)
{
    char reply[32];
    int rlen = snprintf(reply, sizeof reply, "welcome %d!", c->port);
    if (send(c->fd, reply, (size_t)rlen, MSG_NOSIGNAL) < 0 &&
        (errno == EAGAIN || errno == EWOULDBLOCK)) {
        c->pending = 1;
        FD_CLR(c->fd, &allread);
        FD_CLR(c->fd, &allexcept);
        FD_SET(c->fd, &allwrite);
        return;
    }
    drop_client(c);
}

int main(int argc, char **argv)
{
    int ports[2], lfd[2], quiet = 0, maxfd, maxi = -1, i;
    double idle = 0; /* -t: idle timeout in seconds; 0: none, plain Stevens */
    char buf[SIZE];

    if (argc < 3) {
        fprintf(stderr, "usage: %s PORT1 PORT2 [-q] [-t SECS]\n", argv[0]);
        return 2;
    }
    ports[0] = atoi(argv[1]);
    ports[1] = atoi(argv[2]);
    for (i = 3; i < argc; i++) {
        if (strcmp(argv[i], "-q") == 0)
            quiet = 1;
        else if (strcmp(argv[i], "-t") == 0 && i + 1 < argc)
            idle = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: %s PORT1 PORT2 [-q] [-t SECS]\n", argv[0]);
            return 2;
        }
    }
    lfd[0] = listen_on(ports[0]);
    lfd[1] = listen_on(ports[1]);
    for (i = 0; i < FD_SETSIZE; i++)
        client[i].fd = -1;
    FD_ZERO(&allread);
    FD_ZERO(&allwrite);
    FD_ZERO(&allexcept);
    FD_SET(lfd[0], &allread);
    FD_SET(lfd[1], &allread);
    maxfd = lfd[0] > lfd[1] ? lfd[0] : lfd[1];

    for (;;) {
        fd_set rset = allread, wset = allwrite, xset = allexcept;
        struct timeval tv, *tvp = NULL;
        int nready;
        if (idle > 0) { /* sleep no longer than the earliest idle deadline */
            double first = 0, now = now_s();
            for (i = 0; i <= maxi; i++)
                if (client[i].fd >= 0 && (first == 0 || client[i].deadline < first))
                    first = client[i].deadline;
            if (first > 0) {
                double left = first > now ? first - now : 0;
                tv.tv_sec = (time_t)left;
                tv.tv_usec = (suseconds_t)((left - (double)tv.tv_sec) * 1e6);
                tvp = &tv;
            }
        }
        nready = select(maxfd + 1, &rset, &wset, idle > 0 ? &xset : NULL, tvp);
        if (nready < 0) {
            if (errno == EINTR)
                continue;
            perror("select");
            return 1;
        }
        for (i = 0; i < 2 && nready > 0; i++) { /* new connections */
            struct sockaddr_in peer;
            socklen_t plen = sizeof peer;
            int cfd, j;
            if (!FD_ISSET(lfd[i], &rset))
                continue;
            nready--;
            cfd = accept4(lfd[i], (struct sockaddr *)&peer, &plen,
                          SOCK_CLOEXEC | SOCK_NONBLOCK);
            if (cfd < 0)
                continue;
            for (j = 0; j < FD_SETSIZE && client[j].fd >= 0; j++)
                ;
            if (j == FD_SETSIZE || cfd >= FD_SETSIZE) { /* too many clients */
                close(cfd);
                continue;
            }
            client[j].fd = cfd;
            client[j].port = ports[i];
            client[j].peer = peer;
            client[j].deadline = now_s() + idle;
            FD_SET(cfd, &allread);
            if (idle > 0)
                FD_SET(cfd, &allexcept);
            if (cfd > maxfd)
                maxfd = cfd;
            if (j > maxi)
                maxi = j;
        }
        /* Check all clients (with -t, every one, for idle deadlines). */
        for (i = 0; i <= maxi && (nready > 0 || idle > 0); i++) {
            struct client *c = &client[i];
            if (c->fd < 0)
                continue;
            if (idle > 0 && FD_ISSET(c->fd, &xset)) { /* urgent data */
                char oob;
                if (recv(c->fd, &oob, 1, MSG_OOB) == 1 && !quiet)
                    print_message(&c->peer, &oob, 1);
                nready--;
            }
            if (!FD_ISSET(c->fd, c->pending ? &wset : &rset)) {
                if (idle > 0 && now_s() >= c->deadline)
                    drop_client(c); /* idle too long */
                continue;
            }
            nready--;
            if (c->pending) {
                send_reply(c);
            } else {
                ssize_t n = recv(c->fd, buf, SIZE, 0);
                if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
                    continue;
                if (n < 0) {
                    drop_client(c);
                    continue;
                }
                if (!quiet)
                    print_message(&c->peer, buf, n);
                send_reply(c);
            }
        }
    }
}

/*
 * c_serial_server.c - the seed's stage-3 server (select on two listeners,
 * then serve one client at a time) in C: the baseline for
 * `pyselect-server --mode select`.
 *
 * Usage: c_serial_server PORT1 PORT2 [-q]
 *
 * Per connection: select() on both listeners, accept4(), a blocking
 * recv(1024), print "hello socketN" and the message line (not with -q),
 * reply "welcome <port>!" by the port the client reached, close().
 * Listens on 127.0.0.1 only; runs until killed (SIGTERM/SIGINT).
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
#include <unistd.h>

#define SIZE 1024

/* Bind and listen on 127.0.0.1:port with SO_REUSEADDR, as pyselect-server. */
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

/* Print "[('ip', port)] message : b'...'" in one write(2), as the seed does. */
static void print_message(const struct sockaddr_in *peer, const char *msg, ssize_t n)
{
    char line[SIZE * 4 + 128], ip[INET_ADDRSTRLEN];
    int len;
    ssize_t i;
    inet_ntop(AF_INET, &peer->sin_addr, ip, sizeof ip);
    len = snprintf(line, sizeof line, "[('%s', %d)] message : b'", ip, ntohs(peer->sin_port));
    for (i = 0; i < n; i++) { /* a small subset of Python's bytes repr */
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

int main(int argc, char **argv)
{
    int ports[2], lfd[2], quiet, i;
    char buf[SIZE], reply[32];

    if (argc < 3 || argc > 4) {
        fprintf(stderr, "usage: %s PORT1 PORT2 [-q]\n", argv[0]);
        return 2;
    }
    ports[0] = atoi(argv[1]);
    ports[1] = atoi(argv[2]);
    quiet = argc == 4 && strcmp(argv[3], "-q") == 0;
    lfd[0] = listen_on(ports[0]);
    lfd[1] = listen_on(ports[1]);

    for (;;) {
        fd_set rset;
        FD_ZERO(&rset);
        FD_SET(lfd[0], &rset);
        FD_SET(lfd[1], &rset);
        if (select((lfd[0] > lfd[1] ? lfd[0] : lfd[1]) + 1, &rset, NULL, NULL, NULL) < 0) {
            if (errno == EINTR)
                continue;
            perror("select");
            return 1;
        }
        for (i = 0; i < 2; i++) {
            struct sockaddr_in peer;
            socklen_t plen = sizeof peer;
            ssize_t n;
            int cfd, rlen;
            if (!FD_ISSET(lfd[i], &rset))
                continue;
            if (!quiet && write(1, i ? "hello socket2\n" : "hello socket1\n", 14) < 0)
                return 1;
            cfd = accept4(lfd[i], (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC);
            if (cfd < 0)
                continue; /* e.g. ECONNABORTED: the client is gone */
            n = recv(cfd, buf, SIZE, 0); /* blocking, as the seed */
            if (n >= 0) {
                if (!quiet)
                    print_message(&peer, buf, n);
                rlen = snprintf(reply, sizeof reply, "welcome %d!", ports[i]);
                /* MSG_NOSIGNAL: a client reset is an error, not a SIGPIPE death */
                (void)send(cfd, reply, (size_t)rlen, MSG_NOSIGNAL);
            }
            close(cfd);
        }
    }
}

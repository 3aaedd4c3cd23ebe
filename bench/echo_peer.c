/* bench/echo_peer.c: the C peer of bench/connect_proxy.sh, so that neither
 * end of a measured path is slower than what it measures (a Python echo
 * application capped the direct path and every forwarded path alike).
 *
 *   echo_peer serve PORT        echo on 127.0.0.1:PORT, a thread per connection
 *   echo_peer ping PORT N       N sequential 64-byte request/echo round trips
 *                               (after 200 of warm-up) on one connection;
 *                               prints "p50 p99 max" in microseconds
 *   echo_peer stream PORT MIB   MIB MiB echoed through one connection (a
 *                               sender and a reader thread); prints MiB/s
 *   echo_peer halfclose PORT N  sends N bytes, shuts its write side down and
 *                               reads to EOF; prints the bytes read back
 *
 * Built by bench/connect_proxy.sh with the system compiler; not part of
 * cairn. Exits 1 with a message on any error. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BUF (256 * 1024)

static void die(const char *what)
{
    fprintf(stderr, "echo_peer: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void nodelay(int fd)
{
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static struct sockaddr_in addr_of(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static int dial(int port)
{
    struct sockaddr_in a = addr_of(port);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)))
        die("connect");
    nodelay(fd);
    return fd;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void *echo_one(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char *b = malloc(BUF);
    nodelay(fd);
    for (;;) {
        ssize_t n = read(fd, b, BUF);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || write_all(fd, b, (size_t)n))
            break;
    }
    /* after the peer's EOF our own: a half-closing client reads it all */
    close(fd);
    free(b);
    return NULL;
}

static int serve(int port)
{
    struct sockaddr_in a = addr_of(port);
    int one = 1, l = socket(AF_INET, SOCK_STREAM, 0);
    if (l < 0)
        die("socket");
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 128))
        die("bind/listen");
    for (;;) {
        int c = accept(l, NULL, NULL);
        if (c < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            die("accept");
        }
        pthread_t t;
        if (pthread_create(&t, NULL, echo_one, (void *)(intptr_t)c))
            die("pthread_create");
        pthread_detach(t);
    }
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int ping(int port, long n)
{
    int fd = dial(port);
    char msg[64], got[64];
    memset(msg, 'x', sizeof(msg));
    uint64_t *t = malloc((size_t)n * sizeof(*t));
    if (!t)
        die("malloc");
    for (long i = 0; i < n + 200; i++) {
        uint64_t t0 = now_ns();
        if (write_all(fd, msg, sizeof(msg)))
            die("write");
        for (size_t have = 0; have < sizeof(got);) {
            ssize_t r = read(fd, got + have, sizeof(got) - have);
            if (r <= 0)
                die("read (the path closed)");
            have += (size_t)r;
        }
        if (i >= 200)
            t[i - 200] = now_ns() - t0;
    }
    close(fd);
    qsort(t, (size_t)n, sizeof(*t), cmp_u64);
    printf("%.1f %.1f %.1f\n", (double)t[n / 2] / 1e3, (double)t[(size_t)((double)n * 0.99)] / 1e3,
           (double)t[n - 1] / 1e3);
    free(t);
    return 0;
}

struct reader {
    int fd;
    uint64_t want, got;
};

static void *read_all(void *arg)
{
    struct reader *r = arg;
    char *b = malloc(BUF);
    while (r->got < r->want) {
        ssize_t n = read(r->fd, b, BUF);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        r->got += (uint64_t)n;
    }
    free(b);
    return NULL;
}

static int stream(int port, long mib)
{
    int fd = dial(port);
    struct reader r = {.fd = fd, .want = (uint64_t)mib << 20};
    char *chunk = malloc(65536);
    if (!chunk)
        die("malloc");
    memset(chunk, 'y', 65536);
    pthread_t t;
    uint64_t t0 = now_ns();
    if (pthread_create(&t, NULL, read_all, &r))
        die("pthread_create");
    for (uint64_t sent = 0; sent < r.want; sent += 65536)
        if (write_all(fd, chunk, 65536))
            die("write");
    pthread_join(t, NULL);
    double dt = (double)(now_ns() - t0) / 1e9;
    close(fd);
    free(chunk);
    if (r.got != r.want) {
        fprintf(stderr, "echo_peer: read %llu of %llu bytes\n", (unsigned long long)r.got,
                (unsigned long long)r.want);
        return 1;
    }
    printf("%.1f\n", (double)r.want / dt / (1 << 20));
    return 0;
}

static int halfclose(int port, long n)
{
    int fd = dial(port);
    char *b = malloc(BUF);
    memset(b, 'h', BUF);
    for (long sent = 0; sent < n;) {
        size_t k = (size_t)(n - sent) < BUF ? (size_t)(n - sent) : BUF;
        if (write_all(fd, b, k))
            die("write");
        sent += (long)k;
    }
    shutdown(fd, SHUT_WR);
    long got = 0;
    for (;;) {
        ssize_t r = read(fd, b, BUF);
        if (r <= 0)
            break;
        got += r;
    }
    printf("%ld\n", got);
    return 0;
}

int main(int argc, char **argv)
{
    signal(SIGPIPE, SIG_IGN);
    if (argc == 3 && !strcmp(argv[1], "serve"))
        return serve(atoi(argv[2]));
    if (argc == 4 && !strcmp(argv[1], "ping"))
        return ping(atoi(argv[2]), atol(argv[3]));
    if (argc == 4 && !strcmp(argv[1], "stream"))
        return stream(atoi(argv[2]), atol(argv[3]));
    if (argc == 4 && !strcmp(argv[1], "halfclose"))
        return halfclose(atoi(argv[2]), atol(argv[3]));
    fprintf(stderr, "usage: echo_peer serve PORT | ping PORT N | stream PORT MIB | "
                    "halfclose PORT BYTES\n");
    return 2;
}

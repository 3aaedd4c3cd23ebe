/* base/sdnotify.c: see sdnotify.h. */
#include "base/sdnotify.h"

#include "base/err.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int cn_sd_notify_to(const char *addr, const char *state)
{
    if (!addr || !*addr)
        return 0;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    size_t n = strlen(addr);
    /* '/' a path; '@' the abstract namespace (a leading NUL byte). Anything
     * else (vsock "vsock:..." addresses of newer systemd) is not supported. */
    if ((addr[0] != '/' && addr[0] != '@') || n >= sizeof(sa.sun_path))
        return CN_EINVAL;
    memcpy(sa.sun_path, addr, n);
    if (addr[0] == '@')
        sa.sun_path[0] = '\0';
    socklen_t len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    if (addr[0] == '/')
        len++; /* the path's NUL */
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return CN_EIO;
    size_t sl = strlen(state);
    ssize_t w;
    do
        w = sendto(fd, state, sl, MSG_NOSIGNAL, (const struct sockaddr *)&sa, len);
    while (w < 0 && errno == EINTR);
    int rc = w >= 0 && (size_t)w == sl ? 1 : CN_EIO;
    close(fd);
    return rc;
}

int cn_sd_notify(const char *state)
{
    return cn_sd_notify_to(getenv("NOTIFY_SOCKET"), state);
}

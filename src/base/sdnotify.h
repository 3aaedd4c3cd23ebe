/* base/sdnotify.h: systemd's readiness protocol (sd_notify(3)), without
 * libsystemd. When the service manager starts cairn with Type=notify it sets
 * NOTIFY_SOCKET to an AF_UNIX datagram socket (a path, or "@name" for the
 * abstract namespace); each state change is one datagram of newline-separated
 * VAR=value assignments ("READY=1", "RELOADING=1", "STOPPING=1",
 * "STATUS=..."). Not started by systemd (NOTIFY_SOCKET unset): nothing is
 * sent. The protocol is documented and stable (sd_notify(3), "Notes"), and
 * is a dozen lines: a dependency on libsystemd for it is not worth it. */
#ifndef CN_BASE_SDNOTIFY_H
#define CN_BASE_SDNOTIFY_H

/* Send `state` to $NOTIFY_SOCKET. Returns 1 when sent, 0 when NOTIFY_SOCKET
 * is unset or empty, CN_EINVAL for an address that is neither a path nor
 * "@name" (or too long), CN_EIO when the datagram could not be sent (no
 * listener). Never blocks for long: the socket
 * is non-blocking. */
int cn_sd_notify(const char *state);

/* The same to an explicit socket address (path or "@abstract"); for tests. */
int cn_sd_notify_to(const char *addr, const char *state);

#endif

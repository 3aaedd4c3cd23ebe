/* gossip/keyfile.h: the keyring file on disk (Consul's
 * DATA_DIR/serf/local.keyring; the format is keyring.h's). Blocking file
 * I/O: at agent start, or on the libuv thread pool (net.c). */
#ifndef CN_GOSSIP_KEYFILE_H
#define CN_GOSSIP_KEYFILE_H

#include <stddef.h>

#include "gossip/keyring.h"

#define GOSSIP_KEYRING_PATH "serf/local.keyring"      /* under the data dir */
#define GOSSIP_WAN_KEYRING_PATH "serf/remote.keyring" /* a server's WAN pool (agent/wan.c) */

/* Read and parse: 0, CN_ENOTFOUND (no file), or another code with why in
 * err ("keyring file PATH: ..."). */
int gossip_keyring_load_file(const char *path, struct gossip_keyring *out, char *err,
                             size_t errcap);
/* Write data to path atomically (its directory created, mode 0700; the
 * file 0600, written to PATH.tmp, fsynced, renamed). 0 or an error with
 * why in err. */
int gossip_keyring_write_file(const char *path, const char *data, size_t len, char *err,
                              size_t errcap);

#endif

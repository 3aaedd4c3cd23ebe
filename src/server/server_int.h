/* server/server_int.h: private to server/. The watch registry (watch.c). */
#ifndef CN_SERVER_INT_H
#define CN_SERVER_INT_H

#include "server/server.h"

struct srv_watches;

struct srv_watches *srv__watches_new(void);
void srv__watches_free(struct srv_watches *ws);
int srv__watches_arm(struct srv_watches *ws, struct srv_watch *w, enum state_table t,
                     const char *key, bool prefix);
void srv__watches_disarm(struct srv_watches *ws, struct srv_watch *w);
/* A change at (t, key): move matching watches to the fired list. */
void srv__watches_change(struct srv_watches *ws, enum state_table t, const char *key,
                         uint64_t index);
/* Everything changed (a snapshot from the leader replaced the state): fire
 * every armed watch. */
void srv__watches_fire_all(struct srv_watches *ws, uint64_t index);
/* Run callbacks of everything fired so far (callbacks may re-arm). */
void srv__watches_flush(struct srv_watches *ws);
size_t srv__watches_count(const struct srv_watches *ws);

#endif

/* base/clock.h: clocks. Only the edges (agent, http, server) read clocks;
 * pure modules (state, storage format, raft) take time as an argument. */
#ifndef CN_CLOCK_H
#define CN_CLOCK_H

#include <stdint.h>

uint64_t cn_now_ms(void); /* monotonic milliseconds */
uint64_t cn_now_ns(void); /* monotonic nanoseconds */
int64_t cn_wall_ns(void); /* wall clock (CLOCK_REALTIME), nanoseconds since the epoch */

#endif

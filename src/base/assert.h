/* base/assert.h: checks of cairn's own invariants (docs/invariants.md).
 *
 *   CN_ASSERT(cond)     a debug check: evaluated in Debug/ASan builds and in
 *                       the simulator (any build without NDEBUG, or with
 *                       CN_ASSERT_ON defined: cmake -DCAIRN_ASSERT=ON, which
 *                       scripts/sim.sh uses for its release build). Elsewhere
 *                       compiled out, but `cond` is still type-checked and
 *                       never evaluated, so it must have no side effects.
 *   CN_INVARIANT(cond)  always on, in every build: for the few states where
 *                       continuing would corrupt durable data (a term or commit
 *                       index going backwards, a gap in the log). Stopping the
 *                       process is the safe choice there: a restart recovers
 *                       from what is on disk.
 *
 * On failure both print "file:line: invariant failed: expr" to stderr and
 * abort(), so ASan, ctest and the simulator report it with a stack.
 *
 * Never use them on input from sockets, files, flags or peers: such input is
 * validated and rejected with an error code. A failing assertion is a bug in
 * cairn, never in its environment. */
#ifndef CN_ASSERT_H
#define CN_ASSERT_H

_Noreturn void cn__assert_fail(const char *file, int line, const char *expr);

#define CN_INVARIANT(cond) ((cond) ? (void)0 : cn__assert_fail(__FILE__, __LINE__, #cond))

#if !defined(NDEBUG) || defined(CN_ASSERT_ON)
#define CN_ASSERT_ENABLED 1
#define CN_ASSERT(cond) CN_INVARIANT(cond)
#else
#define CN_ASSERT_ENABLED 0
#define CN_ASSERT(cond) ((void)sizeof((cond) ? 1 : 0))
#endif

#endif

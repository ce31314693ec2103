/*
 * team.h: a fixed team of compute threads for the data-parallel loops of
 * training (the ops' forward and backward split their batch, channels or
 * elements into one part per thread).
 *
 * The caller is part 0 and runs its share itself; the other parts run on
 * threads created once, with every signal blocked, so that in a PostgreSQL
 * backend the signal handlers still run on the backend's own thread.  A part
 * only computes on memory its caller prepared: it never allocates, never
 * polls the env's interrupt hook (part 0 does, and tells the others through
 * the work's own stop flag), never reports errors.  A run returns when every
 * part has finished, so nothing of a run outlives it.
 *
 * A NULL team is a team of one: sp_team_run calls fn(ctx, 0, 1) directly.
 * How work is split depends only on the team's size, never on timing, so a
 * run is reproducible for a given number of threads.
 */
#ifndef SP_TEAM_H
#define SP_TEAM_H

#include "util/sp_common.h"

#include <stdint.h>

#define SP_TEAM_MAX 64

typedef struct sp_team sp_team;
typedef void (*sp_team_fn) (void *ctx, int part, int parts);

/*
 * A team of threads threads (1..SP_TEAM_MAX, the caller included; 1 creates
 * no thread).  Its memory comes from malloc, not from the env: the threads
 * hold it until sp_team_free joins them, whatever becomes of the caller's
 * memory contexts.
 */
extern sp_status sp_team_create(int threads, sp_team **out, sp_error *err);
extern void sp_team_free(sp_team *t);
extern int	sp_team_size(const sp_team *t);
extern void sp_team_run(sp_team *t, sp_team_fn fn, void *ctx);

/* The share [*lo, *hi) of n items that part of parts takes: contiguous, sizes differing by at most 1. */
static inline void
sp_team_range(int64_t n, int part, int parts, int64_t *lo, int64_t *hi)
{
	*lo = n * part / parts;
	*hi = n * (part + 1) / parts;
}

#endif							/* SP_TEAM_H */

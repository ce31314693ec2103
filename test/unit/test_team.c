/*
 * test_team.c: util/team.h's threads: every part of a run runs once with
 * the right part and count, shares partition the work, a NULL team and a
 * team of one run on the caller, and bad sizes are refused.
 */
#include "unit.h"
#include "util/team.h"

#include <pthread.h>
#include <stdbool.h>

typedef struct team_probe
{
	int			calls[SP_TEAM_MAX];
	int			parts_seen[SP_TEAM_MAX];
	pthread_t	thread[SP_TEAM_MAX];
	int64_t		n;
	int64_t	   *hits;			/* n counters: how often each item was taken */
} team_probe;

static void
probe_part(void *ctx, int part, int parts)
{
	team_probe *p = ctx;
	int64_t		lo,
				hi;

	p->calls[part]++;
	p->parts_seen[part] = parts;
	p->thread[part] = pthread_self();
	sp_team_range(p->n, part, parts, &lo, &hi);
	for (int64_t i = lo; i < hi; i++)
		p->hits[i]++;
}

SP_TEST(team_runs_every_part_once)
{
	int64_t		hits[1000];

	for (int size = 1; size <= 5; size++)
	{
		sp_team    *t;
		sp_error	err;

		REQUIRE(sp_team_create(size, &t, &err) == SP_OK);
		CHECK_EQ_INT(sp_team_size(t), size);
		/* many runs back to back: a lost wake-up or a double run shows as a wrong count */
		for (int64_t n = 0; n < 200; n++)
		{
			team_probe	p;
			bool		ok = true;

			memset(&p, 0, sizeof(p));
			memset(hits, 0, sizeof(hits));
			p.n = n * 5 % 997;
			p.hits = hits;
			sp_team_run(t, probe_part, &p);
			for (int k = 0; k < size; k++)
				ok = ok && p.calls[k] == 1 && p.parts_seen[k] == size;
			for (int k = size; k < SP_TEAM_MAX; k++)
				ok = ok && p.calls[k] == 0;
			for (int64_t i = 0; i < p.n; i++)
				ok = ok && hits[i] == 1;
			/* part 0 is the caller; the others are threads of their own */
			ok = ok && pthread_equal(p.thread[0], pthread_self());
			for (int k = 1; k < size; k++)
				ok = ok && !pthread_equal(p.thread[k], pthread_self());
			CHECK_MSG(ok, "team of %d, %lld items", size, (long long) p.n);
			if (!ok)
				break;
		}
		sp_team_free(t);
	}
}

SP_TEST(team_null_and_bad_sizes)
{
	team_probe	p;
	int64_t		hits[7] = {0};
	sp_team    *t = (sp_team *) 1;
	sp_error	err;

	memset(&p, 0, sizeof(p));
	p.n = 7;
	p.hits = hits;
	sp_team_run(NULL, probe_part, &p);
	CHECK_EQ_INT(sp_team_size(NULL), 1);
	CHECK(p.calls[0] == 1 && p.parts_seen[0] == 1 && pthread_equal(p.thread[0], pthread_self()));
	for (int i = 0; i < 7; i++)
		CHECK_EQ_INT(hits[i], 1);
	CHECK(sp_team_create(0, &t, &err) == SP_ERR_INVALID_ARG && t == NULL);
	CHECK(strstr(err.message, "outside 1..64") != NULL);
	CHECK(sp_team_create(SP_TEAM_MAX + 1, &t, &err) == SP_ERR_INVALID_ARG);
	sp_team_free(NULL);
}

SP_TEST(team_range_partitions)
{
	for (int64_t n = 0; n < 50; n++)
		for (int parts = 1; parts <= 7; parts++)
		{
			int64_t		next = 0;

			for (int part = 0; part < parts; part++)
			{
				int64_t		lo,
							hi;

				sp_team_range(n, part, parts, &lo, &hi);
				CHECK(lo == next && hi >= lo && hi - lo <= n / parts + 1 && hi - lo >= n / parts);
				next = hi;
			}
			CHECK_EQ_INT(next, n);
		}
}

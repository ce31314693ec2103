/*
 * test_metrics.c: self-test of tools/lib/metrics_eval.c (the tools are not
 * in the unit runner): the blocked-sgemm k-NN and the radix-sorted average
 * precision against brute force on random data, for both distances, with
 * and without leave-one-out.  Exit status 0 when every check passes.
 *
 *   tools/bin/test_metrics
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "metrics_eval.h"
#include "util/rng.h"

typedef struct scored
{
	double		d;
	int			j;
} scored;

static int
cmp_scored(const void *a, const void *b)
{
	const scored *x = a,
			   *y = b;

	if (x->d != y->d)
		return x->d < y->d ? -1 : 1;
	return x->j - y->j;
}

static int
check(int ng, int nq, int d, sp_distance_kind kind, bool self, uint64_t seed)
{
	const int	k = 5;
	float	   *g = malloc((size_t) ng * d * sizeof(float));
	int			nqa = self ? ng : nq;
	float	   *q;
	int		   *gl = malloc((size_t) ng * sizeof(int));
	int		   *ql;
	int		   *idx = malloc((size_t) nqa * k * sizeof(int));
	double	   *ap = malloc((size_t) nqa * sizeof(double));
	scored	   *s = malloc((size_t) ng * sizeof(scored));
	sp_rng		rng;
	sp_error	err;
	int			failures = 0;

	sp_rng_seed(&rng, seed, 0);
	for (int i = 0; i < ng * d; i++)
		g[i] = (float) sp_rng_normal(&rng);
	for (int i = 0; i < ng; i++)
		gl[i] = (int) sp_rng_uniform_int(&rng, 4);
	if (self)
	{
		q = g;
		ql = gl;
		nq = ng;
	}
	else
	{
		q = malloc((size_t) nq * d * sizeof(float));
		ql = malloc((size_t) nq * sizeof(int));
		for (int i = 0; i < nq * d; i++)
			q[i] = (float) sp_rng_normal(&rng);
		for (int i = 0; i < nq; i++)
			ql[i] = (int) sp_rng_uniform_int(&rng, 4);
	}
	if (fm_knn(sp_env_default(), g, gl, ng, q, ql, nq, d, kind, self, k, idx, ap, &err) != SP_OK)
	{
		fprintf(stderr, "fm_knn failed: %s\n", err.message);
		return 1;
	}
	for (int i = 0; i < nq; i++)
	{
		int			n = 0,
					rel = 0,
					hits = 0;
		double		sum = 0;

		for (int j = 0; j < ng; j++)
		{
			if (self && j == i)
				continue;
			s[n].d = sp_dist(kind, q + (size_t) i * d, g + (size_t) j * d, (size_t) d);
			s[n].j = j;
			rel += gl[j] == ql[i];
			n++;
		}
		qsort(s, (size_t) n, sizeof(scored), cmp_scored);
		for (int t = 0; t < k; t++)
		{
			/* float vs double rounding may swap near-ties: compare distances */
			double		got = sp_dist(kind, q + (size_t) i * d, g + (size_t) idx[i * k + t] * d, (size_t) d);

			if (fabs(got - s[t].d) > 1e-4 * (1 + fabs(s[t].d)))
			{
				fprintf(stderr, "query %d rank %d: got %d (%g), want %d (%g)\n", i, t, idx[i * k + t], got,
						s[t].j, s[t].d);
				failures++;
			}
		}
		for (int t = 0; t < n; t++)
			if (gl[s[t].j] == ql[i])
				sum += (double) ++hits / (t + 1);
		if (fabs((rel ? sum / rel : 0) - ap[i]) > 1e-3)
		{
			fprintf(stderr, "query %d: AP %g, brute force %g\n", i, ap[i], rel ? sum / rel : 0);
			failures++;
		}
	}
	printf("%s: ng=%d nq=%d d=%d %s%s\n", failures ? "FAIL" : "ok", ng, nq, d, sp_distance_kind_name(kind),
		   self ? " leave-one-out" : "");
	if (!self)
	{
		free(q);
		free(ql);
	}
	free(g);
	free(gl);
	free(idx);
	free(ap);
	free(s);
	return failures != 0;
}

int
main(void)
{
	int			fail = 0;

	fail += check(1000, 300, 16, SP_DISTANCE_COSINE, false, 1);
	fail += check(1000, 300, 16, SP_DISTANCE_L2, false, 2);
	fail += check(700, 0, 8, SP_DISTANCE_COSINE, true, 3);
	fail += check(700, 0, 3, SP_DISTANCE_L2, true, 4);
	fail += check(257, 129, 2, SP_DISTANCE_L2, false, 5);
	printf("%s\n", fail ? "FAILED" : "all metric checks passed");
	return fail != 0;
}

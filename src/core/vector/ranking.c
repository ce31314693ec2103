/*
 * ranking.c: verification AUC and threshold over distance pairs, and the
 * average precision of a ranked gallery (ranking.h).
 */
#include "vector/ranking.h"

#include <stdlib.h>
#include <string.h>

static int
cmp_pair(const void *a, const void *b)
{
	double		x = ((const sp_pair_d *) a)->d,
				y = ((const sp_pair_d *) b)->d;

	return x < y ? -1 : x > y;
}

void
sp_pairs_sort(sp_pair_d *p, int n)
{
	qsort(p, (size_t) n, sizeof(sp_pair_d), cmp_pair);
}

double
sp_pairs_auc(sp_pair_d *p, int n)
{
	double		rank_sum = 0;
	long		npos = 0,
				nneg = 0;

	sp_pairs_sort(p, n);
	/* ascending distance = descending score: rank from the far end */
	for (int i = 0; i < n;)
	{
		int			j = i;
		double		avg;

		while (j < n && p[j].d == p[i].d)
			j++;
		/* ranks by ascending score: position n - k for sorted index k */
		avg = ((double) (n - i) + (double) (n - j + 1)) / 2.0;
		for (int t = i; t < j; t++)
			if (p[t].same)
				rank_sum += avg;
		i = j;
	}
	for (int i = 0; i < n; i++)
	{
		if (p[i].same)
			npos++;
		else
			nneg++;
	}
	return (rank_sum - (double) npos * (npos + 1) / 2.0) / ((double) npos * nneg);
}

double
sp_pairs_best_threshold(const sp_pair_d *p, int n, double *acc)
{
	long		same_total = 0,
				same_below = 0,
				diff_below = 0;
	double		best_acc,
				best_t;

	for (int i = 0; i < n; i++)
		same_total += p[i].same;
	/* threshold below everything */
	best_acc = (double) (n - same_total) / n;
	best_t = p[0].d - 1e-6;
	for (int i = 0; i < n; i++)
	{
		double		a;

		if (p[i].same)
			same_below++;
		else
			diff_below++;
		if (i + 1 < n && p[i + 1].d == p[i].d)
			continue;
		a = (double) (same_below + (n - same_total - diff_below)) / n;
		if (a > best_acc)
		{
			best_acc = a;
			best_t = i + 1 < n ? (p[i].d + p[i + 1].d) / 2 : p[i].d + 1e-6;
		}
	}
	*acc = best_acc;
	return best_t;
}

/* Float -> uint32 whose unsigned order is the DESCENDING float order. */
static inline uint32_t
desc_key(float f)
{
	uint32_t	u;

	memcpy(&u, &f, 4);
	u = (u & 0x80000000u) ? ~u : (u | 0x80000000u);	/* ascending order */
	return ~u;
}

uint64_t
sp_ap_key(float score, bool relevant)
{
	return ((uint64_t) desc_key(score) << 32) | (uint64_t) relevant;
}

double
sp_average_precision(uint64_t *a, uint64_t *tmp, int n, int relevant)
{
	static const int shifts[3] = {32, 43, 54};
	double		sum = 0;
	int			hits = 0;

	if (relevant <= 0)
		return 0;
	for (int p = 0; p < 3; p++)
	{
		int			cnt[2048];
		int			sh = shifts[p];
		uint64_t   *t;

		memset(cnt, 0, sizeof(cnt));
		for (int i = 0; i < n; i++)
			cnt[(a[i] >> sh) & 2047]++;
		for (int i = 0, s = 0; i < 2048; i++)
		{
			int			c = cnt[i];

			cnt[i] = s;
			s += c;
		}
		for (int i = 0; i < n; i++)
			tmp[cnt[(a[i] >> sh) & 2047]++] = a[i];
		t = a;
		a = tmp;
		tmp = t;
	}
	/* after an odd number of passes the sorted data is in "a" (swapped) */
	for (int i = 0; i < n; i++)
	{
		if (a[i] & 1)
		{
			hits++;
			sum += (double) hits / (double) (i + 1);
		}
	}
	return sum / relevant;
}

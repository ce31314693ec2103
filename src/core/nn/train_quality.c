/*
 * train_quality.c: the held-out measurement of a trained model
 * (train_quality.h), from its embeddings: retrieval (1-NN, mAP),
 * verification (AUC, threshold) and few-shot (temperature, 1-shot accuracy).
 */
#include "nn/train_quality.h"
#include "vector/fewshot.h"
#include "util/rng.h"
#include "vector/calibration.h"
#include "vector/ranking.h"

#include <math.h>
#include <string.h>

#define QUALITY_PAIRS 10000
#define QUALITY_EPISODES 300
#define QUALITY_MAX_WAY 10
#define QUALITY_QUERIES_PER_CLASS 5

typedef struct
{
	int		   *train,			/* per class, its training images */
			   *val;			/* per class, its held-out images */
	int			n_train,
				n_val;
} class_lists;

/* Each class's training and held-out images, in one allocation (lists[c] point into *block). */
static class_lists *
build_lists(const sp_env *env, const int *label, const int *held_out, int n, int n_classes, int **block)
{
	class_lists *l = sp_alloc_array(env, (size_t) n_classes, sizeof(class_lists));
	int		   *b = sp_alloc_array(env, (size_t) n > 0 ? (size_t) n : 1, sizeof(int));
	int			pos = 0;

	*block = b;
	if (!l || !b)
	{
		sp_free(env, l);
		sp_free(env, b);
		*block = NULL;
		return NULL;
	}
	memset(l, 0, sizeof(class_lists) * (size_t) n_classes);
	for (int i = 0; i < n; i++)
	{
		if (held_out[i])
			l[label[i]].n_val++;
		else
			l[label[i]].n_train++;
	}
	for (int c = 0; c < n_classes; c++)
	{
		l[c].train = b + pos;
		pos += l[c].n_train;
		l[c].val = b + pos;
		pos += l[c].n_val;
		l[c].n_train = l[c].n_val = 0;
	}
	for (int i = 0; i < n; i++)
	{
		class_lists *c = &l[label[i]];

		if (held_out[i])
			c->val[c->n_val++] = i;
		else
			c->train[c->n_train++] = i;
	}
	return l;
}

static double
dist_of(const float *emb, int dim, sp_distance_kind kind, int i, int j)
{
	return sp_dist(kind, emb + (size_t) i * dim, emb + (size_t) j * dim, (size_t) dim);
}

sp_status
sp_heldout_quality_measure(const sp_env *env, const float *emb, const int *label, const int *held_out,
						   int n, int dim, sp_distance_kind kind, int n_classes, uint64_t seed,
						   sp_heldout_quality *q, sp_error *err)
{
	int		   *train = NULL,
			   *block = NULL,
			   *eligible = NULL,
			   *y = NULL;
	uint64_t   *keys = NULL,
			   *tmp = NULL;
	double	   *rows = NULL;
	sp_pair_d  *pairs = NULL;
	class_lists *cl = NULL;
	int			n_train = 0,
				n_eligible = 0;
	double		hits = 0,
				ap_sum = 0;
	sp_status	st = SP_OK;
	sp_rng		rng;

	memset(q, 0, sizeof(*q));
	if (!emb || !label || !held_out || n < 1 || dim < 1 || n_classes < 2)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "held-out quality: invalid arguments");
	for (int i = 0; i < n; i++)
	{
		if (label[i] < 0 || label[i] >= n_classes)
			return sp_set_error(err, SP_ERR_INVALID_ARG, "held-out quality: label %d outside 0..%d",
								label[i], n_classes - 1);
		if (held_out[i])
			q->queries++;
		else
			n_train++;
	}
	if (q->queries == 0 || n_train == 0)
		return SP_OK;			/* nothing to measure */
	train = sp_alloc_array(env, (size_t) n_train, sizeof(int));
	keys = sp_alloc_array(env, (size_t) n_train, sizeof(uint64_t));
	tmp = sp_alloc_array(env, (size_t) n_train, sizeof(uint64_t));
	cl = build_lists(env, label, held_out, n, n_classes, &block);
	eligible = sp_alloc_array(env, (size_t) n_classes, sizeof(int));
	pairs = sp_alloc_array(env, QUALITY_PAIRS, sizeof(sp_pair_d));
	rows = sp_alloc_array(env, (size_t) 2 * QUALITY_EPISODES * QUALITY_MAX_WAY * QUALITY_QUERIES_PER_CLASS * QUALITY_MAX_WAY,
						  sizeof(double));
	y = sp_alloc_array(env, (size_t) 2 * QUALITY_EPISODES * QUALITY_MAX_WAY * QUALITY_QUERIES_PER_CLASS, sizeof(int));
	if (!train || !keys || !tmp || !cl || !eligible || !pairs || !rows || !y)
	{
		st = sp_set_error(err, SP_ERR_NOMEM, "out of memory measuring the held-out images");
		goto done;
	}
	for (int i = 0, t = 0; i < n; i++)
		if (!held_out[i])
			train[t++] = i;

	/* retrieval: each held-out image against every training image */
	for (int i = 0; i < n; i++)
	{
		double		best = INFINITY;
		int			best_label = -1;

		if (!held_out[i])
			continue;
		if (sp_env_interrupted(env))
		{
			st = sp_set_error(err, SP_ERR_INTERRUPTED, "measuring the held-out images interrupted");
			goto done;
		}
		for (int t = 0; t < n_train; t++)
		{
			double		d = dist_of(emb, dim, kind, i, train[t]);

			if (d < best)
			{
				best = d;
				best_label = label[train[t]];
			}
			keys[t] = sp_ap_key((float) -d, label[train[t]] == label[i]);
		}
		hits += best_label == label[i];
		ap_sum += sp_average_precision(keys, tmp, n_train, cl[label[i]].n_train);
	}
	q->nn1 = hits / q->queries;
	q->map = ap_sum / q->queries;

	/* verification: balanced pairs of a held-out and a training image */
	for (int c = 0; c < n_classes; c++)
		if (cl[c].n_val > 0 && cl[c].n_train > 0)
			eligible[n_eligible++] = c;
	sp_rng_seed(&rng, seed, 1);
	if (n_eligible >= 2)
	{
		for (int p = 0; p < QUALITY_PAIRS; p++)
		{
			int			c = eligible[sp_rng_uniform_int(&rng, (uint64_t) n_eligible)];
			int			i = cl[c].val[sp_rng_uniform_int(&rng, (uint64_t) cl[c].n_val)];
			int			c2 = c;

			if (p >= QUALITY_PAIRS / 2)
				while (c2 == c)
					c2 = eligible[sp_rng_uniform_int(&rng, (uint64_t) n_eligible)];
			pairs[p].d = dist_of(emb, dim, kind, i, cl[c2].train[sp_rng_uniform_int(&rng, (uint64_t) cl[c2].n_train)]);
			pairs[p].same = c2 == c;
		}
		q->pairs = QUALITY_PAIRS;
		q->auc = sp_pairs_auc(pairs, QUALITY_PAIRS);	/* sorts the pairs */
		q->threshold = sp_pairs_best_threshold(pairs, QUALITY_PAIRS, &q->verif_acc);

		/* few-shot episodes: N classes, K-shot support, held-out queries */
		{
			int			way = n_eligible < QUALITY_MAX_WAY ? n_eligible : QUALITY_MAX_WAY;
			long		nrows = 0,
						right1 = 0,
						rows1 = 0;
			int			chosen[QUALITY_MAX_WAY];

			for (int shots = 1; shots <= 5; shots += 4)
				for (int e = 0; e < QUALITY_EPISODES; e++)
				{
					int			support[QUALITY_MAX_WAY][5];

					if (sp_env_interrupted(env))
					{
						st = sp_set_error(err, SP_ERR_INTERRUPTED, "measuring the held-out images interrupted");
						goto done;
					}
					/* way distinct classes: a partial shuffle of the eligible ones */
					for (int k = 0; k < way; k++)
					{
						int			r = k + (int) sp_rng_uniform_int(&rng, (uint64_t) (n_eligible - k));
						int			t = eligible[k];

						eligible[k] = eligible[r];
						eligible[r] = t;
						chosen[k] = eligible[k];
						for (int s = 0; s < shots; s++)
							support[k][s] = cl[chosen[k]].train[sp_rng_uniform_int(&rng, (uint64_t) cl[chosen[k]].n_train)];
					}
					for (int k = 0; k < way; k++)
						for (int qn = 0; qn < QUALITY_QUERIES_PER_CLASS; qn++)
						{
							int			qi = cl[chosen[k]].val[sp_rng_uniform_int(&rng, (uint64_t) cl[chosen[k]].n_val)];
							double	   *row = rows + nrows * way;
							double		sd[QUALITY_MAX_WAY * 5];
							int			sl[QUALITY_MAX_WAY * 5],
										best = 0;

							/* classify's rule at k = 1: each class's nearest support image */
							for (int j = 0; j < way; j++)
								for (int s = 0; s < shots; s++)
								{
									sd[j * shots + s] = dist_of(emb, dim, kind, qi, support[j][s]);
									sl[j * shots + s] = j;
								}
							if ((st = sp_fewshot_label_distances(env, sd, sl, (size_t) way * shots, way, 1, row, err)) != SP_OK)
								goto done;
							for (int j = 1; j < way; j++)
								if (row[j] < row[best])
									best = j;
							y[nrows++] = k;
							if (shots == 1)
							{
								rows1++;
								right1 += best == k;
							}
						}
				}
			q->way = way;
			q->episodes = QUALITY_EPISODES;
			q->fewshot1 = (double) right1 / (double) rows1;
			q->temperature = sp_fit_temperature(rows, y, nrows, way);
		}
	}
done:
	sp_free(env, train);
	sp_free(env, keys);
	sp_free(env, tmp);
	sp_free(env, cl);
	sp_free(env, block);
	sp_free(env, eligible);
	sp_free(env, pairs);
	sp_free(env, rows);
	sp_free(env, y);
	return st;
}

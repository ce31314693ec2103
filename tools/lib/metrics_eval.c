/*
 * metrics_eval.c: quality measurements of an embedding model (see
 * metrics_eval.h): exact k-NN and average precision with a blocked sgemm
 * over the whole gallery, verification ROC AUC with a calibrated
 * threshold, and N-way K-shot episodes with a calibrated softmax
 * temperature.  Everything is seeded (sp_rng) and deterministic.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cblas.h>

#include "metrics_eval.h"
#include "util/rng.h"
#include "vector/calibration.h"
#include "vector/ranking.h"

#define QBLOCK 128
#define NCLASS 10
#define CALIB_END 5000			/* test [0, 5000): calibration; [5000, n): evaluation */

sp_status
fm_embed(const sp_env *env, const sp_nn_model *model, const uint8_t *pixels, int n, int rows,
		 int cols, float *out, sp_error *err)
{
	sp_nn_workspace *ws;
	sp_image	imgs[256];
	sp_status	st;
	int			dim = sp_nn_model_dim(model);

	if ((st = sp_nn_workspace_create(env, model, 256, &ws, err)) != SP_OK)
		return st;
	for (int start = 0; start < n && st == SP_OK; start += 256)
	{
		int			cnt = n - start < 256 ? n - start : 256;

		for (int i = 0; i < cnt; i++)
		{
			imgs[i].width = cols;
			imgs[i].height = rows;
			imgs[i].channels = 1;
			imgs[i].pixels = (uint8_t *) pixels + (size_t) (start + i) * rows * cols;
		}
		st = sp_nn_embed_images(env, model, ws, imgs, cnt, out + (size_t) start * dim, err);
	}
	sp_nn_workspace_free(env, ws);
	return st;
}

/* Copy of x (n x d), rows L2-normalised. */
static float *
normalised_copy(const float *x, int n, int d)
{
	float	   *y = malloc((size_t) n * d * sizeof(float));

	if (!y)
		return NULL;
	for (int i = 0; i < n; i++)
	{
		double		s = 0;

		for (int k = 0; k < d; k++)
			s += (double) x[(size_t) i * d + k] * x[(size_t) i * d + k];
		s = s > 0 ? 1.0 / sqrt(s) : 0;
		for (int k = 0; k < d; k++)
			y[(size_t) i * d + k] = (float) (x[(size_t) i * d + k] * s);
	}
	return y;
}

sp_status
fm_knn(const sp_env *env, const float *gal, const int *gal_lab, int ng, const float *qry,
	   const int *q_lab, int nq, int d, sp_distance_kind kind, bool exclude_self, int k, int *idx,
	   double *ap, sp_error *err)
{
	float	   *g = NULL,
			   *q = NULL,
			   *g2 = NULL,
			   *scores = NULL;
	uint64_t   *keys = NULL,
			   *tmp = NULL;
	int			class_count[256] = {0};
	sp_status	st = SP_OK;

	(void) env;
	if (k < 1 || k > 8 || ng < k + 1 || nq < 1 || d < 1)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "fm_knn: invalid arguments");
	for (int i = 0; i < ng; i++)
		class_count[gal_lab[i] & 255]++;
	if (kind == SP_DISTANCE_COSINE)
	{
		g = normalised_copy(gal, ng, d);
		q = normalised_copy(qry, nq, d);
	}
	g2 = malloc((size_t) ng * sizeof(float));
	scores = malloc((size_t) QBLOCK * ng * sizeof(float));
	if (ap)
	{
		keys = malloc((size_t) ng * sizeof(uint64_t));
		tmp = malloc((size_t) ng * sizeof(uint64_t));
	}
	if ((kind == SP_DISTANCE_COSINE && (!g || !q)) || !g2 || !scores || (ap && (!keys || !tmp)))
	{
		st = sp_set_error(err, SP_ERR_NOMEM, "out of memory in k-NN evaluation");
		goto done;
	}
	if (kind != SP_DISTANCE_COSINE)
	{
		g = (float *) gal;
		q = (float *) qry;
	}
	for (int j = 0; j < ng; j++)
	{
		double		s = 0;

		for (int t = 0; t < d; t++)
			s += (double) g[(size_t) j * d + t] * g[(size_t) j * d + t];
		g2[j] = (float) s;
	}
	for (int q0 = 0; q0 < nq; q0 += QBLOCK)
	{
		int			qb = nq - q0 < QBLOCK ? nq - q0 : QBLOCK;

		/* score = q.g (cosine) or 2 q.g - |g|^2 (= |q|^2 - |q-g|^2, same order) */
		cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, qb, ng, d, kind == SP_DISTANCE_COSINE ? 1.0f : 2.0f,
					q + (size_t) q0 * d, d, g, d, 0.0f, scores, ng);
		for (int i = 0; i < qb; i++)
		{
			float	   *row = scores + (size_t) i * ng;
			int			qi = q0 + i;
			float		best[8];
			int			bi[8];
			int			nb = 0;

			if (kind != SP_DISTANCE_COSINE)
				for (int j = 0; j < ng; j++)
					row[j] -= g2[j];
			if (exclude_self)
				row[qi] = -INFINITY;
			for (int j = 0; j < ng; j++)
			{
				float		s = row[j];
				int			p;

				if (nb == k && s <= best[k - 1])
					continue;
				p = nb < k ? nb++ : k - 1;
				while (p > 0 && best[p - 1] < s)
				{
					best[p] = best[p - 1];
					bi[p] = bi[p - 1];
					p--;
				}
				best[p] = s;
				bi[p] = j;
			}
			memcpy(idx + (size_t) qi * k, bi, (size_t) k * sizeof(int));
			if (ap)
			{
				int			n = 0;
				int			rel = class_count[q_lab[qi] & 255] - (exclude_self ? 1 : 0);

				for (int j = 0; j < ng; j++)
				{
					if (exclude_self && j == qi)
						continue;
					keys[n++] = sp_ap_key(row[j], gal_lab[j] == q_lab[qi]);
				}
				ap[qi] = sp_average_precision(keys, tmp, n, rel);
			}
		}
	}
done:
	if (kind == SP_DISTANCE_COSINE)
	{
		free(g);
		free(q);
	}
	free(g2);
	free(scores);
	free(keys);
	free(tmp);
	return st;
}

/* ---------------------------------------------------------------------- */
/* Verification pairs. */

/* n balanced pairs (n/2 same label, n/2 different) from test images [lo, hi). */
static void
make_pairs(sp_rng *rng, const float *emb, const int *lab, int lo, int hi, int d, sp_distance_kind kind,
		   sp_pair_d *out, int n)
{
	for (int p = 0; p < n; p++)
	{
		int			want_same = p < n / 2;

		for (;;)
		{
			int			i = lo + (int) sp_rng_uniform_int(rng, (uint64_t) (hi - lo));
			int			j = lo + (int) sp_rng_uniform_int(rng, (uint64_t) (hi - lo));

			if (i == j || (lab[i] == lab[j]) != want_same)
				continue;
			out[p].d = sp_dist(kind, emb + (size_t) i * d, emb + (size_t) j * d, (size_t) d);
			out[p].same = want_same;
			break;
		}
	}
}

/* ---------------------------------------------------------------------- */
/* Few-shot episodes. */

typedef struct class_index
{
	int		   *idx[NCLASS];
	int			n[NCLASS];
} class_index;

static bool
class_index_build(class_index *ci, const int *lab, int lo, int hi)
{
	memset(ci, 0, sizeof(*ci));
	for (int c = 0; c < NCLASS; c++)
	{
		ci->idx[c] = malloc((size_t) (hi - lo + 1) * sizeof(int));
		if (!ci->idx[c])
			return false;
	}
	for (int i = lo; i < hi; i++)
		if (lab[i] >= 0 && lab[i] < NCLASS)
			ci->idx[lab[i]][ci->n[lab[i]]++] = i;
	return true;
}

static void
class_index_free(class_index *ci)
{
	for (int c = 0; c < NCLASS; c++)
		free(ci->idx[c]);
}

/* k distinct random members of class c */
static void
sample_distinct(sp_rng *rng, const class_index *ci, int c, int k, int *out)
{
	for (int t = 0; t < k; t++)
	{
		for (;;)
		{
			int			v = ci->idx[c][sp_rng_uniform_int(rng, (uint64_t) ci->n[c])];
			bool		dup = false;

			for (int u = 0; u < t; u++)
				dup |= out[u] == v;
			if (!dup || ci->n[c] <= t)
			{
				out[t] = v;
				break;
			}
		}
	}
}

/*
 * Run episodes: 10-way, shots per class from the train set, qpc queries per
 * class from test [lo, hi).  Writes per query the 10 class distances
 * (nearest support of the class) into dist (episodes*10*qpc x 10) and the
 * label into y; returns accuracy.  proto_acc (nullable): nearest class mean.
 */
static double
run_episodes(sp_rng *rng, const float *tr, const class_index *tr_ci, const float *te,
			 const class_index *te_ci, int d, sp_distance_kind kind, int episodes, int shots, int qpc,
			 double *dist, int *y, double *proto_acc)
{
	long		correct = 0,
				pcorrect = 0,
				total = 0;
	int			sup[NCLASS][16];
	float	   *proto = malloc((size_t) NCLASS * d * sizeof(float));

	for (int e = 0; e < episodes; e++)
	{
		for (int c = 0; c < NCLASS; c++)
		{
			sample_distinct(rng, tr_ci, c, shots, sup[c]);
			if (proto)
			{
				for (int t = 0; t < d; t++)
				{
					double		s = 0;

					for (int k = 0; k < shots; k++)
						s += tr[(size_t) sup[c][k] * d + t];
					proto[(size_t) c * d + t] = (float) (s / shots);
				}
			}
		}
		for (int c = 0; c < NCLASS; c++)
		{
			for (int qn = 0; qn < qpc; qn++)
			{
				int			qi = te_ci->idx[c][sp_rng_uniform_int(rng, (uint64_t) te_ci->n[c])];
				const float *qe = te + (size_t) qi * d;
				double	   *dv = dist + (size_t) total * NCLASS;
				int			best = 0,
							pbest = 0;
				double		pd = INFINITY;

				for (int k = 0; k < NCLASS; k++)
				{
					double		m = INFINITY;

					for (int s = 0; s < shots; s++)
					{
						double		v = sp_dist(kind, qe, tr + (size_t) sup[k][s] * d, (size_t) d);

						if (v < m)
							m = v;
					}
					dv[k] = m;
					if (m < dv[best])
						best = k;
					if (proto)
					{
						double		v = sp_dist(kind, qe, proto + (size_t) k * d, (size_t) d);

						if (v < pd)
						{
							pd = v;
							pbest = k;
						}
					}
				}
				y[total] = c;
				correct += best == c;
				pcorrect += pbest == c;
				total++;
			}
		}
	}
	free(proto);
	if (proto_acc)
		*proto_acc = (double) pcorrect / (double) total;
	return (double) correct / (double) total;
}

sp_status
fm_evaluate(const sp_env *env, const float *train_emb, const int *train_lab, int ntrain,
			const float *test_emb, const int *test_lab, int ntest, int d, sp_distance_kind kind,
			uint64_t seed, fm_quality *q, sp_error *err)
{
	int		   *idx = malloc((size_t) ntest * 8 * sizeof(int));
	double	   *ap = malloc((size_t) ntest * sizeof(double));
	sp_status	st;
	long		c1 = 0,
				c5 = 0;
	double		apsum = 0;
	struct timespec t0,
				t1;
	const int	calib_pairs = 10000,
				eval_pairs = 10000;
	const int	cal_eps = 300,
				eval_eps = 1000,
				qpc = 10;
	sp_pair_d  *pairs = NULL;
	double	   *dist = NULL;
	int		   *y = NULL;
	class_index tr_ci,
				cal_ci,
				ev_ci;
	sp_rng		rng;
	long		ncal;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(q, 0, sizeof(*q));
	if (!idx || !ap)
	{
		free(idx);
		free(ap);
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory in evaluation");
	}
	if (ntest <= CALIB_END + 100)
	{
		free(idx);
		free(ap);
		return sp_set_error(err, SP_ERR_INVALID_ARG, "evaluation needs more than %d test images", CALIB_END + 100);
	}

	/* k-NN accuracy and mAP against the training gallery */
	st = fm_knn(env, train_emb, train_lab, ntrain, test_emb, test_lab, ntest, d, kind, false, 5, idx, ap, err);
	if (st != SP_OK)
		goto out;
	for (int i = 0; i < ntest; i++)
	{
		int			votes[NCLASS] = {0};
		int			best = -1;

		c1 += train_lab[idx[i * 5]] == test_lab[i];
		for (int k = 0; k < 5; k++)
			votes[train_lab[idx[i * 5 + k]]]++;
		/* most votes; ties go to the class whose member ranks first */
		for (int k = 0; k < 5; k++)
		{
			int			c = train_lab[idx[i * 5 + k]];

			if (best < 0 || votes[c] > votes[best])
				best = c;
		}
		c5 += best == test_lab[i];
		apsum += ap[i];
	}
	q->knn1 = (double) c1 / ntest;
	q->knn5 = (double) c5 / ntest;
	q->map = apsum / ntest;

	/* Recall@1 within the test set (leave-one-out) */
	st = fm_knn(env, test_emb, test_lab, ntest, test_emb, test_lab, ntest, d, kind, true, 1, idx, NULL, err);
	if (st != SP_OK)
		goto out;
	c1 = 0;
	for (int i = 0; i < ntest; i++)
		c1 += test_lab[idx[i]] == test_lab[i];
	q->recall_at_1 = (double) c1 / ntest;

	/* verification: calibrate on test [0, 5000), evaluate on [5000, n) */
	pairs = malloc((size_t) (calib_pairs > eval_pairs ? calib_pairs : eval_pairs) * sizeof(sp_pair_d));
	dist = malloc((size_t) (eval_eps > cal_eps ? eval_eps : cal_eps) * 2 * NCLASS * qpc * NCLASS * sizeof(double));
	y = malloc((size_t) (eval_eps > cal_eps ? eval_eps : cal_eps) * 2 * NCLASS * qpc * sizeof(int));
	if (!pairs || !dist || !y || !class_index_build(&tr_ci, train_lab, 0, ntrain))
	{
		st = sp_set_error(err, SP_ERR_NOMEM, "out of memory in evaluation");
		goto out;
	}
	sp_rng_seed(&rng, seed, 1);
	make_pairs(&rng, test_emb, test_lab, 0, CALIB_END, d, kind, pairs, calib_pairs);
	sp_pairs_sort(pairs, calib_pairs);
	q->threshold = sp_pairs_best_threshold(pairs, calib_pairs, &q->verif_acc_calib);
	sp_rng_seed(&rng, seed, 2);
	make_pairs(&rng, test_emb, test_lab, CALIB_END, ntest, d, kind, pairs, eval_pairs);
	q->auc = sp_pairs_auc(pairs, eval_pairs);
	{
		long		ok = 0;

		for (int i = 0; i < eval_pairs; i++)
			ok += (pairs[i].d <= q->threshold) == (pairs[i].same != 0);
		q->verif_acc = (double) ok / eval_pairs;
	}
	q->n_pairs = eval_pairs;

	/* few-shot: temperature from calibration episodes (1- and 5-shot pooled) */
	if (!class_index_build(&cal_ci, test_lab, 0, CALIB_END) || !class_index_build(&ev_ci, test_lab, CALIB_END, ntest))
	{
		st = sp_set_error(err, SP_ERR_NOMEM, "out of memory in evaluation");
		goto out;
	}
	sp_rng_seed(&rng, seed, 3);
	run_episodes(&rng, train_emb, &tr_ci, test_emb, &cal_ci, d, kind, cal_eps, 1, qpc, dist, y, NULL);
	run_episodes(&rng, train_emb, &tr_ci, test_emb, &cal_ci, d, kind, cal_eps, 5, qpc,
				 dist + (size_t) cal_eps * NCLASS * qpc * NCLASS, y + (size_t) cal_eps * NCLASS * qpc, NULL);
	ncal = 2L * cal_eps * NCLASS * qpc;
	q->temperature = sp_fit_temperature(dist, y, ncal, NCLASS);
	sp_rng_seed(&rng, seed, 4);
	q->fewshot1 = run_episodes(&rng, train_emb, &tr_ci, test_emb, &ev_ci, d, kind, eval_eps, 1, qpc, dist, y, NULL);
	q->fewshot5 = run_episodes(&rng, train_emb, &tr_ci, test_emb, &ev_ci, d, kind, eval_eps, 5, qpc,
							   dist + (size_t) eval_eps * NCLASS * qpc * NCLASS,
							   y + (size_t) eval_eps * NCLASS * qpc, &q->fewshot5_proto);
	q->nll_eval = sp_softmin_nll(dist, y, 2L * eval_eps * NCLASS * qpc, NCLASS, q->temperature);
	q->episodes = eval_eps;
	class_index_free(&cal_ci);
	class_index_free(&ev_ci);
	class_index_free(&tr_ci);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	q->seconds = (double) (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) * 1e-9;
out:
	free(idx);
	free(ap);
	free(pairs);
	free(dist);
	free(y);
	return st;
}

void
fm_quality_json(const fm_quality *q, char *buf, size_t len)
{
	snprintf(buf, len,
			 "{\"knn1_accuracy\":%.4f,\"knn5_accuracy\":%.4f,\"recall_at_1\":%.4f,\"map\":%.4f,"
			 "\"verification_auc\":%.4f,\"verification_accuracy\":%.4f,\"verification_pairs\":%d,"
			 "\"fewshot_10way_1shot\":%.4f,\"fewshot_10way_5shot\":%.4f,\"fewshot_10way_5shot_prototype\":%.4f,"
			 "\"fewshot_episodes\":%d,\"fewshot_temperature\":%.6g,\"fewshot_nll\":%.4f,"
			 "\"protocol\":\"Fashion-MNIST; kNN, mAP: 10k test queries vs 60k train gallery; Recall@1: test vs rest of test; "
			 "threshold and temperature calibrated on test images 0-4999, verification pairs and few-shot queries from test images 5000-9999; "
			 "support from train; distances in model units; docs/training.md\"}",
			 q->knn1, q->knn5, q->recall_at_1, q->map, q->auc, q->verif_acc, q->n_pairs,
			 q->fewshot1, q->fewshot5, q->fewshot5_proto, q->episodes, q->temperature, q->nll_eval);
}

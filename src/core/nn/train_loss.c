/*
 * train_loss.c: the metric-learning losses of nn_train.h (batch-hard and
 * batch-all triplet, contrastive, multi-similarity, softmax cross-entropy on
 * a linear head, with CosFace's additive margin on cosine logits),
 * each returning the mean loss and its gradient with respect to the
 * embeddings, which the trainer's backward then takes through the graph.
 * Distances and sums in double.
 */
#include "nn/nn_train.h"

#include <math.h>
#include <string.h>

/* ---------------------------------------------------------------------- */
/* Losses. */

#define DIST_EPS 1e-12

static sp_status
check_loss_args(const float *emb, const int *labels, int B, int D, float *loss, float *d_emb,
				sp_error *err)
{
	if (!emb || !labels || !loss || !d_emb || B < 1 || D < 1 || B > 65536)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "loss: invalid arguments");
	return SP_OK;
}

/* Pairwise Euclidean distances (B x B, double). */
static double *
pairwise(const sp_env *env, const float *e, int B, int D)
{
	double	   *dist = sp_alloc_array(env, (size_t) B * B, sizeof(double));

	if (!dist)
		return NULL;
	for (int i = 0; i < B; i++)
	{
		dist[(size_t) i * B + i] = sqrt(DIST_EPS);
		for (int j = i + 1; j < B; j++)
		{
			double		s = 0;

			for (int k = 0; k < D; k++)
			{
				double		d = (double) e[(size_t) i * D + k] - e[(size_t) j * D + k];

				s += d * d;
			}
			s = sqrt(fmax(s, DIST_EPS));
			dist[(size_t) i * B + j] = dist[(size_t) j * B + i] = s;
		}
	}
	return dist;
}

/* g accumulates c * d d(i,j) / d e_i into rows i and j (symmetric). */
static void
add_dist_grad(double *g, const float *e, int D, int i, int j, double dij, double c)
{
	double		f = c / dij;

	for (int k = 0; k < D; k++)
	{
		double		d = ((double) e[(size_t) i * D + k] - e[(size_t) j * D + k]) * f;

		g[(size_t) i * D + k] += d;
		g[(size_t) j * D + k] -= d;
	}
}

static double
softplus(double x)
{
	return x > 30 ? x : log1p(exp(x));
}

static double
sigmoid(double x)
{
	return 1.0 / (1.0 + exp(-x));
}

static sp_status
finish_grad(const sp_env *env, double *g, double *dist, float *d_emb, size_t n, double scale)
{
	for (size_t k = 0; k < n; k++)
		d_emb[k] = (float) (g[k] * scale);
	sp_free(env, g);
	sp_free(env, dist);
	return SP_OK;
}

/*
 * Common front half of the distance-based losses (batch-hard, batch-all,
 * contrastive): validate the arguments, then build the pairwise distance
 * matrix and a zeroed double gradient accumulator. On SP_OK the caller owns
 * both buffers and hands them back through finish_grad(), which frees them.
 */
static sp_status
loss_begin(const sp_env *env, const float *emb, const int *labels, int B, int D, float *loss,
		   float *d_emb, double **dist_out, double **g_out, sp_error *err)
{
	double	   *dist,
			   *g;
	sp_status	st;

	*dist_out = *g_out = NULL;
	if ((st = check_loss_args(emb, labels, B, D, loss, d_emb, err)))
		return st;
	dist = pairwise(env, emb, B, D);
	g = sp_alloc_array(env, (size_t) B * D, sizeof(double));
	if (!dist || !g)
	{
		sp_free(env, dist);
		sp_free(env, g);
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory in loss");
	}
	memset(g, 0, sizeof(double) * (size_t) B * D);
	*dist_out = dist;
	*g_out = g;
	return SP_OK;
}

sp_status
sp_nn_loss_batch_hard(const sp_env *env, const float *emb, const int *labels, int B, int D,
					  float margin, float *loss, float *d_emb, int *active, sp_error *err)
{
	double	   *dist,
			   *g;
	double		total = 0;
	int			n_anchor = 0,
				n_active = 0;
	sp_status	st;

	if ((st = loss_begin(env, emb, labels, B, D, loss, d_emb, &dist, &g, err)))
		return st;
	for (int a = 0; a < B; a++)
	{
		int			p = -1,
					n = -1;

		for (int j = 0; j < B; j++)
		{
			double		d = dist[(size_t) a * B + j];

			if (j == a)
				continue;
			if (labels[j] == labels[a])
			{
				if (p < 0 || d > dist[(size_t) a * B + p])
					p = j;
			}
			else if (n < 0 || d < dist[(size_t) a * B + n])
				n = j;
		}
		if (p < 0 || n < 0)
			continue;
		n_anchor++;
		{
			double		x = dist[(size_t) a * B + p] - dist[(size_t) a * B + n];
			double		dl;

			if (margin < 0)
			{
				total += softplus(x);
				dl = sigmoid(x);
				n_active++;
			}
			else
			{
				if (x + margin <= 0)
					continue;
				total += x + margin;
				dl = 1.0;
				n_active++;
			}
			add_dist_grad(g, emb, D, a, p, dist[(size_t) a * B + p], dl);
			add_dist_grad(g, emb, D, a, n, dist[(size_t) a * B + n], -dl);
		}
	}
	*loss = n_anchor ? (float) (total / n_anchor) : 0.0f;
	if (active)
		*active = n_active;
	return finish_grad(env, g, dist, d_emb, (size_t) B * D, n_anchor ? 1.0 / n_anchor : 0.0);
}

sp_status
sp_nn_loss_batch_all(const sp_env *env, const float *emb, const int *labels, int B, int D,
					 float margin, float *loss, float *d_emb, int *active, sp_error *err)
{
	double	   *dist,
			   *g;
	double		total = 0;
	long		n_pos = 0;
	sp_status	st;

	if ((st = loss_begin(env, emb, labels, B, D, loss, d_emb, &dist, &g, err)))
		return st;
	for (int a = 0; a < B; a++)
	{
		if (sp_env_interrupted(env))
		{
			sp_free(env, dist);
			sp_free(env, g);
			return sp_set_error(err, SP_ERR_INTERRUPTED, "loss computation interrupted");
		}
		for (int p = 0; p < B; p++)
		{
			double		dap = dist[(size_t) a * B + p];

			if (p == a || labels[p] != labels[a])
				continue;
			for (int n = 0; n < B; n++)
			{
				double		l;

				if (labels[n] == labels[a])
					continue;
				l = dap - dist[(size_t) a * B + n] + margin;
				if (l <= 1e-16)
					continue;
				total += l;
				n_pos++;
				add_dist_grad(g, emb, D, a, p, dap, 1.0);
				add_dist_grad(g, emb, D, a, n, dist[(size_t) a * B + n], -1.0);
			}
		}
	}
	*loss = n_pos ? (float) (total / (double) n_pos) : 0.0f;
	if (active)
		*active = (int) (n_pos > INT32_MAX ? INT32_MAX : n_pos);
	return finish_grad(env, g, dist, d_emb, (size_t) B * D, n_pos ? 1.0 / (double) n_pos : 0.0);
}

sp_status
sp_nn_loss_contrastive(const sp_env *env, const float *emb, const int *labels, int B, int D,
					   float margin, float *loss, float *d_emb, sp_error *err)
{
	double	   *dist,
			   *g;
	double		total = 0;
	long		pairs = 0;
	sp_status	st;

	if ((st = loss_begin(env, emb, labels, B, D, loss, d_emb, &dist, &g, err)))
		return st;
	for (int i = 0; i < B; i++)
		for (int j = i + 1; j < B; j++)
		{
			double		d = dist[(size_t) i * B + j];

			pairs++;
			if (labels[i] == labels[j])
			{
				total += 0.5 * d * d;
				add_dist_grad(g, emb, D, i, j, d, d);
			}
			else if (d < margin)
			{
				total += 0.5 * (margin - d) * (margin - d);
				add_dist_grad(g, emb, D, i, j, d, -(margin - d));
			}
		}
	*loss = pairs ? (float) (total / (double) pairs) : 0.0f;
	return finish_grad(env, g, dist, d_emb, (size_t) B * D, pairs ? 1.0 / (double) pairs : 0.0);
}

/*
 * Multi-similarity (Wang et al., CVPR 2019) on dot-product similarities.
 * Per anchor i, with P its positives and N its negatives in the batch, pair
 * mining keeps a negative k when S_ik > min_P S - eps and a positive when
 * S_ik < max_N S + eps; then
 *   L_i = log(1 + sum_P' exp(-a (S_ik - l))) / a + log(1 + sum_N' exp(b (S_ik - l))) / b
 * The selection is a constant of the step (no gradient through it).
 */
sp_status
sp_nn_loss_multi_similarity(const sp_env *env, const float *emb, const int *labels, int B, int D,
							float eps, float *loss, float *d_emb, int *active, sp_error *err)
{
	const double a = SP_MS_ALPHA,
				b = SP_MS_BETA,
				lam = SP_MS_LAMBDA;
	double	   *sim,
			   *g,
			   *w;
	double		total = 0;
	int			n_anchor = 0,
				n_active = 0;
	sp_status	st;

	if ((st = check_loss_args(emb, labels, B, D, loss, d_emb, err)))
		return st;
	if (!(eps >= 0))
		return sp_set_error(err, SP_ERR_INVALID_ARG, "multi-similarity loss: mining margin must be >= 0");
	sim = sp_alloc_array(env, (size_t) B * B, sizeof(double));
	g = sp_alloc_array(env, (size_t) B * D, sizeof(double));
	w = sp_alloc_array(env, (size_t) B, sizeof(double));
	if (!sim || !g || !w)
	{
		sp_free(env, sim);
		sp_free(env, g);
		sp_free(env, w);
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory in loss");
	}
	memset(g, 0, sizeof(double) * (size_t) B * D);
	for (int i = 0; i < B; i++)
		for (int j = i; j < B; j++)
		{
			double		s = 0;

			for (int k = 0; k < D; k++)
				s += (double) emb[(size_t) i * D + k] * emb[(size_t) j * D + k];
			sim[(size_t) i * B + j] = sim[(size_t) j * B + i] = s;
		}
	for (int i = 0; i < B; i++)
	{
		const double *si = sim + (size_t) i * B;
		double		min_p = INFINITY,
					max_n = -INFINITY,
					sum_p = 0,
					sum_n = 0;
		bool		any = false;

		for (int k = 0; k < B; k++)
		{
			if (k == i)
				continue;
			if (labels[k] == labels[i])
				min_p = fmin(min_p, si[k]);
			else
				max_n = fmax(max_n, si[k]);
		}
		if (!isfinite(min_p) || !isfinite(max_n))
			continue;			/* no positive or no negative in the batch */
		n_anchor++;
		/* w[k]: the weight of pair (i, k) in L_i's gradient, dL_i / dS_ik */
		for (int k = 0; k < B; k++)
		{
			w[k] = 0;
			if (k == i)
				continue;
			if (labels[k] == labels[i] && si[k] < max_n + eps)
				sum_p += (w[k] = -exp(-a * (si[k] - lam)));
			else if (labels[k] != labels[i] && si[k] > min_p - eps)
				sum_n += (w[k] = exp(b * (si[k] - lam)));
		}
		/* sum_p holds minus the positives' sum */
		total += log1p(-sum_p) / a + log1p(sum_n) / b;
		for (int k = 0; k < B; k++)
		{
			double		c;

			if (w[k] == 0)
				continue;
			any = true;
			c = w[k] / (w[k] < 0 ? 1 - sum_p : 1 + sum_n);
			for (int j = 0; j < D; j++)
			{
				g[(size_t) i * D + j] += c * emb[(size_t) k * D + j];
				g[(size_t) k * D + j] += c * emb[(size_t) i * D + j];
			}
		}
		n_active += any;
	}
	*loss = n_anchor ? (float) (total / n_anchor) : 0.0f;
	if (active)
		*active = n_active;
	sp_free(env, w);
	return finish_grad(env, g, sim, d_emb, (size_t) B * D, n_anchor ? 1.0 / n_anchor : 0.0);
}

sp_status
sp_nn_loss_softmax_ce(const sp_env *env, const float *emb, const int *labels, int B, int D,
					  const float *W, const float *bias, int classes, float scale, float margin,
					  float *loss, float *d_emb, float *dW, float *db, int *correct, sp_error *err)
{
	double	   *z,
			   *wn,
			   *gW;
	double		total = 0;
	int			hits = 0;
	sp_status	st;

	if ((st = check_loss_args(emb, labels, B, D, loss, d_emb, err)))
		return st;
	if (!W || classes < 2 || scale < 0 || !(margin >= 0) || (margin > 0 && scale == 0))
		return sp_set_error(err, SP_ERR_INVALID_ARG, "softmax loss: invalid head");
	for (int i = 0; i < B; i++)
		if (labels[i] < 0 || labels[i] >= classes)
			return sp_set_error(err, SP_ERR_INVALID_ARG, "softmax loss: label %d outside 0..%d", labels[i], classes - 1);
	z = sp_alloc_array(env, (size_t) classes, sizeof(double));
	wn = sp_alloc_array(env, (size_t) classes, sizeof(double));
	gW = sp_alloc_array(env, (size_t) classes * D, sizeof(double));
	if (!z || !wn || !gW)
	{
		sp_free(env, z);
		sp_free(env, wn);
		sp_free(env, gW);
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory in loss");
	}
	memset(gW, 0, sizeof(double) * (size_t) classes * D);
	for (int k = 0; k < classes; k++)
	{
		double		s = 0;

		for (int j = 0; j < D; j++)
			s += (double) W[(size_t) k * D + j] * W[(size_t) k * D + j];
		wn[k] = fmax(sqrt(s), 1e-12);
	}
	if (db)
		memset(db, 0, sizeof(float) * (size_t) classes);
	for (int i = 0; i < B; i++)
	{
		const float *e = emb + (size_t) i * D;
		double		mx = -INFINITY,
					sum = 0;
		int			arg = 0;

		for (int k = 0; k < classes; k++)
		{
			double		dot = 0;

			for (int j = 0; j < D; j++)
				dot += (double) e[j] * W[(size_t) k * D + j];
			z[k] = scale > 0 ? scale * dot / wn[k] : dot + (bias ? bias[k] : 0.0);
			if (z[k] > z[arg])
				arg = k;
		}
		hits += arg == labels[i];
		/* CosFace: the target's cosine must win by margin (a constant shift, same gradient) */
		z[labels[i]] -= (double) scale * margin;
		for (int k = 0; k < classes; k++)
			mx = fmax(mx, z[k]);
		for (int k = 0; k < classes; k++)
			sum += exp(z[k] - mx);
		total += -(z[labels[i]] - mx - log(sum));
		for (int j = 0; j < D; j++)
			d_emb[(size_t) i * D + j] = 0.0f;
		for (int k = 0; k < classes; k++)
		{
			/* dL/dz_k = (p_k - [k == y]) / B */
			double		dz = (exp(z[k] - mx) / sum - (k == labels[i])) / B;

			if (scale > 0)
			{
				/* z = s * e.w / |w|: dz/de = s w/|w|; dz/dw = s (e - (e.w^) w^) / |w| */
				double		ew = 0;

				for (int j = 0; j < D; j++)
					ew += (double) e[j] * W[(size_t) k * D + j];
				ew /= wn[k];
				for (int j = 0; j < D; j++)
				{
					double		wh = W[(size_t) k * D + j] / wn[k];

					d_emb[(size_t) i * D + j] += (float) (dz * scale * wh);
					gW[(size_t) k * D + j] += dz * scale * (e[j] - ew * wh) / wn[k];
				}
			}
			else
			{
				for (int j = 0; j < D; j++)
				{
					d_emb[(size_t) i * D + j] += (float) (dz * W[(size_t) k * D + j]);
					gW[(size_t) k * D + j] += dz * e[j];
				}
				if (db)
					db[k] += (float) dz;
			}
		}
	}
	if (dW)
		for (size_t k = 0; k < (size_t) classes * D; k++)
			dW[k] = (float) gW[k];
	*loss = (float) (total / B);
	if (correct)
		*correct = hits;
	sp_free(env, z);
	sp_free(env, wn);
	sp_free(env, gW);
	return SP_OK;
}

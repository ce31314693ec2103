/*
 * nn_backward.c: the training side of the network (nn_train.h): parameter
 * storage and seeded initialisation, a caching forward pass built from the
 * same kernels as inference (nn_layers.h), backward passes (conv via
 * im2col/col2im + sgemm, linear, relu, max/avg pool, batch norm in training
 * and eval mode, flatten, l2norm), Adam / SGD, losses, and export.
 *
 * Layouts follow nn_layers.h: the convolutional part keeps the whole batch
 * in CBHW (channel c of every image contiguous, which also makes batch-norm
 * statistics a contiguous reduction), dense layers use rows.  Convolutions
 * run over sub-blocks of images so the im2col matrix stays cache-sized.
 */
#include "nn/nn_train.h"
#include "nn/nn_layers.h"
#include "util/rng.h"
#include "util/safetensors.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

typedef struct tlayer
{
	sp_nn_layer_type type;
	sp_nn_geom	g;
	bool		dense;
	size_t		in_size;		/* per image */
	size_t		out_size;
	int			pw,
				pb,
				pg,
				pbeta,
				prm,
				prv;			/* parameter indices or -1 */
	float		eps,
				momentum;
	float	   *out;			/* max_batch * out_size */
	int32_t    *argmax;
	float	   *bn_mean;
	float	   *bn_invstd;
	float	   *norms;
	bool		bn_train;
} tlayer;

#define MAX_ALLOCS 2048

struct sp_nn_trainer
{
	const sp_env *env;
	sp_nn_config *cfg;
	int			max_batch;
	int			batch;			/* of the last forward, 0 if none */
	int			n_layers;
	tlayer	   *layers;
	int			n_params;
	sp_nn_param *params;
	float	   *in_cbhw;
	float	   *grad[2];
	float	   *col;
	float	   *dcol;
	int			blk;
	long		step;
	void	   *allocs[MAX_ALLOCS];
	int			n_allocs;
};

static void *
talloc(sp_nn_trainer *tr, size_t count, size_t elem)
{
	void	   *p;

	if (tr->n_allocs >= MAX_ALLOCS)
		return NULL;
	if (count == 0)
		count = 1;
	p = sp_alloc_array(tr->env, count, elem);
	if (p)
	{
		memset(p, 0, count * elem);
		tr->allocs[tr->n_allocs++] = p;
	}
	return p;
}

static int
add_param(sp_nn_trainer *tr, const char *layer, const char *sfx, int ndim, const int64_t *shape,
		  bool trainable, bool decay)
{
	sp_nn_param *p = &tr->params[tr->n_params];
	size_t		n = 1;

	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s.%s", layer, sfx);
	p->ndim = ndim;
	for (int d = 0; d < ndim; d++)
	{
		p->shape[d] = shape[d];
		n *= (size_t) shape[d];
	}
	p->numel = n;
	p->decay = decay;
	p->data = talloc(tr, n, sizeof(float));
	if (!p->data)
		return -1;
	if (trainable)
	{
		p->grad = talloc(tr, n, sizeof(float));
		p->m = talloc(tr, n, sizeof(float));
		p->v = talloc(tr, n, sizeof(float));
		if (!p->grad || !p->m || !p->v)
			return -1;
	}
	return tr->n_params++;
}

void
sp_nn_trainer_free(sp_nn_trainer *tr)
{
	const sp_env *env;

	if (!tr)
		return;
	env = tr->env;
	for (int i = 0; i < tr->n_allocs; i++)
		sp_free(env, tr->allocs[i]);
	sp_nn_config_free(env, tr->cfg);
	sp_free(env, tr);
}

sp_status
sp_nn_trainer_create(const sp_env *env, const sp_nn_config *cfg_in, int max_batch, uint64_t seed,
					 sp_nn_init init, sp_nn_trainer **out, sp_error *err)
{
	sp_nn_trainer *tr;
	sp_status	st;
	size_t		max_size,
				max_col = 0;
	uint64_t	rng = seed;

	*out = NULL;
	if (max_batch < 1 || max_batch > 65536)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "invalid trainer batch size %d", max_batch);
	tr = sp_alloc(env, sizeof(*tr));
	if (!tr)
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory creating the trainer");
	memset(tr, 0, sizeof(*tr));
	tr->env = env;
	tr->max_batch = max_batch;
	if ((st = sp_nn_config_copy(env, cfg_in, &tr->cfg, err)) != SP_OK)
	{
		sp_free(env, tr);
		return st;
	}
	tr->n_layers = tr->cfg->n_layers;
	tr->layers = talloc(tr, (size_t) tr->n_layers, sizeof(tlayer));
	tr->params = talloc(tr, (size_t) tr->n_layers * 4 + 1, sizeof(sp_nn_param));
	if (!tr->layers || !tr->params)
		goto nomem;

	max_size = (size_t) tr->cfg->input.channels * tr->cfg->input.height * tr->cfg->input.width;
	tr->in_cbhw = talloc(tr, max_size * (size_t) max_batch, sizeof(float));
	if (!tr->in_cbhw)
		goto nomem;
	for (int i = 0; i < tr->n_layers; i++)
	{
		const sp_nn_layer *l = &tr->cfg->layers[i];
		tlayer	   *t = &tr->layers[i];

		t->type = l->type;
		t->dense = l->dense && l->type != SP_NN_FLATTEN;
		t->g = sp_nn_geom_of_layer(l);
		t->in_size = (size_t) l->in_c * l->in_h * l->in_w;
		t->out_size = (size_t) l->out_c * l->out_h * l->out_w;
		t->pw = t->pb = t->pg = t->pbeta = t->prm = t->prv = -1;
		t->eps = l->eps;
		t->momentum = l->momentum;
		if (t->out_size > max_size)
			max_size = t->out_size;
		t->out = talloc(tr, t->out_size * (size_t) max_batch, sizeof(float));
		if (!t->out)
			goto nomem;
		if (l->type == SP_NN_CONV2D || l->type == SP_NN_LINEAR)
		{
			int64_t		ws[4] = {l->out, l->in, l->kernel, l->kernel};
			int64_t		bs[1] = {l->out};
			size_t		fan = (size_t) l->in * (l->type == SP_NN_CONV2D ? (size_t) l->kernel * l->kernel : 1);
			float		wb = init == SP_NN_INIT_HE ? sqrtf(6.0f / (float) fan) : 1.0f / sqrtf((float) fan);
			float		bb = 1.0f / sqrtf((float) fan);

			t->pw = add_param(tr, l->name, "weight", l->type == SP_NN_CONV2D ? 4 : 2, ws, true, true);
			if (t->pw < 0)
				goto nomem;
			for (size_t k = 0; k < tr->params[t->pw].numel; k++)
				tr->params[t->pw].data[k] = sp_splitmix64_symmetric(&rng, wb);
			if (l->bias)
			{
				t->pb = add_param(tr, l->name, "bias", 1, bs, true, false);
				if (t->pb < 0)
					goto nomem;
				for (size_t k = 0; k < tr->params[t->pb].numel; k++)
					tr->params[t->pb].data[k] = sp_splitmix64_symmetric(&rng, bb);
			}
			if (l->type == SP_NN_CONV2D)
			{
				size_t		c = sp_nn_col_rows(&t->g) * (size_t) t->g.OH * t->g.OW;

				if (c > max_col)
					max_col = c;
			}
		}
		else if (l->type == SP_NN_BATCHNORM)
		{
			int64_t		cs[1] = {l->in};

			t->pg = add_param(tr, l->name, "weight", 1, cs, true, false);
			t->pbeta = add_param(tr, l->name, "bias", 1, cs, true, false);
			t->prm = add_param(tr, l->name, "running_mean", 1, cs, false, false);
			t->prv = add_param(tr, l->name, "running_var", 1, cs, false, false);
			t->bn_mean = talloc(tr, (size_t) l->in, sizeof(float));
			t->bn_invstd = talloc(tr, (size_t) l->in, sizeof(float));
			if (t->pg < 0 || t->pbeta < 0 || t->prm < 0 || t->prv < 0 || !t->bn_mean || !t->bn_invstd)
				goto nomem;
			for (int c = 0; c < l->in; c++)
			{
				tr->params[t->pg].data[c] = 1.0f;
				tr->params[t->prv].data[c] = 1.0f;
			}
		}
		else if (l->type == SP_NN_MAXPOOL)
		{
			t->argmax = talloc(tr, t->out_size * (size_t) max_batch, sizeof(int32_t));
			if (!t->argmax)
				goto nomem;
		}
		else if (l->type == SP_NN_L2NORM)
		{
			t->norms = talloc(tr, (size_t) max_batch, sizeof(float));
			if (!t->norms)
				goto nomem;
		}
	}
	/* BLAS leading dimensions are ints: a whole-batch activation must fit */
	if (max_size * (size_t) max_batch > (size_t) INT32_MAX)
	{
		sp_nn_trainer_free(tr);
		return sp_set_error(err, SP_ERR_LIMIT, "trainer batch of %d images is too large for this network",
							max_batch);
	}
	tr->grad[0] = talloc(tr, max_size * (size_t) max_batch, sizeof(float));
	tr->grad[1] = talloc(tr, max_size * (size_t) max_batch, sizeof(float));
	tr->blk = max_col ? (int) (((size_t) 1 << 20) / (max_col * sizeof(float))) : 16;
	if (tr->blk < 1)
		tr->blk = 1;
	if (tr->blk > 16)
		tr->blk = 16;
	if (tr->blk > max_batch)
		tr->blk = max_batch;
	tr->col = talloc(tr, max_col * (size_t) tr->blk, sizeof(float));
	tr->dcol = talloc(tr, max_col * (size_t) tr->blk, sizeof(float));
	if (!tr->grad[0] || !tr->grad[1] || !tr->col || !tr->dcol)
		goto nomem;
	*out = tr;
	return SP_OK;

nomem:
	sp_nn_trainer_free(tr);
	return sp_set_error(err, SP_ERR_NOMEM, "out of memory creating the trainer");
}

int
sp_nn_trainer_params(sp_nn_trainer *tr, sp_nn_param **params)
{
	*params = tr->params;
	return tr->n_params;
}

const sp_nn_config *
sp_nn_trainer_config(const sp_nn_trainer *tr)
{
	return tr->cfg;
}

sp_status
sp_nn_trainer_load_weights(sp_nn_trainer *tr, const uint8_t *weights, size_t len, sp_error *err)
{
	sp_safetensors *st;
	sp_status	rc = sp_st_read_ex(tr->env, weights, len, SP_ST_SKIP_UNSUPPORTED, &st, err);

	if (rc != SP_OK)
		return rc;
	/* check everything first so a failure leaves the parameters untouched */
	for (int i = 0; i < tr->n_params; i++)
	{
		const sp_nn_param *p = &tr->params[i];
		const sp_st_tensor *t = sp_st_find(st, p->name);
		bool		ok = t && t->data && t->ndim == p->ndim;

		for (int d = 0; ok && d < p->ndim; d++)
			ok = t->shape[d] == p->shape[d];
		if (!ok)
		{
			rc = sp_set_error(err, SP_ERR_INVALID_ARG, "weights file lacks an F32/F16/BF16 tensor \"%s\" of the expected shape",
							  p->name);
			goto done;
		}
	}
	for (int i = 0; i < tr->n_params; i++)
		memcpy(tr->params[i].data, sp_st_find(st, tr->params[i].name)->data,
			   tr->params[i].numel * sizeof(float));
done:
	sp_st_free(tr->env, st);
	return rc;
}

void
sp_nn_trainer_zero_grad(sp_nn_trainer *tr)
{
	for (int i = 0; i < tr->n_params; i++)
		if (tr->params[i].grad)
			memset(tr->params[i].grad, 0, tr->params[i].numel * sizeof(float));
}

/* ---------------------------------------------------------------------- */
/* Batch norm helpers: channel c has n values at base + j*step. */

static void
bn_forward(tlayer *t, sp_nn_trainer *tr, const float *x, float *y, int B, bool training)
{
	int			C = t->g.C;
	size_t		hw = t->dense ? 1 : (size_t) t->g.H * t->g.W;
	size_t		n = (size_t) B * hw;
	const float *g = tr->params[t->pg].data,
			   *be = tr->params[t->pbeta].data;
	float	   *rm = tr->params[t->prm].data,
			   *rv = tr->params[t->prv].data;

	t->bn_train = training;
	for (int c = 0; c < C; c++)
	{
		size_t		base = t->dense ? (size_t) c : (size_t) c * n;
		size_t		step = t->dense ? (size_t) C : 1;
		double		mean,
					var;
		float		inv;

		if (training)
		{
			double		s = 0,
						ss = 0;

			for (size_t j = 0; j < n; j++)
				s += x[base + j * step];
			mean = s / (double) n;
			for (size_t j = 0; j < n; j++)
			{
				double		d = x[base + j * step] - mean;

				ss += d * d;
			}
			var = ss / (double) n;
			rm[c] = (float) ((1.0 - t->momentum) * rm[c] + t->momentum * mean);
			rv[c] = (float) ((1.0 - t->momentum) * rv[c] +
							 t->momentum * (n > 1 ? ss / (double) (n - 1) : var));
		}
		else
		{
			mean = rm[c];
			var = rv[c];
		}
		inv = (float) (1.0 / sqrt(var + t->eps));
		t->bn_mean[c] = (float) mean;
		t->bn_invstd[c] = inv;
		for (size_t j = 0; j < n; j++)
		{
			size_t		k = base + j * step;

			y[k] = (x[k] - (float) mean) * inv * g[c] + be[c];
		}
	}
}

static void
bn_backward(tlayer *t, sp_nn_trainer *tr, const float *x, const float *dy, float *dx, int B)
{
	int			C = t->g.C;
	size_t		hw = t->dense ? 1 : (size_t) t->g.H * t->g.W;
	size_t		n = (size_t) B * hw;
	const float *g = tr->params[t->pg].data;
	float	   *dg = tr->params[t->pg].grad,
			   *db = tr->params[t->pbeta].grad;

	for (int c = 0; c < C; c++)
	{
		size_t		base = t->dense ? (size_t) c : (size_t) c * n;
		size_t		step = t->dense ? (size_t) C : 1;
		float		mean = t->bn_mean[c],
					inv = t->bn_invstd[c];
		double		sdy = 0,
					sdyx = 0;

		for (size_t j = 0; j < n; j++)
		{
			size_t		k = base + j * step;
			double		xh = (x[k] - mean) * inv;

			sdy += dy[k];
			sdyx += dy[k] * xh;
		}
		dg[c] += (float) sdyx;
		db[c] += (float) sdy;
		if (!dx)
			continue;
		if (t->bn_train)
		{
			/* dx = g*inv/n * (n*dy - sum(dy) - xhat*sum(dy*xhat)) */
			double		a = (double) g[c] * inv / (double) n;

			for (size_t j = 0; j < n; j++)
			{
				size_t		k = base + j * step;
				double		xh = (x[k] - mean) * inv;

				dx[k] = (float) (a * ((double) n * dy[k] - sdy - xh * sdyx));
			}
		}
		else
			for (size_t j = 0; j < n; j++)
			{
				size_t		k = base + j * step;

				dx[k] = dy[k] * g[c] * inv;
			}
	}
}

/* ---------------------------------------------------------------------- */

sp_status
sp_nn_trainer_forward(sp_nn_trainer *tr, const float *input, int batch, bool training,
					  float *out, sp_error *err)
{
	const sp_nn_config *cfg = tr->cfg;
	const float *x;
	int			B = batch;

	if (batch < 1 || batch > tr->max_batch || !input)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "trainer forward: batch %d outside 1..%d", batch,
							tr->max_batch);
	if (training && batch < 2)
	{
		for (int i = 0; i < tr->n_layers; i++)
			if (tr->layers[i].type == SP_NN_BATCHNORM)
				return sp_set_error(err, SP_ERR_INVALID_ARG, "batch norm in training mode needs a batch of at least 2");
	}
	tr->batch = 0;
	sp_nn_nchw_to_cbhw(input, cfg->input.channels, (size_t) cfg->input.height * cfg->input.width,
					   B, B, 0, tr->in_cbhw);
	x = tr->in_cbhw;
	for (int i = 0; i < tr->n_layers; i++)
	{
		tlayer	   *t = &tr->layers[i];
		float	   *y = t->out;

		if (sp_env_interrupted(tr->env))
			return sp_set_error(err, SP_ERR_INTERRUPTED, "training forward pass interrupted");
		switch (t->type)
		{
			case SP_NN_CONV2D:
				for (int b0 = 0; b0 < B; b0 += tr->blk)
				{
					int			nb = B - b0 < tr->blk ? B - b0 : tr->blk;

					sp_nn_conv_forward(x, &t->g, B, b0, nb, tr->params[t->pw].data,
									   t->pb >= 0 ? tr->params[t->pb].data : NULL, false, y, tr->col);
				}
				break;
			case SP_NN_LINEAR:
				sp_nn_linear_forward(x, B, t->g.C, tr->params[t->pw].data,
									 t->pb >= 0 ? tr->params[t->pb].data : NULL, t->g.O, false, y);
				break;
			case SP_NN_BATCHNORM:
				bn_forward(t, tr, x, y, B, training);
				break;
			case SP_NN_RELU:
				for (size_t k = 0; k < t->out_size * (size_t) B; k++)
					y[k] = x[k] > 0.0f ? x[k] : 0.0f;
				break;
			case SP_NN_MAXPOOL:
				sp_nn_maxpool_forward(x, &t->g, (size_t) t->g.C * B, y, t->argmax);
				break;
			case SP_NN_AVGPOOL:
				sp_nn_avgpool_forward(x, &t->g, (size_t) t->g.C * B, y);
				break;
			case SP_NN_FLATTEN:
				sp_nn_cbhw_to_rows(x, t->g.C, (size_t) t->g.H * t->g.W, B, 0, B, y);
				break;
			case SP_NN_L2NORM:
				{
					int			d = t->g.C;

					for (int r = 0; r < B; r++)
					{
						double		ss = 0;

						for (int k = 0; k < d; k++)
							ss += (double) x[(size_t) r * d + k] * x[(size_t) r * d + k];
						t->norms[r] = (float) fmax(sqrt(ss), 1e-12);
					}
					sp_nn_l2norm_rows(x, B, d, y);
					break;
				}
		}
		x = y;
	}
	/* output: rows if the net ended dense, else CBHW -> NCHW rows */
	{
		const tlayer *last = &tr->layers[tr->n_layers - 1];

		if (last->dense || last->type == SP_NN_FLATTEN)
			memcpy(out, x, sizeof(float) * (size_t) B * cfg->embedding_dim);
		else
			sp_nn_cbhw_to_rows(x, last->g.O, (size_t) last->g.OH * last->g.OW, B, 0, B, out);
	}
	tr->batch = B;
	return SP_OK;
}

sp_status
sp_nn_trainer_backward(sp_nn_trainer *tr, const float *d_out, sp_error *err)
{
	int			B = tr->batch;
	float	   *dy = tr->grad[0],
			   *dx = tr->grad[1];
	const tlayer *last;

	if (B < 1)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "trainer backward without a forward pass");
	last = &tr->layers[tr->n_layers - 1];
	if (last->dense || last->type == SP_NN_FLATTEN)
		memcpy(dy, d_out, sizeof(float) * (size_t) B * tr->cfg->embedding_dim);
	else
		sp_nn_rows_to_cbhw(d_out, last->g.O, (size_t) last->g.OH * last->g.OW, B, dy);

	for (int i = tr->n_layers - 1; i >= 0; i--)
	{
		tlayer	   *t = &tr->layers[i];
		const float *x = i > 0 ? tr->layers[i - 1].out : tr->in_cbhw;
		bool		need_dx = i > 0;
		float	   *tmp;

		if (sp_env_interrupted(tr->env))
			return sp_set_error(err, SP_ERR_INTERRUPTED, "training backward pass interrupted");
		switch (t->type)
		{
			case SP_NN_CONV2D:
				{
					const sp_nn_geom *g = &t->g;
					const size_t OHW = (size_t) g->OH * g->OW;
					const int	K = (int) sp_nn_col_rows(g);
					const int	ld = (int) ((size_t) B * OHW);
					sp_nn_param *pw = &tr->params[t->pw];

					for (int b0 = 0; b0 < B; b0 += tr->blk)
					{
						int			nb = B - b0 < tr->blk ? B - b0 : tr->blk;
						int			N = (int) ((size_t) nb * OHW);
						const float *dys = dy + (size_t) b0 * OHW;

						sp_nn_im2col(x, g, B, b0, nb, tr->col);
						cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, g->O, K, N,
									1.0f, dys, ld, tr->col, N, 1.0f, pw->grad, K);
						if (need_dx)
						{
							cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, N, g->O,
										1.0f, pw->data, K, dys, ld, 0.0f, tr->dcol, N);
							sp_nn_col2im(tr->dcol, g, B, b0, nb, dx);
						}
					}
					if (t->pb >= 0)
					{
						float	   *gb = tr->params[t->pb].grad;

						for (int o = 0; o < g->O; o++)
						{
							double		s = 0;
							const float *row = dy + (size_t) o * ld;

							for (int j = 0; j < ld; j++)
								s += row[j];
							gb[o] += (float) s;
						}
					}
					break;
				}
			case SP_NN_LINEAR:
				{
					int			in = t->g.C,
								outn = t->g.O;
					sp_nn_param *pw = &tr->params[t->pw];

					cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, outn, in, B,
								1.0f, dy, outn, x, in, 1.0f, pw->grad, in);
					if (need_dx)
						cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, B, in, outn,
									1.0f, dy, outn, pw->data, in, 0.0f, dx, in);
					if (t->pb >= 0)
					{
						float	   *gb = tr->params[t->pb].grad;

						for (int o = 0; o < outn; o++)
						{
							double		s = 0;

							for (int r = 0; r < B; r++)
								s += dy[(size_t) r * outn + o];
							gb[o] += (float) s;
						}
					}
					break;
				}
			case SP_NN_BATCHNORM:
				bn_backward(t, tr, x, dy, need_dx ? dx : NULL, B);
				break;
			case SP_NN_RELU:
				if (need_dx)
					for (size_t k = 0; k < t->out_size * (size_t) B; k++)
						dx[k] = t->out[k] > 0.0f ? dy[k] : 0.0f;
				break;
			case SP_NN_MAXPOOL:
				if (need_dx)
				{
					size_t		HW = (size_t) t->g.H * t->g.W,
								OHW = (size_t) t->g.OH * t->g.OW;
					size_t		planes = (size_t) t->g.C * B;

					memset(dx, 0, sizeof(float) * planes * HW);
					for (size_t pl = 0; pl < planes; pl++)
						for (size_t o = 0; o < OHW; o++)
						{
							int32_t		a = t->argmax[pl * OHW + o];

							if (a >= 0)
								dx[pl * HW + (size_t) a] += dy[pl * OHW + o];
						}
				}
				break;
			case SP_NN_AVGPOOL:
				if (need_dx)
				{
					const sp_nn_geom *g = &t->g;
					size_t		HW = (size_t) g->H * g->W,
								OHW = (size_t) g->OH * g->OW;
					size_t		planes = (size_t) g->C * B;
					float		inv = 1.0f / (float) (g->k * g->k);

					memset(dx, 0, sizeof(float) * planes * HW);
					for (size_t pl = 0; pl < planes; pl++)
						for (int oy = 0; oy < g->OH; oy++)
							for (int ox = 0; ox < g->OW; ox++)
							{
								float		v = dy[pl * OHW + (size_t) oy * g->OW + ox] * inv;

								for (int ky = 0; ky < g->k; ky++)
								{
									int			iy = oy * g->s - g->p + ky;

									if (iy < 0 || iy >= g->H)
										continue;
									for (int kx = 0; kx < g->k; kx++)
									{
										int			ix = ox * g->s - g->p + kx;

										if (ix >= 0 && ix < g->W)
											dx[pl * HW + (size_t) iy * g->W + ix] += v;
									}
								}
							}
				}
				break;
			case SP_NN_FLATTEN:
				if (need_dx)
					sp_nn_rows_to_cbhw(dy, t->g.C, (size_t) t->g.H * t->g.W, B, dx);
				break;
			case SP_NN_L2NORM:
				if (need_dx)
				{
					int			d = t->g.C;

					for (int r = 0; r < B; r++)
					{
						const float *yr = t->out + (size_t) r * d;
						const float *dyr = dy + (size_t) r * d;
						float	   *dxr = dx + (size_t) r * d;
						double		dot = 0;

						if (t->norms[r] <= 1e-12f)
						{
							for (int k = 0; k < d; k++)
								dxr[k] = dyr[k] / t->norms[r];
							continue;
						}
						for (int k = 0; k < d; k++)
							dot += (double) yr[k] * dyr[k];
						for (int k = 0; k < d; k++)
							dxr[k] = (float) ((dyr[k] - yr[k] * dot) / t->norms[r]);
					}
				}
				break;
		}
		tmp = dy;
		dy = dx;
		dx = tmp;
	}
	return SP_OK;
}

/* ---------------------------------------------------------------------- */
/* Optimisers. */

void
sp_nn_adam_update(float *p, const float *g, float *m, float *v, size_t n,
				  const sp_nn_adam *o, long step, bool decay)
{
	double		bc1 = 1.0 - pow(o->beta1, (double) step);
	double		bc2 = 1.0 - pow(o->beta2, (double) step);
	float		wd = decay ? o->weight_decay : 0.0f;

	for (size_t i = 0; i < n; i++)
	{
		float		gi = g[i];
		double		mh,
					vh;

		if (wd != 0.0f && !o->decoupled)
			gi += wd * p[i];
		m[i] = o->beta1 * m[i] + (1.0f - o->beta1) * gi;
		v[i] = o->beta2 * v[i] + (1.0f - o->beta2) * gi * gi;
		mh = m[i] / bc1;
		vh = v[i] / bc2;
		if (wd != 0.0f && o->decoupled)
			p[i] -= o->lr * wd * p[i];
		p[i] -= (float) (o->lr * mh / (sqrt(vh) + o->eps));
	}
}

void
sp_nn_sgd_update(float *p, const float *g, float *mom, size_t n, float lr, float momentum,
				 float weight_decay)
{
	for (size_t i = 0; i < n; i++)
	{
		float		gi = g[i] + weight_decay * p[i];

		mom[i] = momentum * mom[i] + gi;
		p[i] -= lr * mom[i];
	}
}

void
sp_nn_trainer_adam_step(sp_nn_trainer *tr, const sp_nn_adam *opt)
{
	tr->step++;
	for (int i = 0; i < tr->n_params; i++)
	{
		sp_nn_param *p = &tr->params[i];

		if (p->grad)
			sp_nn_adam_update(p->data, p->grad, p->m, p->v, p->numel, opt, tr->step, p->decay);
	}
}

void
sp_nn_trainer_sgd_step(sp_nn_trainer *tr, float lr, float momentum, float weight_decay)
{
	tr->step++;
	for (int i = 0; i < tr->n_params; i++)
	{
		sp_nn_param *p = &tr->params[i];

		if (p->grad)
			sp_nn_sgd_update(p->data, p->grad, p->m, p->numel, lr, momentum,
							 p->decay ? weight_decay : 0.0f);
	}
}

/* ---------------------------------------------------------------------- */
/* Export. */

sp_status
sp_nn_trainer_export(sp_nn_trainer *tr, const char *const *meta_keys, const char *const *meta_values,
					 int n_meta, char **config_json, size_t *config_len,
					 uint8_t **weights, size_t *weights_len, sp_error *err)
{
	sp_st_out_tensor *ts;
	sp_status	st;

	*config_json = NULL;
	*weights = NULL;
	ts = sp_alloc_array(tr->env, (size_t) tr->n_params + 1, sizeof(sp_st_out_tensor));
	if (!ts)
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory exporting the model");
	for (int i = 0; i < tr->n_params; i++)
	{
		ts[i].name = tr->params[i].name;
		ts[i].ndim = tr->params[i].ndim;
		for (int d = 0; d < 4; d++)
			ts[i].shape[d] = tr->params[i].shape[d];
		ts[i].data = tr->params[i].data;
	}
	st = sp_st_write(tr->env, ts, tr->n_params, meta_keys, meta_values, n_meta, weights, weights_len, err);
	sp_free(tr->env, ts);
	if (st != SP_OK)
		return st;
	st = sp_nn_config_to_json(tr->env, tr->cfg, true, config_json, config_len, err);
	if (st != SP_OK)
	{
		sp_free(tr->env, *weights);
		*weights = NULL;
	}
	return st;
}

sp_status
sp_nn_trainer_to_model(sp_nn_trainer *tr, sp_nn_model **out, sp_error *err)
{
	char	   *cj;
	size_t		cl,
				wl;
	uint8_t    *w;
	sp_status	st = sp_nn_trainer_export(tr, NULL, NULL, 0, &cj, &cl, &w, &wl, err);

	*out = NULL;
	if (st != SP_OK)
		return st;
	st = sp_nn_model_load(tr->env, cj, cl, w, wl, out, err);
	sp_free(tr->env, cj);
	sp_free(tr->env, w);
	return st;
}

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

sp_status
sp_nn_loss_softmax_ce(const sp_env *env, const float *emb, const int *labels, int B, int D,
					  const float *W, const float *bias, int classes, float scale, float *loss,
					  float *d_emb, float *dW, float *db, int *correct, sp_error *err)
{
	double	   *z,
			   *wn,
			   *gW;
	double		total = 0;
	int			hits = 0;
	sp_status	st;

	if ((st = check_loss_args(emb, labels, B, D, loss, d_emb, err)))
		return st;
	if (!W || classes < 2 || scale < 0)
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
			if (z[k] > mx)
			{
				mx = z[k];
				arg = k;
			}
		}
		hits += arg == labels[i];
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

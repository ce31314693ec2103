/*
 * nn_forward.c: layer kernels (im2col + OpenBLAS sgemm convolution, pools,
 * linear, affine, l2norm, layout changes), the inference workspace and the
 * batched forward pass, plus BLAS information.
 *
 * The forward pass is depth-first over blocks of a few images: a block goes
 * through every convolutional layer while its activations and im2col matrix
 * are still in cache, then its flattened features land in a batch-sized row
 * matrix; the dense layers then run as one GEMM for the whole chunk.  All
 * buffers come from the workspace, so steady-state forward calls allocate
 * nothing.
 *
 * When the CPU has AVX2 or AVX-512 the convolutional part instead runs one
 * image at a time through the channels-last direct / Winograd kernels of
 * nn_conv_direct.c (about 4x faster at any batch size; the workspace holds
 * their plan).  The two paths agree up to float rounding (test_nn_forward.c
 * checks both against a naive reference).  The trainer runs on the operator
 * graph instead (nn/train.c).
 */
#include "nn/nn_layers.h"
#include "util/cpu.h"

#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---------------------------------------------------------------------- */
/* BLAS information. */

void
sp_blas_info(char *buf, size_t len)
{
	if (!buf || len == 0)
		return;
	/* openblas_get_config() already starts with "OpenBLAS <version>". */
	snprintf(buf, len, "%s; core=%s; threads=%d",
			 openblas_get_config(), openblas_get_corename(), openblas_get_num_threads());
}

const char *
sp_blas_corename(void)
{
	return openblas_get_corename();
}

void
sp_blas_set_threads(int n)
{
	openblas_set_num_threads(n < 1 ? 1 : n);
}

/* ---------------------------------------------------------------------- */
/* Kernels. */

size_t
sp_nn_col_rows(const sp_nn_geom *g)
{
	return (size_t) g->C * (size_t) g->k * (size_t) g->k;
}

bool
sp_nn_conv_needs_im2col(const sp_nn_geom *g)
{
	return !(g->k == 1 && g->s == 1 && g->p == 0);
}

/*
 * Output columns [lo, hi) whose input column ox - p + kx lies inside the
 * row, for stride 1 (im2col copies that range as one contiguous run).
 */
static inline void
stride1_cols(int W, int OW, int p, int kx, int *lo, int *hi)
{
	*lo = p - kx > 0 ? p - kx : 0;
	*hi = W + p - kx < OW ? W + p - kx : OW;
}

void
sp_nn_im2col(const float *x, const sp_nn_geom *g, int Btot, int b0, int nb, float *col)
{
	const int	H = g->H,
				W = g->W,
				OH = g->OH,
				OW = g->OW,
				k = g->k,
				s = g->s,
				p = g->p;
	const size_t HW = (size_t) H * W,
				OHW = (size_t) OH * OW,
				N = (size_t) nb * OHW;

	for (int c = 0; c < g->C; c++)
		for (int ky = 0; ky < k; ky++)
			for (int kx = 0; kx < k; kx++)
			{
				float	   *dst = col + ((size_t) (c * k + ky) * k + kx) * N;
				int			lo,
							hi;

				stride1_cols(W, OW, p, kx, &lo, &hi);

				for (int b = 0; b < nb; b++)
				{
					const float *plane = x + ((size_t) c * Btot + (size_t) (b0 + b)) * HW;
					float	   *d = dst + (size_t) b * OHW;

					for (int oy = 0; oy < OH; oy++)
					{
						int			iy = oy * s - p + ky;
						float	   *drow = d + (size_t) oy * OW;
						const float *srow;

						if (iy < 0 || iy >= H)
						{
							memset(drow, 0, sizeof(float) * (size_t) OW);
							continue;
						}
						srow = plane + (size_t) iy * W;
						if (s == 1)
						{
							if (hi <= lo)
							{
								memset(drow, 0, sizeof(float) * (size_t) OW);
								continue;
							}
							if (lo > 0)
								memset(drow, 0, sizeof(float) * (size_t) lo);
							memcpy(drow + lo, srow + (lo - p + kx), sizeof(float) * (size_t) (hi - lo));
							if (hi < OW)
								memset(drow + hi, 0, sizeof(float) * (size_t) (OW - hi));
						}
						else
						{
							for (int ox = 0; ox < OW; ox++)
							{
								int			ix = ox * s - p + kx;

								drow[ox] = (ix >= 0 && ix < W) ? srow[ix] : 0.0f;
							}
						}
					}
				}
			}
}

void
sp_nn_conv_forward(const float *x, const sp_nn_geom *g, int Btot, int b0, int nb,
				   const float *w, const float *b, bool relu, float *y, float *col)
{
	const size_t HW = (size_t) g->H * g->W,
				OHW = (size_t) g->OH * g->OW;
	const int	K = (int) sp_nn_col_rows(g);
	const int	N = (int) ((size_t) nb * OHW);
	const int	ldc = (int) ((size_t) Btot * OHW);
	const float *B;
	int			ldb;
	float	   *yc = y + (size_t) b0 * OHW;

	if (sp_nn_conv_needs_im2col(g))
	{
		sp_nn_im2col(x, g, Btot, b0, nb, col);
		B = col;
		ldb = N;
	}
	else
	{
		/* 1x1 stride 1: the input planes already are the im2col matrix */
		B = x + (size_t) b0 * HW;
		ldb = (int) ((size_t) Btot * HW);
	}
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, g->O, N, K,
				1.0f, w, K, B, ldb, 0.0f, yc, ldc);
	if (b || relu)
		for (int o = 0; o < g->O; o++)
		{
			float	   *row = yc + (size_t) o * ldc;
			float		bo = b ? b[o] : 0.0f;

			if (relu)
				for (int j = 0; j < N; j++)
				{
					float		v = row[j] + bo;

					row[j] = v > 0.0f ? v : 0.0f;
				}
			else
				for (int j = 0; j < N; j++)
					row[j] += bo;
		}
}

void
sp_nn_maxpool_forward(const float *x, const sp_nn_geom *g, size_t nplanes, float *y, int32_t *argmax)
{
	const size_t HW = (size_t) g->H * g->W,
				OHW = (size_t) g->OH * g->OW;

	for (size_t pl = 0; pl < nplanes; pl++)
	{
		const float *xp = x + pl * HW;
		float	   *yp = y + pl * OHW;
		int32_t    *ap = argmax ? argmax + pl * OHW : NULL;

		for (int oy = 0; oy < g->OH; oy++)
			for (int ox = 0; ox < g->OW; ox++)
			{
				float		best = -INFINITY;
				int32_t		bi = -1;

				for (int ky = 0; ky < g->k; ky++)
				{
					int			iy = oy * g->s - g->p + ky;

					if (iy < 0 || iy >= g->H)
						continue;
					for (int kx = 0; kx < g->k; kx++)
					{
						int			ix = ox * g->s - g->p + kx;
						float		v;

						if (ix < 0 || ix >= g->W)
							continue;
						v = xp[iy * g->W + ix];
						/* NaN propagates like PyTorch; first maximum wins ties */
						if (bi < 0 || v > best || isnan(v))
						{
							best = v;
							bi = iy * g->W + ix;
							if (isnan(v))
								goto done;
						}
					}
				}
		done:
				yp[oy * g->OW + ox] = best;
				if (ap)
					ap[oy * g->OW + ox] = bi;
			}
	}
}

void
sp_nn_avgpool_forward(const float *x, const sp_nn_geom *g, size_t nplanes, float *y)
{
	const size_t HW = (size_t) g->H * g->W,
				OHW = (size_t) g->OH * g->OW;
	/* count_include_pad: divide by k*k always (PyTorch default) */
	const float inv = 1.0f / (float) (g->k * g->k);

	for (size_t pl = 0; pl < nplanes; pl++)
	{
		const float *xp = x + pl * HW;
		float	   *yp = y + pl * OHW;

		for (int oy = 0; oy < g->OH; oy++)
			for (int ox = 0; ox < g->OW; ox++)
			{
				float		sum = 0.0f;

				for (int ky = 0; ky < g->k; ky++)
				{
					int			iy = oy * g->s - g->p + ky;

					if (iy < 0 || iy >= g->H)
						continue;
					for (int kx = 0; kx < g->k; kx++)
					{
						int			ix = ox * g->s - g->p + kx;

						if (ix >= 0 && ix < g->W)
							sum += xp[iy * g->W + ix];
					}
				}
				yp[oy * g->OW + ox] = sum * inv;
			}
	}
}

void
sp_nn_affine_cbhw(float *x, int C, int Btot, size_t hw, const float *scale,
				  const float *shift, bool relu)
{
	for (int c = 0; c < C; c++)
	{
		float	   *p = x + (size_t) c * Btot * hw;
		size_t		n = (size_t) Btot * hw;
		float		a = scale[c],
					b = shift[c];

		for (size_t i = 0; i < n; i++)
		{
			float		v = p[i] * a + b;

			p[i] = relu && v < 0.0f ? 0.0f : v;
		}
	}
}

void
sp_nn_affine_rows(float *x, int rows, int C, const float *scale, const float *shift, bool relu)
{
	for (int r = 0; r < rows; r++)
	{
		float	   *p = x + (size_t) r * C;

		for (int c = 0; c < C; c++)
		{
			float		v = p[c] * scale[c] + shift[c];

			p[c] = relu && v < 0.0f ? 0.0f : v;
		}
	}
}

void
sp_nn_relu(float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

void
sp_nn_linear_forward(const float *x, int rows, int in, const float *w, const float *b,
					 int out, bool relu, float *y)
{
	cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, out, in,
				1.0f, x, in, w, in, 0.0f, y, out);
	if (b || relu)
		for (int r = 0; r < rows; r++)
		{
			float	   *p = y + (size_t) r * out;

			for (int o = 0; o < out; o++)
			{
				float		v = p[o] + (b ? b[o] : 0.0f);

				p[o] = relu && v < 0.0f ? 0.0f : v;
			}
		}
}

void
sp_nn_l2norm_rows(const float *x, int rows, int d, float *y)
{
	for (int r = 0; r < rows; r++)
	{
		const float *p = x + (size_t) r * d;
		float	   *q = y + (size_t) r * d;
		double		ss = 0.0;
		float		inv;

		for (int i = 0; i < d; i++)
			ss += (double) p[i] * p[i];
		/* like torch.nn.functional.normalize: x / max(||x||, 1e-12) */
		inv = (float) (1.0 / fmax(sqrt(ss), 1e-12));
		for (int i = 0; i < d; i++)
			q[i] = p[i] * inv;
	}
}

void
sp_nn_nchw_to_cbhw(const float *in, int C, size_t hw, int nb, int Btot, int b0, float *x)
{
	for (int b = 0; b < nb; b++)
		for (int c = 0; c < C; c++)
			memcpy(x + ((size_t) c * Btot + (size_t) (b0 + b)) * hw,
				   in + ((size_t) b * C + c) * hw, sizeof(float) * hw);
}

void
sp_nn_cbhw_to_rows(const float *x, int C, size_t hw, int Btot, int b0, int nb, float *rows)
{
	for (int b = 0; b < nb; b++)
		for (int c = 0; c < C; c++)
			memcpy(rows + ((size_t) b * C + c) * hw,
				   x + ((size_t) c * Btot + (size_t) (b0 + b)) * hw, sizeof(float) * hw);
}

/* ---------------------------------------------------------------------- */
/* Workspace. */

/* Keep a block's im2col matrix around this size (bytes) so it stays in L2. */
#define SP_NN_COL_TARGET_BYTES ((size_t) 1 << 20)
#define SP_NN_MAX_BLOCK 16

sp_status
sp_nn_workspace_create(const sp_env *env, const sp_nn_model *model, int max_batch,
					   sp_nn_workspace **out, sp_error *err)
{
	return sp_nn_workspace_create_ex(env, model, max_batch, 0, out, err);
}

/*
 * The convolution path new workspaces start with.  Process-wide like the
 * distance kernels' choice: the backend sets it from siamese.nn.isa, the
 * benchmarks from their command line; nothing reads the environment.
 */
static int	default_isa = SP_ISA_AUTO;

void
sp_nn_set_default_isa(int isa)
{
	default_isa = isa;
}

int
sp_nn_default_isa(void)
{
	return default_isa;
}

static size_t
align64(size_t v)
{
	return (v + 15) & ~(size_t) 15;	/* in floats: 64 bytes */
}

/* Format 2: the input buffer and the graph's run memory. */
static sp_status
graph_workspace_create(const sp_env *env, const sp_nn_model *model, int max_batch,
					   sp_nn_workspace **out, sp_error *err)
{
	sp_nn_workspace *ws;
	size_t		n_input;

	if (!sp_mul_size((size_t) max_batch, model->in_size, &n_input))
		return sp_set_error(err, SP_ERR_LIMIT, "workspace too large");
	ws = sp_alloc(env, sizeof(*ws));
	if (!ws)
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory allocating the network workspace");
	memset(ws, 0, sizeof(*ws));
	ws->env = env;
	ws->model = model;
	ws->max_batch = max_batch;
	ws->block = 1;
	ws->mem = sp_alloc_array(env, n_input + 16, sizeof(float));
	ws->arena_mem = sp_alloc(env, sp_nn_graph_workspace_bytes(model) + 64);
	if (!ws->mem || !ws->arena_mem)
	{
		sp_nn_workspace_free(env, ws);
		sp_set_error(err, SP_ERR_NOMEM, "out of memory allocating the network workspace");
		sp_error_detail(err, "The model needs %zu bytes of activation memory per image.",
						sp_nn_graph_workspace_bytes(model));
		return SP_ERR_NOMEM;
	}
	ws->input = (float *) (((uintptr_t) ws->mem + 63) & ~(uintptr_t) 63);
	ws->arena = (void *) (((uintptr_t) ws->arena_mem + 63) & ~(uintptr_t) 63);
	*out = ws;
	return SP_OK;
}

sp_status
sp_nn_workspace_create_ex(const sp_env *env, const sp_nn_model *model, int max_batch,
						  int block, sp_nn_workspace **out, sp_error *err)
{
	sp_nn_workspace *ws;
	size_t		n_input,
				n_act,
				n_col,
				n_dense,
				total,
				dense_row;
	float	   *base;

	*out = NULL;
	if (!model || max_batch < 1 || max_batch > 65536 || block < 0)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "invalid workspace size: max_batch %d, block %d",
							max_batch, block);
	if (block == 0)
	{
		size_t		per = model->max_col * sizeof(float);

		block = per ? (int) (SP_NN_COL_TARGET_BYTES / per) : SP_NN_MAX_BLOCK;
		if (block < 1)
			block = 1;
		if (block > SP_NN_MAX_BLOCK)
			block = SP_NN_MAX_BLOCK;
	}
	if (block > max_batch)
		block = max_batch;
	if (model->graph)
		return graph_workspace_create(env, model, max_batch, out, err);
	dense_row = model->flat_size > model->max_dense ? model->flat_size : model->max_dense;

	/* sizes in floats; the model limits keep these far from overflow */
	if (!sp_mul_size((size_t) max_batch, model->in_size, &n_input) ||
		!sp_mul_size((size_t) block, model->max_act, &n_act) ||
		!sp_mul_size((size_t) block, model->max_col, &n_col) ||
		!sp_mul_size((size_t) max_batch, dense_row, &n_dense))
		return sp_set_error(err, SP_ERR_LIMIT, "workspace too large");
	n_input = align64(n_input);
	n_act = align64(n_act);
	n_col = align64(n_col);
	n_dense = align64(n_dense);
	total = n_input + 2 * n_act + n_col + 2 * n_dense + 16;
	if (total > ((size_t) 1 << 34) / sizeof(float))
		return sp_set_error(err, SP_ERR_LIMIT, "workspace too large: %zu floats", total);

	ws = sp_alloc(env, sizeof(*ws));
	if (!ws)
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory allocating the network workspace");
	memset(ws, 0, sizeof(*ws));
	ws->mem = sp_alloc_array(env, total, sizeof(float));
	if (!ws->mem)
	{
		sp_free(env, ws);
		sp_set_error(err, SP_ERR_NOMEM, "out of memory allocating the network workspace");
		sp_error_detail(err, "Failed to allocate %zu bytes.", total * sizeof(float));
		return SP_ERR_NOMEM;
	}
	base = (float *) (((uintptr_t) ws->mem + 63) & ~(uintptr_t) 63);
	ws->env = env;
	ws->model = model;
	ws->max_batch = max_batch;
	ws->block = block;
	ws->input = base;
	base += n_input;
	ws->act[0] = base;
	base += n_act;
	ws->act[1] = base;
	base += n_act;
	ws->col = base;
	base += n_col;
	ws->dense[0] = base;
	base += n_dense;
	ws->dense[1] = base;
	if (!sp_nn_workspace_set_path(ws, default_isa, err))
	{
		sp_nn_workspace_free(env, ws);
		return err ? err->code : SP_ERR_NOMEM;
	}
	*out = ws;
	return SP_OK;
}

void
sp_nn_workspace_free(const sp_env *env, sp_nn_workspace *ws)
{
	if (!ws)
		return;
	sp_nn_direct_free(env, ws->direct);
	sp_free(env, ws->mem);
	sp_free(env, ws->arena_mem);
	sp_free(env, ws);
}

const char *
sp_nn_workspace_set_path(sp_nn_workspace *ws, int isa, sp_error *err)
{
	sp_nn_direct *d = NULL;

	if (ws->model->graph)
		return "graph";			/* the graph's ops choose their own kernels */
	if (isa != SP_ISA_SCALAR &&
		sp_nn_direct_create(ws->env, ws->model, isa, &d, err) != SP_OK)
		return NULL;
	sp_nn_direct_free(ws->env, ws->direct);
	ws->direct = d;
	return sp_nn_direct_isa_name(d);
}

const char *
sp_nn_workspace_path(const sp_nn_workspace *ws)
{
	if (ws && ws->model->graph)
		return "graph";
	return sp_nn_direct_isa_name(ws ? ws->direct : NULL);
}

int
sp_nn_workspace_max_batch(const sp_nn_workspace *ws)
{
	return ws->max_batch;
}

const sp_nn_model *
sp_nn_workspace_model(const sp_nn_workspace *ws)
{
	return ws->model;
}

int
sp_nn_workspace_block(const sp_nn_workspace *ws)
{
	return ws ? ws->block : 0;
}

/* ---------------------------------------------------------------------- */
/* Forward. */

/*
 * A linear layer over n rows for inference.  One row is a matrix-vector
 * product: OpenBLAS's sgemm with one row still packs the whole weight matrix
 * first (with the Haswell kernels 3136x128 takes 145 us that way against
 * 26 us for sgemv, a third of a batch-1 embedding).  More rows: the trainer's
 * sp_nn_linear_forward (one GEMM).
 */
static void
linear_rows(const float *x, int n, const sp_nn_op *op, float *y)
{
	const int	in = op->g.C,
				out = op->g.O;

	if (n != 1)
	{
		sp_nn_linear_forward(x, n, in, op->w, op->b, out, op->relu, y);
		return;
	}
	cblas_sgemv(CblasRowMajor, CblasNoTrans, out, in, 1.0f, op->w, in, x, 1, 0.0f, y, 1);
	/* bias and ReLU exactly as sp_nn_linear_forward applies them */
	if (op->b || op->relu)
		for (int o = 0; o < out; o++)
		{
			float		v = y[o] + (op->b ? op->b[o] : 0.0f);

			y[o] = op->relu && v < 0.0f ? 0.0f : v;
		}
}

/*
 * Convolutional part for one block of nb images; leaves rows in dst.
 * Interrupts are polled between layers; false when one is pending.
 */
static bool
forward_block(const sp_nn_model *m, sp_nn_workspace *ws, const float *in, int nb, float *dst)
{
	int			C = m->cfg->input.channels;
	size_t		hw = (size_t) m->cfg->input.height * m->cfg->input.width;
	float	   *x = ws->act[0],
			   *y = ws->act[1];

	if (ws->direct)
	{
		/* one image at a time: its activations stay in L1/L2 throughout */
		for (int b = 0; b < nb; b++)
			if (!sp_nn_direct_forward(ws->direct, ws->env, in + (size_t) b * m->in_size,
									  dst + (size_t) b * m->flat_size))
				return false;
		return true;
	}
	sp_nn_nchw_to_cbhw(in, C, hw, nb, nb, 0, x);
	for (int i = 0; i < m->first_dense; i++)
	{
		const sp_nn_op *op = &m->ops[i];
		float	   *t;

		if (sp_env_interrupted(ws->env))
			return false;
		switch (op->kind)
		{
			case SP_OP_CONV:
				sp_nn_conv_forward(x, &op->g, nb, 0, nb, op->w, op->b, op->relu, y, ws->col);
				break;
			case SP_OP_MAXPOOL:
				sp_nn_maxpool_forward(x, &op->g, (size_t) op->g.C * nb, y, NULL);
				break;
			case SP_OP_AVGPOOL:
				sp_nn_avgpool_forward(x, &op->g, (size_t) op->g.C * nb, y);
				break;
			case SP_OP_AFFINE:
				sp_nn_affine_cbhw(x, op->g.C, nb, (size_t) op->g.H * op->g.W, op->w, op->b, op->relu);
				continue;
			case SP_OP_RELU:
				sp_nn_relu(x, (size_t) op->g.C * nb * op->g.H * op->g.W);
				continue;
			default:
				continue;		/* not in the spatial part */
		}
		t = x;
		x = y;
		y = t;
		C = op->g.O;
		hw = (size_t) op->g.OH * op->g.OW;
	}
	sp_nn_cbhw_to_rows(x, C, hw, nb, 0, nb, dst);
	return true;
}

sp_status
sp_nn_forward(const sp_nn_model *m, sp_nn_workspace *ws, const float *input, int batch,
			  float *out, sp_error *err)
{
	const int	dim = m ? m->cfg->embedding_dim : 0;

	if (!m || !ws || (!input && batch > 0) || (!out && batch > 0) || batch < 0)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "sp_nn_forward: invalid arguments");
	if (ws->model != m)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "sp_nn_forward: workspace was created for another model");
	if (m->graph)
		return sp_nn_graph_forward(m, ws->env, ws->arena, input, batch, out, err);

	for (int start = 0; start < batch; start += ws->max_batch)
	{
		int			n = batch - start < ws->max_batch ? batch - start : ws->max_batch;
		const float *in = input + (size_t) start * m->in_size;
		float	   *cur = ws->dense[0],
				   *oth = ws->dense[1];
		int			width = (int) m->flat_size;

		for (int b0 = 0; b0 < n; b0 += ws->block)
		{
			int			nb = n - b0 < ws->block ? n - b0 : ws->block;

			if (sp_env_interrupted(ws->env) ||
				!forward_block(m, ws, in + (size_t) b0 * m->in_size, nb, cur + (size_t) b0 * m->flat_size))
				return sp_set_error(err, SP_ERR_INTERRUPTED, "network forward pass interrupted");
		}
		for (int i = m->first_dense; i < m->n_ops; i++)
		{
			const sp_nn_op *op = &m->ops[i];

			switch (op->kind)
			{
				case SP_OP_LINEAR:
					{
						float	   *t;

						linear_rows(cur, n, op, oth);
						t = cur;
						cur = oth;
						oth = t;
						width = op->g.O;
						break;
					}
				case SP_OP_AFFINE:
					sp_nn_affine_rows(cur, n, width, op->w, op->b, op->relu);
					break;
				case SP_OP_RELU:
					sp_nn_relu(cur, (size_t) n * width);
					break;
				case SP_OP_L2NORM:
					sp_nn_l2norm_rows(cur, n, width, cur);
					break;
				default:
					break;
			}
		}
		memcpy(out + (size_t) start * dim, cur, sizeof(float) * (size_t) n * dim);
	}
	return SP_OK;
}

sp_status
sp_nn_embed_images(const sp_env *env, const sp_nn_model *m, sp_nn_workspace *ws,
				   const sp_image *imgs, int n, float *out, sp_error *err)
{
	if (!m || !ws || n < 0 || (n > 0 && (!imgs || !out)))
		return sp_set_error(err, SP_ERR_INVALID_ARG, "sp_nn_embed_images: invalid arguments");
	for (int start = 0; start < n; start += ws->max_batch)
	{
		int			cnt = n - start < ws->max_batch ? n - start : ws->max_batch;
		sp_status	st;

		for (int i = 0; i < cnt; i++)
		{
			st = sp_preprocess_image_env(env, &m->cfg->input, &imgs[start + i],
										 ws->input + (size_t) i * m->in_size, err);
			if (st != SP_OK)
				return st;
		}
		st = sp_nn_forward(m, ws, ws->input, cnt, out + (size_t) start * m->cfg->embedding_dim, err);
		if (st != SP_OK)
			return st;
	}
	return SP_OK;
}

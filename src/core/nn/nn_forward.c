/*
 * nn_forward.c: the trainer's layer kernels (im2col + OpenBLAS sgemm
 * convolution, pools, linear, affine, l2norm, layout changes), the
 * inference workspace and forward entry points, and BLAS information.
 *
 * Inference runs every model, layer list or imported, as its prepared
 * operator graph (nn/graph.h), one image at a time; the workspace holds the
 * preprocessed input batch and the graph's run memory, so steady-state
 * forward calls allocate nothing.  The graph's nodes chose their kernels
 * (direct / Winograd chains, GEMM, im2col) when the model was loaded.
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
 * row, for stride 1.  im2col (copy out) and col2im (add back) must use the
 * very same range, or the backward pass would not be the adjoint of the
 * forward one.
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
sp_nn_col2im(const float *col, const sp_nn_geom *g, int Btot, int b0, int nb, float *dx)
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
		for (int b = 0; b < nb; b++)
			memset(dx + ((size_t) c * Btot + (size_t) (b0 + b)) * HW, 0, sizeof(float) * HW);
	for (int c = 0; c < g->C; c++)
		for (int ky = 0; ky < k; ky++)
			for (int kx = 0; kx < k; kx++)
			{
				const float *src = col + ((size_t) (c * k + ky) * k + kx) * N;
				int			lo,
							hi;

				stride1_cols(W, OW, p, kx, &lo, &hi);

				for (int b = 0; b < nb; b++)
				{
					float	   *plane = dx + ((size_t) c * Btot + (size_t) (b0 + b)) * HW;
					const float *sp = src + (size_t) b * OHW;

					for (int oy = 0; oy < OH; oy++)
					{
						int			iy = oy * s - p + ky;
						const float *srow = sp + (size_t) oy * OW;
						float	   *drow;

						if (iy < 0 || iy >= H)
							continue;
						drow = plane + (size_t) iy * W;
						if (s == 1)
						{
							/* contiguous, vectorisable */
							float	   *d = drow + (lo - p + kx);
							const float *q = srow + lo;

							for (int j = 0; j < hi - lo; j++)
								d[j] += q[j];
							continue;
						}
						for (int ox = 0; ox < OW; ox++)
						{
							int			ix = ox * s - p + kx;

							if (ix >= 0 && ix < W)
								drow[ix] += srow[ox];
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

void
sp_nn_rows_to_cbhw(const float *rows, int C, size_t hw, int Btot, float *x)
{
	for (int b = 0; b < Btot; b++)
		for (int c = 0; c < C; c++)
			memcpy(x + ((size_t) c * Btot + (size_t) b) * hw,
				   rows + ((size_t) b * C + c) * hw, sizeof(float) * hw);
}

/* ---------------------------------------------------------------------- */
/* Inference: every model runs as its prepared operator graph (nn_graph_model.c). */

/*
 * The convolution kernels models loaded from now on get.  Process-wide like
 * the distance kernels' choice: the backend sets it from siamese.nn.isa, the
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

sp_status
sp_nn_workspace_create(const sp_env *env, const sp_nn_model *model, int max_batch,
					   sp_nn_workspace **out, sp_error *err)
{
	sp_nn_workspace *ws;
	size_t		n_input;

	*out = NULL;
	if (!model || !model->graph || max_batch < 1 || max_batch > 65536)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "invalid workspace size: max_batch %d", max_batch);
	if (!sp_mul_size((size_t) max_batch, model->in_size, &n_input))
		return sp_set_error(err, SP_ERR_LIMIT, "workspace too large");
	ws = sp_alloc(env, sizeof(*ws));
	if (!ws)
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory allocating the network workspace");
	memset(ws, 0, sizeof(*ws));
	ws->env = env;
	ws->model = model;
	ws->max_batch = max_batch;
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

void
sp_nn_workspace_free(const sp_env *env, sp_nn_workspace *ws)
{
	if (!ws)
		return;
	sp_free(env, ws->mem);
	sp_free(env, ws->arena_mem);
	sp_free(env, ws);
}

const char *
sp_nn_workspace_set_path(sp_nn_workspace *ws, int isa, sp_error *err)
{
	/* the graph's nodes chose their kernels when the model was prepared */
	if (isa != ws->model->isa)
	{
		sp_set_error(err, SP_ERR_INVALID_ARG, "a model's convolution kernels are chosen when it is loaded");
		sp_error_hint(err, "Set the default (sp_nn_set_default_isa) and load the model again.");
		return NULL;
	}
	return sp_nn_workspace_path(ws);
}

const char *
sp_nn_workspace_path(const sp_nn_workspace *ws)
{
	return ws->model->direct ? sp_nn_direct_path_name(ws->model->isa) : "im2col";
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

sp_status
sp_nn_forward(const sp_nn_model *m, sp_nn_workspace *ws, const float *input, int batch,
			  float *out, sp_error *err)
{
	if (!m || !ws || (!input && batch > 0) || (!out && batch > 0) || batch < 0)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "sp_nn_forward: invalid arguments");
	if (ws->model != m)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "sp_nn_forward: workspace was created for another model");
	return sp_nn_graph_forward(m, ws->env, ws->arena, input, batch, out, err);
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

/*
 * nn_forward.c: the inference workspace and forward entry points, the
 * l2norm kernel, and BLAS information.
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
/* The l2norm layer's kernel (SiameseL2Norm, ops/norm.c). */

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

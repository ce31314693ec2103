/*
 * pool.c: MaxPool and AveragePool (1-D and 2-D windows from conv.h's
 * geometry: pads, strides, dilations, auto_pad, ceil_mode,
 * count_include_pad) and the global pools over all spatial positions.
 * MaxPool and AveragePool have a backward: the max one finds each window's
 * maximum again (the same comparison as the forward, so ties go to the
 * same element) rather than keeping indices from the forward.
 */
#include "nn/op.h"
#include "nn/ops/conv.h"

#include <math.h>
#include <string.h>

#pragma GCC diagnostic ignored "-Wunused-parameter"

static bool
is_max(const sp_node *n)
{
	return strcmp(n->op->name, "MaxPool") == 0;
}

static sp_status
pool_window(const sp_graph *g, const sp_node *n, sp_window *w, sp_error *err)
{
	const sp_value *x = sp_in(g, n, 0);
	const int64_t *ks;
	int			nks = sp_attr_ints(n, "kernel_shape", &ks);
	int64_t		kernel[2];

	if (x->shape.rank < 3 || x->shape.rank > 4)
		return sp_op_error(err, SP_ERR_UNSUPPORTED, n, "only 1-D and 2-D windows are supported (the input has rank %d)",
						   x->shape.rank);
	if (nks != x->shape.rank - 2)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "kernel_shape must have one value per spatial dimension");
	kernel[0] = ks[0];
	kernel[1] = nks > 1 ? ks[1] : 0;
	return sp_window_geometry(g, n, &x->shape, kernel, sp_attr_int(n, "ceil_mode", 0) != 0, w, err);
}

static sp_status
pool_infer(sp_graph *g, sp_node *n, sp_error *err)
{
	sp_window	w;
	sp_shape	out;
	sp_status	st;

	if ((st = sp_check_input(g, n, 0, err, sp_dt_float_only)) != SP_OK)
		return st;
	if (n->n_out > 1)
		return sp_op_error(err, SP_ERR_UNSUPPORTED, n, "the Indices output is not supported");
	if ((st = pool_window(g, n, &w, err)) != SP_OK)
		return st;
	if (!is_max(n) && (w.dh != 1 || w.dw != 1))
		return sp_op_error(err, SP_ERR_UNSUPPORTED, n, "dilated average pooling is not supported");
	if (w.OH < 1 || w.OW < 1)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "output would be empty");
	sp_window_out_shape(&w, sp_in(g, n, 0)->shape.rank, w.C, &out);
	sp_out_set(g, n, 0, SP_DT_FLOAT, &out);
	return SP_OK;
}

/* The divisor of AveragePool's window at (y0, x0) with count valid inputs. */
static int64_t
avg_count(const sp_window *w, bool include_pad, int64_t y0, int64_t x0, int64_t count)
{
	if (include_pad)
	{
		/* the window clipped to the padded extent (ceil_mode may run past it) */
		int64_t		ye = y0 + (w->kh - 1) * w->dh,
					xe = x0 + (w->kw - 1) * w->dw;
		int64_t		hy = (ye < w->H + w->pb ? ye : w->H + w->pb - 1) - y0 + 1,
					hx = (xe < w->W + w->pr ? xe : w->W + w->pr - 1) - x0 + 1;

		return hy * hx;
	}
	return count;
}

/*
 * A pool run split over the graph's team by planes (a plane of the output
 * reads and, in backward, writes only its own input plane).
 */
typedef struct pool_work
{
	sp_op_split_ctl ctl;
	sp_window	w;
	bool		max,
				include_pad;
} pool_work;

static void
pool_forward_part(void *ctx, int part, int parts)
{
	pool_work  *pw = ctx;
	const sp_window w = pw->w;
	const bool	max = pw->max,
				include_pad = pw->include_pad;
	const float *X = pw->ctl.r->in[0];
	float	   *Y = pw->ctl.r->out[0];
	int64_t		lo,
				hi;

	sp_team_range(w.N * w.C, part, parts, &lo, &hi);
	for (int64_t p = lo; p < hi; p++)
	{
		const float *xp = X + p * w.H * w.W;
		float	   *yp = Y + p * w.OH * w.OW;

		for (int64_t oy = 0; oy < w.OH; oy++)
			for (int64_t ox = 0; ox < w.OW; ox++)
			{
				float		acc = max ? -INFINITY : 0.0f;
				int64_t		count = 0;
				int64_t		y0 = oy * w.sh - w.pt,
							x0 = ox * w.sw - w.pl;

				for (int64_t ky = 0; ky < w.kh; ky++)
				{
					int64_t		iy = y0 + ky * w.dh;

					if (iy < 0 || iy >= w.H)
						continue;
					for (int64_t kx = 0; kx < w.kw; kx++)
					{
						int64_t		ix = x0 + kx * w.dw;
						float		v;

						if (ix < 0 || ix >= w.W)
							continue;
						v = xp[iy * w.W + ix];
						if (max)
							acc = (v > acc || isnan(v)) ? v : acc;
						else
							acc += v;
						count++;
					}
				}
				if (!max)
				{
					count = avg_count(&w, include_pad, y0, x0, count);
					acc = count > 0 ? acc / (float) count : 0.0f;
				}
				yp[oy * w.OW + ox] = acc;
			}
		if (((p - lo) & 63) == 63 && sp_op_part_stopped(&pw->ctl, part))
			return;
	}
}

static void
pool_backward_part(void *ctx, int part, int parts)
{
	pool_work  *pw = ctx;
	const sp_window w = pw->w;
	const bool	max = pw->max,
				include_pad = pw->include_pad;
	const float *X = pw->ctl.r->in[0],
			   *dY = pw->ctl.r->d_out[0];
	float	   *dX = pw->ctl.r->d_in[0];
	int64_t		lo,
				hi;

	sp_team_range(w.N * w.C, part, parts, &lo, &hi);
	for (int64_t p = lo; p < hi; p++)
	{
		const float *xp = X + p * w.H * w.W;
		const float *dyp = dY + p * w.OH * w.OW;
		float	   *dxp = dX + p * w.H * w.W;

		for (int64_t oy = 0; oy < w.OH; oy++)
			for (int64_t ox = 0; ox < w.OW; ox++)
			{
				float		acc = -INFINITY,
							g = dyp[oy * w.OW + ox];
				int64_t		arg = -1,
							count = 0;
				int64_t		y0 = oy * w.sh - w.pt,
							x0 = ox * w.sw - w.pl;

				for (int64_t ky = 0; ky < w.kh; ky++)
				{
					int64_t		iy = y0 + ky * w.dh;

					if (iy < 0 || iy >= w.H)
						continue;
					for (int64_t kx = 0; kx < w.kw; kx++)
					{
						int64_t		ix = x0 + kx * w.dw;
						float		v;

						if (ix < 0 || ix >= w.W)
							continue;
						v = xp[iy * w.W + ix];
						if (max && (arg < 0 || v > acc || isnan(v)))
						{
							acc = v;
							arg = iy * w.W + ix;
						}
						count++;
					}
				}
				if (max)
				{
					if (arg >= 0)
						dxp[arg] += g;
					continue;
				}
				count = avg_count(&w, include_pad, y0, x0, count);
				if (count <= 0)
					continue;
				g /= (float) count;
				for (int64_t ky = 0; ky < w.kh; ky++)
				{
					int64_t		iy = y0 + ky * w.dh;

					if (iy < 0 || iy >= w.H)
						continue;
					for (int64_t kx = 0; kx < w.kw; kx++)
					{
						int64_t		ix = x0 + kx * w.dw;

						if (ix >= 0 && ix < w.W)
							dxp[iy * w.W + ix] += g;
					}
				}
			}
		if (((p - lo) & 63) == 63 && sp_op_part_stopped(&pw->ctl, part))
			return;
	}
}

static sp_status
pool_run(const sp_op_run *r, sp_team_fn fn)
{
	pool_work	pw;
	sp_status	st;

	memset(&pw, 0, sizeof(pw));
	pw.ctl.r = r;
	pw.ctl.st = SP_OK;
	pw.max = is_max(r->n);
	pw.include_pad = sp_attr_int(r->n, "count_include_pad", 0) != 0;
	if ((st = pool_window(r->g, r->n, &pw.w, r->err)) != SP_OK)
		return st;
	sp_op_split(r, pw.w.N * pw.w.C * pw.w.H * pw.w.W, fn, &pw);
	return pw.ctl.st;
}

static sp_status
pool_forward(const sp_op_run *r)
{
	return pool_run(r, pool_forward_part);
}

static sp_status
pool_backward(const sp_op_run *r)
{
	if (!r->d_out[0] || !r->d_in[0])
		return SP_OK;
	return pool_run(r, pool_backward_part);
}

const sp_op_def sp_op_MaxPool = {"MaxPool", 1, 1, 1, 2, 0, pool_infer, NULL, pool_forward, NULL, NULL, pool_backward};
const sp_op_def sp_op_AveragePool = {"AveragePool", 1, 1, 1, 1, 0, pool_infer, NULL, pool_forward, NULL, NULL,
pool_backward};

/* ---------------------------------------------------------------------- */
/* Global pools: N x C x spatial... -> N x C x 1 x ... */

static sp_status
global_infer(sp_graph *g, sp_node *n, sp_error *err)
{
	const sp_value *x = sp_in(g, n, 0);
	sp_shape	out;
	sp_status	st;

	if ((st = sp_check_input(g, n, 0, err, sp_dt_float_only)) != SP_OK)
		return st;
	if (x->shape.rank < 3)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "input must have spatial dimensions");
	out = x->shape;
	for (int i = 2; i < out.rank; i++)
		out.dim[i] = 1;
	sp_out_set(g, n, 0, SP_DT_FLOAT, &out);
	return SP_OK;
}

static sp_status
global_forward(const sp_op_run *r)
{
	const sp_value *x = sp_in(r->g, r->n, 0);
	bool		max = strcmp(r->n->op->name, "GlobalMaxPool") == 0;
	int64_t		planes = x->shape.dim[0] * x->shape.dim[1];
	int64_t		hw = sp_shape_numel(&x->shape) / (planes ? planes : 1);
	const float *X = r->in[0];
	float	   *Y = r->out[0];

	for (int64_t p = 0; p < planes; p++)
	{
		const float *xp = X + p * hw;

		if (max)
		{
			float		m = -INFINITY;

			for (int64_t i = 0; i < hw; i++)
				m = (xp[i] > m || isnan(xp[i])) ? xp[i] : m;
			Y[p] = m;
		}
		else
		{
			/* double accumulation: planes of 50k+ values lose bits in float */
			double		s = 0.0;

			for (int64_t i = 0; i < hw; i++)
				s += xp[i];
			Y[p] = (float) (s / (double) hw);
		}
	}
	return SP_OK;
}

const sp_op_def sp_op_GlobalAveragePool = {"GlobalAveragePool", 1, 1, 1, 1, 0, global_infer, NULL, global_forward, NULL, NULL, NULL};
const sp_op_def sp_op_GlobalMaxPool = {"GlobalMaxPool", 1, 1, 1, 1, 0, global_infer, NULL, global_forward, NULL, NULL, NULL};

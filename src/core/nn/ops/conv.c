/*
 * conv.c: Conv (1-D and 2-D, groups including depthwise, dilation,
 * rectangular kernels, asymmetric pads, auto_pad) and the shared window
 * geometry the pools use too (conv.h).
 *
 * Kernels, chosen per node:
 *   direct      square kernels (k >= 2) with equal strides and pads, no
 *               groups or dilation, on a CPU with AVX2 or AVX-512: the
 *               register-blocked direct and Winograd F(2x2, 3x3) kernels of
 *               nn_conv_direct.c (chosen at prepare; siamese.nn.isa = scalar
 *               keeps the GEMM paths)
 *   pointwise   1x1, stride 1, no padding: one GEMM straight on the input
 *   depthwise   one input channel per group: a direct loop per channel
 *   im2col      everything else: the receptive fields of one group copied
 *               into a column matrix, then one GEMM per group
 * The bias and a fused activation (set by graph_passes.c as the attributes
 * "_act", "_act_min", "_act_max") are applied to each output plane while it
 * is still in cache.
 *
 * Backward (training graphs; groups of 1, any stride, pads and dilation,
 * no fused activation): per image, the columns of the forward again, then
 * dW += dY col' and dcol = W' dY (sgemm), and col2im adds dcol into dX.
 * A training graph's prepare sizes the scratch for col and dcol and leaves
 * the weights where they are (they change every step).
 */
#include "nn/nn_layers.h"
#include "nn/op.h"
#include "nn/sgemm.h"
#include "nn/ops/conv.h"

#include <math.h>
#include <string.h>

#pragma GCC diagnostic ignored "-Wunused-parameter"

/* ---------------------------------------------------------------------- */
/* Window geometry (Conv, MaxPool, AveragePool). */

sp_status
sp_window_geometry(const sp_graph *g, const sp_node *n, const sp_shape *x, const int64_t *kernel,
				   bool ceil_mode, sp_window *w, sp_error *err)
{
	const int64_t *a;
	int			c;
	int			sr = x->rank - 2;
	const char *auto_pad = sp_attr_string(n, "auto_pad", "NOTSET");

	if (sr < 1 || sr > 2)
		return sp_op_error(err, SP_ERR_UNSUPPORTED, n, "only 1-D and 2-D windows are supported (the input has rank %d)",
						   x->rank);
	memset(w, 0, sizeof(*w));
	w->N = x->dim[0];
	w->C = x->dim[1];
	/* 1-D runs as 2-D with height 1 */
	w->H = sr == 2 ? x->dim[2] : 1;
	w->W = x->dim[sr == 2 ? 3 : 2];
	w->kh = sr == 2 ? kernel[0] : 1;
	w->kw = kernel[sr - 1];
	w->sh = w->sw = w->dh = w->dw = 1;
	if ((c = sp_attr_ints(n, "strides", &a)) >= 0)
	{
		if (c != sr)
			return sp_op_error(err, SP_ERR_CORRUPT, n, "strides has %d values for %d spatial dimensions", c, sr);
		w->sh = sr == 2 ? a[0] : 1;
		w->sw = a[sr - 1];
	}
	if ((c = sp_attr_ints(n, "dilations", &a)) >= 0)
	{
		if (c != sr)
			return sp_op_error(err, SP_ERR_CORRUPT, n, "dilations has %d values for %d spatial dimensions", c, sr);
		w->dh = sr == 2 ? a[0] : 1;
		w->dw = a[sr - 1];
	}
	if (w->kh < 1 || w->kw < 1 || w->kh > 1024 || w->kw > 1024 || w->sh < 1 || w->sw < 1 ||
		w->sh > 1024 || w->sw > 1024 || w->dh < 1 || w->dw < 1 || w->dh > 1024 || w->dw > 1024)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "kernel, stride or dilation out of range");
	{
		int64_t		ekh = (w->kh - 1) * w->dh + 1,
					ekw = (w->kw - 1) * w->dw + 1;

		if (strcmp(auto_pad, "NOTSET") == 0)
		{
			if ((c = sp_attr_ints(n, "pads", &a)) >= 0)
			{
				if (c != 2 * sr)
					return sp_op_error(err, SP_ERR_CORRUPT, n, "pads has %d values for %d spatial dimensions", c, sr);
				w->pt = sr == 2 ? a[0] : 0;
				w->pl = a[sr - 1];
				w->pb = sr == 2 ? a[2] : 0;
				w->pr = a[2 * sr - 1];
			}
			if (w->pt < 0 || w->pl < 0 || w->pb < 0 || w->pr < 0 ||
				w->pt > 4096 || w->pl > 4096 || w->pb > 4096 || w->pr > 4096)
				return sp_op_error(err, SP_ERR_CORRUPT, n, "pads out of range");
		}
		else if (strcmp(auto_pad, "VALID") == 0)
			;
		else if (strcmp(auto_pad, "SAME_UPPER") == 0 || strcmp(auto_pad, "SAME_LOWER") == 0)
		{
			bool		upper = auto_pad[5] == 'U';
			int64_t		oh = (w->H + w->sh - 1) / w->sh,
						ow = (w->W + w->sw - 1) / w->sw;
			int64_t		ph = (oh - 1) * w->sh + ekh - w->H,
						pw = (ow - 1) * w->sw + ekw - w->W;

			if (ph < 0)
				ph = 0;
			if (pw < 0)
				pw = 0;
			w->pt = upper ? ph / 2 : ph - ph / 2;
			w->pb = ph - w->pt;
			w->pl = upper ? pw / 2 : pw - pw / 2;
			w->pr = pw - w->pl;
		}
		else
			return sp_op_error(err, SP_ERR_CORRUPT, n, "auto_pad \"%s\" is not valid", auto_pad);

		if (w->H + w->pt + w->pb < ekh || w->W + w->pl + w->pr < ekw)
			return sp_op_error(err, SP_ERR_CORRUPT, n, "kernel is larger than the padded input");
		if (ceil_mode)
		{
			w->OH = (w->H + w->pt + w->pb - ekh + w->sh - 1) / w->sh + 1;
			w->OW = (w->W + w->pl + w->pr - ekw + w->sw - 1) / w->sw + 1;
			/* the last window must start inside the input or its left padding */
			if ((w->OH - 1) * w->sh >= w->H + w->pt)
				w->OH--;
			if ((w->OW - 1) * w->sw >= w->W + w->pl)
				w->OW--;
		}
		else
		{
			w->OH = (w->H + w->pt + w->pb - ekh) / w->sh + 1;
			w->OW = (w->W + w->pl + w->pr - ekw) / w->sw + 1;
		}
	}
	return SP_OK;
}

void
sp_window_out_shape(const sp_window *w, int rank, int64_t channels, sp_shape *out)
{
	out->rank = rank;
	out->dim[0] = w->N;
	out->dim[1] = channels;
	if (rank == 4)
	{
		out->dim[2] = w->OH;
		out->dim[3] = w->OW;
	}
	else
		out->dim[2] = w->OW;
}

/* ---------------------------------------------------------------------- */
/* Activation after a conv or GEMM (fused by graph_passes.c). */

void
sp_fused_act_get(const sp_node *n, sp_fused_act *act)
{
	const char *a = sp_attr_string(n, "_act", NULL);

	act->kind = SP_ACT_NONE;
	act->lo = -INFINITY;
	act->hi = INFINITY;
	if (!a)
		return;
	if (strcmp(a, "Relu") == 0)
	{
		act->kind = SP_ACT_CLIP;
		act->lo = 0.0f;
	}
	else if (strcmp(a, "Clip") == 0)
	{
		act->kind = SP_ACT_CLIP;
		act->lo = sp_attr_float(n, "_act_min", -INFINITY);
		act->hi = sp_attr_float(n, "_act_max", INFINITY);
	}
}

void
sp_fused_act_apply(const sp_fused_act *act, float *y, size_t len)
{
	if (act->kind == SP_ACT_NONE)
		return;
	if (act->lo == 0.0f && act->hi == INFINITY)
	{
		for (size_t i = 0; i < len; i++)
			y[i] = y[i] > 0.0f ? y[i] : 0.0f;
		return;
	}
	for (size_t i = 0; i < len; i++)
		y[i] = y[i] < act->lo ? act->lo : (y[i] > act->hi ? act->hi : y[i]);
}

/* ---------------------------------------------------------------------- */
/* Conv */

typedef enum conv_kernel
{
	CONV_IM2COL = 0,
	CONV_POINTWISE,
	CONV_DEPTHWISE
} conv_kernel;

static conv_kernel
choose_kernel(const sp_window *w, int64_t group, int64_t O)
{
	if (group == 1 && w->kh == 1 && w->kw == 1 && w->sh == 1 && w->sw == 1 &&
		w->pt == 0 && w->pl == 0 && w->pb == 0 && w->pr == 0)
		return CONV_POINTWISE;
	if (group == w->C && group > 1)
		return CONV_DEPTHWISE;
	(void) O;
	return CONV_IM2COL;
}

/* Scratch of one image's forward: the depthwise kernel's bordered rows, or im2col's columns of one group. */
static size_t
conv_image_scratch(const sp_window *w, int64_t group, int64_t O)
{
	switch (choose_kernel(w, group, O))
	{
		case CONV_DEPTHWISE:
			return sp_depthwise_scratch_bytes(w);
		case CONV_IM2COL:
			return (size_t) ((w->C / group) * w->kh * w->kw * w->OH * w->OW) * sizeof(float);
		default:
			return 0;
	}
}

static sp_status
conv_infer(sp_graph *g, sp_node *n, sp_error *err)
{
	const sp_value *x = sp_in(g, n, 0),
			   *wv = sp_in(g, n, 1),
			   *b = sp_in(g, n, 2);
	int64_t		group = sp_attr_int(n, "group", 1);
	int64_t		kernel[2];
	const int64_t *ks;
	int			nks;
	sp_window	w;
	sp_shape	out;
	sp_status	st;
	int			sr;

	if ((st = sp_check_input(g, n, 0, err, sp_dt_float_only)) != SP_OK ||
		(st = sp_check_input(g, n, 1, err, sp_dt_float_only)) != SP_OK)
		return st;
	if (b && (st = sp_check_input(g, n, 2, err, sp_dt_float_only)) != SP_OK)
		return st;
	sr = x->shape.rank - 2;
	if (wv->shape.rank != x->shape.rank)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "weight has rank %d but the input has rank %d",
						   wv->shape.rank, x->shape.rank);
	for (int i = 0; i < sr && i < 2; i++)
		kernel[i] = wv->shape.dim[2 + i];
	if ((nks = sp_attr_ints(n, "kernel_shape", &ks)) >= 0)
	{
		if (nks != sr)
			return sp_op_error(err, SP_ERR_CORRUPT, n, "kernel_shape has %d values", nks);
		for (int i = 0; i < sr && i < 2; i++)
			if (ks[i] != kernel[i])
				return sp_op_error(err, SP_ERR_CORRUPT, n, "kernel_shape does not match the weight");
	}
	if ((st = sp_window_geometry(g, n, &x->shape, kernel, false, &w, err)) != SP_OK)
		return st;
	if (group < 1 || w.C % group != 0 || wv->shape.dim[0] % group != 0)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "group %lld does not divide %lld input and %lld output channels",
						   (long long) group, (long long) w.C, (long long) wv->shape.dim[0]);
	if (wv->shape.dim[1] != w.C / group)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "weight has %lld input channels per group, the input gives %lld",
						   (long long) wv->shape.dim[1], (long long) (w.C / group));
	if (b && (b->shape.rank != 1 || b->shape.dim[0] != wv->shape.dim[0]))
		return sp_op_error(err, SP_ERR_CORRUPT, n, "bias must have %lld values", (long long) wv->shape.dim[0]);
	if (w.OH < 1 || w.OW < 1)
		return sp_op_error(err, SP_ERR_CORRUPT, n, "output would be empty");
	sp_window_out_shape(&w, x->shape.rank, wv->shape.dim[0], &out);
	sp_out_set(g, n, 0, SP_DT_FLOAT, &out);
	if (choose_kernel(&w, group, wv->shape.dim[0]) == CONV_IM2COL &&
		(w.C / group) * w.kh * w.kw > SP_GRAPH_MAX_ELEMENTS / (w.OH * w.OW))
		return sp_op_error(err, SP_ERR_LIMIT, n, "im2col matrix would be too large");
	n->scratch = conv_image_scratch(&w, group, wv->shape.dim[0]);
	return SP_OK;
}

/*
 * The output columns [lo, hi) of a row whose input column ox * sw + off
 * (off = kx * dw - pl) lies inside [0, W): the rest read padding.  im2col
 * (copy out) and col2im_add (add back) use the very same range, so the
 * backward is the adjoint of the forward; inside it the rows run without
 * bounds checks (a plain copy at stride 1), which is most of their cost.
 */
static inline void
col_range(const sp_window *w, int64_t off, int64_t *lo, int64_t *hi)
{
	*lo = off >= 0 ? 0 : (-off + w->sw - 1) / w->sw;
	*hi = w->W - off <= 0 ? 0 : (w->W - off - 1) / w->sw + 1;
	if (*hi > w->OW)
		*hi = w->OW;
	if (*lo > *hi)
		*lo = *hi;
}

/* Columns of one group of one image: [C_g * kh * kw][OH * OW]. */
static void
im2col(const float *x, const sp_window *w, int64_t c0, int64_t cg, float *col)
{
	const int64_t OHW = w->OH * w->OW;

	for (int64_t c = 0; c < cg; c++)
	{
		const float *plane = x + (c0 + c) * w->H * w->W;

		for (int64_t ky = 0; ky < w->kh; ky++)
			for (int64_t kx = 0; kx < w->kw; kx++)
			{
				float	   *dst = col + ((c * w->kh + ky) * w->kw + kx) * OHW;
				int64_t		off = kx * w->dw - w->pl,
							lo,
							hi;

				col_range(w, off, &lo, &hi);
				for (int64_t oy = 0; oy < w->OH; oy++)
				{
					int64_t		iy = oy * w->sh - w->pt + ky * w->dh;
					float	   *d = dst + oy * w->OW;
					const float *row;

					if (iy < 0 || iy >= w->H)
					{
						memset(d, 0, sizeof(float) * (size_t) w->OW);
						continue;
					}
					row = plane + iy * w->W + off;
					for (int64_t ox = 0; ox < lo; ox++)
						d[ox] = 0.0f;
					if (w->sw == 1)
						memcpy(d + lo, row + lo, sizeof(float) * (size_t) (hi - lo));
					else
						for (int64_t ox = lo; ox < hi; ox++)
							d[ox] = row[ox * w->sw];
					for (int64_t ox = hi; ox < w->OW; ox++)
						d[ox] = 0.0f;
				}
			}
	}
}

/*
 * The work of one Conv run, split over the graph's team by images: each
 * part takes a contiguous range of the batch and its own slice of the
 * scratch (conv_train_part_bytes).  Part 0 polls for interrupts and tells
 * the others (ctl).  In backward, parts other than 0 add their weight
 * and bias gradients into their own slice, which the caller then adds in
 * part order (so a run is reproducible for a given team size).
 */
typedef struct conv_work
{
	const sp_op_run *r;
	sp_window	w;
	int64_t		O,
				group;
	conv_kernel kern;
	sp_fused_act act;
	size_t		part_bytes;
	const float *X,
			   *Wt,
			   *B,
			   *dY;
	float	   *Y,
			   *dX,
			   *dW,
			   *dB;
	int			parts;			/* of the backward run, recorded by part 0 (a small run is not split) */
	sp_op_split_ctl ctl;
} conv_work;

/*
 * Bytes of a part's scratch in a training graph: the forward's (any group),
 * and with groups of 1 (backward) col and dcol, then (parts > 1) its dW and
 * dB.
 */
static size_t
conv_train_part_bytes(const sp_window *w, int64_t group, int64_t O, int parts)
{
	size_t		k = (size_t) (w->C * w->kh * w->kw);
	size_t		bytes = conv_image_scratch(w, group, O);

	if (group == 1 && 2 * k * (size_t) (w->OH * w->OW) * sizeof(float) > bytes)
		bytes = 2 * k * (size_t) (w->OH * w->OW) * sizeof(float);
	bytes = (bytes + 63) & ~(size_t) 63;
	if (group == 1 && parts > 1)
		bytes += (((size_t) O * (k + 1) * sizeof(float)) + 63) & ~(size_t) 63;
	return bytes;
}

/* Choose the direct kernels when the node suits them. */
static sp_status
conv_prepare(sp_graph *g, sp_node *n, sp_error *err)
{
	const sp_value *x = sp_in(g, n, 0),
			   *wv = sp_in(g, n, 1),
			   *b = sp_in(g, n, 2);
	int64_t		kernel[2];
	sp_window	w;
	sp_dconv   *d = NULL;
	sp_status	st;
	int			isa = sp_nn_default_isa();

	if (g->training)
	{
		/* one part per thread of the team: the forward's scratch, and backward's (groups of 1) */
		if (wv->shape.rank >= 3)
		{
			int64_t		group = sp_attr_int(n, "group", 1);

			kernel[0] = wv->shape.dim[2];
			kernel[1] = wv->shape.rank == 4 ? wv->shape.dim[3] : 0;
			if ((st = sp_window_geometry(g, n, &x->shape, kernel, false, &w, err)) != SP_OK)
				return st;
			n->scratch = (size_t) sp_graph_parts(g) *
				conv_train_part_bytes(&w, group, wv->shape.dim[0], sp_graph_parts(g));
		}
		return SP_OK;
	}
	if (isa == SP_ISA_SCALAR || x->shape.rank != 4 || !wv->data || (b && !b->data) ||
		sp_attr_int(n, "group", 1) != 1)
		return SP_OK;
	kernel[0] = wv->shape.dim[2];
	kernel[1] = wv->shape.dim[3];
	if ((st = sp_window_geometry(g, n, &x->shape, kernel, false, &w, err)) != SP_OK)
		return st;
	if (w.kh != w.kw || w.kh < 2 || w.sh != w.sw || w.dh != 1 || w.dw != 1 ||
		w.pt != w.pl || w.pt != w.pb || w.pt != w.pr || w.C > 65536 || w.H > 65536 || w.W > 65536 ||
		wv->shape.dim[0] > 65536)
		return SP_OK;
	if ((st = sp_dconv_create(g->env, (int) w.C, (int) w.H, (int) w.W, (int) wv->shape.dim[0], (int) w.kh,
							  (int) w.sh, (int) w.pt, wv->data, b ? b->data : NULL, isa, &d, err)) != SP_OK)
		return st;
	if (d)
	{
		n->state = d;
		n->scratch = sp_dconv_scratch_bytes(d);
	}
	return SP_OK;
}

static void
conv_free_state(const sp_env *env, sp_node *n)
{
	sp_dconv_free(env, n->state);
	n->state = NULL;
}

static void
conv_work_init(conv_work *cw, const sp_op_run *r, const sp_window *w, int64_t O, int64_t group,
			   const sp_fused_act *act)
{
	int			parts = sp_graph_parts(r->g);

	memset(cw, 0, sizeof(*cw));
	cw->r = r;
	cw->w = *w;
	cw->O = O;
	cw->group = group;
	cw->kern = choose_kernel(w, group, O);
	if (act)
		cw->act = *act;
	cw->part_bytes = parts > 1 ? (r->n->scratch / (size_t) parts) & ~(size_t) 63 : 0;
	cw->ctl.r = r;
	cw->ctl.st = SP_OK;
}

static float *
conv_part_scratch(const conv_work *cw, int part)
{
	return (float *) ((char *) cw->r->scratch + (size_t) part * cw->part_bytes);
}

static void
conv_forward_part(void *arg, int part, int parts)
{
	conv_work  *cw = arg;
	const sp_op_run *r = cw->r;
	const sp_window *w = &cw->w;
	const int64_t O = cw->O,
				OHW = w->OH * w->OW,
				HW = w->H * w->W;
	const int64_t cg = w->C / cw->group,
				og = O / cw->group;
	const int64_t K = cg * w->kh * w->kw;
	float	   *scratch = conv_part_scratch(cw, part);
	int64_t		lo,
				hi;

	sp_team_range(w->N, part, parts, &lo, &hi);
	for (int64_t b = lo; b < hi; b++)
	{
		const float *xb = cw->X + b * w->C * HW;
		float	   *yb = cw->Y + b * O * OHW;

		if (sp_op_part_stopped(&cw->ctl, part))
			return;
		if (r->n->state)
		{
			/* inference only (a training graph prepares no direct kernel), so part 0 */
			if (!sp_dconv_run(r->n->state, r->env, xb, yb, scratch))
			{
				cw->ctl.st = sp_op_interrupted(r) != SP_OK ? SP_ERR_INTERRUPTED :
					sp_set_error(r->err, SP_ERR_INTERRUPTED, "canceled");
				return;
			}
			sp_fused_act_apply(&cw->act, yb, (size_t) (O * OHW));
			continue;
		}
		if (cw->kern == CONV_POINTWISE)
			sp_sgemm(false, false, (int) O, (int) OHW, (int) w->C, 1.0f, cw->Wt, (int) w->C, xb, (int) OHW,
					 0.0f, yb, (int) OHW);
		else if (cw->kern == CONV_DEPTHWISE)
		{
			int64_t		mult = O / w->C;

			/* bias and activation are applied inside the kernel */
			for (int64_t o = 0; o < O; o++)
				sp_depthwise_plane(xb + (o / mult) * HW, w, cw->Wt + o * w->kh * w->kw, cw->B ? cw->B[o] : 0.0f,
								   &cw->act, yb + o * OHW, scratch);
			continue;
		}
		else
			for (int64_t gi = 0; gi < cw->group; gi++)
			{
				im2col(xb, w, gi * cg, cg, scratch);
				sp_sgemm(false, false, (int) og, (int) OHW, (int) K, 1.0f, cw->Wt + gi * og * K, (int) K, scratch,
						 (int) OHW, 0.0f, yb + gi * og * OHW, (int) OHW);
			}
		for (int64_t o = 0; o < O; o++)
			sp_bias_act(yb + o * OHW, (size_t) OHW, cw->B ? cw->B[o] : 0.0f, &cw->act);
	}
}

static sp_status
conv_forward(const sp_op_run *r)
{
	const sp_graph *g = r->g;
	const sp_node *n = r->n;
	const sp_value *x = sp_in(g, n, 0),
			   *wv = sp_in(g, n, 1);
	const float *X = r->in[0],
			   *Wt = r->in[1],
			   *B = n->n_in > 2 ? r->in[2] : NULL;
	float	   *Y = r->out[0];
	int64_t		group = sp_attr_int(n, "group", 1);
	int64_t		kernel[2] = {wv->shape.rank == 4 ? wv->shape.dim[2] : wv->shape.dim[2],
	wv->shape.rank == 4 ? wv->shape.dim[3] : 0};
	int64_t		O = wv->shape.dim[0];
	sp_window	w;
	sp_fused_act act;
	sp_status	st;

	if (wv->shape.rank == 3)
		kernel[0] = wv->shape.dim[2];
	if ((st = sp_window_geometry(g, n, &x->shape, kernel, false, &w, r->err)) != SP_OK)
		return st;
	sp_fused_act_get(n, &act);
	{
		conv_work	cw;

		conv_work_init(&cw, r, &w, O, group, &act);
		cw.X = X;
		cw.Wt = Wt;
		cw.B = B;
		cw.Y = Y;
		sp_op_split(r, w.N * O * w.OH * w.OW, conv_forward_part, &cw);
		return cw.ctl.st;
	}
}

/* Add the columns of one group of one image back into the image (the adjoint of im2col). */
static void
col2im_add(const float *col, const sp_window *w, int64_t c0, int64_t cg, float *dx)
{
	const int64_t OHW = w->OH * w->OW;

	for (int64_t c = 0; c < cg; c++)
	{
		float	   *plane = dx + (c0 + c) * w->H * w->W;

		for (int64_t ky = 0; ky < w->kh; ky++)
			for (int64_t kx = 0; kx < w->kw; kx++)
			{
				const float *src = col + ((c * w->kh + ky) * w->kw + kx) * OHW;
				int64_t		off = kx * w->dw - w->pl,
							lo,
							hi;

				col_range(w, off, &lo, &hi);
				for (int64_t oy = 0; oy < w->OH; oy++)
				{
					int64_t		iy = oy * w->sh - w->pt + ky * w->dh;
					const float *sr = src + oy * w->OW;
					float	   *row;

					if (iy < 0 || iy >= w->H)
						continue;
					row = plane + iy * w->W + off;
					if (w->sw == 1)
						for (int64_t ox = lo; ox < hi; ox++)
							row[ox] += sr[ox];
					else
						for (int64_t ox = lo; ox < hi; ox++)
							row[ox * w->sw] += sr[ox];
				}
			}
	}
}

static void
conv_backward_part(void *arg, int part, int parts)
{
	conv_work  *cw = arg;
	const sp_window *w = &cw->w;
	const int64_t O = cw->O,
				OHW = w->OH * w->OW,
				HW = w->H * w->W,
				K = w->C * w->kh * w->kw;
	float	   *col = conv_part_scratch(cw, part),
			   *dcol = col + K * OHW,
			   *dW = cw->dW,
			   *dB = cw->dB;
	int64_t		lo,
				hi;

	if (part == 0)
		cw->parts = parts;
	else
	{
		/* this part's own gradients (conv_train_part_bytes), added by the caller */
		dW = cw->dW ? col + 2 * K * OHW : NULL;
		dB = cw->dB ? col + 2 * K * OHW + O * K : NULL;
		if (dW)
			memset(dW, 0, sizeof(float) * (size_t) (O * K));
		if (dB)
			memset(dB, 0, sizeof(float) * (size_t) O);
	}
	sp_team_range(w->N, part, parts, &lo, &hi);
	for (int64_t b = lo; b < hi; b++)
	{
		const float *dyb = cw->dY + b * O * OHW;

		if (sp_op_part_stopped(&cw->ctl, part))
			return;
		if (dW)
		{
			im2col(cw->X + b * w->C * HW, w, 0, w->C, col);
			sp_sgemm(false, true, (int) O, (int) K, (int) OHW, 1.0f, dyb, (int) OHW, col, (int) OHW,
					 1.0f, dW, (int) K);
		}
		if (cw->dX)
		{
			sp_sgemm(true, false, (int) K, (int) OHW, (int) O, 1.0f, cw->Wt, (int) K, dyb, (int) OHW,
					 0.0f, dcol, (int) OHW);
			col2im_add(dcol, w, 0, w->C, cw->dX + b * w->C * HW);
		}
		if (dB)
			for (int64_t o = 0; o < O; o++)
			{
				double		sum = 0;

				for (int64_t j = 0; j < OHW; j++)
					sum += dyb[o * OHW + j];
				dB[o] += (float) sum;
			}
	}
}

static sp_status
conv_backward(const sp_op_run *r)
{
	const sp_graph *g = r->g;
	const sp_node *n = r->n;
	const sp_value *x = sp_in(g, n, 0),
			   *wv = sp_in(g, n, 1);
	const float *X = r->in[0],
			   *Wt = r->in[1],
			   *dY = r->d_out[0];
	float	   *dX = r->d_in[0],
			   *dW = r->d_in[1],
			   *dB = n->n_in > 2 ? r->d_in[2] : NULL;
	int64_t		kernel[2];
	int64_t		O = wv->shape.dim[0];
	sp_window	w;
	sp_fused_act act;
	sp_status	st;

	if (!dY)
		return SP_OK;
	sp_fused_act_get(n, &act);
	if (sp_attr_int(n, "group", 1) != 1 || act.kind != SP_ACT_NONE)
		return sp_op_error(r->err, SP_ERR_UNSUPPORTED, n, "backward supports groups of 1 without a fused activation");
	kernel[0] = wv->shape.dim[2];
	kernel[1] = wv->shape.rank == 4 ? wv->shape.dim[3] : 0;
	if ((st = sp_window_geometry(g, n, &x->shape, kernel, false, &w, r->err)) != SP_OK)
		return st;
	{
		conv_work	cw;
		const size_t K = (size_t) (w.C * w.kh * w.kw);

		conv_work_init(&cw, r, &w, O, 1, NULL);
		cw.X = X;
		cw.Wt = Wt;
		cw.dY = dY;
		cw.dX = dX;
		cw.dW = dW;
		cw.dB = dB;
		sp_op_split(r, w.N * O * w.OH * w.OW, conv_backward_part, &cw);
		if (cw.ctl.st != SP_OK)
			return cw.ctl.st;
		for (int p = 1; p < cw.parts; p++)
		{
			const float *pw = conv_part_scratch(&cw, p) + 2 * K * (size_t) (w.OH * w.OW);
			const float *pb = pw + (size_t) O * K;

			if (dW)
				for (size_t i = 0; i < (size_t) O * K; i++)
					dW[i] += pw[i];
			if (dB)
				for (int64_t o = 0; o < O; o++)
					dB[o] += pb[o];
		}
	}
	return SP_OK;
}

static double
conv_flops(const sp_graph *g, const sp_node *n)
{
	const sp_value *wv = sp_in(g, n, 1);
	const sp_value *y = sp_out(g, n, 0);

	/* 2 x (output elements) x (weights per output channel) */
	return 2.0 * (double) sp_shape_numel(&y->shape) * (double) (sp_shape_numel(&wv->shape) / wv->shape.dim[0]);
}

const sp_op_def sp_op_Conv = {"Conv", 2, 3, 1, 1, 0, conv_infer, conv_prepare, conv_forward, conv_free_state, conv_flops,
conv_backward};

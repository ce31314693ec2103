/*
 * nn_conv_direct.c: the direct channels-last ("HWC") convolution kernels the
 * operator graph picks: for one Conv node (sp_dconv, ops/conv.c) and for a
 * chain of Conv / ReLU / pool nodes run as one (sp_nn_direct,
 * ops/direct_chain.c), one image at a time.
 *
 * Why: at batch 1 the im2col + sgemm path spends most of its time outside the
 * GEMM (building a 9x larger im2col copy of a small image, GEMM packing and
 * dispatch for matrices with a few hundred columns, a separate bias/ReLU pass
 * and a scalar max pool), so a 37 MFLOP network ran at a third of the sgemm
 * peak.  Here each convolution is a register-blocked direct convolution that
 * reads the image in place (padding is a zero border kept around every
 * activation, so the kernel has no bounds checks), adds the bias and applies
 * the ReLU while the results are still in registers, and pools over whole
 * channel vectors.
 *
 * Layout: an activation is H x W pixels of cs floats (channels innermost,
 * cs >= C), surrounded by a border of `pad` zero pixels where the next
 * convolution needs one.  Convolution outputs round cs up to the kernel's
 * channel block (padded channels have zero weights and bias, so they stay 0).
 * Weights are repacked once per workspace to [ky][kx][c][Op] so the output
 * channels a tile computes are contiguous vectors.
 *
 * 3x3 stride-1 padding-1 convolutions with at least 8 input channels (conv2
 * to conv4 of the shipped CNNs) use Winograd F(2x2, 3x3) instead, which needs
 * 16 multiply-adds per 2x2 outputs where the direct sum needs 36; the others
 * (conv1 with its single input channel, any other kernel, stride or padding)
 * use the direct kernel.
 *
 * A chain takes square kernels of any size, stride and symmetric padding;
 * the kernels exist when the CPU has AVX2+FMA or AVX-512F.  Otherwise, and
 * when the padded activations would be unreasonably large, the create
 * functions return no plan and the graph keeps its im2col + GEMM nodes.
 * Results equal the im2col path up to float rounding (a different summation
 * order in the convolutions, and Winograd's transforms; pools and ReLU are
 * bit-identical).  Each image is computed on its own, so an image's
 * activations do not depend on the batch it came in.
 */
#include "nn/nn_layers.h"
#include "util/cpu.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define SP_DC_X86 1
#include <immintrin.h>
#endif

/* Give up on the direct path (keep im2col) above this many floats per buffer. */
#define SP_DC_MAX_FLOATS ((size_t) 1 << 26)
/* Winograd tiles per chunk, at most (T_R1 of every ISA) */
#define SP_DC_R1_MAX 16

/* One convolution, as the kernels see it. */
typedef struct sp_dc_conv
{
	int			k,
				s,
				C,				/* input channels (real) */
				Op,				/* output channel stride (O rounded up to the block) */
				OH,
				OW;
	size_t		in_cs,			/* input channel stride */
				in_row,			/* floats per padded input row */
				pstep;			/* floats between two output pixels' inputs: s * in_cs */
	int			out_wp,			/* padded output width */
				out_pad,
				out_cs;
	bool		relu;
	const float *wp;			/* [k][k][C][Op] */
	const float *bias;			/* [Op] */
	/* Winograd F(2x2, 3x3) (wino_u NULL: direct) */
	const float *wino_u;		/* [16][C][Op] transformed weights */
	const float *wino_zero;		/* [Op] zeros: the GEMM stage has no bias */
	float	   *wino_v,			/* scratch [16][R1][in_cs] */
			   *wino_m;			/* scratch [16][R1][Op] */
} sp_dc_conv;

/* One pool. */
typedef struct sp_dc_pool
{
	int			k,
				s,
				p,
				H,
				W,
				OH,
				OW,
				cs;				/* channel stride, same in and out */
	int			in_pad,
				in_wp,
				out_pad,
				out_wp;
} sp_dc_pool;

typedef struct sp_dc_kernels
{
	void		(*conv) (const sp_dc_conv *cv, const float *in, float *out);
	void		(*maxpool) (const sp_dc_pool *pl, const float *in, float *out);
	void		(*avgpool) (const sp_dc_pool *pl, const float *in, float *out);
	int			vl;				/* pools need cs % vl == 0 */
	int			blk;			/* conv output channel block */
} sp_dc_kernels;

/* An activation tensor's layout. */
typedef struct sp_dc_tensor
{
	int			H,
				W,
				C,
				cs,
				pad;
} sp_dc_tensor;

typedef struct sp_dc_step
{
	sp_nn_op_kind kind;
	sp_dc_tensor in,
				out;
	int			src,
				dst;			/* buffer indices; equal for in-place steps */
	sp_dc_conv	conv;
	sp_dc_pool	pool;
} sp_dc_step;

struct sp_nn_direct
{
	const sp_dc_kernels *kern;
	sp_isa		isa;
	int			n_steps;
	sp_dc_step *steps;
	sp_dc_tensor input;			/* the converted input image, in buffer 0 */
	sp_dc_tensor last;			/* the final activation ... */
	int			last_buf;		/* ... and its buffer */
	/* scratch of a run (sp_nn_direct_scratch_bytes), in floats */
	size_t		buf_floats,		/* each of the two activation buffers */
				wv_floats,		/* Winograd input transforms */
				wm_floats;		/* Winograd products */
	double		flops;
	void	   *mem;			/* single allocation: plan, steps, packed weights */
};

/* ---------------------------------------------------------------------- */
/* Kernels, one instance per ISA (nn_conv_direct_tmpl.h). */

#ifdef SP_DC_X86

#define T_SFX(name) name##_avx512
#define T_TARGET __attribute__((target("avx512f,avx2,fma")))
#define T_V __m512
#define T_VL 16
#define T_NV 2
#define T_LOAD(p) _mm512_loadu_ps(p)
#define T_STORE(p, v) _mm512_storeu_ps((p), (v))
#define T_SET1(x) _mm512_set1_ps(x)
#define T_FMA(a, b, c) _mm512_fmadd_ps((a), (b), (c))
#define T_MAX(a, b) _mm512_max_ps((a), (b))
#define T_ADD(a, b) _mm512_add_ps((a), (b))
#define T_SUB(a, b) _mm512_sub_ps((a), (b))
#define T_MUL(a, b) _mm512_mul_ps((a), (b))
#define T_ZERO() _mm512_setzero_ps()
#define T_ISNAN_OR(m, v) _mm512_mask_mov_ps((m), _mm512_cmp_ps_mask((v), (v), _CMP_UNORD_Q), (v))
#define T_BLEND_NAN(v, m) _mm512_mask_mov_ps((v), _mm512_cmp_ps_mask((m), (m), _CMP_UNORD_Q), (m))
/* 14 pixels x 32 channels = 28 of the 32 zmm registers as accumulators */
#define T_R1 14
#define T_R2 7
#define T_R3 4
#define T_R4 2
#define T_R5 1
#include "nn/nn_conv_direct_tmpl.h"	/* #undefs the T_* macros at its end */

#define T_SFX(name) name##_avx2
#define T_TARGET __attribute__((target("avx2,fma")))
#define T_V __m256
#define T_VL 8
#define T_NV 2
#define T_LOAD(p) _mm256_loadu_ps(p)
#define T_STORE(p, v) _mm256_storeu_ps((p), (v))
#define T_SET1(x) _mm256_set1_ps(x)
#define T_FMA(a, b, c) _mm256_fmadd_ps((a), (b), (c))
#define T_MAX(a, b) _mm256_max_ps((a), (b))
#define T_ADD(a, b) _mm256_add_ps((a), (b))
#define T_SUB(a, b) _mm256_sub_ps((a), (b))
#define T_MUL(a, b) _mm256_mul_ps((a), (b))
#define T_ZERO() _mm256_setzero_ps()
#define T_ISNAN_OR(m, v) _mm256_blendv_ps((m), (v), _mm256_cmp_ps((v), (v), _CMP_UNORD_Q))
#define T_BLEND_NAN(v, m) _mm256_blendv_ps((v), (m), _mm256_cmp_ps((m), (m), _CMP_UNORD_Q))
/* 6 pixels x 16 channels = 12 of the 16 ymm registers as accumulators */
#define T_R1 6
#define T_R2 4
#define T_R3 3
#define T_R4 2
#define T_R5 1
#include "nn/nn_conv_direct_tmpl.h"	/* #undefs the T_* macros at its end */

#endif							/* SP_DC_X86 */

static const sp_dc_kernels *
kernels_for(sp_isa isa)
{
#ifdef SP_DC_X86
	if (isa == SP_ISA_AVX512 && sp_cpu_supports(SP_ISA_AVX512))
		return &kernels_avx512;
	if (isa == SP_ISA_AVX2 && sp_cpu_supports(SP_ISA_AVX2))
		return &kernels_avx2;
#else
	(void) isa;
#endif
	return NULL;
}

/*
 * The kernels an isa argument picks (SP_ISA_AUTO: the best this CPU has;
 * SP_NN_DIRECT_NO_WINOGRAD may be or-ed in), the level they are for, and
 * whether Winograd is allowed; NULL when the CPU has none of them.
 */
static const sp_dc_kernels *
resolve_kernels(int isa, sp_isa *level, bool *wino)
{
	const sp_dc_kernels *kern;

	*wino = !(isa >= 0 && (isa & SP_NN_DIRECT_NO_WINOGRAD));
	if (isa >= 0)
		isa &= ~SP_NN_DIRECT_NO_WINOGRAD;
	if (isa != SP_ISA_AUTO)
	{
		*level = (sp_isa) isa;
		return kernels_for((sp_isa) isa);
	}
	*level = SP_ISA_AVX512;
	if ((kern = kernels_for(SP_ISA_AVX512)) != NULL)
		return kern;
	*level = SP_ISA_AVX2;
	return kernels_for(SP_ISA_AVX2);
}

/* ---------------------------------------------------------------------- */
/* Portable helpers (layout changes, in-place layers, unaligned pools). */

static inline float *
px(float *base, const sp_dc_tensor *t, int y, int x)
{
	return base + ((size_t) (y + t->pad) * (size_t) (t->W + 2 * t->pad) + (size_t) (x + t->pad)) * t->cs;
}

static size_t
tensor_floats(const sp_dc_tensor *t)
{
	return (size_t) (t->H + 2 * t->pad) * (size_t) (t->W + 2 * t->pad) * (size_t) t->cs;
}

/* Zero the border ring only: the interior is about to be overwritten. */
static void
zero_border(float *base, const sp_dc_tensor *t)
{
	const size_t wp = (size_t) t->W + 2 * (size_t) t->pad;
	const size_t row = wp * t->cs;

	if (t->pad == 0)
		return;
	memset(base, 0, sizeof(float) * row * t->pad);
	memset(base + row * (size_t) (t->H + t->pad), 0, sizeof(float) * row * t->pad);
	for (int y = 0; y < t->H; y++)
	{
		float	   *r = base + row * (size_t) (y + t->pad);

		memset(r, 0, sizeof(float) * (size_t) t->pad * t->cs);
		memset(r + (wp - t->pad) * t->cs, 0, sizeof(float) * (size_t) t->pad * t->cs);
	}
}

/* Scalar pools for a channel stride the vector kernels cannot take (cs % vl). */
static void
pool_scalar(const sp_dc_step *st, const float *in, float *out)
{
	const sp_dc_pool *pl = &st->pool;
	const float inv = 1.0f / (float) (pl->k * pl->k);
	const bool	max = st->kind == SP_OP_MAXPOOL;

	for (int oy = 0; oy < pl->OH; oy++)
		for (int ox = 0; ox < pl->OW; ox++)
		{
			float	   *o = out + ((size_t) (oy + pl->out_pad) * pl->out_wp + ox + pl->out_pad) * pl->cs;

			for (int c = 0; c < pl->cs; c++)
			{
				float		acc = max ? -INFINITY : 0.0f;
				bool		nan = false;

				for (int ky = 0; ky < pl->k; ky++)
				{
					int			iy = oy * pl->s - pl->p + ky;

					if (iy < 0 || iy >= pl->H)
						continue;
					for (int kx = 0; kx < pl->k; kx++)
					{
						int			ix = ox * pl->s - pl->p + kx;
						float		v;

						if (ix < 0 || ix >= pl->W)
							continue;
						v = in[((size_t) (iy + pl->in_pad) * pl->in_wp + ix + pl->in_pad) * pl->cs + c];
						if (!max)
							acc += v;
						else if (isnan(v))
							nan = true;
						else if (v > acc)
							acc = v;
					}
				}
				o[c] = max ? (nan ? NAN : acc) : acc * inv;
			}
		}
}

/* ---------------------------------------------------------------------- */
/* Plan. */

/* Zero border the tensor produced before op i must carry: the padding of the
 * convolution that consumes it (in-place layers in between do not move it). */
static int
pad_for_consumer(const sp_nn_op *ops, int n, int i)
{
	for (; i < n; i++)
	{
		const sp_nn_op *op = &ops[i];

		if (op->kind == SP_OP_RELU)
			continue;
		return op->kind == SP_OP_CONV ? op->g.p : 0;
	}
	return 0;
}

static int
round_up(int v, int m)
{
	return (v + m - 1) / m * m;
}

/*
 * Winograd F(2x2, 3x3) for this convolution?  3x3 stride 1 padding 1 with
 * enough input channels for the transforms to pay, and an input whose
 * channel stride the vector transforms can walk.
 */
static bool
use_winograd(const sp_nn_op *op, const sp_dc_tensor *in, const sp_dc_kernels *kern, bool allowed)
{
	return allowed && op->g.k == 3 && op->g.s == 1 && op->g.p == 1 && op->g.C >= 8 &&
		in->cs % kern->vl == 0 && op->g.OH >= 2 && op->g.OW >= 2;
}

/* U[xi][c][o] = (G g G^T)[xi] of the 3x3 kernel g = w[o][c], in double. */
static void
winograd_weights(const sp_nn_op *op, int Op, float *u)
{
	static const double G[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
	const int	C = op->g.C;

	for (int o = 0; o < op->g.O; o++)
		for (int c = 0; c < C; c++)
		{
			const float *g = op->w + ((size_t) o * C + c) * 9;
			double		t[4][3];

			for (int i = 0; i < 4; i++)
				for (int j = 0; j < 3; j++)
					t[i][j] = G[i][0] * g[j] + G[i][1] * g[3 + j] + G[i][2] * g[6 + j];
			for (int i = 0; i < 4; i++)
				for (int j = 0; j < 4; j++)
					u[((size_t) (i * 4 + j) * C + c) * Op + o] =
						(float) (t[i][0] * G[j][0] + t[i][1] * G[j][1] + t[i][2] * G[j][2]);
		}
}

const char *
sp_nn_direct_path_name(int isa)
{
	sp_isa		level;
	bool		wino;

	if (!resolve_kernels(isa, &level, &wino))
		return "im2col";
	return level == SP_ISA_AVX512 ? "direct-avx512" : "direct-avx2";
}

bool
sp_nn_direct_available(int isa)
{
	sp_isa		level;
	bool		wino;

	return resolve_kernels(isa, &level, &wino) != NULL;
}

sp_status
sp_nn_direct_create(const sp_env *env, const sp_nn_op *ops, int n_ops, int in_c, int in_h, int in_w,
					int isa, sp_nn_direct **out, sp_error *err)
{
	const sp_dc_kernels *kern = NULL;
	sp_nn_direct *d;
	sp_dc_tensor cur;
	size_t		maxbuf,
				n_packed = 0,
				n_wv = 0,
				n_wm = 0,
				n_zero = 0,
				total,
				steps_bytes;
	bool		wino;
	sp_isa		level;
	float	   *zero;
	int			n = n_ops,
				n_conv = 0,
				cur_buf = 0;
	char	   *base;
	float	   *pk;

	*out = NULL;
	kern = resolve_kernels(isa, &level, &wino);
	if (!kern)
		return SP_OK;			/* no vector ISA: im2col path */

	/* walk the layout once to size everything */
	cur.H = in_h;
	cur.W = in_w;
	cur.C = cur.cs = in_c;
	cur.pad = pad_for_consumer(ops, n, 0);
	maxbuf = tensor_floats(&cur);
	for (int i = 0; i < n; i++)
	{
		const sp_nn_op *op = &ops[i];

		switch (op->kind)
		{
			case SP_OP_CONV:
				if (op->g.p != cur.pad || op->g.C != cur.C)
					return SP_OK;	/* cannot happen; stay on the safe path */
				if (use_winograd(op, &cur, kern, wino))
				{
					size_t		Op = (size_t) round_up(op->g.O, kern->blk);

					n_packed += 16 * (size_t) op->g.C * Op + 16;
					n_wv = 16 * 16 * (size_t) cur.cs > n_wv ? 16 * 16 * (size_t) cur.cs : n_wv;
					n_wm = 16 * 16 * Op > n_wm ? 16 * 16 * Op : n_wm;
					n_zero = Op > n_zero ? Op : n_zero;
				}
				cur.H = op->g.OH;
				cur.W = op->g.OW;
				cur.C = op->g.O;
				cur.cs = round_up(op->g.O, kern->blk);
				cur.pad = pad_for_consumer(ops, n, i + 1);
				n_packed += (size_t) op->g.k * op->g.k * op->g.C * cur.cs + (size_t) cur.cs + 16;
				n_conv++;
				break;
			case SP_OP_MAXPOOL:
			case SP_OP_AVGPOOL:
				cur.H = op->g.OH;
				cur.W = op->g.OW;
				cur.pad = pad_for_consumer(ops, n, i + 1);
				break;
			case SP_OP_RELU:
				break;
			default:
				return SP_OK;
		}
		if (tensor_floats(&cur) > maxbuf)
			maxbuf = tensor_floats(&cur);
		if (maxbuf > SP_DC_MAX_FLOATS || n_packed > SP_DC_MAX_FLOATS)
			return SP_OK;
	}
	if (n_conv == 0)
		return SP_OK;			/* nothing to gain */

	maxbuf = (maxbuf + 15) & ~(size_t) 15;
	steps_bytes = ((sizeof(sp_dc_step) * (size_t) n) + 63) & ~(size_t) 63;
	n_wv = (n_wv + 15) & ~(size_t) 15;
	n_wm = (n_wm + 15) & ~(size_t) 15;
	n_zero = (n_zero + 15) & ~(size_t) 15;
	total = sizeof(sp_nn_direct) + 64 + steps_bytes + sizeof(float) * (n_packed + n_zero + 16);
	base = sp_alloc(env, total);
	if (!base)
	{
		sp_set_error(err, SP_ERR_NOMEM, "out of memory allocating the network workspace");
		sp_error_detail(err, "Failed to allocate %zu bytes.", total);
		return SP_ERR_NOMEM;
	}
	memset(base, 0, total);
	d = (sp_nn_direct *) base;
	d->mem = base;
	d->kern = kern;
	d->isa = level;
	d->n_steps = n;
	base = (char *) (((uintptr_t) (base + sizeof(sp_nn_direct)) + 63) & ~(uintptr_t) 63);
	d->steps = (sp_dc_step *) base;
	base += steps_bytes;
	d->buf_floats = maxbuf;
	d->wv_floats = n_wv;
	d->wm_floats = n_wm;
	zero = (float *) base;		/* stays zero (memset above) */
	pk = zero + n_zero;

	/* second walk: fill the steps and repack the weights */
	cur.H = in_h;
	cur.W = in_w;
	cur.C = cur.cs = in_c;
	cur.pad = pad_for_consumer(ops, n, 0);
	d->input = cur;
	for (int i = 0; i < n; i++)
	{
		const sp_nn_op *op = &ops[i];
		sp_dc_step *st = &d->steps[i];

		st->kind = op->kind;
		st->in = cur;
		st->src = cur_buf;
		switch (op->kind)
		{
			case SP_OP_CONV:
				{
					sp_dc_conv *cv = &st->conv;
					const int	k = op->g.k,
								C = op->g.C,
								O = op->g.O;

					cur.H = op->g.OH;
					cur.W = op->g.OW;
					cur.C = O;
					cur.cs = round_up(O, kern->blk);
					cur.pad = pad_for_consumer(ops, n, i + 1);
					cur_buf = 1 - cur_buf;
					cv->k = k;
					cv->s = op->g.s;
					cv->C = C;
					cv->Op = cur.cs;
					cv->OH = cur.H;
					cv->OW = cur.W;
					cv->in_cs = (size_t) st->in.cs;
					cv->in_row = (size_t) (st->in.W + 2 * st->in.pad) * st->in.cs;
					cv->pstep = (size_t) op->g.s * st->in.cs;
					cv->out_wp = cur.W + 2 * cur.pad;
					cv->out_pad = cur.pad;
					cv->out_cs = cur.cs;
					cv->relu = op->relu;
					/* w[o][c][ky][kx] -> wp[ky][kx][c][o]; padded channels stay 0 */
					for (int o = 0; o < O; o++)
						for (int c = 0; c < C; c++)
							for (int ky = 0; ky < k; ky++)
								for (int kx = 0; kx < k; kx++)
									pk[(((size_t) ky * k + kx) * C + c) * cv->Op + o] =
										op->w[(((size_t) o * C + c) * k + ky) * k + kx];
					cv->wp = pk;
					pk += (size_t) k * k * C * cv->Op;
					for (int o = 0; o < O; o++)
						pk[o] = op->b ? op->b[o] : 0.0f;
					cv->bias = pk;
					pk += ((size_t) cv->Op + 15) & ~(size_t) 15;
					if (use_winograd(op, &st->in, kern, wino))
					{
						winograd_weights(op, cv->Op, pk);
						cv->wino_u = pk;
						pk += ((16 * (size_t) C * cv->Op) + 15) & ~(size_t) 15;
						cv->wino_zero = zero;	/* wino_v / wino_m: scratch, per run */
					}
					d->flops += 2.0 * k * k * C * O * (double) cur.H * cur.W;
					break;
				}
			case SP_OP_MAXPOOL:
			case SP_OP_AVGPOOL:
				{
					sp_dc_pool *pl = &st->pool;

					cur.H = op->g.OH;
					cur.W = op->g.OW;
					cur.pad = pad_for_consumer(ops, n, i + 1);
					cur_buf = 1 - cur_buf;
					pl->k = op->g.k;
					pl->s = op->g.s;
					pl->p = op->g.p;
					pl->H = st->in.H;
					pl->W = st->in.W;
					pl->OH = cur.H;
					pl->OW = cur.W;
					pl->cs = cur.cs;
					pl->in_pad = st->in.pad;
					pl->in_wp = st->in.W + 2 * st->in.pad;
					pl->out_pad = cur.pad;
					pl->out_wp = cur.W + 2 * cur.pad;
					break;
				}
			default:
				break;			/* in place */
		}
		st->out = cur;
		st->dst = cur_buf;
	}
	d->last = cur;
	d->last_buf = cur_buf;
	*out = d;
	return SP_OK;
}

void
sp_nn_direct_free(const sp_env *env, sp_nn_direct *d)
{
	if (d)
		sp_free(env, d->mem);
}

/* ---------------------------------------------------------------------- */
/* Forward. */

size_t
sp_nn_direct_scratch_bytes(const sp_nn_direct *d)
{
	return sizeof(float) * (2 * d->buf_floats + d->wv_floats + d->wm_floats) + 64;
}

double
sp_nn_direct_flops(const sp_nn_direct *d)
{
	return d->flops;
}

bool
sp_nn_direct_forward(const sp_nn_direct *d, const sp_env *env, const float *in, float *rows,
					 void *scratch)
{
	const sp_dc_tensor *t = &d->input;
	float	   *buf[2],
			   *wv,
			   *wm;
	float	   *x;

	buf[0] = (float *) (((uintptr_t) scratch + 63) & ~(uintptr_t) 63);
	buf[1] = buf[0] + d->buf_floats;
	wv = buf[1] + d->buf_floats;
	wm = wv + d->wv_floats;
	x = buf[0];

	/* NCHW image -> padded HWC */
	zero_border(x, t);
	for (int c = 0; c < t->C; c++)
		for (int y = 0; y < t->H; y++)
		{
			const float *src = in + ((size_t) c * t->H + y) * t->W;
			float	   *dst = px(x, t, y, 0) + c;

			for (int xx = 0; xx < t->W; xx++)
				dst[(size_t) xx * t->cs] = src[xx];
		}

	for (int i = 0; i < d->n_steps; i++)
	{
		const sp_dc_step *st = &d->steps[i];
		const float *src = buf[st->src];
		float	   *dst = buf[st->dst];

		/* between layers: a large image through many layers must stay cancellable */
		if (sp_env_interrupted(env))
			return false;

		switch (st->kind)
		{
			case SP_OP_CONV:
				{
					sp_dc_conv	cv = st->conv;

					cv.wino_v = wv;
					cv.wino_m = wm;
					zero_border(dst, &st->out);
					d->kern->conv(&cv, src, dst);
					break;
				}
			case SP_OP_MAXPOOL:
			case SP_OP_AVGPOOL:
				zero_border(dst, &st->out);
				if (st->pool.cs % d->kern->vl != 0)
					pool_scalar(st, src, dst);
				else if (st->kind == SP_OP_MAXPOOL)
					d->kern->maxpool(&st->pool, src, dst);
				else
					d->kern->avgpool(&st->pool, src, dst);
				break;
			case SP_OP_RELU:
				{
					/* in place on the interior: the zero border stays zero */
					const sp_dc_tensor *o = &st->out;

					for (int y = 0; y < o->H; y++)
						for (int xx = 0; xx < o->W; xx++)
						{
							float	   *p = px(dst, o, y, xx);

							for (int c = 0; c < o->C; c++)
								p[c] = p[c] > 0.0f ? p[c] : 0.0f;
						}
					break;
				}
			default:
				break;
		}
	}

	/* flatten in PyTorch's (c, y, x) order */
	t = &d->last;
	x = buf[d->last_buf];
	for (int y = 0; y < t->H; y++)
		for (int xx = 0; xx < t->W; xx++)
		{
			const float *p = px(x, t, y, xx);

			for (int c = 0; c < t->C; c++)
				rows[((size_t) c * t->H + y) * t->W + xx] = p[c];
		}
	return true;
}

/* ---------------------------------------------------------------------- */
/* One convolution of an operator graph (nn/ops/conv.c) on NCHW tensors. */

struct sp_dconv
{
	const sp_dc_kernels *kern;
	sp_isa		isa;
	sp_dc_conv	cv;				/* scratch pointers are set per run */
	sp_dc_tensor in;			/* padded channels-last input */
	int			O;
	size_t		in_floats,
				out_floats,
				wv_floats,
				wm_floats;
	void	   *mem;
};

/* U[xi][c][o] of the 3x3 kernels w[o][c] (OIHW), for Winograd. */
static void
winograd_weights_oihw(const float *w, int O, int C, int Op, float *u)
{
	sp_nn_op	op;

	memset(&op, 0, sizeof(op));
	op.g.O = O;
	op.g.C = C;
	op.w = w;
	winograd_weights(&op, Op, u);
}

sp_status
sp_dconv_create(const sp_env *env, int C, int H, int W, int O, int k, int s, int p, const float *w,
				const float *b, int isa, sp_dconv **out, sp_error *err)
{
	const sp_dc_kernels *kern;
	sp_dconv   *d;
	int			Op,
				OH = (H + 2 * p - k) / s + 1,
				OW = (W + 2 * p - k) / s + 1;
	size_t		n_packed,
				total;
	bool		wino;
	float	   *pk;
	sp_nn_op	probe;

	bool		wino_allowed;
	sp_isa		level;

	*out = NULL;
	kern = resolve_kernels(isa, &level, &wino_allowed);
	if (!kern || OH < 1 || OW < 1 || k < 1 || k > 11 || s < 1 || p < 0 || p >= k)
		return SP_OK;			/* not for these kernels: the caller keeps its GEMM path */
	Op = round_up(O, kern->blk);
	d = sp_alloc(env, sizeof(*d));
	if (!d)
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory preparing a convolution");
	memset(d, 0, sizeof(*d));
	d->kern = kern;
	d->isa = level;
	d->O = O;
	d->in.H = H;
	d->in.W = W;
	d->in.C = C;
	d->in.pad = p;
	d->in.cs = round_up(C, kern->vl);
	memset(&probe, 0, sizeof(probe));
	probe.g.k = k;
	probe.g.s = s;
	probe.g.p = p;
	probe.g.C = C;
	probe.g.OH = OH;
	probe.g.OW = OW;
	wino = use_winograd(&probe, &d->in, kern, wino_allowed);
	/* one spare padded row: the transforms of an odd last tile read past the image */
	d->in_floats = (((size_t) (H + 2 * p + 1) * (size_t) (W + 2 * p) * (size_t) d->in.cs) + 15) & ~(size_t) 15;
	d->out_floats = (((size_t) OH * OW * (size_t) Op) + 15) & ~(size_t) 15;
	d->wv_floats = wino ? 16 * (size_t) SP_DC_R1_MAX * d->in.cs : 0;
	d->wm_floats = wino ? 16 * (size_t) SP_DC_R1_MAX * (size_t) Op : 0;
	n_packed = (size_t) k * k * C * Op + (size_t) Op + 32 + (wino ? 16 * (size_t) C * Op + (size_t) Op + 32 : 0);
	if (n_packed > SP_DC_MAX_FLOATS || d->in_floats > SP_DC_MAX_FLOATS || d->out_floats > SP_DC_MAX_FLOATS)
	{
		sp_free(env, d);
		return SP_OK;
	}
	total = sizeof(float) * (n_packed + 16);
	d->mem = sp_alloc(env, total);
	if (!d->mem)
	{
		sp_free(env, d);
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory preparing a convolution");
	}
	memset(d->mem, 0, total);
	pk = (float *) (((uintptr_t) d->mem + 63) & ~(uintptr_t) 63);

	d->cv.k = k;
	d->cv.s = s;
	d->cv.C = C;
	d->cv.Op = Op;
	d->cv.OH = OH;
	d->cv.OW = OW;
	d->cv.in_cs = (size_t) d->in.cs;
	d->cv.in_row = (size_t) (W + 2 * p) * d->in.cs;
	d->cv.pstep = (size_t) s * d->in.cs;
	d->cv.out_wp = OW;
	d->cv.out_pad = 0;
	d->cv.out_cs = Op;
	d->cv.relu = false;
	for (int o = 0; o < O; o++)
		for (int c = 0; c < C; c++)
			for (int ky = 0; ky < k; ky++)
				for (int kx = 0; kx < k; kx++)
					pk[(((size_t) ky * k + kx) * C + c) * Op + o] = w[(((size_t) o * C + c) * k + ky) * k + kx];
	d->cv.wp = pk;
	pk += (size_t) k * k * C * Op;
	for (int o = 0; o < O; o++)
		pk[o] = b ? b[o] : 0.0f;
	d->cv.bias = pk;
	pk += ((size_t) Op + 15) & ~(size_t) 15;
	if (wino)
	{
		winograd_weights_oihw(w, O, C, Op, pk);
		d->cv.wino_u = pk;
		pk += ((16 * (size_t) C * Op) + 15) & ~(size_t) 15;
		d->cv.wino_zero = pk;	/* Op zeros (memset above) */
	}
	*out = d;
	return SP_OK;
}

size_t
sp_dconv_scratch_bytes(const sp_dconv *d)
{
	return sizeof(float) * (d->in_floats + d->out_floats + d->wv_floats + d->wm_floats) + 64;
}

const char *
sp_dconv_name(const sp_dconv *d)
{
	if (d->cv.wino_u)
		return d->isa == SP_ISA_AVX512 ? "winograd-avx512" : "winograd-avx2";
	return d->isa == SP_ISA_AVX512 ? "direct-avx512" : "direct-avx2";
}

bool
sp_dconv_run(const sp_dconv *d, const sp_env *env, const float *x, float *y, void *scratch)
{
	float	   *in = (float *) (((uintptr_t) scratch + 63) & ~(uintptr_t) 63);
	float	   *out = in + d->in_floats;
	sp_dc_conv	cv = d->cv;
	const sp_dc_tensor *t = &d->in;
	const int	OHW = cv.OH * cv.OW;

	cv.wino_v = out + d->out_floats;
	cv.wino_m = cv.wino_v + d->wv_floats;
	/* NCHW -> padded channels-last; padding and spare channels are zero */
	memset(in, 0, sizeof(float) * d->in_floats);
	for (int c = 0; c < t->C; c++)
		for (int yy = 0; yy < t->H; yy++)
		{
			const float *src = x + ((size_t) c * t->H + yy) * t->W;
			float	   *dst = px(in, t, yy, 0) + c;

			for (int xx = 0; xx < t->W; xx++)
				dst[(size_t) xx * t->cs] = src[xx];
		}
	/*
	 * In bands of output rows of about 2^25 multiply-adds, polling interrupts
	 * between them: one convolution of a large image can take seconds.
	 * Winograd bands are whole tile rows (2 output rows).
	 */
	{
		double		per_row = (double) cv.OW * cv.k * cv.k * cv.C * cv.Op;
		int			band = (int) ((double) (1 << 25) / (per_row > 1 ? per_row : 1));

		if (band < 1)
			band = 1;
		if (cv.wino_u)
			band = band < 2 ? 2 : band & ~1;
		for (int r0 = 0; r0 < cv.OH; r0 += band)
		{
			sp_dc_conv	b = cv;

			if (sp_env_interrupted(env))
				return false;
			b.OH = cv.OH - r0 < band ? cv.OH - r0 : band;
			d->kern->conv(&b, in + (size_t) r0 * cv.s * cv.in_row,
						  out + (size_t) r0 * cv.out_wp * cv.out_cs);
		}
	}
	/* channels-last (stride Op) -> NCHW */
	for (int o = 0; o < d->O; o++)
	{
		const float *src = out + o;
		float	   *dst = y + (size_t) o * OHW;

		for (int i = 0; i < OHW; i++)
			dst[i] = src[(size_t) i * cv.Op];
	}
	return true;
}

void
sp_dconv_free(const sp_env *env, sp_dconv *d)
{
	if (!d)
		return;
	sp_free(env, d->mem);
	sp_free(env, d);
}

/*
 * nn_conv_direct_tmpl.h: the per-ISA kernels of the direct channels-last
 * path, written once and included by nn_conv_direct.c once per instruction
 * set (C has no templates).  Not a public header: it expects these macros
 * from the includer and undefines nothing itself.
 *
 *   T_SFX(name)       name with the ISA suffix (name##_avx512 ...)
 *   T_TARGET          __attribute__((target(...))) of the ISA
 *   T_V, T_VL         vector type and its float lanes
 *   T_LOAD, T_STORE   unaligned load / store
 *   T_SET1, T_FMA, T_MAX, T_ZERO, T_ADD, T_SUB, T_MUL
 *   T_ISNAN_OR(m, v)  m | (v is NaN), as a vector of all-ones lanes
 *   T_BLEND_NAN(v, m) lanes of m set -> NaN
 *   T_NV              vectors of output channels per tile (T_NV * T_VL
 *                     divides SP_DC_CH_ALIGN)
 *   T_R1..T_R5        tile widths (pixels), largest first, T_R5 == 1
 *
 * A tile is T_R output pixels of one row times T_NV vectors of output
 * channels, all held in registers while the whole k x k x C reduction runs:
 * each weight vector loaded is used T_R times, each input value is broadcast
 * straight from memory into the FMA.  That is what makes a small-batch
 * convolution compute-bound without an im2col matrix or a GEMM call.
 */

/*
 * R output pixels x NV channel vectors starting at ip (input at the top-left
 * of the first pixel's receptive field, channel 0), weights wp (packed,
 * already offset to the channel block), bias (same offset); out at the first
 * pixel, channel block.
 */
T_TARGET static inline __attribute__((always_inline)) void
T_SFX(tile) (const int R, const sp_dc_conv *cv, const float *ip, const float *wp,
			 const float *bias, float *out)
{
	T_V			acc[T_R1][T_NV];
	const int	k = cv->k,
				C = cv->C,
				Op = cv->Op;
	const size_t pstep = cv->pstep;

#pragma GCC unroll 16
	for (int r = 0; r < R; r++)
#pragma GCC unroll 4
		for (int v = 0; v < T_NV; v++)
			acc[r][v] = T_LOAD(bias + v * T_VL);

	for (int ky = 0; ky < k; ky++)
		for (int kx = 0; kx < k; kx++)
		{
			const float *q = ip + (size_t) ky * cv->in_row + (size_t) kx * cv->in_cs;
			const float *wq = wp + (size_t) (ky * k + kx) * C * Op;

			for (int c = 0; c < C; c++)
			{
				T_V			w[T_NV];

#pragma GCC unroll 4
				for (int v = 0; v < T_NV; v++)
					w[v] = T_LOAD(wq + v * T_VL);
#pragma GCC unroll 16
				for (int r = 0; r < R; r++)
				{
					T_V			b = T_SET1(q[r * pstep]);

#pragma GCC unroll 4
					for (int v = 0; v < T_NV; v++)
						acc[r][v] = T_FMA(b, w[v], acc[r][v]);
				}
				q++;
				wq += Op;
			}
		}

	if (cv->relu)
	{
		const T_V	z = T_ZERO();

		/* max(x, 0) with 0 second: NaN -> 0, like the im2col path's v > 0 ? v : 0 */
#pragma GCC unroll 16
		for (int r = 0; r < R; r++)
#pragma GCC unroll 4
			for (int v = 0; v < T_NV; v++)
				T_STORE(out + (size_t) r * cv->out_cs + v * T_VL, T_MAX(acc[r][v], z));
	}
	else
	{
#pragma GCC unroll 16
		for (int r = 0; r < R; r++)
#pragma GCC unroll 4
			for (int v = 0; v < T_NV; v++)
				T_STORE(out + (size_t) r * cv->out_cs + v * T_VL, acc[r][v]);
	}
}

/* One instance per tile width, so every loop above has constant bounds. */
#define T_TILE_FN(N) \
T_TARGET static void \
T_SFX(tile_r##N) (const sp_dc_conv *cv, const float *ip, const float *wp, const float *bias, float *out) \
{ \
	T_SFX(tile) (T_R##N, cv, ip, wp, bias, out); \
}
T_TILE_FN(1)
T_TILE_FN(2)
T_TILE_FN(3)
T_TILE_FN(4)
T_TILE_FN(5)
#undef T_TILE_FN

/* n consecutive output pixels (pixel i's input at ip + i * pstep, output at
 * out + i * out_cs), in tiles of the widths above. */
T_TARGET static void
T_SFX(pixels) (const sp_dc_conv *cv, int n, const float *ip, const float *wp,
			   const float *bias, float *out)
{
	int			i = 0;

	while (i < n)
	{
		int			left = n - i;
		const float *p = ip + (size_t) i * cv->pstep;
		float	   *o = out + (size_t) i * cv->out_cs;

		if (left >= T_R1)
		{
			T_SFX(tile_r1) (cv, p, wp, bias, o);
			i += T_R1;
		}
		else if (left >= T_R2)
		{
			T_SFX(tile_r2) (cv, p, wp, bias, o);
			i += T_R2;
		}
		else if (left >= T_R3)
		{
			T_SFX(tile_r3) (cv, p, wp, bias, o);
			i += T_R3;
		}
		else if (left >= T_R4)
		{
			T_SFX(tile_r4) (cv, p, wp, bias, o);
			i += T_R4;
		}
		else
		{
			T_SFX(tile_r5) (cv, p, wp, bias, o);
			i += T_R5;
		}
	}
}

/*
 * The whole convolution of one image: in and out point at the tensors'
 * buffers (padded layouts described by cv).  Channel blocks outermost so a
 * block's weights stay in L1 while every output pixel uses them.
 */
T_TARGET static void
T_SFX(conv_direct) (const sp_dc_conv *cv, const float *in, float *out)
{
	const int	blk = T_NV * T_VL;

	for (int ob = 0; ob < cv->Op; ob += blk)
		for (int oy = 0; oy < cv->OH; oy++)
			T_SFX(pixels) (cv, cv->OW, in + (size_t) oy * cv->s * cv->in_row, cv->wp + ob, cv->bias + ob,
						   out + ((size_t) (oy + cv->out_pad) * cv->out_wp + cv->out_pad) * cv->out_cs + ob);
}

/*
 * 3x3 stride 1 padding 1 by Winograd F(2x2, 3x3): each 2x2 block of outputs
 * ("tile") costs 16 multiply-adds per input/output channel pair instead of
 * 36.  Tiles go in chunks of T_R1: transform the chunk's 4x4 input patches
 * (V = B^T d B, per channel vector), then for each of the 16 transformed
 * positions a 1x1 "convolution" of the chunk with the transformed weights
 * (U = G g G^T, precomputed) through the same register-blocked pixels()
 * kernel, then the output transform (A^T M A) with bias and ReLU.  The
 * transforms only add, subtract and (in G) halve, so the results stay within
 * float rounding of the direct sum.  Needs in_cs % T_VL == 0 and pad 1.
 */
T_TARGET static void
T_SFX(conv_wino) (const sp_dc_conv *cv, const float *in, float *out)
{
	const int	tw = (cv->OW + 1) / 2,
				nt = tw * ((cv->OH + 1) / 2),
				blk = T_NV * T_VL;
	const size_t ics = cv->in_cs,
				ocs = (size_t) cv->Op;
	float	   *V = cv->wino_v,
			   *M = cv->wino_m;
	sp_dc_conv	g;

	/* the GEMM stage as a 1x1 convolution over the chunk's tiles */
	memset(&g, 0, sizeof(g));
	g.k = 1;
	g.s = 1;
	g.C = cv->C;
	g.Op = cv->Op;
	g.in_cs = ics;
	g.in_row = 0;
	g.pstep = ics;
	g.out_cs = cv->Op;
	g.relu = false;

	for (int t0 = 0; t0 < nt; t0 += T_R1)
	{
		const int	n = nt - t0 < T_R1 ? nt - t0 : T_R1;

		/* input transform: V[xi][j][c] */
		for (int j = 0; j < n; j++)
		{
			const int	ty = (t0 + j) / tw,
						tx = (t0 + j) % tw;
			const float *base = in + ((size_t) 2 * ty * cv->in_row) + (size_t) 2 * tx * ics;

			for (size_t c = 0; c < ics; c += T_VL)
			{
				T_V			d[4][4],
							t[4][4];

				for (int y = 0; y < 4; y++)
					for (int x = 0; x < 4; x++)
						d[y][x] = T_LOAD(base + (size_t) y * cv->in_row + (size_t) x * ics + c);
				for (int x = 0; x < 4; x++)
				{
					t[0][x] = T_SUB(d[0][x], d[2][x]);
					t[1][x] = T_ADD(d[1][x], d[2][x]);
					t[2][x] = T_SUB(d[2][x], d[1][x]);
					t[3][x] = T_SUB(d[1][x], d[3][x]);
				}
				for (int y = 0; y < 4; y++)
				{
					float	   *v = V + ((size_t) (y * 4) * T_R1 + j) * ics + c;
					const size_t xs = (size_t) T_R1 * ics;	/* next xi */

					T_STORE(v, T_SUB(t[y][0], t[y][2]));
					T_STORE(v + xs, T_ADD(t[y][1], t[y][2]));
					T_STORE(v + 2 * xs, T_SUB(t[y][2], t[y][1]));
					T_STORE(v + 3 * xs, T_SUB(t[y][1], t[y][3]));
				}
			}
		}

		/* 16 independent products M[xi] = V[xi] * U[xi] */
		for (int xi = 0; xi < 16; xi++)
			for (int ob = 0; ob < cv->Op; ob += blk)
				T_SFX(pixels) (&g, n, V + (size_t) xi * T_R1 * ics,
							   cv->wino_u + (size_t) xi * cv->C * ocs + ob, cv->wino_zero + ob,
							   M + (size_t) xi * T_R1 * ocs + ob);

		/* output transform, bias, ReLU */
		for (int j = 0; j < n; j++)
		{
			const int	ty = (t0 + j) / tw,
						tx = (t0 + j) % tw;
			const bool	y1 = 2 * ty + 1 < cv->OH,
						x1 = 2 * tx + 1 < cv->OW;
			float	   *o = out + ((size_t) (2 * ty + cv->out_pad) * cv->out_wp + 2 * tx + cv->out_pad) * cv->out_cs;
			const size_t orow = (size_t) cv->out_wp * cv->out_cs;

			for (size_t c = 0; c < ocs; c += T_VL)
			{
				T_V			m[4][4],
							s[2][4],
							r[2][2],
							b = T_LOAD(cv->bias + c);

				for (int y = 0; y < 4; y++)
					for (int x = 0; x < 4; x++)
						m[y][x] = T_LOAD(M + ((size_t) (y * 4 + x) * T_R1 + j) * ocs + c);
				for (int x = 0; x < 4; x++)
				{
					s[0][x] = T_ADD(T_ADD(m[0][x], m[1][x]), m[2][x]);
					s[1][x] = T_SUB(T_SUB(m[1][x], m[2][x]), m[3][x]);
				}
				for (int y = 0; y < 2; y++)
				{
					r[y][0] = T_ADD(T_ADD(T_ADD(s[y][0], s[y][1]), s[y][2]), b);
					r[y][1] = T_ADD(T_SUB(T_SUB(s[y][1], s[y][2]), s[y][3]), b);
					if (cv->relu)
					{
						r[y][0] = T_MAX(r[y][0], T_ZERO());
						r[y][1] = T_MAX(r[y][1], T_ZERO());
					}
				}
				T_STORE(o + c, r[0][0]);
				if (x1)
					T_STORE(o + cv->out_cs + c, r[0][1]);
				if (y1)
				{
					T_STORE(o + orow + c, r[1][0]);
					if (x1)
						T_STORE(o + orow + cv->out_cs + c, r[1][1]);
				}
			}
		}
	}
}

T_TARGET static void
T_SFX(conv) (const sp_dc_conv *cv, const float *in, float *out)
{
	if (cv->wino_u)
		T_SFX(conv_wino) (cv, in, out);
	else
		T_SFX(conv_direct) (cv, in, out);
}

/*
 * Max pool over a channels-last tensor whose channel stride is a multiple of
 * T_VL: same window rules as sp_nn_maxpool_forward (out-of-range taps
 * skipped, a NaN anywhere in the window gives NaN, -inf for an empty window).
 */
T_TARGET static void
T_SFX(maxpool) (const sp_dc_pool *pl, const float *in, float *out)
{
	for (int oy = 0; oy < pl->OH; oy++)
		for (int ox = 0; ox < pl->OW; ox++)
		{
			float	   *o = out + ((size_t) (oy + pl->out_pad) * pl->out_wp + ox + pl->out_pad) * pl->cs;

			for (int c = 0; c < pl->cs; c += T_VL)
			{
				T_V			m = T_SET1(-INFINITY),
							nan = T_ZERO();

				for (int ky = 0; ky < pl->k; ky++)
				{
					int			iy = oy * pl->s - pl->p + ky;

					if (iy < 0 || iy >= pl->H)
						continue;
					for (int kx = 0; kx < pl->k; kx++)
					{
						int			ix = ox * pl->s - pl->p + kx;
						T_V			v;

						if (ix < 0 || ix >= pl->W)
							continue;
						v = T_LOAD(in + ((size_t) (iy + pl->in_pad) * pl->in_wp + ix + pl->in_pad) * pl->cs + c);
						nan = T_ISNAN_OR(nan, v);
						m = T_MAX(v, m);
					}
				}
				T_STORE(o + c, T_BLEND_NAN(m, nan));
			}
		}
}

/* Average pool, count_include_pad like sp_nn_avgpool_forward (same order of additions). */
T_TARGET static void
T_SFX(avgpool) (const sp_dc_pool *pl, const float *in, float *out)
{
	const T_V	inv = T_SET1(1.0f / (float) (pl->k * pl->k));

	for (int oy = 0; oy < pl->OH; oy++)
		for (int ox = 0; ox < pl->OW; ox++)
		{
			float	   *o = out + ((size_t) (oy + pl->out_pad) * pl->out_wp + ox + pl->out_pad) * pl->cs;

			for (int c = 0; c < pl->cs; c += T_VL)
			{
				T_V			sum = T_ZERO();

				for (int ky = 0; ky < pl->k; ky++)
				{
					int			iy = oy * pl->s - pl->p + ky;

					if (iy < 0 || iy >= pl->H)
						continue;
					for (int kx = 0; kx < pl->k; kx++)
					{
						int			ix = ox * pl->s - pl->p + kx;

						if (ix >= 0 && ix < pl->W)
							sum = T_ADD(sum, T_LOAD(in + ((size_t) (iy + pl->in_pad) * pl->in_wp + ix + pl->in_pad) * pl->cs + c));
					}
				}
				T_STORE(o + c, T_MUL(sum, inv));
			}
		}
}

static const sp_dc_kernels T_SFX(kernels) = {
	T_SFX(conv), T_SFX(maxpool), T_SFX(avgpool), T_VL, T_NV * T_VL
};

/* Each inclusion defines its own T_* macros: clear them for the next one. */
#undef T_SFX
#undef T_TARGET
#undef T_V
#undef T_VL
#undef T_NV
#undef T_LOAD
#undef T_STORE
#undef T_SET1
#undef T_FMA
#undef T_MAX
#undef T_ADD
#undef T_SUB
#undef T_MUL
#undef T_ZERO
#undef T_ISNAN_OR
#undef T_BLEND_NAN
#undef T_R1
#undef T_R2
#undef T_R3
#undef T_R4
#undef T_R5

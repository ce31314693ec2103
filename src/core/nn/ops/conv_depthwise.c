/*
 * conv_depthwise.c: the depthwise convolution kernel of Conv (one input
 * channel per group: MobileNet, EfficientNet, RegNet, ConvNeXt) and the
 * bias + activation pass the GEMM paths share (conv.h).
 *
 * A depthwise plane is small work per byte (k*k multiply-adds per output),
 * so the kernel is about memory and vector width: the plane is copied once
 * into a zero-bordered scratch row block, which removes every bounds check,
 * then each output row accumulates k*k broadcast weights times contiguous
 * (stride 1) or even-lane (stride 2, deinterleaved) input vectors, with the
 * bias and the fused activation applied in registers.  AVX2+FMA when the CPU
 * has it, else the same loops in scalar C; both give the same sums in the
 * same order per output (so the same results up to FMA contraction).
 */
#include "nn/ops/conv.h"
#include "util/cpu.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define SP_DW_X86 1
#include <immintrin.h>
#endif

/* Padded plane width: room for the widest vector load past the last output. */
static inline int64_t
padded_width(const sp_window *w)
{
	return w->W + w->pl + w->pr + 16 + (w->kw - 1) * w->dw;
}

size_t
sp_depthwise_scratch_bytes(const sp_window *w)
{
	int64_t		rows = w->H + w->pt + w->pb + 1;

	/* the padded plane and one output row of slack */
	return sizeof(float) * (size_t) (rows * padded_width(w) + w->OW + 16) + 64;
}

static inline float
act1(const sp_fused_act *a, float v)
{
	if (a->kind == SP_ACT_NONE)
		return v;
	if (a->lo == 0.0f && a->hi == INFINITY)
		return v > 0.0f ? v : 0.0f;
	return v < a->lo ? a->lo : (v > a->hi ? a->hi : v);
}

/* Copy plane x (H x W) into the zero-bordered buffer xp (row stride wp). */
static void
pad_plane(const float *x, const sp_window *w, int64_t wp, float *xp)
{
	int64_t		rows = w->H + w->pt + w->pb + 1;

	memset(xp, 0, sizeof(float) * (size_t) (rows * wp));
	for (int64_t y = 0; y < w->H; y++)
		memcpy(xp + (y + w->pt) * wp + w->pl, x + y * w->W, sizeof(float) * (size_t) w->W);
}

static void
plane_scalar(const float *xp, int64_t wp, const sp_window *w, const float *k, float bias,
			 const sp_fused_act *act, float *y)
{
	for (int64_t oy = 0; oy < w->OH; oy++)
		for (int64_t ox = 0; ox < w->OW; ox++)
		{
			float		s = bias;

			for (int64_t ky = 0; ky < w->kh; ky++)
			{
				const float *r = xp + (oy * w->sh + ky * w->dh) * wp + ox * w->sw;

				for (int64_t kx = 0; kx < w->kw; kx++)
					s += k[ky * w->kw + kx] * r[kx * w->dw];
			}
			y[oy * w->OW + ox] = act1(act, s);
		}
}

#ifdef SP_DW_X86

__attribute__((target("avx2,fma")))
static inline __m256
act8(const sp_fused_act *a, __m256 v)
{
	if (a->kind == SP_ACT_NONE)
		return v;
	if (a->lo == 0.0f && a->hi == INFINITY)
		return _mm256_max_ps(v, _mm256_setzero_ps());	/* NaN -> 0, like v > 0 ? v : 0 */
	/* lo, hi first: a NaN in v comes through, like the scalar clip */
	v = _mm256_max_ps(_mm256_set1_ps(a->lo), v);
	return _mm256_min_ps(_mm256_set1_ps(a->hi), v);
}

/* The even lanes of the 16 floats at p: p[0], p[2], ..., p[14]. */
__attribute__((target("avx2,fma")))
static inline __m256
load_even(const float *p)
{
	__m256		a = _mm256_loadu_ps(p),
				b = _mm256_loadu_ps(p + 8);
	__m256		s = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0));

	return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(s), _MM_SHUFFLE(3, 1, 2, 0)));
}

__attribute__((target("avx2,fma")))
static void
plane_avx2(const float *xp, int64_t wp, const sp_window *w, const float *k, float bias,
		   const sp_fused_act *act, float *y, float *row)
{
	const int64_t OW = w->OW;
	const __m256 vb = _mm256_set1_ps(bias);

	for (int64_t oy = 0; oy < w->OH; oy++)
	{
		/* whole vectors into row (slack past OW), then the valid part to y */
		for (int64_t ox = 0; ox < OW; ox += 8)
		{
			__m256		acc = vb;

			for (int64_t ky = 0; ky < w->kh; ky++)
			{
				const float *r = xp + (oy * w->sh + ky * w->dh) * wp + ox * w->sw;

				for (int64_t kx = 0; kx < w->kw; kx++)
				{
					const __m256 kv = _mm256_set1_ps(k[ky * w->kw + kx]);
					const float *p = r + kx * w->dw;

					acc = _mm256_fmadd_ps(kv, w->sw == 1 ? _mm256_loadu_ps(p) : load_even(p), acc);
				}
			}
			_mm256_storeu_ps(row + ox, act8(act, acc));
		}
		memcpy(y + oy * OW, row, sizeof(float) * (size_t) OW);
	}
}

/* Bias then activation over n floats. */
__attribute__((target("avx2,fma")))
static void
bias_act_avx2(float *y, size_t n, float bias, const sp_fused_act *act)
{
	const __m256 vb = _mm256_set1_ps(bias);
	size_t		i = 0;

	for (; i + 8 <= n; i += 8)
		_mm256_storeu_ps(y + i, act8(act, _mm256_add_ps(_mm256_loadu_ps(y + i), vb)));
	for (; i < n; i++)
		y[i] = act1(act, y[i] + bias);
}

#endif							/* SP_DW_X86 */

void
sp_depthwise_plane(const float *x, const sp_window *w, const float *k, float bias,
				   const sp_fused_act *act, float *y, void *scratch)
{
	float	   *xp = (float *) (((uintptr_t) scratch + 63) & ~(uintptr_t) 63);
	int64_t		wp = padded_width(w);

	pad_plane(x, w, wp, xp);
#ifdef SP_DW_X86
	/* the vector kernel reads stride 1 or 2 from contiguous input */
	if ((w->sw == 1 || w->sw == 2) && sp_cpu_supports(SP_ISA_AVX2))
	{
		plane_avx2(xp, wp, w, k, bias, act, y, xp + (w->H + w->pt + w->pb + 1) * wp);
		return;
	}
#endif
	plane_scalar(xp, wp, w, k, bias, act, y);
}

void
sp_bias_act(float *y, size_t n, float bias, const sp_fused_act *act)
{
#ifdef SP_DW_X86
	if (sp_cpu_supports(SP_ISA_AVX2))
	{
		bias_act_avx2(y, n, bias, act);
		return;
	}
#endif
	for (size_t i = 0; i < n; i++)
		y[i] = act1(act, y[i] + bias);
}

/*
 * resample.c: clipped zoom, Pillow BOX / BILINEAR resize and bilinear
 * sampling (see resample.h).  No helper allocates per pixel.
 */
#include "image/resample.h"
#include "util/cpu.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#include <math.h>
#include <string.h>

/* One axis of clipped_zoom: source indices and weights for n outputs. */
static void
zoom_axis(int n, double z, int *i0, int *i1, double *t)
{
	int			ch = (int) ceil((double) n / z);
	int			top,
				zn,
				trim;
	double		ratio;

	if (ch < 1)
		ch = 1;
	if (ch > n)
		ch = n;
	top = (n - ch) / 2;
	zn = (int) nearbyint((double) ch * z);	/* Python round(): half to even */
	if (zn < n)
		zn = n;
	trim = (zn - n) / 2;
	ratio = zn > 1 ? (double) (ch - 1) / (double) (zn - 1) : 0.0;
	for (int i = 0; i < n; i++)
	{
		double		c = (double) (i + trim) * ratio;
		int			a = (int) floor(c);

		if (a < 0)
			a = 0;
		if (a > ch - 1)
			a = ch - 1;
		t[i] = c - a;
		if (t[i] < 0.0)
			t[i] = 0.0;
		i0[i] = top + a;
		i1[i] = top + (a + 1 < ch ? a + 1 : a);
	}
}

sp_status
sp_clipped_zoom(const sp_env *env, const double *src, double *dst, int w, int h,
				double z, int add, sp_error *err)
{
	int		   *ix = NULL;
	double	   *tx = NULL,
			   *ty = NULL;
	sp_status	st = SP_OK;

	if (!(z >= 1.0))
		z = 1.0;
	ix = sp_alloc_array(env, (size_t) (2 * w + 2 * h), sizeof(int));
	tx = sp_dalloc(env, (size_t) (w + h), err);
	if (!ix || !tx)
	{
		st = sp_set_error(err, SP_ERR_NOMEM, "out of memory");
		goto done;
	}
	ty = tx + w;
	{
		int		   *x0 = ix,
				   *x1 = ix + w,
				   *y0 = ix + 2 * w,
				   *y1 = ix + 2 * w + h;

		zoom_axis(w, z, x0, x1, tx);
		zoom_axis(h, z, y0, y1, ty);
		for (int y = 0; y < h; y++)
		{
			const double *ra = src + (size_t) y0[y] * w;
			const double *rb = src + (size_t) y1[y] * w;
			double		b = ty[y],
						a = 1.0 - b;
			double	   *o = dst + (size_t) y * w;

			if ((y & 63) == 0 && sp_env_interrupted(env))
			{
				st = sp_set_error(err, SP_ERR_INTERRUPTED, "corruption interrupted");
				goto done;
			}
			for (int x = 0; x < w; x++)
			{
				double		d = tx[x],
							c = 1.0 - d;
				double		v = a * (c * ra[x0[x]] + d * ra[x1[x]]) +
					b * (c * rb[x0[x]] + d * rb[x1[x]]);

				o[x] = add ? o[x] + v : v;
			}
		}
	}
done:
	if (ix)
		sp_free(env, ix);
	if (tx)
		sp_free(env, tx);
	return st;
}

/* ---- Pillow resampling (BOX, BILINEAR) -------------------------------- */

/*
 * Pillow's 8-bit path: coefficients in fixed point with 22 fractional bits
 * (PRECISION_BITS = 32 - 8 - 2), sums in int starting at one half, the
 * result shifted down and clipped to 0..255 after each pass.
 */
#define PIL_PRECISION_BITS (32 - 8 - 2)

static inline double
pil_filter(sp_pil_filter f, double x)
{
	if (f == SP_PIL_BOX)
		return (x > -0.5 && x <= 0.5) ? 1.0 : 0.0;
	/* triangle */
	if (x < 0.0)
		x = -x;
	return x < 1.0 ? 1.0 - x : 0.0;
}

/*
 * One axis of a window of a resize: what Pillow's precompute_coeffs and
 * normalize_coeffs_8bpc give for outputs first .. first + n - 1.  Outputs
 * outside the resized image (padding) have -1 taps and no coefficients, so
 * the coefficient memory is at most min(n, out_size) * ksize.
 */
typedef struct pil_axis
{
	int			ksize;			/* coefficients per output */
	int			span;			/* largest number of taps any window output uses */
	int			j0;				/* first window index inside the resized image */
	int		   *bounds;			/* per output: first source index, number of taps; -1 taps = outside */
	int32_t    *k;				/* ksize coefficients per output j0, j0 + 1, ... inside */
} pil_axis;

static inline const int32_t *
pil_coeffs(const pil_axis *a, int j)
{
	return a->k + (size_t) (j - a->j0) * (size_t) a->ksize;
}

static void
pil_axis_free(const sp_env *env, pil_axis *a)
{
	sp_free(env, a->bounds);
	sp_free(env, a->k);
	a->bounds = NULL;
	a->k = NULL;
}

static sp_status
pil_axis_init(const sp_env *env, pil_axis *a, sp_pil_filter f, int in_size, float in0, float in1,
			  int out_size, int first, int n, sp_error *err)
{
	/* (double) of a float difference, as Pillow computes it */
	double		scale = (double) (in1 - in0) / out_size;
	double		filterscale = scale < 1.0 ? 1.0 : scale;
	double		support = (f == SP_PIL_BOX ? 0.5 : 1.0) * filterscale;
	double		ss = 1.0 / filterscale;
	double	   *w;
	size_t		ks;
	int			j1;

	memset(a, 0, sizeof(*a));
	if (!(support < 1e6))
		return sp_set_error(err, SP_ERR_LIMIT, "resize: downscaling factor too large");
	a->ksize = (int) ceil(support) * 2 + 1;
	ks = (size_t) a->ksize;
	/* window indices [j0, j1) fall inside the resized image */
	a->j0 = first < 0 ? (-first < n ? -first : n) : 0;
	j1 = out_size - first < n ? out_size - first : n;
	if (j1 < a->j0)
		j1 = a->j0;
	a->bounds = sp_alloc_array(env, (size_t) n, 2 * sizeof(int));
	a->k = sp_alloc_array(env, (size_t) (j1 - a->j0) + 1, ks * sizeof(int32_t));
	w = sp_alloc_array(env, ks, sizeof(double));
	if (!a->bounds || !a->k || !w)
	{
		sp_free(env, w);
		pil_axis_free(env, a);
		return sp_set_error(err, SP_ERR_NOMEM, "out of memory");
	}
	for (int j = 0; j < n; j++)
	{
		int			xx = first + j;
		double		center = in0 + (xx + 0.5) * scale;
		double		ww = 0.0;
		int			xmin,
					xmax;
		int32_t    *k;

		if (xx < 0 || xx >= out_size)
		{
			/* outside the resized image: padding */
			a->bounds[2 * j] = 0;
			a->bounds[2 * j + 1] = -1;
			continue;
		}
		k = (int32_t *) pil_coeffs(a, j);
		xmin = (int) (center - support + 0.5);
		if (xmin < 0)
			xmin = 0;
		xmax = (int) (center + support + 0.5);
		if (xmax > in_size)
			xmax = in_size;
		xmax -= xmin;
		if (xmax > a->ksize)
			xmax = a->ksize;	/* cannot happen; keeps the buffer safe */
		if (xmax < 0)
			xmax = 0;
		for (int x = 0; x < xmax; x++)
		{
			w[x] = pil_filter(f, (x + xmin - center + 0.5) * ss);
			ww += w[x];
		}
		for (int x = 0; x < a->ksize; x++)
		{
			double		v = x < xmax ? (ww != 0.0 ? w[x] / ww : w[x]) : 0.0;

			k[x] = v < 0 ? (int32_t) (-0.5 + v * (1 << PIL_PRECISION_BITS))
				: (int32_t) (0.5 + v * (1 << PIL_PRECISION_BITS));
		}
		a->bounds[2 * j] = xmin;
		a->bounds[2 * j + 1] = xmax;
		if (xmax > a->span)
			a->span = xmax;
	}
	sp_free(env, w);
	return SP_OK;
}

static inline uint8_t
clip8_pil(int32_t in)
{
	int32_t		v = in >> PIL_PRECISION_BITS;

	return v < 0 ? 0 : v > 255 ? 255 : (uint8_t) v;
}

/*
 * Horizontal pass of one row: taps outside, channels inside (one pass over
 * the pixels, as Pillow does), with the sums in registers.
 */
static void
pil_hpass(const uint8_t *in, uint8_t *out, int c, const pil_axis *a, int n)
{
	const int32_t half = 1 << (PIL_PRECISION_BITS - 1);

	for (int j = 0; j < n; j++)
	{
		int			xmin = a->bounds[2 * j],
					xmax = a->bounds[2 * j + 1];
		const uint8_t *p = in + (size_t) xmin * c;
		uint8_t    *o = out + (size_t) j * c;
		const int32_t *k;

		if (xmax < 0)
		{
			memset(o, 0, (size_t) c);
			continue;
		}
		k = pil_coeffs(a, j);
		if (c == 3)
		{
			int32_t		s0 = half,
						s1 = half,
						s2 = half;

			for (int x = 0; x < xmax; x++, p += 3)
			{
				s0 += (int32_t) p[0] * k[x];
				s1 += (int32_t) p[1] * k[x];
				s2 += (int32_t) p[2] * k[x];
			}
			o[0] = clip8_pil(s0);
			o[1] = clip8_pil(s1);
			o[2] = clip8_pil(s2);
		}
		else if (c == 1)
		{
			int32_t		s0 = half;

			for (int x = 0; x < xmax; x++)
				s0 += (int32_t) p[x] * k[x];
			o[0] = clip8_pil(s0);
		}
		else
		{
			int32_t		ss[4] = {half, half, half, half};

			for (int x = 0; x < xmax; x++, p += c)
				for (int ch = 0; ch < c; ch++)
					ss[ch] += (int32_t) p[ch] * k[x];
			for (int ch = 0; ch < c; ch++)
				o[ch] = clip8_pil(ss[ch]);
		}
	}
}

/*
 * Vertical pass of one output row: out[e] = clip(half + sum over taps of
 * rows[t][e] * k[t]), in blocks that stay in L1.  Integer arithmetic, so the
 * AVX2 build of the same loop gives the same bytes.
 */
#define PIL_VBLOCK 256

static inline __attribute__((always_inline)) void
pil_vrow_body(const uint8_t *const *rows, const int32_t *k, int taps, uint8_t *restrict out, size_t n)
{
	for (size_t e0 = 0; e0 < n; e0 += PIL_VBLOCK)
	{
		int32_t		acc[PIL_VBLOCK];
		size_t		m = n - e0 < PIL_VBLOCK ? n - e0 : PIL_VBLOCK;

		for (size_t i = 0; i < m; i++)
			acc[i] = 1 << (PIL_PRECISION_BITS - 1);
		for (int t = 0; t < taps; t++)
		{
			const uint8_t *restrict r = rows[t] + e0;
			int32_t		kt = k[t];

			for (size_t i = 0; i < m; i++)
				acc[i] += (int32_t) r[i] * kt;
		}
		for (size_t i = 0; i < m; i++)
		{
			int32_t		v = acc[i] >> PIL_PRECISION_BITS;

			out[e0 + i] = (uint8_t) (v < 0 ? 0 : v > 255 ? 255 : v);
		}
	}
}

static void
pil_vrow(const uint8_t *const *rows, const int32_t *k, int taps, uint8_t *out, size_t n)
{
	pil_vrow_body(rows, k, taps, out, n);
}

#if defined(__x86_64__) && defined(__GNUC__)
/* The same sums, 16 outputs at a time: 32-bit products and sums cannot overflow. */
__attribute__((target("avx2")))
static void
pil_vrow_avx2(const uint8_t *const *rows, const int32_t *k, int taps, uint8_t *out, size_t n)
{
	const __m256i half = _mm256_set1_epi32(1 << (PIL_PRECISION_BITS - 1));
	size_t		e = 0;

	for (; e + 16 <= n; e += 16)
	{
		__m256i		a0 = half,
					a1 = half,
					p16;
		__m128i		p8;

		for (int t = 0; t < taps; t++)
		{
			__m256i		kt = _mm256_set1_epi32(k[t]);
			__m128i		b = _mm_loadu_si128((const __m128i *) (rows[t] + e));

			a0 = _mm256_add_epi32(a0, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(b), kt));
			a1 = _mm256_add_epi32(a1, _mm256_mullo_epi32(_mm256_cvtepu8_epi32(_mm_srli_si128(b, 8)), kt));
		}
		a0 = _mm256_srai_epi32(a0, PIL_PRECISION_BITS);
		a1 = _mm256_srai_epi32(a1, PIL_PRECISION_BITS);
		/* saturating packs clip to 0..255 exactly like clip8 */
		p16 = _mm256_permute4x64_epi64(_mm256_packs_epi32(a0, a1), 0xD8);
		p8 = _mm_packus_epi16(_mm256_castsi256_si128(p16), _mm256_extracti128_si256(p16, 1));
		_mm_storeu_si128((__m128i *) (out + e), p8);
	}
	if (e < n)
	{
		const uint8_t *tail[64];
		int			nt = taps < 64 ? taps : 64;

		/* taps never exceed 64 here: the caller uses this only for small spans */
		for (int t = 0; t < nt; t++)
			tail[t] = rows[t] + e;
		pil_vrow_body(tail, k, nt, out + e, n - e);
	}
}
#endif

/* Process-wide kernel choice for the vertical pass (tests force scalar). */
static int	pil_isa = SP_ISA_AUTO;

void
sp_resample_set_isa(int isa)
{
	pil_isa = isa;
}

sp_status
sp_pil_resize_u8(const sp_env *env, const uint8_t *src, int sw, int sh, int c,
				 const sp_pil_resize *rs, uint8_t *dst, int dw, int dh, sp_error *err)
{
	float		box[4];
	int			full_x,
				need_h;
	pil_axis	ax = {0},
				ay = {0};
	uint8_t    *ring = NULL;
	const uint8_t **rows = NULL;
	size_t		rowlen;
	sp_status	st;
	int			cap,
				next,
				avx2 = pil_isa != SP_ISA_SCALAR && sp_cpu_supports(SP_ISA_AVX2);

	if (!src || !dst || !rs || sw <= 0 || sh <= 0 || c < 1 || c > 4 || dw <= 0 || dh <= 0 ||
		rs->out_w <= 0 || rs->out_h <= 0 || (rs->filter != SP_PIL_BOX && rs->filter != SP_PIL_BILINEAR) ||
		rs->win_x < -SP_PIL_MAX_OFFSET || rs->win_x > SP_PIL_MAX_OFFSET ||
		rs->win_y < -SP_PIL_MAX_OFFSET || rs->win_y > SP_PIL_MAX_OFFSET)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "resize: invalid arguments");
	if (rs->box[0] == 0 && rs->box[1] == 0 && rs->box[2] == 0 && rs->box[3] == 0)
	{
		box[0] = 0;
		box[1] = 0;
		box[2] = (float) sw;
		box[3] = (float) sh;
	}
	else
		memcpy(box, rs->box, sizeof(box));
	/* a box thinner than float resolution (x0 == x1) still works: every output samples x0 */
	if (!(box[0] >= 0 && box[1] >= 0 && box[2] <= sw && box[3] <= sh &&
		  box[0] <= box[2] && box[1] <= box[3]))
		return sp_set_error(err, SP_ERR_INVALID_ARG, "resize: box outside the image or inverted");
	full_x = box[0] == 0 && box[2] == (float) sw;
	/* Pillow skips a pass that would be the identity */
	need_h = !(full_x && rs->out_w == sw);
	rowlen = (size_t) dw * (size_t) c;

	if ((st = pil_axis_init(env, &ax, rs->filter, sw, box[0], box[2], rs->out_w, rs->win_x, dw, err)) ||
		(st = pil_axis_init(env, &ay, rs->filter, sh, box[1], box[3], rs->out_h, rs->win_y, dh, err)))
		goto done;
	/* ring of horizontally resampled source rows: enough for one output row */
	cap = ay.span > 0 ? ay.span : 1;
	ring = sp_alloc_array(env, (size_t) cap, rowlen);
	rows = sp_alloc_array(env, (size_t) cap, sizeof(*rows));
	if (!ring || !rows)
	{
		st = sp_set_error(err, SP_ERR_NOMEM, "out of memory");
		goto done;
	}
	next = 0;
	for (int j = 0; j < dh; j++)
	{
		int			ymin = ay.bounds[2 * j],
					ymax = ay.bounds[2 * j + 1];
		uint8_t    *o = dst + (size_t) j * rowlen;
		const int32_t *k;

		if ((j & 15) == 0 && sp_env_interrupted(env))
		{
			st = sp_set_error(err, SP_ERR_INTERRUPTED, "resize interrupted");
			goto done;
		}
		if (ymax < 0)
		{
			memset(o, 0, rowlen);
			continue;
		}
		k = pil_coeffs(&ay, j);
		if (next < ymin)
			next = ymin;
		for (; next < ymin + ymax; next++)
		{
			const uint8_t *in = src + (size_t) next * (size_t) sw * (size_t) c;
			uint8_t    *r = ring + (size_t) (next % cap) * rowlen;

			/* a strong downscale reads many source rows per output row */
			if ((next & 255) == 255 && sp_env_interrupted(env))
			{
				st = sp_set_error(err, SP_ERR_INTERRUPTED, "resize interrupted");
				goto done;
			}

			if (need_h)
				pil_hpass(in, r, c, &ax, dw);
			else
			{
				/* identity horizontally: copy the window, zeros outside */
				for (int i = 0; i < dw; i++)
				{
					int			xx = rs->win_x + i;

					if (xx >= 0 && xx < sw)
						memcpy(r + (size_t) i * c, in + (size_t) xx * c, (size_t) c);
					else
						memset(r + (size_t) i * c, 0, (size_t) c);
				}
			}
		}
		for (int y = 0; y < ymax; y++)
			rows[y] = ring + (size_t) ((ymin + y) % cap) * rowlen;
#if defined(__x86_64__) && defined(__GNUC__)
		if (avx2 && ymax <= 64)
			pil_vrow_avx2(rows, k, ymax, o, rowlen);
		else
#endif
			pil_vrow(rows, k, ymax, o, rowlen);
	}
	st = SP_OK;
done:
	pil_axis_free(env, &ax);
	pil_axis_free(env, &ay);
	sp_free(env, ring);
	sp_free(env, rows);
	return st;
}

sp_status
sp_box_resize_u8(const sp_env *env, const uint8_t *src, int sw, int sh, int c,
				 uint8_t *dst, int dw, int dh, sp_error *err)
{
	sp_pil_resize rs;

	memset(&rs, 0, sizeof(rs));
	rs.filter = SP_PIL_BOX;
	rs.out_w = dw;
	rs.out_h = dh;
	return sp_pil_resize_u8(env, src, sw, sh, c, &rs, dst, dw, dh, err);
}

/* ---- bilinear sampling ------------------------------------------------- */

double
sp_bilinear(const double *plane, int w, int h, double x, double y, sp_border mode)
{
	double		fx = floor(x),
				fy = floor(y);
	double		tx = x - fx,
				ty = y - fy;
	long		x0,
				x1,
				y0,
				y1;
	double		a,
				b,
				c,
				d;

	if (fx >= 0 && fy >= 0 && fx + 1 < w && fy + 1 < h)
	{
		/* interior: no border mapping */
		const double *p = plane + (long) fy * w + (long) fx;

		a = p[0], b = p[1], c = p[w], d = p[w + 1];
	}
	else
	{
		if (!(fx > -1e9 && fx < 1e9 && fy > -1e9 && fy < 1e9))
			return 0.0;			/* NaN or absurd coordinates */
		x0 = sp_border_index((long) fx, w, mode);
		x1 = sp_border_index((long) fx + 1, w, mode);
		y0 = sp_border_index((long) fy, h, mode);
		y1 = sp_border_index((long) fy + 1, h, mode);
		a = (y0 < 0 || x0 < 0) ? 0.0 : plane[y0 * w + x0];
		b = (y0 < 0 || x1 < 0) ? 0.0 : plane[y0 * w + x1];
		c = (y1 < 0 || x0 < 0) ? 0.0 : plane[y1 * w + x0];
		d = (y1 < 0 || x1 < 0) ? 0.0 : plane[y1 * w + x1];
	}
	return (1.0 - ty) * ((1.0 - tx) * a + tx * b) + ty * ((1.0 - tx) * c + tx * d);
}

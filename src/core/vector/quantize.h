/*
 * quantize.h: compact codes for stored vectors and their distance kernels;
 * the self-contained per-vector form (sp_vcode_*) is what siamese_hnsw's
 * storage option writes into its elements.
 *
 *   bf16  the upper half of each float32, rounded to nearest even: 2 bytes
 *         per value, about 3 significant digits;
 *   sq8   one byte per value on a per-dimension affine grid, lo[i] +
 *         step[i] * code, trained (sp_sq8_train) from a sample of vectors:
 *         the error is at most step[i] / 2 inside the sample's range.
 *
 * Distances are asymmetric: a float32 query against a code, so only the
 * stored side is approximated.  For sq8 the query is prepared once per
 * search (sp_sq8_prepare) so that the kernels do one multiply-add per byte:
 *   q . x' = bias + sum qs[i] * code[i]            (qs = q * step, bias = q . lo)
 *   |q - x'|^2 = sum (d[i] - step[i] * code[i])^2  (d = q - lo)
 *
 * The kernels come as a portable scalar set and an AVX-512 set (widening
 * loads, FMA), chosen at run time like distance.h's (util/cpu.h levels;
 * sp_quant_kernels_for to force one, for tests and benchmarks).  They never
 * allocate or fail and accept any n and alignment.
 */
#ifndef SP_QUANTIZE_H
#define SP_QUANTIZE_H

#include <stddef.h>
#include <stdint.h>

#include "util/cpu.h"

/* The code kinds; the numbers may be stored in index metapages: never renumber. */
typedef enum sp_code_kind
{
	SP_CODE_F32 = 0,			/* no quantization */
	SP_CODE_BF16 = 1,
	SP_CODE_SQ8 = 2
} sp_code_kind;

/* "f32", "bf16", "sq8"; "unknown" otherwise.  Parse: -1 if unknown. */
extern const char *sp_code_kind_name(sp_code_kind k);
extern int	sp_code_kind_from_name(const char *name);
/* Bytes of one code of dim values (sq8: one per value). */
extern size_t sp_code_bytes(sp_code_kind k, size_t dim);

/* bf16: round to nearest even (NaN stays NaN, inf stays inf). */
extern uint16_t sp_bf16_round(float x);
extern void sp_bf16_encode(const float *x, size_t n, uint16_t *out);
extern void sp_bf16_decode(const uint16_t *c, size_t n, float *out);

/*
 * sq8: per dimension the sample's minimum and (max - min) / 255 (a value
 * that never varies gets step 0 and decodes exactly).  x is n vectors of
 * dim floats; non-finite values are ignored.
 */
extern void sp_sq8_train(const float *x, size_t n, size_t dim, float *lo, float *step);
/* Codes: round((x - lo) / step), clamped to 0..255. */
extern void sp_sq8_encode(const float *lo, const float *step, const float *x, size_t dim, uint8_t *code);
extern void sp_sq8_decode(const float *lo, const float *step, const uint8_t *code, size_t dim, float *out);
/* A query's per-search form: qs = q * step, d = q - lo, *bias = q . lo (double sum). */
extern void sp_sq8_prepare(const float *lo, const float *step, const float *q, size_t dim, float *qs, float *d,
						   float *bias);

typedef struct sp_quant_kernels
{
	const char *name;			/* "scalar", "avx512" */
	/* q . decode(c) and |q - decode(c)|^2 for a bf16 code */
	float		(*bf16_dot) (const float *q, const uint16_t *c, size_t n);
	float		(*bf16_l2sq) (const float *q, const uint16_t *c, size_t n);
	/* sum qs[i] * c[i]; sum (d[i] - step[i] * c[i])^2 (see sp_sq8_prepare) */
	float		(*sq8_dot) (const float *qs, const uint8_t *c, size_t n);
	float		(*sq8_l2sq) (const float *d, const float *step, const uint8_t *c, size_t n);
	/* out[i] = lo + step * c[i]: a stored sq8 code decoded (inserts and VACUUM decode many) */
	void		(*sq8_decode) (float lo, float step, const uint8_t *c, size_t n, float *out);
} sp_quant_kernels;

/* The set for isa (NULL if this CPU lacks it or none exists: AVX2 has none). */
extern const sp_quant_kernels *sp_quant_kernels_for(sp_isa isa);
/* The best set this CPU supports (resolved once). */
extern const sp_quant_kernels *sp_quant_active(void);


/* ------------------------------------------------------------------------
 * Self-contained codes of single vectors, as the index stores them.
 *
 * A stored code carries everything its decoding needs, so no codebook is
 * trained or kept and a row inserted long after the build is coded as well
 * as the first one:
 *   f32   the dim floats themselves (4 dim bytes; exact);
 *   bf16  err, mag, then dim bf16 values (8 + 2 dim bytes, rounded up to 4);
 *   sq8   err, mag, lo, step, norm2, then dim bytes: the vector's own grid,
 *         x'[i] = lo + step * code[i] with lo = min x and step =
 *         (max x - min x) / 255 (20 + dim bytes, rounded up to 4).
 * err is |x - x'| and mag a bound on the sizes the kernels' rounding scales
 * with (|x'| for bf16; sqrt(dim) |lo| + step |code| for sq8), both computed
 * in double and rounded up; norm2 is |x'|^2.  Codes are 4-byte aligned
 * (floats first), like the tuples they sit in.
 *
 * The approximate distances (sp_vcode_dot, sp_vcode_l2sq) order a graph
 * search.  sp_vcode_lower_bound turns one into a value that is never above
 * the distance SQL computes for the original vector: what an index reports
 * when it asks the executor to re-rank (recheck) its rows.
 * ------------------------------------------------------------------------ */

/* Bytes of a stored code (a multiple of 4). */
extern size_t sp_vcode_bytes(sp_code_kind k, size_t dim);
/* Code x (finite values; bf16 clamps beyond its largest finite value). */
extern void sp_vcode_encode(sp_code_kind k, const float *x, size_t dim, void *code);
/* x' as floats. */
extern void sp_vcode_decode(sp_code_kind k, const void *code, size_t dim, float *out);
/* err = |x - x'| and mag (f32, whose code is exact: 0 and |x|). */
extern void sp_vcode_bounds(sp_code_kind k, const void *code, size_t dim, float *err, float *mag);

/*
 * Approximate q . x' and |q - x'|^2 through the kernels qk (f32 codes
 * through distance.h's active kernels).  qsum is sum q[i] and qnorm2 |q|^2
 * (sq8 uses them; sp_vcode_query_stats computes both).
 */
extern void sp_vcode_query_stats(const float *q, size_t dim, float *qsum, float *qnorm2);
extern float sp_vcode_dot(const sp_quant_kernels *qk, sp_code_kind k, const float *q, float qsum,
						  const void *code, size_t dim);
extern float sp_vcode_l2sq(const sp_quant_kernels *qk, sp_code_kind k, const float *q, float qsum,
						   float qnorm2, const void *code, size_t dim);

/*
 * A value never above the distance that distance.h's sp_dist(kind, q, x)
 * gives for the original vector x, from approx (the code's sp_vcode_l2sq
 * for L2, 1 - sp_vcode_dot for cosine, -sp_vcode_dot for inner product),
 * the code's err and mag, and qnorm = |q| (for cosine, q and x are
 * normalised).  It allows for the code's error (Cauchy-Schwarz, the
 * triangle inequality) and for float rounding in the kernels on both
 * sides; non-finite input gives the loosest bound (0, or -inf for the
 * inner product).  In the units of sp_dist: Euclidean, not squared.
 */
extern double sp_vcode_lower_bound(int kind, double approx, double err, double mag, double qnorm,
								   size_t dim);

#endif							/* SP_QUANTIZE_H */

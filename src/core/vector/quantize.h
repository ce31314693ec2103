/*
 * quantize.h: compact codes for stored vectors, the candidates for the
 * index's quantized storage (issue 17), and their distance kernels.
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
} sp_quant_kernels;

/* The set for isa (NULL if this CPU lacks it or none exists: AVX2 has none). */
extern const sp_quant_kernels *sp_quant_kernels_for(sp_isa isa);
/* The best set this CPU supports (resolved once). */
extern const sp_quant_kernels *sp_quant_active(void);

#endif							/* SP_QUANTIZE_H */

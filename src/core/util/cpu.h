/*
 * cpu.h: the instruction-set levels the core's hand-written kernels come in
 * (scalar, AVX2+FMA, AVX-512F), what this CPU and OS support, and their
 * names.  The distance kernels (vector/) and the convolution kernels (nn/)
 * both dispatch on these levels; this is the one place they are defined.
 */
#ifndef SP_CPU_H
#define SP_CPU_H

typedef enum sp_isa
{
	SP_ISA_AUTO = -1,			/* best available (only where a choice is made) */
	SP_ISA_SCALAR = 0,			/* portable C (the network: im2col + BLAS) */
	SP_ISA_AVX2 = 1,			/* AVX2 + FMA */
	SP_ISA_AVX512 = 2,			/* AVX-512F */
	SP_ISA_COUNT = 3
} sp_isa;

/* Does this CPU (and OS, for the register state) support isa? Scalar: always. */
extern int	sp_cpu_supports(sp_isa isa);

/* The best level this CPU supports. */
extern sp_isa sp_cpu_best_isa(void);

/* Parse "auto", "scalar", "avx2", "avx512" (case-insensitive); -2 if unknown. */
extern int	sp_isa_from_name(const char *name);

/* "auto", "scalar", "avx2", "avx512"; "unknown" for anything else. */
extern const char *sp_isa_name(sp_isa isa);

#endif							/* SP_CPU_H */

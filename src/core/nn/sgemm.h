/*
 * sgemm.h: the one matrix-multiply entry point of the network (row-major
 * sgemm and sgemv) and the choice of the library behind it.
 *
 * Debian's OpenBLAS picks its kernels from the CPU at load and misdetects
 * some CPUs (it runs its SSE3 "Prescott" kernels on AVX-512 servers unless
 * OPENBLAS_CORETYPE is set), which makes every GEMM 4-5 times slower.  BLIS
 * detects the CPU from its feature flags.  SP_GEMM_AUTO therefore uses
 * OpenBLAS when the kernels it chose suit the CPU (fastest where detection
 * works: docs/performance.md) and BLIS otherwise, so the fast path never
 * depends on an environment variable.
 */
#ifndef SP_NN_SGEMM_H
#define SP_NN_SGEMM_H

#include <stdbool.h>

typedef enum sp_gemm_backend
{
	SP_GEMM_AUTO = 0,
	SP_GEMM_OPENBLAS,
	SP_GEMM_BLIS
} sp_gemm_backend;

/* Process-wide choice (siamese.nn.gemm; benchmarks); AUTO as described above. */
extern void sp_gemm_set_backend(sp_gemm_backend b);
/* The library in use now (never AUTO). */
extern sp_gemm_backend sp_gemm_backend_in_use(void);
extern const char *sp_gemm_backend_name(sp_gemm_backend b);
/* "BLIS 0.9.0 (zen3)" / "OpenBLAS ... core=Zen" into buf. */
extern void sp_gemm_info(sp_gemm_backend b, char *buf, int len);

/*
 * OpenBLAS's kernels against the CPU: NULL when they suit it, else the core
 * type to set (OPENBLAS_CORETYPE) for OpenBLAS to use it fully.  cpu_isa
 * (may be NULL) gets "avx512", "avx2" or "baseline".
 */
extern const char *sp_blas_suggested_core(const char **cpu_isa);

/* C = alpha op(A) op(B) + beta C, row-major; op(A) is M x K, op(B) K x N. */
extern void sp_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
					 const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);
/* y = alpha op(A) x + beta y; A is M x N row-major (lda), op(A) = A^T when trans. */
extern void sp_sgemv(bool trans, int M, int N, float alpha, const float *A, int lda,
					 const float *x, float beta, float *y);

/* The BLIS side (sgemm_blis.c), for sgemm.c. */
extern void sp_blis_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
						  const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);
extern void sp_blis_sgemv(bool trans, int M, int N, float alpha, const float *A, int lda,
						  const float *x, float beta, float *y);
extern void sp_blis_info(char *buf, int len);
extern void sp_blis_single_thread(void);

#endif							/* SP_NN_SGEMM_H */

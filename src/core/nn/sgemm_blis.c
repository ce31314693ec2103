/*
 * sgemm_blis.c: the BLIS calls behind sp_sgemm (sgemm.h), alone in their file
 * because blis.h declares a cblas interface that would clash with
 * OpenBLAS's.  Row-major matrices are described to BLIS's typed API by their
 * strides: row stride ld, column stride 1, of each matrix as stored.
 */
#include "nn/sgemm.h"

#include <blis.h>
#include <stdio.h>

void
sp_blis_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
			  const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
	bli_sgemm(trans_a ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, trans_b ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE,
			  M, N, K, &alpha, (float *) A, lda, 1, (float *) B, ldb, 1, &beta, C, ldc, 1);
}

void
sp_blis_sgemv(bool trans, int M, int N, float alpha, const float *A, int lda,
			  const float *x, float beta, float *y)
{
	/* m x n are A's dimensions as stored, like BLAS's (unlike bli_sgemm's, which are op(A)'s) */
	bli_sgemv(trans ? BLIS_TRANSPOSE : BLIS_NO_TRANSPOSE, BLIS_NO_CONJUGATE,
			  M, N, &alpha, (float *) A, lda, 1, (float *) x, 1, &beta, y, 1);
}

void
sp_blis_info(char *buf, int len)
{
	snprintf(buf, (size_t) len, "BLIS %s (%s)", bli_info_get_version_str(),
			 bli_arch_string(bli_arch_query_id()));
}

void
sp_blis_single_thread(void)
{
	bli_thread_set_num_threads(1);
}

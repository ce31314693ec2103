/*
 * test_sgemm.c: sp_sgemm / sp_sgemv give the same results on both backends
 * (OpenBLAS through cblas, BLIS through its typed API with strides) as a
 * naive double-precision product, for every transposition, odd sizes and
 * leading dimensions wider than the matrices; AUTO resolves to a real one.
 */
#include "unit.h"
#include "nn/sgemm.h"
#include "util/rng.h"

#include <math.h>
#include <stdlib.h>

static void
fill(sp_rng *r, float *x, size_t n)
{
	for (size_t i = 0; i < n; i++)
		x[i] = (float) sp_rng_normal(r);
}

SP_TEST(sgemm_backends_agree_with_naive)
{
	const int	dims[][3] = {{1, 1, 1}, {7, 5, 3}, {17, 33, 65}, {64, 1, 129}, {1, 96, 40}};
	sp_rng		r;

	sp_rng_seed(&r, 3, 0);
	for (int be = SP_GEMM_OPENBLAS; be <= SP_GEMM_BLIS; be++)
	{
		sp_gemm_set_backend((sp_gemm_backend) be);
		CHECK(sp_gemm_backend_in_use() == (sp_gemm_backend) be);
		for (size_t d = 0; d < sizeof dims / sizeof dims[0]; d++)
			for (int ta = 0; ta < 2; ta++)
				for (int tb = 0; tb < 2; tb++)
				{
					int			M = dims[d][0],
								N = dims[d][1],
								K = dims[d][2];
					/* stored shapes: A is M x K (K x M transposed), B is K x N (N x K) */
					int			lda = (ta ? M : K) + 3,
								ldb = (tb ? K : N) + 2,
								ldc = N + 1;
					float	   *A = malloc(sizeof(float) * (size_t) (ta ? K : M) * lda);
					float	   *B = malloc(sizeof(float) * (size_t) (tb ? N : K) * ldb);
					float	   *C = malloc(sizeof(float) * (size_t) M * ldc);
					double		worst = 0;

					fill(&r, A, (size_t) (ta ? K : M) * lda);
					fill(&r, B, (size_t) (tb ? N : K) * ldb);
					fill(&r, C, (size_t) M * ldc);
					{
						float	   *C0 = malloc(sizeof(float) * (size_t) M * ldc);

						for (int i = 0; i < M * ldc; i++)
							C0[i] = C[i];
						sp_sgemm(ta, tb, M, N, K, 0.5f, A, lda, B, ldb, 2.0f, C, ldc);
						for (int i = 0; i < M; i++)
							for (int j = 0; j < N; j++)
							{
								double		s = 0;

								for (int k = 0; k < K; k++)
									s += (double) (ta ? A[k * lda + i] : A[i * lda + k]) *
										(tb ? B[j * ldb + k] : B[k * ldb + j]);
								s = 0.5 * s + 2.0 * C0[i * ldc + j];
								worst = fmax(worst, fabs(s - C[i * ldc + j]) / (1 + fabs(s)));
							}
						/* the padding between rows is left alone */
						for (int i = 0; i < M; i++)
							CHECK(C[i * ldc + N] == C0[i * ldc + N]);
						free(C0);
					}
					CHECK_MSG(worst < 1e-5, "%s %dx%dx%d ta %d tb %d: %g", sp_gemm_backend_name(be), M, N, K,
							  ta, tb, worst);
					free(A);
					free(B);
					free(C);
				}
		/* gemv: A stored M x N */
		for (int t = 0; t < 2; t++)
		{
			int			M = 13,
						N = 9,
						lda = 11;
			float		A[13 * 11],
						x[13],
						y[13],
						y0[13];

			fill(&r, A, 13 * 11);
			fill(&r, x, 13);
			fill(&r, y, 13);
			for (int i = 0; i < 13; i++)
				y0[i] = y[i];
			sp_sgemv(t, M, N, 1.5f, A, lda, x, 0.5f, y);
			for (int i = 0; i < (t ? N : M); i++)
			{
				double		s = 0;

				for (int k = 0; k < (t ? M : N); k++)
					s += (double) (t ? A[k * lda + i] : A[i * lda + k]) * x[k];
				s = 1.5 * s + 0.5 * y0[i];
				CHECK_MSG(fabs(s - y[i]) < 1e-5 * (1 + fabs(s)), "%s gemv trans %d row %d: %g vs %g",
						  sp_gemm_backend_name(be), t, i, s, y[i]);
			}
		}
	}
	sp_gemm_set_backend(SP_GEMM_AUTO);
	CHECK(sp_gemm_backend_in_use() != SP_GEMM_AUTO);
}

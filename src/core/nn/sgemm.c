/*
 * sgemm.c: the network's matrix multiplies on OpenBLAS or BLIS (sgemm.h says
 * why both), and the check of OpenBLAS's kernels against the CPU.  Both
 * libraries are linked; OpenBLAS is linked first, so the cblas_* names
 * resolve to it, and BLIS is only reached through its own bli_* API in
 * sgemm_blis.c (its blis.h brings a cblas.h of its own).  Each backend runs
 * single-threaded: parallel workers, not BLAS threads, use the cores.
 */
#include "nn/sgemm.h"

#include <cblas.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static sp_gemm_backend chosen = SP_GEMM_AUTO;
static sp_gemm_backend auto_resolved = SP_GEMM_AUTO;	/* set once by resolve_auto */

static bool
core_in(const char *core, const char *const *list)
{
	for (; *list; list++)
		if (strcasecmp(core, *list) == 0)
			return true;
	return false;
}

const char *
sp_blas_suggested_core(const char **cpu_isa)
{
	static const char *const avx512_cores[] = {"SkylakeX", "Cooperlake", "SapphireRapids", NULL};
	static const char *const avx2_cores[] = {"Haswell", "Zen", "SkylakeX", "Cooperlake",
	"SapphireRapids", "Excavator", NULL};
	const char *core = openblas_get_corename();
	bool		avx512 = false,
				avx2 = false;

#if defined(__x86_64__) || defined(__i386__)
	__builtin_cpu_init();
	avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
		__builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
	avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
	if (cpu_isa)
		*cpu_isa = avx512 ? "avx512" : avx2 ? "avx2" : "baseline";
	if (core == NULL)
		return NULL;
	if (avx512 && !core_in(core, avx512_cores))
		return "SkylakeX";
	if (!avx512 && avx2 && !core_in(core, avx2_cores))
		return "Haswell";
	return NULL;
}

void
sp_gemm_set_backend(sp_gemm_backend b)
{
	chosen = b;
}

static void
resolve_auto(void)
{
	auto_resolved = sp_blas_suggested_core(NULL) ? SP_GEMM_BLIS : SP_GEMM_OPENBLAS;
	/* single-threaded, whatever the environment says */
	openblas_set_num_threads(1);
	sp_blis_single_thread();
}

sp_gemm_backend
sp_gemm_backend_in_use(void)
{
	/* once per process, even when training threads reach their first product together */
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	if (chosen != SP_GEMM_AUTO)
		return chosen;
	pthread_once(&once, resolve_auto);
	return auto_resolved;
}

const char *
sp_gemm_backend_name(sp_gemm_backend b)
{
	return b == SP_GEMM_BLIS ? "blis" : b == SP_GEMM_OPENBLAS ? "openblas" : "auto";
}

void
sp_gemm_info(sp_gemm_backend b, char *buf, int len)
{
	if (b == SP_GEMM_BLIS)
		sp_blis_info(buf, len);
	else
		snprintf(buf, (size_t) len, "OpenBLAS %s", openblas_get_corename());
}

void
sp_sgemm(bool trans_a, bool trans_b, int M, int N, int K, float alpha,
		 const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc)
{
	if (sp_gemm_backend_in_use() == SP_GEMM_BLIS)
	{
		sp_blis_sgemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
		return;
	}
	cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans,
				M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void
sp_sgemv(bool trans, int M, int N, float alpha, const float *A, int lda, const float *x, float beta, float *y)
{
	if (sp_gemm_backend_in_use() == SP_GEMM_BLIS)
	{
		sp_blis_sgemv(trans, M, N, alpha, A, lda, x, beta, y);
		return;
	}
	cblas_sgemv(CblasRowMajor, trans ? CblasTrans : CblasNoTrans, M, N, alpha, A, lda, x, 1, beta, y, 1);
}

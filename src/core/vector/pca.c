/*
 * pca.c: top-k principal components by power iteration (see pca.h).
 * Accumulates in double; the covariance product C v = Xc^T (Xc v) / (n - 1)
 * is applied without materialising the centred data or the d x d matrix.
 */
#include "vector/pca.h"

#include <math.h>
#include <stdbool.h>
#include <string.h>

#define PCA_MAX_ITERS 1000
#define PCA_TOL 1e-10
/* a component with less variance than this fraction of the first one's has none */
#define PCA_ZERO_VARIANCE 1e-12

/* v -= sum_j (v . c_j) c_j over the first m unit components */
static void
orthogonalise(double *v, const double *comps, int m, int d)
{
	for (int j = 0; j < m; j++)
	{
		const double *c = comps + (size_t) j * d;
		double		dot = 0.0;

		for (int i = 0; i < d; i++)
			dot += v[i] * c[i];
		for (int i = 0; i < d; i++)
			v[i] -= dot * c[i];
	}
}

static double
norm2(const double *v, int d)
{
	double		s = 0.0;

	for (int i = 0; i < d; i++)
		s += v[i] * v[i];
	return sqrt(s);
}

/* v = a unit vector orthogonal to the first m components (deterministic start) */
static void
start_vector(double *v, const double *comps, int m, int d)
{
	double		nv;

	for (int i = 0; i < d; i++)
		v[i] = 1.0 + fmod((i + 1) * 0.6180339887498949, 1.0);
	/* twice: one Gram-Schmidt pass can leave a rounding residue along the components */
	orthogonalise(v, comps, m, d);
	orthogonalise(v, comps, m, d);
	nv = norm2(v, d);
	for (int t = 0; nv < 1e-6 && t < d; t++)
	{
		/* the start lies in the span of the components: try the axes */
		memset(v, 0, sizeof(double) * d);
		v[(m + t) % d] = 1.0;
		orthogonalise(v, comps, m, d);
		orthogonalise(v, comps, m, d);
		nv = norm2(v, d);
	}
	for (int i = 0; i < d; i++)
		v[i] /= nv;
}

sp_status
sp_pca_project(const sp_env *env, const float *x, int n, int d, int k,
			   double *out, double *explained, double *components, sp_error *err)
{
	double	   *mean = NULL,
			   *comps = NULL,
			   *v = NULL,
			   *w = NULL,
			   *proj = NULL;
	double		total = 0.0,
				lambda1 = 0.0;
	bool		zero[SP_PCA_MAX_K] = {false};
	sp_status	st = SP_OK;

	if (!x || !out || n < 1 || d < 1 || k < 1 || k > SP_PCA_MAX_K || k > d)
		return sp_set_error(err, SP_ERR_INVALID_ARG,
							"sp_pca_project: invalid arguments (n %d, d %d, k %d)", n, d, k);

	mean = sp_alloc_array(env, (size_t) d, sizeof(double));
	comps = sp_alloc_array(env, (size_t) k * d, sizeof(double));
	v = sp_alloc_array(env, (size_t) d, sizeof(double));
	w = sp_alloc_array(env, (size_t) d, sizeof(double));
	proj = sp_alloc_array(env, (size_t) n, sizeof(double));
	if (!mean || !comps || !v || !w || !proj)
	{
		st = sp_set_error(err, SP_ERR_NOMEM, "out of memory in PCA of %d x %d points", n, d);
		goto done;
	}
	memset(mean, 0, sizeof(double) * d);
	for (int p = 0; p < n; p++)
		for (int i = 0; i < d; i++)
			mean[i] += x[(size_t) p * d + i];
	for (int i = 0; i < d; i++)
		mean[i] /= n;
	for (int p = 0; p < n; p++)
		for (int i = 0; i < d; i++)
		{
			double		c = x[(size_t) p * d + i] - mean[i];

			total += c * c;
		}

	for (int j = 0; j < k; j++)
	{
		double	   *c = comps + (size_t) j * d;
		double		lambda = 0.0;

		/* Deterministic start that is unlikely to be orthogonal to the answer. */
		start_vector(v, comps, j, d);
		for (int it = 0; it < PCA_MAX_ITERS; it++)
		{
			double		delta = 0.0,
						nw;

			if (sp_env_interrupted(env))
			{
				st = sp_set_error(err, SP_ERR_INTERRUPTED, "PCA interrupted");
				goto done;
			}
			/* w = Xc^T (Xc v) */
			for (int p = 0; p < n; p++)
			{
				double		s = 0.0;

				for (int i = 0; i < d; i++)
					s += (x[(size_t) p * d + i] - mean[i]) * v[i];
				proj[p] = s;
			}
			memset(w, 0, sizeof(double) * d);
			for (int p = 0; p < n; p++)
				for (int i = 0; i < d; i++)
					w[i] += (x[(size_t) p * d + i] - mean[i]) * proj[p];
			orthogonalise(w, comps, j, d);
			orthogonalise(w, comps, j, d);
			nw = norm2(w, d);
			if (nw <= 1e-300 || !isfinite(nw) || (j > 0 && nw <= lambda1 * PCA_ZERO_VARIANCE))
			{
				/*
				 * No variance left (beyond rounding noise of the earlier
				 * components, which power iteration would otherwise amplify
				 * into a direction along them): any unit direction
				 * orthogonal to them will do.
				 */
				lambda = 0.0;
				start_vector(v, comps, j, d);
				break;
			}
			for (int i = 0; i < d; i++)
			{
				double		nvi = w[i] / nw;

				delta += (nvi - v[i]) * (nvi - v[i]);
				v[i] = nvi;
			}
			lambda = nw;
			if (delta < PCA_TOL)
				break;
		}
		if (j == 0)
			lambda1 = lambda;
		zero[j] = lambda <= 0.0 || (j > 0 && lambda <= lambda1 * PCA_ZERO_VARIANCE);
		if (zero[j])
			lambda = 0.0;
		/* keep the components orthonormal to working precision */
		orthogonalise(v, comps, j, d);
		{
			double		nv = norm2(v, d);

			for (int i = 0; i < d; i++)
				v[i] /= nv;
		}
		/* Sign: largest-magnitude loading positive. */
		{
			int			best = 0;

			for (int i = 1; i < d; i++)
				if (fabs(v[i]) > fabs(v[best]))
					best = i;
			for (int i = 0; i < d; i++)
				c[i] = v[best] < 0 ? -v[i] : v[i];
		}
		if (explained)
			explained[j] = total > 0.0 ? lambda / total : 0.0;
	}

	for (int p = 0; p < n; p++)
		for (int j = 0; j < k; j++)
		{
			const double *c = comps + (size_t) j * d;
			double		s = 0.0;

			if (!zero[j])
				for (int i = 0; i < d; i++)
					s += (x[(size_t) p * d + i] - mean[i]) * c[i];
			out[(size_t) p * k + j] = s;
		}
	if (components)
		memcpy(components, comps, sizeof(double) * (size_t) k * d);

done:
	sp_free(env, mean);
	sp_free(env, comps);
	sp_free(env, v);
	sp_free(env, w);
	sp_free(env, proj);
	return st;
}

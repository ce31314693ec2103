/*
 * pca.h: principal component analysis for plotting embeddings: projects n
 * points of d dimensions onto their top k principal components by power
 * iteration with deflation on the implicit covariance (X^T X is never
 * formed, so d may be large: each iteration costs O(n d k)).
 */
#ifndef SP_PCA_H
#define SP_PCA_H

#include "util/sp_common.h"

#define SP_PCA_MAX_K 3

/*
 * x: n x d row-major points.  out: n x k projections (centred) on the top k
 * components, k <= min(d, SP_PCA_MAX_K), in double: everything is computed in
 * double precision, so any finite float input gives finite results (a
 * projection can exceed FLT_MAX: (3e38, 3e38, 3e38) projects to 5.2e38).
 * explained (optional, k entries): fraction of the total variance each
 * component carries.  A component whose variance is below 1e-12 of the first
 * one's (collinear points, rounding noise) carries none: its explained
 * fraction and its projections are exactly 0, and its direction is still a
 * unit vector orthogonal to the earlier components.  Component signs are
 * fixed (largest-magnitude loading positive) so results are deterministic.
 * components (optional): k x d, orthonormal.
 */
extern sp_status sp_pca_project(const sp_env *env, const float *x, int n, int d, int k,
								double *out, double *explained, double *components,
								sp_error *err);

#endif							/* SP_PCA_H */

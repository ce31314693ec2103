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
 * components, k <= min(d, SP_PCA_MAX_K).  explained (optional, k entries):
 * fraction of the total variance each component carries (0 when the data
 * has none).  Component signs are fixed (largest-magnitude loading
 * positive) so results are deterministic.  components (optional): k x d.
 */
extern sp_status sp_pca_project(const sp_env *env, const float *x, int n, int d, int k,
								float *out, double *explained, double *components,
								sp_error *err);

#endif							/* SP_PCA_H */

/*
 * plasma.h: the diamond-square plasma fractal of the ImageNet-C reference's
 * plasma_fractal(), the cloud layer of fog and the haze of frost's
 * procedural ice texture (corrupt_weather.c), and the power-of-two map size
 * it needs.
 */
#ifndef SP_PLASMA_H
#define SP_PLASMA_H

#include "util/rng.h"
#include "util/sp_common.h"

/*
 * plasma_fractal of the reference: diamond-square on a torus of mw x mh
 * (powers of two; the reference's maps are square), wibble 100 divided by
 * decay per level, min-max normalised to [0, 1].  A rectangle starts from
 * zero at every corner of its coarsest square grid, as the square map
 * starts from the single corner (0, 0) = 0.  out has mw*mh doubles,
 * row-major with row length mw.
 */
extern sp_status sp_plasma_fractal(const sp_env *env, sp_rng *rng, int mw, int mh,
								   double decay, double *out, sp_error *err);

/* Smallest power of two >= n (n >= 1). */
extern int	sp_next_pow2(int n);

#endif							/* SP_PLASMA_H */

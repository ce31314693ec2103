/*
 * plasma.c: the reference's diamond-square plasma fractal (see plasma.h).
 */
#include "robust/plasma.h"

int
sp_next_pow2(int n)
{
	int			p = 1;

	while (p < n && p < (1 << 30))
		p <<= 1;
	return p;
}

sp_status
sp_plasma_fractal(const sp_env *env, sp_rng *rng, int mw, int mh, double decay, double *m,
				  sp_error *err)
{
	int			step = mw < mh ? mw : mh;
	double		wibble = 100.0,
				mn,
				mx;
	size_t		total = (size_t) mw * mh;

	if (mw < 2 || mh < 2 || (mw & (mw - 1)) != 0 || (mh & (mh - 1)) != 0)
		return sp_set_error(err, SP_ERR_INVALID_ARG, "plasma map size %dx%d is not a power of two",
							mw, mh);
	/* the reference's single corner (0,0) = 0; a rectangle has several */
	for (int i = 0; i < mh; i += step)
		for (int j = 0; j < mw; j += step)
			m[(size_t) i * mw + j] = 0.0;
#define M(i, j) m[(size_t) (i) * mw + (j)]
	while (step >= 2)
	{
		int			ni = mh / step,
					nj = mw / step,
					hs = step / 2;

		if (sp_env_interrupted(env))
			return sp_set_error(err, SP_ERR_INTERRUPTED, "corruption interrupted");
		/* squares: centre = mean of the 4 corners + wibble */
		for (int i = 0; i < ni; i++)
			for (int j = 0; j < nj; j++)
			{
				int			i1 = (i + 1) % ni,
							j1 = (j + 1) % nj;
				double		s = M(i * step, j * step) + M(i1 * step, j * step) +
					M(i * step, j1 * step) + M(i1 * step, j1 * step);

				M(hs + i * step, hs + j * step) =
					s / 4.0 + wibble * sp_rng_uniform_range(rng, -wibble, wibble);
			}
		/* diamonds on the top edges: corners left/right, centres below/above */
		for (int i = 0; i < ni; i++)
			for (int j = 0; j < nj; j++)
			{
				int			im = (i + ni - 1) % ni,
							j1 = (j + 1) % nj;
				double		s = M(hs + i * step, hs + j * step) + M(hs + im * step, hs + j * step) +
					M(i * step, j * step) + M(i * step, j1 * step);

				M(i * step, hs + j * step) =
					s / 4.0 + wibble * sp_rng_uniform_range(rng, -wibble, wibble);
			}
		/* diamonds on the left edges: centres right/left, corners above/below */
		for (int i = 0; i < ni; i++)
			for (int j = 0; j < nj; j++)
			{
				int			jm = (j + nj - 1) % nj,
							i1 = (i + 1) % ni;
				double		s = M(hs + i * step, hs + j * step) + M(hs + i * step, hs + jm * step) +
					M(i * step, j * step) + M(i1 * step, j * step);

				M(hs + i * step, j * step) =
					s / 4.0 + wibble * sp_rng_uniform_range(rng, -wibble, wibble);
			}
		step /= 2;
		wibble /= decay;
	}
#undef M
	mn = mx = m[0];
	for (size_t i = 1; i < total; i++)
	{
		mn = m[i] < mn ? m[i] : mn;
		mx = m[i] > mx ? m[i] : mx;
	}
	for (size_t i = 0; i < total; i++)
		m[i] = mx > mn ? (m[i] - mn) / (mx - mn) : 0.0;
	return SP_OK;
}

/*
 * axis.c: plot axis ranges and tick labels (axis.h).
 */
#include "draw/axis.h"

#include <math.h>
#include <stdio.h>

void
sp_axis_range(const double *v, size_t n, size_t stride, double *lo, double *hi)
{
	double		mn = INFINITY,
				mx = -INFINITY,
				pad;

	for (size_t i = 0; i < n; i++)
	{
		double		x = v[i * stride];

		if (!isfinite(x))
			continue;
		mn = fmin(mn, x);
		mx = fmax(mx, x);
	}
	if (!(mn <= mx))
	{
		*lo = -1;
		*hi = 1;
		return;
	}
	if (!(mx > mn))
	{
		/* 1 is below the spacing of doubles beyond 2^53: widen relative to the value */
		double		half = fmax(1.0, 0.05 * fabs(mn));

		mn -= half;
		mx += half;
	}
	pad = (mx - mn) * 0.05;		/* finite: |values| < DBL_MAX / 4 for any float data */
	*lo = mn - pad;
	*hi = mx + pad;
}

void
sp_axis_tick_label(char *buf, size_t cap, double lo, double hi, int i, int nticks)
{
	/* lo + (hi - lo) i / n, written to stay finite when hi - lo is large */
	double		t = nticks > 0 ? (double) i / nticks : 0.0;
	double		v = lo * (1 - t) + hi * t;

	/* a value within rounding of zero prints as 0, not 1e-22 */
	if (fabs(v) < 1e-12 * fmax(fabs(lo), fabs(hi)))
		v = 0;
	snprintf(buf, cap, "%.3g", v);
}

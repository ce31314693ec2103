/*
 * axis.h: the value range and tick labels of a plot axis (embedding_plot),
 * in double precision so that any finite data, up to and beyond FLT_MAX,
 * gives a finite range and readable ticks.
 */
#ifndef SP_AXIS_H
#define SP_AXIS_H

#include <stddef.h>

/*
 * [lo, hi] covering the finite values v[0], v[stride], ... v[(n - 1) stride]
 * with 5 % padding on each side.  A single value c is widened to
 * c -+ max(1, 5 % of |c|) (so the range is never empty, even at 3e38); no
 * finite value gives [-1, 1].  Non-finite values are ignored.
 */
extern void sp_axis_range(const double *v, size_t n, size_t stride, double *lo, double *hi);

/* The label of tick i of ticks 0..nticks over [lo, hi] ("%.3g"), into buf. */
extern void sp_axis_tick_label(char *buf, size_t cap, double lo, double hi, int i, int nticks);

#endif							/* SP_AXIS_H */

/*
 * color.c: skimage's HSV conversions (see color.h).
 */
#include "image/color.h"

#include <math.h>

void
sp_rgb_to_hsv(double r, double g, double b, double *h, double *s, double *v)
{
	double		mx = r > g ? r : g,
				mn = r < g ? r : g,
				delta,
				hh = 0.0;

	mx = mx > b ? mx : b;
	mn = mn < b ? mn : b;
	delta = mx - mn;
	*v = mx;
	*s = delta == 0.0 ? 0.0 : delta / mx;
	if (delta == 0.0)
	{
		*h = 0.0;
		return;
	}
	/* skimage assigns red, then green, then blue: the last match wins */
	if (b == mx)
		hh = 4.0 + (r - g) / delta;
	else if (g == mx)
		hh = 2.0 + (b - r) / delta;
	else
		hh = (g - b) / delta;
	hh /= 6.0;
	hh = fmod(hh, 1.0);
	if (hh < 0.0)
		hh += 1.0;				/* numpy % takes the sign of the divisor */
	if (hh >= 1.0)
		hh = 0.0;
	*h = hh;
}

void
sp_hsv_to_rgb(double h, double s, double v, double *r, double *g, double *b)
{
	double		hi = floor(h * 6.0);
	double		f = h * 6.0 - hi;
	double		p = v * (1.0 - s);
	double		q = v * (1.0 - f * s);
	double		t = v * (1.0 - (1.0 - f) * s);
	int			sel = ((int) hi % 6 + 6) % 6;

	switch (sel)
	{
		case 0:
			*r = v, *g = t, *b = p;
			break;
		case 1:
			*r = q, *g = v, *b = p;
			break;
		case 2:
			*r = p, *g = v, *b = t;
			break;
		case 3:
			*r = p, *g = q, *b = v;
			break;
		case 4:
			*r = t, *g = p, *b = v;
			break;
		default:
			*r = v, *g = p, *b = q;
			break;
	}
}

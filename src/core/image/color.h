/*
 * color.h: colour-space conversions of one pixel, reproducing
 * skimage.color's rgb2hsv and hsv2rgb (the brightness and saturate
 * corruptions edit V and S in HSV, as the reference does).
 */
#ifndef SP_COLOR_H
#define SP_COLOR_H

/* skimage.color rgb2hsv / hsv2rgb for one pixel (values in [0, 1]). */
extern void sp_rgb_to_hsv(double r, double g, double b, double *h, double *s, double *v);
extern void sp_hsv_to_rgb(double h, double s, double v, double *r, double *g, double *b);

#endif							/* SP_COLOR_H */

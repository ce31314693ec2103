/*
 * preprocess.h: turn an sp_image of any size and channel count into a
 * model's input tensor (C x H x W floats, NCHW order for one image).
 *
 * Steps, all fused into one pass without temporary images:
 *   1. channels: RGB -> gray by luma 0.299 R + 0.587 G + 0.114 B (in float,
 *      no rounding); gray -> RGB by replication.
 *   2. fit: "stretch" maps the whole image onto H x W; "center_crop" first
 *      takes the largest centred region with the target aspect ratio.
 *   3. resize: "bilinear" samples with half-pixel centres (like PyTorch
 *      align_corners=False / OpenCV INTER_LINEAR, no antialiasing: use
 *      "area" for strong downscaling); "area" averages the exact source box
 *      covered by each output pixel, with fractional edge weights (OpenCV
 *      INTER_AREA for downscaling).  Same size in and out is the identity
 *      for both.
 *   4. normalise: (value / scale - mean[c]) / std[c].
 */
#ifndef SP_PREPROCESS_H
#define SP_PREPROCESS_H

#include "image/image.h"

typedef enum sp_resize_method
{
	SP_RESIZE_BILINEAR = 0,
	SP_RESIZE_AREA
} sp_resize_method;

typedef enum sp_fit_mode
{
	SP_FIT_STRETCH = 0,
	SP_FIT_CENTER_CROP
} sp_fit_mode;

typedef struct sp_preprocess_spec
{
	int			channels;		/* 1 or 3 */
	int			height;
	int			width;
	sp_resize_method resize;
	sp_fit_mode fit;
	float		mean[3];		/* per channel (a single value is replicated) */
	float		std[3];			/* per channel, > 0 */
	float		scale;			/* pixel values are divided by this first (255) */
} sp_preprocess_spec;

/* Identity-ish defaults: 1x28x28, bilinear, stretch, mean 0, std 1, scale 255. */
extern void sp_preprocess_spec_default(sp_preprocess_spec *spec);

extern const char *sp_resize_method_name(sp_resize_method m);
extern const char *sp_fit_mode_name(sp_fit_mode m);

/*
 * Preprocess one image into out (spec->channels * height * width floats).
 * No allocation.  Errors: SP_ERR_INVALID_ARG for a bad spec or image.
 */
extern sp_status sp_preprocess_image(const sp_preprocess_spec *spec, const sp_image *img,
									 float *out, sp_error *err);

#endif							/* SP_PREPROCESS_H */

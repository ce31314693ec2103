/*
 * preprocess.h: turn an sp_image of any size and channel count into a
 * model's input tensor (C x H x W floats, NCHW order for one image).
 *
 * Steps ("bilinear" and "area" fuse them into one pass without temporary
 * images):
 *   1. channels: RGB -> gray by luma 0.299 R + 0.587 G + 0.114 B (in float,
 *      no rounding); gray -> RGB by replication.  "pil_bilinear" converts
 *      RGB -> gray as PIL's convert("L") does, before resizing: (19595 R +
 *      38470 G + 7471 B + 0x8000) >> 16.
 *   2. fit: "stretch" maps the whole image onto H x W; "center_crop" first
 *      takes the largest centred region with the target aspect ratio;
 *      "resize_shorter_then_center_crop" is torchvision's Resize(int) +
 *      CenterCrop((H, W)): the shorter side is scaled to resize_shorter, the
 *      longer to int(resize_shorter * long / short), then the H x W centre
 *      is cut out at offsets int(round((size - target) / 2.0)) (Python
 *      rounds halves to even); a target larger than the resized image pads
 *      with zeros, (target - size) // 2 before, as torchvision does.
 *   3. resize: "bilinear" samples with half-pixel centres (like PyTorch
 *      align_corners=False / OpenCV INTER_LINEAR, no antialiasing: use
 *      "area" for strong downscaling); "area" averages the exact source box
 *      covered by each output pixel, with fractional edge weights (OpenCV
 *      INTER_AREA for downscaling); "pil_bilinear" is PIL's
 *      Image.resize(size, Image.BILINEAR) bit for bit (antialiased when
 *      downscaling, uint8 after each pass: resample.h), which is what
 *      torchvision's Resize does to PIL images.  With "center_crop" it is
 *      Image.resize(size, BILINEAR, box=crop region).  Same size in and out
 *      is the identity for all three.
 *   4. normalise: (value / scale - mean[c]) / std[c]; "bilinear" and "area"
 *      multiply by the float reciprocals of scale and std, "pil_bilinear"
 *      divides in float32 as torchvision's ToTensor + Normalize do, so the
 *      whole torchvision eval transform is reproduced exactly.
 */
#ifndef SP_PREPROCESS_H
#define SP_PREPROCESS_H

#include "image/image.h"

typedef enum sp_resize_method
{
	SP_RESIZE_BILINEAR = 0,
	SP_RESIZE_AREA,
	SP_RESIZE_PIL_BILINEAR
} sp_resize_method;

typedef enum sp_fit_mode
{
	SP_FIT_STRETCH = 0,
	SP_FIT_CENTER_CROP,
	SP_FIT_SHORTER_CENTER_CROP	/* "resize_shorter_then_center_crop" */
} sp_fit_mode;

/* Largest model input side and resize_shorter the preprocessor accepts. */
#define SP_PREPROCESS_MAX_SIDE 4096

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
	int			resize_shorter; /* SP_FIT_SHORTER_CENTER_CROP: shorter side after
								 * resizing (torchvision Resize(int)); 0 otherwise */
} sp_preprocess_spec;

/* Identity-ish defaults: 1x28x28, bilinear, stretch, mean 0, std 1, scale 255, resize_shorter 0. */
extern void sp_preprocess_spec_default(sp_preprocess_spec *spec);

extern const char *sp_resize_method_name(sp_resize_method m);
extern const char *sp_fit_mode_name(sp_fit_mode m);
/* Name -> value; return 0 for an unknown name (out untouched). */
extern int	sp_resize_method_parse(const char *name, sp_resize_method *out);
extern int	sp_fit_mode_parse(const char *name, sp_fit_mode *out);

/*
 * Check a spec (channels, sizes, scale, mean/std, methods, resize_shorter:
 * 1..SP_PREPROCESS_MAX_SIDE with SP_FIT_SHORTER_CENTER_CROP, 0 otherwise).
 * SP_ERR_INVALID_ARG with a message naming the field.
 */
extern sp_status sp_preprocess_spec_check(const sp_preprocess_spec *spec, sp_error *err);

/*
 * torchvision Resize(shorter) + CenterCrop((th, tw)) geometry for an iw x ih
 * image: the resized size *rw x *rh and the crop's top-left corner (*ox,
 * *oy) in it (negative when the crop is larger: zero padding).
 */
extern void sp_preprocess_shorter_geometry(int iw, int ih, int shorter, int tw, int th,
										   int *rw, int *rh, int *ox, int *oy);

/*
 * Preprocess one image into out (spec->channels * height * width floats).
 * "bilinear" and "area" allocate nothing; "pil_bilinear" allocates scratch
 * (coefficients, a few rows, the cropped uint8 window) from env (NULL: the
 * default malloc env) and frees it before returning.  Errors:
 * SP_ERR_INVALID_ARG for a bad spec or image, SP_ERR_NOMEM,
 * SP_ERR_INTERRUPTED.
 */
extern sp_status sp_preprocess_image_env(const sp_env *env, const sp_preprocess_spec *spec,
										 const sp_image *img, float *out, sp_error *err);
/* The same with the default env. */
extern sp_status sp_preprocess_image(const sp_preprocess_spec *spec, const sp_image *img,
									 float *out, sp_error *err);

#endif							/* SP_PREPROCESS_H */

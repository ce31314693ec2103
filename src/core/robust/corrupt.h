/*
 * corrupt.h: the 19 ImageNet-C corruptions (15 benchmark + 4 held-out),
 * seeded and reproducible.
 *
 * sp_corrupt() applies one corruption at severity 1..5 (0 = identity copy)
 * with the parameters of one of the three reference profiles (CIFAR-10-C
 * 32 px, Tiny-ImageNet-C 64 px, ImageNet-C 224 px; AUTO picks by the shorter
 * side).  The output has the input's size and channel count; a gray input is
 * processed as RGB with three equal channels and converted back to luma.
 * Same image, corruption, severity, profile and seed -> same bytes.
 * docs/robustness-corruptions.md describes every algorithm and deviation.
 */
#ifndef SP_CORRUPT_H
#define SP_CORRUPT_H

#include "image/image.h"

typedef enum sp_corrupt_profile
{
	SP_PROFILE_AUTO = 0,
	SP_PROFILE_CIFAR,
	SP_PROFILE_TINY,
	SP_PROFILE_IMAGENET
} sp_corrupt_profile;

typedef enum sp_corrupt_category
{
	SP_CAT_NOISE = 0,
	SP_CAT_BLUR,
	SP_CAT_WEATHER,
	SP_CAT_DIGITAL
} sp_corrupt_category;

/* Registry order: the 15 benchmark corruptions, then the 4 held-out ones. */
typedef enum sp_corruption_id
{
	SP_C_GAUSSIAN_NOISE = 0,
	SP_C_SHOT_NOISE,
	SP_C_IMPULSE_NOISE,
	SP_C_DEFOCUS_BLUR,
	SP_C_GLASS_BLUR,
	SP_C_MOTION_BLUR,
	SP_C_ZOOM_BLUR,
	SP_C_SNOW,
	SP_C_FROST,
	SP_C_FOG,
	SP_C_BRIGHTNESS,
	SP_C_CONTRAST,
	SP_C_ELASTIC_TRANSFORM,
	SP_C_PIXELATE,
	SP_C_JPEG_COMPRESSION,
	SP_C_SPECKLE_NOISE,
	SP_C_GAUSSIAN_BLUR,
	SP_C_SPATTER,
	SP_C_SATURATE,
	SP_C_COUNT
} sp_corruption_id;

typedef struct sp_corruption_info
{
	const char *name;
	sp_corruption_id id;
	sp_corrupt_category category;
	int			benchmark;		/* 1: one of the 15 ImageNet-C benchmark corruptions */
	const char *description;
} sp_corruption_info;

#define SP_CORRUPT_MAX_SEVERITY 5

extern int	sp_corruption_count(void);
/* Entry i (0 <= i < count) in registry order, or NULL. */
extern const sp_corruption_info *sp_corruption_get(int i);
/* By exact (case-sensitive) name, or NULL. */
extern const sp_corruption_info *sp_corruption_lookup(const char *name);
extern const char *sp_corrupt_category_name(sp_corrupt_category cat);

extern const char *sp_corrupt_profile_name(sp_corrupt_profile profile);
/* "auto", "cifar", "tiny", "imagenet" (case-insensitive). */
extern sp_status sp_corrupt_profile_parse(const char *name, sp_corrupt_profile *profile,
										  sp_error *err);
/* AUTO -> CIFAR if the shorter side <= 48, TINY if <= 144, else IMAGENET. */
extern sp_corrupt_profile sp_corrupt_profile_resolve(sp_corrupt_profile profile, int width,
													 int height);

/*
 * Apply a corruption.  out is allocated with env (caller frees with
 * sp_image_free) and left empty on error.  Errors: SP_ERR_INVALID_ARG for an
 * unknown name (the detail lists the valid ones), a severity outside 0..5 or
 * an invalid profile or image; SP_ERR_NOMEM; SP_ERR_INTERRUPTED.
 */
extern sp_status sp_corrupt(const sp_env *env, const sp_image *in, const char *name,
							int severity, uint64_t seed, sp_corrupt_profile profile,
							sp_image *out, sp_error *err);
extern sp_status sp_corrupt_by_id(const sp_env *env, const sp_image *in, sp_corruption_id id,
								  int severity, uint64_t seed, sp_corrupt_profile profile,
								  sp_image *out, sp_error *err);

#endif							/* SP_CORRUPT_H */

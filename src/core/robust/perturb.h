/*
 * perturb.h: the ImageNet-P perturbation sequences (10 test + 4 validation),
 * seeded and reproducible, frame by frame.
 *
 * A sequence is a list of frames of the input's size and channel count.
 * Noise sequences (gaussian_noise, shot_noise, speckle_noise): frame 0 is the
 * clean image, every later frame an independent noise draw around it, with
 * the noise level chosen by difficulty 1..3.  Temporal sequences change one
 * parameter smoothly with the frame index (angle, shift, zoom, ...); the
 * difficulty does not change their frames (the reference uses it to compare
 * frames j and j+d).  Frame counts and per-frame parameters follow the three
 * reference profiles (CIFAR-P 32 px, Tiny-ImageNet-P 64 px, ImageNet-P
 * 224 px; AUTO picks by the shorter side as for corruptions).
 * docs/robustness-perturbations.md describes every sequence and deviation.
 *
 * Streaming: sp_perturb_begin() does the per-sequence work once (the fixed
 * snow or liquid layer, the clean planes), sp_perturb_seq_frame() produces
 * one frame (fastest in increasing frame order: zoom_blur's running mean and
 * spatter's dripping layer advance incrementally), sp_perturb_end() frees.
 */
#ifndef SP_PERTURB_H
#define SP_PERTURB_H

#include "robust/corrupt.h"

/* Registry order: the 10 test perturbations, then the 4 validation ones. */
typedef enum sp_perturbation_id
{
	SP_P_GAUSSIAN_NOISE = 0,
	SP_P_SHOT_NOISE,
	SP_P_MOTION_BLUR,
	SP_P_ZOOM_BLUR,
	SP_P_SNOW,
	SP_P_BRIGHTNESS,
	SP_P_TRANSLATE,
	SP_P_ROTATE,
	SP_P_TILT,
	SP_P_SCALE,
	SP_P_SPECKLE_NOISE,
	SP_P_GAUSSIAN_BLUR,
	SP_P_SPATTER,
	SP_P_SHEAR,
	SP_P_COUNT
} sp_perturbation_id;

typedef struct sp_perturbation_info
{
	const char *name;
	sp_perturbation_id id;
	int			validation;		/* 0: test perturbation, 1: validation */
	int			noise;			/* 1: independent noise draws around the clean frame */
	int			frames[3];		/* frame count for CIFAR, TINY, IMAGENET */
	const char *description;
} sp_perturbation_info;

#define SP_PERTURB_MAX_DIFFICULTY 3

extern int	sp_perturbation_count(void);
/* Entry i (0 <= i < count) in registry order, or NULL. */
extern const sp_perturbation_info *sp_perturbation_get(int i);
/* By exact (case-sensitive) name, or NULL. */
extern const sp_perturbation_info *sp_perturbation_lookup(const char *name);
/* Frame count for a resolved profile (CIFAR, TINY or IMAGENET); 0 otherwise. */
extern int	sp_perturbation_frames(const sp_perturbation_info *info, sp_corrupt_profile profile);

typedef struct sp_perturb_seq sp_perturb_seq;

/*
 * Prepare a sequence.  The input is copied (the caller may free it).
 * Errors: SP_ERR_INVALID_ARG for an unknown name (the detail lists the valid
 * ones), a difficulty outside 1..3, an invalid profile or image; SP_ERR_NOMEM;
 * SP_ERR_INTERRUPTED.  *seq is NULL on error.
 */
extern sp_status sp_perturb_begin(const sp_env *env, const sp_image *in, const char *name,
								  uint64_t seed, sp_corrupt_profile profile, int difficulty,
								  sp_perturb_seq **seq, sp_error *err);
/* Number of frames of the prepared sequence. */
extern int	sp_perturb_seq_length(const sp_perturb_seq *seq);
/*
 * Frame 0 <= frame < length (SP_ERR_INVALID_ARG otherwise, the detail gives
 * the range).  out is allocated with the sequence's env (sp_image_free).
 * The same frame always has the same bytes, in whatever order frames are
 * requested.
 */
extern sp_status sp_perturb_seq_frame(sp_perturb_seq *seq, int frame, sp_image *out,
									  sp_error *err);
extern void sp_perturb_end(sp_perturb_seq *seq);

/* One frame without keeping a sequence: begin + frame + end. */
extern sp_status sp_perturb_frame(const sp_env *env, const sp_image *in, const char *name,
								  int frame, uint64_t seed, sp_corrupt_profile profile,
								  int difficulty, sp_image *out, sp_error *err);

/*
 * All frames: *frames is an env-allocated array of *nframes images; free
 * with sp_perturb_free_frames().  Nothing is allocated on error.
 */
extern sp_status sp_perturb_sequence(const sp_env *env, const sp_image *in, const char *name,
									 uint64_t seed, sp_corrupt_profile profile, int difficulty,
									 sp_image **frames, int *nframes, sp_error *err);
extern void sp_perturb_free_frames(const sp_env *env, sp_image *frames, int nframes);

#endif							/* SP_PERTURB_H */

/*
 * img_fixtures.h: helpers for the image codec unit tests: a counting /
 * interruptible sp_env, a seeded RNG, and PNG / JPEG writers that drive
 * libpng and libjpeg directly so every colour type, bit depth and colour
 * space can be produced (our own encoders only write 8-bit gray/RGB), and a
 * pixel counter for the canvas and chart tests.
 */
#ifndef SP_IMG_FIXTURES_H
#define SP_IMG_FIXTURES_H

#include <stddef.h>
#include <stdint.h>

#include "draw/canvas.h"
#include "image/image.h"

/* An env that counts live allocations and can report an interrupt. */
typedef struct fx_env
{
	sp_env		env;
	long		live;			/* allocations not yet freed */
	long		allocs;
	size_t		largest;		/* biggest single request */
	long		polls;			/* calls to interrupted() */
	long		interrupt_after;	/* interrupted() returns 1 once polls > this; <0 never */
	long		fail_alloc_after;	/* alloc returns NULL after this many; <0 never */
} fx_env;

extern void fx_env_init(fx_env *fx, uint64_t max_pixels);

/* xorshift64* seeded RNG. */
extern uint64_t fx_rand(uint64_t *state);

/*
 * Write a PNG with libpng.  samples holds width*height*channels unpacked
 * sample values (channels as the colour type stores them; palette indices
 * for palette images).  palette: n_palette RGB triples; trns: n_trns alpha
 * values for palette images; trns_color: the transparent gray value (gray) or
 * RGB triple (rgb) when has_trns_color.  Returns malloc'd bytes.
 */
typedef struct fx_png_spec
{
	int			width;
	int			height;
	int			color_type;		/* PNG_COLOR_TYPE_* */
	int			bit_depth;
	int			interlace;		/* 0 or 1 (Adam7) */
	const uint16_t *samples;
	const uint8_t *palette;
	int			n_palette;
	const uint8_t *trns;
	int			n_trns;
	int			has_trns_color;
	uint16_t	trns_color[3];
	int			compression;	/* zlib level, -1 default */
} fx_png_spec;

extern uint8_t *fx_png_write(const fx_png_spec *spec, size_t *len);

/*
 * Write a 4-component JPEG from interleaved CMYK bytes with libjpeg.
 * jpeg_space is JCS_CMYK or JCS_YCCK; adobe says whether to write the Adobe
 * APP14 marker (libjpeg then treats the data as Adobe-inverted).
 */
extern uint8_t *fx_jpeg_write_cmyk(int width, int height, const uint8_t *cmyk,
								   int jpeg_space, int adobe, int quality, size_t *len);

/*
 * Write a progressive gray JPEG with a scan script of more than
 * SP_JPEG_MAX_SCANS scans (each AC coefficient refined bit by bit).
 * Returns the scan count in *n_scans.
 */
extern uint8_t *fx_jpeg_write_many_scans(int width, int height, size_t *len, int *n_scans);

/* A smooth natural-looking pattern plus seeded noise (1 or 3 channels). */
extern void fx_fill_pattern(sp_image *img, uint64_t seed, int noise);

/* Mean absolute difference of two same-shaped images. */
extern double fx_mean_abs_diff(const sp_image *a, const sp_image *b);

/* Pixels of an RGB image equal to colour col (canvas / chart tests). */
extern int	fx_count_rgb(const sp_image *img, sp_rgb col);

#endif							/* SP_IMG_FIXTURES_H */

/*
 * bench_util.h: timing helpers shared by the benchmark programs.  Benchmarks
 * print figures; they never pass or fail on time.
 */
#ifndef SP_BENCH_UTIL_H
#define SP_BENCH_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "image/image.h"

static inline double
bench_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

/* CPU seconds of this thread: what it got of a shared, loaded machine. */
static inline double
bench_thread_cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double) ts.tv_sec + (double) ts.tv_nsec * 1e-9;
}

/*
 * Run body repeatedly until at least min_seconds have passed; returns the
 * seconds per iteration.  Use as:
 *   double t = BENCH_LOOP(0.5, { work(); });
 */
#define BENCH_LOOP(min_seconds, body) __extension__ ({ \
	long bench_iters__ = 0; double bench_t0__ = bench_now(), bench_el__; \
	do { body; bench_iters__++; bench_el__ = bench_now() - bench_t0__; } \
	while (bench_el__ < (min_seconds)); \
	bench_el__ / (double) bench_iters__; })

/* Keep the optimiser from deleting a computed value. */
static inline void
bench_consume(const void *p)
{
	__asm__ __volatile__("" : : "r"(p) : "memory");
}

/*
 * A w x h RGB test image (malloc'd pixels, free with free()): smooth
 * per-channel waves plus a small fixed pattern, so codecs and corruptions see
 * both gradients and texture.  The corruption and perturbation benchmarks
 * share it so their figures are measured on the same input.
 */
static inline void
bench_make_rgb(sp_image *img, int w, int h)
{
	img->width = w;
	img->height = h;
	img->channels = 3;
	img->pixels = malloc((size_t) w * h * 3);
	for (int y = 0; y < h; y++)
		for (int x = 0; x < w; x++)
			for (int k = 0; k < 3; k++)
			{
				double		v = 128 + 60 * sin(0.05 * x * (k + 1) + 0.07 * y) +
					((x * 7 + y * 13 + k * 5) % 17) - 8;

				img->pixels[((size_t) y * w + x) * 3 + k] = (uint8_t) (v < 0 ? 0 : v > 255 ? 255 : v);
			}
}

/*
 * The shipped `fashion` CNN's architecture (models/fashion.json without batch
 * norm), for benchmarks that need the real network shape with random weights.
 */
static const char bench_fashion_cnn_config[] =
"{\"name\":\"bench_cnn\",\"format_version\":1,"
"\"input\":{\"channels\":1,\"height\":28,\"width\":28,\"mean\":[0.2860],\"std\":[0.3530]},"
"\"layers\":["
"{\"type\":\"conv2d\",\"name\":\"conv1\",\"in\":1,\"out\":32,\"kernel\":3,\"padding\":1},{\"type\":\"relu\"},"
"{\"type\":\"conv2d\",\"name\":\"conv2\",\"in\":32,\"out\":32,\"kernel\":3,\"padding\":1},{\"type\":\"relu\"},"
"{\"type\":\"maxpool\",\"kernel\":2},"
"{\"type\":\"conv2d\",\"name\":\"conv3\",\"in\":32,\"out\":64,\"kernel\":3,\"padding\":1},{\"type\":\"relu\"},"
"{\"type\":\"conv2d\",\"name\":\"conv4\",\"in\":64,\"out\":64,\"kernel\":3,\"padding\":1},{\"type\":\"relu\"},"
"{\"type\":\"maxpool\",\"kernel\":2},{\"type\":\"flatten\"},"
"{\"type\":\"linear\",\"name\":\"fc\",\"in\":3136,\"out\":128},{\"type\":\"l2norm\"}],"
"\"embedding_dim\":128,\"distance\":\"cosine\"}";

#endif							/* SP_BENCH_UTIL_H */

/*
 * bench_corrupt.c: speed of every corruption at 32x32 and 224x224 RGB,
 * severity 3, one thread, auto profile (CIFAR at 32, ImageNet at 224).
 * Prints images/s and ms/image (best of 5 runs) per corruption and the total for all 19 at
 * 224x224; then corrupt() end to end at 224 px (PNG decode + corrupt + PNG
 * encode) with the compact and the fast PNG settings, and the decode of each
 * output.
 */
#include "bench_util.h"
#include "robust/corrupt.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int
main(void)
{
	const sp_env *env = sp_env_default();
	sp_image	small,
				big;
	sp_error	err;
	double		total224 = 0.0,
				total32 = 0.0;

	bench_make_rgb(&small, 32, 32);
	bench_make_rgb(&big, 224, 224);
	printf("corruptions, severity 3, one thread (auto profile: cifar at 32 px, imagenet at 224 px)\n");
	printf("%-18s %12s %10s %12s %10s\n", "corruption", "32px img/s", "32px ms", "224px img/s", "224px ms");
	for (int i = 0; i < sp_corruption_count(); i++)
	{
		const char *name = sp_corruption_get(i)->name;
		uint64_t	seed = 0;
		double		t32,
					t224;
		int			ok = 1;

		/* best of 5 short runs: robust against other load on the machine */
		t32 = t224 = 1e9;
		for (int rep = 0; rep < 5; rep++)
		{
			double		a = BENCH_LOOP(0.04, {
				sp_image o;
				if (sp_corrupt(env, &small, name, 3, seed++, SP_PROFILE_AUTO, &o, &err) != SP_OK)
					ok = 0;
				bench_consume(o.pixels);
				sp_image_free(env, &o);
			});
			double		b = BENCH_LOOP(0.08, {
				sp_image o;
				if (sp_corrupt(env, &big, name, 3, seed++, SP_PROFILE_AUTO, &o, &err) != SP_OK)
					ok = 0;
				bench_consume(o.pixels);
				sp_image_free(env, &o);
			});

			t32 = a < t32 ? a : t32;
			t224 = b < t224 ? b : t224;
		}
		if (!ok)
			printf("%-18s FAILED: %s\n", name, err.message);
		total32 += t32;
		total224 += t224;
		printf("%-18s %12.0f %10.3f %12.1f %10.3f\n", name, 1.0 / t32, t32 * 1e3, 1.0 / t224, t224 * 1e3);
	}
	printf("%-18s %12s %10.3f %12s %10.3f\n", "total (all 19)", "", total32 * 1e3, "", total224 * 1e3);

	/*
	 * corrupt() as the SQL function runs it at 224 px: decode the input PNG,
	 * corrupt, encode the output PNG.  "compact" is the encoder every PNG
	 * used before (adaptive filters, zlib level 6), "fast" the one corrupt()
	 * and perturbation_frames() use now (Up filter, Z_RLE).  The decode
	 * column is the next consumer (embed) reading the output file back.
	 */
	{
		uint8_t    *in_png;
		size_t		in_len;
		double		sum[2] = {0, 0},
					sum_dec[2] = {0, 0};
		size_t		bytes[2] = {0, 0};

		if (sp_png_encode(env, &big, &in_png, &in_len, &err) != SP_OK)
		{
			printf("encode failed: %s\n", err.message);
			return 1;
		}
		printf("\ncorrupt() at 224 px: decode input PNG + corrupt + encode output PNG, ms (best of 5)\n");
		printf("%-18s %9s %9s %9s %9s %9s %9s %9s\n", "corruption", "pixels", "compact", "fast",
			   "bytes c", "bytes f", "dec c", "dec f");
		for (int i = 0; i < sp_corruption_count(); i++)
		{
			const char *name = sp_corruption_get(i)->name;
			double		tp = 1e9,
						te[2] = {1e9, 1e9},
						td[2] = {1e9, 1e9};
			size_t		len[2] = {0, 0};

			for (int rep = 0; rep < 5; rep++)
			{
				double		a = BENCH_LOOP(0.05, {
					sp_image d;
					sp_image o;
					sp_image_decode(env, in_png, in_len, &d, &err);
					sp_corrupt(env, &d, name, 3, 7, SP_PROFILE_AUTO, &o, &err);
					bench_consume(o.pixels);
					sp_image_free(env, &d);
					sp_image_free(env, &o);
				});

				tp = a < tp ? a : tp;
				for (int m = 0; m < 2; m++)
				{
					sp_image	d,
								o,
								back;
					uint8_t    *png = NULL;
					double		b,
								c;

					b = BENCH_LOOP(0.05, {
						sp_image_decode(env, in_png, in_len, &d, &err);
						sp_corrupt(env, &d, name, 3, 7, SP_PROFILE_AUTO, &o, &err);
						sp_png_encode_mode(env, &o, m == 0 ? SP_PNG_COMPACT : SP_PNG_FAST, &png, &len[m], &err);
						bench_consume(png);
						sp_free(env, png);
						sp_image_free(env, &d);
						sp_image_free(env, &o);
					});
					te[m] = b < te[m] ? b : te[m];
					/* the output read back, as embed() does */
					sp_image_decode(env, in_png, in_len, &d, &err);
					sp_corrupt(env, &d, name, 3, 7, SP_PROFILE_AUTO, &o, &err);
					sp_png_encode_mode(env, &o, m == 0 ? SP_PNG_COMPACT : SP_PNG_FAST, &png, &len[m], &err);
					c = BENCH_LOOP(0.02, {
						sp_image_decode(env, png, len[m], &back, &err);
						bench_consume(back.pixels);
						sp_image_free(env, &back);
					});
					td[m] = c < td[m] ? c : td[m];
					sp_free(env, png);
					sp_image_free(env, &d);
					sp_image_free(env, &o);
				}
			}
			for (int m = 0; m < 2; m++)
			{
				sum[m] += te[m];
				sum_dec[m] += td[m];
				bytes[m] += len[m];
			}
			printf("%-18s %9.2f %9.2f %9.2f %9zu %9zu %9.2f %9.2f\n", name, tp * 1e3, te[0] * 1e3, te[1] * 1e3,
				   len[0], len[1], td[0] * 1e3, td[1] * 1e3);
		}
		printf("%-18s %9s %9.1f %9.1f %9zu %9zu %9.1f %9.1f\n", "total (all 19)", "", sum[0] * 1e3, sum[1] * 1e3,
			   bytes[0], bytes[1], sum_dec[0] * 1e3, sum_dec[1] * 1e3);
		sp_free(env, in_png);
	}
	free(small.pixels);
	free(big.pixels);
	return 0;
}

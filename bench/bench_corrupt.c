/*
 * bench_corrupt.c: speed of every corruption at 32x32 and 224x224 RGB,
 * severity 3, one thread, auto profile (CIFAR at 32, ImageNet at 224).
 * Prints images/s and ms/image (best of 5 runs) per corruption and the total for all 19 at
 * 224x224.
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
	free(small.pixels);
	free(big.pixels);
	return 0;
}

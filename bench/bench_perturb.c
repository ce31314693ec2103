/*
 * bench_perturb.c: speed of every ImageNet-P perturbation sequence at 32x32
 * and 224x224 RGB, one thread, auto profile (CIFAR-P at 32, ImageNet-P at
 * 224), difficulty 1.  A whole sequence is generated in frame order
 * (sp_perturb_sequence); the figure is frames/s (best of 3 runs), plus ms
 * per whole sequence.
 */
#include "bench_util.h"
#include "robust/perturb.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* seconds per whole sequence, best of 3 */
static double
time_sequence(const sp_env *env, const sp_image *img, const char *name, double min_s, int *nframes,
			  int *ok, sp_error *err)
{
	double		best = 1e9;
	uint64_t	seed = 0;

	for (int rep = 0; rep < 3; rep++)
	{
		double		t = BENCH_LOOP(min_s, {
			sp_image *fr = NULL;
			int n = 0;
			if (sp_perturb_sequence(env, img, name, seed++, SP_PROFILE_AUTO, 1, &fr, &n, err) != SP_OK)
				*ok = 0;
			else
				bench_consume(fr[n - 1].pixels);
			*nframes = n;
			sp_perturb_free_frames(env, fr, n);
		});

		best = t < best ? t : best;
	}
	return best;
}

int
main(void)
{
	const sp_env *env = sp_env_default();
	sp_image	small,
				big;
	sp_error	err;

	bench_make_rgb(&small, 32, 32);
	bench_make_rgb(&big, 224, 224);
	printf("perturbation sequences, difficulty 1, one thread (auto profile: cifar at 32 px, imagenet at 224 px)\n");
	printf("%-15s %7s %12s %10s %7s %12s %10s\n", "perturbation", "frames", "32px fr/s", "32px ms/seq",
		   "frames", "224px fr/s", "224px ms/seq");
	for (int i = 0; i < sp_perturbation_count(); i++)
	{
		const char *name = sp_perturbation_get(i)->name;
		int			ok = 1,
					n32 = 0,
					n224 = 0;
		double		t32 = time_sequence(env, &small, name, 0.05, &n32, &ok, &err);
		double		t224 = time_sequence(env, &big, name, 0.2, &n224, &ok, &err);

		if (!ok)
			printf("%-15s FAILED: %s\n", name, err.message);
		printf("%-15s %7d %12.0f %10.3f %7d %12.1f %10.2f\n", name, n32, n32 / t32, t32 * 1e3, n224,
			   n224 / t224, t224 * 1e3);
	}
	free(small.pixels);
	free(big.pixels);
	return 0;
}

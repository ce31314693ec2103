/*
 * fuzz_corrupt.c: libFuzzer harness for the corruption and perturbation
 * entry points, with any image and any parameters.  The first six bytes
 * choose width and height (1-48), channels (1 or 3), what to apply (a
 * corruption, or a perturbation frame), severity or difficulty and profile;
 * the next eight are the seed; the rest are the pixels (repeated to fill).
 * Out-of-range parameters are passed on as they are, one time in eight, to
 * check they are refused cleanly.  An output must have the input's size.
 */
#include <string.h>

#include "fuzz_env.h"
#include "image/image.h"
#include "robust/corrupt.h"
#include "robust/perturb.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sp_env		env = fuzz_env(48 * 48);
	sp_image	in,
				out = {0};
	sp_error	err;
	uint64_t	seed = 0;
	sp_status	st;
	int			wild;

	if (size < 15)
		return 0;
	in.width = 1 + data[0] % 48;
	in.height = 1 + data[1] % 48;
	in.channels = (data[2] & 1) ? 3 : 1;
	wild = (data[2] & 0xe) == 0;
	memcpy(&seed, data + 6, 8);
	in.pixels = malloc((size_t) in.width * in.height * in.channels);
	for (size_t i = 0, n = (size_t) in.width * in.height * in.channels; i < n; i++)
		in.pixels[i] = data[14 + i % (size - 14)];

	if (data[3] & 0x80)
	{
		int			p = data[3] & 0x7f;
		const sp_perturbation_info *info = sp_perturbation_get(wild ? p : p % sp_perturbation_count());
		int			difficulty = wild ? (int8_t) data[4] : 1 + data[4] % 3;

		st = info ? sp_perturb_frame(&env, &in, info->name, data[5] % 40, seed,
									 (sp_corrupt_profile) (data[5] >> 6), difficulty, &out, &err)
			: SP_ERR_INVALID_ARG;
	}
	else
	{
		int			c = wild ? data[3] : data[3] % sp_corruption_count();
		int			severity = wild ? (int8_t) data[4] : data[4] % 6;
		sp_corrupt_profile profile = (sp_corrupt_profile) (wild ? (int8_t) data[5] : data[5] % 4);

		st = sp_corrupt_by_id(&env, &in, (sp_corruption_id) c, severity, seed, profile, &out, &err);
	}
	if (st == SP_OK)
	{
		if (out.width != in.width || out.height != in.height || out.pixels == NULL)
			abort();
		sp_image_free(&env, &out);
	}
	else if (out.pixels != NULL)
		abort();
	free(in.pixels);
	fuzz_check_no_leak();
	return 0;
}

/*
 * fuzz_image_decode.c: libFuzzer harness for the image codecs.  Every input
 * goes through sp_image_probe and sp_image_decode with a small pixel limit
 * (so the fuzzer explores parsing, not huge allocations); a successful
 * decode is re-encoded as PNG and decoded again, which must reproduce the
 * pixels exactly; and the image goes through preprocessing, as embed() does,
 * with a spec chosen by the input's last byte (each resize method and fit
 * mode, 1 or 3 channels, 7x5 to 24x24).  Allocations are counted so a leak
 * through env aborts.
 *
 *   make fuzz && ./test/fuzz/bin/fuzz_image_decode -max_total_time=60 CORPUS_DIR
 */
#include <string.h>

#include "fuzz_env.h"
#include "image/image.h"
#include "image/preprocess.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sp_env		env = fuzz_env(1 << 18);
	sp_image_info info;
	sp_image	img,
				back;
	sp_error	err;
	uint8_t    *png;
	size_t		png_len;

	(void) sp_image_probe(data, size, &info, &err);
	if (sp_image_decode(&env, data, size, &img, &err) == SP_OK)
	{
		if (img.width <= 0 || img.height <= 0 || (img.channels != 1 && img.channels != 3) ||
			(uint64_t) img.width * (uint64_t) img.height > env.max_pixels)
			abort();
		if (sp_png_encode(&env, &img, &png, &png_len, &err) != SP_OK)
			abort();
		if (sp_image_decode(&env, png, png_len, &back, &err) != SP_OK ||
			back.width != img.width || back.height != img.height ||
			back.channels != img.channels ||
			memcmp(back.pixels, img.pixels, (size_t) img.width * img.height * img.channels) != 0)
			abort();
		sp_image_free(&env, &back);
		sp_free(&env, png);
		{
			sp_preprocess_spec spec;
			uint8_t		b = data[size - 1];
			float	   *x;

			sp_preprocess_spec_default(&spec);
			spec.channels = (b & 1) ? 3 : 1;
			spec.width = (b & 2) ? 24 : 7;
			spec.height = (b & 4) ? 24 : 5;
			spec.resize = (sp_resize_method) ((b >> 3) % 3);
			spec.fit = (sp_fit_mode) ((b >> 5) % 3);
			spec.resize_shorter = spec.fit == SP_FIT_SHORTER_CENTER_CROP ? 26 : 0;
			x = malloc(sizeof(float) * 3 * 24 * 24);
			if (sp_preprocess_image_env(&env, &spec, &img, x, &err) != SP_OK && err.message[0] == '\0')
				abort();
			free(x);
		}
		sp_image_free(&env, &img);
	}
	else if (img.pixels != NULL || err.message[0] == '\0')
		abort();
	fuzz_check_no_leak();
	return 0;
}

/*
 * fuzz_image_decode.c: libFuzzer harness for the image codecs.  Every input
 * goes through sp_image_probe and sp_image_decode with a small pixel limit
 * (so the fuzzer explores parsing, not huge allocations); a successful
 * decode is re-encoded as PNG and decoded again, which must reproduce the
 * pixels exactly.  Allocations are counted so a leak through env aborts.
 *
 *   make fuzz && ./test/fuzz/bin/fuzz_image_decode -max_total_time=60 CORPUS_DIR
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image/image.h"

static long live;

static void *
count_alloc(void *user, size_t size)
{
	(void) user;
	live++;
	return malloc(size ? size : 1);
}

static void
count_free(void *user, void *ptr)
{
	(void) user;
	live--;
	free(ptr);
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sp_env		env = {count_alloc, count_free, NULL, NULL, 1 << 18};
	sp_image_info info;
	sp_image	img,
				back;
	sp_error	err;
	uint8_t    *png;
	size_t		png_len;

	live = 0;
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
		sp_image_free(&env, &img);
	}
	else if (img.pixels != NULL || err.message[0] == '\0')
		abort();
	if (live != 0)
		abort();
	return 0;
}

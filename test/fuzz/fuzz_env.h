/*
 * fuzz_env.h: what every libFuzzer harness here shares: an sp_env whose
 * allocator counts live blocks (a harness aborts when an input leaks through
 * env), with a pixel limit that keeps the fuzzer exploring parsers rather
 * than huge allocations.  Header-only: each harness is its own program.
 */
#ifndef SP_FUZZ_ENV_H
#define SP_FUZZ_ENV_H

#include <stdint.h>
#include <stdlib.h>

#include "util/sp_common.h"

static long fuzz_live;

static void *
fuzz_alloc(void *user, size_t size)
{
	(void) user;
	fuzz_live++;
	return malloc(size ? size : 1);
}

static void
fuzz_free(void *user, void *ptr)
{
	(void) user;
	if (ptr)
		fuzz_live--;
	free(ptr);
}

/* A fresh counting env; max_pixels bounds every decoded or made image. */
static inline sp_env
fuzz_env(uint64_t max_pixels)
{
	sp_env		env = {fuzz_alloc, fuzz_free, NULL, NULL, max_pixels};

	fuzz_live = 0;
	return env;
}

/* Abort when the input left blocks allocated through env. */
static inline void
fuzz_check_no_leak(void)
{
	if (fuzz_live != 0)
		abort();
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif

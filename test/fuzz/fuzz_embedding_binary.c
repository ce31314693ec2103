/*
 * fuzz_embedding_binary.c: libFuzzer harness for the embedding type's binary
 * receive (vector/embedding_binary.c, behind COPY ... BINARY and binary
 * parameters).  Every input is read with a small dimension limit; an
 * accepted one must need no byte beyond the input, and writing its values
 * again must give exactly the bytes it was read from.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz_env.h"
#include "vector/embedding_binary.h"

#define MAX_DIM 64

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* an exact-size copy, so that any read past the end is an ASan report */
	uint8_t    *buf = malloc(size ? size : 1);
	sp_emb_bin_header h;
	sp_emb_bin_status st;

	memcpy(buf, data, size);
	st = sp_emb_bin_read_header(buf, size, MAX_DIM, &h);
	if (st == SP_EMB_BIN_OK)
	{
		float	   *v;
		uint8_t    *again;

		if (h.dim < 1 || h.dim > MAX_DIM || h.size != SP_EMB_BIN_SIZE(h.dim) || h.size > size)
			abort();
		v = malloc(sizeof(float) * (size_t) h.dim);
		again = malloc(h.size);
		sp_emb_bin_values(buf, &h, v);
		sp_emb_bin_write(v, h.dim, again);
		if (memcmp(again, buf, h.size) != 0)
			abort();
		free(v);
		free(again);
	}
	else if ((st == SP_EMB_BIN_SHORT_HEADER) != (size < 4))
		abort();
	else if (st == SP_EMB_BIN_BAD_DIM && h.dim >= 1 && h.dim <= MAX_DIM)
		abort();
	else if (st == SP_EMB_BIN_SHORT_VALUES && h.avail >= (size_t) 4 * (size_t) h.dim)
		abort();
	free(buf);
	return 0;
}

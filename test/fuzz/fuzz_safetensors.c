/*
 * fuzz_safetensors.c: libFuzzer harness for the safetensors reader (weights
 * of registered models).  Every input is read with and without
 * SP_ST_SKIP_UNSUPPORTED; a file that reads must describe tensors that lie
 * inside the buffer, findable by name.  Seeds: test/fuzz/corpus/safetensors.
 */
#include <string.h>

#include "fuzz_env.h"
#include "util/safetensors.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sp_env		env = fuzz_env(1 << 16);

	for (int flags = 0; flags <= SP_ST_SKIP_UNSUPPORTED; flags += SP_ST_SKIP_UNSUPPORTED)
	{
		sp_safetensors *st = NULL;
		sp_error	err;

		if (sp_st_read_ex(&env, data, size, flags, &st, &err) != SP_OK)
		{
			if (st != NULL || err.message[0] == '\0')
				abort();
			continue;
		}
		for (int i = 0; i < st->n_tensors; i++)
		{
			const sp_st_tensor *t = &st->tensors[i];

			if (sp_st_find(st, t->name) == NULL)
				abort();
			/* touch every element: ASan catches data outside the buffer */
			if (t->data != NULL)
			{
				volatile float sum = 0;

				for (size_t j = 0; j < t->numel; j++)
					sum += t->data[j];
				(void) sum;
			}
		}
		sp_st_free(&env, st);
	}
	fuzz_check_no_leak();
	return 0;
}

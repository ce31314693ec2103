/*
 * fuzz_onnx_import.c: libFuzzer harness for the ONNX reader and the graph
 * builder.  Every input goes through sp_onnx_import (protobuf-c under a
 * memory budget), then sp_graph_prepare (sorting, shape inference, constant
 * folding, memory planning), and, when the planned memory is small, one run
 * on a zero input.  Allocations through env are counted, so a leak aborts;
 * ASan and UBSan catch the rest.  Seed the corpus with the fixture and the
 * conformance models:
 *
 *   make fuzz && mkdir -p c && cp test/fixtures/onnx/tiny_net.onnx c/ &&
 *   find /usr/share/libonnx-testdata/data/node -name model.onnx | head -200 |
 *     while read f; do cp "$f" "c/$(echo $f | md5sum | cut -c1-12).onnx"; done &&
 *   ./test/fuzz/bin/fuzz_onnx_import -max_total_time=60 -rss_limit_mb=2048 c
 */
#include <string.h>

#include "fuzz_env.h"
#include "nn/graph.h"
#include "nn/onnx_import.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sp_env		env = fuzz_env(1 << 20);
	sp_graph   *g = NULL;
	sp_error	err;

	if (sp_onnx_import(&env, data, size, NULL, 0, &g, NULL, &err) == SP_OK)
	{
		if (sp_graph_prepare(g, NULL, &err) == SP_OK && sp_graph_run_bytes(g) < ((size_t) 64 << 20))
		{
			void	   *arena = NULL;
			const void **in = calloc((size_t) g->n_inputs + 1, sizeof(void *));
			void	  **out = calloc((size_t) g->n_outputs + 1, sizeof(void *));
			int64_t		total = 0;

			for (int i = 0; i < g->n_inputs; i++)
				total += sp_shape_numel(&g->values[g->inputs[i]].shape);
			for (int i = 0; i < g->n_outputs; i++)
				total += sp_shape_numel(&g->values[g->outputs[i]].shape);
			if (total < (1 << 22) && posix_memalign(&arena, 64, sp_graph_run_bytes(g) + 64) == 0)
			{
				for (int i = 0; i < g->n_inputs; i++)
				{
					const sp_value *v = &g->values[g->inputs[i]];

					in[i] = calloc((size_t) sp_shape_numel(&v->shape) + 1, sp_dtype_size(v->dtype));
				}
				for (int i = 0; i < g->n_outputs; i++)
				{
					const sp_value *v = &g->values[g->outputs[i]];

					out[i] = calloc((size_t) sp_shape_numel(&v->shape) + 1, sp_dtype_size(v->dtype));
				}
				(void) sp_graph_run(g, &env, arena, in, out, &err);
				for (int i = 0; i < g->n_inputs; i++)
					free((void *) in[i]);
				for (int i = 0; i < g->n_outputs; i++)
					free(out[i]);
			}
			free(arena);
			free(in);
			free(out);
		}
		sp_graph_free(g);
	}
	fuzz_check_no_leak();				/* a leak through env */
	return 0;
}

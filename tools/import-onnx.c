/*
 * import-onnx: turn an ONNX model into the project's own model files, so a
 * model can ship as files (models/) or be registered from them.
 *
 *   import-onnx MODEL.onnx --config IMPORT.json --out DIR/NAME
 *
 * writes DIR/NAME.json (a format-2 config: preprocessing, the operator
 * graph, embedding size, distance) and DIR/NAME.safetensors (the float
 * constants), then loads them back and prints what the model is: its
 * hash, the ops that run, parameters, FLOPs and activation memory per
 * image.  IMPORT.json is the import config of docs/byo-model.md.
 */
#include "model_files.h"
#include "nn/graph.h"
#include "nn/nn_layers.h"
#include "nn/nn_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
usage(void)
{
	fprintf(stderr, "usage: import-onnx MODEL.onnx --config IMPORT.json --out DIR/NAME\n");
	return 2;
}

static int
write_file(const char *path, const void *data, size_t len)
{
	FILE	   *f = fopen(path, "wb");

	if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0)
	{
		fprintf(stderr, "import-onnx: cannot write %s\n", path);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	const char *onnx_path = NULL,
			   *config_path = NULL,
			   *out = NULL;
	const sp_env *env = sp_env_default();
	uint8_t    *onnx,
			   *weights = NULL;
	char	   *import_cfg,
			   *config = NULL;
	size_t		onnx_len,
				import_len,
				config_len,
				weights_len;
	char		path[4096];
	sp_error	err;
	sp_nn_model *m;
	sp_graph_stats st;
	char		ops[1024];

	for (int i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			config_path = argv[++i];
		else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
			out = argv[++i];
		else if (argv[i][0] != '-' && !onnx_path)
			onnx_path = argv[i];
		else
			return usage();
	}
	if (!onnx_path || !config_path || !out)
		return usage();
	onnx = mf_read_file(onnx_path, &onnx_len);
	import_cfg = (char *) mf_read_file(config_path, &import_len);
	if (!onnx || !import_cfg)
	{
		fprintf(stderr, "import-onnx: cannot read %s\n", onnx ? config_path : onnx_path);
		return 1;
	}
	if (sp_nn_model_from_onnx(env, onnx, onnx_len, import_cfg, import_len, &config, &config_len,
							  &weights, &weights_len, &err) != SP_OK)
	{
		fprintf(stderr, "import-onnx: %s\n", err.message);
		if (err.detail[0])
			fprintf(stderr, "DETAIL: %s\n", err.detail);
		if (err.hint[0])
			fprintf(stderr, "HINT: %s\n", err.hint);
		return 1;
	}
	snprintf(path, sizeof path, "%s.json", out);
	if (write_file(path, config, config_len) != 0)
		return 1;
	snprintf(path, sizeof path, "%s.safetensors", out);
	if (write_file(path, weights, weights_len) != 0)
		return 1;
	/* load what was written, as the server will */
	if (sp_nn_model_load(env, config, config_len, weights, weights_len, &m, &err) != SP_OK)
	{
		fprintf(stderr, "import-onnx: the written model does not load: %s\n", err.message);
		return 1;
	}
	sp_graph_get_stats(m->graph, &st);
	sp_graph_op_summary(m->graph, ops, sizeof ops);
	printf("%s: hash %s\n", out, sp_nn_model_hash(m));
	printf("  input %dx%dx%d, embedding %d (%s)\n", m->cfg->input.channels, m->cfg->input.height,
		   m->cfg->input.width, sp_nn_model_dim(m), sp_distance_kind_name(m->cfg->distance));
	printf("  %d nodes run: %s\n", st.nodes, ops);
	printf("  %lld parameters, %.2f GFLOP, %.1f MB activation memory per image\n",
		   (long long) st.parameters, st.flops / 1e9, (double) st.arena_bytes / 1048576.0);
	printf("  files: %zu + %zu bytes\n", config_len, weights_len);
	sp_nn_model_free(env, m);
	sp_free(env, config);
	sp_free(env, weights);
	free(onnx);
	free(import_cfg);
	return 0;
}

/*
 * fuzz_model_load.c: libFuzzer harness for model loading, the path every
 * registered model takes: the JSON config parser and validator (layer lists
 * and operator graphs), the safetensors reader, binding the weights to the
 * layers and preparing the graph.  An input is a config, a NUL byte, then a
 * weights file; a model that loads and is small gets a workspace and embeds
 * one 8x8 image, which must give finite numbers or a clean error.  The seed
 * corpus (test/fuzz/corpus/model_load) holds the regress fixture models.
 */
#include <string.h>

#include "fuzz_env.h"
#include "image/image.h"
#include "nn/nn_model.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sp_env		env = fuzz_env(1 << 16);
	const uint8_t *nul = memchr(data, 0, size);
	sp_nn_model *model = NULL;
	sp_error	err;

	if (nul == NULL)
		return 0;
	if (sp_nn_model_load(&env, (const char *) data, (size_t) (nul - data), nul + 1,
						 size - (size_t) (nul - data) - 1, &model, &err) == SP_OK)
	{
		sp_nn_workspace *ws = NULL;

		if (sp_nn_model_activation_bytes(model) < ((size_t) 16 << 20) &&
			sp_nn_model_input_size(model) < (1 << 20) &&
			sp_nn_workspace_create(&env, model, 1, &ws, &err) == SP_OK)
		{
			uint8_t		px[64];
			sp_image	img = {8, 8, 1, px};
			int			dim = sp_nn_model_dim(model);
			float	   *out = malloc(sizeof(float) * (size_t) (dim > 0 ? dim : 1));

			for (int i = 0; i < 64; i++)
				px[i] = (uint8_t) (i * 4);
			if (sp_nn_embed_images(&env, model, ws, &img, 1, out, &err) != SP_OK && err.message[0] == '\0')
				abort();
			free(out);
			sp_nn_workspace_free(&env, ws);
		}
		sp_nn_model_free(&env, model);
	}
	else if (model != NULL || err.message[0] == '\0')
		abort();
	fuzz_check_no_leak();
	return 0;
}

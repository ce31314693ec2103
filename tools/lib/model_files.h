/*
 * model_files.h: reading whole files and loading a model from its pair of
 * files (<prefix>.json + <prefix>.safetensors), for the tools and benchmarks.
 * The backend never uses this: it reads models from the catalog.
 */
#ifndef SP_TOOLS_MODEL_FILES_H
#define SP_TOOLS_MODEL_FILES_H

#include <stddef.h>
#include <stdint.h>

#include "nn/nn_model.h"

/* The whole file, NUL-terminated, malloc'd; NULL (errno set) on failure. */
extern uint8_t *mf_read_file(const char *path, size_t *len);

/*
 * Load <prefix>.json + <prefix>.safetensors.  SP_ERR_IO (naming the file)
 * when a file cannot be read, else sp_nn_model_load's status.  When config /
 * weights are non-NULL they receive the file bytes (caller frees), otherwise
 * the bytes are freed here.
 */
extern sp_status mf_load_model(const char *prefix, sp_nn_model **model,
							   char **config, size_t *config_len,
							   uint8_t **weights, size_t *weights_len, sp_error *err);

#endif							/* SP_TOOLS_MODEL_FILES_H */

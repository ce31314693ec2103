/*
 * test_nn_util.h: helpers shared by the test_nn_*.c unit tests: a seeded
 * RNG, random weights for a config written as safetensors, and a naive
 * double-precision reference forward pass (direct convolution).
 */
#ifndef TEST_NN_UTIL_H
#define TEST_NN_UTIL_H

#include "nn/nn_model.h"
#include "util/safetensors.h"

extern uint64_t tu_next(uint64_t *s);
extern float tu_uniform(uint64_t *s, float lo, float hi);
extern void tu_fill(uint64_t *s, float *x, size_t n, float lo, float hi);

/* Random PyTorch-named weights for cfg, as a safetensors file (malloc'd). */
extern uint8_t *tu_make_weights(const sp_nn_config *cfg, uint64_t seed, size_t *len);

/* Parse config text, make weights and load the model (flags as load_ex). */
extern sp_nn_model *tu_make_model(const char *config, uint64_t seed, int flags,
								  uint8_t **weights, size_t *wlen);

/* Naive reference forward of one image (input C*H*W), output embedding_dim doubles. */
extern void tu_reference_forward(const sp_nn_config *cfg, const sp_safetensors *st,
								 const float *in, double *out);

/* A whole file, malloc'd (NULL if it cannot be read). */
extern uint8_t *tu_read_file(const char *path, size_t *len);
extern const char *tu_ref_cnn_config;	/* the reference CNN (docs/reference/fashion-mnist.md) */

#endif

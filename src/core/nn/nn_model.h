/*
 * nn_model.h: the neural-network model of the core: config (architecture as
 * a layer list plus input preprocessing; docs/model-format.md), validation,
 * weight binding from safetensors with batch-norm folding, the model content
 * hash, and the batched inference forward pass (nn_forward.c).
 *
 * One forward pass, two callers: the SQL functions and the trainer both embed
 * through sp_nn_forward / sp_nn_embed_images on an sp_nn_model; the trainer's
 * own forward (nn_train.h) uses the same layer kernels (nn_layers.h).
 */
#ifndef SP_NN_MODEL_H
#define SP_NN_MODEL_H

#include <stdbool.h>
#include "util/sp_common.h"
#include "image/image.h"
#include "image/preprocess.h"
#include "vector/distance.h"

/* Hard limits checked by config validation. */
#define SP_NN_MAX_LAYERS 256
#define SP_NN_MAX_CHANNELS 4096
#define SP_NN_MAX_KERNEL 11
#define SP_NN_MAX_STRIDE 8
#define SP_NN_MAX_INPUT_SIDE 1024
#define SP_NN_MAX_FEATURES (1 << 22)	/* linear in/out, flattened size */
#define SP_NN_MAX_PARAMS ((size_t) 1 << 28)
#define SP_NN_MAX_ACT ((size_t) 1 << 26)	/* floats per image per layer */
#define SP_NN_MAX_CONFIG_BYTES ((size_t) 1 << 20)	/* format 1 */
#define SP_NN_MAX_GRAPH_CONFIG_BYTES ((size_t) 16 << 20)	/* format 2 */
#define SP_NN_NAME_LEN 64

typedef enum sp_nn_layer_type
{
	SP_NN_CONV2D = 0,
	SP_NN_BATCHNORM,
	SP_NN_RELU,
	SP_NN_MAXPOOL,
	SP_NN_AVGPOOL,
	SP_NN_FLATTEN,
	SP_NN_LINEAR,
	SP_NN_L2NORM,
	SP_NN_SKIP,					/* remembers the activation for the next add (a residual connection) */
	SP_NN_ADD					/* adds the activation the innermost open skip remembered */
} sp_nn_layer_type;

/* skip / add pairs may nest this deep */
#define SP_NN_MAX_SKIP_DEPTH 16

typedef struct sp_nn_layer
{
	sp_nn_layer_type type;
	char		name[SP_NN_NAME_LEN];	/* conv2d / linear / batchnorm: tensor prefix */
	int			in;				/* conv2d: in channels; linear: in features */
	int			out;			/* conv2d: out channels; linear: out features */
	int			kernel;			/* conv2d, pools */
	int			stride;
	int			padding;
	bool		bias;			/* conv2d / linear have a bias (default true) */
	float		eps;			/* batchnorm (default 1e-5) */
	float		momentum;		/* batchnorm running-stat update (default 0.1) */
	/* Shapes computed by validation ("dense" layers: h = w = 1). */
	int			in_c,
				in_h,
				in_w;
	int			out_c,
				out_h,
				out_w;
	bool		dense;			/* after flatten: rows of features */
} sp_nn_layer;

typedef struct sp_nn_config
{
	char		name[128];
	int			format_version;
	sp_preprocess_spec input;
	int			n_layers;
	sp_nn_layer *layers;
	int			embedding_dim;
	sp_distance_kind distance;
	bool		has_threshold;
	double		threshold;
	char	   *metadata_json;	/* compact JSON object or NULL */
	char	   *training_json;	/* optional "training" object, compact, or NULL */
	char	   *quality_json;	/* optional "quality" object, compact, or NULL */
	/* format 2: the operator graph (nn/graph_json.c), compact, instead of layers */
	char	   *graph_json;
	char	   *source_json;	/* optional "source" object (where an import came from) */
	char	   *classifier_json;	/* optional "classifier" object (nn/classifier.h), compact */
} sp_nn_config;

/*
 * Activation memory one image of a model may need (the planned arena): a
 * safety net against absurd shapes for the tools; the server's own limit is
 * siamese.nn.max_model_memory, checked at registration with a hint.
 */
#define SP_NN_MAX_GRAPH_ARENA ((size_t) 64 << 30)

/* Parse and validate a config document (shapes checked through the chain). */
extern sp_status sp_nn_config_parse(const sp_env *env, const char *json, size_t len,
									sp_nn_config **out, sp_error *err);
/* Validate (and compute shapes of) a config built in code. */
extern sp_status sp_nn_config_validate(sp_nn_config *cfg, sp_error *err);
extern void sp_nn_config_free(const sp_env *env, sp_nn_config *cfg);
extern sp_status sp_nn_config_copy(const sp_env *env, const sp_nn_config *src,
								   sp_nn_config **out, sp_error *err);
/* Serialise (config_parse(config_to_json(c)) reproduces c). */
extern sp_status sp_nn_config_to_json(const sp_env *env, const sp_nn_config *cfg, bool pretty,
									  char **out, size_t *out_len, sp_error *err);
extern const char *sp_nn_layer_type_name(sp_nn_layer_type t);
/*
 * config (JSON text) with its free-form "training", "quality" and
 * "metadata" objects and its "classifier" (compact JSON, or NULL to drop)
 * and threshold replaced, re-validated and serialised (pretty) into *out,
 * allocated with env.
 */
extern sp_status sp_nn_config_set_extras(const sp_env *env, const char *json, size_t len,
										 const char *training, const char *quality, const char *metadata,
										 const char *classifier, bool has_threshold, double threshold,
										 char **out, size_t *out_len, sp_error *err);
/* Parameter count of the config (BN counted unfolded: weight+bias). */
extern size_t sp_nn_config_param_count(const sp_nn_config *cfg);
/* Multiply-adds x 2 per image of conv and linear layers. */
extern double sp_nn_config_flops(const sp_nn_config *cfg);

/*
 * A format-2 model from an ONNX file (nn/nn_graph_model.c): import_config is
 * the JSON object {"input": {preprocessing}, "output": tensor name,
 * "normalize": bool, "distance": "cosine" | "l2", "threshold": x,
 * "name": s, "metadata": {...}} (docs/byo-model.md).  Produces the config
 * text and the safetensors bytes of the project's own format, both
 * allocated with env; everything that cannot run is refused here.
 */
extern sp_status sp_nn_model_from_onnx(const sp_env *env, const uint8_t *onnx, size_t onnx_len,
									   const char *import_config, size_t import_len,
									   char **config_out, size_t *config_len,
									   uint8_t **weights_out, size_t *weights_len, sp_error *err);

/*
 * A frozen base model with a head on its embedding (nn/nn_graph_model.c):
 * the base's graph (either format) followed by the head's layers, as a
 * format-2 model called name, embedding like head(base(image)).  The head
 * is a layer-list config whose input holds the base's embedding_dim values
 * (any c x h x w of that size; docs/training.md); its tensors are stored as
 * "head." + their names and its nodes as "head/...".  With feature_mean and
 * feature_std (embedding_dim values each, or NULL) the base's values are
 * standardised first, (x - mean) / std (the head trained on them so).
 * source_json (a compact object, or NULL) becomes the config's "source".
 * Config text and safetensors bytes allocated with env.
 */
extern sp_status sp_nn_compose_head(const sp_env *env, const char *base_config, size_t base_config_len,
									const uint8_t *base_weights, size_t base_weights_len,
									const char *head_config, size_t head_config_len,
									const uint8_t *head_weights, size_t head_weights_len,
									const float *feature_mean, const float *feature_std,
									const char *name, const char *source_json,
									char **config_out, size_t *config_len,
									uint8_t **weights_out, size_t *weights_len, sp_error *err);

/* ---------------------------------------------------------------------- */
/* Inference model. */

typedef struct sp_nn_model sp_nn_model;
typedef struct sp_nn_workspace sp_nn_workspace;

/* sp_nn_model_load_ex flags */
#define SP_NN_LOAD_IGNORE_UNUSED 0x1	/* tensors not used by the config are fine */


extern sp_status sp_nn_model_load(const sp_env *env, const char *config_json, size_t config_len,
								  const uint8_t *weights, size_t weights_len,
								  sp_nn_model **out, sp_error *err);
extern sp_status sp_nn_model_load_ex(const sp_env *env, const char *config_json, size_t config_len,
									 const uint8_t *weights, size_t weights_len, int flags,
									 sp_nn_model **out, sp_error *err);
extern void sp_nn_model_free(const sp_env *env, sp_nn_model *model);

extern const sp_nn_config *sp_nn_model_config(const sp_nn_model *model);
/* The content hash (util/hash.h: sp_model_content_hash), 64 hex chars. */
extern const char *sp_nn_model_hash(const sp_nn_model *model);
extern int	sp_nn_model_input_size(const sp_nn_model *model);	/* C*H*W */
extern int	sp_nn_model_dim(const sp_nn_model *model);
extern size_t sp_nn_model_param_count(const sp_nn_model *model);	/* after folding */
/* "Conv x20, Relu x17, ..." of what runs, most frequent first (truncated to len). */
extern void sp_nn_model_ops(const sp_nn_model *model, char *buf, size_t len);
/* Activation memory one image needs in a forward pass, in bytes (format 2; 0 for format 1). */
extern size_t sp_nn_model_activation_bytes(const sp_nn_model *model);

/*
 * What one backend needs to embed an image with the model: weights plus the
 * largest working memory of a forward pass of one image (activations,
 * im2col columns, kernel scratch).  where (may be NULL) receives the layer
 * or node that needs the most working memory, for error messages.
 * Registration refuses a model above siamese.nn.max_model_memory.
 */
extern size_t sp_nn_model_memory_bytes(const sp_nn_model *model, char *where, size_t where_len);

/*
 * Workspace for batches of up to max_batch images: allocated once, reused by
 * every forward call (no allocation per image): the preprocessed inputs of
 * sp_nn_embed_images and the graph's run memory for one image.  A workspace
 * is used by one thread at a time; interrupts are polled through env between
 * nodes and inside long ones.
 */
extern sp_status sp_nn_workspace_create(const sp_env *env, const sp_nn_model *model,
										int max_batch, sp_nn_workspace **out, sp_error *err);
extern void sp_nn_workspace_free(const sp_env *env, sp_nn_workspace *ws);
/* Images per forward call, and the model the workspace was sized for. */
extern int	sp_nn_workspace_max_batch(const sp_nn_workspace *ws);
extern const sp_nn_model *sp_nn_workspace_model(const sp_nn_workspace *ws);

/*
 * Forward: input is batch x C x H x W floats (NCHW, preprocessed), out is
 * batch x dim.  Any batch >= 1 works (processed in chunks of max_batch).
 */
extern sp_status sp_nn_forward(const sp_nn_model *model, sp_nn_workspace *ws,
							   const float *input, int batch, float *out, sp_error *err);

/*
 * Preprocess n images (any size / channels) and embed them: out n x dim.
 * Preprocessing scratch ("pil_bilinear") comes from env.
 */
extern sp_status sp_nn_embed_images(const sp_env *env, const sp_nn_model *model,
									sp_nn_workspace *ws, const sp_image *imgs, int n,
									float *out, sp_error *err);

/*
 * The convolution path new workspaces start with (util/cpu.h levels):
 * SP_ISA_AUTO (default: the best direct kernels this CPU has), SP_ISA_SCALAR
 * (im2col + BLAS sgemm), SP_ISA_AVX2 or SP_ISA_AVX512.  A level the CPU lacks
 * leaves new workspaces on the im2col path.  Process-wide; set it before
 * creating workspaces.
 */
extern void sp_nn_set_default_isa(int isa);
extern int	sp_nn_default_isa(void);

/*
 * Choose the workspace's convolution path (tests, benchmarks): SP_ISA_SCALAR
 * = im2col + sgemm, SP_ISA_AVX2 / SP_ISA_AVX512 / SP_ISA_AUTO = direct
 * kernels (SP_NN_DIRECT_NO_WINOGRAD, nn_layers.h, may be or-ed into the last two).
 * Returns the name of the path now in effect (a direct ISA the CPU or the
 * model cannot use leaves the im2col path), or NULL with err set when out of
 * memory.  New workspaces start with sp_nn_default_isa().
 */
extern const char *sp_nn_workspace_set_path(sp_nn_workspace *ws, int isa, sp_error *err);
extern const char *sp_nn_workspace_path(const sp_nn_workspace *ws);

/* BLAS information ("OpenBLAS <config> core=<name>") and thread control. */
extern void sp_blas_info(char *buf, size_t len);
extern const char *sp_blas_corename(void);
extern void sp_blas_set_threads(int n);


#endif							/* SP_NN_MODEL_H */

/*
 * nn_train.h: training support for the network of nn_model.h: parameters
 * with gradients, a forward pass that keeps its activations (batch norm
 * unfolded, batch statistics in training mode) and the backward pass, both
 * on the operator graph the config compiles into (nn/train.c: the ops'
 * forward and backward from the op table), Adam and SGD+momentum,
 * metric-learning losses (nn/train_loss.c), and export to the model format
 * (safetensors with PyTorch names + config JSON) so that evaluation goes
 * through the very same inference code as SQL (sp_nn_forward).
 *
 * Everything is deterministic given the seed (util/rng.h's splitmix64), a
 * single BLAS thread and the trainer's thread count.
 */
#ifndef SP_NN_TRAIN_H
#define SP_NN_TRAIN_H

#include "nn/nn_model.h"
#include "image/preprocess.h"

typedef struct sp_nn_trainer sp_nn_trainer;

typedef struct sp_nn_param
{
	char		name[SP_NN_NAME_LEN + 24];	/* PyTorch name, e.g. "conv1.weight" */
	int			ndim;
	int64_t		shape[4];
	size_t		numel;
	float	   *data;
	float	   *grad;			/* NULL for buffers (batch-norm running stats) */
	float	   *m;				/* optimizer state (Adam first moment / momentum) */
	float	   *v;				/* Adam second moment */
	bool		decay;			/* weight decay applies (conv/linear weights only) */
} sp_nn_param;

typedef enum sp_nn_init
{
	SP_NN_INIT_HE = 0,			/* kaiming_uniform_(nonlinearity='relu'): U(+-sqrt(6/fan_in)) */
	SP_NN_INIT_TORCH			/* PyTorch's default layer init: U(+-1/sqrt(fan_in)) */
} sp_nn_init;

/*
 * Create a trainer for cfg (validated) and batches of up to max_batch.
 * Weights: conv/linear per init, biases U(+-1/sqrt(fan_in)) like PyTorch;
 * batch norm weight 1, bias 0, running mean 0, running var 1.  threads
 * (1..SP_TEAM_MAX): the ops split each step's convolutions, batch norms,
 * ReLUs and pools over that many threads (util/team.h), the caller's
 * included; a run is reproducible for a given number of threads, and the
 * parameter gradients of 1 and of more threads differ in the order of
 * their sums only.
 */
extern sp_status sp_nn_trainer_create(const sp_env *env, const sp_nn_config *cfg, int max_batch,
									  uint64_t seed, sp_nn_init init, int threads,
									  sp_nn_trainer **out, sp_error *err);
extern void sp_nn_trainer_free(sp_nn_trainer *tr);
/* Replace parameters from a safetensors file (PyTorch names, shapes checked). */
extern sp_status sp_nn_trainer_load_weights(sp_nn_trainer *tr, const uint8_t *weights, size_t len,
											sp_error *err);
extern int	sp_nn_trainer_params(sp_nn_trainer *tr, sp_nn_param **params);
extern const sp_nn_config *sp_nn_trainer_config(const sp_nn_trainer *tr);

/*
 * Forward batch (NCHW input) -> out (batch x dim).  training: batch norm
 * uses batch statistics and updates its running statistics; otherwise the
 * running statistics (eval mode).  Activations are kept for backward.
 */
extern sp_status sp_nn_trainer_forward(sp_nn_trainer *tr, const float *input, int batch,
									   bool training, float *out, sp_error *err);
/* Backward of the last forward: adds parameter gradients (see zero_grad). */
extern sp_status sp_nn_trainer_backward(sp_nn_trainer *tr, const float *d_out, sp_error *err);
extern void sp_nn_trainer_zero_grad(sp_nn_trainer *tr);

typedef struct sp_nn_adam
{
	float		lr;
	float		beta1;			/* 0.9 */
	float		beta2;			/* 0.999 */
	float		eps;			/* 1e-8 */
	float		weight_decay;	/* decoupled (AdamW) when decoupled, else added to the gradient */
	bool		decoupled;
} sp_nn_adam;

extern void sp_nn_trainer_adam_step(sp_nn_trainer *tr, const sp_nn_adam *opt);
extern void sp_nn_trainer_sgd_step(sp_nn_trainer *tr, float lr, float momentum, float weight_decay);
/* The same updates on raw arrays (e.g. a classifier head kept by the caller); step counts from 1. */
extern void sp_nn_adam_update(float *p, const float *g, float *m, float *v, size_t n,
							  const sp_nn_adam *opt, long step, bool decay);
extern void sp_nn_sgd_update(float *p, const float *g, float *mom, size_t n, float lr,
							 float momentum, float weight_decay);

/* Export: config JSON (pretty) and safetensors (unfolded BN, PyTorch names). */
extern sp_status sp_nn_trainer_export(sp_nn_trainer *tr, const char *const *meta_keys,
									  const char *const *meta_values, int n_meta,
									  char **config_json, size_t *config_len,
									  uint8_t **weights, size_t *weights_len, sp_error *err);
/* Export and load as an inference model (BN folded): what SQL will compute. */
extern sp_status sp_nn_trainer_to_model(sp_nn_trainer *tr, sp_nn_model **out, sp_error *err);

/* ---------------------------------------------------------------------- */
/*
 * Losses on a batch of embeddings (B x D, row-major) with integer labels.
 * Each returns the mean loss in *loss and writes dLoss/dEmbedding to d_emb
 * (B x D, overwritten).  Distances are Euclidean, sqrt(max(|a-b|^2, 1e-12)).
 * env provides scratch memory (B x B distances).
 */

/* Batch-hard triplet (Hermans et al. 2017): per anchor hardest positive and
 * negative; margin >= 0: max(0, d_ap - d_an + margin); margin < 0: soft
 * margin log(1 + exp(d_ap - d_an)).  Anchors without a positive or negative
 * are skipped.  *active (nullable): anchors with nonzero loss. */
extern sp_status sp_nn_loss_batch_hard(const sp_env *env, const float *emb, const int *labels,
									   int B, int D, float margin, float *loss, float *d_emb,
									   int *active, sp_error *err);
/* Batch-all triplet: every valid (a, p, n); loss averaged over the triplets
 * with positive loss. *active (nullable): number of those triplets. */
extern sp_status sp_nn_loss_batch_all(const sp_env *env, const float *emb, const int *labels,
									  int B, int D, float margin, float *loss, float *d_emb,
									  int *active, sp_error *err);
/* Contrastive over all in-batch pairs i < j: same label d^2, different
 * max(0, margin - d)^2, each halved, mean over pairs. */
extern sp_status sp_nn_loss_contrastive(const sp_env *env, const float *emb, const int *labels,
										int B, int D, float margin, float *loss, float *d_emb,
										sp_error *err);
/*
 * Multi-similarity (Wang et al. 2019) on dot-product similarities (cosine for
 * L2-normalised embeddings), with the paper's pair mining at margin eps
 * (>= 0) and its weights alpha = SP_MS_ALPHA, beta = SP_MS_BETA, lambda =
 * SP_MS_LAMBDA.  Mean over anchors with a positive and a negative;
 * *active (nullable): anchors that kept at least one pair.
 */
#define SP_MS_ALPHA 2.0
#define SP_MS_BETA 50.0
#define SP_MS_LAMBDA 0.5
extern sp_status sp_nn_loss_multi_similarity(const sp_env *env, const float *emb, const int *labels,
											 int B, int D, float eps, float *loss, float *d_emb,
											 int *active, sp_error *err);
/*
 * Softmax cross-entropy on a linear head W (classes x D) and bias (classes,
 * nullable).  scale > 0 selects cosine logits scale * e.w_k / |w_k| (bias
 * unused; the embedding is expected to be L2-normalised), normalised
 * softmax, and margin > 0 then subtracts scale * margin from the target's
 * logit (CosFace, Wang et al. 2018); scale == 0 plain logits e.w_k + b_k
 * (margin must be 0).  dW / db (nullable) receive the head gradients
 * (overwritten); *correct (nullable) counts argmax hits of the logits
 * without the margin.
 */
extern sp_status sp_nn_loss_softmax_ce(const sp_env *env, const float *emb, const int *labels,
									   int B, int D, const float *W, const float *bias, int classes,
									   float scale, float margin, float *loss, float *d_emb,
									   float *dW, float *db, int *correct, sp_error *err);

/* ---------------------------------------------------------------------- */
/* The training loop (nn/train_fit.c): P x K batches, augmentation, schedule. */

typedef enum sp_fit_loss
{
	SP_FIT_BATCH_ALL = 0,
	SP_FIT_BATCH_HARD,
	SP_FIT_CONTRASTIVE,
	SP_FIT_SOFTMAX,				/* normalised (cosine) softmax on proxies kept by the loop */
	SP_FIT_COSFACE,				/* the same with CosFace's margin (opts.margin) */
	SP_FIT_MULTI_SIMILARITY,	/* opts.margin is the pair-mining margin */
	SP_FIT_BATCH_ALL_COSFACE	/* batch-all (opts.margin) + opts.aux_weight x CosFace
								 * (SP_FIT_AUX_COSFACE_MARGIN) on proxies */
} sp_fit_loss;

/* The hybrid loss's CosFace margin, and its weight when opts.aux_weight is 0. */
#define SP_FIT_AUX_COSFACE_MARGIN 0.35
#define SP_FIT_AUX_WEIGHT_DEFAULT 0.2

/*
 * The project's own architectures ("cnn", "resnet", "mlp", "mlp2d", "pixels";
 * docs/training.md) as a format-1 config called name into buf; bn_layers
 * puts batch norm after the cnn's convolutions.  false: unknown arch, or
 * buf too small.
 */
extern bool sp_nn_arch_config(const char *arch, const char *name, bool bn_layers, char *buf, size_t len);

/*
 * A projection head for a frozen model's in_dim features (docs/training.md)
 * as a format-1 config called name into buf: "linear" (linear to out_dim,
 * L2-normalise) or "mlp" (linear to SP_NN_HEAD_HIDDEN, ReLU, linear to
 * out_dim, L2-normalise), cosine distance.  Its input is the features laid
 * out as a 1 x h x w grid within the config's side limit, flattened first;
 * nothing preprocesses it (the features are fed as they are, sp_fit_data's
 * floats).  false: unknown head, sizes out of range, or buf too small.
 */
#define SP_NN_HEAD_HIDDEN 512
extern bool sp_nn_head_config(const char *head, int in_dim, int out_dim, const char *name, char *buf, size_t len);

/* Loss names ("batch_all", ...) <-> values; false for an unknown name. */
extern bool sp_fit_loss_parse(const char *name, sp_fit_loss *out);
extern const char *sp_fit_loss_name(sp_fit_loss l);
/* Does the loss train a head of class proxies (sp_fit_result.head)? */
extern bool sp_fit_loss_has_head(sp_fit_loss l);
/* The cosine logits' scale of the losses with a head, unless a caller picks another. */
#define SP_FIT_HEAD_SCALE 16.0
/* A head's starting proxies (classes x D), uniform in +-1/sqrt(D), from seed. */
extern void sp_fit_head_init(float *head, int classes, int D, uint64_t seed);

/*
 * Image i of a cache kept outside memory, c*h*w bytes into dst; an error
 * (SP_ERR_IO, SP_ERR_INTERRUPTED) stops training with it.
 */
typedef sp_status (*sp_fit_fetch) (void *arg, int i, uint8_t *dst, sp_error *err);

/*
 * The training images: a compact uint8 cache, image i at pixels + i * c*h*w
 * (planar, already at the model's input size), or, with pixels NULL, read
 * through fetch (a cache spilled to a file); and per class the indices of
 * its training images (the caller's validation images are in no list).
 * Normalisation is the model's: (pixel / scale - mean[ch]) / std[ch].
 */
typedef struct sp_fit_data
{
	int			c,
				h,
				w;
	const uint8_t *pixels;
	sp_fit_fetch fetch;
	void	   *fetch_arg;
	int			n_classes;
	int *const *cls;			/* n_classes lists, shuffled in place by the loop */
	const int  *ncls;
	const sp_preprocess_spec *input;
	/*
	 * Records are c x h x w float32 values fed as they are (a frozen model's
	 * features, for a head): no augmentation; with feature_mean and
	 * feature_std (c*h*w each, or NULL) each value is standardised,
	 * (x - mean) / std, as the composed model does (sp_nn_compose_head).
	 */
	bool		floats;
	const float *feature_mean;
	const float *feature_std;
} sp_fit_data;

/*
 * Per value of the float records in d's class lists (the training images):
 * mean and standard deviation (population, at least 1e-5 of the features'
 * RMS, so that a value that never varies is not scaled up), for
 * sp_fit_data.feature_mean / feature_std.  Errors are fetch's.
 */
extern sp_status sp_fit_feature_stats(const sp_env *env, const sp_fit_data *d, float *mean, float *std,
									  sp_error *err);

/* Bytes per record of the cache: c*h*w, times 4 with floats. */
extern size_t sp_fit_record_bytes(const sp_fit_data *d);
/* Record src of the cache as the network's input, unaugmented. */
extern void sp_fit_pixel_input(const sp_fit_data *d, const uint8_t *src, float *dst);

typedef struct sp_fit_opts
{
	int			epochs;
	int			P;				/* classes per batch (at most n_classes) */
	int			K;				/* images per class per batch */
	double		lr;				/* peak; linear warm-up over 5 %, cosine decay to 1 % */
	double		wd;				/* decoupled weight decay (AdamW) */
	double		margin;
	double		softmax_scale;
	double		aux_weight;		/* batch_all_cosface: CosFace's weight (0: the default) */
	sp_fit_loss loss;
	uint64_t	seed;
	bool		flip;			/* horizontal flips */
	int			shift;			/* random shifts of up to this many pixels */
	bool		cutout;			/* half the images lose a square of 10/28 of the side */
} sp_fit_opts;

/*
 * Called after every step (its loss, and its active anchors or triplets, or
 * hits for softmax) and at the end of each epoch (step == steps_per_epoch,
 * loss = the epoch's mean, active = its total); epochs count from 0.  May be
 * NULL.
 */
typedef void (*sp_fit_progress) (void *arg, int epoch, int step, int steps_per_epoch, double loss,
								 long active, double lr);

typedef struct sp_fit_result
{
	int			steps_per_epoch;
	double	   *epoch_loss;		/* caller's array of opts.epochs, or NULL */
	double	   *epoch_seconds;	/* caller's array of opts.epochs, or NULL */
	double		train_seconds;
	float	   *head;			/* a loss with a head: the head (n_classes x D), caller's, or NULL */
	double		mean_active;	/* last epoch: active anchors / triplets per step, or train accuracy */
} sp_fit_result;

/*
 * Train tr (created for batches of P x K) with opts on data.  Deterministic
 * given opts.seed; interrupts are polled every step through env.  A
 * non-finite loss stops it with SP_ERR_INVALID_ARG.
 */
extern sp_status sp_nn_fit(const sp_env *env, sp_nn_trainer *tr, const sp_fit_data *data,
						   const sp_fit_opts *opts, sp_fit_progress progress, void *progress_arg,
						   sp_fit_result *result, sp_error *err);

#endif							/* SP_NN_TRAIN_H */

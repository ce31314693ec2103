/*
 * nn_model.c: model config (parse, validate, serialise), weight binding
 * from safetensors with batch-norm folding, and the loaded model (its
 * content hash comes from util/hash.h).  See nn_model.h and
 * docs/model-format.md.
 *
 * Error codes: JSON syntax errors are SP_ERR_CORRUPT (from the parser); a
 * config that parses but describes an invalid network, or weights that do
 * not match the config, is SP_ERR_INVALID_ARG; a network beyond the hard
 * limits is SP_ERR_LIMIT.
 */
#include "nn/classifier.h"
#include "nn/nn_layers.h"
#include "nn/op.h"
#include "util/hash.h"
#include "util/json.h"
#include "util/safetensors.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------------- */
/* Config. */

const char *
sp_nn_layer_type_name(sp_nn_layer_type t)
{
	switch (t)
	{
		case SP_NN_CONV2D:
			return "conv2d";
		case SP_NN_BATCHNORM:
			return "batchnorm";
		case SP_NN_RELU:
			return "relu";
		case SP_NN_MAXPOOL:
			return "maxpool";
		case SP_NN_AVGPOOL:
			return "avgpool";
		case SP_NN_FLATTEN:
			return "flatten";
		case SP_NN_LINEAR:
			return "linear";
		case SP_NN_L2NORM:
			return "l2norm";
		case SP_NN_SKIP:
			return "skip";
		case SP_NN_ADD:
			return "add";
	}
	return "unknown";
}

static sp_status cfg_error(sp_error *err, sp_status code, int layer, const sp_nn_layer *l,
						   const char *fmt,...) __attribute__((format(printf, 5, 6)));

static sp_status
cfg_error(sp_error *err, sp_status code, int layer, const sp_nn_layer *l, const char *fmt,...)
{
	char		msg[200];
	va_list		ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (layer >= 0 && l && l->name[0])
		return sp_set_error(err, code, "invalid model config: layer %d (%s \"%s\"): %s",
							layer, sp_nn_layer_type_name(l->type), l->name, msg);
	if (layer >= 0 && l)
		return sp_set_error(err, code, "invalid model config: layer %d (%s): %s",
							layer, sp_nn_layer_type_name(l->type), msg);
	if (layer >= 0)
		return sp_set_error(err, code, "invalid model config: layer %d: %s", layer, msg);
	return sp_set_error(err, code, "invalid model config: %s", msg);
}

static bool
valid_name(const char *s)
{
	size_t		n = strlen(s);

	if (n == 0 || n >= SP_NN_NAME_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
	{
		char		c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  c == '_' || c == '.' || c == '-'))
			return false;
	}
	return true;
}

sp_status
sp_nn_config_validate(sp_nn_config *cfg, sp_error *err)
{
	int			C,
				H,
				W;
	bool		dense = false;
	size_t		params = 0;
	const sp_preprocess_spec *in = &cfg->input;
	int			saved[SP_NN_MAX_SKIP_DEPTH][4],	/* C, H, W, dense of each open skip */
				depth = 0;

	if (cfg->format_version != 1 && cfg->format_version != 2)
		return cfg_error(err, SP_ERR_UNSUPPORTED, -1, NULL, "format_version %d is not supported (expected 1 or 2)",
						 cfg->format_version);
	if (in->channels != 1 && in->channels != 3)
		return cfg_error(err, SP_ERR_INVALID_ARG, -1, NULL, "input channels must be 1 or 3");
	if (in->height < 1 || in->width < 1 || in->height > SP_NN_MAX_INPUT_SIDE || in->width > SP_NN_MAX_INPUT_SIDE)
		return cfg_error(err, SP_ERR_INVALID_ARG, -1, NULL, "input height and width must be between 1 and %d",
						 SP_NN_MAX_INPUT_SIDE);
	if (!(in->scale > 0) || !isfinite(in->scale))
		return cfg_error(err, SP_ERR_INVALID_ARG, -1, NULL, "input scale must be positive");
	for (int c = 0; c < in->channels; c++)
		if (!(in->std[c] > 0) || !isfinite(in->std[c]) || !isfinite(in->mean[c]))
			return cfg_error(err, SP_ERR_INVALID_ARG, -1, NULL, "input std must be positive and mean finite");
	if (in->fit == SP_FIT_SHORTER_CENTER_CROP &&
		(in->resize_shorter < 1 || in->resize_shorter > SP_PREPROCESS_MAX_SIDE))
		return cfg_error(err, SP_ERR_INVALID_ARG, -1, NULL,
						 "input \"resize_shorter\" must be between 1 and %d with fit \"%s\"",
						 SP_PREPROCESS_MAX_SIDE, sp_fit_mode_name(in->fit));
	if (in->fit != SP_FIT_SHORTER_CENTER_CROP && in->resize_shorter != 0)
		return cfg_error(err, SP_ERR_INVALID_ARG, -1, NULL,
						 "input \"resize_shorter\" is only used with fit \"%s\"",
						 sp_fit_mode_name(SP_FIT_SHORTER_CENTER_CROP));
	if (cfg->distance != SP_DISTANCE_COSINE && cfg->distance != SP_DISTANCE_L2)
		return cfg_error(err, SP_ERR_INVALID_ARG, -1, NULL, "unknown distance");
	if (cfg->has_threshold && !isfinite(cfg->threshold))
		return cfg_error(err, SP_ERR_INVALID_ARG, -1, NULL, "threshold must be finite");
	if (cfg->format_version == 2)
	{
		/* the graph is checked when it is built (sp_nn_graph_model_bind) */
		if (!cfg->graph_json || cfg->n_layers != 0)
			return cfg_error(err, SP_ERR_INVALID_ARG, -1, NULL, "a format 2 config has a \"graph\" and no \"layers\"");
		if (cfg->embedding_dim < 1 || cfg->embedding_dim > SP_NN_MAX_FEATURES)
			return cfg_error(err, SP_ERR_INVALID_ARG, -1, NULL, "embedding_dim must be between 1 and %d",
							 SP_NN_MAX_FEATURES);
		return SP_OK;
	}
	if (cfg->n_layers < 1 || cfg->n_layers > SP_NN_MAX_LAYERS)
		return cfg_error(err, SP_ERR_INVALID_ARG, -1, NULL, "the network must have between 1 and %d layers",
						 SP_NN_MAX_LAYERS);

	C = in->channels;
	H = in->height;
	W = in->width;
	for (int i = 0; i < cfg->n_layers; i++)
	{
		sp_nn_layer *l = &cfg->layers[i];
		bool		has_params = l->type == SP_NN_CONV2D || l->type == SP_NN_LINEAR || l->type == SP_NN_BATCHNORM;
		size_t		act;

		l->in_c = C;
		l->in_h = H;
		l->in_w = W;
		l->dense = dense;
		if (has_params && !valid_name(l->name))
			return cfg_error(err, SP_ERR_INVALID_ARG, i, l,
							 "a name of 1 to %d characters from [A-Za-z0-9_.-] is required",
							 SP_NN_NAME_LEN - 1);
		if (l->name[0])
		{
			if (!valid_name(l->name))
				return cfg_error(err, SP_ERR_INVALID_ARG, i, l, "invalid layer name");
			for (int j = 0; j < i; j++)
				if (strcmp(cfg->layers[j].name, l->name) == 0)
					return cfg_error(err, SP_ERR_INVALID_ARG, i, l, "duplicate layer name");
		}
		switch (l->type)
		{
			case SP_NN_CONV2D:
				if (dense)
					return cfg_error(err, SP_ERR_INVALID_ARG, i, l, "conv2d after flatten");
				if (l->in != C)
					return cfg_error(err, SP_ERR_INVALID_ARG, i, l, "in is %d but the layer receives %d channels", l->in, C);
				if (l->out < 1 || l->out > SP_NN_MAX_CHANNELS)
					return cfg_error(err, SP_ERR_INVALID_ARG, i, l, "out must be between 1 and %d", SP_NN_MAX_CHANNELS);
				if (l->kernel < 1 || l->kernel > SP_NN_MAX_KERNEL)
					return cfg_error(err, SP_ERR_INVALID_ARG, i, l, "kernel must be between 1 and %d", SP_NN_MAX_KERNEL);
				if (l->stride < 1 || l->stride > SP_NN_MAX_STRIDE)
					return cfg_error(err, SP_ERR_INVALID_ARG, i, l, "stride must be between 1 and %d", SP_NN_MAX_STRIDE);
				if (l->padding < 0 || l->padding >= l->kernel)
					return cfg_error(err, SP_ERR_INVALID_ARG, i, l, "padding must be between 0 and kernel - 1");
				if (H + 2 * l->padding < l->kernel || W + 2 * l->padding < l->kernel)
					return cfg_error(err, SP_ERR_INVALID_ARG, i, l, "kernel %d is larger than the padded %dx%d input",
									 l->kernel, H, W);
				H = (H + 2 * l->padding - l->kernel) / l->stride + 1;
				W = (W + 2 * l->padding - l->kernel) / l->stride + 1;
				C = l->out;
				params += (size_t) l->out * l->in * l->kernel * l->kernel + (l->bias ? (size_t) l->out : 0);
				break;
			case SP_NN_LINEAR:
				if (!dense)
					return cfg_error(err, SP_ERR_INVALID_ARG, i, l, "linear needs a flatten layer before it");
				if (l->in != C)
					return cfg_error(err, SP_ERR_INVALID_ARG, i, l, "in is %d but the layer receives %d features", l->in, C);
				if (l->out < 1 || l->out > SP_NN_MAX_FEATURES)
					return cfg_error(err, SP_ERR_INVALID_ARG, i, l, "out must be between 1 and %d", SP_NN_MAX_FEATURES);
				C = l->out;
				params += (size_t) l->out * l->in + (l->bias ? (size_t) l->out : 0);
				break;
			case SP_NN_BATCHNORM:
				if (!(l->eps > 0) || !isfinite(l->eps))
					return cfg_error(err, SP_ERR_INVALID_ARG, i, l, "eps must be positive");
				if (!(l->momentum >= 0 && l->momentum <= 1))
					return cfg_error(err, SP_ERR_INVALID_ARG, i, l, "momentum must be between 0 and 1");
				if (l->in != 0 && l->in != C)
					return cfg_error(err, SP_ERR_INVALID_ARG, i, l, "num_features is %d but the layer receives %d channels",
									 l->in, C);
				l->in = l->out = C;
				params += 2 * (size_t) C;
				break;
			case SP_NN_RELU:
				break;
			case SP_NN_MAXPOOL:
			case SP_NN_AVGPOOL:
				if (dense)
					return cfg_error(err, SP_ERR_INVALID_ARG, i, l, "pooling after flatten");
				if (l->kernel < 1 || l->kernel > SP_NN_MAX_KERNEL)
					return cfg_error(err, SP_ERR_INVALID_ARG, i, l, "kernel must be between 1 and %d", SP_NN_MAX_KERNEL);
				if (l->stride < 1 || l->stride > SP_NN_MAX_KERNEL)
					return cfg_error(err, SP_ERR_INVALID_ARG, i, l, "stride must be between 1 and %d", SP_NN_MAX_KERNEL);
				if (l->padding < 0 || l->padding > l->kernel / 2)
					return cfg_error(err, SP_ERR_INVALID_ARG, i, l, "padding must be between 0 and kernel / 2");
				if (H + 2 * l->padding < l->kernel || W + 2 * l->padding < l->kernel)
					return cfg_error(err, SP_ERR_INVALID_ARG, i, l, "kernel %d is larger than the padded %dx%d input",
									 l->kernel, H, W);
				H = (H + 2 * l->padding - l->kernel) / l->stride + 1;
				W = (W + 2 * l->padding - l->kernel) / l->stride + 1;
				break;
			case SP_NN_FLATTEN:
				if (dense)
					return cfg_error(err, SP_ERR_INVALID_ARG, i, l, "second flatten");
				if ((size_t) C * H * W > SP_NN_MAX_FEATURES)
					return cfg_error(err, SP_ERR_LIMIT, i, l, "too many features");
				C = C * H * W;
				H = W = 1;
				dense = true;
				break;
			case SP_NN_L2NORM:
				if (!dense)
					return cfg_error(err, SP_ERR_INVALID_ARG, i, l, "l2norm needs a flatten layer before it");
				break;
			case SP_NN_SKIP:
				if (depth == SP_NN_MAX_SKIP_DEPTH)
					return cfg_error(err, SP_ERR_LIMIT, i, l, "skips nest more than %d deep", SP_NN_MAX_SKIP_DEPTH);
				saved[depth][0] = C;
				saved[depth][1] = H;
				saved[depth][2] = W;
				saved[depth++][3] = dense;
				break;
			case SP_NN_ADD:
				if (depth == 0)
					return cfg_error(err, SP_ERR_INVALID_ARG, i, l, "add without a skip before it");
				depth--;
				if (saved[depth][0] != C || saved[depth][1] != H || saved[depth][2] != W || saved[depth][3] != dense)
					return cfg_error(err, SP_ERR_INVALID_ARG, i, l,
									 "receives %dx%dx%d values but its skip remembered %dx%dx%d",
									 C, H, W, saved[depth][0], saved[depth][1], saved[depth][2]);
				break;
			default:
				return cfg_error(err, SP_ERR_INVALID_ARG, i, NULL, "unknown layer type");
		}
		act = (size_t) C * H * W;
		if (act > SP_NN_MAX_ACT)
			return cfg_error(err, SP_ERR_LIMIT, i, l, "activation of %zu values per image exceeds the limit", act);
		if (params > SP_NN_MAX_PARAMS)
			return cfg_error(err, SP_ERR_LIMIT, i, l, "too many parameters");
		l->out_c = C;
		l->out_h = H;
		l->out_w = W;
		l->dense = dense || l->type == SP_NN_FLATTEN;
	}
	if (depth > 0)
		return cfg_error(err, SP_ERR_INVALID_ARG, -1, NULL, "%d skip layers have no add", depth);
	if ((size_t) C * H * W != (size_t) cfg->embedding_dim)
		return cfg_error(err, SP_ERR_INVALID_ARG, -1, NULL,
						 "embedding_dim is %d but the network outputs %zu values", cfg->embedding_dim,
						 (size_t) C * H * W);
	if (cfg->embedding_dim < 1 || cfg->embedding_dim > 65536)
		return cfg_error(err, SP_ERR_INVALID_ARG, -1, NULL, "embedding_dim must be between 1 and 65536");
	return SP_OK;
}

/* JSON field helpers. */

static sp_status
get_int(const sp_json *obj, const char *key, bool required, int def, int *out,
		int li, sp_error *err)
{
	const sp_json *v = sp_json_get(obj, key);
	int64_t		x;

	if (!v)
	{
		if (required)
			return cfg_error(err, SP_ERR_INVALID_ARG, li, NULL, "missing \"%s\"", key);
		*out = def;
		return SP_OK;
	}
	if (!sp_json_get_i64(v, &x) || x < -1000000000 || x > 1000000000)
		return cfg_error(err, SP_ERR_INVALID_ARG, li, NULL, "\"%s\" must be an integer", key);
	*out = (int) x;
	return SP_OK;
}

static sp_status
get_num(const sp_json *obj, const char *key, double def, double *out, int li, sp_error *err)
{
	const sp_json *v = sp_json_get(obj, key);

	if (!v)
	{
		*out = def;
		return SP_OK;
	}
	if (v->type != SP_JSON_NUMBER)
		return cfg_error(err, SP_ERR_INVALID_ARG, li, NULL, "\"%s\" must be a number", key);
	*out = v->number;
	return SP_OK;
}

static sp_status
get_bool(const sp_json *obj, const char *key, bool def, bool *out, int li, sp_error *err)
{
	const sp_json *v = sp_json_get(obj, key);

	if (!v)
	{
		*out = def;
		return SP_OK;
	}
	if (v->type != SP_JSON_BOOL)
		return cfg_error(err, SP_ERR_INVALID_ARG, li, NULL, "\"%s\" must be true or false", key);
	*out = v->boolean;
	return SP_OK;
}

static sp_status
check_keys(const sp_json *obj, const char *const *allowed, int li, const char *where, sp_error *err)
{
	const char *k = sp_json_unknown_key(obj, allowed);

	if (k)
		return cfg_error(err, SP_ERR_INVALID_ARG, li, NULL, "unknown field \"%.60s\" in %s", k, where);
	return SP_OK;
}

static sp_status
get_float_list(const sp_json *obj, const char *key, int channels, float def, float out[3],
			   sp_error *err)
{
	const sp_json *v = sp_json_get(obj, key);

	if (!v)
	{
		for (int c = 0; c < 3; c++)
			out[c] = def;
		return SP_OK;
	}
	if (v->type == SP_JSON_NUMBER)
	{
		for (int c = 0; c < 3; c++)
			out[c] = (float) v->number;
		return SP_OK;
	}
	if (v->type != SP_JSON_ARRAY || (v->count != 1 && v->count != (size_t) channels))
		return cfg_error(err, SP_ERR_INVALID_ARG, -1, NULL,
						 "input \"%s\" must be a number or an array of 1 or %d numbers", key, channels);
	for (int c = 0; c < 3; c++)
	{
		const sp_json *e = v->items[v->count == 1 ? 0 : (c < channels ? c : 0)];

		if (e->type != SP_JSON_NUMBER)
			return cfg_error(err, SP_ERR_INVALID_ARG, -1, NULL, "input \"%s\" must contain numbers", key);
		out[c] = (float) e->number;
	}
	return SP_OK;
}

static sp_status
dup_compact(const sp_env *env, const sp_json *v, char **out, sp_error *err)
{
	sp_jsonw	w;
	size_t		len;

	sp_jsonw_init(&w, env, false);
	sp_jsonw_value(&w, v);
	return sp_jsonw_finish(&w, out, &len, err);
}

static sp_status
parse_layer(const sp_json *lj, int li, sp_nn_layer *l, sp_error *err)
{
	const sp_json *t = sp_json_get(lj, "type");
	const sp_json *nm;
	sp_status	st;
	double		d = 0;

	memset(l, 0, sizeof(*l));
	if (lj->type != SP_JSON_OBJECT)
		return cfg_error(err, SP_ERR_INVALID_ARG, li, NULL, "layer must be an object");
	if (!t || t->type != SP_JSON_STRING)
		return cfg_error(err, SP_ERR_INVALID_ARG, li, NULL, "missing \"type\"");
	nm = sp_json_get(lj, "name");
	if (nm)
	{
		if (nm->type != SP_JSON_STRING || nm->str_len >= SP_NN_NAME_LEN)
			return cfg_error(err, SP_ERR_INVALID_ARG, li, NULL, "\"name\" must be a string shorter than %d bytes",
							 SP_NN_NAME_LEN);
		memcpy(l->name, nm->str, nm->str_len + 1);
	}
	if (strcmp(t->str, "conv2d") == 0)
	{
		static const char *const keys[] = {"type", "name", "in", "out", "kernel", "stride", "padding", "bias", NULL};

		l->type = SP_NN_CONV2D;
		if ((st = check_keys(lj, keys, li, "conv2d layer", err)) ||
			(st = get_int(lj, "in", true, 0, &l->in, li, err)) ||
			(st = get_int(lj, "out", true, 0, &l->out, li, err)) ||
			(st = get_int(lj, "kernel", true, 0, &l->kernel, li, err)) ||
			(st = get_int(lj, "stride", false, 1, &l->stride, li, err)) ||
			(st = get_int(lj, "padding", false, 0, &l->padding, li, err)) ||
			(st = get_bool(lj, "bias", true, &l->bias, li, err)))
			return st;
	}
	else if (strcmp(t->str, "linear") == 0)
	{
		static const char *const keys[] = {"type", "name", "in", "out", "bias", NULL};

		l->type = SP_NN_LINEAR;
		if ((st = check_keys(lj, keys, li, "linear layer", err)) ||
			(st = get_int(lj, "in", true, 0, &l->in, li, err)) ||
			(st = get_int(lj, "out", true, 0, &l->out, li, err)) ||
			(st = get_bool(lj, "bias", true, &l->bias, li, err)))
			return st;
	}
	else if (strcmp(t->str, "batchnorm") == 0)
	{
		static const char *const keys[] = {"type", "name", "eps", "momentum", "num_features", NULL};

		l->type = SP_NN_BATCHNORM;
		if ((st = check_keys(lj, keys, li, "batchnorm layer", err)) ||
			(st = get_int(lj, "num_features", false, 0, &l->in, li, err)))
			return st;
		if ((st = get_num(lj, "eps", 1e-5, &d, li, err)))
			return st;
		l->eps = (float) d;
		if ((st = get_num(lj, "momentum", 0.1, &d, li, err)))
			return st;
		l->momentum = (float) d;
	}
	else if (strcmp(t->str, "maxpool") == 0 || strcmp(t->str, "avgpool") == 0)
	{
		static const char *const keys[] = {"type", "name", "kernel", "stride", "padding", NULL};

		l->type = t->str[0] == 'm' ? SP_NN_MAXPOOL : SP_NN_AVGPOOL;
		if ((st = check_keys(lj, keys, li, "pooling layer", err)) ||
			(st = get_int(lj, "kernel", true, 0, &l->kernel, li, err)) ||
			(st = get_int(lj, "stride", false, l->kernel, &l->stride, li, err)) ||
			(st = get_int(lj, "padding", false, 0, &l->padding, li, err)))
			return st;
	}
	else if (strcmp(t->str, "relu") == 0 || strcmp(t->str, "flatten") == 0 ||
			 strcmp(t->str, "l2norm") == 0 || strcmp(t->str, "skip") == 0 || strcmp(t->str, "add") == 0)
	{
		static const char *const keys[] = {"type", "name", NULL};

		l->type = t->str[0] == 'r' ? SP_NN_RELU : t->str[0] == 'f' ? SP_NN_FLATTEN :
			t->str[0] == 'l' ? SP_NN_L2NORM : t->str[0] == 's' ? SP_NN_SKIP : SP_NN_ADD;
		if ((st = check_keys(lj, keys, li, "layer", err)))
			return st;
	}
	else
		return cfg_error(err, SP_ERR_INVALID_ARG, li, NULL, "unknown layer type \"%.40s\"", t->str);
	return SP_OK;
}

sp_status
sp_nn_config_parse(const sp_env *env, const char *json, size_t len,
				   sp_nn_config **out, sp_error *err)
{
	static const char *const top_keys[] = {"name", "format_version", "input", "layers", "graph",
		"embedding_dim", "distance", "threshold", "metadata", "training", "quality", "source", "classifier", NULL};
	static const char *const in_keys[] = {"channels", "height", "width", "resize", "fit", "mean", "std",
	"scale", "resize_shorter", NULL};
	sp_json_doc *doc = NULL;
	const sp_json *root,
			   *v,
			   *in,
			   *layers;
	sp_nn_config *cfg = NULL;
	sp_status	st;
	double		d = 0;

	*out = NULL;
	st = sp_json_parse(env, json, len, 32, SP_NN_MAX_GRAPH_CONFIG_BYTES, "model config", &doc, err);
	if (st != SP_OK)
		return st;
	root = sp_json_root(doc);
	if (root->type != SP_JSON_OBJECT)
	{
		st = cfg_error(err, SP_ERR_INVALID_ARG, -1, NULL, "the document must be a JSON object");
		goto fail;
	}
	if ((st = check_keys(root, top_keys, -1, "the config", err)))
		goto fail;
	cfg = sp_alloc(env, sizeof(*cfg));
	if (!cfg)
	{
		st = sp_set_error(err, SP_ERR_NOMEM, "out of memory");
		goto fail;
	}
	memset(cfg, 0, sizeof(*cfg));

	v = sp_json_get(root, "name");
	if (!v || v->type != SP_JSON_STRING || v->str_len == 0 || v->str_len >= sizeof(cfg->name))
	{
		st = cfg_error(err, SP_ERR_INVALID_ARG, -1, NULL, "\"name\" must be a non-empty string of at most %zu bytes",
					   sizeof(cfg->name) - 1);
		goto fail;
	}
	memcpy(cfg->name, v->str, v->str_len + 1);
	if ((st = get_int(root, "format_version", true, 0, &cfg->format_version, -1, err)))
		goto fail;
	if ((st = get_int(root, "embedding_dim", true, 0, &cfg->embedding_dim, -1, err)))
		goto fail;

	v = sp_json_get(root, "distance");
	cfg->distance = SP_DISTANCE_COSINE;
	if (v)
	{
		if (v->type == SP_JSON_STRING && strcmp(v->str, "cosine") == 0)
			cfg->distance = SP_DISTANCE_COSINE;
		else if (v->type == SP_JSON_STRING && strcmp(v->str, "l2") == 0)
			cfg->distance = SP_DISTANCE_L2;
		else
		{
			st = cfg_error(err, SP_ERR_INVALID_ARG, -1, NULL, "\"distance\" must be \"cosine\" or \"l2\"");
			goto fail;
		}
	}
	v = sp_json_get(root, "threshold");
	if (v && v->type != SP_JSON_NULL)
	{
		if (v->type != SP_JSON_NUMBER)
		{
			st = cfg_error(err, SP_ERR_INVALID_ARG, -1, NULL, "\"threshold\" must be a number or null");
			goto fail;
		}
		cfg->has_threshold = true;
		cfg->threshold = v->number;
	}
	{
		static const char *const free_keys[] = {"metadata", "training", "quality", "source", "graph",
		"classifier"};
		char	  **dst[6] = {&cfg->metadata_json, &cfg->training_json, &cfg->quality_json,
		&cfg->source_json, &cfg->graph_json, &cfg->classifier_json};

		for (int k = 0; k < 6; k++)
		{
			v = sp_json_get(root, free_keys[k]);
			if (!v || v->type == SP_JSON_NULL)
				continue;
			if (v->type != SP_JSON_OBJECT)
			{
				st = cfg_error(err, SP_ERR_INVALID_ARG, -1, NULL, "\"%s\" must be an object", free_keys[k]);
				goto fail;
			}
			if ((st = dup_compact(env, v, dst[k], err)))
				goto fail;
		}
	}

	in = sp_json_get(root, "input");
	if (!in || in->type != SP_JSON_OBJECT)
	{
		st = cfg_error(err, SP_ERR_INVALID_ARG, -1, NULL, "\"input\" must be an object");
		goto fail;
	}
	if ((st = check_keys(in, in_keys, -1, "input", err)))
		goto fail;
	sp_preprocess_spec_default(&cfg->input);
	if ((st = get_int(in, "channels", true, 0, &cfg->input.channels, -1, err)) ||
		(st = get_int(in, "height", true, 0, &cfg->input.height, -1, err)) ||
		(st = get_int(in, "width", true, 0, &cfg->input.width, -1, err)))
		goto fail;
	v = sp_json_get(in, "resize");
	if (v && (v->type != SP_JSON_STRING || !sp_resize_method_parse(v->str, &cfg->input.resize)))
	{
		st = cfg_error(err, SP_ERR_INVALID_ARG, -1, NULL,
					   "input \"resize\" must be \"bilinear\", \"area\" or \"pil_bilinear\"");
		goto fail;
	}
	v = sp_json_get(in, "fit");
	if (v && (v->type != SP_JSON_STRING || !sp_fit_mode_parse(v->str, &cfg->input.fit)))
	{
		st = cfg_error(err, SP_ERR_INVALID_ARG, -1, NULL,
					   "input \"fit\" must be \"stretch\", \"center_crop\" or \"resize_shorter_then_center_crop\"");
		goto fail;
	}
	if ((st = get_int(in, "resize_shorter", false, 0, &cfg->input.resize_shorter, -1, err)))
		goto fail;
	if ((st = get_float_list(in, "mean", cfg->input.channels, 0.0f, cfg->input.mean, err)) ||
		(st = get_float_list(in, "std", cfg->input.channels, 1.0f, cfg->input.std, err)))
		goto fail;
	if ((st = get_num(in, "scale", 255.0, &d, -1, err)))
		goto fail;
	cfg->input.scale = (float) d;

	layers = sp_json_get(root, "layers");
	if (cfg->format_version == 1 && (cfg->graph_json || cfg->source_json || len > SP_NN_MAX_CONFIG_BYTES))
	{
		st = cfg_error(err, SP_ERR_INVALID_ARG, -1, NULL,
					   "a format 1 config has \"layers\", no \"graph\" or \"source\", and at most %zu bytes",
					   SP_NN_MAX_CONFIG_BYTES);
		goto fail;
	}
	if (cfg->format_version == 2)
	{
		if (layers)
		{
			st = cfg_error(err, SP_ERR_INVALID_ARG, -1, NULL, "a format 2 config has a \"graph\" and no \"layers\"");
			goto fail;
		}
	}
	else if (!layers || layers->type != SP_JSON_ARRAY || layers->count < 1 || layers->count > SP_NN_MAX_LAYERS)
	{
		st = cfg_error(err, SP_ERR_INVALID_ARG, -1, NULL, "\"layers\" must be an array of 1 to %d layers",
					   SP_NN_MAX_LAYERS);
		goto fail;
	}
	if (layers)
	{
		cfg->layers = sp_alloc_array(env, layers->count, sizeof(sp_nn_layer));
		if (!cfg->layers)
		{
			st = sp_set_error(err, SP_ERR_NOMEM, "out of memory");
			goto fail;
		}
		cfg->n_layers = (int) layers->count;
		for (int i = 0; i < cfg->n_layers; i++)
			if ((st = parse_layer(layers->items[i], i, &cfg->layers[i], err)))
				goto fail;
	}
	if ((st = sp_nn_config_validate(cfg, err)))
		goto fail;
	if (cfg->classifier_json &&
		(st = sp_nn_classifier_parse(env, cfg->classifier_json, strlen(cfg->classifier_json), cfg->embedding_dim,
									 NULL, err)))
		goto fail;
	sp_json_free(env, doc);
	*out = cfg;
	return SP_OK;

fail:
	sp_json_free(env, doc);
	sp_nn_config_free(env, cfg);
	return st;
}

void
sp_nn_config_free(const sp_env *env, sp_nn_config *cfg)
{
	if (!cfg)
		return;
	sp_free(env, cfg->layers);
	sp_free(env, cfg->metadata_json);
	sp_free(env, cfg->training_json);
	sp_free(env, cfg->quality_json);
	sp_free(env, cfg->graph_json);
	sp_free(env, cfg->source_json);
	sp_free(env, cfg->classifier_json);
	sp_free(env, cfg);
}

sp_status
sp_nn_config_to_json(const sp_env *env, const sp_nn_config *cfg, bool pretty,
					 char **out, size_t *out_len, sp_error *err)
{
	sp_jsonw	w;
	const sp_preprocess_spec *in = &cfg->input;
	const char *free_keys[4] = {"metadata", "training", "quality", "classifier"};
	const char *free_vals[4] = {cfg->metadata_json, cfg->training_json, cfg->quality_json, cfg->classifier_json};

	sp_jsonw_init(&w, env, pretty);
	sp_jsonw_begin_object(&w);
	sp_jsonw_key(&w, "name");
	sp_jsonw_string(&w, cfg->name);
	sp_jsonw_key(&w, "format_version");
	sp_jsonw_int(&w, cfg->format_version);
	sp_jsonw_key(&w, "input");
	sp_jsonw_begin_object(&w);
	sp_jsonw_key(&w, "channels");
	sp_jsonw_int(&w, in->channels);
	sp_jsonw_key(&w, "height");
	sp_jsonw_int(&w, in->height);
	sp_jsonw_key(&w, "width");
	sp_jsonw_int(&w, in->width);
	sp_jsonw_key(&w, "resize");
	sp_jsonw_string(&w, sp_resize_method_name(in->resize));
	sp_jsonw_key(&w, "fit");
	sp_jsonw_string(&w, sp_fit_mode_name(in->fit));
	if (in->resize_shorter != 0)
	{
		/* written only when used, so older configs round-trip byte for byte */
		sp_jsonw_key(&w, "resize_shorter");
		sp_jsonw_int(&w, in->resize_shorter);
	}
	sp_jsonw_key(&w, "mean");
	sp_jsonw_inline_next(&w);
	sp_jsonw_begin_array(&w);
	for (int c = 0; c < in->channels; c++)
		sp_jsonw_float(&w, in->mean[c]);
	sp_jsonw_end_array(&w);
	sp_jsonw_key(&w, "std");
	sp_jsonw_inline_next(&w);
	sp_jsonw_begin_array(&w);
	for (int c = 0; c < in->channels; c++)
		sp_jsonw_float(&w, in->std[c]);
	sp_jsonw_end_array(&w);
	sp_jsonw_key(&w, "scale");
	sp_jsonw_float(&w, in->scale);
	sp_jsonw_end_object(&w);
	if (cfg->graph_json)
	{
		sp_jsonw_key(&w, "graph");
		sp_jsonw_raw(&w, cfg->graph_json, strlen(cfg->graph_json));
	}
	if (cfg->source_json)
	{
		sp_jsonw_key(&w, "source");
		sp_jsonw_raw(&w, cfg->source_json, strlen(cfg->source_json));
	}
	if (cfg->format_version == 1)
	{
		sp_jsonw_key(&w, "layers");
		sp_jsonw_begin_array(&w);
	}
	for (int i = 0; i < cfg->n_layers; i++)
	{
		const sp_nn_layer *l = &cfg->layers[i];

		sp_jsonw_inline_next(&w);	/* one layer per line */
		sp_jsonw_begin_object(&w);
		sp_jsonw_key(&w, "type");
		sp_jsonw_string(&w, sp_nn_layer_type_name(l->type));
		if (l->name[0])
		{
			sp_jsonw_key(&w, "name");
			sp_jsonw_string(&w, l->name);
		}
		switch (l->type)
		{
			case SP_NN_CONV2D:
			case SP_NN_LINEAR:
				sp_jsonw_key(&w, "in");
				sp_jsonw_int(&w, l->in);
				sp_jsonw_key(&w, "out");
				sp_jsonw_int(&w, l->out);
				if (l->type == SP_NN_CONV2D)
				{
					sp_jsonw_key(&w, "kernel");
					sp_jsonw_int(&w, l->kernel);
					sp_jsonw_key(&w, "stride");
					sp_jsonw_int(&w, l->stride);
					sp_jsonw_key(&w, "padding");
					sp_jsonw_int(&w, l->padding);
				}
				if (!l->bias)
				{
					sp_jsonw_key(&w, "bias");
					sp_jsonw_bool(&w, false);
				}
				break;
			case SP_NN_BATCHNORM:
				sp_jsonw_key(&w, "eps");
				sp_jsonw_float(&w, l->eps);
				sp_jsonw_key(&w, "momentum");
				sp_jsonw_float(&w, l->momentum);
				break;
			case SP_NN_MAXPOOL:
			case SP_NN_AVGPOOL:
				sp_jsonw_key(&w, "kernel");
				sp_jsonw_int(&w, l->kernel);
				sp_jsonw_key(&w, "stride");
				sp_jsonw_int(&w, l->stride);
				if (l->padding)
				{
					sp_jsonw_key(&w, "padding");
					sp_jsonw_int(&w, l->padding);
				}
				break;
			default:
				break;
		}
		sp_jsonw_end_object(&w);
	}
	if (cfg->format_version == 1)
		sp_jsonw_end_array(&w);
	sp_jsonw_key(&w, "embedding_dim");
	sp_jsonw_int(&w, cfg->embedding_dim);
	sp_jsonw_key(&w, "distance");
	sp_jsonw_string(&w, sp_distance_kind_name(cfg->distance));
	sp_jsonw_key(&w, "threshold");
	if (cfg->has_threshold)
		sp_jsonw_number(&w, cfg->threshold);
	else
		sp_jsonw_null(&w);
	for (int k = 0; k < 4; k++)
	{
		sp_json_doc *doc;
		sp_error	e2;

		if (!free_vals[k])
			continue;
		sp_jsonw_key(&w, free_keys[k]);
		if (sp_json_parse(env, free_vals[k], strlen(free_vals[k]), 0, 0, free_keys[k], &doc, &e2) != SP_OK)
		{
			sp_jsonw_discard(&w);
			*err = e2;
			return e2.code;
		}
		sp_jsonw_value(&w, sp_json_root(doc));
		sp_json_free(env, doc);
	}
	sp_jsonw_end_object(&w);
	return sp_jsonw_finish(&w, out, out_len, err);
}

sp_status
sp_nn_config_copy(const sp_env *env, const sp_nn_config *src, sp_nn_config **out, sp_error *err)
{
	char	   *txt;
	size_t		len;
	sp_status	st;

	*out = NULL;
	st = sp_nn_config_to_json(env, src, false, &txt, &len, err);
	if (st != SP_OK)
		return st;
	st = sp_nn_config_parse(env, txt, len, out, err);
	sp_free(env, txt);
	return st;
}

size_t
sp_nn_config_param_count(const sp_nn_config *cfg)
{
	size_t		n = 0;

	for (int i = 0; i < cfg->n_layers; i++)
	{
		const sp_nn_layer *l = &cfg->layers[i];

		if (l->type == SP_NN_CONV2D)
			n += (size_t) l->out * l->in * l->kernel * l->kernel + (l->bias ? (size_t) l->out : 0);
		else if (l->type == SP_NN_LINEAR)
			n += (size_t) l->out * l->in + (l->bias ? (size_t) l->out : 0);
		else if (l->type == SP_NN_BATCHNORM)
			n += 2 * (size_t) l->in;
	}
	return n;
}

double
sp_nn_config_flops(const sp_nn_config *cfg)
{
	double		f = 0;

	for (int i = 0; i < cfg->n_layers; i++)
	{
		const sp_nn_layer *l = &cfg->layers[i];

		if (l->type == SP_NN_CONV2D)
			f += 2.0 * l->out * l->out_h * l->out_w * (double) l->in * l->kernel * l->kernel;
		else if (l->type == SP_NN_LINEAR)
			f += 2.0 * l->out * (double) l->in;
	}
	return f;
}

/* ---------------------------------------------------------------------- */
/* Model load. */

typedef struct binder
{
	const sp_safetensors *st;
	bool	   *used;
	sp_error   *err;
} binder;

/* Find "<layer>.<suffix>" with the expected shape; NULL + error otherwise. */
static const sp_st_tensor *
bind(binder *b, const sp_nn_layer *l, int li, const char *suffix, int ndim, const int64_t *shape)
{
	char		name[SP_NN_NAME_LEN + 32];
	const sp_st_tensor *t = NULL;
	int			idx = -1;

	snprintf(name, sizeof(name), "%s.%s", l->name, suffix);
	for (int i = 0; i < b->st->n_tensors; i++)
		if (strcmp(b->st->tensors[i].name, name) == 0)
		{
			t = &b->st->tensors[i];
			idx = i;
			break;
		}
	if (!t)
	{
		cfg_error(b->err, SP_ERR_INVALID_ARG, li, l, "weights file has no tensor \"%s\"", name);
		return NULL;
	}
	if (!t->data)
	{
		cfg_error(b->err, SP_ERR_UNSUPPORTED, li, l, "tensor \"%s\" has unsupported dtype %s", name, t->dtype_name);
		return NULL;
	}
	{
		bool		ok = t->ndim == ndim;

		for (int d = 0; ok && d < ndim; d++)
			ok = t->shape[d] == shape[d];
		if (!ok)
		{
			char		want[96] = "",
						got[96] = "";

			for (int d = 0; d < ndim; d++)
				snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s%lld", d ? "," : "",
						 (long long) shape[d]);
			for (int d = 0; d < t->ndim; d++)
				snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%lld", d ? "," : "",
						 (long long) t->shape[d]);
			cfg_error(b->err, SP_ERR_INVALID_ARG, li, l, "tensor \"%s\" has shape [%s], expected [%s]",
					  name, got, want);
			return NULL;
		}
	}
	/* a NaN or infinite weight would silently poison every embedding */
	for (size_t k = 0; k < t->numel; k++)
		if (!isfinite(t->data[k]))
		{
			cfg_error(b->err, SP_ERR_INVALID_ARG, li, l, "tensor \"%s\" contains NaN or infinity at index %zu",
					  name, k);
			return NULL;
		}
	b->used[idx] = true;
	return t;
}

sp_status
sp_nn_model_load(const sp_env *env, const char *config_json, size_t config_len,
				 const uint8_t *weights, size_t weights_len, sp_nn_model **out, sp_error *err)
{
	return sp_nn_model_load_ex(env, config_json, config_len, weights, weights_len, 0, out, err);
}

sp_status
sp_nn_model_load_ex(const sp_env *env, const char *config_json, size_t config_len,
					const uint8_t *weights, size_t weights_len, int flags,
					sp_nn_model **out, sp_error *err)
{
	sp_nn_config *cfg = NULL;
	sp_safetensors *st = NULL;
	sp_nn_model *m = NULL;
	binder		bd;
	sp_status	rc;
	size_t		nparam = 0;
	float	   *pp;

	*out = NULL;
	bd.used = NULL;
	if ((rc = sp_nn_config_parse(env, config_json, config_len, &cfg, err)))
		return rc;
	if ((rc = sp_st_read_ex(env, weights, weights_len, SP_ST_SKIP_UNSUPPORTED, &st, err)))
		goto fail;

	m = sp_alloc(env, sizeof(*m));
	if (!m)
		goto nomem;
	memset(m, 0, sizeof(*m));
	m->cfg = cfg;
	if (cfg->format_version == 2)
	{
		if ((rc = sp_nn_graph_model_bind(env, m, st, err)) != SP_OK)
			goto fail;
		sp_model_content_hash(config_json, config_len, weights, weights_len, m->hash);
		sp_st_free(env, st);
		*out = m;
		return SP_OK;
	}
	m->ops = sp_alloc_array(env, (size_t) cfg->n_layers, sizeof(sp_nn_op));
	bd.used = sp_alloc_array(env, st->n_tensors > 0 ? (size_t) st->n_tensors : 1, sizeof(bool));
	if (!m->ops || !bd.used)
		goto nomem;
	memset(bd.used, 0, sizeof(bool) * (size_t) (st->n_tensors > 0 ? st->n_tensors : 1));
	bd.st = st;
	bd.err = err;

	/* parameter block: weights + biases (+ a bias created by folding) + affine pairs */
	for (int i = 0; i < cfg->n_layers; i++)
	{
		const sp_nn_layer *l = &cfg->layers[i];

		/* each tensor is rounded up to 16 floats (64 bytes) in the block */
		if (l->type == SP_NN_CONV2D)
			nparam += (size_t) l->out * l->in * l->kernel * l->kernel + (size_t) l->out + 32;
		else if (l->type == SP_NN_LINEAR)
			nparam += (size_t) l->out * l->in + (size_t) l->out + 32;
		else if (l->type == SP_NN_BATCHNORM)
			nparam += 2 * (size_t) l->in + 32;
	}
	/* + 16 floats for aligning the start to 64 bytes */
	m->params = sp_alloc_array(env, nparam + 16, sizeof(float));
	if (!m->params)
		goto nomem;
	pp = (float *) (((uintptr_t) m->params + 63) & ~(uintptr_t) 63);

	for (int i = 0; i < cfg->n_layers; i++)
	{
		const sp_nn_layer *l = &cfg->layers[i];
		sp_nn_op   *op = &m->ops[m->n_ops];
		sp_nn_op   *prev = m->n_ops > 0 ? &m->ops[m->n_ops - 1] : NULL;
		const sp_nn_layer *pl = i > 0 ? &cfg->layers[i - 1] : NULL;

		memset(op, 0, sizeof(*op));
		op->dense = l->dense;
		op->g = sp_nn_geom_of_layer(l);
		switch (l->type)
		{
			case SP_NN_CONV2D:
			case SP_NN_LINEAR:
				{
					int64_t		wshape[4] = {l->out, l->in, l->kernel, l->kernel};
					int64_t		bshape[1] = {l->out};
					size_t		wn = (size_t) l->out * l->in * (l->type == SP_NN_CONV2D ? (size_t) l->kernel * l->kernel : 1);
					const sp_st_tensor *tw,
							   *tb = NULL;
					bool		next_bn = i + 1 < cfg->n_layers && cfg->layers[i + 1].type == SP_NN_BATCHNORM;

					tw = bind(&bd, l, i, "weight", l->type == SP_NN_CONV2D ? 4 : 2, wshape);
					if (!tw)
						goto fail_err;
					if (l->bias && !(tb = bind(&bd, l, i, "bias", 1, bshape)))
						goto fail_err;
					op->kind = l->type == SP_NN_CONV2D ? SP_OP_CONV : SP_OP_LINEAR;
					memcpy(pp, tw->data, wn * sizeof(float));
					m->n_params += wn + (tb || next_bn ? (size_t) l->out : 0);
					op->w = pp;
					pp += (wn + 15) & ~(size_t) 15;
					if (tb || next_bn)
					{
						if (tb)
							memcpy(pp, tb->data, (size_t) l->out * sizeof(float));
						else
							memset(pp, 0, (size_t) l->out * sizeof(float));
						op->b = pp;
						pp += ((size_t) l->out + 15) & ~(size_t) 15;
					}
					m->n_ops++;
					break;
				}
			case SP_NN_BATCHNORM:
				{
					int64_t		shape[1] = {l->in};
					const sp_st_tensor *tg,
							   *tbeta,
							   *tm,
							   *tv;
					char		nbt[SP_NN_NAME_LEN + 32];
					bool		fold = prev && pl && (pl->type == SP_NN_CONV2D || pl->type == SP_NN_LINEAR);
					int			Cn = l->in;

					if (!(tg = bind(&bd, l, i, "weight", 1, shape)) ||
						!(tbeta = bind(&bd, l, i, "bias", 1, shape)) ||
						!(tm = bind(&bd, l, i, "running_mean", 1, shape)) ||
						!(tv = bind(&bd, l, i, "running_var", 1, shape)))
						goto fail_err;
					/* PyTorch's int64 counter is not needed for inference */
					snprintf(nbt, sizeof(nbt), "%s.num_batches_tracked", l->name);
					for (int t = 0; t < st->n_tensors; t++)
						if (strcmp(st->tensors[t].name, nbt) == 0)
							bd.used[t] = true;
					for (int c = 0; c < Cn; c++)
						if (!(tv->data[c] >= 0) || !isfinite(tv->data[c]))
						{
							cfg_error(err, SP_ERR_INVALID_ARG, i, l, "running_var must be non-negative");
							goto fail_err;
						}
					if (fold)
					{
						/* w' = w * g / sqrt(v + eps); b' = (b - m) * g / sqrt(v + eps) + beta */
						size_t		per = prev->kind == SP_OP_CONV ?
							(size_t) prev->g.C * prev->g.k * prev->g.k : (size_t) prev->g.C;
						float	   *w = (float *) prev->w;
						float	   *b = (float *) prev->b;

						for (int c = 0; c < Cn; c++)
						{
							double		s = (double) tg->data[c] / sqrt((double) tv->data[c] + l->eps);
							bool		finite = isfinite(s);

							for (size_t k = 0; k < per; k++)
							{
								w[(size_t) c * per + k] = (float) (w[(size_t) c * per + k] * s);
								finite &= isfinite(w[(size_t) c * per + k]) != 0;
							}
							b[c] = (float) (((double) b[c] - tm->data[c]) * s + tbeta->data[c]);
							/* float32 overflow here would make every embedding NaN or zero */
							if (!finite || !isfinite(b[c]))
							{
								cfg_error(err, SP_ERR_INVALID_ARG, i, l,
										  "folding into %s \"%s\" gives a non-finite weight or bias for channel %d "
										  "(weight / sqrt(running_var + eps) = %g): the statistics overflow float32",
										  sp_nn_layer_type_name(pl->type), pl->name, c, s);
								goto fail_err;
							}
						}
					}
					else
					{
						float	   *sc = pp,
								   *sh = pp + (((size_t) Cn + 15) & ~(size_t) 15);

						for (int c = 0; c < Cn; c++)
						{
							double		s = (double) tg->data[c] / sqrt((double) tv->data[c] + l->eps);

							sc[c] = (float) s;
							sh[c] = (float) (tbeta->data[c] - tm->data[c] * s);
							if (!isfinite(sc[c]) || !isfinite(sh[c]))
							{
								cfg_error(err, SP_ERR_INVALID_ARG, i, l,
										  "non-finite scale or shift for channel %d "
										  "(weight / sqrt(running_var + eps) = %g): the statistics overflow float32",
										  c, s);
								goto fail_err;
							}
						}
						pp = sh + (((size_t) Cn + 15) & ~(size_t) 15);
						op->kind = SP_OP_AFFINE;
						m->n_params += 2 * (size_t) Cn;
						op->g.O = op->g.C;
						op->w = sc;
						op->b = sh;
						m->n_ops++;
					}
					break;
				}
			case SP_NN_RELU:
				if (prev && !prev->relu && prev->dense == l->dense &&
					(prev->kind == SP_OP_CONV || prev->kind == SP_OP_LINEAR || prev->kind == SP_OP_AFFINE))
					prev->relu = true;
				else
				{
					op->kind = SP_OP_RELU;
					m->n_ops++;
				}
				break;
			case SP_NN_MAXPOOL:
			case SP_NN_AVGPOOL:
				op->kind = l->type == SP_NN_MAXPOOL ? SP_OP_MAXPOOL : SP_OP_AVGPOOL;
				op->g.O = op->g.C;
				m->n_ops++;
				break;
			case SP_NN_FLATTEN:
				break;
			case SP_NN_L2NORM:
				op->kind = SP_OP_L2NORM;
				m->n_ops++;
				break;
			case SP_NN_SKIP:
			case SP_NN_ADD:
				/* the graph (sp_nn_compile_layers) adds; a list of ops in a row cannot */
				break;
		}
	}
	if (!(flags & SP_NN_LOAD_IGNORE_UNUSED))
		for (int t = 0; t < st->n_tensors; t++)
			if (!bd.used[t])
			{
				rc = sp_set_error(err, SP_ERR_INVALID_ARG,
								  "invalid model: weights file has tensor \"%.80s\" that no layer uses",
								  st->tensors[t].name);
				goto fail;
			}

	/*
	 * Validated (tensor names, shapes, finite values, unused tensors, the
	 * folding): the layer list now runs as an operator graph like any model.
	 */
	if ((rc = sp_nn_graph_model_bind(env, m, st, err)) != SP_OK)
		goto fail;
	sp_free(env, m->ops);
	sp_free(env, m->params);
	m->ops = NULL;
	m->params = NULL;
	m->n_ops = 0;
	sp_model_content_hash(config_json, config_len, weights, weights_len, m->hash);
	sp_free(env, bd.used);
	sp_st_free(env, st);
	*out = m;
	return SP_OK;

nomem:
	rc = sp_set_error(err, SP_ERR_NOMEM, "out of memory loading the model");
	goto fail;
fail_err:
	rc = err ? err->code : SP_ERR_INVALID_ARG;
fail:
	sp_free(env, bd.used);
	sp_st_free(env, st);
	if (m)
	{
		m->cfg = NULL;
		sp_nn_model_free(env, m);
	}
	sp_nn_config_free(env, cfg);
	return rc;
}

sp_status
sp_nn_config_set_extras(const sp_env *env, const char *json, size_t len, const char *training,
						const char *quality, const char *metadata, const char *classifier,
						bool has_threshold, double threshold, char **out, size_t *out_len, sp_error *err)
{
	sp_nn_config *cfg;
	sp_status	st;
	char	  **slots[4];
	const char *vals[4] = {training, quality, metadata, classifier};

	if ((st = sp_nn_config_parse(env, json, len, &cfg, err)) != SP_OK)
		return st;
	slots[0] = &cfg->training_json;
	slots[1] = &cfg->quality_json;
	slots[2] = &cfg->metadata_json;
	slots[3] = &cfg->classifier_json;
	for (int i = 0; i < 4; i++)
	{
		sp_free(env, *slots[i]);
		*slots[i] = NULL;
		if (vals[i] && !(*slots[i] = sp_alloc(env, strlen(vals[i]) + 1)))
		{
			sp_nn_config_free(env, cfg);
			return sp_set_error(err, SP_ERR_NOMEM, "out of memory writing a model config");
		}
		if (vals[i])
			strcpy(*slots[i], vals[i]);
	}
	cfg->has_threshold = has_threshold;
	cfg->threshold = threshold;
	st = sp_nn_config_validate(cfg, err);
	if (st == SP_OK && classifier)
		st = sp_nn_classifier_parse(env, classifier, strlen(classifier), cfg->embedding_dim, NULL, err);
	if (st == SP_OK)
		st = sp_nn_config_to_json(env, cfg, true, out, out_len, err);
	sp_nn_config_free(env, cfg);
	return st;
}

void
sp_nn_model_free(const sp_env *env, sp_nn_model *m)
{
	if (!m)
		return;
	sp_nn_config_free(env, m->cfg);
	sp_graph_free(m->graph);
	sp_free(env, m->ops);
	sp_free(env, m->params);
	sp_free(env, m);
}

const sp_nn_config *
sp_nn_model_config(const sp_nn_model *m)
{
	return m ? m->cfg : NULL;
}

const char *
sp_nn_model_hash(const sp_nn_model *m)
{
	return m ? m->hash : NULL;
}

int
sp_nn_model_input_size(const sp_nn_model *m)
{
	return m ? (int) m->in_size : 0;
}

int
sp_nn_model_dim(const sp_nn_model *m)
{
	return m ? m->cfg->embedding_dim : 0;
}

size_t
sp_nn_model_param_count(const sp_nn_model *m)
{
	return m ? m->n_params : 0;
}

void
sp_nn_model_ops(const sp_nn_model *m, char *buf, size_t len)
{
	size_t		o = 0;

	buf[0] = '\0';
	if (m->cfg->format_version == 2)
	{
		sp_graph_op_summary(m->graph, buf, len);
		return;
	}
	/* format 1: the layer types in order of first appearance, with counts */
	for (int i = 0; i < m->cfg->n_layers; i++)
	{
		sp_nn_layer_type t = m->cfg->layers[i].type;
		int			count = 0;
		bool		seen = false;

		for (int j = 0; j < i; j++)
			seen |= m->cfg->layers[j].type == t;
		if (seen)
			continue;
		for (int j = i; j < m->cfg->n_layers; j++)
			count += m->cfg->layers[j].type == t;
		o += (size_t) snprintf(buf + o, o < len ? len - o : 0, "%s%s x%d", o ? ", " : "",
							   sp_nn_layer_type_name(t), count);
	}
}

size_t
sp_nn_model_activation_bytes(const sp_nn_model *m)
{
	return m->graph ? sp_graph_run_bytes(m->graph) : 0;
}

size_t
sp_nn_model_memory_bytes(const sp_nn_model *m, char *where, size_t where_len)
{
	size_t		total = m->n_params * sizeof(float);

	if (where && where_len)
		where[0] = '\0';
	if (m->graph)
	{
		const sp_graph *g = m->graph;
		size_t		best = 0;

		/* the largest node: its scratch (im2col columns, kernel buffers) or output */
		for (int oi = 0; oi < g->n_order; oi++)
		{
			const sp_node *n = &g->nodes[g->order[oi]];
			size_t		need = n->scratch;

			for (int o = 0; o < n->n_out; o++)
			{
				const sp_value *v = &g->values[n->out[o]];

				need += (size_t) sp_shape_numel(&v->shape) * sp_dtype_size(v->dtype);
			}
			if (need > best)
			{
				best = need;
				if (where && where_len)
				{
					const char *fused = sp_attr_string(n, "_fused", NULL);

					if (fused)	/* a chain a pass made: name what it stands for */
						snprintf(where, where_len, "the nodes from \"%s\" that run as one (%s)", n->name, fused);
					else
						snprintf(where, where_len, "%s node \"%s\"", n->op->name, n->name);
				}
			}
		}
		return total + sp_graph_run_bytes(g);
	}
	return total;
}

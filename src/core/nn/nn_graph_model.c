/*
 * nn_graph_model.c: every model runs as an operator graph (nn/graph.h):
 * format 2 stores it in the config's "graph" object with float constants in
 * the safetensors file, format 1's layer list compiles into one
 * (sp_nn_compile_layers).  Binding one into an sp_nn_model, running it, and
 * making one from an ONNX file plus an import config
 * (sp_nn_model_from_onnx, used by tools/import_onnx and by SQL's
 * register_onnx_model).  docs/model-format.md and docs/byo-model.md.
 */
#include "nn/graph_json.h"
#include "nn/nn_layers.h"
#include "nn/onnx_import.h"
#include "nn/op.h"
#include "util/json.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

static sp_status append_layers(sp_graph *g, const sp_nn_config *cfg, const sp_safetensors *st, const char *from,
							   const char *vprefix, const char *tprefix, char *last, sp_error *err);

/* ---------------------------------------------------------------------- */
/* Binding. */

sp_status
sp_nn_config_graph(const sp_env *env, const sp_nn_config *cfg, const sp_safetensors *st, sp_graph **out,
				   sp_error *err)
{
	sp_json_doc *doc = NULL;
	sp_status	s;

	if (cfg->format_version == 1)
		return sp_nn_compile_layers(env, cfg, st, out, err);
	*out = NULL;
	s = sp_json_parse(env, cfg->graph_json, strlen(cfg->graph_json), 64, SP_NN_MAX_GRAPH_CONFIG_BYTES,
					  "model graph", &doc, err);
	if (s != SP_OK)
		return s;
	s = sp_graph_read_json(env, sp_json_root(doc), st, out, err);
	sp_json_free(env, doc);
	return s;
}

sp_status
sp_nn_graph_model_bind(const sp_env *env, sp_nn_model *m, const sp_safetensors *st, sp_error *err)
{
	const sp_nn_config *cfg = m->cfg;
	const sp_preprocess_spec *in = &cfg->input;
	sp_graph   *g = NULL;
	sp_shape	shape = {4, {1, in->channels, in->height, in->width}};
	const sp_value *iv,
			   *ov;
	sp_graph_stats stats;
	sp_status	s;

	if ((s = sp_nn_config_graph(env, cfg, st, &g, err)) != SP_OK)
		return s;
	if (g->n_inputs != 1 || g->n_outputs != 1)
	{
		s = sp_set_error(err, SP_ERR_INVALID_ARG, "the model graph must have one input and one output (it has %d and %d)",
						 g->n_inputs, g->n_outputs);
		goto fail;
	}
	iv = &g->values[g->inputs[0]];
	if (iv->dtype != SP_DT_FLOAT || iv->shape.rank != 4)
	{
		s = sp_set_error(err, SP_ERR_INVALID_ARG, "the model graph's input \"%s\" must be a float32 tensor of rank 4 (N x C x H x W)",
						 iv->name);
		goto fail;
	}
	if ((s = sp_graph_prepare(g, &shape, err)) != SP_OK)
	{
		if (s == SP_ERR_INVALID_ARG && strstr(err->message, "graph input"))
			sp_error_hint(err, "The \"input\" object must give the channels, height and width the network expects.");
		goto fail;
	}
	ov = &g->values[g->outputs[0]];
	if (ov->dtype != SP_DT_FLOAT || sp_shape_numel(&ov->shape) != cfg->embedding_dim)
	{
		char		buf[96];

		sp_shape_format(&ov->shape, buf, sizeof buf);
		s = sp_set_error(err, SP_ERR_INVALID_ARG, "the model graph's output \"%s\" has shape %s, not %d values (embedding_dim)",
						 ov->name, buf, cfg->embedding_dim);
		goto fail;
	}
	if (sp_graph_run_bytes(g) > SP_NN_MAX_GRAPH_ARENA)
	{
		s = sp_set_error(err, SP_ERR_LIMIT, "the model needs %zu MB of activation memory per image; the limit is %zu MB",
						 sp_graph_run_bytes(g) >> 20, SP_NN_MAX_GRAPH_ARENA >> 20);
		goto fail;
	}
	sp_graph_get_stats(g, &stats);
	m->graph = g;
	m->isa = sp_nn_default_isa();
	m->direct = false;
	for (int oi = 0; oi < g->n_order; oi++)
	{
		const sp_node *n = &g->nodes[g->order[oi]];

		/* the convolution kernels that keep a plan: Conv's and the chains' */
		if (n->state && (strcmp(n->op->name, "Conv") == 0 || strcmp(n->op->name, "SiameseDirectChain") == 0))
			m->direct = true;
	}
	m->in_size = (size_t) in->channels * in->height * in->width;
	if (cfg->format_version == 2)
		m->n_params = (size_t) stats.parameters;
	return SP_OK;
fail:
	sp_graph_free(g);
	return s;
}

/* ---------------------------------------------------------------------- */
/* Running: one image at a time through the prepared graph. */

size_t
sp_nn_graph_workspace_bytes(const sp_nn_model *m)
{
	return sp_graph_run_bytes(m->graph) + 64;
}

sp_status
sp_nn_graph_forward(const sp_nn_model *m, const sp_env *env, void *arena, const float *input, int batch,
					float *out, sp_error *err)
{
	const int	dim = m->cfg->embedding_dim;

	for (int b = 0; b < batch; b++)
	{
		const void *in[1] = {input + (size_t) b * m->in_size};
		void	   *o[1] = {out + (size_t) b * dim};
		sp_status	s = sp_graph_run(m->graph, env, arena, in, o, err);

		if (s != SP_OK)
			return s;
	}
	return SP_OK;
}

/* ---------------------------------------------------------------------- */
/* From ONNX. */

/*
 * Begin the format-2 config of g (prepared with SP_GRAPH_PREPARE_PORTABLE)
 * in w: name, format_version, input (a JSON value), graph, embedding_dim
 * (the output's size) and distance.  *tensors receive the graph's float
 * constants.  The caller adds its own members, then calls config_end.
 */
static sp_status
config_begin(const sp_env *env, const sp_graph *g, const char *name, const sp_json *input,
			 sp_distance_kind distance, sp_jsonw *w, sp_st_out_tensor **tensors, int *nt, sp_error *err)
{
	sp_jsonw	gw;
	char	   *txt;
	size_t		len;
	sp_status	s;

	sp_jsonw_init(&gw, env, false);
	if ((s = sp_graph_write_json(g, &gw, tensors, nt, err)) != SP_OK)
	{
		sp_jsonw_discard(&gw);
		return s;
	}
	if ((s = sp_jsonw_finish(&gw, &txt, &len, err)) != SP_OK)
		return s;
	sp_jsonw_init(w, env, false);
	sp_jsonw_begin_object(w);
	sp_jsonw_key(w, "name");
	sp_jsonw_string(w, name);
	sp_jsonw_key(w, "format_version");
	sp_jsonw_int(w, 2);
	sp_jsonw_key(w, "input");
	sp_jsonw_value(w, input);
	sp_jsonw_key(w, "graph");
	sp_jsonw_raw(w, txt, len);
	sp_jsonw_key(w, "embedding_dim");
	sp_jsonw_int(w, sp_shape_numel(&g->values[g->outputs[0]].shape));
	sp_jsonw_key(w, "distance");
	sp_jsonw_string(w, sp_distance_kind_name(distance));
	sp_free(env, txt);
	return SP_OK;
}

/*
 * End the config begun by config_begin: it must parse and validate like any
 * other (input spec checks); then the tensors become the safetensors bytes.
 * On a failure *config_out is freed and NULL.
 */
static sp_status
config_end(const sp_env *env, sp_jsonw *w, const sp_st_out_tensor *tensors, int nt, char **config_out,
		   size_t *config_len, uint8_t **weights_out, size_t *weights_len, sp_error *err)
{
	sp_nn_config *cfg = NULL;
	sp_status	s;

	sp_jsonw_end_object(w);
	if ((s = sp_jsonw_finish(w, config_out, config_len, err)) != SP_OK)
		return s;
	if ((s = sp_nn_config_parse(env, *config_out, *config_len, &cfg, err)) == SP_OK)
		s = sp_st_write(env, tensors, nt, NULL, NULL, 0, weights_out, weights_len, err);
	sp_nn_config_free(env, cfg);
	if (s != SP_OK)
	{
		sp_free(env, *config_out);
		*config_out = NULL;
	}
	return s;
}

static sp_status
imp_error(sp_error *err, const char *what)
{
	return sp_set_error(err, SP_ERR_INVALID_ARG, "import config: %s", what);
}

/* Append node op(in) -> out. */
static sp_status
append(sp_graph *g, const char *op, const char *name, const char *in, const char *out, sp_node **n,
	   sp_error *err)
{
	const char *i[1] = {in},
			   *o[1] = {out};

	*n = sp_graph_add_node(g, op, name, i, 1, o, 1, err);
	return *n ? SP_OK : err->code;
}

sp_status
sp_nn_model_from_onnx(const sp_env *env, const uint8_t *onnx, size_t onnx_len,
					  const char *import_config, size_t import_len,
					  char **config_out, size_t *config_len,
					  uint8_t **weights_out, size_t *weights_len, sp_error *err)
{
	static const char *const keys[] = {"name", "input", "output", "normalize", "distance", "threshold",
	"metadata", NULL};
	sp_json_doc *doc = NULL;
	const char *unknown;
	const sp_json *root,
			   *v;
	sp_graph   *g = NULL;
	sp_onnx_info info;
	const char *output = NULL;
	const char *name = "imported";
	char		out_name[SP_GRAPH_MAX_NAME + 1] = "";
	bool		normalize = false;
	sp_distance_kind distance = SP_DISTANCE_COSINE;
	sp_jsonw	w;
	sp_st_out_tensor *tensors = NULL;
	int			nt = 0;
	sp_status	s;

	*config_out = NULL;
	*weights_out = NULL;
	s = sp_json_parse(env, import_config, import_len, 16, 1 << 20, "import config", &doc, err);
	if (s != SP_OK)
		return s;
	root = sp_json_root(doc);
	if (root->type != SP_JSON_OBJECT)
	{
		s = imp_error(err, "must be a JSON object");
		goto done;
	}
	if ((unknown = sp_json_unknown_key(root, keys)) != NULL)
	{
		s = sp_set_error(err, SP_ERR_INVALID_ARG, "import config: unknown member \"%s\"", unknown);
		sp_error_hint(err, "Allowed: name, input, output, normalize, distance, threshold, metadata.");
		goto done;
	}
	if ((v = sp_json_get(root, "name")) != NULL)
	{
		if (v->type != SP_JSON_STRING)
		{
			s = imp_error(err, "\"name\" must be a string");
			goto done;
		}
		name = v->str;
	}
	if ((v = sp_json_get(root, "output")) != NULL && v->type != SP_JSON_NULL)
	{
		if (v->type != SP_JSON_STRING)
		{
			s = imp_error(err, "\"output\" must be the name of a tensor of the model");
			goto done;
		}
		output = v->str;
	}
	if ((v = sp_json_get(root, "normalize")) != NULL)
	{
		if (v->type != SP_JSON_BOOL)
		{
			s = imp_error(err, "\"normalize\" must be true or false");
			goto done;
		}
		normalize = v->boolean;
	}
	if ((v = sp_json_get(root, "distance")) != NULL)
	{
		int			k = v->type == SP_JSON_STRING ? sp_distance_kind_from_name(v->str) : -1;

		if (k != SP_DISTANCE_COSINE && k != SP_DISTANCE_L2)
		{
			s = imp_error(err, "\"distance\" must be \"cosine\" or \"l2\"");
			goto done;
		}
		distance = (sp_distance_kind) k;
	}
	if (!sp_json_get(root, "input") || sp_json_get(root, "input")->type != SP_JSON_OBJECT)
	{
		s = imp_error(err, "\"input\" (the preprocessing: channels, height, width, mean, std, ...) is required");
		goto done;
	}

	/* import, add the flatten (and the normalisation), prepare portably */
	{
		const char *outs[1] = {output};

		s = sp_onnx_import(env, onnx, onnx_len, outs, output ? 1 : 0, &g, &info, err);
		if (s != SP_OK)
			goto done;
	}
	if (g->n_inputs != 1 || g->n_outputs != 1)
	{
		s = sp_set_error(err, SP_ERR_UNSUPPORTED, "the model must have one image input and one output (it has %d and %d)",
						 g->n_inputs, g->n_outputs);
		if (g->n_outputs > 1)
			sp_error_hint(err, "Choose the output tensor with \"output\" in the import config.");
		goto done;
	}
	{
		sp_node    *n;
		char		src[SP_GRAPH_MAX_NAME + 1];
		int			id;

		snprintf(src, sizeof src, "%s", g->values[g->outputs[0]].name);
		snprintf(out_name, sizeof out_name, "%s", src);
		if ((s = append(g, "Flatten", "siamese/flatten", src, "siamese/flat", &n, err)) != SP_OK ||
			(s = sp_node_set_int(g, n, "axis", 1, err)) != SP_OK)
			goto done;
		if (normalize &&
			(s = append(g, "SiameseL2Norm", "siamese/l2norm", "siamese/flat", "siamese/embedding", &n, err)) != SP_OK)
			goto done;
		id = sp_graph_find(g, normalize ? "siamese/embedding" : "siamese/flat");
		g->n_outputs = 0;
		if ((s = sp_graph_add_output(g, id, err)) != SP_OK)
			goto done;
	}
	{
		const sp_json *in = sp_json_get(root, "input");
		const sp_json *c = sp_json_get(in, "channels"),
				   *h = sp_json_get(in, "height"),
				   *wd = sp_json_get(in, "width");
		int64_t		cc,
					hh,
					ww;
		sp_shape	shape;

		if (!c || !h || !wd || !sp_json_get_i64(c, &cc) || !sp_json_get_i64(h, &hh) || !sp_json_get_i64(wd, &ww) ||
			cc < 1 || cc > 4 || hh < 1 || hh > SP_NN_MAX_INPUT_SIDE || ww < 1 || ww > SP_NN_MAX_INPUT_SIDE)
		{
			s = imp_error(err, "\"input\" needs integer channels (1 or 3), height and width");
			goto done;
		}
		shape.rank = 4;
		shape.dim[0] = 1;
		shape.dim[1] = cc;
		shape.dim[2] = hh;
		shape.dim[3] = ww;
		if ((s = sp_graph_prepare_ex(g, &shape, SP_GRAPH_PREPARE_PORTABLE, err)) != SP_OK)
			goto done;
	}
	/* the config: the user's, with the graph and what the import found */
	if ((s = config_begin(env, g, name, sp_json_get(root, "input"), distance, &w, &tensors, &nt, err)) != SP_OK)
		goto done;
	if ((v = sp_json_get(root, "threshold")) != NULL)
	{
		sp_jsonw_key(&w, "threshold");
		sp_jsonw_value(&w, v);
	}
	if ((v = sp_json_get(root, "metadata")) != NULL)
	{
		sp_jsonw_key(&w, "metadata");
		sp_jsonw_value(&w, v);
	}
	sp_jsonw_key(&w, "source");
	sp_jsonw_begin_object(&w);
	sp_jsonw_key(&w, "format");
	sp_jsonw_string(&w, "onnx");
	sp_jsonw_key(&w, "opset");
	sp_jsonw_int(&w, info.opset);
	sp_jsonw_key(&w, "producer");
	sp_jsonw_string(&w, info.producer);
	sp_jsonw_key(&w, "output");
	sp_jsonw_string(&w, out_name);
	sp_jsonw_key(&w, "normalize");
	sp_jsonw_bool(&w, normalize);
	sp_jsonw_key(&w, "nodes_in_file");
	sp_jsonw_int(&w, info.n_nodes_file);
	sp_jsonw_key(&w, "nodes");
	sp_jsonw_int(&w, g->n_order);
	sp_jsonw_end_object(&w);
	s = config_end(env, &w, tensors, nt, config_out, config_len, weights_out, weights_len, err);

done:
	sp_free(env, tensors);
	sp_graph_free(g);
	sp_json_free(env, doc);
	return s;
}

/* ---------------------------------------------------------------------- */
/* A frozen base model with a trained head. */

sp_status
sp_nn_compose_head(const sp_env *env, const char *base_config, size_t base_config_len,
				   const uint8_t *base_weights, size_t base_weights_len,
				   const char *head_config, size_t head_config_len,
				   const uint8_t *head_weights, size_t head_weights_len,
				   const float *feature_mean, const float *feature_std,
				   const char *name, const char *source_json,
				   char **config_out, size_t *config_len, uint8_t **weights_out, size_t *weights_len,
				   sp_error *err)
{
	sp_nn_config *bcfg = NULL,
			   *hcfg = NULL;
	sp_safetensors *bst = NULL,
			   *hst = NULL;
	sp_json_doc *bdoc = NULL;
	sp_graph   *g = NULL;
	sp_st_out_tensor *tensors = NULL;
	int			nt = 0;
	char		from[SP_GRAPH_MAX_NAME + 1],
				last[SP_GRAPH_MAX_NAME + 1];
	sp_jsonw	w;
	sp_status	s;

	*config_out = NULL;
	*weights_out = NULL;
	if ((s = sp_nn_config_parse(env, base_config, base_config_len, &bcfg, err)) != SP_OK ||
		(s = sp_nn_config_parse(env, head_config, head_config_len, &hcfg, err)) != SP_OK ||
		(s = sp_st_read_ex(env, base_weights, base_weights_len, SP_ST_SKIP_UNSUPPORTED, &bst, err)) != SP_OK ||
		(s = sp_st_read(env, head_weights, head_weights_len, &hst, err)) != SP_OK ||
		(s = sp_json_parse(env, base_config, base_config_len, 64, SP_NN_MAX_GRAPH_CONFIG_BYTES, "model config",
						   &bdoc, err)) != SP_OK)
		goto done;
	if (hcfg->format_version != 1 ||
		(int64_t) hcfg->input.channels * hcfg->input.height * hcfg->input.width != bcfg->embedding_dim)
	{
		s = sp_set_error(err, SP_ERR_INVALID_ARG, "the head must be a layer list reading the base model's %d values",
						 bcfg->embedding_dim);
		goto done;
	}
	if ((s = sp_nn_config_graph(env, bcfg, bst, &g, err)) != SP_OK)
		goto done;
	if (g->n_outputs != 1)
	{
		s = sp_set_error(err, SP_ERR_INVALID_ARG, "the base model's graph must have one output (it has %d)", g->n_outputs);
		goto done;
	}
	snprintf(from, sizeof from, "%s", g->values[g->outputs[0]].name);
	if (feature_mean && feature_std)
	{
		/* the standardisation the head was trained behind: (x - mean) / std */
		static const char *const op[2] = {"Sub", "Div"},
				   *const cname[2] = {"head.feature_mean", "head.feature_std"},
				   *const vname[2] = {"head/centred", "head/standardised"};
		const float *data[2] = {feature_mean, feature_std};
		sp_shape	sh = {1, {bcfg->embedding_dim}};

		for (int k = 0; k < 2; k++)
		{
			const char *ins[2] = {from, cname[k]},
					   *outs[1] = {vname[k]};
			int			id = sp_graph_value(g, cname[k], err);

			if (id < 0 || (s = sp_graph_set_constant(g, id, SP_DT_FLOAT, &sh, data[k], err)) != SP_OK ||
				!sp_graph_add_node(g, op[k], vname[k], ins, 2, outs, 1, err))
			{
				s = err->code;
				goto done;
			}
			snprintf(from, sizeof from, "%s", vname[k]);
		}
	}
	if ((s = append_layers(g, hcfg, hst, from, "head/", "head.", last, err)) != SP_OK)
		goto done;
	g->n_outputs = 0;
	if ((s = sp_graph_add_output(g, sp_graph_find(g, last), err)) != SP_OK)
		goto done;
	{
		sp_shape	shape = {4, {1, bcfg->input.channels, bcfg->input.height, bcfg->input.width}};

		if ((s = sp_graph_prepare_ex(g, &shape, SP_GRAPH_PREPARE_PORTABLE, err)) != SP_OK)
			goto done;
	}
	if ((s = config_begin(env, g, name, sp_json_get(sp_json_root(bdoc), "input"), hcfg->distance, &w, &tensors, &nt,
						  err)) != SP_OK)
		goto done;
	if (source_json)
	{
		sp_jsonw_key(&w, "source");
		sp_jsonw_raw(&w, source_json, strlen(source_json));
	}
	/* what is stored must parse, validate and bind like any model */
	s = config_end(env, &w, tensors, nt, config_out, config_len, weights_out, weights_len, err);
done:
	sp_free(env, tensors);
	sp_graph_free(g);
	sp_json_free(env, bdoc);
	sp_st_free(env, bst);
	sp_st_free(env, hst);
	sp_nn_config_free(env, hcfg);
	sp_nn_config_free(env, bcfg);
	return s;
}

/* ---------------------------------------------------------------------- */
/* Format 1 (a layer list) as an operator graph. */

/*
 * Constant value gname holding tensor stname of the model's tensors (-1 with
 * err set when it is absent); a second use returns the same value.
 */
static int
const_from_st(sp_graph *g, const sp_safetensors *st, const char *stname, const char *gname, sp_error *err)
{
	const sp_st_tensor *t = sp_st_find(st, stname);
	sp_shape	sh;
	int			id;

	if (!t || !t->data)
	{
		sp_set_error(err, SP_ERR_INVALID_ARG, "tensor \"%s\" is missing from the weights", stname);
		return -1;
	}
	if ((id = sp_graph_find(g, gname)) >= 0)
		return id;
	sh.rank = t->ndim;
	for (int d = 0; d < t->ndim; d++)
		sh.dim[d] = t->shape[d];
	if ((id = sp_graph_value(g, gname, err)) < 0 ||
		sp_graph_set_constant(g, id, SP_DT_FLOAT, &sh, t->data, err) != SP_OK)
		return -1;
	return id;
}

/*
 * Append cfg's layers to g, the first reading value from: node and value
 * names get vprefix, tensors are read from st by their own names and become
 * constants named tprefix + name.  A layer list without a flatten ends with
 * one (the final activation flattened, c, y, x).  The last value's name goes
 * into last (SP_GRAPH_MAX_NAME + 1 bytes).
 */
static sp_status
append_layers(sp_graph *g, const sp_nn_config *cfg, const sp_safetensors *st, const char *from,
			  const char *vprefix, const char *tprefix, char *last, sp_error *err)
{
	char		cur[SP_GRAPH_MAX_NAME + 1],
				next[SP_GRAPH_MAX_NAME + 1],
				node_name[SP_GRAPH_MAX_NAME + 1],
				tn[4][SP_NN_NAME_LEN + 24],
				gn[4][SP_GRAPH_MAX_NAME + 1];
	char		skipped[SP_NN_MAX_SKIP_DEPTH][SP_GRAPH_MAX_NAME + 1];	/* values open skips remember */
	int			depth = 0;
	bool		flat = false;
	sp_status	s;

	snprintf(cur, sizeof cur, "%s", from);
	for (int i = 0; i < cfg->n_layers; i++)
	{
		const sp_nn_layer *l = &cfg->layers[i];
		const char *ins[5];
		const char *outs[1] = {next};
		int			n_in = 1,
					n_t = 0;
		const char *op = NULL;
		sp_node    *n;

		snprintf(next, sizeof next, "%slayer%d", vprefix, i);
		snprintf(node_name, sizeof node_name, "%s%s", vprefix, l->name[0] ? l->name : next + strlen(vprefix));
		ins[0] = cur;
		if (l->type == SP_NN_SKIP)
		{
			/* no node: the current value is read again by the matching add (validated) */
			snprintf(skipped[depth++], sizeof skipped[0], "%s", cur);
			continue;
		}
		switch (l->type)
		{
			case SP_NN_CONV2D:
			case SP_NN_LINEAR:
				op = l->type == SP_NN_CONV2D ? "Conv" : "Gemm";
				snprintf(tn[n_t++], sizeof tn[0], "%s.weight", l->name);
				if (l->bias)
					snprintf(tn[n_t++], sizeof tn[0], "%s.bias", l->name);
				break;
			case SP_NN_BATCHNORM:
				op = "BatchNormalization";
				snprintf(tn[n_t++], sizeof tn[0], "%s.weight", l->name);
				snprintf(tn[n_t++], sizeof tn[0], "%s.bias", l->name);
				snprintf(tn[n_t++], sizeof tn[0], "%s.running_mean", l->name);
				snprintf(tn[n_t++], sizeof tn[0], "%s.running_var", l->name);
				break;
			case SP_NN_RELU:
				op = "Relu";
				break;
			case SP_NN_MAXPOOL:
				op = "MaxPool";
				break;
			case SP_NN_AVGPOOL:
				op = "AveragePool";
				break;
			case SP_NN_FLATTEN:
				op = "Flatten";
				flat = true;
				break;
			case SP_NN_L2NORM:
				op = "SiameseL2Norm";
				break;
			case SP_NN_ADD:
				op = "Add";
				ins[n_in++] = skipped[--depth];
				break;
			case SP_NN_SKIP:
				break;
		}
		for (int k = 0; k < n_t; k++)
		{
			snprintf(gn[k], sizeof gn[k], "%s%s", tprefix, tn[k]);
			if (const_from_st(g, st, tn[k], gn[k], err) < 0)
				return err->code;
			ins[n_in++] = gn[k];
		}
		if (!(n = sp_graph_add_node(g, op, node_name, ins, n_in, outs, 1, err)))
			return err->code;
		if (l->type == SP_NN_CONV2D || l->type == SP_NN_MAXPOOL || l->type == SP_NN_AVGPOOL)
		{
			int64_t		k2[2] = {l->kernel, l->kernel},
						s2[2] = {l->stride, l->stride},
						p4[4] = {l->padding, l->padding, l->padding, l->padding};

			if ((l->type != SP_NN_CONV2D && (s = sp_node_set_ints(g, n, "kernel_shape", k2, 2, err)) != SP_OK) ||
				(s = sp_node_set_ints(g, n, "strides", s2, 2, err)) != SP_OK ||
				(s = sp_node_set_ints(g, n, "pads", p4, 4, err)) != SP_OK)
				return s;
			/* nn.AvgPool2d's default: padding counts in the divisor */
			if (l->type == SP_NN_AVGPOOL && (s = sp_node_set_int(g, n, "count_include_pad", 1, err)) != SP_OK)
				return s;
		}
		else if (l->type == SP_NN_LINEAR && (s = sp_node_set_int(g, n, "transB", 1, err)) != SP_OK)
			return s;
		else if (l->type == SP_NN_BATCHNORM &&
				 ((s = sp_node_set_float(g, n, "epsilon", l->eps, err)) != SP_OK ||
		/* ONNX's momentum weighs the old running value: PyTorch's 0.1 is 0.9 */
				  (s = sp_node_set_float(g, n, "momentum", 1.0f - l->momentum, err)) != SP_OK))
			return s;
		else if (l->type == SP_NN_FLATTEN && (s = sp_node_set_int(g, n, "axis", 1, err)) != SP_OK)
			return s;
		snprintf(cur, sizeof cur, "%s", next);
	}
	if (!flat)
	{
		char		fname[SP_GRAPH_MAX_NAME + 1];
		const char *ins[1] = {cur},
				   *outs[1] = {next};
		sp_node    *n;

		snprintf(fname, sizeof fname, "%sflatten", vprefix);
		snprintf(next, sizeof next, "%sembedding", vprefix);
		if (!(n = sp_graph_add_node(g, "Flatten", fname, ins, 1, outs, 1, err)))
			return err->code;
		if ((s = sp_node_set_int(g, n, "axis", 1, err)) != SP_OK)
			return s;
		snprintf(cur, sizeof cur, "%s", next);
	}
	snprintf(last, SP_GRAPH_MAX_NAME + 1, "%s", cur);
	return SP_OK;
}

sp_status
sp_nn_compile_layers(const sp_env *env, const sp_nn_config *cfg, const sp_safetensors *st, sp_graph **out,
					 sp_error *err)
{
	sp_graph   *g;
	sp_shape	in = {4, {1, cfg->input.channels, cfg->input.height, cfg->input.width}};
	char		last[SP_GRAPH_MAX_NAME + 1];
	sp_status	s;

	*out = NULL;
	if ((s = sp_graph_create(env, &g, err)) != SP_OK)
		return s;
	if ((s = sp_graph_add_input(g, sp_graph_value(g, "input", err), SP_DT_FLOAT, &in, err)) != SP_OK ||
		(s = append_layers(g, cfg, st, "input", "", "", last, err)) != SP_OK ||
		(s = sp_graph_add_output(g, sp_graph_find(g, last), err)) != SP_OK)
	{
		sp_graph_free(g);
		return s;
	}
	*out = g;
	return SP_OK;
}

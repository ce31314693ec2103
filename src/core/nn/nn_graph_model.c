/*
 * nn_graph_model.c: models of format 2, whose network is an operator graph
 * (nn/graph.h) stored in the config's "graph" object with float constants in
 * the safetensors file: binding one into an sp_nn_model, running it, and
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

/* ---------------------------------------------------------------------- */
/* Binding. */

sp_status
sp_nn_graph_model_bind(const sp_env *env, sp_nn_model *m, const sp_safetensors *st, sp_error *err)
{
	const sp_nn_config *cfg = m->cfg;
	const sp_preprocess_spec *in = &cfg->input;
	sp_json_doc *doc = NULL;
	sp_graph   *g = NULL;
	sp_shape	shape = {4, {1, in->channels, in->height, in->width}};
	const sp_value *iv,
			   *ov;
	sp_graph_stats stats;
	sp_status	s;

	s = sp_json_parse(env, cfg->graph_json, strlen(cfg->graph_json), 64, SP_NN_MAX_GRAPH_CONFIG_BYTES,
					  "model graph", &doc, err);
	if (s != SP_OK)
		return s;
	s = sp_graph_read_json(env, sp_json_root(doc), st, &g, err);
	sp_json_free(env, doc);
	if (s != SP_OK)
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
	m->in_size = (size_t) in->channels * in->height * in->width;
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
	char	   *graph_txt = NULL;
	size_t		graph_len;
	sp_nn_config *cfg = NULL;
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
	for (size_t i = 0; i < root->count; i++)
	{
		bool		known = false;

		for (int k = 0; keys[k]; k++)
			known |= strcmp(root->items[i]->key, keys[k]) == 0;
		if (!known)
		{
			s = sp_set_error(err, SP_ERR_INVALID_ARG, "import config: unknown member \"%s\"", root->items[i]->key);
			sp_error_hint(err, "Allowed: name, input, output, normalize, distance, threshold, metadata.");
			goto done;
		}
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
	sp_jsonw_init(&w, env, false);
	if ((s = sp_graph_write_json(g, &w, &tensors, &nt, err)) != SP_OK)
	{
		sp_jsonw_discard(&w);
		goto done;
	}
	if ((s = sp_jsonw_finish(&w, &graph_txt, &graph_len, err)) != SP_OK)
		goto done;

	/* the config: the user's, with the graph and what the import found */
	{
		sp_jsonw	cw;
		char		dimtxt[32];
		const sp_value *ov = &g->values[g->outputs[0]];

		sp_jsonw_init(&cw, env, false);
		sp_jsonw_begin_object(&cw);
		sp_jsonw_key(&cw, "name");
		sp_jsonw_string(&cw, name);
		sp_jsonw_key(&cw, "format_version");
		sp_jsonw_int(&cw, 2);
		sp_jsonw_key(&cw, "input");
		sp_jsonw_value(&cw, sp_json_get(root, "input"));
		sp_jsonw_key(&cw, "graph");
		sp_jsonw_raw(&cw, graph_txt, graph_len);
		sp_jsonw_key(&cw, "embedding_dim");
		snprintf(dimtxt, sizeof dimtxt, "%lld", (long long) sp_shape_numel(&ov->shape));
		sp_jsonw_raw(&cw, dimtxt, strlen(dimtxt));
		sp_jsonw_key(&cw, "distance");
		sp_jsonw_string(&cw, sp_distance_kind_name(distance));
		if ((v = sp_json_get(root, "threshold")) != NULL)
		{
			sp_jsonw_key(&cw, "threshold");
			sp_jsonw_value(&cw, v);
		}
		if ((v = sp_json_get(root, "metadata")) != NULL)
		{
			sp_jsonw_key(&cw, "metadata");
			sp_jsonw_value(&cw, v);
		}
		sp_jsonw_key(&cw, "source");
		sp_jsonw_begin_object(&cw);
		sp_jsonw_key(&cw, "format");
		sp_jsonw_string(&cw, "onnx");
		sp_jsonw_key(&cw, "opset");
		sp_jsonw_int(&cw, info.opset);
		sp_jsonw_key(&cw, "producer");
		sp_jsonw_string(&cw, info.producer);
		sp_jsonw_key(&cw, "output");
		sp_jsonw_string(&cw, out_name);
		sp_jsonw_key(&cw, "normalize");
		sp_jsonw_bool(&cw, normalize);
		sp_jsonw_key(&cw, "nodes_in_file");
		sp_jsonw_int(&cw, info.n_nodes_file);
		sp_jsonw_key(&cw, "nodes");
		sp_jsonw_int(&cw, g->n_order);
		sp_jsonw_end_object(&cw);
		sp_jsonw_end_object(&cw);
		if ((s = sp_jsonw_finish(&cw, config_out, config_len, err)) != SP_OK)
			goto done;
	}
	/* the config must parse and validate like any other (input spec checks) */
	if ((s = sp_nn_config_parse(env, *config_out, *config_len, &cfg, err)) != SP_OK)
		goto done;
	s = sp_st_write(env, tensors, nt, NULL, NULL, 0, weights_out, weights_len, err);

done:
	if (s != SP_OK)
	{
		sp_free(env, *config_out);
		*config_out = NULL;
	}
	sp_nn_config_free(env, cfg);
	sp_free(env, graph_txt);
	sp_free(env, tensors);
	sp_graph_free(g);
	sp_json_free(env, doc);
	return s;
}

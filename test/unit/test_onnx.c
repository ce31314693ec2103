/*
 * test_onnx.c: ONNX import end to end and against hostile files.
 *
 * The fixture test/fixtures/onnx/tiny_net.onnx (tools/onnx/make_fixture.py)
 * goes through sp_nn_model_from_onnx and the loader, and its embeddings are
 * compared with torch's.  Hostile models are built here with the same
 * protobuf-c code the importer uses: each must fail with a clear error and
 * no crash (these run under valgrind in the suite).
 */
#include "unit.h"
#include "test_nn_util.h"
#include "nn/graph.h"
#include "nn/nn_layers.h"
#include "nn/onnx_import.h"

#include <stdio.h>
#include <stdlib.h>

#include "onnx.pb-c.h"

#define FIXTURE "test/fixtures/onnx/tiny_net"

static const char *tiny_cfg = "{\"input\": {\"channels\": 3, \"height\": 32, \"width\": 32}}";

SP_TEST(onnx_fixture_matches_torch)
{
	size_t		len,
				in_len,
				out_len,
				cfg_len,
				w_len;
	uint8_t    *onnx = tu_read_file(FIXTURE ".onnx", &len);
	float	   *x = (float *) tu_read_file(FIXTURE ".input.f32", &in_len);
	float	   *want = (float *) tu_read_file(FIXTURE ".output.f32", &out_len);
	char	   *cfg;
	uint8_t    *w;
	sp_error	err;
	sp_nn_model *m;
	sp_nn_workspace *ws;
	float		got[32];
	double		worst = 0;
	char		ops[512];

	REQUIRE(onnx && x && want && in_len == 2 * 3 * 32 * 32 * 4 && out_len == 2 * 16 * 4);
	REQUIRE(sp_nn_model_from_onnx(sp_env_default(), onnx, len, tiny_cfg, strlen(tiny_cfg), &cfg, &cfg_len,
								  &w, &w_len, &err) == SP_OK);
	REQUIRE(sp_nn_model_load(sp_env_default(), cfg, cfg_len, w, w_len, &m, &err) == SP_OK);
	CHECK_EQ_INT(sp_nn_model_dim(m), 16);
	CHECK_EQ_INT(sp_nn_model_input_size(m), 3 * 32 * 32);
	/* the shape chain in front of the Reshape was folded; batch norm folded into the convs */
	sp_nn_model_ops(m, ops, sizeof ops);
	CHECK_MSG(!strstr(ops, "Shape") && !strstr(ops, "Gather") && !strstr(ops, "BatchNormalization"), "%s", ops);
	CHECK_MSG(strstr(ops, "Conv x7") != NULL, "%s", ops);
	REQUIRE(sp_nn_workspace_create(sp_env_default(), m, 2, &ws, &err) == SP_OK);
	REQUIRE(sp_nn_forward(m, ws, x, 2, got, &err) == SP_OK);
	for (int i = 0; i < 32; i++)
	{
		double		d = fabs((double) got[i] - want[i]);

		worst = d > worst ? d : worst;
	}
	CHECK_MSG(worst < 1e-5, "max difference from torch %g", worst);
	/* the same through the scalar (im2col) kernels: a fresh load under siamese.nn.isa = scalar */
	{
		sp_nn_model *m2;
		sp_nn_workspace *ws2;
		float		got2[32];

		sp_nn_set_default_isa(SP_ISA_SCALAR);
		REQUIRE(sp_nn_model_load(sp_env_default(), cfg, cfg_len, w, w_len, &m2, &err) == SP_OK);
		sp_nn_set_default_isa(SP_ISA_AUTO);
		REQUIRE(sp_nn_workspace_create(sp_env_default(), m2, 2, &ws2, &err) == SP_OK);
		REQUIRE(sp_nn_forward(m2, ws2, x, 2, got2, &err) == SP_OK);
		for (int i = 0; i < 32; i++)
			CHECK_NEAR(got2[i], want[i], 1e-5);
		sp_nn_workspace_free(sp_env_default(), ws2);
		sp_nn_model_free(sp_env_default(), m2);
	}
	sp_nn_workspace_free(sp_env_default(), ws);
	sp_nn_model_free(sp_env_default(), m);
	sp_free(sp_env_default(), cfg);
	sp_free(sp_env_default(), w);
	free(onnx);
	free(x);
	free(want);
}

SP_TEST(onnx_import_config)
{
	size_t		len,
				cl,
				wl;
	uint8_t    *onnx = tu_read_file(FIXTURE ".onnx", &len);
	char	   *cfg;
	uint8_t    *w;
	sp_error	err;
	static const struct
	{
		const char *cfg;
		const char *needle;
	}			bad[] = {
		{"[1]", "JSON object"},
		{"{\"input\": {\"channels\": 3, \"height\": 32, \"width\": 32}, \"colour\": 1}", "unknown member"},
		{"{}", "\"input\""},
		{"{\"input\": {\"channels\": 3, \"height\": 31, \"width\": 32}}", "input"},
		{"{\"input\": {\"channels\": 3, \"height\": 32, \"width\": 32}, \"output\": \"nope\"}", "nope"},
		{"{\"input\": {\"channels\": 3, \"height\": 32, \"width\": 32}, \"distance\": \"manhattan\"}", "distance"},
		{"{\"input\": {\"channels\": 3, \"height\": 32, \"width\": 32}, \"normalize\": 1}", "normalize"},
	};

	REQUIRE(onnx);
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
	{
		sp_status	st = sp_nn_model_from_onnx(sp_env_default(), onnx, len, bad[i].cfg, strlen(bad[i].cfg),
											   &cfg, &cl, &w, &wl, &err);

		CHECK_MSG(st != SP_OK && strstr(err.message, bad[i].needle), "case %zu: %s", i, err.message);
	}
	/* an inner tensor as the output, normalised: a 32-d unit vector */
	{
		const char *c = "{\"input\": {\"channels\": 3, \"height\": 32, \"width\": 32}, "
			"\"output\": \"/pool/MaxPool_output_0\", \"normalize\": true, \"distance\": \"l2\"}";
		sp_nn_model *m;
		sp_nn_workspace *ws;
		float		x[3 * 32 * 32],
					e[512];
		double		ss = 0;

		REQUIRE(sp_nn_model_from_onnx(sp_env_default(), onnx, len, c, strlen(c), &cfg, &cl, &w, &wl, &err) == SP_OK);
		REQUIRE(sp_nn_model_load(sp_env_default(), cfg, cl, w, wl, &m, &err) == SP_OK);
		CHECK_EQ_INT(sp_nn_model_dim(m), 32 * 4 * 4);
		CHECK(sp_nn_model_config(m)->distance == SP_DISTANCE_L2);
		REQUIRE(sp_nn_workspace_create(sp_env_default(), m, 1, &ws, &err) == SP_OK);
		for (int i = 0; i < 3 * 32 * 32; i++)
			x[i] = (float) ((i * 37) % 101) / 50.0f - 1.0f;
		REQUIRE(sp_nn_forward(m, ws, x, 1, e, &err) == SP_OK);
		for (int i = 0; i < 512; i++)
			ss += (double) e[i] * e[i];
		CHECK_NEAR(ss, 1.0, 1e-5);
		sp_nn_workspace_free(sp_env_default(), ws);
		sp_nn_model_free(sp_env_default(), m);
		sp_free(sp_env_default(), cfg);
		sp_free(sp_env_default(), w);
	}
	free(onnx);
}

SP_TEST(onnx_truncated_and_garbled)
{
	size_t		len;
	uint8_t    *onnx = tu_read_file(FIXTURE ".onnx", &len);
	sp_graph   *g;
	sp_error	err;
	int			failures = 0;

	REQUIRE(onnx);
	/* every truncation point in the first 4 KB, then a stride through the weights */
	for (size_t cut = 0; cut < len; cut += cut < 4096 ? 1 : 997)
	{
		sp_status	st = sp_onnx_import(sp_env_default(), onnx, cut, NULL, 0, &g, NULL, &err);

		if (st == SP_OK)
		{
			/* a prefix may still be a valid message; it must then prepare or fail cleanly */
			(void) sp_graph_prepare(g, NULL, &err);
			sp_graph_free(g);
		}
		else
			failures++;
	}
	CHECK(failures > 100);
	/* flipped bytes */
	for (int k = 0; k < 300; k++)
	{
		uint8_t    *c = malloc(len);
		size_t		pos = ((size_t) k * 7919u) % len;

		memcpy(c, onnx, len);
		c[pos] ^= (uint8_t) (1 + k % 255);
		if (sp_onnx_import(sp_env_default(), c, len, NULL, 0, &g, NULL, &err) == SP_OK)
		{
			(void) sp_graph_prepare(g, NULL, &err);
			sp_graph_free(g);
		}
		free(c);
	}
	free(onnx);
}

/* ---------------------------------------------------------------------- */
/* Hostile models built with protobuf-c. */

typedef struct mb
{
	Onnx__ModelProto m;
	Onnx__GraphProto g;
	Onnx__OperatorSetIdProto op;
	Onnx__OperatorSetIdProto *ops[1];
	Onnx__NodeProto nodes[4];
	Onnx__NodeProto *nodep[4];
	Onnx__ValueInfoProto in,
			   out;
	Onnx__ValueInfoProto *inp[1],
			   *outp[1];
	Onnx__TypeProto tp;
	Onnx__TypeProto__Tensor tt;
	Onnx__TensorShapeProto sh;
	Onnx__TensorShapeProto__Dimension dims[4];
	Onnx__TensorShapeProto__Dimension *dimp[4];
	Onnx__TensorProto init;
	Onnx__TensorProto *initp[1];
	Onnx__AttributeProto attr;
	Onnx__AttributeProto *attrp[1];
	char	   *nin[4][3],
			   *nout[4][1];
} mb;

/* input "x" [1, 3, 8, 8] float -> node chain -> output "y" */
static void
mb_init(mb *b, int nnodes)
{
	static int64_t dimv[4] = {1, 3, 8, 8};

	memset(b, 0, sizeof(*b));
	onnx__model_proto__init(&b->m);
	onnx__graph_proto__init(&b->g);
	onnx__operator_set_id_proto__init(&b->op);
	b->op.domain = "";
	b->op.has_version = 1;
	b->op.version = 17;
	b->ops[0] = &b->op;
	b->m.n_opset_import = 1;
	b->m.opset_import = b->ops;
	b->m.has_ir_version = 1;
	b->m.ir_version = 8;
	b->m.graph = &b->g;
	onnx__value_info_proto__init(&b->in);
	onnx__value_info_proto__init(&b->out);
	onnx__type_proto__init(&b->tp);
	onnx__type_proto__tensor__init(&b->tt);
	onnx__tensor_shape_proto__init(&b->sh);
	for (int i = 0; i < 4; i++)
	{
		onnx__tensor_shape_proto__dimension__init(&b->dims[i]);
		b->dims[i].value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
		b->dims[i].dim_value = dimv[i];
		b->dimp[i] = &b->dims[i];
	}
	b->sh.n_dim = 4;
	b->sh.dim = b->dimp;
	b->tt.has_elem_type = 1;
	b->tt.elem_type = 1;
	b->tt.shape = &b->sh;
	b->tp.value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
	b->tp.tensor_type = &b->tt;
	b->in.name = "x";
	b->in.type = &b->tp;
	b->inp[0] = &b->in;
	b->out.name = "y";
	b->outp[0] = &b->out;
	b->g.n_input = 1;
	b->g.input = b->inp;
	b->g.n_output = 1;
	b->g.output = b->outp;
	for (int i = 0; i < nnodes; i++)
	{
		onnx__node_proto__init(&b->nodes[i]);
		b->nodes[i].op_type = "Relu";
		b->nin[i][0] = i == 0 ? "x" : (char *) (i == 1 ? "t1" : i == 2 ? "t2" : "t3");
		b->nout[i][0] = i == nnodes - 1 ? "y" : (char *) (i == 0 ? "t1" : i == 1 ? "t2" : "t3");
		b->nodes[i].n_input = 1;
		b->nodes[i].input = b->nin[i];
		b->nodes[i].n_output = 1;
		b->nodes[i].output = b->nout[i];
		b->nodep[i] = &b->nodes[i];
	}
	b->g.n_node = (size_t) nnodes;
	b->g.node = b->nodep;
}

/* Pack, import, prepare: the status of the first step that fails (or SP_OK). */
static sp_status
mb_try(mb *b, sp_error *err)
{
	size_t		len = onnx__model_proto__get_packed_size(&b->m);
	uint8_t    *buf = malloc(len + 1);
	sp_graph   *g;
	sp_status	st;

	onnx__model_proto__pack(&b->m, buf);
	st = sp_onnx_import(sp_env_default(), buf, len, NULL, 0, &g, NULL, err);
	free(buf);
	if (st != SP_OK)
		return st;
	st = sp_graph_prepare(g, NULL, err);
	sp_graph_free(g);
	return st;
}

SP_TEST(onnx_hostile_models)
{
	mb			b;
	sp_error	err;

	/* the base case works */
	mb_init(&b, 2);
	CHECK(mb_try(&b, &err) == SP_OK);

	/* a cycle: t1 -> y -> t1 */
	mb_init(&b, 2);
	b.nin[0][0] = "y";
	b.g.n_output = 1;
	CHECK(mb_try(&b, &err) == SP_ERR_CORRUPT && strstr(err.message, "cycle"));

	/* a dangling name */
	mb_init(&b, 2);
	b.nin[1][0] = "nowhere";
	CHECK(mb_try(&b, &err) == SP_ERR_CORRUPT && strstr(err.message, "nowhere"));

	/* an unknown op names the op, the node and the opset */
	mb_init(&b, 1);
	b.nodes[0].op_type = "FancyOp";
	b.nodes[0].name = "n0";
	CHECK(mb_try(&b, &err) == SP_ERR_UNSUPPORTED && strstr(err.message, "FancyOp") && strstr(err.message, "n0") &&
		  strstr(err.detail, "opset 17"));

	/* another domain */
	mb_init(&b, 1);
	b.nodes[0].domain = "com.microsoft";
	CHECK(mb_try(&b, &err) == SP_ERR_UNSUPPORTED && strstr(err.message, "com.microsoft"));

	/* an opset outside the supported range */
	mb_init(&b, 1);
	b.op.version = 99;
	CHECK(mb_try(&b, &err) == SP_ERR_UNSUPPORTED && strstr(err.hint, "opset"));

	/* a 2^31-element input shape */
	mb_init(&b, 1);
	b.dims[2].dim_value = 65536;
	b.dims[3].dim_value = 65536;
	CHECK(mb_try(&b, &err) == SP_ERR_LIMIT);

	/* absurd attributes: a Flatten with axis 1e9 */
	mb_init(&b, 1);
	b.nodes[0].op_type = "Flatten";
	onnx__attribute_proto__init(&b.attr);
	b.attr.name = "axis";
	b.attr.has_type = 1;
	b.attr.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
	b.attr.has_i = 1;
	b.attr.i = 1000000000;
	b.attrp[0] = &b.attr;
	b.nodes[0].n_attribute = 1;
	b.nodes[0].attribute = b.attrp;
	CHECK(mb_try(&b, &err) != SP_OK);

	/* an initializer whose shape asks for more data than it holds */
	mb_init(&b, 1);
	{
		static int64_t idims[1] = {1000000};
		static float four[4] = {1, 2, 3, 4};
		static char *addin[2] = {"x", "w"};

		onnx__tensor_proto__init(&b.init);
		b.init.name = "w";
		b.init.has_data_type = 1;
		b.init.data_type = 1;
		b.init.n_dims = 1;
		b.init.dims = idims;
		b.init.n_float_data = 4;
		b.init.float_data = four;
		b.initp[0] = &b.init;
		b.g.n_initializer = 1;
		b.g.initializer = b.initp;
		b.nodes[0].op_type = "Add";
		b.nodes[0].n_input = 2;
		b.nodes[0].input = addin;
		CHECK(mb_try(&b, &err) == SP_ERR_CORRUPT && strstr(err.message, "\"w\""));
		/* the same tensor in an external file: a clear error with the way in */
		b.init.n_float_data = 0;
		b.init.has_data_location = 1;
		b.init.data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
		CHECK(mb_try(&b, &err) == SP_ERR_UNSUPPORTED && strstr(err.message, "external") &&
			  strstr(err.hint, "save_as_external_data"));
		/* 2^40 elements */
		idims[0] = (int64_t) 1 << 40;
		b.init.data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__DEFAULT;
		CHECK(mb_try(&b, &err) == SP_ERR_LIMIT);
		idims[0] = 1000000;
	}

	/* found by fuzzing: a graph input without a name */
	mb_init(&b, 1);
	b.in.name = NULL;
	CHECK(mb_try(&b, &err) == SP_ERR_CORRUPT && strstr(err.message, "no name"));

	/* found by fuzzing: an empty string attribute (no data pointer) */
	mb_init(&b, 1);
	onnx__attribute_proto__init(&b.attr);
	b.attr.name = "mode";
	b.attr.has_type = 1;
	b.attr.type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING;
	b.attr.has_s = 1;
	b.attr.s.len = 0;
	b.attr.s.data = NULL;
	b.attrp[0] = &b.attr;
	b.nodes[0].n_attribute = 1;
	b.nodes[0].attribute = b.attrp;
	CHECK(mb_try(&b, &err) == SP_OK);

	/* two nodes writing one tensor */
	mb_init(&b, 2);
	b.nout[0][0] = "y";
	CHECK(mb_try(&b, &err) == SP_ERR_CORRUPT);
}

/*
 * test_nn_config.c: model config parsing/validation (shape chain, limits,
 * unknown fields), serialisation round trip, and weight binding errors
 * (missing / wrong-shaped / unused tensors, PyTorch's num_batches_tracked).
 */
#include "unit.h"
#include "test_nn_util.h"
#include "util/json.h"

#include <stdlib.h>

#define HEAD "{\"name\":\"t\",\"format_version\":1,\"input\":{\"channels\":1,\"height\":8,\"width\":8},"

SP_TEST(cfg_parse_reference_and_round_trip)
{
	sp_nn_config *c,
			   *c2;
	sp_error	err;
	char	   *j1,
			   *j2,
			   *jp;
	size_t		l1,
				l2,
				lp;

	REQUIRE(sp_nn_config_parse(sp_env_default(), tu_ref_cnn_config, strlen(tu_ref_cnn_config), &c, &err) == SP_OK);
	CHECK_EQ_INT(c->n_layers, 13);
	CHECK_EQ_INT(c->embedding_dim, 128);
	CHECK_EQ_INT(c->layers[10].out_c, 3136);
	CHECK_EQ_INT(sp_nn_config_param_count(c), 466528);
	CHECK_NEAR(sp_nn_config_flops(c) / 1e6, 37.4, 0.1);
	CHECK(c->has_threshold && c->threshold == 0.5);
	CHECK_NEAR(c->input.mean[0], 0.2860, 1e-7);
	REQUIRE(sp_nn_config_to_json(sp_env_default(), c, false, &j1, &l1, &err) == SP_OK);
	REQUIRE(sp_nn_config_parse(sp_env_default(), j1, l1, &c2, &err) == SP_OK);
	REQUIRE(sp_nn_config_to_json(sp_env_default(), c2, false, &j2, &l2, &err) == SP_OK);
	CHECK(strcmp(j1, j2) == 0);
	REQUIRE(sp_nn_config_to_json(sp_env_default(), c2, true, &jp, &lp, &err) == SP_OK);
	CHECK(strstr(jp, "\n    {\"type\":\"conv2d\",\"name\":\"conv1\"") != NULL);
	sp_nn_config_free(sp_env_default(), c2);
	REQUIRE(sp_nn_config_parse(sp_env_default(), jp, lp, &c2, &err) == SP_OK);
	sp_nn_config_free(sp_env_default(), c2);
	free(j1);
	free(j2);
	free(jp);
	sp_nn_config_free(sp_env_default(), c);
}

SP_TEST(cfg_torchvision_input_round_trip)
{
	/* the torchvision ImageNet eval transform, at 8x8 */
	const char *txt = "{\"name\":\"t\",\"format_version\":1,\"input\":{\"channels\":3,\"height\":8,\"width\":8,"
		"\"resize\":\"pil_bilinear\",\"fit\":\"resize_shorter_then_center_crop\",\"resize_shorter\":9,"
		"\"mean\":[0.485,0.456,0.406],\"std\":[0.229,0.224,0.225],\"scale\":255},"
		"\"layers\":[{\"type\":\"flatten\"}],\"embedding_dim\":192}";
	sp_nn_config *c,
			   *c2;
	sp_error	err;
	char	   *j1,
			   *j2;
	size_t		l1,
				l2;

	REQUIRE(sp_nn_config_parse(sp_env_default(), txt, strlen(txt), &c, &err) == SP_OK);
	CHECK(c->input.resize == SP_RESIZE_PIL_BILINEAR);
	CHECK(c->input.fit == SP_FIT_SHORTER_CENTER_CROP);
	CHECK_EQ_INT(c->input.resize_shorter, 9);
	CHECK(c->input.std[2] == 0.225f);
	REQUIRE(sp_nn_config_to_json(sp_env_default(), c, false, &j1, &l1, &err) == SP_OK);
	CHECK(strstr(j1, "\"resize\":\"pil_bilinear\",\"fit\":\"resize_shorter_then_center_crop\",\"resize_shorter\":9") != NULL);
	REQUIRE(sp_nn_config_parse(sp_env_default(), j1, l1, &c2, &err) == SP_OK);
	CHECK(memcmp(&c->input, &c2->input, sizeof(c->input)) == 0);
	REQUIRE(sp_nn_config_to_json(sp_env_default(), c2, false, &j2, &l2, &err) == SP_OK);
	CHECK(strcmp(j1, j2) == 0);
	free(j1);
	free(j2);
	sp_nn_config_free(sp_env_default(), c);
	sp_nn_config_free(sp_env_default(), c2);

	/* configs without the new fields are written exactly as before */
	REQUIRE(sp_nn_config_parse(sp_env_default(), tu_ref_cnn_config, strlen(tu_ref_cnn_config), &c, &err) == SP_OK);
	CHECK_EQ_INT(c->input.resize_shorter, 0);
	REQUIRE(sp_nn_config_to_json(sp_env_default(), c, false, &j1, &l1, &err) == SP_OK);
	CHECK(strstr(j1, "resize_shorter") == NULL);
	CHECK(strstr(j1, "\"resize\":\"bilinear\",\"fit\":\"stretch\",\"mean\"") != NULL);
	free(j1);
	sp_nn_config_free(sp_env_default(), c);
}

SP_TEST(cfg_metadata_kept)
{
	const char *txt = HEAD "\"layers\":[{\"type\":\"flatten\"}],\"embedding_dim\":64,"
		"\"metadata\":{\"a\":[1,2],\"b\":\"x\"},\"training\":{\"seed\":42},\"quality\":{\"recall_at_1\":0.9}}";
	sp_nn_config *c,
			   *c2;
	sp_error	err;

	REQUIRE(sp_nn_config_parse(sp_env_default(), txt, strlen(txt), &c, &err) == SP_OK);
	CHECK(strcmp(c->metadata_json, "{\"a\":[1,2],\"b\":\"x\"}") == 0);
	CHECK(strcmp(c->training_json, "{\"seed\":42}") == 0);
	REQUIRE(sp_nn_config_copy(sp_env_default(), c, &c2, &err) == SP_OK);
	CHECK(strcmp(c2->quality_json, "{\"recall_at_1\":0.9}") == 0);
	sp_nn_config_free(sp_env_default(), c);
	sp_nn_config_free(sp_env_default(), c2);
}

SP_TEST(cfg_invalid)
{
	static const struct
	{
		const char *txt;
		sp_status	st;
		const char *needle;
	}			cases[] = {
		{"[]", SP_ERR_INVALID_ARG, "object"},
		{"{", SP_ERR_CORRUPT, "JSON"},
		{HEAD "\"layers\":[{\"type\":\"flatten\"}],\"embedding_dim\":63}", SP_ERR_INVALID_ARG, "outputs 64"},
		{HEAD "\"layers\":[{\"type\":\"flatten\"}],\"embedding_dim\":64,\"extra\":1}", SP_ERR_INVALID_ARG, "unknown field \"extra\""},
		{HEAD "\"layers\":[],\"embedding_dim\":64}", SP_ERR_INVALID_ARG, "layers"},
		{HEAD "\"layers\":[{\"type\":\"conv2d\",\"name\":\"c\",\"in\":2,\"out\":4,\"kernel\":3}],\"embedding_dim\":144}", SP_ERR_INVALID_ARG, "receives 1"},
		{HEAD "\"layers\":[{\"type\":\"conv2d\",\"name\":\"c\",\"in\":1,\"out\":4,\"kernel\":12,\"padding\":3}],\"embedding_dim\":4}", SP_ERR_INVALID_ARG, "kernel"},
		{HEAD "\"layers\":[{\"type\":\"conv2d\",\"name\":\"c\",\"in\":1,\"out\":5000,\"kernel\":3}],\"embedding_dim\":4}", SP_ERR_INVALID_ARG, "out"},
		{HEAD "\"layers\":[{\"type\":\"conv2d\",\"in\":1,\"out\":4,\"kernel\":3}],\"embedding_dim\":144}", SP_ERR_INVALID_ARG, "name"},
		{HEAD "\"layers\":[{\"type\":\"conv2d\",\"name\":\"a b\",\"in\":1,\"out\":4,\"kernel\":3}],\"embedding_dim\":144}", SP_ERR_INVALID_ARG, "name"},
		{HEAD "\"layers\":[{\"type\":\"conv2d\",\"name\":\"c\",\"in\":1,\"out\":4,\"kernel\":3,\"padding\":3}],\"embedding_dim\":4}", SP_ERR_INVALID_ARG, "padding"},
		{HEAD "\"layers\":[{\"type\":\"conv2d\",\"name\":\"c\",\"in\":1,\"out\":4,\"kernel\":9}],\"embedding_dim\":4}", SP_ERR_INVALID_ARG, "larger"},
		{HEAD "\"layers\":[{\"type\":\"conv2d\",\"name\":\"c\",\"in\":1,\"out\":4,\"kernel\":3,\"dilation\":2}],\"embedding_dim\":4}", SP_ERR_INVALID_ARG, "dilation"},
		{HEAD "\"layers\":[{\"type\":\"linear\",\"name\":\"l\",\"in\":64,\"out\":4}],\"embedding_dim\":4}", SP_ERR_INVALID_ARG, "flatten"},
		{HEAD "\"layers\":[{\"type\":\"flatten\"},{\"type\":\"linear\",\"name\":\"l\",\"in\":63,\"out\":4}],\"embedding_dim\":4}", SP_ERR_INVALID_ARG, "receives 64"},
		{HEAD "\"layers\":[{\"type\":\"flatten\"},{\"type\":\"flatten\"}],\"embedding_dim\":64}", SP_ERR_INVALID_ARG, "second flatten"},
		{HEAD "\"layers\":[{\"type\":\"flatten\"},{\"type\":\"maxpool\",\"kernel\":2}],\"embedding_dim\":16}", SP_ERR_INVALID_ARG, "after flatten"},
		{HEAD "\"layers\":[{\"type\":\"l2norm\"}],\"embedding_dim\":64}", SP_ERR_INVALID_ARG, "flatten"},
		{HEAD "\"layers\":[{\"type\":\"softmax\"}],\"embedding_dim\":64}", SP_ERR_INVALID_ARG, "unknown layer type"},
		{HEAD "\"layers\":[{\"type\":\"add\"}],\"embedding_dim\":64}", SP_ERR_INVALID_ARG, "add without a skip"},
		{HEAD "\"layers\":[{\"type\":\"skip\"},{\"type\":\"relu\"}],\"embedding_dim\":64}", SP_ERR_INVALID_ARG, "1 skip layers have no add"},
		{HEAD "\"layers\":[{\"type\":\"skip\"},{\"type\":\"maxpool\",\"kernel\":2},{\"type\":\"add\"}],\"embedding_dim\":16}", SP_ERR_INVALID_ARG, "receives 1x4x4 values but its skip remembered 1x8x8"},
		{HEAD "\"layers\":[{\"type\":\"skip\",\"kernel\":3},{\"type\":\"add\"}],\"embedding_dim\":64}", SP_ERR_INVALID_ARG, "kernel"},
		{HEAD "\"layers\":[{\"type\":\"batchnorm\",\"name\":\"b\",\"eps\":0}],\"embedding_dim\":64}", SP_ERR_INVALID_ARG, "eps"},
		{HEAD "\"layers\":[{\"type\":\"batchnorm\",\"name\":\"b\",\"num_features\":3}],\"embedding_dim\":64}", SP_ERR_INVALID_ARG, "num_features"},
		{HEAD "\"layers\":[{\"type\":\"maxpool\",\"kernel\":2,\"padding\":2}],\"embedding_dim\":16}", SP_ERR_INVALID_ARG, "padding"},
		{HEAD "\"layers\":[{\"type\":\"conv2d\",\"name\":\"c\",\"in\":1,\"out\":4,\"kernel\":1},{\"type\":\"batchnorm\",\"name\":\"c\"}],\"embedding_dim\":256}", SP_ERR_INVALID_ARG, "duplicate"},
		{HEAD "\"layers\":[{\"type\":\"conv2d\",\"name\":\"c\",\"in\":1,\"out\":4,\"kernel\":1.5}],\"embedding_dim\":256}", SP_ERR_INVALID_ARG, "integer"},
		{HEAD "\"layers\":[{\"type\":\"flatten\"}],\"embedding_dim\":64,\"distance\":\"manhattan\"}", SP_ERR_INVALID_ARG, "distance"},
		{HEAD "\"layers\":[{\"type\":\"flatten\"}],\"embedding_dim\":64,\"threshold\":\"x\"}", SP_ERR_INVALID_ARG, "threshold"},
		{"{\"name\":\"t\",\"format_version\":3,\"input\":{\"channels\":1,\"height\":8,\"width\":8},\"layers\":[{\"type\":\"flatten\"}],\"embedding_dim\":64}", SP_ERR_UNSUPPORTED, "format_version"},
		/* format 2 is an operator graph: layers are not allowed */
		{"{\"name\":\"t\",\"format_version\":2,\"input\":{\"channels\":1,\"height\":8,\"width\":8},\"layers\":[{\"type\":\"flatten\"}],\"embedding_dim\":64}", SP_ERR_INVALID_ARG, "graph"},
		/* format 1 has no graph */
		{"{\"name\":\"t\",\"format_version\":1,\"input\":{\"channels\":1,\"height\":8,\"width\":8},\"graph\":{},\"layers\":[{\"type\":\"flatten\"}],\"embedding_dim\":64}", SP_ERR_INVALID_ARG, "graph"},
		{"{\"name\":\"t\",\"format_version\":1,\"input\":{\"channels\":2,\"height\":8,\"width\":8},\"layers\":[{\"type\":\"flatten\"}],\"embedding_dim\":128}", SP_ERR_INVALID_ARG, "channels"},
		{"{\"name\":\"t\",\"format_version\":1,\"input\":{\"channels\":1,\"height\":8,\"width\":8,\"std\":[0]},\"layers\":[{\"type\":\"flatten\"}],\"embedding_dim\":64}", SP_ERR_INVALID_ARG, "std"},
		{"{\"name\":\"t\",\"format_version\":1,\"input\":{\"channels\":1,\"height\":8,\"width\":8,\"resize\":\"cubic\"},\"layers\":[{\"type\":\"flatten\"}],\"embedding_dim\":64}", SP_ERR_INVALID_ARG, "resize"},
		{"{\"name\":\"t\",\"format_version\":1,\"input\":{\"channels\":1,\"height\":8,\"width\":8,\"mean\":[1,2]},\"layers\":[{\"type\":\"flatten\"}],\"embedding_dim\":64}", SP_ERR_INVALID_ARG, "mean"},
		{"{\"name\":\"t\",\"format_version\":1,\"input\":{\"channels\":1,\"height\":2000,\"width\":8},\"layers\":[{\"type\":\"flatten\"}],\"embedding_dim\":16000}", SP_ERR_INVALID_ARG, "height"},
#define IN3(x) "{\"name\":\"t\",\"format_version\":1,\"input\":{\"channels\":1,\"height\":8,\"width\":8," x "},\"layers\":[{\"type\":\"flatten\"}],\"embedding_dim\":64}"
		{IN3("\"fit\":\"resize_shorter_then_center_crop\""), SP_ERR_INVALID_ARG, "resize_shorter"},
		{IN3("\"fit\":\"resize_shorter_then_center_crop\",\"resize_shorter\":0"), SP_ERR_INVALID_ARG, "between 1 and"},
		{IN3("\"fit\":\"resize_shorter_then_center_crop\",\"resize_shorter\":5000"), SP_ERR_INVALID_ARG, "between 1 and"},
		{IN3("\"fit\":\"resize_shorter_then_center_crop\",\"resize_shorter\":\"256\""), SP_ERR_INVALID_ARG, "integer"},
		{IN3("\"resize_shorter\":256"), SP_ERR_INVALID_ARG, "only used with fit"},
		{IN3("\"fit\":\"crop\""), SP_ERR_INVALID_ARG, "fit"},
		{IN3("\"fit\":3"), SP_ERR_INVALID_ARG, "fit"},
		{IN3("\"resize\":\"PIL_BILINEAR\""), SP_ERR_INVALID_ARG, "pil_bilinear"},
#undef IN3
		{"{\"name\":\"\",\"format_version\":1,\"input\":{\"channels\":1,\"height\":8,\"width\":8},\"layers\":[{\"type\":\"flatten\"}],\"embedding_dim\":64}", SP_ERR_INVALID_ARG, "name"},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		sp_nn_config *c = NULL;
		sp_error	err;
		sp_status	st = sp_nn_config_parse(sp_env_default(), cases[i].txt, strlen(cases[i].txt), &c, &err);

		CHECK_MSG(st == cases[i].st, "case %zu: %d %s", i, st, st ? err.message : "");
		CHECK_MSG(st == SP_OK || strstr(err.message, cases[i].needle), "case %zu: \"%s\" lacks \"%s\"",
				  i, err.message, cases[i].needle);
		sp_nn_config_free(sp_env_default(), c);
	}
}

SP_TEST(cfg_weight_binding_errors)
{
	const char *cfg = HEAD "\"layers\":[{\"type\":\"conv2d\",\"name\":\"c\",\"in\":1,\"out\":2,\"kernel\":3,\"padding\":1},"
		"{\"type\":\"batchnorm\",\"name\":\"bn\"},{\"type\":\"flatten\"}],\"embedding_dim\":128}";
	float		w[18],
				b[2] = {0.1f, 0.2f},
				g[2] = {1, 1},
				z[2] = {0, 0},
				v[2] = {1, 1},
				negv[2] = {1, -1},
				nanb[2] = {0, NAN};
	sp_nn_model *m;
	sp_error	err;
	uint8_t    *buf;
	size_t		len;
	struct
	{
		sp_st_out_tensor t[7];
		int			n;
		int			flags;
		sp_status	st;
		const char *needle;
	}			cases[] = {
		{{{"c.weight", 4, {2, 1, 3, 3}, w}, {"c.bias", 1, {2}, b}, {"bn.weight", 1, {2}, g}, {"bn.bias", 1, {2}, z},
		{"bn.running_mean", 1, {2}, z}, {"bn.running_var", 1, {2}, v}}, 6, 0, SP_OK, ""},
		{{{"c.weight", 4, {2, 1, 3, 3}, w}, {"c.bias", 1, {2}, b}, {"bn.weight", 1, {2}, g}, {"bn.bias", 1, {2}, z},
		{"bn.running_mean", 1, {2}, z}}, 5, 0, SP_ERR_INVALID_ARG, "bn.running_var"},
		{{{"c.weight", 4, {2, 1, 9, 1}, w}, {"c.bias", 1, {2}, b}, {"bn.weight", 1, {2}, g}, {"bn.bias", 1, {2}, z},
		{"bn.running_mean", 1, {2}, z}, {"bn.running_var", 1, {2}, v}}, 6, 0, SP_ERR_INVALID_ARG, "shape [2,1,9,1], expected [2,1,3,3]"},
		{{{"c.weight", 4, {2, 1, 3, 3}, w}, {"c.bias", 1, {2}, b}, {"bn.weight", 1, {2}, g}, {"bn.bias", 1, {2}, z},
		{"bn.running_mean", 1, {2}, z}, {"bn.running_var", 1, {2}, v}, {"extra", 1, {1}, w}}, 7, 0, SP_ERR_INVALID_ARG, "\"extra\""},
		{{{"c.weight", 4, {2, 1, 3, 3}, w}, {"c.bias", 1, {2}, b}, {"bn.weight", 1, {2}, g}, {"bn.bias", 1, {2}, z},
		{"bn.running_mean", 1, {2}, z}, {"bn.running_var", 1, {2}, v}, {"extra", 1, {1}, w}}, 7, SP_NN_LOAD_IGNORE_UNUSED, SP_OK, ""},
		{{{"c.weight", 4, {2, 1, 3, 3}, w}, {"c.bias", 1, {2}, b}, {"bn.weight", 1, {2}, g}, {"bn.bias", 1, {2}, z},
		{"bn.running_mean", 1, {2}, z}, {"bn.running_var", 1, {2}, negv}}, 6, 0, SP_ERR_INVALID_ARG, "running_var"},
		{{{"c.weight", 4, {2, 1, 3, 3}, w}, {"c.bias", 1, {2}, nanb}, {"bn.weight", 1, {2}, g}, {"bn.bias", 1, {2}, z},
		{"bn.running_mean", 1, {2}, z}, {"bn.running_var", 1, {2}, v}}, 6, 0, SP_ERR_INVALID_ARG, "\"c.bias\" contains NaN"},
	};

	memset(w, 0, sizeof(w));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
	{
		sp_status	st;

		REQUIRE(sp_st_write(sp_env_default(), cases[i].t, cases[i].n, NULL, NULL, 0, &buf, &len, &err) == SP_OK);
		m = NULL;
		st = sp_nn_model_load_ex(sp_env_default(), cfg, strlen(cfg), buf, len, cases[i].flags, &m, &err);
		CHECK_MSG(st == cases[i].st, "case %zu: %d %s", i, st, err.message);
		CHECK_MSG(st == SP_OK || strstr(err.message, cases[i].needle), "case %zu: \"%s\" lacks \"%s\"",
				  i, err.message, cases[i].needle);
		sp_nn_model_free(sp_env_default(), m);
		free(buf);
	}
	/* a bad weights file is reported as such */
	CHECK(sp_nn_model_load(sp_env_default(), cfg, strlen(cfg), (const uint8_t *) "garbage!", 8, &m, &err) == SP_ERR_CORRUPT);
}

SP_TEST(cfg_pytorch_num_batches_tracked)
{
	/* a state_dict export with BN's int64 counter loads; the counter is ignored */
	const char *cfg = HEAD "\"layers\":[{\"type\":\"batchnorm\",\"name\":\"bn\"},{\"type\":\"flatten\"}],\"embedding_dim\":64}";
	const char *hdr = "{\"bn.num_batches_tracked\":{\"dtype\":\"I64\",\"shape\":[],\"data_offsets\":[0,8]},"
		"\"bn.weight\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]},"
		"\"bn.bias\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[12,16]},"
		"\"bn.running_mean\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[16,20]},"
		"\"bn.running_var\":{\"dtype\":\"BF16\",\"shape\":[1],\"data_offsets\":[20,22]}}";
	size_t		h = strlen(hdr),
				len = 8 + h + 22;
	uint8_t    *b = calloc(1, len);
	float		one = 1.0f;
	sp_nn_model *m;
	sp_error	err;

	b[0] = (uint8_t) h;
	b[1] = (uint8_t) (h >> 8);
	memcpy(b + 8, hdr, h);
	memcpy(b + 8 + h + 8, &one, 4);
	b[8 + h + 21] = 0x3F;
	b[8 + h + 20] = 0x80;		/* BF16 1.0 */
	CHECK_MSG(sp_nn_model_load(sp_env_default(), cfg, strlen(cfg), b, len, &m, &err) == SP_OK, "%s", err.message);
	sp_nn_model_free(sp_env_default(), m);
	free(b);
}

SP_TEST(cfg_mutated_config_and_weights)
{
	/* hostile configs and weights: every outcome is OK or a clean error */
	const char *small = HEAD "\"layers\":[{\"type\":\"conv2d\",\"name\":\"c\",\"in\":1,\"out\":2,\"kernel\":3,\"padding\":1},"
		"{\"type\":\"batchnorm\",\"name\":\"bn\"},{\"type\":\"relu\"},{\"type\":\"maxpool\",\"kernel\":2},"
		"{\"type\":\"flatten\"},{\"type\":\"linear\",\"name\":\"fc\",\"in\":32,\"out\":4},{\"type\":\"l2norm\"}],\"embedding_dim\":4}";
	size_t		cl = strlen(small),
				wl;
	uint8_t    *w;
	sp_nn_model *m = tu_make_model(small, 3, 0, &w, &wl);
	char	   *cm = malloc(cl);
	uint8_t    *wm = malloc(wl);
	uint64_t	s = 77;
	int			ok_cfg = 0,
				ok_w = 0;

	REQUIRE(m && cm && wm);
	sp_nn_model_free(sp_env_default(), m);
	for (int iter = 0; iter < 3000; iter++)
	{
		sp_error	err;
		sp_nn_model *mm = NULL;

		memcpy(cm, small, cl);
		memcpy(wm, w, wl);
		for (int k = 0; k < 1 + iter % 3; k++)
		{
			uint64_t	r = tu_next(&s);

			cm[r % cl] = "0123456789{}[],:\" abcxyz-.e"[(r >> 32) % 27];
			r = tu_next(&s);
			wm[r % wl] ^= (uint8_t) (1u << ((r >> 32) & 7));
		}
		if (sp_nn_model_load(sp_env_default(), cm, cl, w, wl, &mm, &err) == SP_OK)
		{
			ok_cfg++;
			sp_nn_model_free(sp_env_default(), mm);
		}
		mm = NULL;
		if (sp_nn_model_load(sp_env_default(), small, cl, wm, wl, &mm, &err) == SP_OK)
		{
			ok_w++;
			sp_nn_model_free(sp_env_default(), mm);
		}
	}
	CHECK(ok_w > 0);			/* flips in the data area keep the file valid */
	free(cm);
	free(wm);
	free(w);
}

/*
 * Batch-norm statistics whose folded weights overflow float32 (gamma 3e38,
 * running_var 1e-45: scale ~1e41) are a load error naming the layer, folded or
 * not; before, the model loaded and embedded to zeros or NaN.
 */
SP_TEST(cfg_batchnorm_overflow)
{
	const char *cfg = HEAD "\"layers\":[{\"type\":\"conv2d\",\"name\":\"c\",\"in\":1,\"out\":2,\"kernel\":3,\"padding\":1},"
		"{\"type\":\"batchnorm\",\"name\":\"bn\"},{\"type\":\"flatten\"}],\"embedding_dim\":128}";
	const char *cfg_bn_first = HEAD "\"layers\":[{\"type\":\"batchnorm\",\"name\":\"bn\",\"num_features\":1},{\"type\":\"flatten\"}],\"embedding_dim\":64}";
	float		w[18],
				b[2] = {0.1f, 0.2f},
				g_huge[2] = {3e38f, 1},
				g_ok[2] = {1, 1},
				z[2] = {0, 0},
				v_tiny[2] = {1e-45f, 1},
				v_ok[2] = {1, 1};
	sp_st_out_tensor conv_bn[6] = {{"c.weight", 4, {2, 1, 3, 3}, w}, {"c.bias", 1, {2}, b},
	{"bn.weight", 1, {2}, g_huge}, {"bn.bias", 1, {2}, z}, {"bn.running_mean", 1, {2}, z},
	{"bn.running_var", 1, {2}, v_tiny}};
	sp_st_out_tensor bn_only[4] = {{"bn.weight", 1, {1}, g_huge}, {"bn.bias", 1, {1}, z},
	{"bn.running_mean", 1, {1}, b}, {"bn.running_var", 1, {1}, v_tiny}};
	sp_nn_model *m;
	sp_error	err;
	uint8_t    *buf;
	size_t		len;

	for (int i = 0; i < 18; i++)
		w[i] = 0.01f * (float) (i + 1);
	REQUIRE(sp_st_write(sp_env_default(), conv_bn, 6, NULL, NULL, 0, &buf, &len, &err) == SP_OK);
	/* folded into the conv */
	m = NULL;
	CHECK(sp_nn_model_load(sp_env_default(), cfg, strlen(cfg), buf, len, &m, &err) == SP_ERR_INVALID_ARG);
	CHECK_MSG(strstr(err.message, "batchnorm \"bn\"") && strstr(err.message, "conv2d \"c\"") &&
			  strstr(err.message, "non-finite") && strstr(err.message, "channel 0"), "%s", err.message);
	sp_nn_model_free(sp_env_default(), m);
	free(buf);
	/* a batch norm with no conv before it */
	REQUIRE(sp_st_write(sp_env_default(), bn_only, 4, NULL, NULL, 0, &buf, &len, &err) == SP_OK);
	m = NULL;
	CHECK(sp_nn_model_load(sp_env_default(), cfg_bn_first, strlen(cfg_bn_first), buf, len, &m, &err) ==
		  SP_ERR_INVALID_ARG);
	CHECK_MSG(strstr(err.message, "non-finite scale or shift for channel 0"), "%s", err.message);
	sp_nn_model_free(sp_env_default(), m);
	free(buf);
	/* sane statistics load */
	conv_bn[2].data = g_ok;
	conv_bn[5].data = v_ok;
	REQUIRE(sp_st_write(sp_env_default(), conv_bn, 6, NULL, NULL, 0, &buf, &len, &err) == SP_OK);
	m = NULL;
	CHECK_MSG(sp_nn_model_load(sp_env_default(), cfg, strlen(cfg), buf, len, &m, &err) == SP_OK, "%s", err.message);
	sp_nn_model_free(sp_env_default(), m);
	free(buf);
}

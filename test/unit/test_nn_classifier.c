/*
 * test_nn_classifier.c: a model's class head (nn/classifier.c): the
 * probabilities by hand, proxies normalised, every malformed object refused
 * with a message, the JSON written and read back, and the "classifier"
 * object carried by a model config (parsed, validated against the embedding
 * dimension, serialised, replaced by set_extras).
 */
#include "unit.h"
#include "nn/classifier.h"
#include "nn/nn_model.h"

#include <math.h>
#include <string.h>

static sp_status
parse(const char *json, int dim, sp_nn_classifier **out, sp_error *err)
{
	return sp_nn_classifier_parse(sp_env_default(), json, strlen(json), dim, out, err);
}

SP_TEST(classifier_probabilities_by_hand)
{
	sp_nn_classifier *c;
	sp_error	err;
	double		p[3];
	const float e[2] = {3, 0};	/* not unit: the cosine is what counts */

	REQUIRE(parse("{\"kind\":\"cosine\",\"scale\":16,\"classes\":[\"a\",\"b\",\"c\"],"
				  "\"proxies\":[[2,0],[0,1],[-1,-1]]}", 2, &c, &err) == SP_OK);
	CHECK_EQ_INT(c->n_classes, 3);
	CHECK(strcmp(c->classes[2], "c") == 0);
	/* proxies are stored at unit length */
	CHECK_NEAR(c->proxies[0], 1.0, 1e-7);
	CHECK_NEAR(c->proxies[4], -sqrt(0.5), 1e-7);
	sp_nn_classifier_probs(c, e, p);
	{
		/* softmax(16 * cos): cosines 1, 0, -sqrt(1/2) */
		double		z0 = exp(16.0),
					z1 = 1.0,
					z2 = exp(-16.0 * sqrt(0.5)),
					s = z0 + z1 + z2;

		CHECK_NEAR(p[0], z0 / s, 1e-12);
		CHECK_NEAR(p[1], z1 / s, 1e-12);
		CHECK_NEAR(p[2], z2 / s, 1e-12);
	}
	sp_nn_classifier_free(sp_env_default(), c);
}

SP_TEST(classifier_refuses_malformed_objects)
{
	static const char *const bad[][2] = {
		{"[]", "must be an object"},
		{"{\"kind\":\"dot\",\"scale\":1,\"classes\":[\"a\",\"b\"],\"proxies\":[[1],[1]]}", "\"kind\""},
		{"{\"kind\":\"cosine\",\"scale\":0,\"classes\":[\"a\",\"b\"],\"proxies\":[[1],[1]]}", "\"scale\""},
		{"{\"kind\":\"cosine\",\"scale\":1,\"classes\":[\"a\"],\"proxies\":[[1]]}", "at least two"},
		{"{\"kind\":\"cosine\",\"scale\":1,\"classes\":[\"a\",\"a\"],\"proxies\":[[1],[1]]}", "listed twice"},
		{"{\"kind\":\"cosine\",\"scale\":1,\"classes\":[\"a\",\"\"],\"proxies\":[[1],[1]]}", "non-empty"},
		{"{\"kind\":\"cosine\",\"scale\":1,\"classes\":[\"a\",\"b\"],\"proxies\":[[1]]}", "one vector per class"},
		{"{\"kind\":\"cosine\",\"scale\":1,\"classes\":[\"a\",\"b\"],\"proxies\":[[1],[1,2]]}", "embedding's dimension"},
		{"{\"kind\":\"cosine\",\"scale\":1,\"classes\":[\"a\",\"b\"],\"proxies\":[[1],[0]]}", "is zero"},
		{"{\"kind\":\"cosine\",\"scale\":1,\"classes\":[\"a\",\"b\"],\"proxies\":[[1],[\"x\"]]}", "not a finite number"},
		{"{\"kind\":\"cosine\",\"scale\":1,\"classes\":[\"a\",\"b\"],\"proxies\":[[1],[1e300]]}", "not a finite number"},
		{"{\"kind\":\"cosine\",\"scale\":1,\"classes\":[\"a\",\"b\"],\"proxies\":[[1],[1]],\"bias\":[0,0]}", "unknown key"},
		{"{\"kind\":\"cosine\",\"scale\":1,\"classes\":[\"a\",\"b\"],\"proxies\":[[1],[1]]", "classifier"},
	};

	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
	{
		sp_nn_classifier *c = (sp_nn_classifier *) 1;
		sp_error	err;

		CHECK_MSG(parse(bad[i][0], 1, &c, &err) != SP_OK, "accepted %s", bad[i][0]);
		CHECK_MSG(c == NULL, "%s: out not cleared", bad[i][0]);
		CHECK_MSG(strstr(err.message, bad[i][1]) != NULL, "%s: message \"%s\"", bad[i][0], err.message);
	}
}

SP_TEST(classifier_json_round_trip)
{
	const char *const names[3] = {"T-shirt/top", "Bag", "sandale \"\\u00e9t\\u00e9\""};
	const float proxies[6] = {1, 0, 0.6f, 0.8f, -3, 4};
	char	   *json;
	size_t		len;
	sp_nn_classifier *c;
	sp_error	err;

	REQUIRE(sp_nn_classifier_json(sp_env_default(), names, 3, 2, 16, proxies, &json, &len, &err) == SP_OK);
	REQUIRE(sp_nn_classifier_parse(sp_env_default(), json, len, 2, &c, &err) == SP_OK);
	for (int k = 0; k < 3; k++)
		CHECK(strcmp(c->classes[k], names[k]) == 0);
	CHECK_NEAR(c->scale, 16, 0);
	CHECK_NEAR(c->proxies[4], -0.6, 1e-7);
	CHECK_NEAR(c->proxies[5], 0.8, 1e-7);
	sp_nn_classifier_free(sp_env_default(), c);
	sp_free(sp_env_default(), json);
}

#define CFG(extra) "{\"name\":\"c\",\"format_version\":1,\"input\":{\"channels\":1,\"height\":2,\"width\":1}," \
	"\"layers\":[{\"type\":\"flatten\"}],\"embedding_dim\":2" extra "}"

SP_TEST(classifier_in_a_model_config)
{
	const sp_env *env = sp_env_default();
	const char *ok = CFG(",\"classifier\":{\"kind\":\"cosine\",\"scale\":8,\"classes\":[\"x\",\"y\"],"
						 "\"proxies\":[[1,0],[0,1]]}");
	const char *wrong_dim = CFG(",\"classifier\":{\"kind\":\"cosine\",\"scale\":8,\"classes\":[\"x\",\"y\"],"
								"\"proxies\":[[1,0,0],[0,1,0]]}");
	sp_nn_config *cfg,
			   *again;
	sp_error	err;
	char	   *json,
			   *json2;
	size_t		len,
				len2;

	REQUIRE(sp_nn_config_parse(env, ok, strlen(ok), &cfg, &err) == SP_OK);
	REQUIRE(cfg->classifier_json != NULL);
	REQUIRE(sp_nn_config_to_json(env, cfg, true, &json, &len, &err) == SP_OK);
	CHECK(strstr(json, "\"classifier\"") != NULL);
	REQUIRE(sp_nn_config_parse(env, json, len, &again, &err) == SP_OK);
	CHECK(strcmp(again->classifier_json, cfg->classifier_json) == 0);
	sp_nn_config_free(env, again);
	CHECK(sp_nn_config_parse(env, wrong_dim, strlen(wrong_dim), &again, &err) == SP_ERR_INVALID_ARG);
	CHECK_MSG(strstr(err.message, "embedding's dimension") != NULL, "%s", err.message);

	/* set_extras drops the classifier (NULL), puts one back, and refuses a bad one */
	REQUIRE(sp_nn_config_set_extras(env, json, len, NULL, NULL, NULL, NULL, false, 0, &json2, &len2, &err) == SP_OK);
	CHECK(strstr(json2, "\"classifier\"") == NULL);
	sp_free(env, json2);
	REQUIRE(sp_nn_config_set_extras(env, json, len, NULL, NULL, NULL, cfg->classifier_json, false, 0, &json2, &len2,
									&err) == SP_OK);
	CHECK(strstr(json2, "\"proxies\"") != NULL);
	sp_free(env, json2);
	CHECK(sp_nn_config_set_extras(env, json, len, NULL, NULL, NULL, "{\"kind\":\"cosine\"}", false, 0, &json2, &len2,
								  &err) == SP_ERR_INVALID_ARG);
	sp_free(env, json);
	sp_nn_config_free(env, cfg);
}

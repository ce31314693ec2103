/*
 * fuzz_json.c: libFuzzer harness for the JSON reader and the model config
 * parser on top of it.  Every input is parsed as a generic document (walked
 * whole: every key and string must be NUL-terminated where the reader says)
 * and as a model config, which must either parse and validate or fail with a
 * message, never crash or leak.  Seeds: test/fuzz/corpus/json (the shipped
 * model configs); dictionary: test/fuzz/json.dict.
 */
#include <string.h>

#include "fuzz_env.h"
#include "nn/nn_model.h"
#include "util/json.h"

static size_t
walk(const sp_json *n, int depth)
{
	size_t		seen = 1;

	if (depth > SP_JSON_DEFAULT_MAX_DEPTH + 1)
		abort();
	if (n->key && strlen(n->key) != n->key_len && memchr(n->key, 0, n->key_len) == NULL)
		abort();
	if (n->type == SP_JSON_STRING && n->str[n->str_len] != '\0')
		abort();
	for (size_t i = 0; i < n->count; i++)
		seen += walk(n->items[i], depth + 1);
	return seen;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	sp_env		env = fuzz_env(1 << 16);
	sp_json_doc *doc = NULL;
	sp_nn_config *cfg = NULL;
	sp_error	err;

	if (sp_json_parse(&env, (const char *) data, size, 0, 0, "fuzz", &doc, &err) == SP_OK)
	{
		walk(sp_json_root(doc), 0);
		sp_json_free(&env, doc);
	}
	else if (doc != NULL || err.message[0] == '\0')
		abort();
	if (sp_nn_config_parse(&env, (const char *) data, size, &cfg, &err) == SP_OK)
	{
		char	   *json = NULL;
		size_t		len = 0;

		/* a parsed config serialises, and its serialisation parses again */
		if (sp_nn_config_to_json(&env, cfg, false, &json, &len, &err) == SP_OK)
		{
			sp_nn_config *again = NULL;

			if (sp_nn_config_parse(&env, json, len, &again, &err) != SP_OK)
				abort();
			sp_nn_config_free(&env, again);
			sp_free(&env, json);
		}
		sp_nn_config_free(&env, cfg);
	}
	else if (cfg != NULL || err.message[0] == '\0')
		abort();
	fuzz_check_no_leak();
	return 0;
}

/*
 * sp_common.c: error reporting and allocation helpers shared by the core.
 */
#include "util/sp_common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void *
malloc_alloc(void *user, size_t size)
{
	(void) user;
	return malloc(size == 0 ? 1 : size);
}

static void
malloc_free(void *user, void *ptr)
{
	(void) user;
	free(ptr);
}

static const sp_env default_env = {
	malloc_alloc, malloc_free, NULL, NULL, SP_DEFAULT_MAX_PIXELS
};

const sp_env *
sp_env_default(void)
{
	return &default_env;
}

void
sp_error_clear(sp_error *err)
{
	if (!err)
		return;
	err->code = SP_OK;
	err->message[0] = err->detail[0] = err->hint[0] = '\0';
}

sp_status
sp_set_error(sp_error *err, sp_status code, const char *fmt,...)
{
	va_list		ap;

	if (!err)
		return code;
	sp_error_clear(err);
	err->code = code;
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return code;
}

void
sp_error_detail(sp_error *err, const char *fmt,...)
{
	va_list		ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(err->detail, sizeof(err->detail), fmt, ap);
	va_end(ap);
}

void
sp_error_hint(sp_error *err, const char *fmt,...)
{
	va_list		ap;

	if (!err)
		return;
	va_start(ap, fmt);
	vsnprintf(err->hint, sizeof(err->hint), fmt, ap);
	va_end(ap);
}

const char *
sp_status_name(sp_status code)
{
	switch (code)
	{
		case SP_OK: return "ok";
		case SP_ERR_CORRUPT: return "corrupt";
		case SP_ERR_UNSUPPORTED: return "unsupported";
		case SP_ERR_LIMIT: return "limit";
		case SP_ERR_NOMEM: return "out of memory";
		case SP_ERR_INVALID_ARG: return "invalid argument";
		case SP_ERR_INTERRUPTED: return "interrupted";
		case SP_ERR_IO: return "i/o";
		case SP_ERR_INTERNAL: return "internal";
	}
	return "unknown";
}

void *
sp_alloc(const sp_env *env, size_t size)
{
	if (!env)
		env = sp_env_default();
	return env->alloc(env->user, size);
}

void *
sp_alloc_array(const sp_env *env, size_t count, size_t elem_size)
{
	size_t		total;

	if (!sp_mul_size(count, elem_size, &total))
		return NULL;
	return sp_alloc(env, total);
}

void
sp_free(const sp_env *env, void *ptr)
{
	if (!ptr)
		return;
	if (!env)
		env = sp_env_default();
	env->free(env->user, ptr);
}

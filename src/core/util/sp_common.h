/*
 * sp_common.h: the contract every pure-C core module follows.
 *
 * The core (src/core) never includes PostgreSQL headers, never exit()s and never
 * longjmps out.  Every fallible function returns an sp_status and fills an
 * sp_error; the PostgreSQL glue (src/pg) turns that into ereport() with the
 * matching errcode.  Memory comes from the caller's sp_env allocator so the
 * backend can use palloc (memory contexts clean up after errors) while unit
 * tests, tools and benchmarks use malloc.
 */
#ifndef SP_COMMON_H
#define SP_COMMON_H

#include <stddef.h>
#include <stdint.h>

typedef enum sp_status
{
	SP_OK = 0,
	SP_ERR_CORRUPT,			/* bytes are not a valid encoding (bad data) */
	SP_ERR_UNSUPPORTED,		/* valid but a variant we do not handle */
	SP_ERR_LIMIT,			/* exceeds a configured or hard limit */
	SP_ERR_NOMEM,			/* allocator returned NULL */
	SP_ERR_INVALID_ARG,		/* caller passed a bad argument (name, range) */
	SP_ERR_INTERRUPTED,		/* env->interrupted() asked us to stop */
	SP_ERR_IO,				/* file could not be read or written */
	SP_ERR_INTERNAL			/* a bug: should never happen */
} sp_status;

/*
 * Error report.  message follows PostgreSQL's style guide (lowercase, no
 * trailing period); detail and hint are full sentences or empty.
 */
typedef struct sp_error
{
	sp_status	code;
	char		message[256];
	char		detail[512];
	char		hint[256];
} sp_error;

/*
 * Execution environment handed to every core function that allocates or runs
 * long loops.
 *   alloc/free    : allocator; alloc returns NULL on failure, never throws.
 *   interrupted   : polled in long loops (e.g. once per image row); return
 *                   nonzero to make the core unwind with SP_ERR_INTERRUPTED.
 *                   The glue then calls CHECK_FOR_INTERRUPTS() itself, so a
 *                   PostgreSQL longjmp never crosses library frames.
 *   max_pixels    : width*height limit checked before pixel buffers exist.
 */
typedef struct sp_env
{
	void	   *(*alloc) (void *user, size_t size);
	void		(*free) (void *user, void *ptr);
	int			(*interrupted) (void *user);
	void	   *user;
	uint64_t	max_pixels;
} sp_env;

/* Default limit used by tools and tests (the SQL GUC default matches). */
#define SP_DEFAULT_MAX_PIXELS ((uint64_t) 16777216)		/* 4096 x 4096 */
/* Hard ceiling regardless of configuration: 2^28 pixels. */
#define SP_HARD_MAX_PIXELS ((uint64_t) 268435456)

/* A malloc-based env for tools, tests and benchmarks. */
extern const sp_env *sp_env_default(void);

/* Set err (printf-style message) and return code; detail/hint left empty. */
extern sp_status sp_set_error(sp_error *err, sp_status code, const char *fmt,...)
			__attribute__((format(printf, 3, 4)));
/* Add a detail / hint sentence to an error already set. */
extern void sp_error_detail(sp_error *err, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));
extern void sp_error_hint(sp_error *err, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));
extern void sp_error_clear(sp_error *err);
extern const char *sp_status_name(sp_status code);

/* Allocation helpers that go through env and check size arithmetic. */
extern void *sp_alloc(const sp_env *env, size_t size);
extern void *sp_alloc_array(const sp_env *env, size_t count, size_t elem_size);
extern void sp_free(const sp_env *env, void *ptr);

/* Overflow-checked arithmetic: return 0 on overflow, 1 on success. */
static inline int
sp_mul_size(size_t a, size_t b, size_t *out)
{
	return !__builtin_mul_overflow(a, b, out);
}

static inline int
sp_add_size(size_t a, size_t b, size_t *out)
{
	return !__builtin_add_overflow(a, b, out);
}

/* Poll the interrupt hook. */
static inline int
sp_env_interrupted(const sp_env *env)
{
	return env && env->interrupted && env->interrupted(env->user);
}

#endif							/* SP_COMMON_H */

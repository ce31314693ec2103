/*
 * sp_pg.h: the bridge between the pure-C core and PostgreSQL.
 *
 * sp_pg_env() gives core functions an allocator backed by the current memory
 * context (allocation failure returns NULL instead of throwing, so no
 * PostgreSQL longjmp passes through libpng/libjpeg frames) and an interrupt
 * poll that makes the core unwind cleanly.  sp_pg_raise() turns an sp_error
 * into ereport(ERROR) with the matching errcode, after first honouring a
 * pending cancel.
 */
#ifndef SP_PG_H
#define SP_PG_H

#include "postgres.h"

#include "util/sp_common.h"
#include "image/image.h"

/* GUCs (defined in siamese_pg.c) */
extern int	siamese_max_image_pixels;
extern int	siamese_model_cache_mb;
extern int	siamese_max_model_memory_mb;
extern bool siamese_report_progress;	/* report_sql.c */

/* Env for core calls: palloc in CurrentMemoryContext, interrupt polling. */
extern const sp_env *sp_pg_env(void);

/*
 * The sp_env interrupt hook: nonzero when an interrupt is pending that
 * CHECK_FOR_INTERRUPTS() would turn into an error.  Exported for envs with
 * their own allocator (e.g. the model cache).
 */
extern int	sp_pg_interrupt_poll(void *user);

/* Map a core status to a SQLSTATE. */
extern int	sp_pg_errcode(sp_status code);

/* ereport(ERROR) for a failed core call; never returns. */
extern void sp_pg_raise(const sp_error *err) pg_attribute_noreturn();

/* Decode a bytea image (PNG/JPEG) under siamese.image.max_pixels; raises on error. */
extern void sp_pg_decode_image(bytea *data, sp_image *out);

/* Encode an image as PNG into a new bytea; raises on error. */
extern bytea *sp_pg_image_to_png(const sp_image *img);

/* The same with the encoder's speed/size trade-off (image.h sp_png_mode). */
extern bytea *sp_pg_image_to_png_mode(const sp_image *img, sp_png_mode mode);

/*
 * Is relid a table Citus distributes (or replicates)?  False without Citus.
 * Needs an SPI connection.  Reports and training then do their per-image
 * work on the shards (docs/scale-out.md).
 */
extern bool sp_pg_is_citus_table(Oid relid);

/* Check a core status: if not SP_OK, raise. */
#define SP_PG_CHECK(status, errp) \
	do { if ((status) != SP_OK) sp_pg_raise(errp); } while (0)

#endif							/* SP_PG_H */

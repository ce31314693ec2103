/*
 * siamese_pg.c: module entry point.  Owns _PG_init and every siamese.* GUC;
 * each area's GUC variables are defined here so there is one place to see
 * the whole configuration surface.
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/guc.h"

#include "sp_pg.h"

PG_MODULE_MAGIC;

int			siamese_max_image_pixels = (int) SP_DEFAULT_MAX_PIXELS;

void		_PG_init(void);

void
_PG_init(void)
{
	DefineCustomIntVariable("siamese.max_image_pixels",
							"Largest image (width times height) siamese_pg will decode.",
							"Checked from the image header before any pixel memory is allocated, "
							"so oversized or hostile images are rejected cheaply.",
							&siamese_max_image_pixels,
							(int) SP_DEFAULT_MAX_PIXELS,
							1,
							(int) SP_HARD_MAX_PIXELS,
							PGC_USERSET,
							0,
							NULL, NULL, NULL);

	MarkGUCPrefixReserved("siamese");
}

/*
 * train_sql.c: siamese._train_model(), behind CALL siamese.train_model:
 * training (or fine-tuning) a Siamese model on a table's labelled images,
 * inside the backend.
 *
 * It reads the table through SPI as the caller (so privileges and row level
 * security apply), in batches from a cursor, decoding each image once into a
 * compact 8-bit cache at the model's input size (no float copy of the
 * table; the cache is bounded by maintenance_work_mem).  On a Citus table
 * the workers decode (siamese._train_pixels, also here) and only those
 * pixels travel.  Labels become
 * classes in sorted order, each class's images are taken in the order of
 * their pixels (not the scan's, so the physical order of the rows never
 * changes the model), and a seeded fraction of every class is held out.
 * The loop is the core's (sp_nn_fit, the one tools/bin/train uses); its
 * progress goes to a NOTICE per epoch and to application_name
 * ("siamese train EPOCH/EPOCHS STEP/STEPS NAME", read by the
 * siamese.training_progress view over pg_stat_activity).  Interrupts are polled every step.  The exported model
 * is measured on the held-out images through the inference path, then
 * registered with siamese.register_model as the caller, in the caller's
 * transaction: a cancelled or failed run registers nothing.
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/ps_status.h"
#include "utils/wait_event.h"

#include "image/image.h"
#include "nn/classifier.h"
#include "nn/nn_model.h"
#include "nn/nn_train.h"
#include "nn/train_quality.h"
#include "util/rng.h"
#include "vector/distance.h"
#include "pg/nn/model.h"
#include "pg/sp_pg.h"

/*
 * The decoded images, once: in memory while they fit in maintenance_work_mem,
 * then in a temporary file (fd.c's, deleted at the end of the transaction,
 * counted against temp_file_limit), never as floats.
 */
typedef struct TrainCache
{
	MemoryContext cxt;			/* where the cache lives */
	int			in_size;		/* bytes per image: C * H * W */
	int			n,
				cap;
	uint8_t    *pixels;			/* in memory, or NULL once spilled */
	File		file;			/* the spilled cache (valid when pixels is NULL and n > 0) */
	uint8_t    *scratch[2];		/* in_size bytes each, for reads from the file */
	char	  **labels;			/* per image, its label text */
	uint64	   *keys;			/* per image, a hash of its pixels (the split's order) */
	int64		skipped_null,
				skipped_bad;
	Size		limit;
} TrainCache;

typedef struct TrainProgress
{
	const char *name;
	int			epochs;
} TrainProgress;

static void
train_progress(void *arg, int epoch, int step, int steps_per_epoch, double loss, long active, double lr)
{
	TrainProgress *p = (TrainProgress *) arg;
	char		buf[NAMEDATALEN];

	if (step == steps_per_epoch)
		ereport(NOTICE,
				(errmsg("train_model \"%s\": epoch %d of %d, mean loss %.4f", p->name, epoch + 1, p->epochs,
						loss)));
	if (step % 10 != 0 && step != steps_per_epoch)
		return;
	/* numbers first: application_name keeps NAMEDATALEN - 1 bytes, a long name is cut */
	snprintf(buf, sizeof buf, "siamese train %d/%d %d/%d %s", epoch + 1, p->epochs, step, steps_per_epoch,
			 p->name);
	set_ps_display(buf);
	SetConfigOption("application_name", buf, PGC_USERSET, PGC_S_SESSION);
}

/*
 * One image at the model's input size as 8-bit pixels (in_size bytes into
 * dst): decoded, preprocessed into scratch, and turned back into pixel
 * values, (x * std + mean) * scale rounded.  The same code on the
 * coordinator and on a Citus worker (_train_pixels), so a table's images
 * give the same cache wherever they are decoded.
 */
static sp_status
train_pixels(const sp_preprocess_spec *in, bytea *img, float *scratch, uint8_t *dst, sp_error *err)
{
	const sp_env *env = sp_pg_env();
	sp_image	im;
	int			plane = in->height * in->width,
				in_size = in->channels * plane;
	sp_status	st;

	st = sp_image_decode(env, (const uint8_t *) VARDATA_ANY(img), VARSIZE_ANY_EXHDR(img), &im, err);
	if (st != SP_OK)
		return st;
	st = sp_preprocess_image_env(env, in, &im, scratch, err);
	sp_image_free(env, &im);
	if (st != SP_OK)
		return st;
	for (int i = 0; i < in_size; i++)
	{
		int			ch = i / plane;
		double		v = ((double) scratch[i] * in->std[ch] + in->mean[ch]) * in->scale;

		dst[i] = (uint8_t) (v < 0 ? 0 : v > 255 ? 255 : rint(v));
	}
	return SP_OK;
}

/* A decoding failure: counted, the first one shown, an interrupt or out of memory raised. */
static void
cache_skip_bad(TrainCache *c, const sp_error *err)
{
	if (err && (err->code == SP_ERR_INTERRUPTED || err->code == SP_ERR_NOMEM))
		sp_pg_raise(err);
	if (c->skipped_bad == 0)
		ereport(NOTICE,
				(errmsg("train_model skips images that cannot be decoded; the first: %s",
						err ? err->message : "(decoded by the source query, whose message is not kept)")));
	c->skipped_bad++;
}

static void
cache_write(TrainCache *c, const uint8_t *bytes, Size len, off_t offset)
{
	while (len > 0)
	{
		int			chunk = (int) Min(len, (Size) 1 << 20);
		int			w = FileWrite(c->file, (char *) bytes, chunk, offset, WAIT_EVENT_BUFFILE_WRITE);

		if (w != chunk)
			ereport(ERROR,
					(errcode_for_file_access(),
					 errmsg("could not write the training images' temporary file: %m")));
		bytes += chunk;
		len -= chunk;
		offset += chunk;
	}
}

/* Image i of a spilled cache into dst; false (errno set) when it cannot be read. */
static bool
cache_read(TrainCache *c, int i, uint8_t *dst)
{
	errno = 0;
	return FileRead(c->file, (char *) dst, c->in_size, (off_t) i * c->in_size,
					WAIT_EVENT_BUFFILE_READ) == c->in_size;
}

/* Image i's pixels: in the cache, or read from its file into buf. */
static const uint8_t *
cache_image(TrainCache *c, int i, uint8_t *buf)
{
	if (c->pixels)
		return c->pixels + (Size) i * c->in_size;
	if (!cache_read(c, i, buf))
		ereport(ERROR,
				(errcode_for_file_access(),
				 errmsg("could not read the training images' temporary file: %m")));
	return buf;
}

/* sp_fit_data.fetch for a spilled cache: the core gets an error back, not a longjmp. */
static sp_status
cache_fetch(void *arg, int i, uint8_t *dst, sp_error *err)
{
	if (!cache_read((TrainCache *) arg, i, dst))
		return sp_set_error(err, SP_ERR_IO, "could not read the training images' temporary file: %s",
							errno ? strerror(errno) : "short read");
	return SP_OK;
}

/* One image's pixels (in_size bytes) and label into the cache. */
static void
cache_add(TrainCache *c, const uint8_t *pixels, const char *label)
{
	if (c->pixels && (Size) (c->n + 1) * c->in_size > c->limit)
	{
		/* outgrown memory: move what is cached to a temporary file, and go on there */
		ereport(NOTICE,
				(errmsg("train_model: the decoded images outgrow maintenance_work_mem (%d kB) after %d images; "
						"caching them in a temporary file", maintenance_work_mem, c->n)));
		c->file = OpenTemporaryFile(false);
		cache_write(c, c->pixels, (Size) c->n * c->in_size, 0);
		pfree(c->pixels);
		c->pixels = NULL;
		c->scratch[0] = MemoryContextAlloc(c->cxt, c->in_size);
		c->scratch[1] = MemoryContextAlloc(c->cxt, c->in_size);
	}
	if (c->n == c->cap)
	{
		c->cap = c->cap ? c->cap * 2 : 1024;
		if (c->n == 0)
			c->pixels = MemoryContextAllocExtended(c->cxt, Min((Size) c->cap * c->in_size, Max(c->limit, c->in_size)),
												   MCXT_ALLOC_HUGE);
		else if (c->pixels)
			c->pixels = repalloc_huge(c->pixels, Min((Size) c->cap * c->in_size, Max(c->limit, c->in_size)));
		c->labels = c->labels ? repalloc_huge(c->labels, sizeof(char *) * c->cap)
			: MemoryContextAlloc(c->cxt, sizeof(char *) * c->cap);
		c->keys = c->keys ? repalloc_huge(c->keys, sizeof(uint64) * c->cap)
			: MemoryContextAlloc(c->cxt, sizeof(uint64) * c->cap);
	}
	if (c->pixels)
		memcpy(c->pixels + (Size) c->n * c->in_size, pixels, c->in_size);
	else
		cache_write(c, pixels, c->in_size, (off_t) c->n * c->in_size);
	c->keys[c->n] = hash_bytes_extended(pixels, c->in_size, 0);
	c->labels[c->n++] = MemoryContextStrdup(c->cxt, label);
}

/*
 * Read the table as the caller, through a cursor.  On a Citus table the
 * workers decode (siamese._train_pixels, given the model's configuration
 * for its input spec) and only the input-size pixels travel; elsewhere this
 * backend decodes.  Columns: pixels or image, label, image IS NULL.
 */
static void
read_source(Oid relid, const char *image_column, const char *label_column, const sp_preprocess_spec *in,
			const char *cfg_text, const char *features_model, TrainCache *c)
{
	StringInfoData q;
	Portal		portal;
	SPIPlanPtr	plan;
	float	   *scratch = palloc(sizeof(float) * c->in_size);
	uint8_t    *row = palloc(c->in_size);
	/* the features of a frozen model, or a Citus table's pixels, come from a function of the row */
	bool		on_workers = features_model || sp_pg_is_citus_table(relid);
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1] = {CStringGetTextDatum(features_model ? features_model : cfg_text)};
	const char *img = quote_identifier(image_column);
	MemoryContext rowcxt = AllocSetContextCreate(CurrentMemoryContext, "train_model row",
												 ALLOCSET_DEFAULT_SIZES);

	initStringInfo(&q);
	if (on_workers)
		appendStringInfo(&q, "SELECT siamese.%s(%s, $1), (%s)::text, %s IS NULL FROM %s",
						 features_model ? "_train_features" : "_train_pixels",
						 img, quote_identifier(label_column), img,
						 quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), get_rel_name(relid)));
	else
		appendStringInfo(&q, "SELECT %s, (%s)::text, false FROM %s", img, quote_identifier(label_column),
						 quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), get_rel_name(relid)));
	if (!(plan = SPI_prepare(q.data, on_workers ? 1 : 0, argtypes)))
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", q.data, SPI_result_code_string(SPI_result));
	portal = SPI_cursor_open(NULL, plan, on_workers ? args : NULL, NULL, true);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, 256);
		if (SPI_processed == 0)
			break;
		if (SPI_gettypeid(SPI_tuptable->tupdesc, 1) != BYTEAOID)
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" is of type %s, not bytea", image_column,
							format_type_be(SPI_gettypeid(SPI_tuptable->tupdesc, 1)))));
		for (uint64 r = 0; r < SPI_processed; r++)
		{
			bool		inull,
						lnull,
						isnull;
			Datum		id = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1, &inull);
			Datum		ld = SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 2, &lnull);
			bool		image_null = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 3,
																&isnull));
			MemoryContext old;
			sp_error	err;

			CHECK_FOR_INTERRUPTS();
			if (image_null || lnull || (inull && !on_workers))
			{
				c->skipped_null++;
				continue;
			}
			if (inull)
			{
				cache_skip_bad(c, NULL);	/* _train_pixels or _train_features could not decode it */
				continue;
			}
			/* decoding garbage stays in the row's context */
			old = MemoryContextSwitchTo(rowcxt);
			if (on_workers)
			{
				bytea	   *px = DatumGetByteaPP(id);

				if (VARSIZE_ANY_EXHDR(px) != (Size) c->in_size)
					elog(ERROR, "the source query returned %zu bytes for an image, expected %d",
						 (size_t) VARSIZE_ANY_EXHDR(px), c->in_size);
				MemoryContextSwitchTo(old);
				cache_add(c, (const uint8_t *) VARDATA_ANY(px), TextDatumGetCString(ld));
			}
			else if (train_pixels(in, DatumGetByteaPP(id), scratch, row, &err) == SP_OK)
			{
				MemoryContextSwitchTo(old);
				cache_add(c, row, TextDatumGetCString(ld));
			}
			else
			{
				MemoryContextSwitchTo(old);
				cache_skip_bad(c, &err);
			}
			MemoryContextReset(rowcxt);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	MemoryContextDelete(rowcxt);
	pfree(scratch);
	pfree(row);
}

/* The parsed configuration _train_pixels keeps between rows of one query. */
typedef struct TrainPixelsMemo
{
	char	   *cfg_text;
	sp_nn_config *cfg;
	float	   *scratch;
} TrainPixelsMemo;

/*
 * _train_pixels(image bytea, config text) -> bytea: the image at the input
 * size of the model configuration (its "input" spec) as 8-bit pixels, the
 * bytes train_model caches; NULL when it cannot be decoded.  Run where the
 * image is by train_model's read of a Citus table.
 */
PG_FUNCTION_INFO_V1(siamese_train_pixels);

Datum
siamese_train_pixels(PG_FUNCTION_ARGS)
{
	bytea	   *img = PG_GETARG_BYTEA_PP(0);
	char	   *cfg_text = text_to_cstring(PG_GETARG_TEXT_PP(1));
	TrainPixelsMemo *memo = fcinfo->flinfo->fn_extra;
	sp_preprocess_spec *in;
	sp_error	err;
	bytea	   *out;
	int			in_size;

	if (memo == NULL || strcmp(memo->cfg_text, cfg_text) != 0)
	{
		MemoryContext old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);
		sp_nn_config *cfg;

		if (sp_nn_config_parse(sp_pg_env(), cfg_text, strlen(cfg_text), &cfg, &err) != SP_OK)
			sp_pg_raise(&err);
		if (sp_preprocess_spec_check(&cfg->input, &err) != SP_OK)
			sp_pg_raise(&err);
		memo = palloc(sizeof(*memo));
		memo->cfg_text = pstrdup(cfg_text);
		memo->cfg = cfg;
		memo->scratch = palloc(sizeof(float) * cfg->input.channels * cfg->input.height * cfg->input.width);
		fcinfo->flinfo->fn_extra = memo;
		MemoryContextSwitchTo(old);
	}
	in = &memo->cfg->input;
	in_size = in->channels * in->height * in->width;
	out = palloc(VARHDRSZ + in_size);
	SET_VARSIZE(out, VARHDRSZ + in_size);
	if (train_pixels(in, img, memo->scratch, (uint8_t *) VARDATA(out), &err) != SP_OK)
	{
		if (err.code == SP_ERR_INTERRUPTED || err.code == SP_ERR_NOMEM)
			sp_pg_raise(&err);
		PG_RETURN_NULL();		/* counted as undecodable by train_model, as on one node */
	}
	PG_RETURN_BYTEA_P(out);
}

/*
 * _train_features(image bytea, model text) -> bytea: the image's embedding by
 * the model as float32 bytes, the features a head is trained on; NULL when
 * the image cannot be decoded.  Run by train_model's read (where the image
 * is, on a Citus table).
 */
PG_FUNCTION_INFO_V1(siamese_train_features);

Datum
siamese_train_features(PG_FUNCTION_ARGS)
{
	bytea	   *img = PG_GETARG_BYTEA_PP(0);
	char	   *model = text_to_cstring(PG_GETARG_TEXT_PP(1));
	SpCachedModel *cm;
	const sp_env *env = sp_pg_env();
	sp_image	im;
	sp_error	err;
	sp_status	st;
	bytea	   *out;
	int			dim;
	float	   *f;

	if (strlen(model) >= SP_MODEL_NAME_MAX)
		sp_catalog_unknown_model(model);
	cm = sp_model_get(model);
	dim = sp_nn_model_dim(cm->model);
	if (sp_image_decode(env, (const uint8_t *) VARDATA_ANY(img), VARSIZE_ANY_EXHDR(img), &im, &err) != SP_OK)
	{
		if (err.code == SP_ERR_INTERRUPTED || err.code == SP_ERR_NOMEM)
			sp_pg_raise(&err);
		PG_RETURN_NULL();		/* counted as undecodable by train_model */
	}
	out = palloc(VARHDRSZ + sizeof(float) * dim);
	SET_VARSIZE(out, VARHDRSZ + sizeof(float) * dim);
	f = (float *) VARDATA(out);
	st = sp_nn_embed_images(env, cm->model, cm->ws, &im, 1, f, &err);
	sp_image_free(env, &im);
	SP_PG_CHECK(st, &err);
	for (int i = 0; i < dim; i++)
		if (!isfinite(f[i]))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_EXCEPTION),
					 errmsg("model \"%s\" computed a non-finite value in dimension %d of an embedding", model, i + 1)));
	PG_RETURN_BYTEA_P(out);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Canonical order of cached images: by label, then by pixel bytes. */
static int
cmp_cached(const void *a, const void *b, void *arg)
{
	const TrainCache *c = arg;
	int			i = *(const int *) a,
				j = *(const int *) b;
	int			r = strcmp(c->labels[i], c->labels[j]);

	if (r != 0)
		return r;
	if (c->keys[i] != c->keys[j])
		return c->keys[i] < c->keys[j] ? -1 : 1;
	/* the same hash: the bytes decide (equal images may go in either order) */
	return memcmp(cache_image((TrainCache *) c, i, c->scratch[0]), cache_image((TrainCache *) c, j, c->scratch[1]),
				  c->in_size);
}

static int
class_of(char *const *classes, int n, const char *label)
{
	char	   *const *hit = bsearch(&label, classes, n, sizeof(char *), cmp_str);

	return hit ? (int) (hit - classes) : -1;
}

/*
 * _train_model(name, source, image_column, label_column, base_model,
 * architecture, epochs, loss, margin, learning_rate, classes_per_batch,
 * images_per_class, validation_fraction, seed, head, head_dim) -> the
 * registered model's hash.  With head, base_model is frozen: its features
 * are computed once (_train_features) and only the head trains; the
 * registered model is base plus head (sp_nn_compose_head).
 */
PG_FUNCTION_INFO_V1(siamese_train_model);

Datum
siamese_train_model(PG_FUNCTION_ARGS)
{
	const sp_env *env = sp_pg_env();
	char	   *name,
			   *image_column,
			   *label_column,
			   *base_model = NULL,
			   *head = NULL,
			   *arch,
			   *loss_name;
	Oid			relid;
	int			epochs,
				P,
				K,
				head_dim;
	double		margin,
				lr,
				val_frac;
	int64		seed;
	sp_fit_opts fo;
	sp_nn_config *cfg;
	sp_nn_trainer *tr;
	sp_error	err;
	char	   *cfg_text;
	char	   *base_text = NULL;
	char	   *base_hash = NULL;
	bytea	   *base_weights = NULL;
	TrainCache	cache;
	char	  **classes;
	int			n_classes = 0;
	int		  **cls;
	int		   *ncls;
	int		   *is_val;
	int		   *label_of;		/* class of each cached image */
	int			n_val = 0,
				n_train = 0;
	double	   *ep_loss;
	sp_fit_result res;
	sp_fit_data data;
	TrainProgress prog;
	char	   *cj;
	size_t		cl,
				wl;
	uint8_t    *w;
	double		val_acc = NAN;
	sp_heldout_quality hq;
	StringInfoData training,
				quality,
				meta;
	char	   *final_json;
	size_t		final_len;
	char	   *classifier = NULL;
	size_t		classifier_len;
	char	   *hash;
	char	   *appname;
	MemoryContext fcxt = CurrentMemoryContext;

	for (int i = 0; i < 4; i++)
		if (PG_ARGISNULL(i))
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("name, source, image_column and label_column must not be NULL")));
	for (int i = 5; i < 16; i++)
		if (PG_ARGISNULL(i) && i != 14)
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("only base_model and head may be NULL among train_model's settings")));
	name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	relid = PG_GETARG_OID(1);
	image_column = NameStr(*PG_GETARG_NAME(2));
	label_column = NameStr(*PG_GETARG_NAME(3));
	if (!PG_ARGISNULL(4))
		base_model = text_to_cstring(PG_GETARG_TEXT_PP(4));
	arch = text_to_cstring(PG_GETARG_TEXT_PP(5));
	epochs = PG_GETARG_INT32(6);
	loss_name = text_to_cstring(PG_GETARG_TEXT_PP(7));
	margin = PG_GETARG_FLOAT8(8);
	lr = PG_GETARG_FLOAT8(9);
	P = PG_GETARG_INT32(10);
	K = PG_GETARG_INT32(11);
	val_frac = PG_GETARG_FLOAT8(12);
	seed = PG_GETARG_INT64(13);
	if (!PG_ARGISNULL(14))
		head = text_to_cstring(PG_GETARG_TEXT_PP(14));
	head_dim = PG_GETARG_INT32(15);

	if (!OidIsValid(get_rel_namespace(relid)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	memset(&fo, 0, sizeof(fo));
	if (!sp_fit_loss_parse(loss_name, &fo.loss))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown loss \"%s\"", loss_name),
				 errhint("Use batch_hard, batch_all, contrastive, multi_similarity, softmax, cosface or batch_all_cosface.")));
	if (epochs < 0 || epochs > 1000)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("epochs must be between 0 and 1000, not %d", epochs)));
	if (P < 2 || P > 1000 || K < 2 || K > 256)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("classes_per_batch must be between 2 and 1000 and images_per_class between 2 and 256")));
	if (!(lr > 0 && lr < 1) || !(margin >= 0 && margin < 100) || !(val_frac >= 0 && val_frac <= 0.5))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("learning_rate must be in (0, 1), margin in [0, 100) and validation_fraction in [0, 0.5]")));

	if (head && !base_model)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a head is trained on a base model's features"),
				 errhint("Give base_model => a registered model, which stays frozen.")));
	if (head_dim < 2 || head_dim > 4096)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("head_dim must be between 2 and 4096, not %d", head_dim)));

	/*
	 * The network: a head on a frozen registered model's features, a
	 * registered layer-list model to fine-tune, or one of the project's.
	 */
	if (base_model)
	{
		text	   *bconfig;

		if (!sp_catalog_lookup(base_model, &base_hash, true, &bconfig, &base_weights))
			sp_catalog_unknown_model(base_model);
		base_text = text_to_cstring(bconfig);
		cfg_text = base_text;
	}
	if (head)
	{
		sp_nn_config *bcfg;

		if (sp_nn_config_parse(env, base_text, strlen(base_text), &bcfg, &err) != SP_OK)
			sp_pg_raise(&err);
		cfg_text = palloc(8192);
		if (!sp_nn_head_config(head, bcfg->embedding_dim, head_dim, name, cfg_text, 8192))
		{
			if (strcmp(head, "mlp") == 0 || strcmp(head, "linear") == 0)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("model \"%s\"'s %d-value embedding cannot feed a head", base_model,
								bcfg->embedding_dim)));
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown head \"%s\"", head),
					 errhint("Use mlp or linear.")));
		}
		sp_nn_config_free(env, bcfg);
	}
	else if (!base_model)
	{
		cfg_text = palloc(8192);
		if (!sp_nn_arch_config(arch, name, true, cfg_text, 8192) || strcmp(arch, "pixels") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("unknown architecture \"%s\"", arch),
					 errhint("Use cnn, resnet, mlp or mlp2d, or base_model => a registered model to fine-tune.")));
	}
	if (sp_nn_config_parse(env, cfg_text, strlen(cfg_text), &cfg, &err) != SP_OK)
		sp_pg_raise(&err);
	if (cfg->format_version != 1)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("model \"%s\" is an operator graph; train_model fine-tunes layer-list models only",
						base_model),
				 errhint("Train a head on its features instead: head => 'mlp'.")));
	if (cfg->n_layers == 0 || (cfg->n_layers == 1 && cfg->layers[0].type == SP_NN_FLATTEN))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("model \"%s\" has no parameters to train", base_model ? base_model : arch)));

	/* the images, decoded once */
	memset(&cache, 0, sizeof(cache));
	cache.in_size = cfg->input.channels * cfg->input.height * cfg->input.width * (head ? sizeof(float) : 1);
	cache.limit = (Size) maintenance_work_mem * 1024;
	appname = pstrdup(GetConfigOption("application_name", false, false));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	cache.cxt = CurrentMemoryContext;	/* SPI's: freed by SPI_finish */
	read_source(relid, image_column, label_column, &cfg->input, cfg_text, head ? base_model : NULL, &cache);
	if (cache.skipped_null > 0 || cache.skipped_bad > 0)
		ereport(NOTICE,
				(errmsg("train_model skipped " INT64_FORMAT " rows with a NULL image or label and " INT64_FORMAT
						" images that could not be decoded", cache.skipped_null, cache.skipped_bad)));

	/* classes: the distinct labels, sorted */
	classes = palloc(sizeof(char *) * Max(cache.n, 1));
	memcpy(classes, cache.labels, sizeof(char *) * cache.n);
	qsort(classes, cache.n, sizeof(char *), cmp_str);
	for (int i = 0; i < cache.n; i++)
		if (n_classes == 0 || strcmp(classes[n_classes - 1], classes[i]) != 0)
			classes[n_classes++] = classes[i];
	if (n_classes < 2)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("training needs images of at least two classes; the source has %d usable images of %d",
						cache.n, n_classes)));

	/* per class, its images, a seeded validation_fraction of each held out */
	cls = palloc(sizeof(int *) * n_classes);
	ncls = palloc0(sizeof(int) * n_classes);
	is_val = palloc0(sizeof(int) * Max(cache.n, 1));
	label_of = palloc(sizeof(int) * Max(cache.n, 1));
	{
		int		   *count = palloc0(sizeof(int) * n_classes);
		int		   *order = palloc(sizeof(int) * Max(cache.n, 1));
		sp_rng		rng;

		for (int i = 0; i < cache.n; i++)
			count[label_of[i] = class_of(classes, n_classes, cache.labels[i])]++;
		for (int c = 0; c < n_classes; c++)
			cls[c] = palloc(sizeof(int) * Max(count[c], 1));
		/*
		 * Each class's images in a canonical order (their pixels), not the
		 * order the scan returned them: the same rows give the same model
		 * whatever their physical order (after VACUUM FULL, a restore, or
		 * from the shards of a distributed table).
		 */
		for (int i = 0; i < cache.n; i++)
			order[i] = i;
		qsort_arg(order, cache.n, sizeof(int), cmp_cached, &cache);
		for (int k = 0; k < cache.n; k++)
		{
			int			i = order[k];

			cls[label_of[i]][ncls[label_of[i]]++] = i;
		}
		pfree(order);
		sp_rng_seed(&rng, (uint64_t) seed, 2000);
		for (int c = 0; c < n_classes; c++)
		{
			int			hold = (int) floor(ncls[c] * val_frac);

			for (int i = ncls[c] - 1; i > 0; i--)
			{
				int			j = (int) sp_rng_uniform_int(&rng, (uint64_t) i + 1);
				int			t = cls[c][i];

				cls[c][i] = cls[c][j];
				cls[c][j] = t;
			}
			/* the held-out images leave the class's training list */
			for (int i = 0; i < hold; i++)
				is_val[cls[c][ncls[c] - 1 - i]] = 1;
			ncls[c] -= hold;
			n_val += hold;
			n_train += ncls[c];
		}
	}

	/* train */
	if (sp_nn_trainer_create(env, cfg, Min(P, n_classes) * K, (uint64_t) seed, SP_NN_INIT_HE, 1, &tr, &err) != SP_OK)
		sp_pg_raise(&err);
	if (base_weights && !head &&
		sp_nn_trainer_load_weights(tr, (const uint8_t *) VARDATA_ANY(base_weights),
								   VARSIZE_ANY_EXHDR(base_weights), &err) != SP_OK)
		sp_pg_raise(&err);
	fo.epochs = epochs;
	fo.P = P;
	fo.K = K;
	fo.lr = lr;
	fo.wd = 1e-4;
	fo.margin = margin;
	fo.seed = (uint64_t) seed;
	data.c = cfg->input.channels;
	data.h = cfg->input.height;
	data.w = cfg->input.width;
	data.pixels = cache.pixels;
	data.fetch = cache_fetch;
	data.fetch_arg = &cache;
	data.n_classes = n_classes;
	data.cls = cls;
	data.ncls = ncls;
	data.input = &cfg->input;
	data.floats = head != NULL;
	data.feature_mean = data.feature_std = NULL;
	if (head)
	{
		/* the head sees standardised features (a frozen model's may all point one way) */
		float	   *fm = palloc(sizeof(float) * cfg->input.channels * cfg->input.height * cfg->input.width),
				   *fs = palloc(sizeof(float) * cfg->input.channels * cfg->input.height * cfg->input.width);

		SP_PG_CHECK(sp_fit_feature_stats(env, &data, fm, fs, &err), &err);
		data.feature_mean = fm;
		data.feature_std = fs;
	}
	fo.softmax_scale = SP_FIT_HEAD_SCALE;
	ep_loss = palloc0(sizeof(double) * Max(epochs, 1));
	memset(&res, 0, sizeof(res));
	res.epoch_loss = ep_loss;
	if (sp_fit_loss_has_head(fo.loss))
	{
		/* class proxies, trained beside the network and then dropped */
		res.head = palloc(sizeof(float) * n_classes * cfg->embedding_dim);
		sp_fit_head_init(res.head, n_classes, cfg->embedding_dim, fo.seed);
	}
	prog.name = name;
	prog.epochs = epochs;
	if (sp_nn_fit(env, tr, &data, &fo, train_progress, &prog, &res, &err) != SP_OK)
		sp_pg_raise(&err);
	if (sp_nn_trainer_export(tr, NULL, NULL, 0, &cj, &cl, &w, &wl, &err) != SP_OK)
		sp_pg_raise(&err);

	/* measure the held-out images against the training images, through inference */
	memset(&hq, 0, sizeof(hq));
	if (n_val > 0)
	{
		sp_nn_model *m;
		sp_nn_workspace *ws;
		int			dim;
		float	   *in = palloc(sizeof(float) * cache.in_size);
		uint8_t    *row = palloc(cache.in_size);
		float	   *emb;

		if (sp_nn_model_load(env, cj, cl, w, wl, &m, &err) != SP_OK ||
			sp_nn_workspace_create(env, m, 1, &ws, &err) != SP_OK)
			sp_pg_raise(&err);
		dim = sp_nn_model_dim(m);
		emb = palloc_extended(sizeof(float) * (Size) dim * cache.n, MCXT_ALLOC_HUGE);
		for (int i = 0; i < cache.n; i++)
		{
			CHECK_FOR_INTERRUPTS();
			sp_fit_pixel_input(&data, cache_image(&cache, i, row), in);
			if (sp_nn_forward(m, ws, in, 1, emb + (Size) i * dim, &err) != SP_OK)
				sp_pg_raise(&err);
		}
		/* retrieval, verification and few-shot figures of the held-out images (core) */
		SP_PG_CHECK(sp_heldout_quality_measure(env, emb, label_of, is_val, cache.n, dim,
											   sp_nn_model_config(m)->distance, n_classes, (uint64_t) seed,
											   &hq, &err), &err);
		val_acc = hq.nn1;
		sp_nn_workspace_free(env, ws);
		sp_nn_model_free(env, m);
	}

	/* a head: the registered model is the frozen base followed by it */
	if (head)
	{
		char	   *hc = cj;
		uint8_t    *hw = w;
		size_t		hcl = cl,
					hwl = wl;
		StringInfoData src;

		initStringInfo(&src);
		appendStringInfoString(&src, "{\"format\":\"head\",\"base_model\":");
		escape_json(&src, base_model);
		appendStringInfo(&src, ",\"base_hash\":\"%s\",\"head\":", base_hash);
		escape_json(&src, head);
		appendStringInfoChar(&src, '}');
		if (sp_nn_compose_head(env, base_text, strlen(base_text), (const uint8_t *) VARDATA_ANY(base_weights),
							   VARSIZE_ANY_EXHDR(base_weights), hc, hcl, hw, hwl, data.feature_mean,
							   data.feature_std, name, src.data,
							   &cj, &cl, &w, &wl, &err) != SP_OK)
			sp_pg_raise(&err);
	}

	/* the model's record: how it was trained (no timings, so a rerun gives the same hash) */
	initStringInfo(&training);
	appendStringInfoString(&training, "{\"trainer\":\"siamese.train_model\",\"source\":");
	escape_json(&training, quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
															 get_rel_name(relid)));
	appendStringInfoString(&training, ",\"image_column\":");
	escape_json(&training, image_column);
	appendStringInfoString(&training, ",\"label_column\":");
	escape_json(&training, label_column);
	if (base_model)
	{
		appendStringInfoString(&training, ",\"base_model\":");
		escape_json(&training, base_model);
		appendStringInfo(&training, ",\"base_hash\":\"%s\"", base_hash);
	}
	if (head)
	{
		appendStringInfoString(&training, ",\"head\":");
		escape_json(&training, head);
		appendStringInfo(&training, ",\"head_dim\":%d,\"frozen_base\":true,\"standardised_features\":true",
						 head_dim);
	}
	else
	{
		appendStringInfoString(&training, ",\"architecture\":");
		escape_json(&training, arch);
	}
	appendStringInfo(&training, ",\"loss\":\"%s\",\"margin\":%.17g,\"learning_rate\":%.17g,\"epochs\":%d,"
					 "\"seed\":" INT64_FORMAT ",\"batch\":\"P x K = %d classes x %d images\",\"steps_per_epoch\":%d,"
					 "\"train_images\":%d,\"validation_images\":%d,\"skipped_null\":" INT64_FORMAT
					 ",\"skipped_undecodable\":" INT64_FORMAT ",\"loss_curve\":[",
					 sp_fit_loss_name(fo.loss), margin, lr, epochs, seed, Min(P, n_classes), K,
					 res.steps_per_epoch, n_train, n_val, cache.skipped_null, cache.skipped_bad);
	for (int e = 0; e < epochs; e++)
		appendStringInfo(&training, "%s%.6f", e ? "," : "", ep_loss[e]);
	appendStringInfoString(&training, "]}");
	initStringInfo(&quality);
	if (n_val > 0)
	{
		appendStringInfo(&quality, "{\"split\":\"held-out %d of %d images (validation_fraction %.3g, seed " INT64_FORMAT
						 ")\",\"nn1_accuracy\":%.6f,\"map\":%.6f", n_val, cache.n, val_frac, seed, hq.nn1, hq.map);
		if (hq.pairs > 0)
			appendStringInfo(&quality, ",\"verification_auc\":%.6f,\"verification_accuracy\":%.6f,"
							 "\"verification_pairs\":%d,\"fewshot_way\":%d,\"fewshot_1shot\":%.6f,"
							 "\"fewshot_episodes\":%d,\"fewshot_temperature\":%.6g",
							 hq.auc, hq.verif_acc, hq.pairs, hq.way, hq.fewshot1, hq.episodes, hq.temperature);
		appendStringInfo(&quality, ",\"protocol\":\"held-out images as queries against the training images; "
						 "verification pairs and few-shot support drawn from those (docs/training.md)\"}");
	}
	initStringInfo(&meta);
	appendStringInfoString(&meta, "{\"classes\":[");
	for (int c = 0; c < n_classes; c++)
	{
		if (c)
			appendStringInfoChar(&meta, ',');
		escape_json(&meta, classes[c]);
	}
	appendStringInfoString(&meta, "]}");
	/* a loss with class proxies leaves a classifier: the model carries it (predict, classify_ensemble) */
	if (res.head &&
		sp_nn_classifier_json(env, (const char *const *) classes, n_classes, cfg->embedding_dim, fo.softmax_scale,
							  res.head, &classifier, &classifier_len, &err) != SP_OK)
		sp_pg_raise(&err);
	if (sp_nn_config_set_extras(env, cj, cl, training.data, n_val > 0 ? quality.data : NULL, meta.data,
								classifier, hq.pairs > 0, hq.threshold, &final_json, &final_len, &err) != SP_OK)
		sp_pg_raise(&err);

	/* register as the caller (register_model's own privileges apply) */
	{
		Oid			types[3] = {TEXTOID, BYTEAOID, TEXTOID};
		Datum		vals[3];
		bytea	   *wb = palloc(VARHDRSZ + wl);
		char	   *cfgz = palloc(final_len + 1);

		SET_VARSIZE(wb, VARHDRSZ + wl);
		memcpy(VARDATA(wb), w, wl);
		memcpy(cfgz, final_json, final_len);
		cfgz[final_len] = '\0';
		vals[0] = CStringGetTextDatum(name);
		vals[1] = PointerGetDatum(wb);
		vals[2] = CStringGetTextDatum(cfgz);
		if (SPI_execute_with_args("SELECT siamese.register_model($1, $2, $3::jsonb)", 3, types, vals, NULL,
								  false, 1) != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "registering the trained model failed");
		hash = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
		hash = hash ? MemoryContextStrdup(fcxt, hash) : NULL;
	}
	ereport(NOTICE,
			(errmsg("train_model \"%s\": %d training and %d held-out images of %d classes; held-out 1-NN accuracy %s",
					name, n_train, n_val, n_classes,
					n_val > 0 ? psprintf("%.4f", val_acc) : "not measured (validation_fraction 0)")));
	sp_nn_trainer_free(tr);
	SPI_finish();
	SetConfigOption("application_name", appname, PGC_USERSET, PGC_S_SESSION);
	set_ps_display("");
	if (!hash)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(hash));
}

/*
 * perturb_sql.c: SQL functions over the ImageNet-P perturbation sequences of
 * the core (src/core/robust/perturb.c): perturbations() and perturbation_frames().
 *
 * perturbation_frames() is a value-per-call SRF: the sequence state (the
 * decoded image, a fixed snow or liquid layer, zoom accumulators) lives in
 * the multi-call context and each call encodes one frame, so a 41-frame
 * sequence never holds more than one frame's pixels and PNG at a time.
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"

#include "robust/perturb.h"
#include "pg/sp_pg.h"

PG_FUNCTION_INFO_V1(siamese_perturbations);
PG_FUNCTION_INFO_V1(siamese_perturbation_frames);

/* perturbations() -> SETOF (name, kind, noise, frames_cifar, frames_tiny, frames_imagenet, description) */
Datum
siamese_perturbations(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;

	InitMaterializedSRF(fcinfo, 0);
	for (int i = 0; i < sp_perturbation_count(); i++)
	{
		const sp_perturbation_info *info = sp_perturbation_get(i);
		Datum		values[7];
		bool		nulls[7] = {false, false, false, false, false, false, false};

		values[0] = CStringGetTextDatum(info->name);
		values[1] = CStringGetTextDatum(info->validation ? "validation" : "test");
		values[2] = BoolGetDatum(info->noise != 0);
		values[3] = Int32GetDatum(sp_perturbation_frames(info, SP_PROFILE_CIFAR));
		values[4] = Int32GetDatum(sp_perturbation_frames(info, SP_PROFILE_TINY));
		values[5] = Int32GetDatum(sp_perturbation_frames(info, SP_PROFILE_IMAGENET));
		values[6] = CStringGetTextDatum(info->description ? info->description : "");
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}

/* The sequence being streamed; lives in the multi-call memory context. */
typedef struct frames_state
{
	sp_perturb_seq *seq;
	int			nframes;
} frames_state;

/* Set up the sequence (first call only; CurrentMemoryContext is multi-call). */
static frames_state *
frames_begin(FunctionCallInfo fcinfo)
{
	bytea	   *data = PG_GETARG_BYTEA_PP(0);
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(1));
	int64		seed = PG_GETARG_INT64(2);
	char	   *profile_name = text_to_cstring(PG_GETARG_TEXT_PP(3));
	int32		difficulty = PG_GETARG_INT32(4);
	const sp_env *env = sp_pg_env();
	sp_corrupt_profile profile;
	frames_state *state;
	sp_image	img;
	sp_error	err;
	sp_status	st;

	if (sp_corrupt_profile_parse(profile_name, &profile, &err) != SP_OK)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown perturbation profile \"%s\"", profile_name),
				 errdetail("Valid profiles are auto, cifar, tiny and imagenet.")));

	/* Validate the name and difficulty before decoding the image. */
	if (!sp_perturbation_lookup(name) || difficulty < 1 || difficulty > SP_PERTURB_MAX_DIFFICULTY)
	{
		sp_image	dummy = {1, 1, 1, (uint8_t *) "\0"};
		sp_perturb_seq *seq = NULL;

		st = sp_perturb_begin(env, &dummy, name, (uint64_t) seed, profile, difficulty, &seq, &err);
		sp_perturb_end(seq);
		SP_PG_CHECK(st, &err);
	}

	sp_pg_decode_image(data, &img);
	state = palloc0(sizeof(frames_state));
	st = sp_perturb_begin(env, &img, name, (uint64_t) seed, profile, difficulty, &state->seq, &err);
	sp_image_free(env, &img);
	SP_PG_CHECK(st, &err);
	state->nframes = sp_perturb_seq_length(state->seq);
	pfree(name);
	pfree(profile_name);
	return state;
}

/*
 * perturbation_frames(image, perturbation, seed, profile, difficulty)
 *   -> SETOF (frame int, image bytea), one PNG per frame
 */
Datum
siamese_perturbation_frames(PG_FUNCTION_ARGS)
{
	FuncCallContext *funcctx;
	frames_state *state;

	if (SRF_IS_FIRSTCALL())
	{
		MemoryContext oldcontext;
		TupleDesc	tupdesc;

		funcctx = SRF_FIRSTCALL_INIT();
		oldcontext = MemoryContextSwitchTo(funcctx->multi_call_memory_ctx);
		if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("function returning record called in context that cannot accept type record")));
		funcctx->tuple_desc = BlessTupleDesc(tupdesc);
		funcctx->user_fctx = frames_begin(fcinfo);
		MemoryContextSwitchTo(oldcontext);
	}

	funcctx = SRF_PERCALL_SETUP();
	state = (frames_state *) funcctx->user_fctx;

	if (funcctx->call_cntr < (uint64) state->nframes)
	{
		const sp_env *env = sp_pg_env();
		int			frame = (int) funcctx->call_cntr;
		sp_image	out;
		sp_error	err;
		sp_status	st;
		Datum		values[2];
		bool		nulls[2] = {false, false};
		HeapTuple	tuple;

		CHECK_FOR_INTERRUPTS();
		/* frame scratch and output go to the per-call context */
		st = sp_perturb_seq_frame(state->seq, frame, &out, &err);
		SP_PG_CHECK(st, &err);
		values[0] = Int32GetDatum(frame);
		values[1] = PointerGetDatum(sp_pg_image_to_png_mode(&out, SP_PNG_FAST));
		sp_image_free(env, &out);
		tuple = heap_form_tuple(funcctx->tuple_desc, values, nulls);
		SRF_RETURN_NEXT(funcctx, HeapTupleGetDatum(tuple));
	}

	/* the sequence's buffers belong to the multi-call context: free them now */
	sp_perturb_end(state->seq);
	state->seq = NULL;
	SRF_RETURN_DONE(funcctx);
}

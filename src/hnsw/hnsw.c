/*
 * hnsw.c: the siamese_hnsw access method handler and its catalog-facing
 * parts: reloptions (m, ef_construction, storage), search GUCs, the distance-kind
 * support functions, amvalidate, amcostestimate and build phase names.
 */
#include "postgres.h"

#include <float.h>
#include <math.h>

#include "access/amvalidate.h"
#include "access/htup_details.h"
#include "access/reloptions.h"
#include "catalog/pg_amop.h"
#include "catalog/pg_amproc.h"
#include "catalog/pg_opclass.h"
#include "catalog/pg_opfamily.h"
#include "catalog/pg_type.h"
#include "commands/progress.h"
#include "commands/vacuum.h"
#include "miscadmin.h"
#include "optimizer/cost.h"
#include "optimizer/optimizer.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/selfuncs.h"
#include "utils/spccache.h"
#include "utils/syscache.h"

#include "hnsw/hnsw.h"

int			hnsw_ef_search = HNSW_DEFAULT_EF_SEARCH;
int			hnsw_iterative_scan = HNSW_ITERATIVE_SCAN_RELAXED;
int			hnsw_max_scan_tuples = HNSW_DEFAULT_MAX_SCAN_TUPLES;

static const struct config_enum_entry hnsw_iterative_scan_options[] = {
	{"off", HNSW_ITERATIVE_SCAN_OFF, false},
	{"relaxed_order", HNSW_ITERATIVE_SCAN_RELAXED, false},
	{"strict_order", HNSW_ITERATIVE_SCAN_STRICT, false},
	{NULL, 0, false}
};

static relopt_kind hnsw_relopt_kind;
static bool hnsw_initialized = false;

/* The storage reloption: a code kind quantize.h knows and the index stores. */
static void
validate_storage(const char *value)
{
	int			code = value ? sp_code_kind_from_name(value) : HNSW_DEFAULT_CODE;

	if (!hnsw_code_valid(code))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid value for siamese_hnsw option \"storage\": \"%s\"", value),
				 errhint("Valid values are \"f32\" (float32 vectors), \"bf16\" and \"sq8\".")));
}

/*
 * Register the reloptions and GUCs.  Must run from _PG_init (reloption kinds
 * have to exist before any index options are parsed).
 */
void
hnsw_init_gucs(void)
{
	if (hnsw_initialized)
		return;
	hnsw_initialized = true;

	hnsw_relopt_kind = add_reloption_kind();
	add_int_reloption(hnsw_relopt_kind, "m",
					  "Maximum number of neighbours per element on the upper layers (twice that on layer 0).",
					  HNSW_DEFAULT_M, HNSW_MIN_M, HNSW_MAX_M, AccessExclusiveLock);
	add_int_reloption(hnsw_relopt_kind, "ef_construction",
					  "Size of the candidate list while building the graph (at least 2 * m).",
					  HNSW_DEFAULT_EF_CONSTRUCTION, HNSW_MIN_EF_CONSTRUCTION,
					  HNSW_MAX_EF_CONSTRUCTION, AccessExclusiveLock);
	add_string_reloption(hnsw_relopt_kind, "storage",
						 "How elements store their vector: f32 (float32), bf16 or sq8 (8-bit codes); "
						 "with codes, scans re-rank their rows by the exact distance.",
						 sp_code_kind_name(HNSW_DEFAULT_CODE), validate_storage, AccessExclusiveLock);

	DefineCustomIntVariable("siamese.hnsw.ef_search",
							"Size of the candidate list of a siamese_hnsw index scan.",
							"Higher values raise recall and cost; an index scan returns at least this many rows "
							"before iterative scanning starts.",
							&hnsw_ef_search,
							HNSW_DEFAULT_EF_SEARCH, 1, HNSW_MAX_EF_SEARCH,
							PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("siamese.hnsw.iterative_scan",
							 "What a siamese_hnsw index scan does after its first ef_search rows.",
							 "relaxed_order and strict_order keep searching when the executor wants more "
							 "rows (e.g. a filtered query) until it finds them, the graph is exhausted or "
							 "siamese.hnsw.max_scan_tuples elements were visited.  relaxed_order may return "
							 "rows of later batches slightly out of distance order; strict_order drops any "
							 "row nearer than one already returned.  off stops after the first batch.",
							 &hnsw_iterative_scan,
							 HNSW_ITERATIVE_SCAN_RELAXED,
							 hnsw_iterative_scan_options,
							 PGC_USERSET, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("siamese.hnsw.max_scan_tuples",
							"Most index elements one iterative siamese_hnsw scan visits.",
							"Bounds the work of a filtered query whose filter matches few rows.",
							&hnsw_max_scan_tuples,
							HNSW_DEFAULT_MAX_SCAN_TUPLES, 1, INT_MAX,
							PGC_USERSET, 0, NULL, NULL, NULL);
}

static bytea *
hnsw_options(Datum reloptions, bool validate)
{
	static const relopt_parse_elt tab[] = {
		{"m", RELOPT_TYPE_INT, offsetof(HnswOptions, m)},
		{"ef_construction", RELOPT_TYPE_INT, offsetof(HnswOptions, ef_construction)},
		{"storage", RELOPT_TYPE_STRING, offsetof(HnswOptions, storage)},
	};
	HnswOptions *opts;

	if (!hnsw_initialized)
		elog(ERROR, "siamese_hnsw reloptions are not registered (hnsw_init_gucs was not called)");

	opts = (HnswOptions *) build_reloptions(reloptions, validate, hnsw_relopt_kind,
											sizeof(HnswOptions), tab, lengthof(tab));
	if (validate && opts != NULL && opts->ef_construction < 2 * opts->m)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("ef_construction must be at least twice m"),
				 errdetail("ef_construction is %d and m is %d.", opts->ef_construction, opts->m)));
	return (bytea *) opts;
}

int
hnsw_get_m(Relation index)
{
	HnswOptions *opts = (HnswOptions *) index->rd_options;

	return opts ? opts->m : HNSW_DEFAULT_M;
}

int
hnsw_get_ef_construction(Relation index)
{
	HnswOptions *opts = (HnswOptions *) index->rd_options;

	return opts ? opts->ef_construction : HNSW_DEFAULT_EF_CONSTRUCTION;
}

int
hnsw_get_code(Relation index)
{
	HnswOptions *opts = (HnswOptions *) index->rd_options;

	if (opts == NULL || opts->storage == 0)
		return HNSW_DEFAULT_CODE;
	return sp_code_kind_from_name((char *) opts + opts->storage);
}

/* Distance kind of the index's operator class (support function 1). */
int
hnsw_get_kind(Relation index)
{
	FmgrInfo   *proc = index_getprocinfo(index, 1, HNSW_KIND_PROC);
	int			kind = DatumGetInt32(FunctionCall1(proc, PointerGetDatum(NULL)));

	if (kind < SP_DISTANCE_L2 || kind > SP_DISTANCE_IP)
		elog(ERROR, "siamese_hnsw support function returned invalid distance kind %d", kind);
	return kind;
}

/* Support functions: each operator class names its distance with one. */
PG_FUNCTION_INFO_V1(siamese_hnsw_l2_support);
PG_FUNCTION_INFO_V1(siamese_hnsw_cosine_support);
PG_FUNCTION_INFO_V1(siamese_hnsw_ip_support);

Datum
siamese_hnsw_l2_support(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(SP_DISTANCE_L2);
}

Datum
siamese_hnsw_cosine_support(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(SP_DISTANCE_COSINE);
}

Datum
siamese_hnsw_ip_support(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(SP_DISTANCE_IP);
}

/*
 * Cost model.  The first row needs a whole layer search (about ef_search
 * expansions, plus the greedy descent), so that is the startup cost.  Producing every row would visit the whole graph
 * with random page reads and ~2m distance evaluations per element, which is
 * dearer than a sequential scan plus sort: the planner then uses the index
 * for ORDER BY ... LIMIT and not for queries that need every row.
 */
static void
hnsw_costestimate(PlannerInfo *root, IndexPath *path, double loop_count,
				  Cost *indexStartupCost, Cost *indexTotalCost,
				  Selectivity *indexSelectivity, double *indexCorrelation,
				  double *indexPages)
{
	GenericCosts costs;
	IndexOptInfo *info = path->indexinfo;
	double		ntuples = Max(info->tuples, 1.0);
	int			m = HNSW_DEFAULT_M;
	double		levels;
	double		visited;
	double		random_page_cost;
	Relation	index;

	/* Without an ORDER BY distance the index is useless (no quals). */
	if (path->indexorderbys == NIL)
	{
		*indexStartupCost = disable_cost;
		*indexTotalCost = disable_cost;
		*indexSelectivity = 1.0;
		*indexCorrelation = 0.0;
		*indexPages = 0;
		return;
	}

	index = index_open(info->indexoid, NoLock);
	m = hnsw_get_m(index);
	index_close(index, NoLock);

	/*
	 * Elements whose distance a first batch computes: about ef_search
	 * expansions, each meeting about m not-yet-visited neighbours, plus the
	 * greedy descent (m per upper layer).
	 */
	levels = Max(1.0, log(ntuples) / log((double) m));
	visited = Min(ntuples, (double) hnsw_ef_search * m + levels * m);

	MemSet(&costs, 0, sizeof(costs));
	costs.numIndexTuples = visited;
	genericcostestimate(root, path, loop_count, &costs);

	get_tablespace_page_costs(info->reltablespace, &random_page_cost, NULL);

	*indexStartupCost = costs.indexTotalCost;
	*indexTotalCost = costs.indexTotalCost
		+ ntuples * 2.0 * m * cpu_operator_cost
		+ info->pages * random_page_cost;
	*indexSelectivity = 1.0;
	*indexCorrelation = 0.0;
	*indexPages = costs.numIndexPages;
}

static char *
hnsw_buildphasename(int64 phasenum)
{
	switch (phasenum)
	{
		case PROGRESS_CREATEIDX_SUBPHASE_INITIALIZE:
			return "initializing";
		case HNSW_PHASE_LOAD:
			return "building graph";
		case HNSW_PHASE_WRITE:
			return "writing graph";
		case HNSW_PHASE_LOG:
			return "WAL-logging index";
		default:
			return NULL;
	}
}

/*
 * amvalidate: every operator is an ORDER BY operator (strategy 1, float8
 * btree sort family) over the opclass input type; support function 1 is
 * f(internal) returns internal naming the distance kind.
 */
static bool
hnsw_validate(Oid opclassoid)
{
	bool		result = true;
	HeapTuple	classtup;
	Form_pg_opclass classform;
	Oid			opfamilyoid;
	Oid			opcintype;
	char	   *opclassname;
	HeapTuple	familytup;
	Form_pg_opfamily familyform;
	char	   *opfamilyname;
	CatCList   *proclist,
			   *oprlist;
	int			i;
	bool		has_proc = false;
	bool		has_op = false;

	classtup = SearchSysCache1(CLAOID, ObjectIdGetDatum(opclassoid));
	if (!HeapTupleIsValid(classtup))
		elog(ERROR, "cache lookup failed for operator class %u", opclassoid);
	classform = (Form_pg_opclass) GETSTRUCT(classtup);
	opfamilyoid = classform->opcfamily;
	opcintype = classform->opcintype;
	opclassname = NameStr(classform->opcname);

	familytup = SearchSysCache1(OPFAMILYOID, ObjectIdGetDatum(opfamilyoid));
	if (!HeapTupleIsValid(familytup))
		elog(ERROR, "cache lookup failed for operator family %u", opfamilyoid);
	familyform = (Form_pg_opfamily) GETSTRUCT(familytup);
	opfamilyname = NameStr(familyform->opfname);

	oprlist = SearchSysCacheList1(AMOPSTRATEGY, ObjectIdGetDatum(opfamilyoid));
	proclist = SearchSysCacheList1(AMPROCNUM, ObjectIdGetDatum(opfamilyoid));

	for (i = 0; i < proclist->n_members; i++)
	{
		HeapTuple	proctup = &proclist->members[i]->tuple;
		Form_pg_amproc procform = (Form_pg_amproc) GETSTRUCT(proctup);

		if (procform->amprocnum != HNSW_KIND_PROC)
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("operator family \"%s\" of access method %s contains function %s with invalid support number %d",
							opfamilyname, "siamese_hnsw",
							format_procedure(procform->amproc), procform->amprocnum)));
			result = false;
			continue;
		}
		if (!check_amproc_signature(procform->amproc, INTERNALOID, true, 1, 1, INTERNALOID))
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("operator family \"%s\" of access method %s contains function %s with wrong signature for support number %d",
							opfamilyname, "siamese_hnsw",
							format_procedure(procform->amproc), procform->amprocnum)));
			result = false;
			continue;
		}
		if (procform->amproclefttype == opcintype && procform->amprocrighttype == opcintype)
			has_proc = true;
	}

	for (i = 0; i < oprlist->n_members; i++)
	{
		HeapTuple	oprtup = &oprlist->members[i]->tuple;
		Form_pg_amop oprform = (Form_pg_amop) GETSTRUCT(oprtup);

		if (oprform->amopstrategy != 1)
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("operator family \"%s\" of access method %s contains operator %s with invalid strategy number %d",
							opfamilyname, "siamese_hnsw",
							format_operator(oprform->amopopr), oprform->amopstrategy)));
			result = false;
			continue;
		}
		if (oprform->amoppurpose != AMOP_ORDER ||
			!opfamily_can_sort_type(oprform->amopsortfamily, FLOAT8OID))
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("operator family \"%s\" of access method %s contains operator %s that is not a float8 ordering operator",
							opfamilyname, "siamese_hnsw",
							format_operator(oprform->amopopr))));
			result = false;
			continue;
		}
		if (!check_amop_signature(oprform->amopopr, FLOAT8OID,
								  oprform->amoplefttype, oprform->amoprighttype))
		{
			ereport(INFO,
					(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
					 errmsg("operator family \"%s\" of access method %s contains operator %s with wrong signature",
							opfamilyname, "siamese_hnsw",
							format_operator(oprform->amopopr))));
			result = false;
			continue;
		}
		if (oprform->amoplefttype == opcintype && oprform->amoprighttype == opcintype)
			has_op = true;
	}

	if (!has_proc)
	{
		ereport(INFO,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("operator class \"%s\" of access method %s is missing support function %d",
						opclassname, "siamese_hnsw", HNSW_KIND_PROC)));
		result = false;
	}
	if (!has_op)
	{
		ereport(INFO,
				(errcode(ERRCODE_INVALID_OBJECT_DEFINITION),
				 errmsg("operator class \"%s\" of access method %s is missing its ordering operator",
						opclassname, "siamese_hnsw")));
		result = false;
	}

	ReleaseCatCacheList(proclist);
	ReleaseCatCacheList(oprlist);
	ReleaseSysCache(familytup);
	ReleaseSysCache(classtup);
	return result;
}

PG_FUNCTION_INFO_V1(siamese_hnsw_handler);

Datum
siamese_hnsw_handler(PG_FUNCTION_ARGS)
{
	IndexAmRoutine *amroutine = makeNode(IndexAmRoutine);

	amroutine->amstrategies = 0;
	amroutine->amsupport = HNSW_NPROCS;
	amroutine->amoptsprocnum = 0;
	amroutine->amcanorder = false;
	amroutine->amcanorderbyop = true;
	amroutine->amcanbackward = false;
	amroutine->amcanunique = false;
	amroutine->amcanmulticol = false;
	amroutine->amoptionalkey = true;
	amroutine->amsearcharray = false;
	amroutine->amsearchnulls = false;
	amroutine->amstorage = false;
	amroutine->amclusterable = false;
	amroutine->ampredlocks = false;
	amroutine->amcanparallel = false;
	amroutine->amcaninclude = false;
	amroutine->amusemaintenanceworkmem = false;
	amroutine->amparallelvacuumoptions = VACUUM_OPTION_PARALLEL_BULKDEL;
	amroutine->amkeytype = InvalidOid;

	amroutine->ambuild = hnsw_build;
	amroutine->ambuildempty = hnsw_buildempty;
	amroutine->aminsert = hnsw_insert;
	amroutine->ambulkdelete = hnsw_bulkdelete;
	amroutine->amvacuumcleanup = hnsw_vacuumcleanup;
	amroutine->amcanreturn = NULL;
	amroutine->amcostestimate = hnsw_costestimate;
	amroutine->amoptions = hnsw_options;
	amroutine->amproperty = NULL;
	amroutine->ambuildphasename = hnsw_buildphasename;
	amroutine->amvalidate = hnsw_validate;
	amroutine->amadjustmembers = NULL;
	amroutine->ambeginscan = hnsw_beginscan;
	amroutine->amrescan = hnsw_rescan;
	amroutine->amgettuple = hnsw_gettuple;
	amroutine->amgetbitmap = NULL;
	amroutine->amendscan = hnsw_endscan;
	amroutine->ammarkpos = NULL;
	amroutine->amrestrpos = NULL;
	amroutine->amestimateparallelscan = NULL;
	amroutine->aminitparallelscan = NULL;
	amroutine->amparallelrescan = NULL;

	PG_RETURN_POINTER(amroutine);
}

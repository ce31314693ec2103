# 051_upgrade.pl: ALTER EXTENSION siamese_pg UPDATE from 0.1.0 to 0.2.0.
#
# A database created with CREATE EXTENSION siamese_pg VERSION '0.1.0' (the
# frozen script sql/upgrade/siamese_pg--0.1.0.sql, commit 33cf939) holding a
# registered model, a table with a generated embedding column and an HNSW
# index, and a robustness report, is updated with
# sql/upgrade/siamese_pg--0.1.0--0.2.0.sql.  Then:
#  * the data, the index and the report are intact, embed() gives the stored
#    embeddings, models() has the new columns, register_onnx_model exists,
#    the user model has its dump copy and a dump/restore keeps every row,
#    reports run and a role can no longer write the report tables;
#  * the extension's objects are exactly those of a fresh 0.2.0 install:
#    members, comments, function definitions and privileges, the columns of
#    every table (in order), constraints, indexes, triggers, policies, views,
#    schemas and the configuration tables (issue 13, defect 14).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib 'test/perl';

my $node = PostgreSQL::Test::Cluster->new('upgrade');
$node->init;
$node->start;

# The fixture model of sql/models.sql (conv 1->2, relu, maxpool, linear 32->4, l2norm; 8x8 gray).
my $weights = '10010000000000007b22636f6e76312e776569676874223a7b226474797065223a22463332222c227368617065223a5b322c312c332c335d2c22646174615f6f666673657473223a5b302c37325d7d2c22636f6e76312e62696173223a7b226474797065223a22463332222c227368617065223a5b325d2c22646174615f6f666673657473223a5b37322c38305d7d2c2266632e776569676874223a7b226474797065223a22463332222c227368617065223a5b342c33325d2c22646174615f6f666673657473223a5b38302c3539325d7d2c2266632e62696173223a7b226474797065223a22463332222c227368617065223a5b345d2c22646174615f6f666673657473223a5b3539322c3630385d7d7d2020202020200000403e0000c03e000000bf0000a0be000000be0000803d0000803e0000e03e0000e0be000080be000080bd0000003e0000a03e0000003f0000c0be000040be000000000000403e0000003e000080bd000040be000000000000403e0000c03e000000bf0000a0be000000be0000803d0000803e0000e03e0000e0be000080be000080bd0000003e0000a03e0000003f0000c0be000040be000000000000403e0000c03e000000bf0000a0be000000be0000803d0000803e0000e03e0000e0be000080be000080bd0000003e0000a03e0000003f0000c0be000040be000000000000403e0000c03e000000bf0000a0be000000be0000803d0000803e0000e03e0000e0be000080be000080bd0000003e0000a03e0000003f0000c0be000040be000000000000403e0000c03e000000bf0000a0be000000be0000803d0000803e0000e03e0000e0be000080be000080bd0000003e0000a03e0000003f0000c0be000040be000000000000403e0000c03e000000bf0000a0be000000be0000803d0000803e0000e03e0000e0be000080be000080bd0000003e0000a03e0000003f0000c0be000040be000000000000403e0000c03e000000bf0000a0be000000be0000803d0000803e0000e03e0000e0be000080be000080bd0000003e0000a03e0000003f0000c0be000040be000000000000403e0000c03e000000bf0000a0be000000be0000803d0000803e0000e03e0000e0be000080be000080bd0000003e0000a03e0000003f0000c0be000040be000000000000403e0000c03e000000bf0000a0be000000be0000803d0000803e000000000000803e000080be0000003f';
my $config = '{"name": "user2d", "format_version": 1, "input": {"channels": 1, "height": 8, "width": 8, "mean": [0.5], "std": [0.25]}, "layers": [{"type": "conv2d", "name": "conv1", "in": 1, "out": 2, "kernel": 3, "stride": 1, "padding": 1}, {"type": "relu"}, {"type": "maxpool", "kernel": 2}, {"type": "flatten"}, {"type": "linear", "name": "fc", "in": 32, "out": 4}, {"type": "l2norm"}], "embedding_dim": 4, "distance": "cosine", "threshold": 0.5}';
my $img = '89504e470d0a1a0a0000000d4948445200000008000000080800000000e164e1570000005349444154789c014800b7ff000020406080a0c0e0000424446484a4c4e4000828486888a8c8e8000c2c4c6c8cacccec001030507090b0d0f0001434547494b4d4f4001838587898b8d8f8001c3c5c7c9cbcdcfc15441f812b73f7650000000049454e44ae426082';

$node->safe_psql('postgres', 'CREATE DATABASE old');
$node->safe_psql('postgres', 'CREATE DATABASE fresh');
$node->safe_psql('old', "SET client_min_messages = error; CREATE EXTENSION siamese_pg VERSION '0.1.0'");
is($node->safe_psql('old', "SELECT extversion FROM pg_extension WHERE extname = 'siamese_pg'"),
	'0.1.0', 'version 0.1.0 installed');
is($node->safe_psql('old', "SELECT count(*) FROM pg_proc WHERE proname = 'register_onnx_model'"),
	'0', '0.1.0 has no register_onnx_model');

# 0.1.0 data: a user model, a table embedding with it (generated column, HNSW
# index), a report of the model against itself, a role that may run reports.
my $hash = $node->safe_psql('old',
	"SELECT siamese.register_model('user2d', decode('$weights', 'hex'), '$config')");
like($hash, qr/^[0-9a-f]{64}$/, 'user model registered in 0.1.0');
$node->safe_psql('old', qq{
	SET client_min_messages = error;
	CREATE TABLE photos (
		id integer PRIMARY KEY,
		label integer NOT NULL,
		image bytea NOT NULL,
		e siamese.embedding(4) GENERATED ALWAYS AS (siamese.embed(image, 'user2d')) STORED);
	INSERT INTO photos (id, label, image)
	SELECT g, g % 4, siamese.corrupt(decode('$img', 'hex'),
		(ARRAY['gaussian_noise', 'shot_noise', 'impulse_noise', 'contrast'])[1 + g % 4], 1 + g % 5, g)
	FROM generate_series(1, 200) g;
	CREATE INDEX photos_e_idx ON photos USING siamese_hnsw (e siamese.embedding_cosine_ops);
	CALL siamese.robustness_report('photos', 'image', 'label', model => 'user2d',
		baseline_model => 'user2d', corruptions => '{fog,contrast}', severities => '{1,3}',
		sample_size => 40);
	CREATE ROLE analyst;
	GRANT USAGE ON SCHEMA siamese TO analyst;
	GRANT SELECT ON photos TO analyst;
});
my $state_sql = q{
	SELECT count(*) || ' ' || md5(string_agg(e::text, ';' ORDER BY id)) FROM photos
};
my $knn_sql = q{
	SET enable_seqscan = off;
	SELECT string_agg(id::text, ',') FROM (SELECT id FROM photos
		ORDER BY e OPERATOR(siamese.<=>) (SELECT e FROM photos WHERE id = 17) LIMIT 5) a
};
my $report_sql = q{
	SELECT string_agg(run_id || ':' || status || ':' || images || ':' || mce || ':'
		|| (SELECT count(*) FROM siamese.robustness_results r WHERE r.run_id = x.run_id), ',' ORDER BY run_id)
	FROM siamese.robustness_runs x
};
my $state = $node->safe_psql('old', $state_sql);
my $knn = $node->safe_psql('old', $knn_sql);
my $report = $node->safe_psql('old', $report_sql);
like($state, qr/^200 [0-9a-f]{32}$/, '0.1.0: 200 embedded rows');
like($knn, qr/^17,/, '0.1.0: the index finds the query image first');
like($report, qr/^1:succeeded:40:1:5$/, '0.1.0: the report ran (mCE 1 against itself; clean + 2 x 2 result rows)');

# --- the update ----------------------------------------------------------------
$node->safe_psql('old', 'ALTER EXTENSION siamese_pg UPDATE');
is($node->safe_psql('old', "SELECT extversion FROM pg_extension WHERE extname = 'siamese_pg'"),
	'0.2.0', 'updated to 0.2.0');

is($node->safe_psql('old', $state_sql), $state, 'the rows and their embeddings are unchanged');
is($node->safe_psql('old', "SELECT live || ' ' || ok FROM siamese.hnsw_check('photos_e_idx')"),
	'200 true', 'the index holds the 200 rows and checks ok');
is($node->safe_psql('old', $knn_sql), $knn, 'the index gives the same neighbours');
is($node->safe_psql('old', q{
	SET client_min_messages = error;
	SELECT count(*) FROM photos WHERE siamese.embed(image, 'user2d')::text = e::text}),
	'200', 'embed() with the model gives the stored embeddings');
is($node->safe_psql('old', $report_sql), $report, 'the report is intact');
is($node->safe_psql('old', q{
	SELECT string_agg(name || ':' || (ops IS NOT NULL) || ':' || (activation_bytes IS NOT NULL), ',')
	FROM siamese.models() WHERE NOT builtin}),
	'user2d:true:true', 'models() lists the model with the new columns');
is($node->safe_psql('old', "SELECT hash FROM siamese.models WHERE name = 'user2d'"), $hash,
	'the model keeps its hash');
is($node->safe_psql('old', q{
	SELECT count(*) FROM siamese.models m JOIN siamese.model_history h USING (name)
	WHERE m.hash = h.hash}),
	$node->safe_psql('old', 'SELECT count(*) FROM siamese.models'), 'the history matches the catalog');
ok($node->safe_psql('old', "SELECT to_regprocedure('siamese.register_onnx_model(text, bytea, jsonb)') IS NOT NULL") eq 't',
	'register_onnx_model exists');
is($node->safe_psql('old', "SELECT hash FROM siamese_models.user2d()"), $hash,
	'the user model has its dump copy');

# reports still run, and a role reads but cannot write the report tables
$node->safe_psql('old', q{
	SET client_min_messages = error;
	CALL siamese.robustness_report('photos', 'image', 'label', model => 'user2d',
		baseline_model => 'user2d', corruptions => '{fog}', severities => '{1}', sample_size => 20)});
is($node->safe_psql('old', 'SELECT status || \':\' || images FROM siamese.robustness_runs ORDER BY run_id DESC LIMIT 1'),
	'succeeded:20', 'a report runs after the update');
my ($ret, $out, $err) = $node->psql('old', q{
	SET ROLE analyst;
	CALL siamese.robustness_report('photos', 'image', 'label', model => 'user2d',
		baseline_model => 'user2d', corruptions => '{fog}', severities => '{1}', sample_size => 20);
	UPDATE siamese.robustness_runs SET mce = 0});
like($err, qr/permission denied for table robustness_runs/, 'a role cannot change its run after the update');
is($node->safe_psql('old', q{SELECT status FROM siamese.robustness_runs WHERE run_by = 'analyst'}),
	'succeeded', 'the role ran its report');

# the upgraded database dumps and restores whole
my $dump = $node->basedir . '/old.dump';
$node->command_ok([ 'pg_dump', '-Fc', '-d', $node->connstr('old'), '-f', $dump ], 'pg_dump -Fc');
$node->safe_psql('postgres', 'CREATE DATABASE restored');
$node->command_ok([ 'pg_restore', '-d', $node->connstr('restored'), $dump ], 'pg_restore');
is($node->safe_psql('restored', $state_sql), $state, 'restored: every row, the same embeddings');

# --- the same objects as a fresh 0.2.0 install -----------------------------------
$node->safe_psql('fresh', 'SET client_min_messages = error; CREATE EXTENSION siamese_pg');
# (the administrator's grant on schema siamese, as in the old database)
$node->safe_psql('fresh', 'GRANT USAGE ON SCHEMA siamese TO analyst');
my $describe = <<'SQL';
WITH ext AS (SELECT oid FROM pg_extension WHERE extname = 'siamese_pg'),
members AS (
	SELECT d.classid, d.objid, d.objsubid FROM pg_depend d, ext
	WHERE d.refclassid = 'pg_extension'::regclass AND d.refobjid = ext.oid AND d.deptype = 'e'),
rels AS (SELECT objid AS oid FROM members WHERE classid = 'pg_class'::regclass),
lines AS (
	SELECT 'member ' || pg_describe_object(classid, objid, objsubid) AS line FROM members
	UNION ALL
	SELECT 'comment ' || pg_describe_object(d.classoid, d.objoid, d.objsubid) || ': ' || d.description
	FROM pg_description d JOIN members m ON m.classid = d.classoid AND m.objid = d.objoid
	UNION ALL
	SELECT 'function ' || p.oid::regprocedure || ' ' || md5(pg_get_functiondef(p.oid))
		|| ' acl ' || coalesce(p.proacl::text, '-')
	FROM pg_proc p JOIN members m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
	WHERE p.prokind <> 'a'
	UNION ALL
	SELECT 'aggregate ' || a.aggfnoid::regprocedure || ' ' || a.aggtransfn::regproc || ' ' || a.aggfinalfn::regproc
		|| ' ' || a.aggcombinefn::regproc || ' ' || a.aggtranstype::regtype || ' ' || coalesce(a.agginitval, '-')
	FROM pg_aggregate a JOIN members m ON m.classid = 'pg_proc'::regclass AND m.objid = a.aggfnoid
	UNION ALL
	SELECT 'column ' || a.attrelid::regclass || ' ' || a.attnum || ' ' || a.attname || ' '
		|| format_type(a.atttypid, a.atttypmod) || ' notnull=' || a.attnotnull || ' identity=' || a.attidentity::text::text
		|| ' generated=' || a.attgenerated::text || ' storage=' || a.attstorage::text::text
		|| ' default=' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '-')
	FROM pg_attribute a JOIN rels r ON r.oid = a.attrelid
	LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
	WHERE a.attnum > 0 AND NOT a.attisdropped
	UNION ALL
	SELECT 'relation ' || c.oid::regclass || ' kind=' || c.relkind::text || ' rls=' || c.relrowsecurity
		|| ' options=' || coalesce(c.reloptions::text, '-') || ' acl=' || coalesce(c.relacl::text, '-')
	FROM pg_class c JOIN rels r ON r.oid = c.oid
	UNION ALL
	SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
	FROM pg_constraint WHERE conrelid IN (SELECT oid FROM rels)
	UNION ALL
	SELECT 'index ' || pg_get_indexdef(indexrelid) FROM pg_index WHERE indrelid IN (SELECT oid FROM rels)
	UNION ALL
	SELECT 'trigger ' || pg_get_triggerdef(oid) FROM pg_trigger
	WHERE tgrelid IN (SELECT oid FROM rels) AND NOT tgisinternal
	UNION ALL
	SELECT 'policy ' || tablename || ' ' || policyname || ' ' || cmd || ' ' || roles::text || ' '
		|| coalesce(qual, '-') || ' ' || coalesce(with_check, '-')
	FROM pg_policies WHERE schemaname = 'siamese'
	UNION ALL
	SELECT 'view ' || c.oid::regclass || ' ' || md5(pg_get_viewdef(c.oid))
	FROM pg_class c JOIN rels r ON r.oid = c.oid WHERE c.relkind = 'v'
	UNION ALL
	SELECT 'schema ' || n.nspname || ' acl=' || coalesce(n.nspacl::text, '-')
	FROM pg_namespace n WHERE n.nspname IN ('siamese', 'siamese_models')
	UNION ALL
	SELECT 'config ' || c::regclass || ' ' || coalesce(w, '')
	FROM pg_extension e, unnest(e.extconfig, e.extcondition) AS x(c, w) WHERE e.extname = 'siamese_pg'
	UNION ALL
	SELECT 'version ' || extversion FROM pg_extension WHERE extname = 'siamese_pg'
)
SELECT line FROM lines ORDER BY line;
SQL
my @old = split /\n/, $node->safe_psql('old', $describe);
my @fresh = split /\n/, $node->safe_psql('fresh', $describe);
cmp_ok(scalar @fresh, '>', 400, 'the comparison sees the extension (' . scalar(@fresh) . ' lines)');
my %in_old = map { $_ => 1 } @old;
my %in_fresh = map { $_ => 1 } @fresh;
my @missing = grep { !$in_old{$_} } @fresh;
my @extra = grep { !$in_fresh{$_} } @old;
diag("only in the fresh install: $_") for @missing;
diag("only in the updated database: $_") for @extra;
ok(@missing == 0 && @extra == 0 && @old == @fresh,
	'the updated extension has exactly the objects of a fresh 0.2.0 install');

# A 0.1.0 database whose generated column calls embed(image) with the
# default model keeps that default through the update (the column's stored
# expression needs it); it says so, and the column still computes.
$node->safe_psql('postgres', 'CREATE DATABASE onearg');
$node->safe_psql('onearg', qq{
	SET client_min_messages = error;
	CREATE EXTENSION siamese_pg VERSION '0.1.0';
	CREATE TABLE shots (id integer, image bytea,
		e siamese.embedding GENERATED ALWAYS AS (siamese.embed(image)) STORED);
	INSERT INTO shots (id, image) VALUES (1, decode('$img', 'hex'));});
my ($update_rc, undef, $update_err) = $node->psql('onearg', 'ALTER EXTENSION siamese_pg UPDATE');
is($update_rc, 0, 'one-argument embed() in a stored expression: the update succeeds');
like($update_err, qr/keeps its default model: 1 stored expression/, 'and says that embed keeps its default');
$node->safe_psql('onearg', qq{INSERT INTO shots (id, image) VALUES (2, decode('$img', 'hex'))});
is($node->safe_psql('onearg', q{
	SELECT count(*) FILTER (WHERE e OPERATOR(siamese.=) siamese.embed(image, 'fashion')) || '/' || count(*) FROM shots}),
	'2/2', 'the generated column computes embed(image, \'fashion\') before and after the update');
is($node->safe_psql('onearg', q{SELECT pg_get_function_arguments('siamese.embed(bytea, text)'::regprocedure)}),
	q{image bytea, model text DEFAULT 'fashion'::text}, 'embed(image, model) kept its default there');
is($node->safe_psql('old', q{SELECT pg_get_function_arguments('siamese.embed(bytea, text)'::regprocedure)
	|| ' / ' || pg_get_function_arguments('siamese.embed(bytea)'::regprocedure)}),
	'image bytea, model text / image bytea',
	'without such expressions embed(image) became an overload (as in a fresh install)');

$node->stop;
done_testing();

# 060_citus.pl: siamese_pg on a Citus cluster, a coordinator and two workers
# (then a third, added late), each a PostgreSQL::Test::Cluster node.
#
#  * models: one registered on the coordinator is usable on every worker
#    with the same hash and embeddings; a rolled-back registration leaves
#    nothing anywhere; a dropped one is gone everywhere; one registered
#    before Citus reaches the workers with siamese.distribute_models(); a
#    node added later has them all;
#  * embed() runs on the workers (the coordinator loads no model) and gives
#    the coordinator's embeddings; embed_batch too;
#  * an HNSW index per shard, k-NN with LIMIT pushed down, recall@10 against
#    the exact answer, filtered k-NN returning k rows, hnsw_check_shards();
#  * an expression index on embed(img) used whichever way the query spells
#    the model;
#  * settings reach the workers through SET LOCAL with
#    citus.propagate_set_commands = 'local', ALTER ROLE ... SET and ALTER
#    DATABASE ... SET, not a plain SET (documented in docs/scale-out.md);
#  * classify_with per row over a distributed table, equal to classify on one
#    node; pair_distance / same_item across rows through a CTE;
#  * corruption and perturbation reports evaluated on the shards equal the
#    one-node reports to the last bit; train_model from a distributed table,
#    its images decoded on the workers, gives the model a one-node copy of
#    the rows (in another order) gives;
#  * no warning reaches the client from statements over every shard.
#
# Citus is not in Debian: scripts/citus-install builds it from vendor/citus.
# Without it the file is skipped with a message saying so, unless
# SIAMESE_REQUIRE_CITUS is set (scripts/test sets it where it could install
# Citus), when a missing Citus fails the test.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib 'test/perl';
use SiameseTest qw(fashion_exporter_or_skip load_fashion);

my $pkglib = `pg_config --pkglibdir`;
chomp $pkglib;
if (!-f "$pkglib/citus.so")
{
	if ($ENV{SIAMESE_REQUIRE_CITUS})
	{
		fail("Citus is required here (SIAMESE_REQUIRE_CITUS) but $pkglib/citus.so is missing");
		done_testing();
		exit 0;
	}
	plan skip_all => "Citus is not installed ($pkglib/citus.so missing): the scale-out tests did not run; "
	  . 'bash scripts/citus-install builds it (docs/scale-out.md)';
}
my $exporter = fashion_exporter_or_skip();

# A node with Citus preloaded; CREATE EXTENSION citus too unless $bare.
sub citus_node
{
	my ($name, $bare) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'citus'
max_connections = 100
max_prepared_transactions = 100
citus.log_remote_commands = off
});
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION citus') unless $bare;
	return $node;
}

my $coord = citus_node('coordinator', 1);
my @workers = (citus_node('worker1'), citus_node('worker2'));

# A model registered before Citus was installed: siamese_pg first.  (Models
# registered once citus is installed are distributed objects from the start,
# even before any worker is added.)
$coord->safe_psql('postgres', q{
	CREATE EXTENSION siamese_pg;
	SELECT siamese.register_model('early', weights, config) FROM siamese.models WHERE name = 'fashion-2d';
	CREATE EXTENSION citus;
});
$coord->safe_psql('postgres', sprintf("SELECT citus_set_coordinator_host('%s', %d)", $coord->host, $coord->port));
$coord->safe_psql('postgres', sprintf("SELECT citus_add_node('%s', %d)", $_->host, $_->port)) for @workers;
is($coord->safe_psql('postgres', "SELECT count(*) FROM pg_dist_node WHERE noderole = 'primary' AND groupid > 0"),
	'2', 'a coordinator and two workers');

# Run $sql on every worker (through the coordinator), results joined by |.
sub on_workers
{
	my ($sql) = @_;
	return $coord->safe_psql('postgres', qq{SELECT string_agg(coalesce(result, 'NULL'), '|' ORDER BY nodeport)
		FROM run_command_on_workers(\$q\$$sql\$q\$)});
}

# --- models on every node ---------------------------------------------------
my $hash = $coord->safe_psql('postgres',
	"SELECT siamese.register_model('later', weights, config) FROM siamese.models WHERE name = 'fashion-robust'");
like($hash, qr/^[0-9a-f]{64}$/, 'a model registered on the coordinator');
is(on_workers("SELECT extversion FROM pg_extension WHERE extname = 'siamese_pg'"), '0.2.0|0.2.0',
	'the extension reached both workers with it');
is(on_workers('SELECT hash FROM siamese_models.later()'), "$hash|$hash",
	'both workers hold the model with the same hash');
$coord->safe_psql('postgres', q{
	BEGIN;
	SELECT siamese.register_model('ghost', weights, config) FROM siamese.models WHERE name = 'fashion';
	ROLLBACK;
});
is(on_workers("SELECT count(*) FROM pg_proc WHERE proname = 'ghost'"), '0|0',
	'a rolled-back registration leaves nothing on the workers');
is(on_workers("SELECT count(*) FROM pg_proc WHERE proname = 'early'"), '0|0',
	'a model registered before Citus is not on the workers yet');
is($coord->safe_psql('postgres', 'SELECT siamese.distribute_models()'), '1', 'distribute_models() distributes it');
is(on_workers("SELECT count(*) FROM pg_proc WHERE proname = 'early'"), '1|1', 'then both workers hold it');
is($coord->safe_psql('postgres', 'SELECT siamese.distribute_models()'), '0', 'a second call has nothing to do');

# --- a distributed table of Fashion-MNIST images ----------------------------
$coord->safe_psql('postgres', q{
	CREATE TABLE photos (id int, label int, class text, img bytea);
	SELECT create_distributed_table('photos', 'id', shard_count => 8);
});
ok(load_fashion($coord, $exporter, 'photos', '--split', 't10k', '--limit', '2000'), '2,000 images copied in');
my ($rc, $out, $err) = $coord->psql('postgres', q{
	ALTER TABLE photos ADD COLUMN e siamese.embedding(128);
	UPDATE photos SET e = siamese.embed(img);
	SELECT count(*) FROM siamese.model_cache();
});
is($rc, 0, 'UPDATE ... SET e = embed(img) over every shard');
is($out, '0', 'the coordinator loaded no model: the workers embedded');
unlike($err, qr/WARNING/, 'no warning reached the client');
is($coord->safe_psql('postgres', 'SELECT count(e) FROM photos'), '2000', 'every row embedded');

# The same rows on the coordinator, as a local table, for single-node answers.
$coord->safe_psql('postgres', 'CREATE TABLE local_photos AS SELECT * FROM photos');
is($coord->safe_psql('postgres', q{
	SELECT count(*) FROM local_photos WHERE e OPERATOR(siamese.=) siamese.embed(img)}),
	'2000', 'the workers gave the embeddings the coordinator computes');
my $digest = q{SELECT md5(string_agg(t, ',' ORDER BY id)) FROM (SELECT id, siamese.embed(img, 'later')::text AS t FROM %s WHERE id < 60) s};
is($coord->safe_psql('postgres', sprintf($digest, 'photos')), $coord->safe_psql('postgres', sprintf($digest, 'local_photos')),
	'a user-registered model embeds on the workers as on the coordinator');
is($coord->safe_psql('postgres', q{
	SELECT count(*) FILTER (WHERE (siamese.embed_batch(ARRAY[img]))[1] OPERATOR(siamese.=) e) FROM photos}),
	'2000', 'embed_batch on the workers');

# --- the index per shard ------------------------------------------------------
$coord->safe_psql('postgres',
	'CREATE INDEX photos_e_idx ON photos USING siamese_hnsw (e siamese.embedding_cosine_ops)');
is(on_workers(q{SELECT count(*) FROM pg_class c JOIN pg_am a ON a.oid = c.relam
	WHERE a.amname = 'siamese_hnsw' AND c.relname ~ '^photos_e_idx_[0-9]+$'}),
	'4|4', 'one siamese_hnsw index per shard (8 shards, 4 per worker)');
is($coord->safe_psql('postgres', q{
	SELECT count(*) || ' ' || bool_and(ok) || ' ' || sum((report ->> 'live')::int)
	FROM siamese.hnsw_check_shards('photos_e_idx')}),
	'8 true 2000', 'hnsw_check_shards: every shard index checked on its worker, all ok, 2000 live elements');
my ($crc, $cout, $cerr) = $coord->psql('postgres', q{SELECT * FROM siamese.hnsw_check_shards('local_photos')});
like($cerr, qr/is not an index/, 'hnsw_check_shards on a table: a clear error');

# 250 rows a shard: the planner would rather sort them than walk the graph, so
# the searches run with sequential scans off on the workers.
my $index_only = q{SET LOCAL citus.propagate_set_commands = 'local'; SET LOCAL enable_seqscan = off;};
my @queries = split /\n/, $coord->safe_psql('postgres',
	'SELECT id FROM local_photos ORDER BY hashint4(id) LIMIT 20');
my ($hits, $total, $full_filtered) = (0, 0, 0);
my $plan = '';
for my $q (@queries)
{
	my $vec = $coord->safe_psql('postgres', "SELECT e FROM local_photos WHERE id = $q");
	my $knn = "SELECT id FROM %s WHERE id <> $q %s ORDER BY e OPERATOR(siamese.<=>) '$vec' LIMIT 10";
	my %exact = map { $_ => 1 } split /\n/,
	  $coord->safe_psql('postgres', sprintf($knn, 'local_photos', ''));
	my @got = split /\n/, $coord->safe_psql('postgres', "BEGIN; $index_only " . sprintf($knn, 'photos', '') . '; COMMIT;');
	$hits += grep { $exact{$_} } @got;
	$total += 10;
	my @filtered = split /\n/, $coord->safe_psql('postgres',
		"BEGIN; $index_only " . sprintf($knn, 'photos', 'AND label = 3') . '; COMMIT;');
	$full_filtered++ if @filtered == 10;
	$plan = $coord->safe_psql('postgres', "BEGIN; $index_only EXPLAIN (COSTS OFF) " . sprintf($knn, 'photos', '') . '; COMMIT;')
	  if $plan eq '';
}
like($plan, qr/Index Scan using photos_e_idx_\d+/, 'k-NN uses the shard index on the workers');
like($plan, qr/Limit.*\n(.*\n)*.*Task Count: 8(.*\n)*.*Limit/, 'the LIMIT is pushed down to every shard');
my $recall = $hits / $total;
note(sprintf('distributed k-NN recall@10 %.3f over %d queries', $recall, scalar @queries));
cmp_ok($recall, '>=', 0.98, sprintf('distributed k-NN recall@10 %.3f against the exact answer', $recall));
is($full_filtered, scalar @queries, 'filtered k-NN (label = 3) returns 10 rows for every query');

# --- an expression index, either spelling -------------------------------------
$coord->safe_psql('postgres', 'CREATE INDEX photos_embed_idx ON photos (siamese.embed(img))');
my $probe = $coord->safe_psql('postgres', 'SELECT e FROM local_photos WHERE id = 5');
for my $spelling ('siamese.embed(img)', "siamese.embed(img, 'fashion')")
{
	my $explain = $coord->safe_psql('postgres', qq{
		BEGIN;
		SET LOCAL citus.propagate_set_commands = 'local';
		SET LOCAL enable_seqscan = off;
		SET LOCAL enable_bitmapscan = off;
		EXPLAIN (COSTS OFF) SELECT id FROM photos WHERE $spelling OPERATOR(siamese.=) '$probe';
		COMMIT;});
	like($explain, qr/Index Scan using photos_embed_idx_\d+/, "the expression index serves $spelling");
	is($coord->safe_psql('postgres', qq{SELECT string_agg(id::text, ',') FROM photos
		WHERE $spelling OPERATOR(siamese.=) '$probe' AND id = 5}), '5', "and finds the row ($spelling)");
}

# --- settings -------------------------------------------------------------------
my $seen = q{SELECT string_agg(DISTINCT current_setting('siamese.hnsw.ef_search'), ',') FROM photos WHERE siamese.dims(e) > 0};
my $default_ef = $coord->safe_psql('postgres',
	q{SELECT siamese.dims('[1]'); SELECT boot_val FROM pg_settings WHERE name = 'siamese.hnsw.ef_search'}) =~ s/^1\n//r;
is($coord->safe_psql('postgres', "SET siamese.hnsw.ef_search = 77; $seen"), $default_ef,
	'a plain SET does not reach the workers');
is($coord->safe_psql('postgres', qq{
	BEGIN;
	SET LOCAL citus.propagate_set_commands = 'local';
	SET LOCAL siamese.hnsw.ef_search = 77;
	$seen;
	COMMIT;}), '77', "SET LOCAL with citus.propagate_set_commands = 'local' does");
$coord->safe_psql('postgres', q{
	CREATE ROLE searcher LOGIN;
	GRANT USAGE ON SCHEMA siamese TO searcher;
	GRANT SELECT ON photos TO searcher;
	ALTER ROLE searcher SET siamese.hnsw.ef_search = 99;
});
is($coord->safe_psql('postgres', $seen, extra_params => [ '-U', 'searcher' ]), '99',
	'ALTER ROLE ... SET reaches the workers for that role');
$coord->safe_psql('postgres', 'ALTER DATABASE postgres SET siamese.hnsw.ef_search = 55');
is($coord->safe_psql('postgres', $seen), '55', 'ALTER DATABASE ... SET reaches the workers (Citus propagates it)');
$coord->safe_psql('postgres', 'ALTER DATABASE postgres RESET siamese.hnsw.ef_search');

# --- classify per row, pairs across rows ----------------------------------------
# Support: the first 100 images; queries: the rest.  Distributed and one-node
# answers must agree row for row.
my $dist_labels = $coord->safe_psql('postgres', q{
	WITH s AS (SELECT array_agg(e ORDER BY id) AS es, array_agg(class ORDER BY id) AS ls FROM photos WHERE id < 100)
	SELECT md5(string_agg(p.id || ':' || c.label, ',' ORDER BY p.id)) || ' '
		|| round(avg((c.label = p.class)::int), 3)
	FROM photos p, s, LATERAL (SELECT label FROM siamese.classify_with(p.img, s.es, s.ls) LIMIT 1) c
	WHERE p.id >= 100});
$coord->safe_psql('postgres', 'CREATE TABLE local_support AS SELECT e, class FROM local_photos WHERE id < 100');
my $local_labels = $coord->safe_psql('postgres', q{
	SELECT md5(string_agg(p.id || ':' || c.label, ',' ORDER BY p.id)) || ' '
		|| round(avg((c.label = p.class)::int), 3)
	FROM local_photos p,
		LATERAL (SELECT label FROM siamese.classify(p.img, 'local_support', 'e', 'class') LIMIT 1) c
	WHERE p.id >= 100});
is($dist_labels, $local_labels, "classify_with per row on the workers equals classify on one node ($dist_labels)");
is($coord->safe_psql('postgres', q{
	WITH q AS MATERIALIZED (SELECT img FROM photos WHERE id = 7)
	SELECT string_agg(p.id || ':' || round(siamese.pair_distance(q.img, p.img)::numeric, 4), ',')
	FROM (SELECT p.id, p.img FROM photos p, q ORDER BY siamese.pair_distance(q.img, p.img), p.id LIMIT 1) p, q}),
	'7:0.0000', 'pair_distance across rows (the query image as a CTE): the image itself is nearest');
is($coord->safe_psql('postgres', q{
	WITH q AS MATERIALIZED (SELECT img FROM photos WHERE id = 7)
	SELECT count(*) FILTER (WHERE siamese.same_item(q.img, p.img)) > 0 FROM photos p, q}),
	't', 'same_item across rows');

# --- reports and training from a distributed table -------------------------------
# A corruption report on a distributed table does its per-image work on the
# shards; it must equal the one-node report.  To show that the coordinator
# decodes no image, its own session may decode none (siamese.image.max_pixels
# = 1, a setting the workers' connections do not get): the one-node report
# then fails, the distributed one does not.
my $report = q{SET client_min_messages = warning;
	CALL siamese.robustness_report('%s', 'img', 'label', corruptions => '{fog,contrast}',
		severities => '{1,3}', sample_size => 200, seed => 3);
	SELECT round(mce::numeric, 6) || ' ' || round(relative_mce::numeric, 6) || ' ' || images || ' '
		|| (SELECT md5(string_agg(format('%%s %%s %%s %%s %%s %%s', r.corruption, r.severity, r.model_error,
			r.baseline_error, r.model_drift, r.baseline_drift), ',' ORDER BY r.corruption, r.severity))
			FROM siamese.robustness_results r WHERE r.run_id = u.run_id)
	FROM siamese.robustness_runs u ORDER BY u.run_id DESC LIMIT 1};
# (the digest covers every cell's errors and drifts, to the last bit)
# (the CALL prints the run id first)
my $dist_report = $coord->safe_psql('postgres', sprintf($report, 'photos')) =~ s/^\d+\n//r;
is($dist_report, $coord->safe_psql('postgres', sprintf($report, 'local_photos')) =~ s/^\d+\n//r,
	"robustness_report on the distributed table equals the one-node report ($dist_report)");
my $blind = 'SET siamese.image.max_pixels = 1; ';
is($coord->safe_psql('postgres', $blind . sprintf($report, 'photos')) =~ s/^\d+\n//r, $dist_report,
	'the distributed report with a coordinator that can decode no image: the same result');
($rc, $out, $err) = $coord->psql('postgres', $blind . sprintf($report, 'local_photos'));
like($err, qr/needs at least 2 images|could not be decoded/, 'while the one-node report cannot run there');
my (undef, undef, $progress) = $coord->psql('postgres', q{SET client_min_messages = notice;
	CALL siamese.robustness_report('photos', 'img', 'label', corruptions => '{fog}', severities => '{1}',
		sample_size => 50, seed => 4)});
like($progress, qr/clean embeddings on the shards.*corrupted images on the shards/s,
	'its progress names the stages on the shards');
# A perturbation report likewise: sequences generated, embedded and scored on
# the shards, the same numbers to the last bit, with labels (FP and T5D
# against the class prototypes each node builds) and without (self-retrieval
# flips).
my $preport = q{SET client_min_messages = warning;
	CALL siamese.perturbation_report('%s', 'img', %s, perturbations => '{gaussian_noise,rotate,brightness}',
		difficulty => 2, sample_size => 60, seed => 5);
	SELECT format('%%s %%s %%s %%s', round(mfr::numeric, 6), round(mt5d::numeric, 6), images,
		(SELECT md5(string_agg(format('%%s %%s %%s %%s %%s %%s %%s', r.perturbation, r.frames, r.sequences,
			r.model_fp, r.baseline_fp, r.model_ut5d, r.baseline_ut5d), ',' ORDER BY r.perturbation))
			FROM siamese.robustness_perturbation_results r WHERE r.run_id = u.run_id))
	FROM siamese.robustness_runs u ORDER BY u.run_id DESC LIMIT 1};
for my $lbl (q{'label'}, 'NULL')
{
	my $dist_p = $coord->safe_psql('postgres', $blind . sprintf($preport, 'photos', $lbl)) =~ s/^\d+\n//r;
	like($dist_p, qr/^\S* \S* 60 [0-9a-f]{32}$/, "perturbation_report (labels $lbl) on the distributed table ran");
	is($dist_p, $coord->safe_psql('postgres', sprintf($preport, 'local_photos', $lbl)) =~ s/^\d+\n//r,
		"perturbation_report (labels $lbl) on the distributed table, with a coordinator that decodes no image, "
		. "equals the one-node report ($dist_p)");
}
(undef, undef, $progress) = $coord->psql('postgres', q{SET client_min_messages = notice;
	CALL siamese.perturbation_report('photos', 'img', 'label', perturbations => '{rotate}',
		sample_size => 20, seed => 4)});
like($progress, qr/clean embeddings on the shards.*perturbed images on the shards/s,
	'its progress names the stages on the shards');
my $train = q{SET client_min_messages = warning;
	CALL siamese.train_model('%s', '%s', 'img', 'class', architecture => 'mlp', epochs => 1,
		images_per_class => 8, seed => 7)};
# the workers decode (siamese._train_pixels): a coordinator that can decode no
# image trains the same model
my $dist_hash = $coord->safe_psql('postgres', $blind . sprintf($train, 'trained-dist', 'photos')) =~ s/^model_hash\n//r;
like($dist_hash, qr/^[0-9a-f]{64}$/,
	'train_model from the distributed table registers a model, with a coordinator that decodes no image');
# the one-node copy in another physical order
$coord->safe_psql('postgres', 'CREATE TABLE local_shuffled AS SELECT * FROM local_photos ORDER BY md5(id::text)');
$coord->safe_psql('postgres', sprintf($train, 'trained-local', 'local_shuffled'));
is($coord->safe_psql('postgres', q{SELECT a.weights = b.weights FROM siamese.models a, siamese.models b
	WHERE a.name = 'trained-dist' AND b.name = 'trained-local'}), 't',
	'the same weights as from the one-node table (same rows, same seed, another row order)');
is(on_workers(q{SELECT hash FROM siamese_models."trained-dist"()}), "$dist_hash|$dist_hash",
	'and it is on both workers');
# a head on a frozen model: the workers compute the base's features
# (siamese._train_features), the same head as on one node
my $head = q{SET client_min_messages = warning;
	CALL siamese.train_model('%s', '%s', 'img', 'class', base_model => 'fashion', head => 'linear', epochs => 1,
		images_per_class => 8, seed => 7)};
$coord->safe_psql('postgres', $blind . sprintf($head, 'trained-head-dist', 'photos'));
$coord->safe_psql('postgres', sprintf($head, 'trained-head-local', 'local_shuffled'));
is($coord->safe_psql('postgres', q{SELECT a.weights = b.weights FROM siamese.models a, siamese.models b
	WHERE a.name = 'trained-head-dist' AND b.name = 'trained-head-local'}), 't',
	'a head trained from the distributed table (features on the workers) equals the one-node head');
$coord->safe_psql('postgres', q{DELETE FROM siamese.models WHERE name LIKE 'trained-%'});

# --- dropping, and a node added later -------------------------------------------
$coord->safe_psql('postgres', q{DELETE FROM siamese.models WHERE name = 'later'});
is(on_workers("SELECT count(*) FROM pg_proc WHERE proname = 'later'"), '0|0', 'a dropped model is gone from the workers');
($rc, $out, $err) = $coord->psql('postgres', q{SELECT count(siamese.embed(img, 'later')) FROM photos});
like($err, qr/model "later" does not exist/, 'and embedding with it on the workers fails clearly');

my $late = citus_node('worker3');
$coord->safe_psql('postgres', sprintf("SELECT citus_add_node('%s', %d)", $late->host, $late->port));
is($late->safe_psql('postgres', q{SELECT string_agg(proname, ',' ORDER BY proname) FROM pg_proc
	WHERE pronamespace = 'siamese_models'::regnamespace}), 'early', 'a node added later has the models');
my $img7 = $coord->safe_psql('postgres', q{SELECT encode(img, 'hex') FROM local_photos WHERE id = 7});
is($late->safe_psql('postgres', "SELECT siamese.embed(decode('$img7', 'hex'), 'early')::text"),
	$coord->safe_psql('postgres', "SELECT siamese.embed(decode('$img7', 'hex'), 'early')::text"),
	'and embeds with them as the coordinator does');

$_->stop for ($coord, @workers, $late);
done_testing();

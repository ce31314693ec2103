# 106_hnsw_fashion_recall.pl: siamese_hnsw recall@10 at default index and
# search settings against the exact (sequential scan) top 10, on the real
# data the index is meant for: the shipped `fashion` model's embeddings of
# all 70,000 Fashion-MNIST images (60k train + 10k test), for every operator
# class with float32 vectors, and with sq8 or bf16 codes (re-ranked by the
# executor).  The fashion embeddings are L2-normalised, so l2, cosine and inner
# product all rank meaningfully.
#
# The 100 queries are seeded picks from the test split; each is itself in the
# indexed table, so both the exact and the index answer exclude the query row
# (id <> q.id): the trivial self match would otherwise be a free hit.
#
# Skips (whole file) when the fashion model is not installed, or the exporter
# (make tools) or the Fashion-MNIST files are missing.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use Time::HiRes qw(time);
use lib 'test/perl';
use SiameseTest qw(new_node fashion_exporter_or_skip load_fashion);

my $exporter = fashion_exporter_or_skip();

my $t_start = time;
my $node = new_node('hnsw_fashion',
	conf => "maintenance_work_mem = '256MB'\nmax_worker_processes = 8\nmax_parallel_workers = 8\n");

plan skip_all => 'the fashion model is not installed'
  unless $node->safe_psql('postgres',
	"SELECT count(*) FROM siamese.models() WHERE name = 'fashion'") eq '1';

# --- load the 70k images as PNG bytea ---------------------------------------
$node->safe_psql('postgres', q{
	CREATE TABLE imgs (id int, label int, class text, img bytea);
	CREATE TABLE imgs_t10k (LIKE imgs);
});
for my $split ([ 'train', 'imgs' ], [ 't10k', 'imgs_t10k' ])
{
	my ($name, $table) = @$split;
	ok(load_fashion($node, $exporter, $table, '--split', $name), "$name split loaded");
}
# test images get ids 60000..69999 so one id identifies an image
$node->safe_psql('postgres', q{
	INSERT INTO imgs SELECT id + 60000, label, class, img FROM imgs_t10k;
	DROP TABLE imgs_t10k;
	ANALYZE imgs;
});
is($node->safe_psql('postgres', 'SELECT count(*), count(DISTINCT id) FROM imgs'),
	'70000|70000', '70,000 images loaded');
my $t_loaded = time;

# --- embed them in parallel --------------------------------------------------
my $par = q{
	SET client_min_messages = error;
	SET max_parallel_workers_per_gather = 2;
	SET parallel_setup_cost = 0;
	SET parallel_tuple_cost = 0;
	SET min_parallel_table_scan_size = 0;
};
like($node->safe_psql('postgres', $par . q{
	EXPLAIN (COSTS OFF) CREATE TABLE items AS
	  SELECT id, label, siamese.embed(img, 'fashion') AS e FROM imgs;
}), qr/Gather/, 'the embedding CREATE TABLE AS plans a parallel scan');
$node->safe_psql('postgres', $par . q{
	CREATE TABLE items AS SELECT id, label, siamese.embed(img, 'fashion') AS e FROM imgs;
	ANALYZE items;
});
is($node->safe_psql('postgres', q{
	SELECT count(*), count(e), min(siamese.dims(e)), max(siamese.dims(e)) FROM items
}), '70000|70000|128|128', 'every image embedded, 128 dimensions');
my $t_embedded = time;

# 100 seeded queries from the test split (a fixed pseudo-random order)
$node->safe_psql('postgres', q{
	SELECT setseed(0.106);
	CREATE TABLE queries AS
	  SELECT q, id, e FROM (
	    SELECT row_number() OVER () AS q, id, e FROM (
	      SELECT id, e FROM items WHERE id >= 60000 ORDER BY random() LIMIT 100) s) t;
});
is($node->safe_psql('postgres', 'SELECT count(DISTINCT id) FROM queries'), '100', '100 distinct queries');

# exact top 10 (index off) for each distance, computed before any index exists;
# each operator class with float32 vectors, then with a storage code
my @cases = ([ 'embedding_l2_ops', '<->', 'l2', 'f32' ],
	[ 'embedding_cosine_ops', '<=>', 'cos', 'f32' ],
	[ 'embedding_ip_ops', '<#>', 'ip', 'f32' ],
	[ 'embedding_l2_ops', '<->', 'l2', 'sq8' ],
	[ 'embedding_cosine_ops', '<=>', 'cos', 'bf16' ],
	[ 'embedding_ip_ops', '<#>', 'ip', 'sq8' ]);
for my $case (grep { $_->[3] eq 'f32' } @cases)
{
	my ($opclass, $op, $tag) = @$case;
	$node->safe_psql('postgres', qq{
		SET search_path = public, siamese;
		SET enable_indexscan = off;
		CREATE TABLE exact_$tag AS SELECT q.q, x.id FROM queries q CROSS JOIN LATERAL
		  (SELECT i.id FROM items i WHERE i.id <> q.id ORDER BY i.e $op q.e LIMIT 10) x;
	});
}
my $t_exact = time;

my %recall;
my @timing;
for my $case (@cases)
{
	my ($opclass_name, $op, $tag, $code) = @$case;
	my $opclass = "$opclass_name ($code)";
	my $t0 = time;
	$node->safe_psql('postgres',
		"CREATE INDEX items_idx ON items USING siamese_hnsw (e siamese.$opclass_name) WITH (storage = $code)");
	my $build = time - $t0;
	my $plan = $node->safe_psql('postgres', qq{
		SET search_path = public, siamese;
		EXPLAIN (COSTS OFF) SELECT id FROM items ORDER BY e $op (SELECT e FROM queries WHERE q = 1) LIMIT 10;
	});
	like($plan, qr/Index Scan using items_idx/, "$opclass: planner uses the index for ORDER BY LIMIT");
	my $approx_sql = qq{SELECT q.q, x.id FROM queries q CROSS JOIN LATERAL
		  (SELECT i.id FROM items i WHERE i.id <> q.id ORDER BY i.e $op q.e LIMIT 10) x};
	my $search_gucs = q{
		SET search_path = public, siamese;
		SET enable_seqscan = off;
		SET enable_sort = off;
	};
	$plan = $node->safe_psql('postgres', "$search_gucs EXPLAIN (COSTS OFF) $approx_sql");
	ok($plan =~ /Index Scan using items_idx/ && $plan !~ /Seq Scan on items/,
		"$opclass: the recall query scans the index, not the table") or diag($plan);
	$t0 = time;
	my $r = $node->safe_psql('postgres', qq{
		$search_gucs
		CREATE TEMP TABLE approx AS $approx_sql;
		SELECT (SELECT count(*) FROM approx) || '|' ||
		       round((SELECT count(*) FROM approx a JOIN exact_$tag x USING (q, id))::numeric
		             / (SELECT count(*) FROM exact_$tag), 4);
	});
	my $search = time - $t0;
	my ($n_approx, $rec) = split /\|/, $r;
	is($n_approx, '1000', "$opclass: the index returns 10 rows for each of the 100 queries");
	$recall{$opclass} = $rec;
	cmp_ok($rec, '>=', 0.95, "$opclass: recall\@10 $rec >= 0.95 on 70k fashion embeddings");
	# diagnostic only (not asserted): recall with a tiny search list, to show
	# how much margin the default has on this (well clustered) data
	my $low = $node->safe_psql('postgres', qq{
		$search_gucs
		SET siamese.hnsw.ef_search = 10;
		SELECT round(count(*)::numeric / 1000, 4)
		  FROM ($approx_sql) a JOIN exact_$tag x USING (q, id);
	});
	note("$opclass: recall\@10 with siamese.hnsw.ef_search = 10: $low");
	my $chk = $node->safe_psql('postgres',
		"SELECT live, problems, unreachable, ok FROM siamese.hnsw_check('items_idx')");
	is($chk, '70000|0|0|t', "$opclass: hnsw_check reports the graph ok");
	push @timing, sprintf('%s build %.1fs search %.1fs', $opclass, $build, $search);
	$node->safe_psql('postgres', 'DROP INDEX items_idx');
}

note(sprintf('recall@10: %s', join(', ', map { "$_ $recall{$_}" } map { "$_->[0] ($_->[3])" } @cases)));
note(sprintf('load %.1fs, embed %.1fs, exact %.1fs; %s; total %.1fs',
	$t_loaded - $t_start, $t_embedded - $t_loaded, $t_exact - $t_embedded,
	join('; ', @timing), time - $t_start));

$node->stop;
done_testing();

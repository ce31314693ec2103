# 101_hnsw_recall.pl: siamese_hnsw recall@10 at default settings against the
# exact (sequential scan) top 10, for every operator class, on a seeded
# clustered synthetic set (20k x 128), with float32 vectors and with each
# storage code (sq8, bf16); then delete half, VACUUM, insert new
# rows: recall holds, no dead row is returned, the graph checks clean; and a
# selective filtered query still returns k rows (iterative scan).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use lib 'test/perl';
use SiameseTest qw(new_node);

my $rows = $ENV{SIAMESE_HNSW_ROWS} // 20000;
my $dims = 128;
my $node = new_node('hnsw_recall', conf => "maintenance_work_mem = '256MB'\n");

# 100 cluster centres in [-1,1]^128; each row is its centre plus uniform noise.
$node->safe_psql('postgres', qq{
	SET search_path = public, siamese;
	SELECT setseed(0.25);
	CREATE TABLE centers AS
	  SELECT c, ARRAY(SELECT (random() * 2 - 1)::real FROM generate_series(1, $dims) d WHERE c > 0) v
	  FROM generate_series(1, 100) c;
	CREATE TABLE items AS
	  SELECT i, i % 10 AS category,
	         array_to_embedding(ARRAY(SELECT (c.v[d] + (random() - 0.5) * 1.2)::real
	                                  FROM generate_series(1, $dims) d), $dims, true) AS e
	  FROM generate_series(1, $rows) i JOIN centers c ON c.c = 1 + (i * 7919) % 100;
	CREATE TABLE queries AS
	  SELECT q, array_to_embedding(ARRAY(SELECT (c.v[d] + (random() - 0.5) * 1.2)::real
	                                     FROM generate_series(1, $dims) d), $dims, true) AS e
	  FROM generate_series(1, 50) q JOIN centers c ON c.c = 1 + (q * 31) % 100;
	ANALYZE items;
});

# recall@10 of the index scan against the exact answer, over all queries
sub recall
{
	my ($op, $where, $settings) = @_;
	$where //= '';
	$settings //= '';
	return $node->safe_psql('postgres', qq{
		SET search_path = public, siamese;
		$settings
		SET enable_indexscan = off;
		CREATE TEMP TABLE exact AS SELECT q.q, x.i FROM queries q CROSS JOIN LATERAL
		  (SELECT i FROM items $where ORDER BY items.e $op q.e LIMIT 10) x;
		SET enable_indexscan = on;
		SET enable_seqscan = off;
		SET enable_sort = off;
		CREATE TEMP TABLE approx AS SELECT q.q, x.i FROM queries q CROSS JOIN LATERAL
		  (SELECT i FROM items $where ORDER BY items.e $op q.e LIMIT 10) x;
		SELECT round(count(*)::numeric / (SELECT count(*) FROM exact), 4)
		  FROM approx a JOIN exact e USING (q, i);
	});
}

for my $case (['embedding_l2_ops', '<->'], ['embedding_cosine_ops', '<=>'], ['embedding_ip_ops', '<#>'])
{
	my ($opclass, $op) = @$case;
	my $t0 = time;
	# serial builds: the same graph every run (105_hnsw_parallel.pl covers parallel ones)
	$node->safe_psql('postgres', "SET max_parallel_maintenance_workers = 0;
		CREATE INDEX items_idx ON items USING siamese_hnsw (e siamese.$opclass) WITH (storage = f32)");
	my $secs = time - $t0;
	my $plan = $node->safe_psql('postgres', qq{
		SET search_path = public, siamese;
		EXPLAIN (COSTS OFF) SELECT i FROM items ORDER BY e $op (SELECT e FROM queries WHERE q = 1) LIMIT 10;
	});
	like($plan, qr/Index Scan using items_idx/, "$opclass: planner uses the index for ORDER BY LIMIT");
	my $r = recall($op);
	cmp_ok($r, '>=', 0.95, "$opclass: recall\@10 $r >= 0.95 (build ${secs}s)");
	# At ef_search = k the search has no slack, so the quality of the descent
	# and of the scan's batches shows: floors a little under the figures of
	# 2026-12-07 (0.958, 0.928, 0.956, the same in every run: the data is
	# seeded and the serial build deterministic).  Skipping layer 1 in the
	# descent gave 0.880 / 0.824 / 0.906, handing out whole batches 0.908 /
	# 0.914 / 0.934.
	my $r10 = recall($op, '', 'SET siamese.hnsw.ef_search = 10;');
	my %floor10 = ('<->' => 0.935, '<=>' => 0.90, '<#>' => 0.94);
	cmp_ok($r10, '>=', $floor10{$op}, "$opclass: recall\@10 at ef_search 10 $r10 >= $floor10{$op}");
	my $chk = $node->safe_psql('postgres',
		"SELECT live, problems, unreachable, ok FROM siamese.hnsw_check('items_idx')");
	is($chk, "$rows|0|0|t", "$opclass: graph checks clean");
	if ($op eq '<->')
	{
		# A scan pins element pages through a per-backend cache of the
		# buffers that last held them (ReadRecentBuffer).  With 1 MB of
		# shared buffers against a 14 MB index every page is evicted and
		# reloaded elsewhere while the scans run: the stale entries must fall
		# back to a normal read and give exactly the same answers.
		$node->append_conf('postgresql.conf', "shared_buffers = '1MB'\n");
		$node->restart;
		is(recall($op, '', 'SET siamese.hnsw.ef_search = 10;'), $r10,
			"$opclass: the same recall\@10 at ef_search 10 with 1 MB of shared buffers");
		$node->append_conf('postgresql.conf', "shared_buffers = '128MB'\n");
		$node->restart;
	}
	$node->safe_psql('postgres', 'DROP INDEX items_idx');
}

# Storage codes (storage = sq8, the default, and bf16): elements hold codes, the scan
# reports lower bounds and the executor re-ranks by the exact distance.
# Recall at the default ef_search holds the float32 floor, and at ef_search
# 10 stays near it: the codes rank the graph's candidates almost as the
# floats do, and the re-rank pulls further rows when the bounds overlap.
# Every row comes back in exact distance order.  Floors a little under the
# figures of 2026-12-07 (serial builds, seeded data: the same every run):
# sq8 0.974 / 0.946 / 0.970 and bf16 0.972 / 0.942 / 0.962, above float32's
# 0.958 / 0.928 / 0.956, since the re-rank reads past the first batch when
# the bounds of its last rows overlap.
my %floor10_code = ('sq8' => { '<->' => 0.96, '<=>' => 0.935, '<#>' => 0.96 },
	'bf16' => { '<->' => 0.96, '<=>' => 0.93, '<#>' => 0.95 });
for my $code ('sq8', 'bf16')
{
	for my $case (['embedding_l2_ops', '<->'], ['embedding_cosine_ops', '<=>'], ['embedding_ip_ops', '<#>'])
	{
		my ($opclass, $op) = @$case;
		$node->safe_psql('postgres', "SET max_parallel_maintenance_workers = 0;
			CREATE INDEX items_idx ON items USING siamese_hnsw (e siamese.$opclass) WITH (storage = $code)");
		my $r = recall($op);
		cmp_ok($r, '>=', 0.95, "$opclass, $code: recall\@10 $r >= 0.95");
		my $r10 = recall($op, '', 'SET siamese.hnsw.ef_search = 10;');
		my $f = $floor10_code{$code}{$op};
		cmp_ok($r10, '>=', $f, "$opclass, $code: recall\@10 at ef_search 10 $r10 >= $f");
		is($node->safe_psql('postgres', qq{
			SET search_path = public, siamese;
			SET enable_seqscan = off; SET enable_sort = off;
			SELECT count(*) FILTER (WHERE d < prev) || '|' || count(*) FROM (
			  SELECT d, lag(d) OVER (PARTITION BY q ORDER BY rn) AS prev FROM (
			    SELECT q.q, x.rn, x.d FROM queries q CROSS JOIN LATERAL
			      (SELECT row_number() OVER () AS rn, items.e $op q.e AS d
			         FROM (SELECT e FROM items ORDER BY items.e $op q.e LIMIT 10) items) x) s) t}),
			'0|500', "$opclass, $code: 500 rows, each in exact distance order");
		is($node->safe_psql('postgres',
			"SELECT live, problems, unreachable, ok FROM siamese.hnsw_check('items_idx')"),
			"$rows|0|0|t", "$opclass, $code: graph checks clean");
		$node->safe_psql('postgres', 'DROP INDEX items_idx');
	}
}

# Build progress is visible in pg_stat_progress_create_index.
{
	my ($in, $out, $err) = ('', '', '');
	my $h = IPC::Run::start(
		[ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c',
		  'CREATE INDEX items_progress ON items USING siamese_hnsw (e)' ],
		'<', \$in, '>', \$out, '2>', \$err);
	ok($node->poll_query_until('postgres', q{
		SELECT phase = 'building index: building graph' AND tuples_done > 0
		  FROM pg_stat_progress_create_index}),
		'progress view shows the graph build phase with tuples done');
	$h->finish;
	is($err, '', 'progress-watched build succeeded');
	$node->safe_psql('postgres', 'DROP INDEX items_progress');
}

# Delete half, VACUUM, insert fresh rows; recall and correctness hold.
$node->safe_psql('postgres',
	"CREATE INDEX items_idx ON items USING siamese_hnsw (e siamese.embedding_l2_ops)");
$node->safe_psql('postgres', 'DELETE FROM items WHERE i % 2 = 0');
$node->safe_psql('postgres', 'VACUUM (INDEX_CLEANUP ON) items');
my $half = $rows / 2;
is($node->safe_psql('postgres',
		"SELECT live, links_to_deleted, problems, unreachable, ok FROM siamese.hnsw_check('items_idx')"),
	"$half|0|0|0|t", 'after VACUUM: dead elements unlinked, graph clean');
$node->safe_psql('postgres', qq{
	SET search_path = public, siamese;
	INSERT INTO items
	  SELECT i, i % 10,
	         array_to_embedding(ARRAY(SELECT (c.v[d] + (random() - 0.5) * 1.2)::real
	                                  FROM generate_series(1, $dims) d), $dims, true)
	  FROM generate_series($rows + 1, $rows + 2000) i JOIN centers c ON c.c = 1 + (i * 7919) % 100;
});
my $r = recall('<->');
cmp_ok($r, '>=', 0.95, "after delete + VACUUM + insert: recall\@10 $r >= 0.95");
# inserts can leave a rare element without in-links; VACUUM relinks them
$node->safe_psql('postgres', 'VACUUM (INDEX_CLEANUP ON) items');
is($node->safe_psql('postgres',
		"SELECT live, problems, unreachable, ok FROM siamese.hnsw_check('items_idx')"),
	($half + 2000) . '|0|0|t', 'after inserts + VACUUM: every live element reachable');
is($node->safe_psql('postgres', qq{
	SET search_path = public, siamese;
	SET enable_seqscan = off;
	SET siamese.hnsw.max_scan_tuples = 1000000;
	SELECT count(*) FILTER (WHERE i % 2 = 0 AND i <= $rows), count(*)
	  FROM (SELECT i FROM items ORDER BY e <-> (SELECT e FROM queries WHERE q = 3) LIMIT 1000000) s;
}), '0|' . ($half + 2000), 'an unbounded index scan returns every live row and no dead one');

# Filtered query: 1 row in 10 matches; LIMIT 10 still gets 10 rows, and with
# ef_search 10 the iterative scan must go well beyond the first batch.
is($node->safe_psql('postgres', qq{
	SET search_path = public, siamese;
	SET enable_seqscan = off;
	SET siamese.hnsw.ef_search = 10;
	SELECT count(*) FROM (SELECT i FROM items WHERE category = 3
	  ORDER BY e <-> (SELECT e FROM queries WHERE q = 7) LIMIT 10) s;
}), '10', 'filtered query returns k rows');
is($node->safe_psql('postgres', qq{
	SET search_path = public, siamese;
	SET enable_seqscan = off;
	SELECT count(*) FROM (SELECT i FROM items WHERE i % 997 = 1
	  ORDER BY e <-> (SELECT e FROM queries WHERE q = 7) LIMIT 10) s;
}), '10', 'very selective filter (0.1%) returns k rows');
my $rf = recall('<->', 'WHERE category = 3');
# 10% selectivity: the 10 answers lie around rank 100 overall, where this
# (hard, high intrinsic dimension) data set gives about 0.85
cmp_ok($rf, '>=', 0.8, "filtered recall\@10 $rf >= 0.8");

$node->stop;
done_testing();

# 105_hnsw_parallel.pl: parallel build of a siamese_hnsw index.  With
# max_parallel_maintenance_workers = 2 on 20k x 128 rows the build launches
# workers (DEBUG1 message), the graph checks clean and recall@10 at default
# settings is >= 0.95 against the exact answer, for L2 and cosine and for
# CREATE INDEX CONCURRENTLY; when the shared graph would not fit in
# maintenance_work_mem the build runs serially (and continues on disk).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib 'test/perl';
use SiameseTest qw(new_node);

my $rows = 20000;
my $dims = 128;
my $node = new_node('hnsw_parallel', conf => "maintenance_work_mem = '256MB'\n"
	  . "max_parallel_maintenance_workers = 2\nmax_worker_processes = 8\nmax_parallel_workers = 8\n");

# Same clustered synthetic set as 101, in a fixed-dimension column (the
# parallel build needs the dimension before it reads a row).
$node->safe_psql('postgres', qq{
	SET search_path = public, siamese;
	SELECT setseed(0.25);
	CREATE TABLE centers AS
	  SELECT c, ARRAY(SELECT (random() * 2 - 1)::real FROM generate_series(1, $dims) d WHERE c > 0) v
	  FROM generate_series(1, 100) c;
	CREATE TABLE items (i int, e embedding($dims));
	INSERT INTO items
	  SELECT i, array_to_embedding(ARRAY(SELECT (c.v[d] + (random() - 0.5) * 1.2)::real
	                                     FROM generate_series(1, $dims) d), $dims, true)
	  FROM generate_series(1, $rows) i JOIN centers c ON c.c = 1 + (i * 7919) % 100;
	INSERT INTO items VALUES ($rows + 1, NULL);
	CREATE TABLE queries AS
	  SELECT q, array_to_embedding(ARRAY(SELECT (c.v[d] + (random() - 0.5) * 1.2)::real
	                                     FROM generate_series(1, $dims) d), $dims, true) AS e
	  FROM generate_series(1, 50) q JOIN centers c ON c.c = 1 + (q * 31) % 100;
	ALTER TABLE items SET (parallel_workers = 2);
	ANALYZE items;
});

sub recall
{
	my ($op) = @_;
	return $node->safe_psql('postgres', qq{
		SET search_path = public, siamese;
		SET enable_indexscan = off;
		CREATE TEMP TABLE exact AS SELECT q.q, x.i FROM queries q CROSS JOIN LATERAL
		  (SELECT i FROM items ORDER BY items.e $op q.e LIMIT 10) x;
		SET enable_indexscan = on;
		SET enable_seqscan = off;
		SET enable_sort = off;
		CREATE TEMP TABLE approx AS SELECT q.q, x.i FROM queries q CROSS JOIN LATERAL
		  (SELECT i FROM items ORDER BY items.e $op q.e LIMIT 10) x;
		SELECT round(count(*)::numeric / (SELECT count(*) FROM exact), 4)
		  FROM approx a JOIN exact e USING (q, i);
	});
}

# Run a CREATE INDEX with DEBUG1 messages; return its stderr.
sub build
{
	my ($sql, $mwm) = @_;
	my ($out, $err) = ('', '');
	my $rc = $node->psql('postgres', "SET client_min_messages = debug1;\n"
		  . "SET maintenance_work_mem = '$mwm';\n$sql",
		stdout => \$out, stderr => \$err);
	is($rc, 0, "build succeeded: $sql");
	return $err;
}

for my $case (
	[ 'embedding_l2_ops', '<->', 'CREATE INDEX' ],
	[ 'embedding_cosine_ops', '<=>', 'CREATE INDEX CONCURRENTLY' ])
{
	my ($opclass, $op, $create) = @$case;
	my $t0 = time;
	my $err = build("$create items_idx ON items USING siamese_hnsw (e siamese.$opclass)", '256MB');
	my $secs = time - $t0;
	my ($launched) = $err =~ /parallel build of "items_idx" with (\d+) of 2 requested workers launched/;
	ok(defined $launched && $launched >= 1,
		"$opclass ($create): parallel workers launched: " . ($launched // 'none'));
	is($node->safe_psql('postgres',
			"SELECT elements, live, problems, unreachable, ok FROM siamese.hnsw_check('items_idx')"),
		"$rows|$rows|0|0|t", "$opclass: parallel-built graph checks clean, NULL skipped");
	my $r = recall($op);
	cmp_ok($r, '>=', 0.95, "$opclass: recall\@10 $r >= 0.95 at default settings (build ${secs}s)");
	$node->safe_psql('postgres', 'DROP INDEX items_idx');
}

# The parallel-built index takes inserts and VACUUM like any other.
build('CREATE INDEX items_idx ON items USING siamese_hnsw (e)', '256MB');
$node->safe_psql('postgres', qq{
	SET search_path = public, siamese;
	DELETE FROM items WHERE i % 3 = 0;
	INSERT INTO items SELECT $rows + 1 + i, e FROM queries q(i, e);
});
$node->safe_psql('postgres', 'VACUUM (INDEX_CLEANUP ON) items');
my $live = $node->safe_psql('postgres', 'SELECT count(e) FROM items');
is($node->safe_psql('postgres',
		"SELECT live, links_to_deleted, problems, unreachable, ok FROM siamese.hnsw_check('items_idx')"),
	"$live|0|0|0|t", 'parallel-built index after delete, insert and VACUUM checks clean');
is($node->safe_psql('postgres', q{
	SET search_path = public, siamese;
	SET enable_seqscan = off;
	SELECT i FROM items ORDER BY e <-> (SELECT e FROM queries WHERE q = 5) LIMIT 1;
}), $rows + 1 + 5, 'an inserted row is found by the parallel-built index');
$node->safe_psql('postgres', 'DROP INDEX items_idx');

# A shared graph that does not fit in maintenance_work_mem: serial build,
# which here also outgrows memory and continues on disk.
$node->safe_psql('postgres', qq{
	CREATE TABLE small (i int, e siamese.embedding($dims));
	INSERT INTO small SELECT i, e FROM items WHERE i <= 3000;
	ALTER TABLE small SET (parallel_workers = 2);
	ANALYZE small;
});
my $n = $node->safe_psql('postgres', 'SELECT count(e) FROM small');
my $err = build('CREATE INDEX small_idx ON small USING siamese_hnsw (e)', '1MB');
like($err, qr/NOTICE:  building index "small_idx" without parallel workers\nDETAIL:  The parallel build needs about \d+ MB of shared memory for the graph; maintenance_work_mem is 1 MB\./,
	'too little maintenance_work_mem: serial build, and a NOTICE says why');
like($err, qr/WARNING:  siamese_hnsw graph no longer fits in maintenance_work_mem/,
	'serial build continues on disk');
unlike($err, qr/parallel build of/, 'no workers launched');
is($node->safe_psql('postgres',
		"SELECT live, problems, ok FROM siamese.hnsw_check('small_idx')"),
	"$n|0|t", 'serial fallback graph checks clean');

$node->stop;
done_testing();

# 102_hnsw_crash.pl: siamese_hnsw survives an immediate shutdown in the
# middle of concurrent inserts: after crash recovery the graph checks clean,
# every committed row is found through the index, queries keep working, and
# recall against the exact answer holds; with float32 vectors and with sq8
# codes (whose pages the WAL replays the same way).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use lib 'test/perl';
use SiameseTest qw(new_node items_recall10 items_reachable random_items_sql);

my $dims = 32;

for my $storage ('f32', 'sq8')
{
	my $node = new_node("hnsw_crash_$storage");

	$node->safe_psql('postgres', random_items_sql($dims, 3000, 0.5) . qq{
		CREATE INDEX items_idx ON items USING siamese_hnsw (e) WITH (storage = $storage);
		-- each call commits one row per iteration, forever
		CREATE PROCEDURE writer(w int) LANGUAGE plpgsql AS \$\$
		BEGIN
		  LOOP
		    INSERT INTO items (writer, e)
		      SELECT w, siamese.array_to_embedding(ARRAY(SELECT random()::real FROM generate_series(1, $dims)), $dims, true);
		    COMMIT;
		  END LOOP;
		END \$\$;
	});

	# Three background sessions insert concurrently.
	my @h;
	for my $w (1 .. 3)
	{
		my ($in, $out, $err) = ('', '', '');
		push @h, IPC::Run::start(
			[ 'psql', '-XAtq', '-d', $node->connstr('postgres'), '-c', "CALL writer($w)" ],
			'<', \$in, '>', \$out, '2>', \$err);
	}

	# Let them run until a good number of rows is committed, then crash.
	$node->poll_query_until('postgres', 'SELECT count(*) > 4500 FROM items')
	  or die 'writers made no progress';
	$node->stop('immediate');
	for my $h (@h) { eval { $h->finish; }; }

	$node->start;
	my $count = $node->safe_psql('postgres', 'SELECT count(*) FROM items');
	cmp_ok($count, '>', 4500, "$storage: recovered with $count committed rows");

	my $chk = $node->safe_psql('postgres',
		"SELECT problems, ok FROM siamese.hnsw_check('items_idx')");
	is($chk, '0|t', "$storage: graph checks clean after crash recovery");

	# Every committed row is found by an unbounded index scan.
	is(items_reachable($node), $count, "$storage: every committed row is reachable through the index");

	# VACUUM removes elements of aborted (crashed) inserts; the graph stays clean.
	# (INDEX_CLEANUP ON: with few dead rows VACUUM would otherwise skip the index.)
	$node->safe_psql('postgres', 'VACUUM (INDEX_CLEANUP ON) items');
	is($node->safe_psql('postgres',
			"SELECT live, problems, unreachable, ok FROM siamese.hnsw_check('items_idx')"),
		"$count|0|0|t", "$storage: after VACUUM: live elements = rows, all reachable");

	# Queries and inserts work; recall against the exact answer holds.
	$node->safe_psql('postgres', qq{
		INSERT INTO items (writer, e) SELECT 9, siamese.array_to_embedding(ARRAY(SELECT random()::real FROM generate_series(1, $dims) d WHERE g > 0), $dims, true)
		  FROM generate_series(1, 100) g;
	});
	my $recall = items_recall10($node, 'SELECT i AS q, e FROM items WHERE i % 97 = 0 LIMIT 30');
	cmp_ok($recall, '>=', 0.95, "$storage: recall\@10 after recovery $recall >= 0.95");
	$node->stop;
}

done_testing();

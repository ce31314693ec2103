# 107_hnsw_promote.pl: a streaming standby promoted in the middle of a write
# workload (concurrent inserts, deletes and VACUUM on the primary, which
# keeps running).  On the promoted node the siamese_hnsw indexes are valid
# (no structural problem), the index finds every row it replayed, answers k-NN queries with
# the recall the primary has, and takes new inserts and a VACUUM.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use IPC::Run;
use lib 'test/perl';
use SiameseTest qw(new_node items_recall10 items_reachable random_items_sql);

my $dims = 32;
my $primary = new_node('promote_primary', init => { allows_streaming => 1 });
$primary->safe_psql('postgres', random_items_sql($dims, 5000, 0.125) . qq{
	CREATE INDEX items_idx ON items USING siamese_hnsw (e);
	CREATE INDEX items_cos ON items USING siamese_hnsw (e embedding_cosine_ops) WITH (m = 8);
	-- a writer commits one row per iteration and deletes an older one every
	-- tenth, forever
	CREATE PROCEDURE writer(w int) LANGUAGE plpgsql AS \$\$
	DECLARE n int := 0;
	BEGIN
	  LOOP
	    INSERT INTO items (writer, e)
	      SELECT w, siamese.array_to_embedding(ARRAY(SELECT random()::real FROM generate_series(1, $dims)), $dims, true);
	    n := n + 1;
	    IF n % 10 = 0 THEN
	      DELETE FROM items WHERE i = (SELECT min(i) FROM items WHERE writer = 0);
	    END IF;
	    COMMIT;
	  END LOOP;
	END \$\$;
});
$primary->backup('bk');
my $standby = PostgreSQL::Test::Cluster->new('promote_standby');
$standby->init_from_backup($primary, 'bk', has_streaming => 1);
$standby->start;

# the workload: two writers and a VACUUM loop (VACUUM cannot run in a procedure)
my @h;
for my $w (1 .. 2)
{
	my ($in, $out, $err) = ('', '', '');
	push @h, IPC::Run::start([ 'psql', '-XAtq', '-d', $primary->connstr('postgres'), '-c', "CALL writer($w)" ],
		'<', \$in, '>', \$out, '2>', \$err);
}
my $vacuums = join('', map { "VACUUM (INDEX_CLEANUP ON) items; SELECT pg_sleep(0.3);\n" } 1 .. 200);
my ($vin, $vout, $verr) = ($vacuums, '', '');
push @h, IPC::Run::start([ 'psql', '-XAtq', '-d', $primary->connstr('postgres') ],
	'<', \$vin, '>', \$vout, '2>', \$verr);

# promote once the standby has replayed a good part of the workload
$standby->poll_query_until('postgres', 'SELECT count(*) > 5600 FROM items')
  or die 'the standby replayed no workload';
$standby->promote;
$standby->poll_query_until('postgres', 'SELECT NOT pg_is_in_recovery()') or die 'promotion did not finish';
my $at_promotion = $standby->safe_psql('postgres', 'SELECT count(*) FROM items');
cmp_ok($at_promotion, '>', 5600, "promoted mid-workload with $at_promotion rows");
# the primary's workload keeps going: the timelines have diverged
$primary->poll_query_until('postgres', "SELECT count(*) > $at_promotion + 50 FROM items")
  or die 'the primary stopped writing';
$_->kill_kill for @h;

# Valid structure on both indexes.  Concurrent inserts can leave a rare
# element without in-links (an m = 8 index here: a few in 600 inserts, on the
# primary alike) until VACUUM relinks it (docs/hnsw-index.md); the figure is
# shown, and the VACUUM below must bring it to 0.
for my $idx ('items_idx', 'items_cos')
{
	my ($problems, $unreachable) = split /\|/,
	  $standby->safe_psql('postgres', "SELECT problems, unreachable FROM siamese.hnsw_check('$idx')");
	is($problems, '0', "$idx is structurally valid on the promoted node");
	diag("$idx on the promoted node: $unreachable elements awaiting VACUUM's relink");
}
is(items_reachable($standby), $at_promotion, 'every replayed row is reachable through the index');

# recall against the exact answer, on the promoted node
my $r = items_recall10($standby, 'SELECT i AS q, e FROM items WHERE i % 97 = 0 LIMIT 30');
cmp_ok($r, '>=', 0.95, "recall\@10 on the promoted node: $r");

# the promoted node is a primary now: inserts, deletes and VACUUM work on its index
$standby->safe_psql('postgres', qq{
	INSERT INTO items (writer, e) SELECT 9, siamese.array_to_embedding(ARRAY(SELECT random()::real
		FROM generate_series(1, $dims) d WHERE g > 0), $dims, true) FROM generate_series(1, 300) g;
	DELETE FROM items WHERE i % 5 = 0;
	VACUUM (INDEX_CLEANUP ON) items;
});
my $rows = $standby->safe_psql('postgres', 'SELECT count(*) FROM items');
for my $idx ('items_idx', 'items_cos')
{
	is($standby->safe_psql('postgres', "SELECT live, unreachable, problems, ok FROM siamese.hnsw_check('$idx')"),
		"$rows|0|0|t", "$idx after new writes and VACUUM there: live elements = rows, all reachable");
}
is(items_reachable($standby), $rows, 'and every row is reachable');

$_->stop for ($primary, $standby);
done_testing();

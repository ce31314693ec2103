# 103_hnsw_replica.pl: a streaming standby replays siamese_hnsw WAL (the
# build's full-page images and the generic WAL of inserts and VACUUM) and
# returns the same results as the primary, for a float32 index and a bf16-coded
# one.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib 'test/perl';
use SiameseTest qw(new_node);

my $dims = 24;
my $primary = new_node('hnsw_primary', init => { allows_streaming => 1 });
$primary->backup('bk');
my $standby = PostgreSQL::Test::Cluster->new('hnsw_standby');
$standby->init_from_backup($primary, 'bk', has_streaming => 1);
$standby->start;

$primary->safe_psql('postgres', qq{
	SET search_path = public, siamese;
	SELECT setseed(0.75);
	CREATE TABLE items (i int PRIMARY KEY, e embedding($dims));
	INSERT INTO items SELECT g, array_to_embedding(ARRAY(SELECT random()::real FROM generate_series(1, $dims) d WHERE g > 0), $dims, true)
	  FROM generate_series(1, 4000) g;
	CREATE INDEX items_l2 ON items USING siamese_hnsw (e) WITH (storage = f32);
	CREATE INDEX items_cos ON items USING siamese_hnsw (e embedding_cosine_ops) WITH (m = 8, ef_construction = 32, storage = bf16);
	-- changes after the build: generic WAL
	INSERT INTO items SELECT g, array_to_embedding(ARRAY(SELECT random()::real FROM generate_series(1, $dims) d WHERE g > 0), $dims, true)
	  FROM generate_series(4001, 5000) g;
	DELETE FROM items WHERE i % 3 = 0;
});
$primary->safe_psql('postgres', 'VACUUM items');
$primary->safe_psql('postgres', qq{
	INSERT INTO items SELECT g, siamese.array_to_embedding(ARRAY(SELECT random()::real FROM generate_series(1, $dims) d WHERE g > 0), $dims, true)
	  FROM generate_series(5001, 5500) g;
});
# VACUUM relinks elements that inserts may have left without in-links
$primary->safe_psql('postgres', 'VACUUM items');
$primary->wait_for_catchup($standby, 'replay', $primary->lsn('insert'));

my $queries = q{
	SET search_path = public, siamese;
	SET enable_seqscan = off;
	SELECT q.i, (SELECT array_agg(i) FROM (SELECT i FROM items ORDER BY e <-> q.e LIMIT 10) s),
	            (SELECT array_agg(i) FROM (SELECT i FROM items ORDER BY e <=> q.e LIMIT 10) s)
	  FROM (SELECT i, e FROM items WHERE i % 250 = 1) q ORDER BY q.i;
};
my $on_primary = $primary->safe_psql('postgres', $queries);
my $on_standby = $standby->safe_psql('postgres', $queries);
ok(length($on_primary) > 100, 'primary answers');
is($on_standby, $on_primary, 'standby returns the same neighbours as the primary');

like($standby->safe_psql('postgres', q{
	SET enable_seqscan = off;
	EXPLAIN (COSTS OFF) SELECT i FROM items ORDER BY e OPERATOR(siamese.<->) (SELECT e FROM items WHERE i = 1) LIMIT 5;
}), qr/Index Scan using items_l2/, 'standby uses the index');

for my $idx ('items_l2', 'items_cos')
{
	my $p = $primary->safe_psql('postgres',
		"SELECT elements, live, deleted, problems, unreachable, ok FROM siamese.hnsw_check('$idx')");
	my $s = $standby->safe_psql('postgres',
		"SELECT elements, live, deleted, problems, unreachable, ok FROM siamese.hnsw_check('$idx')");
	like($p, qr/\|0\|0\|t$/, "$idx checks clean on the primary ($p)");
	is($s, $p, "$idx: standby graph identical to the primary's");
}

# The standby can be promoted and the index keeps working for writes.
$standby->promote;
$standby->safe_psql('postgres', qq{
	INSERT INTO items SELECT g, siamese.array_to_embedding(ARRAY(SELECT random()::real FROM generate_series(1, $dims) d WHERE g > 0), $dims, true)
	  FROM generate_series(6001, 6100) g;
});
is($standby->safe_psql('postgres', "SELECT problems, ok FROM siamese.hnsw_check('items_l2')"),
	'0|t', 'promoted standby accepts inserts; graph clean');

$standby->stop;
$primary->stop;
done_testing();

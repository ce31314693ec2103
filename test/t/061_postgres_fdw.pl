# 061_postgres_fdw.pl: what works when embeddings live in foreign partitions
# (postgres_fdw), the route without Citus (docs/scale-out.md).
#
# Two "remote" databases each hold a partition's rows with a siamese_hnsw
# index; the local table is partitioned by id over two foreign tables.  With
# siamese_pg listed in the servers' "extensions" option:
#  * k-NN over one foreign partition pushes ORDER BY and LIMIT to the remote,
#    which answers from its index;
#  * k-NN over the partitioned table pushes ORDER BY to each remote but, on
#    PostgreSQL 15, not the LIMIT (it stays above the Merge Append), so each
#    remote runs an unbounded ordered scan, fetched fetch_size rows at a
#    time; the answer is still exact, equal to a local table's;
#  * a WHERE on embedding distance is evaluated remotely.
# Models are not shared: a remote embeds only with models registered there.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib 'test/perl';
use SiameseTest qw(new_node);

my $node = new_node('fdw');
my $port = $node->port;
my $host = $node->host;

# 20,000 seeded 16-dimensional rows: ids 1-10000 in remote1, 10001-20000 in
# remote2 (big enough that the planners prefer the indexes to sorting).
my $rows = q{SELECT g AS id, ARRAY(SELECT sin(g * 0.37 + d * 1.3 + (g % 7))::real
	FROM generate_series(1, 16) d)::real[]::siamese.embedding AS e FROM generate_series(1, 20000) g};
for my $r ([ 'remote1', 1, 10000 ], [ 'remote2', 10001, 20000 ])
{
	my ($db, $lo, $hi) = @$r;
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	$node->safe_psql($db, qq{
		CREATE EXTENSION siamese_pg;
		CREATE TABLE items AS SELECT * FROM ($rows) s WHERE id BETWEEN $lo AND $hi;
		CREATE INDEX items_e_idx ON items USING siamese_hnsw (e siamese.embedding_l2_ops);
		ANALYZE items;});
}
$node->safe_psql('postgres', qq{
	CREATE EXTENSION postgres_fdw;
	CREATE TABLE local_items AS $rows;
	CREATE TABLE items (id int, e siamese.embedding) PARTITION BY RANGE (id);
});
for my $r ([ 'remote1', 1, 10001 ], [ 'remote2', 10001, 20001 ])
{
	my ($db, $lo, $hi) = @$r;
	$node->safe_psql('postgres', qq{
		CREATE SERVER s_$db FOREIGN DATA WRAPPER postgres_fdw
			OPTIONS (host '$host', port '$port', dbname '$db', extensions 'siamese_pg', use_remote_estimate 'true');
		CREATE USER MAPPING FOR CURRENT_USER SERVER s_$db;
		CREATE FOREIGN TABLE items_$db PARTITION OF items FOR VALUES FROM ($lo) TO ($hi)
			SERVER s_$db OPTIONS (table_name 'items');});
}

my $q = $node->safe_psql('postgres', 'SELECT e FROM local_items WHERE id = 12345');
my $knn = "SELECT id FROM %s ORDER BY e OPERATOR(siamese.<->) '$q' LIMIT 10";

# one foreign partition: ORDER BY and LIMIT go to the remote
my $one = $node->safe_psql('postgres', 'EXPLAIN (VERBOSE, COSTS OFF) ' . sprintf($knn, 'items_remote2'));
like($one, qr/Remote SQL: .*ORDER BY \(e OPERATOR\(siamese\.<->\).*LIMIT 10/,
	'one foreign partition: ORDER BY <-> and LIMIT are pushed to the remote');
is($node->safe_psql('remote2', 'EXPLAIN (COSTS OFF) ' . sprintf($knn, 'items')) =~ /Index Scan using items_e_idx/ ? 1 : 0,
	1, 'and the remote answers such a query from its siamese_hnsw index');

# the partitioned table.  The default plan here fetches every row and sorts
# locally; with sorting discouraged the planner merges ordered remote scans,
# and the LIMIT stays above the Merge Append (PostgreSQL 15 does not push it
# through).  Either way every remote reads its whole partition, and the answer
# is exact.
my $exact = $node->safe_psql('postgres', sprintf($knn, 'local_items'));
my $default = $node->safe_psql('postgres', 'EXPLAIN (VERBOSE, COSTS OFF) ' . sprintf($knn, 'items'));
note('default plan over the partitions: '
	  . ($default =~ /Merge Append/ ? 'Merge Append of ordered remote scans' : 'every row fetched, sorted locally'));
unlike($default, qr/Remote SQL: .*LIMIT/, 'partitioned table: no remote query has a LIMIT');
is($node->safe_psql('postgres', sprintf($knn, 'items')), $exact, 'the answer equals the local table\'s exact k-NN');
my $merge = $node->safe_psql('postgres', 'SET enable_sort = off; EXPLAIN (VERBOSE, COSTS OFF) ' . sprintf($knn, 'items'));
like($merge, qr/Limit.*\n.*Merge Append/s, 'without sorting: LIMIT above a Merge Append of the partitions');
my @remote_sql = ($merge =~ /Remote SQL: (.*)/g);
is(scalar @remote_sql, 2, 'one remote query per foreign partition');
is(scalar(grep { /ORDER BY \(e OPERATOR\(siamese\.<->\)/ } @remote_sql), 2, 'each remote query orders by the distance');
is(scalar(grep { /LIMIT/ } @remote_sql), 0, 'no remote query has a LIMIT (PostgreSQL 15)');
is($node->safe_psql('postgres', 'SET enable_sort = off; ' . sprintf($knn, 'items')), $exact, 'and the answer is exact too');

# a distance predicate is evaluated on the remote
my $range = $node->safe_psql('postgres', "EXPLAIN (VERBOSE, COSTS OFF) SELECT count(*) FROM items
	WHERE e OPERATOR(siamese.<->) '$q' < 1.5");
like($range, qr/Remote SQL: .*WHERE .*OPERATOR\(siamese\.<->\)/, 'a WHERE on the distance runs remotely');
is($node->safe_psql('postgres', "SELECT count(*) FROM items WHERE e OPERATOR(siamese.<->) '$q' < 1.5"),
	$node->safe_psql('postgres', "SELECT count(*) FROM local_items WHERE e OPERATOR(siamese.<->) '$q' < 1.5"),
	'with the local answer');

$node->stop;
done_testing();

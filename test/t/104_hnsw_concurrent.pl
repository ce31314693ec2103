# 104_hnsw_concurrent.pl: several pgbench clients insert, search, delete and
# VACUUM one siamese_hnsw-indexed table at once: no errors, no lost rows,
# the graph checks clean and index scans agree with the table afterwards.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib 'test/perl';
use SiameseTest qw(new_node);

my $dims = 32;
my $node = new_node('hnsw_conc', conf => "max_connections = 40\n");

$node->safe_psql('postgres', qq{
	SET search_path = public, siamese;
	SELECT setseed(0.125);
	CREATE TABLE items (i bigserial PRIMARY KEY, e embedding($dims));
	INSERT INTO items (e)
	  SELECT array_to_embedding(ARRAY(SELECT random()::real FROM generate_series(1, $dims) d WHERE g > 0), $dims, true)
	  FROM generate_series(1, 2000) g;
	CREATE INDEX items_idx ON items USING siamese_hnsw (e) WITH (m = 8, ef_construction = 32);
	CREATE TABLE deleted (i bigint);
	CREATE TABLE inserted (i bigint);
});

my $vec = "siamese.array_to_embedding(ARRAY(SELECT random()::real FROM generate_series(1, $dims)), $dims, true)";
my $insert = "WITH n AS (INSERT INTO items (e) SELECT $vec RETURNING i) INSERT INTO inserted SELECT i FROM n;\n";
my $search = "SET enable_seqscan = off;\n"
  . "SELECT count(*) FROM (SELECT i FROM items ORDER BY e OPERATOR(siamese.<->) (SELECT $vec) LIMIT 10) s;\n";
my $delete = "\\set r random(1, 2000)\n"
  . "WITH d AS (DELETE FROM items WHERE i = :r RETURNING i) INSERT INTO deleted SELECT i FROM d;\n";
my $vacuum = "VACUUM items;\n";

$node->pgbench(
	'--no-vacuum --client=6 --jobs=2 --transactions=150',
	0,
	[qr{processed: 900/900}],
	[qr{^$}],
	'pgbench: concurrent inserts, searches, deletes and VACUUM without errors',
	{
		'hnsw_insert@6' => $insert,
		'hnsw_search@6' => $search,
		'hnsw_delete@2' => $delete,
		'hnsw_vacuum@1' => $vacuum,
	});

my $rows = $node->safe_psql('postgres', 'SELECT count(*) FROM items');
my $nins = $node->safe_psql('postgres', 'SELECT count(*) FROM inserted');
my $ndel = $node->safe_psql('postgres', 'SELECT count(DISTINCT i) FROM deleted');
cmp_ok($nins, '>', 100, "$nins rows inserted concurrently");
is($rows, 2000 + $nins - $ndel, "no lost rows: 2000 + $nins inserted - $ndel deleted");
is($node->safe_psql('postgres',
		'SELECT count(*) FROM inserted LEFT JOIN items USING (i) WHERE items.i IS NULL'),
	'0', 'every inserted row is in the table');

$node->safe_psql('postgres', 'VACUUM (INDEX_CLEANUP ON) items');
is($node->safe_psql('postgres',
		"SELECT live, problems, unreachable, ok FROM siamese.hnsw_check('items_idx')"),
	"$rows|0|0|t", "graph checks clean; $rows live elements = rows");

# an unbounded index scan returns exactly the table's rows
is($node->safe_psql('postgres', q{
	SET enable_seqscan = off;
	SET siamese.hnsw.max_scan_tuples = 10000000;
	SELECT count(*), count(DISTINCT i) FROM (SELECT i FROM items ORDER BY e OPERATOR(siamese.<->) (SELECT e FROM items ORDER BY i LIMIT 1) LIMIT 10000000) s;
}), "$rows|$rows", 'index scan returns every row exactly once');

$node->stop;
done_testing();

# 001_basic.pl: the extension installs into a fresh cluster, its image and
# embedding functions work, a backend survives bad input, and everything still
# works after a restart.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib 'test/perl';
use SiameseTest qw(new_node tiny_png_hex);

my $node = new_node('basic');
my $png = tiny_png_hex();

is($node->safe_psql('postgres',
		"SELECT extversion FROM pg_extension WHERE extname = 'siamese_pg'"),
	'0.2.0', 'extension version');
is($node->safe_psql('postgres',
		"SELECT default_version FROM pg_available_extensions WHERE name = 'siamese_pg'"),
	'0.2.0', 'the default version of the installed control file');

is($node->safe_psql('postgres',
		"SELECT format, width, height, channels FROM siamese.image_info(decode('$png', 'hex'))"),
	'png|4|3|1', 'image_info reads the header');

is($node->safe_psql('postgres',
		"SELECT width FROM siamese.image_info(siamese.to_png(decode('$png', 'hex')))"),
	'4', 'to_png round trip');

is($node->safe_psql('postgres',
		"SELECT '[3,4]'::siamese.embedding OPERATOR(siamese.<->) '[0,0]'::siamese.embedding"),
	'5', 'L2 distance');

# A bad image is an error for that statement only; the session goes on.
my ($ret, $out, $err) = $node->psql('postgres',
	"SELECT siamese.to_png('\\x89504e470d0a1a0a0000'::bytea)");
isnt($ret, 0, 'truncated PNG is rejected');
like($err, qr/ERROR:.*PNG/i, 'error names the format');
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'server still accepts queries');

# Persisted embeddings survive a restart.
$node->safe_psql('postgres', q{
	CREATE TABLE e (id int, v siamese.embedding(2));
	INSERT INTO e VALUES (1, '[1,2]'), (2, '[3,4]');
});
$node->restart;
is($node->safe_psql('postgres',
		"SELECT string_agg(v::text, ' ' ORDER BY id) FROM e"),
	'[1,2] [3,4]', 'embeddings persist across restart');

$node->stop;
done_testing();

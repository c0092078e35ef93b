<?php
/**
 * Plain-PHP tests of the personal-data exporter and eraser (no WordPress). Exit 1 on any failure.
 * BackSoon's answers are the repository's tests/fixtures/plugin bodies, which the backend's own tests assert it sends.
 */

if ( 'cli' !== PHP_SAPI ) { // Command line only, even if this file is ever served.
	exit;
}

require __DIR__ . '/bootstrap.php';
require __DIR__ . '/check.php';

do_action( 'plugins_loaded' );
$privacy = BackSoon_Plugin::instance()->privacy;

$fixtures = getenv( 'BACKSOON_PLUGIN_FIXTURES' ) ?: dirname( __DIR__, 4 ) . '/tests/fixtures/plugin';
$export_body = is_readable( "$fixtures/privacy-export-200.json" ) ? file_get_contents( "$fixtures/privacy-export-200.json" ) : null;
$erase_body  = is_readable( "$fixtures/privacy-erase-200.json" ) ? file_get_contents( "$fixtures/privacy-erase-200.json" ) : null;
check( null !== $export_body && null !== $erase_body, 'fixture: BackSoon privacy answers are readable', "not found at $fixtures" );

function bs_privacy_world( $opts = array() ) {
	bs_reset_world();
	$GLOBALS['bs_options']['backsoon_settings'] = array_merge(
		array( 'backend_url' => 'https://backsoon.example.com', 'store_key' => '7', 'api_key' => 'bsk_secret', 'back_soon_text' => '' ),
		$opts
	);
}

// ---- Registration: the exact shapes WordPress's privacy tools read ----
check_same( 10, $GLOBALS['bs_hooks']['wp_privacy_personal_data_exporters'][0]['priority'], 'hook registered: wp_privacy_personal_data_exporters' );
check( ! empty( $GLOBALS['bs_hooks']['wp_privacy_personal_data_erasers'] ), 'hook registered: wp_privacy_personal_data_erasers' );
$exporters = apply_filters( 'wp_privacy_personal_data_exporters', array( 'wordpress-user' => array( 'exporter_friendly_name' => 'WordPress User', 'callback' => 'strlen' ) ) );
check_same( array( 'wordpress-user', 'backsoon' ), array_keys( $exporters ), 'exporter added next to the others' );
check_same( array( 'exporter_friendly_name' => 'BackSoon back-in-stock waitlist', 'callback' => array( $privacy, 'export' ) ), $exporters['backsoon'], 'exporter: friendly name and callback' );
$erasers = apply_filters( 'wp_privacy_personal_data_erasers', array() );
check_same( array( 'backsoon' => array( 'eraser_friendly_name' => 'BackSoon back-in-stock waitlist', 'callback' => array( $privacy, 'erase' ) ) ), $erasers, 'eraser: friendly name and callback' );

// ---- Export ----
bs_privacy_world();
$GLOBALS['bs_http_responses'][] = bs_http_response( 200, $export_body, 'OK' );
$out = call_user_func( $exporters['backsoon']['callback'], 'maya.chen@example.com', 1 );
check_same( 1, count( $GLOBALS['bs_http_requests'] ), 'export: one request to BackSoon' );
$req = $GLOBALS['bs_http_requests'][0];
check_same( 'https://backsoon.example.com/api/v1/stores/7/privacy/export', $req['url'], 'export: POST to the store\'s privacy/export endpoint' );
check_same( array( 'Authorization' => 'Bearer bsk_secret', 'Content-Type' => 'application/json', 'Accept' => 'application/json' ), $req['args']['headers'], 'export: admin API key as a bearer token, JSON' );
check_same( '{"email":"maya.chen@example.com"}', $req['args']['body'], 'export: body is the requester\'s email' );
check_same( 0, $req['args']['redirection'], 'export: no redirects followed (the key must not travel elsewhere)' );
check_same(
	array(
		'data' => array(
			array(
				'group_id'          => 'backsoon-waitlist',
				'group_label'       => 'Back-in-stock waitlist',
				'group_description' => 'Products you asked to be emailed about when they are back in stock (BackSoon).',
				'item_id'           => 'backsoon-waitlist-1',
				'data'              => array(
					array( 'name' => 'Product', 'value' => 'Hoodie' ),
					array( 'name' => 'Variant', 'value' => 'S' ),
					array( 'name' => 'SKU', 'value' => 'HOODIE-S' ),
					array( 'name' => 'Email', 'value' => 'maya.chen@example.com' ),
					array( 'name' => 'Language', 'value' => 'nl' ),
					array( 'name' => 'Status', 'value' => 'active' ),
					array( 'name' => 'Subscribed', 'value' => '2026-11-01T09:30:00+00:00' ),
					array( 'name' => 'Consent', 'value' => '"Email me when it is back" (2026-11-01T09:30:00+00:00)' ),
					array( 'name' => 'Emails sent', 'value' => '0' ),
				),
			),
			array(
				'group_id'          => 'backsoon-orders',
				'group_label'       => 'Orders known to BackSoon',
				'group_description' => 'Orders BackSoon keeps to measure sales and restock emails.',
				'item_id'           => 'backsoon-order-1',
				'data'              => array(
					array( 'name' => 'Order', 'value' => '#1042' ),
					array( 'name' => 'Email', 'value' => 'maya.chen@example.com' ),
					array( 'name' => 'Ordered', 'value' => '2026-11-17T12:00:00+00:00' ),
				),
			),
		),
		'done' => true,
	),
	$out,
	'export: BackSoon\'s answer as export groups, empty fields left out, done after page 1'
);

bs_privacy_world();
$GLOBALS['bs_http_responses'][] = bs_http_response( 200, '{"email":"nobody@example.com","waitlist_subscriptions":[],"orders":[]}' );
check_same( array( 'data' => array(), 'done' => true ), $privacy->export( 'nobody@example.com', 1 ), 'export: nothing held → no items, done' );

bs_privacy_world();
check_same( array( 'data' => array(), 'done' => true ), $privacy->export( 'maya.chen@example.com', 2 ), 'export: page 2 is empty and asks nothing' );
check_same( array(), $GLOBALS['bs_http_requests'], 'export: page 2 made no request' );

// ---- Erase ----
bs_privacy_world();
$GLOBALS['bs_http_responses'][] = bs_http_response( 200, $erase_body, 'OK' );
$out = call_user_func( $erasers['backsoon']['callback'], 'maya.chen@example.com', 1 );
$req = $GLOBALS['bs_http_requests'][0];
check_same( 'https://backsoon.example.com/api/v1/stores/7/privacy/erase', $req['url'], 'erase: POST to the store\'s privacy/erase endpoint' );
check_same( '{"email":"maya.chen@example.com"}', $req['args']['body'], 'erase: body is the requester\'s email' );
check_same( 'Bearer bsk_secret', $req['args']['headers']['Authorization'], 'erase: admin API key as a bearer token' );
check_same(
	array(
		'items_removed'  => true,
		'items_retained' => false,
		'messages'       => array( 'BackSoon removed 1 waitlist subscription(s) and the email address from 1 order record(s).' ),
		'done'           => true,
	),
	$out,
	'erase: removed items reported, done'
);

bs_privacy_world();
$GLOBALS['bs_http_responses'][] = bs_http_response( 200, '{"email":"maya.chen@example.com","subscriptions_removed":0,"orders_anonymised":0}' );
check_same(
	array( 'items_removed' => false, 'items_retained' => false, 'messages' => array(), 'done' => true ),
	$privacy->erase( 'maya.chen@example.com', 1 ),
	'erase: a second erasure removes nothing and says so'
);

// ---- Failures are shown to the admin, never passed off as an empty result ----
bs_privacy_world();
$GLOBALS['bs_http_responses'][] = bs_http_response( 403, '{"error":{"code":"forbidden","message":"This key is not the admin API key of this store.","details":{}}}', 'FORBIDDEN' );
$err = $privacy->erase( 'maya.chen@example.com', 1 );
check( is_wp_error( $err ), 'erase: a refused key is a WP_Error' );
check_same( array( 'backsoon_refused', 'BackSoon refused the request (HTTP 403). This key is not the admin API key of this store.' ), is_wp_error( $err ) ? array( $err->get_error_code(), $err->get_error_message() ) : null, 'erase: the error names the status and BackSoon\'s reason' );

bs_privacy_world();
$GLOBALS['bs_http_responses'][] = bs_http_response( 502, '<html>Bad gateway</html>', 'Bad Gateway' );
$err = $privacy->export( 'maya.chen@example.com', 1 );
check_same( array( 'backsoon_refused', 'BackSoon refused the request (HTTP 502).' ), is_wp_error( $err ) ? array( $err->get_error_code(), $err->get_error_message() ) : null, 'export: a non-JSON error page is a WP_Error' );

bs_privacy_world();
$GLOBALS['bs_http_responses'][] = new WP_Error( 'http_request_failed', 'cURL error 7: Failed to connect' );
$err = $privacy->export( 'maya.chen@example.com', 1 );
check_same( array( 'backsoon_unreachable', 'BackSoon could not be reached: cURL error 7: Failed to connect' ), is_wp_error( $err ) ? array( $err->get_error_code(), $err->get_error_message() ) : null, 'export: an unreachable backend is a WP_Error' );

foreach ( array( 'backend_url', 'store_key', 'api_key' ) as $missing ) {
	bs_privacy_world( array( $missing => '' ) );
	$err = $privacy->erase( 'maya.chen@example.com', 1 );
	check( is_wp_error( $err ) && 'backsoon_not_configured' === $err->get_error_code() && array() === $GLOBALS['bs_http_requests'], "not configured without $missing: WP_Error, no request" );
}

// ---- The API key setting ----
bs_privacy_world();
$settings = BackSoon_Plugin::instance()->settings;
$clean = $settings->sanitize( array( 'backend_url' => 'https://backsoon.example.com', 'store_key' => '7', 'api_key' => '', 'back_soon_text' => '' ) );
check_same( 'bsk_secret', $clean['api_key'], 'settings: an empty API key field keeps the saved key' );
$clean = $settings->sanitize( array( 'api_key' => ' bsk_new<b> ' ) );
check_same( 'bsk_new', $clean['api_key'], 'settings: a typed API key replaces it (sanitize_text_field)' );
ob_start();
$settings->render_field( array( 'key' => 'api_key', 'type' => 'password', 'description' => 'd' ) );
$html = ob_get_clean();
check( false === strpos( $html, 'bsk_secret' ) && false !== strpos( $html, 'type="password"' ) && false !== strpos( $html, 'value=""' ), 'settings: the saved key is never printed into the form', $html );
bs_privacy_world();
BackSoon_Plugin::instance()->frontend->reset();
$GLOBALS['bs_products'][11] = new BS_Fake_Product( 11, 'simple', 'outofstock' );
$GLOBALS['bs_is_product'] = true;
$GLOBALS['bs_queried_id'] = 11;
check( false === strpos( BackSoon_Plugin::instance()->frontend->mount_html_once( wc_get_product( 11 ) ), 'bsk_secret' ), 'storefront: the API key never reaches the product page' );

bs_finish();

<?php
/**
 * Plain-PHP tests of the plugin's output (no WordPress). Exit 1 on any failure.
 * Products mirror the captured WooCommerce pages in the repository's tests/fixtures/woocommerce/html.
 */

if ( 'cli' !== PHP_SAPI ) { // Command line only, even if this file is ever served.
	exit;
}

require __DIR__ . '/bootstrap.php';
require __DIR__ . '/check.php';

do_action( 'plugins_loaded' );
$plugin   = BackSoon_Plugin::instance();
$frontend = $plugin->frontend;
$settings = $plugin->settings;

// ---- Fixture facts (Twenty Twenty-Four pages captured from WooCommerce 9.4.3) ----
$fixtures = getenv( 'BACKSOON_WC_FIXTURES' ) ?: dirname( __DIR__, 4 ) . '/tests/fixtures/woocommerce/html';
$simple_id = 11; $simple_status = 'outofstock';
$variable_id = 14;
$variation_rows = array( // id => [attribute_pa_size, stock_status]; ids 15/16/17 from the README table
	15 => array( 's', 'outofstock' ), 16 => array( 'm', 'instock' ), 17 => array( 'l', 'instock' ),
);
if ( is_readable( "$fixtures/product-simple-outofstock.html" ) && is_readable( "$fixtures/product-variable.html" ) ) {
	$html = file_get_contents( "$fixtures/product-simple-outofstock.html" );
	preg_match( '/<body class="([^"]*)"/', $html, $m );
	$classes = explode( ' ', $m[1] );
	check( in_array( 'postid-11', $classes, true ) && in_array( 'outofstock', $classes, true ) && in_array( 'woocommerce-uses-block-theme', $classes, true ), 'fixture: simple page body is postid-11, outofstock, block theme' );
	check( false !== strpos( $html, '<div data-block-name="woocommerce/add-to-cart-form"' ) && false !== strpos( $html, '<p class="stock out-of-stock">Out of stock</p>' ), 'fixture: add-to-cart-form block holds p.stock.out-of-stock' );
	check( false === strpos( $html, 'woocommerce_after_add_to_cart_form' ) && false === strpos( $html, 'class="cart"' ), 'fixture: out-of-stock page has no add-to-cart form (after_add_to_cart_form cannot be used)' );

	$html = file_get_contents( "$fixtures/product-variable.html" );
	preg_match( '/<form class="variations_form cart"[^>]*data-product_id="(\d+)" data-product_variations="([^"]*)"/', $html, $m );
	check_same( '14', isset( $m[1] ) ? $m[1] : null, 'fixture: variations_form data-product_id' );
	$fx_vars = isset( $m[2] ) ? json_decode( html_entity_decode( $m[2], ENT_QUOTES, 'UTF-8' ), true ) : array();
	$got = array();
	foreach ( (array) $fx_vars as $v ) {
		$got[ $v['variation_id'] ] = array( $v['attributes']['attribute_pa_size'], $v['is_in_stock'] ? 'instock' : 'outofstock' );
	}
	ksort( $got );
	check_same( $variation_rows, $got, 'fixture: data-product_variations ids, sizes and stock match the test products' );
} else {
	check( false, 'fixture: captured WooCommerce pages are readable', "not found at $fixtures" );
}

function bs_world( $opts = array() ) {
	global $simple_id, $simple_status, $variable_id, $variation_rows, $frontend;
	bs_reset_world();
	$frontend->reset();
	$GLOBALS['bs_options']['date_format'] = 'F j, Y';
	$GLOBALS['bs_options']['backsoon_settings'] = array_merge(
		array( 'backend_url' => 'https://backsoon.example.com', 'store_key' => 'store-7', 'back_soon_text' => 'Back soon' ),
		$opts
	);
	$GLOBALS['bs_products'][ $simple_id ] = new BS_Fake_Product( $simple_id, 'simple', $simple_status );
	$GLOBALS['bs_products'][ $variable_id ] = new BS_Fake_Product( $variable_id, 'variable', 'instock', array_keys( $variation_rows ) );
	foreach ( $variation_rows as $vid => $row ) {
		$GLOBALS['bs_products'][ $vid ] = new BS_Fake_Product( $vid, 'variation', $row[1], array(), array( 'attribute_pa_size' => $row[0] ) );
	}
	$GLOBALS['bs_products'][ 10 ] = new BS_Fake_Product( 10, 'simple', 'instock' );
	$GLOBALS['bs_products'][ 12 ] = new BS_Fake_Product( 12, 'simple', 'instock' );
}
function bs_meta( $id, $state ) {
	$GLOBALS['bs_meta'][ $id ]['_backsoon_state'] = is_string( $state ) ? $state : json_encode( $state );
}
function bs_view( $id ) {
	$GLOBALS['bs_is_product'] = true;
	$GLOBALS['bs_queried_id'] = $id;
	$GLOBALS['product'] = wc_get_product( $id );
}
function bs_block( $id, $inner = '<p class="stock out-of-stock">Out of stock</p>' ) {
	$block = (object) array( 'context' => array( 'postId' => $id ) );
	return apply_filters( 'render_block_woocommerce/add-to-cart-form', '<div data-block-name="woocommerce/add-to-cart-form">' . $inner . '</div>', array( 'blockName' => 'woocommerce/add-to-cart-form' ), $block );
}
function bs_summary() {
	ob_start();
	do_action( 'woocommerce_single_product_summary' );
	return ob_get_clean();
}

// ---- Hooks registered ----
foreach ( array( 'wp_enqueue_scripts', 'woocommerce_single_product_summary', 'render_block_woocommerce/add-to-cart-form', 'woocommerce_get_availability_text', 'admin_init', 'admin_menu' ) as $tag ) {
	check( ! empty( $GLOBALS['bs_hooks'][ $tag ] ), "hook registered: $tag" );
}
check_same( 31, $GLOBALS['bs_hooks']['woocommerce_single_product_summary'][0]['priority'], 'summary hook at priority 31 (after add-to-cart at 30)' );

// ---- Mount point: simple out-of-stock product (block theme) ----
bs_world();
bs_view( 11 );
$out = bs_block( 11 );
check_same(
	'<div data-block-name="woocommerce/add-to-cart-form"><p class="stock out-of-stock">Out of stock</p></div>'
	. '<div id="backsoon-root" data-store="store-7" data-product="11" data-stock-status="outofstock" data-variations="[]" data-back-soon-text="Back soon" data-today="2026-12-07"></div>',
	$out,
	'simple out-of-stock: exact mount point after the add-to-cart-form block'
);
check_same( '', bs_summary(), 'mount point printed once (summary hook prints nothing after the block did)' );
check_same( '<x></x>', apply_filters( 'render_block_woocommerce/add-to-cart-form', '<x></x>', array(), (object) array( 'context' => array( 'postId' => 11 ) ) ), 'block filter adds nothing the second time' );

// Classic theme path.
bs_world();
bs_view( 11 );
check_same(
	'<div id="backsoon-root" data-store="store-7" data-product="11" data-stock-status="outofstock" data-variations="[]" data-back-soon-text="Back soon" data-today="2026-12-07"></div>',
	bs_summary(),
	'classic theme: mount point from woocommerce_single_product_summary'
);
check_same( '<p>x</p>', bs_block( 11, '' ) === '<div data-block-name="woocommerce/add-to-cart-form"></div>' ? '<p>x</p>' : 'printed twice', 'classic theme: block filter does not print a second mount point' );

// Not a product page / another product's block on the page.
bs_world();
$GLOBALS['bs_is_product'] = false;
check_same( '<div data-block-name="woocommerce/add-to-cart-form"></div>', bs_block( 11, '' ), 'no mount point outside product pages' );
bs_world();
bs_view( 11 );
check_same( '<div data-block-name="woocommerce/add-to-cart-form"></div>', bs_block( 12, '' ), 'no mount point for another product\'s add-to-cart block' );

// ---- Mount point: variable product ----
bs_world();
bs_meta( 15, array( 'status' => 'out_of_stock', 'badge' => array( 'kind' => 'none', 'quantity' => null ), 'restock_eta' => '2026-12-04', 'back_soon' => true ) );
bs_meta( 16, array( 'status' => 'low', 'badge' => array( 'kind' => 'only_n_left', 'quantity' => 3 ), 'restock_eta' => null, 'back_soon' => false ) );
bs_view( 14 );
$vars = '[{"id":15,"attributes":{"attribute_pa_size":"s"},"stock_status":"outofstock","back_soon":true,"restock_eta":"2026-12-04","badge":null},'
	. '{"id":16,"attributes":{"attribute_pa_size":"m"},"stock_status":"instock","back_soon":false,"restock_eta":null,"badge":"Only 3 left"},'
	. '{"id":17,"attributes":{"attribute_pa_size":"l"},"stock_status":"instock","back_soon":false,"restock_eta":null,"badge":null}]';
$out = bs_block( 14, '<form class="variations_form cart"></form>' );
check_same(
	'<div data-block-name="woocommerce/add-to-cart-form"><form class="variations_form cart"></form></div>'
	. '<div id="backsoon-root" data-store="store-7" data-product="14" data-stock-status="instock" data-variations="' . htmlspecialchars( $vars, ENT_QUOTES ) . '" data-back-soon-text="Back soon" data-today="2026-12-07"></div>',
	$out,
	'variable: exact mount point with per-variation data'
);
preg_match( '/data-variations="([^"]*)"/', $out, $m );
check_same( json_decode( $vars, true ), json_decode( html_entity_decode( $m[1], ENT_QUOTES ), true ), 'variable: data-variations decodes to the expected JSON' );

// ---- Badges ----
bs_world();
$GLOBALS['bs_products'][ 10 ] = new BS_Fake_Product( 10, 'simple', 'instock' );
bs_meta( 10, array( 'status' => 'low', 'badge' => array( 'kind' => 'only_n_left', 'quantity' => 3 ), 'restock_eta' => null, 'back_soon' => false ) );
check_same( '<p class="backsoon-badge backsoon-badge--only_n_left">Only 3 left</p>', $frontend->badge_html( wc_get_product( 10 ) ), 'badge: only_n_left 3 → "Only 3 left"' );
bs_view( 10 );
check( 0 === strpos( bs_block( 10, '' ), '<div data-block-name="woocommerce/add-to-cart-form"></div><p class="backsoon-badge backsoon-badge--only_n_left">Only 3 left</p><div id="backsoon-root"' ), 'badge is printed just before the mount point' );

bs_world();
bs_meta( 10, array( 'status' => 'healthy', 'badge' => array( 'kind' => 'selling_fast', 'quantity' => null ), 'restock_eta' => null, 'back_soon' => false ) );
check_same( '<p class="backsoon-badge backsoon-badge--selling_fast">Selling fast</p>', $frontend->badge_html( wc_get_product( 10 ) ), 'badge: selling_fast → "Selling fast"' );

bs_world();
check_same( '', $frontend->badge_html( wc_get_product( 10 ) ), 'badge: none without meta' );
bs_view( 10 );
check( false === strpos( bs_block( 10, '' ), 'backsoon-badge' ), 'page without meta has no badge element' );
bs_world();
bs_meta( 10, array( 'badge' => array( 'kind' => 'none', 'quantity' => 9 ) ) );
check_same( '', $frontend->badge_html( wc_get_product( 10 ) ), 'badge: none for kind "none"' );
bs_meta( 10, array( 'badge' => array( 'kind' => 'only_n_left', 'quantity' => null ) ) );
check_same( '', $frontend->badge_html( wc_get_product( 10 ) ), 'badge: only_n_left without a quantity shows nothing' );
bs_meta( 10, '{not json' );
check_same( '', $frontend->badge_html( wc_get_product( 10 ) ), 'badge: unreadable meta shows nothing' );
bs_meta( 11, array( 'badge' => array( 'kind' => 'only_n_left', 'quantity' => 2 ), 'back_soon' => true ) );
check_same( '', $frontend->badge_html( wc_get_product( 11 ) ), 'badge: none on an out-of-stock product even if meta is stale' );

// ---- Availability text ----
bs_world();
$p11 = wc_get_product( 11 );
check_same( 'Out of stock', apply_filters( 'woocommerce_get_availability_text', 'Out of stock', $p11 ), 'availability: unchanged without meta' );
bs_meta( 11, array( 'status' => 'out_of_stock', 'badge' => array( 'kind' => 'none' ), 'restock_eta' => null, 'back_soon' => true ) );
check_same( 'Back soon', apply_filters( 'woocommerce_get_availability_text', 'Out of stock', $p11 ), 'availability: "Back soon" without ETA' );
bs_meta( 11, array( 'status' => 'out_of_stock', 'restock_eta' => '2026-12-04', 'back_soon' => true ) );
check_same( 'Back soon — expected around 4 December', apply_filters( 'woocommerce_get_availability_text', 'Out of stock', $p11 ), 'availability: with ETA (shopper_date: this year, no year)' );
bs_meta( 11, array( 'restock_eta' => array( 'date' => '2026-12-04', 'source' => 'lead_time' ), 'back_soon' => true ) );
check_same( 'Back soon — expected around 4 December', apply_filters( 'woocommerce_get_availability_text', 'Out of stock', $p11 ), 'availability: ETA in the API\'s {date, source} shape' );
$GLOBALS['bs_options']['backsoon_settings']['back_soon_text'] = 'Returning shortly';
check_same( 'Returning shortly — expected around 4 December', apply_filters( 'woocommerce_get_availability_text', 'Out of stock', $p11 ), 'availability: merchant\'s own text' );
$GLOBALS['bs_options']['backsoon_settings']['back_soon_text'] = '';
bs_meta( 11, array( 'back_soon' => true ) );
check_same( 'Back soon', apply_filters( 'woocommerce_get_availability_text', 'Out of stock', $p11 ), 'availability: default text when the setting is empty' );
bs_meta( 11, array( 'back_soon' => false, 'restock_eta' => '2026-12-04' ) );
check_same( 'Out of stock', apply_filters( 'woocommerce_get_availability_text', 'Out of stock', $p11 ), 'availability: unchanged when back_soon is false' );
bs_meta( 10, array( 'back_soon' => true ) );
check_same( '12 in stock', apply_filters( 'woocommerce_get_availability_text', '12 in stock', wc_get_product( 10 ) ), 'availability: in-stock product untouched' );
bs_world();
bs_meta( 15, array( 'back_soon' => true, 'restock_eta' => '2026-12-04' ) );
check_same( 'Back soon — expected around 4 December', apply_filters( 'woocommerce_get_availability_text', 'Out of stock', wc_get_product( 15 ) ), 'availability: out-of-stock variation (Hoodie S)' );

// ---- Listing badge: true for the whole product ----
bs_world();
check_same( 15, $GLOBALS['bs_hooks']['woocommerce_after_shop_loop_item_title'][0]['priority'], 'listing badge hook on shop loop cards' );
$GLOBALS['bs_meta'][ 14 ]['_backsoon_listing'] = '{"badge":{"kind":"none","quantity":null},"status":"in_stock","v":1}';
bs_meta( 16, array( 'status' => 'low_stock', 'badge' => array( 'kind' => 'only_n_left', 'quantity' => 5 ) ) );
check_same( '', $frontend->listing_badge_html( wc_get_product( 14 ) ), 'listing: a variation\'s "Only 5 left" does not stand for the product' );
$GLOBALS['bs_meta'][ 14 ]['_backsoon_listing'] = '{"badge":{"kind":"only_n_left","quantity":3},"status":"low_stock","v":1}';
check_same( '<p class="backsoon-badge backsoon-badge--only_n_left">Only 3 left</p>', $frontend->listing_badge_html( wc_get_product( 14 ) ), 'listing: the product\'s own total' );
$GLOBALS['product'] = wc_get_product( 14 );
ob_start();
do_action( 'woocommerce_after_shop_loop_item_title' );
check_same( '<p class="backsoon-badge backsoon-badge--only_n_left">Only 3 left</p>', ob_get_clean(), 'listing: printed on the loop card' );
$GLOBALS['bs_meta'][ 11 ]['_backsoon_listing'] = '{"badge":{"kind":"only_n_left","quantity":2},"status":"low_stock","v":1}';
check_same( '', $frontend->listing_badge_html( wc_get_product( 11 ) ), 'listing: nothing on a product that cannot be bought now' );
check_same( '', $frontend->listing_badge_html( wc_get_product( 10 ) ), 'listing: nothing without the meta' );
// Block themes: a card's price block in a product loop (attrs as WooCommerce 9.4's templates and related-products pattern write them).
$bs_card  = array( 'blockName' => 'woocommerce/product-price', 'attrs' => array( 'isDescendentOfQueryLoop' => true, 'textAlign' => 'center' ) );
$bs_price = '<div class="wc-block-components-product-price">€ 32,00</div>';
check_same( $bs_price . '<p class="backsoon-badge backsoon-badge--only_n_left">Only 3 left</p>', apply_filters( 'render_block_woocommerce/product-price', $bs_price, $bs_card, (object) array( 'context' => array( 'postId' => 14 ) ) ), 'listing: block theme card gets the product\'s badge after its price' );
check_same( $bs_price, apply_filters( 'render_block_woocommerce/product-price', $bs_price, $bs_card, (object) array( 'context' => array( 'postId' => 10 ) ) ), 'listing: block theme card without the meta is unchanged' );
check_same( $bs_price, apply_filters( 'render_block_woocommerce/product-price', $bs_price, array( 'blockName' => 'woocommerce/product-price', 'attrs' => array( 'isDescendentOfSingleProductTemplate' => true ) ), (object) array( 'context' => array( 'postId' => 14 ) ) ), 'listing: the single product\'s own price block is left alone' );
check_same( $bs_price, apply_filters( 'render_block_woocommerce/product-price', $bs_price, $bs_card, (object) array( 'context' => array() ) ), 'listing: a card without a product is unchanged' );

// ---- One date format: the same spelling as BackSoon's app/domain/dates.py and its widget ----
$bs_date_cases = array(
	array( 'en', '2026-12-21', '21 December' ),
	array( 'nl', '2026-12-21', '21 december' ),
	array( 'fr', '2026-12-21', '21 décembre' ),
	array( 'de', '2026-12-21', '21. Dezember' ),
	array( 'en', '2027-03-01', '1 March 2027' ),
	array( 'nl', '2027-03-01', '1 maart 2027' ),
	array( 'fr', '2027-08-01', '1 août 2027' ),
	array( 'de', '2027-03-01', '1. März 2027' ),
	array( 'es', '2026-12-21', '21 December' ),
);
foreach ( $bs_date_cases as $c ) {
	check_same( $c[2], BackSoon_State::shopper_date( $c[1], $c[0], 2026 ), "shopper_date: {$c[0]} {$c[1]}" );
}
check_same( null, BackSoon_State::shopper_date( 'soon', 'en', 2026 ), 'shopper_date: not a date' );
bs_world();
bs_meta( 11, array( 'back_soon' => true, 'restock_eta' => '2026-12-04' ) );
$GLOBALS['bs_locale'] = 'nl_NL';
check_same( 'Back soon — expected around 4 december', apply_filters( 'woocommerce_get_availability_text', 'Out of stock', wc_get_product( 11 ) ), 'availability: the site\'s language spells the date' );
$GLOBALS['bs_locale'] = 'de_DE';
bs_meta( 11, array( 'back_soon' => true, 'restock_eta' => '2027-03-01' ) );
check_same( 'Back soon — expected around 1. März 2027', apply_filters( 'woocommerce_get_availability_text', 'Out of stock', wc_get_product( 11 ) ), 'availability: another year names it' );
$GLOBALS['bs_locale'] = 'en_US';

// ---- Hostile text ----
bs_world( array( 'store_key' => '"><script>alert(1)</script>', 'back_soon_text' => '<script>alert("x")</script> & \'soon\'' ) );
bs_meta( 11, array( 'back_soon' => true ) );
bs_view( 11 );
$out = bs_block( 11, '' );
check( false === strpos( $out, '<script' ), 'hostile settings: no <script> in the mount point', $out );
check_same(
	'<div data-block-name="woocommerce/add-to-cart-form"></div><div id="backsoon-root" data-store="&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" data-product="11" data-stock-status="outofstock" data-variations="[]" data-back-soon-text="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#039;soon&#039;" data-today="2026-12-07"></div>',
	$out,
	'hostile settings: attributes escaped exactly'
);
$avail = apply_filters( 'woocommerce_get_availability_text', 'Out of stock', wc_get_product( 11 ) );
check_same( '&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#039;soon&#039;', $avail, 'hostile settings: availability text escaped' );

$clean = $settings->sanitize( array( 'backend_url' => 'javascript:alert(1)', 'store_key' => ' <b>st</b>ore ', 'back_soon_text' => '<script>alert(1)</script>Back <em>soon</em>' ) );
check_same( array( 'backend_url' => '', 'store_key' => 'store', 'api_key' => '', 'back_soon_text' => 'alert(1)Back soon' ), $clean, 'sanitize: javascript: URL dropped, tags stripped (esc_url_raw / sanitize_text_field)' );
$clean = $settings->sanitize( array( 'backend_url' => ' https://backsoon.example.com/ ', 'store_key' => 'store-7', 'back_soon_text' => 'Back soon' ) );
check_same( 'https://backsoon.example.com', $clean['backend_url'], 'sanitize: backend URL kept, trailing slash trimmed' );
$plugin->settings->register_setting();
check( isset( $GLOBALS['bs_settings_registered']['backsoon_settings']['sanitize_callback'] ), 'register_setting with a sanitize_callback' );

// Hostile badge meta (badge text is built from an int, kind is whitelisted).
bs_world();
bs_meta( 10, array( 'badge' => array( 'kind' => '"><script>', 'quantity' => 3 ) ) );
check_same( '', $frontend->badge_html( wc_get_product( 10 ) ), 'hostile badge kind: ignored' );
bs_meta( 10, array( 'badge' => array( 'kind' => 'only_n_left', 'quantity' => '3<script>' ) ) );
check_same( '', $frontend->badge_html( wc_get_product( 10 ) ), 'hostile badge quantity: ignored' );

// ---- Scripts ----
bs_world();
bs_view( 11 );
$GLOBALS['bs_http_responses'][] = bs_http_response( 200, '{"files": {"admin.js": "admin.0123456789ab.js", "widget.js": "widget.5f3a9c0d2e71.js"}}', 'OK' );
do_action( 'wp_enqueue_scripts' );
check_same( array( 'src' => 'https://backsoon.example.com/static/widget.5f3a9c0d2e71.js', 'deps' => array(), 'ver' => null, 'in_footer' => true ), isset( $GLOBALS['bs_scripts']['backsoon-widget'] ) ? $GLOBALS['bs_scripts']['backsoon-widget'] : null, 'hashed widget enqueued from the backend, no ?ver=, in footer' );
check_same( array( array( 'method' => 'GET', 'url' => 'https://backsoon.example.com/static/manifest.json', 'args' => array( 'timeout' => 3, 'redirection' => 0, 'headers' => array( 'Accept' => 'application/json' ) ) ) ), $GLOBALS['bs_http_requests'], 'widget name asked once from the backend manifest' );
$widget_key = 'backsoon_widget_' . md5( 'https://backsoon.example.com' );
check_same( array( $widget_key => array( 'value' => 'widget.5f3a9c0d2e71.js', 'expiration' => 3600 ) ), $GLOBALS['bs_transients'], 'hashed name kept for an hour' );
check( isset( $GLOBALS['bs_scripts']['backsoon-variations'] ) && array( 'jquery' ) === $GLOBALS['bs_scripts']['backsoon-variations']['deps'] && true === $GLOBALS['bs_scripts']['backsoon-variations']['in_footer'], 'variation glue enqueued with jquery, in footer' );
// The next product view: from the transient, no request.
$GLOBALS['bs_scripts'] = array();
do_action( 'wp_enqueue_scripts' );
check_same( 'https://backsoon.example.com/static/widget.5f3a9c0d2e71.js', $GLOBALS['bs_scripts']['backsoon-widget']['src'], 'second view: hashed widget from the transient' );
check_same( 1, count( $GLOBALS['bs_http_requests'] ), 'second view: no request to the backend' );

// Backend down, or answering something else: the unhashed widget.js (with ?ver=), remembered for five minutes.
$bad_answers = array(
	'unreachable'      => null,
	'500'              => bs_http_response( 500, '{"error": {"code": "internal_error"}}', 'Internal Server Error' ),
	'not JSON'         => bs_http_response( 200, '<html>', 'OK' ),
	'no widget.js'     => bs_http_response( 200, '{"files": {"admin.js": "admin.0123456789ab.js"}}', 'OK' ),
	'hostile name'     => bs_http_response( 200, '{"files": {"widget.js": "../../evil.com/x.js"}}', 'OK' ),
	'off-shape hash'   => bs_http_response( 200, '{"files": {"widget.js": "widget.5F3A9C0D2E71.js"}}', 'OK' ),
);
foreach ( $bad_answers as $case => $answer ) {
	bs_world();
	bs_view( 11 );
	if ( null !== $answer ) {
		$GLOBALS['bs_http_responses'][] = $answer;
	}
	do_action( 'wp_enqueue_scripts' );
	check_same( array( 'src' => 'https://backsoon.example.com/static/widget.js', 'deps' => array(), 'ver' => BACKSOON_VERSION, 'in_footer' => true ), $GLOBALS['bs_scripts']['backsoon-widget'], "manifest $case: unhashed widget.js enqueued" );
	check_same( array( $widget_key => array( 'value' => 'widget.js', 'expiration' => 300 ) ), $GLOBALS['bs_transients'], "manifest $case: fallback kept for five minutes" );
	check_same( 1, count( $GLOBALS['bs_http_requests'] ), "manifest $case: one request" );
}
// Another backend URL is asked afresh, not served the first backend's name.
bs_world( array( 'backend_url' => 'https://other.example.com' ) );
bs_view( 11 );
set_transient( $widget_key, 'widget.5f3a9c0d2e71.js', HOUR_IN_SECONDS );
$GLOBALS['bs_http_responses'][] = bs_http_response( 200, '{"files": {"widget.js": "widget.aaaaaaaaaaaa.js"}}', 'OK' );
do_action( 'wp_enqueue_scripts' );
check_same( 'https://other.example.com/static/widget.aaaaaaaaaaaa.js', $GLOBALS['bs_scripts']['backsoon-widget']['src'], 'other backend: its own manifest asked' );
check_same( 'https://other.example.com/static/manifest.json', $GLOBALS['bs_http_requests'][0]['url'], 'other backend: its manifest URL' );

bs_world();
do_action( 'wp_enqueue_scripts' );
check_same( array(), $GLOBALS['bs_scripts'], 'no scripts outside product pages' );
bs_world( array( 'backend_url' => '' ) );
bs_view( 11 );
do_action( 'wp_enqueue_scripts' );
check( ! isset( $GLOBALS['bs_scripts']['backsoon-widget'] ), 'no widget script until a backend URL is set' );
check_same( array(), $GLOBALS['bs_http_requests'], 'no backend URL: no request' );

bs_finish();

<?php
/**
 * Renders what the BackSoon WordPress plugin adds to one product page, with the plugin's own test stand-ins for
 * WordPress (integrations/woocommerce/wordpress-plugin/tests/bootstrap.php), for tests/e2e/shops.py.
 *
 * stdin (JSON): {backend_url, store_key, product_id, product_type, product_stock_status,
 *                children: [{id, stock_status, attributes}], meta: {id: "<_backsoon_state JSON>"}, block_html,
 *                manifest: the backend's /static/manifest.json body}
 * stdout (JSON): {html: the add-to-cart-form block as filtered by the plugin, scripts: what it enqueued}
 */

require dirname( __DIR__, 2 ) . '/integrations/woocommerce/wordpress-plugin/tests/bootstrap.php';

$in = json_decode( stream_get_contents( STDIN ), true );
do_action( 'plugins_loaded' );
bs_reset_world();
$GLOBALS['bs_options']['date_format']       = 'j. F Y';
$GLOBALS['bs_options']['backsoon_settings'] = array(
	'backend_url' => $in['backend_url'],
	'store_key'   => $in['store_key'],
);
$pid      = (int) $in['product_id'];
$children = array();
foreach ( $in['children'] as $child ) {
	$children[] = (int) $child['id'];
	$GLOBALS['bs_products'][ (int) $child['id'] ] = new BS_Fake_Product( (int) $child['id'], 'variation', $child['stock_status'], array(), $child['attributes'] );
}
$GLOBALS['bs_products'][ $pid ] = new BS_Fake_Product( $pid, $in['product_type'], $in['product_stock_status'], $children );
foreach ( $in['meta'] as $id => $value ) {
	$GLOBALS['bs_meta'][ (int) $id ]['_backsoon_state'] = $value;
}
$GLOBALS['bs_is_product'] = true;
$GLOBALS['bs_queried_id'] = $pid;
$GLOBALS['product']       = wc_get_product( $pid );
// The backend's /static/manifest.json, answering the plugin's request for the widget's hashed name.
$GLOBALS['bs_http_responses'][] = bs_http_response( 200, $in['manifest'], 'OK' );

do_action( 'wp_enqueue_scripts' );
$block = (object) array( 'context' => array( 'postId' => $pid ) );
$html  = apply_filters( 'render_block_woocommerce/add-to-cart-form', $in['block_html'], array( 'blockName' => 'woocommerce/add-to-cart-form' ), $block );
echo json_encode( array( 'html' => $html, 'scripts' => (object) $GLOBALS['bs_scripts'] ) );

<?php
/**
 * Minimal WordPress / WooCommerce stand-ins so the plugin can be exercised without WordPress.
 * Only what the plugin calls; behaviour mirrors core where output depends on it (escaping, sanitising, HTTP API).
 */

// Tests run from the command line only: a copy of this folder on a web server must not run anything.
if ( 'cli' !== PHP_SAPI ) {
	http_response_code( 404 );
	exit;
}

define( 'ABSPATH', __DIR__ . '/' );

$GLOBALS['bs_hooks']    = array();
$GLOBALS['bs_options']  = array();
$GLOBALS['bs_meta']     = array();
$GLOBALS['bs_products'] = array();
$GLOBALS['bs_scripts']  = array();
$GLOBALS['bs_is_product'] = false;
$GLOBALS['bs_queried_id'] = 0;
$GLOBALS['bs_settings_registered'] = array();
$GLOBALS['bs_http_requests']  = array();
$GLOBALS['bs_http_responses'] = array();
$GLOBALS['bs_transients']     = array();

define( 'MINUTE_IN_SECONDS', 60 );
define( 'HOUR_IN_SECONDS', 3600 );

function add_filter( $tag, $cb, $priority = 10, $args = 1 ) {
	$GLOBALS['bs_hooks'][ $tag ][] = array( 'cb' => $cb, 'priority' => $priority, 'args' => $args );
	return true;
}
function add_action( $tag, $cb, $priority = 10, $args = 1 ) {
	return add_filter( $tag, $cb, $priority, $args );
}
function bs_sorted_hooks( $tag ) {
	$hooks = isset( $GLOBALS['bs_hooks'][ $tag ] ) ? $GLOBALS['bs_hooks'][ $tag ] : array();
	usort( $hooks, function ( $a, $b ) { return $a['priority'] - $b['priority']; } );
	return $hooks;
}
function apply_filters( $tag, $value ) {
	$args = func_get_args();
	array_shift( $args );
	foreach ( bs_sorted_hooks( $tag ) as $h ) {
		$args[0] = call_user_func_array( $h['cb'], array_slice( $args, 0, $h['args'] ) );
	}
	return $args[0];
}
function do_action( $tag ) {
	$args = array_slice( func_get_args(), 1 );
	foreach ( bs_sorted_hooks( $tag ) as $h ) {
		call_user_func_array( $h['cb'], array_slice( $args, 0, $h['args'] ) );
	}
}

function get_option( $name, $default = false ) {
	return array_key_exists( $name, $GLOBALS['bs_options'] ) ? $GLOBALS['bs_options'][ $name ] : $default;
}
// Transients: the value and the expiration it was set with (no clock: a test expires one by deleting it).
function get_transient( $name ) {
	return isset( $GLOBALS['bs_transients'][ $name ] ) ? $GLOBALS['bs_transients'][ $name ]['value'] : false;
}
function set_transient( $name, $value, $expiration = 0 ) {
	$GLOBALS['bs_transients'][ $name ] = array( 'value' => $value, 'expiration' => $expiration );
	return true;
}
function delete_transient( $name ) {
	unset( $GLOBALS['bs_transients'][ $name ] );
	return true;
}
function get_post_meta( $id, $key = '', $single = false ) {
	$v = isset( $GLOBALS['bs_meta'][ $id ][ $key ] ) ? $GLOBALS['bs_meta'][ $id ][ $key ] : null;
	if ( $single ) {
		return null === $v ? '' : $v;
	}
	return null === $v ? array() : array( $v );
}

// Escaping, as core: ENT_QUOTES, no double-encoding of existing entities.
function bs_specialchars( $text ) {
	return htmlspecialchars( (string) $text, ENT_QUOTES, 'UTF-8', false );
}
function esc_html( $text ) { return bs_specialchars( $text ); }
function esc_attr( $text ) { return bs_specialchars( $text ); }
function esc_html__( $text, $domain = 'default' ) { return esc_html( __( $text, $domain ) ); }
function esc_url( $url, $protocols = null ) {
	$url = trim( (string) $url );
	if ( '' === $url ) {
		return '';
	}
	$url = preg_replace( '|[^a-z0-9-~+_.?#=!&;,/:%@$\|*\'()\[\]\\x80-\\xff]|i', '', $url );
	$protocols = $protocols ? $protocols : array( 'http', 'https' );
	if ( preg_match( '/^([a-z][a-z0-9+.-]*):/i', $url, $m ) && ! in_array( strtolower( $m[1] ), $protocols, true ) ) {
		return '';
	}
	return str_replace( array( '&', "'" ), array( '&#038;', '&#039;' ), $url );
}
function esc_url_raw( $url, $protocols = null ) {
	return str_replace( array( '&#038;', '&#039;' ), array( '&', "'" ), esc_url( $url, $protocols ) );
}
function sanitize_text_field( $str ) {
	$str = strip_tags( (string) $str );
	$str = preg_replace( '/[\r\n\t ]+/', ' ', $str );
	return trim( $str );
}

function __( $text, $domain = 'default' ) { return $text; }
function wp_json_encode( $data, $options = 0, $depth = 512 ) { return json_encode( $data, $options, $depth ); }
function date_i18n( $format, $timestamp = false, $gmt = false ) {
	return gmdate( $format, false === $timestamp ? time() : $timestamp );
}
function determine_locale() { return isset( $GLOBALS['bs_locale'] ) ? $GLOBALS['bs_locale'] : 'en_US'; }
function current_time( $type, $gmt = 0 ) { return isset( $GLOBALS['bs_now'] ) ? gmdate( $type, $GLOBALS['bs_now'] ) : gmdate( $type ); }

function wp_enqueue_script( $handle, $src = '', $deps = array(), $ver = false, $in_footer = false ) {
	$GLOBALS['bs_scripts'][ $handle ] = array( 'src' => $src, 'deps' => $deps, 'ver' => $ver, 'in_footer' => $in_footer );
}
function plugins_url( $path = '', $plugin = '' ) { return 'http://shop.test/wp-content/plugins/backsoon/' . ltrim( $path, '/' ); }
function plugin_basename( $file ) { return 'backsoon/' . basename( $file ); }
function load_plugin_textdomain() { return true; }
function is_product() { return $GLOBALS['bs_is_product']; }
function get_the_ID() { return $GLOBALS['bs_queried_id']; }
function get_queried_object_id() { return $GLOBALS['bs_queried_id']; }
function wc_get_product( $id ) { return isset( $GLOBALS['bs_products'][ $id ] ) ? $GLOBALS['bs_products'][ $id ] : false; }
function register_setting( $group, $name, $args = array() ) { $GLOBALS['bs_settings_registered'][ $name ] = $args; }
function add_settings_section() {}
function add_settings_field() {}
function add_options_page() { return 'settings_page_backsoon'; }
function current_user_can() { return true; }

/**
 * WordPress's error object: a code and a message.
 */
class WP_Error {
	public $code; public $message;
	public function __construct( $code = '', $message = '' ) { $this->code = $code; $this->message = $message; }
	public function get_error_code() { return $this->code; }
	public function get_error_message() { return $this->message; }
}
function is_wp_error( $thing ) { return $thing instanceof WP_Error; }

// HTTP API: requests are recorded; answers are queued by the test, in WP_Http's response shape.
function wp_remote_post( $url, $args = array() ) {
	$GLOBALS['bs_http_requests'][] = array( 'method' => 'POST', 'url' => $url, 'args' => $args );
	if ( ! $GLOBALS['bs_http_responses'] ) {
		return new WP_Error( 'http_request_failed', 'no fake response queued for ' . $url );
	}
	return array_shift( $GLOBALS['bs_http_responses'] );
}
function wp_remote_get( $url, $args = array() ) {
	$GLOBALS['bs_http_requests'][] = array( 'method' => 'GET', 'url' => $url, 'args' => $args );
	if ( ! $GLOBALS['bs_http_responses'] ) {
		return new WP_Error( 'http_request_failed', 'no fake response queued for ' . $url );
	}
	return array_shift( $GLOBALS['bs_http_responses'] );
}
function bs_http_response( $status, $body, $message = '' ) {
	return array(
		'headers'  => array( 'content-type' => 'application/json' ),
		'body'     => $body,
		'response' => array( 'code' => $status, 'message' => $message ),
		'cookies'  => array(),
	);
}
function wp_remote_retrieve_response_code( $response ) {
	if ( is_wp_error( $response ) || ! isset( $response['response'] ) || ! is_array( $response['response'] ) ) {
		return '';
	}
	return $response['response']['code'];
}
function wp_remote_retrieve_body( $response ) {
	if ( is_wp_error( $response ) || ! isset( $response['body'] ) ) {
		return '';
	}
	return $response['body'];
}

/**
 * Fake product: just the WC_Product methods the plugin calls.
 */
class BS_Fake_Product {
	public $id; public $type; public $stock_status; public $children; public $attributes;
	public function __construct( $id, $type, $stock_status, $children = array(), $attributes = array() ) {
		$this->id = $id; $this->type = $type; $this->stock_status = $stock_status;
		$this->children = $children; $this->attributes = $attributes;
	}
	public function get_id() { return $this->id; }
	public function is_type( $t ) { return is_array( $t ) ? in_array( $this->type, $t, true ) : $t === $this->type; }
	public function get_stock_status() { return $this->stock_status; }
	public function is_in_stock() { return 'outofstock' !== $this->stock_status; }
	public function get_children() { return $this->children; }
	public function get_variation_attributes() { return $this->attributes; }
}

function bs_reset_world() {
	$GLOBALS['bs_options']  = array();
	$GLOBALS['bs_meta']     = array();
	$GLOBALS['bs_products'] = array();
	$GLOBALS['bs_scripts']  = array();
	$GLOBALS['bs_is_product'] = false;
	$GLOBALS['bs_queried_id'] = 0;
	$GLOBALS['product'] = null;
	$GLOBALS['bs_http_requests']  = array();
	$GLOBALS['bs_http_responses'] = array();
	$GLOBALS['bs_transients']     = array();
	$GLOBALS['bs_locale'] = 'en_US';
	$GLOBALS['bs_now'] = gmmktime( 12, 0, 0, 12, 7, 2026 ); // the site's "now": 7 December 2026
}

require dirname( __DIR__ ) . '/backsoon.php';

<?php
/**
 * Plugin Name:          BackSoon
 * Plugin URI:           https://github.com/backsoon/backsoon
 * Description:          Storefront companion of the BackSoon restock engine: "Back soon" availability text, honest stock badges and the BackSoon widget on product pages.
 * Version:              0.1.0
 * Requires at least:    6.2
 * Requires PHP:         7.4
 * Author:               BackSoon
 * License:              GPL-2.0-or-later
 * Text Domain:          backsoon
 * WC requires at least: 8.0
 * WC tested up to:      9.4
 *
 * @package BackSoon
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

define( 'BACKSOON_VERSION', '0.1.0' );
define( 'BACKSOON_FILE', __FILE__ );

require_once __DIR__ . '/includes/class-backsoon-state.php';
require_once __DIR__ . '/includes/class-backsoon-settings.php';
require_once __DIR__ . '/includes/class-backsoon-frontend.php';
require_once __DIR__ . '/includes/class-backsoon-privacy.php';
require_once __DIR__ . '/includes/class-backsoon-plugin.php';

// The plugin only reads post meta and uses hooks, so it is compatible with HPOS (custom order tables).
add_action(
	'before_woocommerce_init',
	function () {
		if ( class_exists( '\Automattic\WooCommerce\Utilities\FeaturesUtil' ) ) {
			\Automattic\WooCommerce\Utilities\FeaturesUtil::declare_compatibility( 'custom_order_tables', BACKSOON_FILE, true );
		}
	}
);

add_action(
	'plugins_loaded',
	function () {
		BackSoon_Plugin::instance()->register();
	}
);

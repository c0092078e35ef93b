<?php
/**
 * Wires the settings page and the storefront hooks.
 *
 * @package BackSoon
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * Plugin entry point.
 */
class BackSoon_Plugin {

	/** @var BackSoon_Plugin|null */
	private static $instance = null;

	/** @var BackSoon_Settings */
	public $settings;

	/** @var BackSoon_Frontend */
	public $frontend;

	/** @var bool */
	private $registered = false;

	/**
	 * The shared instance.
	 *
	 * @return BackSoon_Plugin
	 */
	public static function instance() {
		if ( null === self::$instance ) {
			self::$instance = new self();
		}
		return self::$instance;
	}

	/**
	 * Builds the parts.
	 */
	public function __construct() {
		$this->settings = new BackSoon_Settings();
		$this->frontend = new BackSoon_Frontend( $this->settings );
	}

	/**
	 * Registers every hook once.
	 */
	public function register() {
		if ( $this->registered ) {
			return;
		}
		$this->registered = true;

		add_action( 'init', array( $this, 'load_textdomain' ) );
		$this->settings->register_hooks();
		$this->frontend->register_hooks();
	}

	/**
	 * Loads translations from languages/.
	 */
	public function load_textdomain() {
		load_plugin_textdomain( 'backsoon', false, dirname( plugin_basename( BACKSOON_FILE ) ) . '/languages' );
	}
}

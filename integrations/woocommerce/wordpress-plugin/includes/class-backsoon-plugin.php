<?php
/**
 * Wires the settings page, the storefront hooks and the privacy exporter and eraser.
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

	/** @var BackSoon_Privacy */
	public $privacy;

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
		$this->privacy  = new BackSoon_Privacy( $this->settings );
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
		$this->privacy->register_hooks();
	}

	/**
	 * Loads translations from languages/.
	 */
	public function load_textdomain() {
		load_plugin_textdomain( 'backsoon', false, dirname( plugin_basename( BACKSOON_FILE ) ) . '/languages' );
	}
}

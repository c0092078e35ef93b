<?php
/**
 * Settings → BackSoon: backend URL, store key, API key and the "Back soon" text.
 *
 * @package BackSoon
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * One option (`backsoon_settings`, an array) registered with the Settings API.
 */
class BackSoon_Settings {

	const OPTION = 'backsoon_settings';
	const GROUP  = 'backsoon';
	const PAGE   = 'backsoon';

	/**
	 * Hooks the admin page and the setting.
	 */
	public function register_hooks() {
		add_action( 'admin_init', array( $this, 'register_setting' ) );
		add_action( 'admin_menu', array( $this, 'add_page' ) );
	}

	/**
	 * Defaults for every field.
	 *
	 * @return array
	 */
	public function defaults() {
		return array(
			'backend_url'    => '',
			'store_key'      => '',
			'api_key'        => '',
			'back_soon_text' => '',
		);
	}

	/**
	 * Stored values merged over the defaults.
	 *
	 * @return array
	 */
	public function all() {
		$stored = get_option( self::OPTION, array() );
		if ( ! is_array( $stored ) ) {
			$stored = array();
		}
		return array_merge( $this->defaults(), array_intersect_key( $stored, $this->defaults() ) );
	}

	/**
	 * Backend base URL without a trailing slash ('' when not set).
	 *
	 * @return string
	 */
	public function backend_url() {
		$all = $this->all();
		return rtrim( (string) $all['backend_url'], '/' );
	}

	/**
	 * The store key (our store id in the BackSoon backend).
	 *
	 * @return string
	 */
	public function store_key() {
		$all = $this->all();
		return (string) $all['store_key'];
	}

	/**
	 * The store's BackSoon admin API key (the privacy exporter and eraser send it; never printed on the storefront).
	 *
	 * @return string
	 */
	public function api_key() {
		$all = $this->all();
		return (string) $all['api_key'];
	}

	/**
	 * The merchant's "Back soon" words, or the translated default. Unescaped.
	 *
	 * @return string
	 */
	public function back_soon_text() {
		$all  = $this->all();
		$text = trim( (string) $all['back_soon_text'] );
		return '' !== $text ? $text : __( 'Back soon', 'backsoon' );
	}

	/**
	 * Registers the option and its fields.
	 */
	public function register_setting() {
		register_setting(
			self::GROUP,
			self::OPTION,
			array(
				'type'              => 'array',
				'sanitize_callback' => array( $this, 'sanitize' ),
				'default'           => $this->defaults(),
				'show_in_rest'      => false,
			)
		);

		add_settings_section( 'backsoon_main', __( 'Connection and wording', 'backsoon' ), '__return_false', self::PAGE );

		$fields = array(
			'backend_url'    => array( __( 'Backend URL', 'backsoon' ), 'url', __( 'Base URL of your BackSoon backend, e.g. https://backsoon.example.com. The storefront widget is loaded from this backend.', 'backsoon' ) ),
			'store_key'      => array( __( 'Store key', 'backsoon' ), 'text', __( 'The id of this store in BackSoon.', 'backsoon' ) ),
			'api_key'        => array( __( 'API key', 'backsoon' ), 'password', __( 'The store\'s BackSoon admin API key (backsoon create-api-key --store <id>). Lets Tools → Export/Erase Personal Data include BackSoon\'s waitlist data. Leave empty to keep the saved key.', 'backsoon' ) ),
			'back_soon_text' => array( __( '"Back soon" text', 'backsoon' ), 'text', __( 'Replaces "Out of stock" when BackSoon expects a restock. Leave empty for "Back soon".', 'backsoon' ) ),
		);
		foreach ( $fields as $key => $field ) {
			add_settings_field(
				'backsoon_' . $key,
				$field[0],
				array( $this, 'render_field' ),
				self::PAGE,
				'backsoon_main',
				array(
					'key'         => $key,
					'type'        => $field[1],
					'description' => $field[2],
					'label_for'   => 'backsoon_' . $key,
				)
			);
		}
	}

	/**
	 * Cleans submitted values: URLs with esc_url_raw (http/https only), text with sanitize_text_field.
	 *
	 * @param mixed $input Submitted option value.
	 * @return array
	 */
	public function sanitize( $input ) {
		$input = is_array( $input ) ? $input : array();
		$out   = $this->defaults();

		if ( isset( $input['backend_url'] ) ) {
			$out['backend_url'] = rtrim( esc_url_raw( trim( (string) $input['backend_url'] ), array( 'http', 'https' ) ), '/' );
		}
		if ( isset( $input['store_key'] ) ) {
			$out['store_key'] = sanitize_text_field( (string) $input['store_key'] );
		}
		// The key is never printed back into the form, so an empty field means "keep the saved one".
		$out['api_key'] = $this->api_key();
		if ( isset( $input['api_key'] ) && '' !== trim( (string) $input['api_key'] ) ) {
			$out['api_key'] = sanitize_text_field( (string) $input['api_key'] );
		}
		if ( isset( $input['back_soon_text'] ) ) {
			$out['back_soon_text'] = sanitize_text_field( (string) $input['back_soon_text'] );
		}
		return $out;
	}

	/**
	 * Settings → BackSoon.
	 */
	public function add_page() {
		add_options_page(
			__( 'BackSoon', 'backsoon' ),
			__( 'BackSoon', 'backsoon' ),
			'manage_options',
			self::PAGE,
			array( $this, 'render_page' )
		);
	}

	/**
	 * One input.
	 *
	 * @param array $args Field arguments.
	 */
	public function render_field( $args ) {
		$all   = $this->all();
		$key   = $args['key'];
		$value = isset( $all[ $key ] ) ? $all[ $key ] : '';
		if ( 'password' === $args['type'] ) {
			// A secret: say whether one is saved, never echo it into the page.
			printf(
				'<input type="password" class="regular-text" id="%1$s" name="%2$s" value="" autocomplete="off" placeholder="%3$s" />',
				esc_attr( 'backsoon_' . $key ),
				esc_attr( self::OPTION . '[' . $key . ']' ),
				esc_attr( '' !== $value ? __( 'saved (type a new key to replace it)', 'backsoon' ) : '' )
			);
			printf( '<p class="description">%s</p>', esc_html( $args['description'] ) );
			return;
		}
		printf(
			'<input type="%1$s" class="regular-text" id="%2$s" name="%3$s" value="%4$s" />',
			esc_attr( $args['type'] ),
			esc_attr( 'backsoon_' . $key ),
			esc_attr( self::OPTION . '[' . $key . ']' ),
			'url' === $args['type'] ? esc_url( $value ) : esc_attr( $value )
		);
		if ( ! empty( $args['description'] ) ) {
			printf( '<p class="description">%s</p>', esc_html( $args['description'] ) );
		}
	}

	/**
	 * The page itself.
	 */
	public function render_page() {
		if ( ! current_user_can( 'manage_options' ) ) {
			return;
		}
		echo '<div class="wrap"><h1>' . esc_html__( 'BackSoon', 'backsoon' ) . '</h1><form action="options.php" method="post">';
		settings_fields( self::GROUP );
		do_settings_sections( self::PAGE );
		submit_button();
		echo '</form></div>';
	}
}

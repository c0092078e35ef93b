<?php
/**
 * Product-page output: widget script, mount point, badge and "Back soon" availability text.
 *
 * Where the mount point goes:
 * - Block themes (e.g. Twenty Twenty-Four): the single-product template renders the
 *   `woocommerce/add-to-cart-form` block, and neither `woocommerce_single_product_summary` nor
 *   (for an out-of-stock simple product, which prints only `<p class="stock out-of-stock">`)
 *   `woocommerce_after_add_to_cart_form` runs there. So the mount point is appended to that
 *   block's output with the `render_block_woocommerce/add-to-cart-form` filter.
 * - Classic themes: `woocommerce_single_product_summary` at priority 31, right after
 *   `woocommerce_template_single_add_to_cart` (30), which also runs for out-of-stock products.
 * Both paths are guarded so the mount point (a unique id) is printed once per request.
 *
 * @package BackSoon
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * Storefront hooks.
 */
class BackSoon_Frontend {

	const LISTING_META_KEY = '_backsoon_listing';

	/** Transient (suffixed with the md5 of the backend URL) holding the widget's file name on that backend. */
	const WIDGET_TRANSIENT = 'backsoon_widget_';

	/** The widget's unhashed name, which every backend serves. */
	const FALLBACK_WIDGET = 'widget.js';

	/** @var BackSoon_Settings */
	private $settings;

	/** @var bool */
	private $printed = false;

	/**
	 * @param BackSoon_Settings $settings Settings.
	 */
	public function __construct( BackSoon_Settings $settings ) {
		$this->settings = $settings;
	}

	/**
	 * Storefront hooks.
	 */
	public function register_hooks() {
		add_action( 'wp_enqueue_scripts', array( $this, 'enqueue' ) );
		add_action( 'woocommerce_single_product_summary', array( $this, 'print_mount_classic' ), 31 );
		add_filter( 'render_block_woocommerce/add-to-cart-form', array( $this, 'filter_add_to_cart_block' ), 10, 3 );
		add_filter( 'woocommerce_get_availability_text', array( $this, 'filter_availability_text' ), 10, 2 );
		add_action( 'woocommerce_after_shop_loop_item_title', array( $this, 'print_listing_badge' ), 15 );
		add_filter( 'render_block_woocommerce/product-price', array( $this, 'filter_card_price_block' ), 10, 3 );
	}

	/**
	 * Block themes (archive templates, Product Collection, related products): the card's badge after the price of
	 * a product in a product loop. The single product's own price block is left alone: its page has the widget.
	 *
	 * @param string        $content  Rendered price block.
	 * @param array         $block    Parsed block (attrs.isDescendentOfQueryLoop marks a card).
	 * @param WP_Block|null $instance Block instance; its postId context names the card's product.
	 * @return string
	 */
	public function filter_card_price_block( $content, $block, $instance = null ) {
		if ( empty( $block['attrs']['isDescendentOfQueryLoop'] ) || ! is_object( $instance ) ) {
			return $content;
		}
		$post_id = isset( $instance->context['postId'] ) ? (int) $instance->context['postId'] : 0;
		if ( $post_id <= 0 ) {
			return $content;
		}
		return $content . $this->listing_badge_html( wc_get_product( $post_id ) );
	}

	/**
	 * Classic shop and category loops: the card's badge, true for the whole product.
	 */
	public function print_listing_badge() {
		global $product;
		echo $this->listing_badge_html( $product ); // phpcs:ignore WordPress.Security.EscapeOutput -- built from escaped parts.
	}

	/**
	 * The badge of a product card from the `_backsoon_listing` meta BackSoon writes on the product: its status and
	 * badge over all its published variations ("Only 3 left" counts them all; one variation's never stands for the
	 * product). '' when there is none, or the product cannot be bought now.
	 *
	 * @param WC_Product|null $product Product.
	 * @return string
	 */
	public function listing_badge_html( $product ) {
		if ( ! is_object( $product ) || ! $product->is_in_stock() ) {
			return '';
		}
		$listing = BackSoon_State::from_raw( get_post_meta( $product->get_id(), self::LISTING_META_KEY, true ) );
		$text    = $listing ? $listing->badge_text() : null;
		if ( null === $text ) {
			return '';
		}
		return sprintf(
			'<p class="backsoon-badge backsoon-badge--%1$s">%2$s</p>',
			esc_attr( $listing->badge_kind ),
			esc_html( $text )
		);
	}

	/**
	 * Allows a new request (tests) to print again.
	 */
	public function reset() {
		$this->printed = false;
	}

	/**
	 * The widget (its content-hashed file on the backend, see widget_file()) and the variation glue, both in the
	 * footer, product pages only.
	 */
	public function enqueue() {
		if ( ! function_exists( 'is_product' ) || ! is_product() ) {
			return;
		}
		$backend = $this->settings->backend_url();
		if ( '' !== $backend ) {
			$file = $this->widget_file( $backend );
			// A hashed name is its own version: no ?ver= query, which some CDNs and proxies refuse to cache.
			$ver = self::FALLBACK_WIDGET === $file ? BACKSOON_VERSION : null;
			wp_enqueue_script( 'backsoon-widget', $backend . '/static/' . $file, array(), $ver, true );
		}
		wp_enqueue_script(
			'backsoon-variations',
			plugins_url( 'assets/backsoon-variations.js', BACKSOON_FILE ),
			array( 'jquery' ),
			BACKSOON_VERSION,
			true
		);
	}

	/**
	 * The widget's file name on the backend: `widget.<hash>.js` from {backend}/static/manifest.json, which the
	 * backend serves for a year without revalidation, gzipped. The name is kept in a transient for an hour (a
	 * deploy's new widget reaches the shop within the hour; the backend still answers an earlier hashed name with
	 * the current file meanwhile). When the backend cannot be asked, `widget.js` (five-minute cache on the backend)
	 * for five minutes, so a down backend costs one short request per five minutes, not one per product view.
	 *
	 * @param string $backend Backend base URL without a trailing slash.
	 * @return string
	 */
	public function widget_file( $backend ) {
		$key  = self::WIDGET_TRANSIENT . md5( $backend );
		$file = get_transient( $key );
		if ( is_string( $file ) && '' !== $file ) {
			return $file;
		}
		$file = $this->fetch_widget_file( $backend );
		if ( null === $file ) {
			set_transient( $key, self::FALLBACK_WIDGET, 5 * MINUTE_IN_SECONDS );
			return self::FALLBACK_WIDGET;
		}
		set_transient( $key, $file, HOUR_IN_SECONDS );
		return $file;
	}

	/**
	 * The hashed widget name the backend's manifest gives, or null (unreachable, not a 200, not the expected shape).
	 *
	 * @param string $backend Backend base URL.
	 * @return string|null
	 */
	private function fetch_widget_file( $backend ) {
		// wp_remote_get, not wp_safe_remote_get: the backend URL is the admin's own setting, and a development
		// backend on a private address is legitimate.
		$response = wp_remote_get(
			$backend . '/static/manifest.json',
			array(
				'timeout'     => 3,
				'redirection' => 0,
				'headers'     => array( 'Accept' => 'application/json' ),
			)
		);
		if ( is_wp_error( $response ) || 200 !== (int) wp_remote_retrieve_response_code( $response ) ) {
			return null;
		}
		$decoded = json_decode( (string) wp_remote_retrieve_body( $response ), true );
		$file    = isset( $decoded['files']['widget.js'] ) ? $decoded['files']['widget.js'] : null;
		// Only a name of the shape the backend makes goes into the page's script URL.
		if ( ! is_string( $file ) || ! preg_match( '/^widget\.[0-9a-f]{12}\.js$/', $file ) ) {
			return null;
		}
		return $file;
	}

	/**
	 * Classic themes: woocommerce_single_product_summary, priority 31.
	 */
	public function print_mount_classic() {
		global $product;
		if ( ! is_product() ) {
			return;
		}
		$current = $product;
		if ( ! is_object( $current ) ) {
			$current = wc_get_product( get_the_ID() );
		}
		echo $this->mount_html_once( $current ); // phpcs:ignore WordPress.Security.EscapeOutput -- built from escaped parts.
	}

	/**
	 * Block themes: append the mount point to the Add to Cart with Options block.
	 *
	 * @param string        $content Block HTML.
	 * @param array         $parsed  Parsed block.
	 * @param WP_Block|null $block   Block instance (context holds postId).
	 * @return string
	 */
	public function filter_add_to_cart_block( $content, $parsed = array(), $block = null ) {
		if ( ! is_product() ) {
			return $content;
		}
		$product_id = 0;
		if ( is_object( $block ) && isset( $block->context['postId'] ) ) {
			$product_id = (int) $block->context['postId'];
		}
		if ( ! $product_id ) {
			$product_id = (int) get_the_ID();
		}
		// Only the page's own product, not one shown in another block on the page.
		if ( $product_id !== (int) get_queried_object_id() ) {
			return $content;
		}
		return $content . $this->mount_html_once( wc_get_product( $product_id ) );
	}

	/**
	 * Mount HTML the first time it is asked for in a request, '' after that.
	 *
	 * @param WC_Product|null|false $product Product.
	 * @return string
	 */
	public function mount_html_once( $product ) {
		if ( $this->printed || ! is_object( $product ) ) {
			return '';
		}
		$this->printed = true;
		return $this->mount_html( $product );
	}

	/**
	 * Badge (when the stored state has one) followed by the widget's mount point. The mount carries the "Back soon"
	 * text that WooCommerce's stock line already shows (filter_availability_text), so the widget draws the form
	 * without a second heading or date: one message per page.
	 *
	 * @param WC_Product $product Product.
	 * @return string
	 */
	public function mount_html( $product ) {
		$variations = array();
		if ( $product->is_type( 'variable' ) ) {
			foreach ( $product->get_children() as $child_id ) {
				$variation = wc_get_product( $child_id );
				if ( ! is_object( $variation ) ) {
					continue;
				}
				$state        = BackSoon_State::for_id( $variation->get_id() );
				$variations[] = array(
					'id'           => (int) $variation->get_id(),
					'attributes'   => (object) $variation->get_variation_attributes(),
					'stock_status' => (string) $variation->get_stock_status(),
					'back_soon'    => $state ? ( $state->back_soon && ! $variation->is_in_stock() ) : false,
					'restock_eta'  => $state ? $state->restock_eta : null,
					'badge'        => $this->badge_for( $variation, $state ),
				);
			}
		}

		$html  = $this->badge_html( $product );
		$html .= sprintf(
			'<div id="backsoon-root" data-store="%1$s" data-product="%2$s" data-stock-status="%3$s" data-variations="%4$s" data-back-soon-text="%5$s" data-today="%6$s"></div>',
			esc_attr( $this->settings->store_key() ),
			esc_attr( (string) $product->get_id() ),
			esc_attr( (string) $product->get_stock_status() ),
			esc_attr( (string) wp_json_encode( $variations ) ),
			esc_attr( $this->settings->back_soon_text() ),
			// The site's own day: the widget names a date's year only when it is not the site's current one.
			esc_attr( (string) current_time( 'Y-m-d' ) )
		);
		return $html;
	}

	/**
	 * Badge words for a product or variation: from its stored state only, and only while it is in stock
	 * (a stale "Only 3 left" on a sold-out item would not be honest).
	 *
	 * @param WC_Product          $product Product or variation.
	 * @param BackSoon_State|null $state   Its stored state.
	 * @return string|null Unescaped text.
	 */
	public function badge_for( $product, $state ) {
		if ( ! $state || ! $product->is_in_stock() ) {
			return null;
		}
		return $state->badge_text();
	}

	/**
	 * `<p class="backsoon-badge …">` for the product, or '' when there is no badge.
	 *
	 * @param WC_Product $product Product.
	 * @return string
	 */
	public function badge_html( $product ) {
		$state = BackSoon_State::for_id( $product->get_id() );
		$text  = $this->badge_for( $product, $state );
		if ( null === $text ) {
			return '';
		}
		return sprintf(
			'<p class="backsoon-badge backsoon-badge--%1$s">%2$s</p>',
			esc_attr( $state->badge_kind ),
			esc_html( $text )
		);
	}

	/**
	 * woocommerce_get_availability_text: "Out of stock" → the merchant's "Back soon" text
	 * (plus "— expected around <date>") when the stored state says back_soon.
	 * Runs for simple products and variations (variation JSON's availability_html uses it too).
	 *
	 * @param string     $availability Text WooCommerce chose.
	 * @param WC_Product $product      Product or variation.
	 * @return string
	 */
	public function filter_availability_text( $availability, $product ) {
		if ( ! is_object( $product ) || $product->is_in_stock() ) {
			return $availability;
		}
		$state = BackSoon_State::for_id( $product->get_id() );
		if ( ! $state || ! $state->back_soon ) {
			return $availability;
		}
		$text = $this->settings->back_soon_text();
		$eta  = $state->eta_text();
		if ( null !== $eta ) {
			/* translators: 1: "Back soon" text, 2: expected restock date. */
			$text = sprintf( __( '%1$s — expected around %2$s', 'backsoon' ), $text, $eta );
		}
		return esc_html( $text );
	}
}

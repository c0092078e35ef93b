<?php
/**
 * WordPress's personal-data exporter and eraser for what BackSoon holds about a shopper.
 *
 * Tools → Export Personal Data and Tools → Erase Personal Data call every registered exporter/eraser with the
 * requester's email and a page number. These ask the BackSoon backend, with the store's admin API key, at
 * POST {backend}/api/v1/stores/{store key}/privacy/export and …/privacy/erase. One request answers everything
 * for one email, so each callback is done after page 1.
 *
 * When BackSoon cannot be asked (not configured, unreachable, key refused) the callbacks return a WP_Error, which
 * WordPress shows to the admin: an export or erasure that silently skipped BackSoon would look complete.
 *
 * @package BackSoon
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * Exporter and eraser callbacks.
 */
class BackSoon_Privacy {

	const ID = 'backsoon';

	/** @var BackSoon_Settings */
	private $settings;

	/**
	 * @param BackSoon_Settings $settings Settings.
	 */
	public function __construct( BackSoon_Settings $settings ) {
		$this->settings = $settings;
	}

	/**
	 * Registers the exporter and the eraser.
	 */
	public function register_hooks() {
		add_filter( 'wp_privacy_personal_data_exporters', array( $this, 'register_exporter' ) );
		add_filter( 'wp_privacy_personal_data_erasers', array( $this, 'register_eraser' ) );
	}

	/**
	 * @param array $exporters Registered exporters.
	 * @return array
	 */
	public function register_exporter( $exporters ) {
		$exporters[ self::ID ] = array(
			'exporter_friendly_name' => __( 'BackSoon back-in-stock waitlist', 'backsoon' ),
			'callback'               => array( $this, 'export' ),
		);
		return $exporters;
	}

	/**
	 * @param array $erasers Registered erasers.
	 * @return array
	 */
	public function register_eraser( $erasers ) {
		$erasers[ self::ID ] = array(
			'eraser_friendly_name' => __( 'BackSoon back-in-stock waitlist', 'backsoon' ),
			'callback'             => array( $this, 'erase' ),
		);
		return $erasers;
	}

	/**
	 * Exporter callback: BackSoon's waitlist subscriptions and order records for the email.
	 *
	 * @param string $email Requester's email address.
	 * @param int    $page  Page (1-based); BackSoon answers everything on page 1.
	 * @return array|WP_Error { data: export items, done: bool }
	 */
	public function export( $email, $page = 1 ) {
		if ( (int) $page > 1 ) {
			return array( 'data' => array(), 'done' => true );
		}
		$body = $this->call( 'export', $email );
		if ( is_wp_error( $body ) ) {
			return $body;
		}
		$data = array();
		$subs = isset( $body['waitlist_subscriptions'] ) && is_array( $body['waitlist_subscriptions'] ) ? $body['waitlist_subscriptions'] : array();
		foreach ( array_values( $subs ) as $i => $sub ) {
			$consents = array();
			foreach ( isset( $sub['consents'] ) && is_array( $sub['consents'] ) ? $sub['consents'] : array() as $consent ) {
				/* translators: 1: consent text the shopper agreed to, 2: when. */
				$consents[] = sprintf( __( '"%1$s" (%2$s)', 'backsoon' ), self::text( $consent, 'text' ), self::text( $consent, 'given_at' ) );
			}
			$data[] = array(
				'group_id'          => 'backsoon-waitlist',
				'group_label'       => __( 'Back-in-stock waitlist', 'backsoon' ),
				'group_description' => __( 'Products you asked to be emailed about when they are back in stock (BackSoon).', 'backsoon' ),
				'item_id'           => 'backsoon-waitlist-' . ( $i + 1 ),
				'data'              => self::pairs(
					array(
						__( 'Product', 'backsoon' )         => self::text( $sub, 'product' ),
						__( 'Variant', 'backsoon' )         => self::text( $sub, 'variant' ),
						__( 'SKU', 'backsoon' )             => self::text( $sub, 'sku' ),
						__( 'Email', 'backsoon' )           => self::text( $sub, 'email' ),
						__( 'Language', 'backsoon' )        => self::text( $sub, 'locale' ),
						__( 'Status', 'backsoon' )          => self::text( $sub, 'state' ),
						__( 'Subscribed', 'backsoon' )      => self::text( $sub, 'subscribed_at' ),
						__( 'Confirmed', 'backsoon' )       => self::text( $sub, 'confirmed_at' ),
						__( 'Notified', 'backsoon' )        => self::text( $sub, 'notified_at' ),
						__( 'Unsubscribed', 'backsoon' )    => self::text( $sub, 'unsubscribed_at' ),
						__( 'Consent', 'backsoon' )         => implode( '; ', $consents ),
						__( 'Emails sent', 'backsoon' )     => isset( $sub['emails'] ) && is_array( $sub['emails'] ) ? (string) count( $sub['emails'] ) : '',
					)
				),
			);
		}
		$orders = isset( $body['orders'] ) && is_array( $body['orders'] ) ? $body['orders'] : array();
		foreach ( array_values( $orders ) as $i => $order ) {
			$data[] = array(
				'group_id'          => 'backsoon-orders',
				'group_label'       => __( 'Orders known to BackSoon', 'backsoon' ),
				'group_description' => __( 'Orders BackSoon keeps to measure sales and restock emails.', 'backsoon' ),
				'item_id'           => 'backsoon-order-' . ( $i + 1 ),
				'data'              => self::pairs(
					array(
						__( 'Order', 'backsoon' )      => self::text( $order, 'order' ),
						__( 'Email', 'backsoon' )      => self::text( $order, 'email' ),
						__( 'Ordered', 'backsoon' )    => self::text( $order, 'ordered_at' ),
					)
				),
			);
		}
		return array( 'data' => $data, 'done' => true );
	}

	/**
	 * Eraser callback: BackSoon deletes the email's waitlist subscriptions and removes it from order records.
	 *
	 * @param string $email Requester's email address.
	 * @param int    $page  Page (1-based); BackSoon erases everything on page 1.
	 * @return array|WP_Error { items_removed, items_retained, messages, done }
	 */
	public function erase( $email, $page = 1 ) {
		$result = array(
			'items_removed'  => false,
			'items_retained' => false,
			'messages'       => array(),
			'done'           => true,
		);
		if ( (int) $page > 1 ) {
			return $result;
		}
		$body = $this->call( 'erase', $email );
		if ( is_wp_error( $body ) ) {
			return $body;
		}
		$subs   = isset( $body['subscriptions_removed'] ) ? (int) $body['subscriptions_removed'] : 0;
		$orders = isset( $body['orders_anonymised'] ) ? (int) $body['orders_anonymised'] : 0;
		$result['items_removed'] = $subs > 0 || $orders > 0;
		if ( $result['items_removed'] ) {
			$result['messages'][] = sprintf(
				/* translators: 1: number of waitlist subscriptions, 2: number of order records. */
				__( 'BackSoon removed %1$d waitlist subscription(s) and the email address from %2$d order record(s).', 'backsoon' ),
				$subs,
				$orders
			);
		}
		return $result;
	}

	/**
	 * POSTs {"email": …} to the privacy endpoint and returns the decoded answer, or a WP_Error the admin can act on.
	 *
	 * @param string $action export|erase.
	 * @param string $email  Email address.
	 * @return array|WP_Error
	 */
	public function call( $action, $email ) {
		$backend = $this->settings->backend_url();
		$store   = $this->settings->store_key();
		$key     = $this->settings->api_key();
		if ( '' === $backend || '' === $store || '' === $key ) {
			return new WP_Error(
				'backsoon_not_configured',
				__( 'BackSoon is not fully set up: enter the backend URL, the store key and the API key in Settings → BackSoon so its waitlist data can be included.', 'backsoon' )
			);
		}
		// wp_remote_post, not wp_safe_remote_post: the backend URL is the admin's own setting, and a development
		// backend on a local address must stay reachable.
		$response = wp_remote_post(
			$backend . '/api/v1/stores/' . rawurlencode( $store ) . '/privacy/' . $action,
			array(
				'timeout'     => 20,
				'redirection' => 0,
				'headers'     => array(
					'Authorization' => 'Bearer ' . $key,
					'Content-Type'  => 'application/json',
					'Accept'        => 'application/json',
				),
				'body'        => wp_json_encode( array( 'email' => (string) $email ) ),
			)
		);
		if ( is_wp_error( $response ) ) {
			return new WP_Error(
				'backsoon_unreachable',
				/* translators: %s: the HTTP error. */
				sprintf( __( 'BackSoon could not be reached: %s', 'backsoon' ), $response->get_error_message() )
			);
		}
		$status  = (int) wp_remote_retrieve_response_code( $response );
		$decoded = json_decode( (string) wp_remote_retrieve_body( $response ), true );
		if ( 200 !== $status || ! is_array( $decoded ) ) {
			$reason = is_array( $decoded ) && isset( $decoded['error']['message'] ) && is_string( $decoded['error']['message'] ) ? $decoded['error']['message'] : '';
			return new WP_Error(
				'backsoon_refused',
				/* translators: 1: HTTP status, 2: BackSoon's explanation. */
				trim( sprintf( __( 'BackSoon refused the request (HTTP %1$d). %2$s', 'backsoon' ), $status, $reason ) )
			);
		}
		return $decoded;
	}

	/**
	 * A scalar field as text ('' when absent or null).
	 *
	 * @param array  $row  Decoded object.
	 * @param string $name Field.
	 * @return string
	 */
	private static function text( $row, $name ) {
		return is_array( $row ) && isset( $row[ $name ] ) && is_scalar( $row[ $name ] ) ? (string) $row[ $name ] : '';
	}

	/**
	 * Export name/value pairs, leaving out empty values.
	 *
	 * @param array $fields Label => value.
	 * @return array
	 */
	private static function pairs( $fields ) {
		$out = array();
		foreach ( $fields as $name => $value ) {
			if ( '' !== $value ) {
				$out[] = array( 'name' => $name, 'value' => $value );
			}
		}
		return $out;
	}
}

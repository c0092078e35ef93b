<?php
/**
 * Reads the `_backsoon_state` meta the BackSoon backend writes on products and variations.
 *
 * Shape: {"status": "...", "badge": {"kind": "none|only_n_left|selling_fast", "quantity": int|null},
 *         "restock_eta": "YYYY-MM-DD"|null, "back_soon": bool}
 * `restock_eta` may also arrive as {"date": "YYYY-MM-DD", "source": "..."} (the backend's API shape); both are accepted.
 *
 * @package BackSoon
 */

if ( ! defined( 'ABSPATH' ) ) {
	exit;
}

/**
 * Normalised, read-only view of the stored state.
 */
class BackSoon_State {

	const META_KEY = '_backsoon_state';

	/** @var string */
	public $status = '';

	/** @var string none|only_n_left|selling_fast */
	public $badge_kind = 'none';

	/** @var int|null */
	public $badge_quantity = null;

	/** @var string|null YYYY-MM-DD */
	public $restock_eta = null;

	/** @var bool */
	public $back_soon = false;

	/**
	 * The state stored on a product or variation, or null when there is none (or it is unreadable).
	 *
	 * @param int $post_id Product or variation id.
	 * @return BackSoon_State|null
	 */
	public static function for_id( $post_id ) {
		$post_id = (int) $post_id;
		if ( $post_id <= 0 ) {
			return null;
		}
		return self::from_raw( get_post_meta( $post_id, self::META_KEY, true ) );
	}

	/**
	 * Parses a meta value: a JSON string, or an array if it was stored serialised.
	 *
	 * @param mixed $raw Meta value.
	 * @return BackSoon_State|null
	 */
	public static function from_raw( $raw ) {
		if ( is_string( $raw ) ) {
			if ( '' === trim( $raw ) ) {
				return null;
			}
			$raw = json_decode( $raw, true );
		}
		if ( ! is_array( $raw ) ) {
			return null;
		}

		$state = new self();
		if ( isset( $raw['status'] ) && is_scalar( $raw['status'] ) ) {
			$state->status = (string) $raw['status'];
		}
		if ( isset( $raw['badge'] ) && is_array( $raw['badge'] ) ) {
			$kind = isset( $raw['badge']['kind'] ) ? $raw['badge']['kind'] : 'none';
			if ( in_array( $kind, array( 'only_n_left', 'selling_fast' ), true ) ) {
				$state->badge_kind = $kind;
			}
			if ( isset( $raw['badge']['quantity'] ) && is_numeric( $raw['badge']['quantity'] ) ) {
				$state->badge_quantity = (int) $raw['badge']['quantity'];
			}
		}
		$eta = isset( $raw['restock_eta'] ) ? $raw['restock_eta'] : null;
		if ( is_array( $eta ) ) {
			$eta = isset( $eta['date'] ) ? $eta['date'] : null;
		}
		if ( is_string( $eta ) && preg_match( '/^(\d{4})-(\d{2})-(\d{2})/', $eta, $m ) && checkdate( (int) $m[2], (int) $m[3], (int) $m[1] ) ) {
			$state->restock_eta = $m[1] . '-' . $m[2] . '-' . $m[3];
		}
		$state->back_soon = isset( $raw['back_soon'] ) && true === filter_var( $raw['back_soon'], FILTER_VALIDATE_BOOLEAN, FILTER_NULL_ON_FAILURE );
		return $state;
	}

	/**
	 * Badge words, or null when the stored state has no badge.
	 * "Only N left" needs a positive quantity; a badge is never invented.
	 *
	 * @return string|null Unescaped, translated text.
	 */
	public function badge_text() {
		if ( 'only_n_left' === $this->badge_kind && null !== $this->badge_quantity && $this->badge_quantity > 0 ) {
			/* translators: %d: units left in stock. */
			return sprintf( __( 'Only %d left', 'backsoon' ), $this->badge_quantity );
		}
		if ( 'selling_fast' === $this->badge_kind ) {
			return __( 'Selling fast', 'backsoon' );
		}
		return null;
	}

	/**
	 * Month names per language: the same tables as BackSoon's app/domain/dates.py and its widget, so a page reads
	 * a date one way.
	 */
	const MONTHS = array(
		'en' => array( 'January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December' ),
		'nl' => array( 'januari', 'februari', 'maart', 'april', 'mei', 'juni', 'juli', 'augustus', 'september', 'oktober', 'november', 'december' ),
		'fr' => array( 'janvier', 'février', 'mars', 'avril', 'mai', 'juin', 'juillet', 'août', 'septembre', 'octobre', 'novembre', 'décembre' ),
		'de' => array( 'Januar', 'Februar', 'März', 'April', 'Mai', 'Juni', 'Juli', 'August', 'September', 'Oktober', 'November', 'Dezember' ),
	);

	/**
	 * A calendar date as a shopper reads it: "21 December" (nl "21 december", fr "21 décembre", de "21. Dezember"),
	 * with the year only when it is not this one; English for a language BackSoon does not speak.
	 *
	 * @param string     $ymd       YYYY-MM-DD.
	 * @param string     $lang      Two-letter language.
	 * @param int|string $this_year The store's current year.
	 * @return string|null
	 */
	public static function shopper_date( $ymd, $lang, $this_year ) {
		if ( ! preg_match( '/^(\d{4})-(\d{2})-(\d{2})$/', (string) $ymd, $m ) ) {
			return null;
		}
		$lang = isset( self::MONTHS[ $lang ] ) ? $lang : 'en';
		$text = (int) $m[3] . ( 'de' === $lang ? '. ' : ' ' ) . self::MONTHS[ $lang ][ (int) $m[2] - 1 ];
		return (int) $m[1] === (int) $this_year ? $text : $text . ' ' . $m[1];
	}

	/**
	 * The restock ETA as the shopper reads it (shopper_date in the site's language and the site's current year), or
	 * null. The date is a calendar date at the store, so it is spelled as-is.
	 *
	 * @return string|null
	 */
	public function eta_text() {
		if ( null === $this->restock_eta ) {
			return null;
		}
		$locale = function_exists( 'determine_locale' ) ? determine_locale() : get_locale();
		return self::shopper_date( $this->restock_eta, strtolower( substr( (string) $locale, 0, 2 ) ), current_time( 'Y' ) );
	}
}

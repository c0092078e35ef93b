/**
 * BackSoon: tells the widget which variation the shopper picked.
 * Listens to WooCommerce's variation events on form.variations_form and, on the mount point
 * (#backsoon-root), sets data-variation-id and dispatches a `backsoon:variant` CustomEvent
 * ({detail: {variationId, variation}}; variationId is null after a reset).
 * Also swaps the badge to the chosen variation's (from data-variations, built from stored meta).
 */
( function ( $ ) {
	'use strict';

	function mount() {
		return document.getElementById( 'backsoon-root' );
	}

	function entries( root ) {
		try {
			var list = JSON.parse( root.getAttribute( 'data-variations' ) || '[]' );
			return Array.isArray( list ) ? list : [];
		} catch ( e ) {
			return [];
		}
	}

	function findEntry( root, id ) {
		var list = entries( root );
		for ( var i = 0; i < list.length; i++ ) {
			if ( Number( list[ i ].id ) === Number( id ) ) {
				return list[ i ];
			}
		}
		return null;
	}

	function emit( root, id, entry ) {
		var detail = { variationId: id, variation: entry };
		var event;
		if ( typeof window.CustomEvent === 'function' ) {
			event = new window.CustomEvent( 'backsoon:variant', { detail: detail, bubbles: true } );
		} else {
			event = document.createEvent( 'CustomEvent' );
			event.initCustomEvent( 'backsoon:variant', true, false, detail );
		}
		root.dispatchEvent( event );
	}

	var parentBadge; // undefined until first looked at: the server-rendered badge text, or null.

	function setBadge( root, text ) {
		var badge = root.previousElementSibling;
		if ( ! badge || ! badge.classList.contains( 'backsoon-badge' ) ) {
			badge = null;
		}
		if ( parentBadge === undefined ) {
			parentBadge = badge ? badge.textContent : null;
		}
		if ( ! text ) {
			if ( badge ) {
				badge.hidden = true;
			}
			return;
		}
		if ( ! badge ) {
			badge = document.createElement( 'p' );
			badge.className = 'backsoon-badge';
			root.parentNode.insertBefore( badge, root );
		}
		badge.textContent = text; // text only, never HTML
		badge.hidden = false;
	}

	function select( variation ) {
		var root = mount();
		if ( ! root || ! variation || ! variation.variation_id ) {
			return;
		}
		var id = String( variation.variation_id );
		if ( root.getAttribute( 'data-variation-id' ) === id ) {
			return; // found_variation and show_variation both fire for one choice
		}
		var entry = findEntry( root, id );
		root.setAttribute( 'data-variation-id', id );
		setBadge( root, entry ? entry.badge : null );
		emit( root, Number( id ), entry );
	}

	function reset() {
		var root = mount();
		if ( ! root || ! root.hasAttribute( 'data-variation-id' ) ) {
			return;
		}
		root.removeAttribute( 'data-variation-id' );
		setBadge( root, parentBadge === undefined ? null : parentBadge );
		emit( root, null, null );
	}

	$( document.body ).on( 'found_variation show_variation', 'form.variations_form', function ( event, variation ) {
		select( variation );
	} );
	$( document.body ).on( 'reset_data', 'form.variations_form', function () {
		reset();
	} );
}( jQuery ) );

"""Whether one product record applied after another changes anything: what a batched drain calls an echo."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from app.services.catalog import same_product_state
from integrations.base import ProductRecord, VariantRecord

T1 = datetime(2026, 10, 14, 14, 0, tzinfo=UTC)
T2 = datetime(2026, 10, 14, 15, 0, tzinfo=UTC)
BASE = ProductRecord(
    external_id="9587413528877",
    title="Merino Crew Sweater",
    supplier="Saltmarsh Mills",
    updated_at=T1,
    variants=(
        VariantRecord(external_id="1", sku="MCS-S", price=Decimal("89.00"), tracked=True, updated_at=T1),
        VariantRecord(external_id="2", sku="MCS-M", price=Decimal("89.00"), tracked=True, updated_at=T1),
    ),
)


def _with_variant(record: ProductRecord, index: int, **changes: object) -> ProductRecord:
    variants = list(record.variants)
    variants[index] = replace(variants[index], **changes)  # type: ignore[arg-type]
    return replace(record, variants=tuple(variants))


def test_only_newer_timestamps_change_nothing() -> None:
    later = _with_variant(replace(BASE, updated_at=T2), 0, updated_at=T2)
    assert same_product_state(BASE, later) is True


def test_a_field_the_payload_does_not_carry_is_not_compared_when_preserved() -> None:
    untracked = _with_variant(BASE, 1, tracked=False)
    assert same_product_state(BASE, untracked, frozenset({"tracked"})) is True
    assert same_product_state(BASE, untracked) is False


def test_a_price_title_supplier_or_variant_list_change_is_a_change() -> None:
    assert same_product_state(BASE, _with_variant(BASE, 0, price=Decimal("79.00"))) is False
    assert same_product_state(BASE, replace(BASE, title="Merino Crew")) is False
    assert same_product_state(BASE, replace(BASE, supplier="Other Mill")) is False
    assert same_product_state(BASE, replace(BASE, variants=BASE.variants[:1])) is False

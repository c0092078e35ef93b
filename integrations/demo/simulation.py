"""Northwind Goods' history: demand, stock, purchase orders and waitlists, simulated day by day.

Orders are produced in time order as a stream; the simulation keeps only per-variant state
(a few lists the size of the catalog) plus the sell-out/restock edges, never the orders.
"""

from __future__ import annotations

import math
import random
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import accumulate

from integrations.base import (
    OrderLineRecord,
    OrderRecord,
    PurchaseOrderRecord,
    RefundLineRecord,
    RefundRecord,
)
from integrations.demo.catalog import (
    DISCONTINUED,
    OVERSTOCKED,
    PLANNED,
    REACTIVE,
    SPIKE_CLASS,
    TREND_SLOPES,
)
from integrations.demo.records import DemoSignup, DemoSummary

# 20 order lines per variant over 180 days; stock-outs and duplicate picks lose about a tenth.
LINES_PER_VARIANT_DAY = 20 / 180
_DEMAND_FUDGE = 1.06
# Days of end-of-day stock the outcome keeps for the charts' history.
HISTORY_DAYS = 90
# Monday first; Saturday and Sunday are the busy days.
_WEEKLY_RAW = (0.88, 0.84, 0.88, 0.95, 1.05, 1.32, 1.22)
WEEKLY = tuple(w * 7 / sum(_WEEKLY_RAW) for w in _WEEKLY_RAW)
SPIKE_FIRST, SPIKE_LAST, SPIKE_FACTOR = 20, 12, 6.0  # days before today, inclusive
_LINES_CUM = (0.55, 0.80, 0.92, 0.97)  # 1..5 lines per order
_LINES_MEAN = 1.76
_MEAN_QTY = 1.19
CANCEL_RATE = 0.02
REFUND_RATE = 0.03
_OPEN_SECONDS, _CLOSE_SECONDS = 6 * 3600, 22 * 3600
_ARRIVAL_SECONDS = 5 * 3600 + 1800  # goods are booked in at 05:30, before the shop opens
_RETURNS_SECONDS = 5 * 3600  # returns are processed between 05:00 and 05:30
_LOCALES = ("en", "nl", "de", "fr")
_LOCALE_CUM = (0.45, 0.75, 0.90, 1.0)
_FIRST = (
    "emma", "noah", "julia", "liam", "sophie", "lucas", "anna", "finn", "mila", "daan", "sara", "levi",
    "zoe", "sem", "eva", "jesse", "lotte", "thomas", "ines", "max", "clara", "hugo", "lea", "paul",
)  # fmt: skip
_LAST = (
    "dekker", "jansen", "visser", "smit", "meyer", "dubois", "bakker", "martin", "schmidt", "moreau",
    "vos", "peeters", "klein", "bernard", "mulder", "wagner", "lambert", "hoekstra", "weber", "laurent",
)  # fmt: skip
_REFUND_NOTES = ("Returned: changed mind", "Returned: wrong size", "Damaged in transit", "Goodwill refund")


def customer_email(k: int) -> str:
    """The example.com address of demo customer number k."""
    return f"{_FIRST[k % len(_FIRST)]}.{_LAST[(k // len(_FIRST)) % len(_LAST)]}.{k}@example.com"


@dataclass(slots=True)
class CatalogArrays:
    """Per-variant facts the simulation reads, one list entry per variant in catalog order."""

    ext_ids: list[str]
    skus: list[str]
    prices: list[Decimal]
    tracked: list[bool]
    deny: list[bool]
    published: list[bool]
    weights: list[float]
    trend: list[int]
    policy: list[int]
    lead: list[int]
    supplier: list[str | None]
    products: int
    unpublished_products: int


@dataclass(slots=True)
class Outcome:
    """Everything the simulation leaves behind besides the orders themselves."""

    stock: list[int]
    last_change: list[datetime | None]
    # (variant index, is_sellout, quantity_before, quantity_after, occurred_at), in time order.
    changes: list[tuple[int, bool, int, int, datetime]]
    open_purchase_orders: list[PurchaseOrderRecord]
    signups: list[DemoSignup]
    summary: DemoSummary
    # Each of the last HISTORY_DAYS days (up to yesterday): every variant's stock at the end of that day.
    daily_stock: dict[date, list[int]] = field(default_factory=dict)
    # Expected units sold per day, per variant (the demand the simulation drew orders from).
    rate: list[float] = field(default_factory=list)


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit = math.exp(-lam)
    k, p = 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


class Simulation:
    """One deterministic run of the shop's history; `orders()` streams it and fills `outcome`."""

    def __init__(self, arrays: CatalogArrays, *, seed: int, days: int, epoch: datetime) -> None:
        self.arrays = arrays
        self.seed = seed
        self.days = days
        self.epoch = epoch
        self.outcome: Outcome | None = None

    def orders(self, *, build: bool = True) -> Iterator[OrderRecord]:
        """Run the history, yielding each order in time order (nothing when build is False)."""
        a = self.arrays
        n = len(a.ext_ids)
        days = self.days
        epoch = self.epoch
        end = epoch + timedelta(days=days)
        rng = random.Random(f"northwind:{self.seed}:history")
        random_ = rng.random
        randrange = rng.randrange

        # Demand: pick a trend class by its weight today, then a variant by its popularity within it.
        n_classes = SPIKE_CLASS + 1
        members: list[list[int]] = [[] for _ in range(n_classes)]
        for i in range(n):
            if a.weights[i] > 0 and a.published[i]:
                members[a.trend[i]].append(i)
        vcum = [list(accumulate(a.weights[i] for i in m)) for m in members]
        vtot = [c[-1] if c else 0.0 for c in vcum]
        vlast = [len(m) - 1 for m in members]
        total_w = sum(vtot) or 1.0
        base_lines = LINES_PER_VARIANT_DAY * n * _DEMAND_FUDGE
        span = max(days - 1, 1)
        spike_days = range(max(0, days - SPIKE_FIRST), max(0, days - SPIKE_LAST + 1))

        # Stock and purchasing policy per variant.
        stock = [0] * n
        rop = [-1] * n
        upto = [0] * n
        po_day = [-1] * n
        po_qty = [0] * n
        po_ref = [0] * n
        lost_since = [0] * n
        last_sellout: list[datetime | None] = [None] * n
        last_change: list[datetime | None] = [None] * n
        arrivals: dict[int, list[int]] = {}
        returns: dict[int, list[tuple[int, int, datetime]]] = {}
        changes: list[tuple[int, bool, int, int, datetime]] = []
        po_counter = 0
        rate = [base_lines * a.weights[i] / total_w * _MEAN_QTY for i in range(n)]
        for i in range(n):
            if not a.tracked[i]:
                continue
            r, lead, policy = rate[i], a.lead[i], a.policy[i]
            if not a.published[i]:
                stock[i] = rng.randint(20, 60)
            elif policy == PLANNED:
                cover = rng.uniform(120, 300)
                rop[i] = math.ceil(r * (lead + 7) * 1.5) + 1
                upto[i] = rop[i] + max(3, math.ceil(r * cover))
                stock[i] = rop[i] + int(r * rng.uniform(5, cover)) + 1
            elif policy == REACTIVE:
                rop[i] = 0
                upto[i] = max(3, math.ceil(r * rng.uniform(30, 90)))
                stock[i] = max(1, int(r * rng.uniform(3, 60)))
            elif policy == DISCONTINUED:
                stock[i] = max(1, int(r * rng.uniform(20, 260)))
            elif policy == OVERSTOCKED:
                rop[i] = math.ceil(r * (lead + 7) * 1.2)
                upto[i] = rop[i] + math.ceil(r * rng.uniform(250, 400)) + 10
                stock[i] = upto[i] - int(r * rng.uniform(0, 60))
            if not a.deny[i]:
                # Pre-order items start nearly empty and sell into a backlog.
                stock[i] = rng.randint(1, 3)

        def reorder(i: int, d: int) -> None:
            nonlocal po_counter
            # A reactive merchant notices a sell-out a few days late.
            delay = rng.randint(0, 7) if a.policy[i] == REACTIVE else 0
            arrive = d + delay + max(3, a.lead[i] + rng.randint(-3, 6))
            if arrive == days:
                arrive += 1  # anything not booked in by today is due strictly later
            po_counter += 1
            po_day[i] = arrive
            po_qty[i] = max(2, upto[i] - stock[i])
            po_ref[i] = po_counter
            arrivals.setdefault(arrive, []).append(i)

        for i in range(n):
            if rop[i] >= 0 and stock[i] <= rop[i]:
                reorder(i, 0)

        tracked, deny, ext_ids, skus, prices = a.tracked, a.deny, a.ext_ids, a.skus, a.prices
        n_customers = max(40, n * 4)
        order_no = line_no = refund_no = 0
        n_lines = n_cancelled = n_refunds = n_refund_lines = units_sold = lost_lines = 0
        one_second = timedelta(seconds=1)

        daily_stock: dict[date, list[int]] = {}
        for d in range(days):
            if d > 0 and d - 1 >= days - HISTORY_DAYS:
                # Observed only, so recording it changes nothing the random stream produces.
                daily_stock[(epoch + timedelta(days=d - 1)).date()] = stock.copy()
            day_start = epoch + timedelta(days=d)
            for i, qty, at in returns.pop(d, ()):
                before = stock[i]
                stock[i] = before + qty
                if before <= 0 < before + qty:
                    changes.append((i, False, before, before + qty, at))
                last_change[i] = at
            arrived_at = day_start + timedelta(seconds=_ARRIVAL_SECONDS)
            for i in arrivals.pop(d, ()):
                before = stock[i]
                stock[i] = before + po_qty[i]
                po_day[i] = -1
                if before <= 0 < stock[i]:
                    changes.append((i, False, before, stock[i], arrived_at))
                last_change[i] = arrived_at
                if 0 <= rop[i] and stock[i] <= rop[i]:
                    reorder(i, d)

            t = d / span - 0.5
            mult = [math.exp(slope * t) for slope in TREND_SLOPES]
            mult.append(SPIKE_FACTOR if d in spike_days else 1.0)
            weighted = [vtot[c] * mult[c] for c in range(n_classes)]
            ccum = list(accumulate(weighted))
            ctot = ccum[-1]
            last_class = n_classes - 1
            lines_today = base_lines * WEEKLY[day_start.weekday()] * ctot / total_w
            n_orders = _poisson(rng, lines_today / _LINES_MEAN)
            seconds = sorted([randrange(_OPEN_SECONDS, _CLOSE_SECONDS) for _ in range(n_orders)])

            for sec in seconds:
                ordered_at = day_start + timedelta(seconds=sec)
                k = 1 + bisect_right(_LINES_CUM, random_())
                cancelled = random_() < CANCEL_RATE
                customer = int(n_customers * random_() ** 1.6)
                picked: list[tuple[int, int]] = []
                for _ in range(k):
                    c = min(bisect_right(ccum, random_() * ctot), last_class)
                    i = members[c][min(bisect_right(vcum[c], random_() * vtot[c]), vlast[c])]
                    q = random_()
                    qty = 1 if q < 0.85 else (2 if q < 0.96 else 3)
                    if any(p == i for p, _ in picked):
                        continue
                    if deny[i] and tracked[i]:
                        have = stock[i]
                        if have <= 0:
                            lost_lines += 1
                            lost_since[i] += 1
                            continue
                        if qty > have:
                            qty = have
                    picked.append((i, qty))
                if not picked:
                    continue
                order_no += 1
                n_lines += len(picked)
                cancelled_at: datetime | None = None
                refund: tuple[int, datetime, list[tuple[int, int]], bool, int] | None = None
                if cancelled:
                    n_cancelled += 1
                    cancelled_at = min(ordered_at + timedelta(seconds=randrange(600, 36 * 3600)), end - one_second)
                else:
                    # Cancelled orders never took stock: the platform puts it straight back.
                    for i, qty in picked:
                        units_sold += qty
                        if not tracked[i]:
                            continue
                        before = stock[i]
                        after = before - qty
                        stock[i] = after
                        last_change[i] = ordered_at
                        if before > 0 >= after:
                            changes.append((i, True, before, after, ordered_at))
                            last_sellout[i] = ordered_at
                            lost_since[i] = 0
                        if po_day[i] < 0 and 0 <= rop[i] and after <= rop[i]:
                            reorder(i, d)
                    if random_() < REFUND_RATE / (1 - CANCEL_RATE):
                        refund_day = d + rng.randint(2, 30)
                        refunded_at = epoch + timedelta(days=refund_day, seconds=_RETURNS_SECONDS + randrange(1800))
                        full = random_() < 0.4
                        restock = random_() < 0.7
                        note = randrange(len(_REFUND_NOTES))
                        if full:
                            given = [(j, q) for j, (_, q) in enumerate(picked)]
                        else:
                            j = randrange(len(picked))
                            given = [(j, rng.randint(1, picked[j][1]))]
                        if refund_day < days:
                            refund_no += 1
                            n_refunds += 1
                            n_refund_lines += len(given)
                            refund = (refund_no, refunded_at, given, restock, note)
                            if restock:
                                for j, q in given:
                                    i = picked[j][0]
                                    if tracked[i]:
                                        returns.setdefault(refund_day, []).append((i, q, refunded_at))
                if not build:
                    line_no += len(picked)
                    continue
                line_records = []
                total = Decimal(0)
                first_line = line_no + 1
                for i, qty in picked:
                    line_no += 1
                    price = prices[i]
                    total += price * qty
                    line_records.append(OrderLineRecord(f"demo-l-{line_no}", ext_ids[i], qty, price, skus[i]))
                refunds: tuple[RefundRecord, ...] = ()
                status = "voided" if cancelled else "paid"
                updated_at = cancelled_at or ordered_at
                if refund is not None:
                    r_no, r_at, given, restock, note = refund
                    refunds = (
                        RefundRecord(
                            f"demo-r-{r_no}",
                            r_at,
                            tuple(
                                RefundLineRecord(f"demo-l-{first_line + j}", q, restock and tracked[picked[j][0]])
                                for j, q in given
                            ),
                            _REFUND_NOTES[note],
                        ),
                    )
                    refunded_units = sum(q for _, q in given)
                    ordered_units = sum(q for _, q in picked)
                    status = "refunded" if refunded_units == ordered_units else "partially_refunded"
                    updated_at = r_at
                yield OrderRecord(
                    external_id=f"demo-o-{order_no}",
                    ordered_at=ordered_at,
                    name=f"#{1000 + order_no}",
                    email=customer_email(customer),
                    customer_external_id=f"demo-c-{customer}",
                    currency="EUR",
                    total=total,
                    financial_status=status,
                    cancelled_at=cancelled_at,
                    updated_at=updated_at,
                    lines=tuple(line_records),
                    refunds=refunds,
                )

        if days:
            daily_stock[(epoch + timedelta(days=days - 1)).date()] = stock.copy()
        signups = self._signups(rng, stock, last_sellout, lost_since, n_customers, end)
        open_pos = [
            PurchaseOrderRecord(
                variant_external_id=ext_ids[i],
                quantity=po_qty[i],
                expected_on=(epoch + timedelta(days=po_day[i])).date(),
                reference=f"PO-{po_ref[i]:06d}",
                supplier=a.supplier[i],
            )
            for i in range(n)
            if po_day[i] >= days
        ]
        tracked_deny = [i for i in range(n) if tracked[i] and deny[i] and a.published[i]]
        sold_out = sum(1 for i in tracked_deny if stock[i] <= 0)
        low = sum(1 for i in tracked_deny if 0 < stock[i] <= max(3.0, rate[i] * 14))
        over = sum(1 for i in tracked_deny if stock[i] > max(30.0, rate[i] * 180))
        sellouts = sum(1 for c in changes if c[1])
        self.outcome = Outcome(
            stock=stock,
            last_change=last_change,
            changes=changes,
            open_purchase_orders=open_pos,
            signups=signups,
            summary=DemoSummary(
                products=a.products,
                variants=n,
                locations=2,
                suppliers=len({s for s in a.supplier if s}),
                inventory_levels=2 * n,
                orders=order_no,
                order_lines=n_lines,
                cancelled_orders=n_cancelled,
                refunds=n_refunds,
                refund_lines=n_refund_lines,
                stock_changes=len(changes),
                sellouts=sellouts,
                restocks=len(changes) - sellouts,
                open_purchase_orders=len(open_pos),
                signups=len(signups),
                sold_out=sold_out,
                low_stock=low,
                overstocked=over,
                untracked=sum(1 for x in tracked if not x),
                continue_policy=sum(1 for x in deny if not x),
                unpublished_products=a.unpublished_products,
                units_sold=units_sold,
                lost_lines=lost_lines,
            ),
            daily_stock=daily_stock,
            rate=rate,
        )

    def _signups(
        self,
        rng: random.Random,
        stock: list[int],
        last_sellout: list[datetime | None],
        lost_since: list[int],
        n_customers: int,
        end: datetime,
    ) -> list[DemoSignup]:
        a = self.arrays
        out: list[DemoSignup] = []
        for i in range(len(stock)):
            if not (a.tracked[i] and a.deny[i] and a.published[i]) or stock[i] > 0:
                continue
            since = last_sellout[i] or self.epoch
            # Roughly a third of the shoppers who found it sold out leave their address.
            wanted = min(60, _poisson(rng, 1.5 + 0.5 * lost_since[i]))
            window = max(1, int((end - since).total_seconds()) - 1)
            emails: set[str] = set()
            found: list[tuple[datetime, str, str]] = []
            while len(found) < wanted:
                k = rng.randrange(n_customers * 2)
                # Half the addresses belong to customers, half to first-time visitors.
                email = customer_email(k) if k < n_customers else f"visitor.{k - n_customers}@example.com"
                locale = _LOCALES[bisect_right(_LOCALE_CUM, rng.random())]
                at = since + timedelta(seconds=1 + rng.randrange(window))
                if email in emails:
                    continue
                emails.add(email)
                found.append((at, email, locale))
            found.sort()
            out.extend(DemoSignup(a.ext_ids[i], email, locale, at) for at, email, locale in found)
        return out

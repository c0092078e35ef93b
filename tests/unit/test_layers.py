"""The tree reads as the data flow: imports point down, platforms are listed once, jobs are named once."""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping
from pathlib import Path
from types import SimpleNamespace

import pytest

from app.config import Settings
from app.infra.http import Answer, json_answer
from app.platforms import registry
from app.platforms.base import WebhookIntake
from app.platforms.demo.platform import DEMO
from app.platforms.shopify import webhooks as shopify_webhooks
from app.platforms.shopify.platform import SHOPIFY
from app.platforms.woocommerce import webhooks as woo_webhooks
from app.platforms.woocommerce.platform import WOOCOMMERCE
from app.web.factory import build_app

ROOT = Path(__file__).resolve().parents[2]
PLATFORM_PACKAGES = ("app.platforms.shopify", "app.platforms.woocommerce", "app.platforms.demo")


def _modules(*folders: str) -> list[Path]:
    paths = [ROOT / folder for folder in folders]
    return sorted(p for path in paths for p in ([path] if path.is_file() else path.rglob("*.py")))


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
    return found


def _offenders(folders: tuple[str, ...], forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(ROOT)} imports {name}"
        for path in _modules(*folders)
        for name in sorted(_imports(path))
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    ]


@pytest.mark.parametrize(
    ("folders", "forbidden"),
    [
        (("app/domain",), ("flask", "sqlalchemy", "requests", "rq", "redis", "integrations", "app.models", "jobs")),
        (("app/models", "app/services"), ("app.platforms", "app.web", "jobs")),
        (("app/platforms",), ("app.web", "jobs")),
        (("integrations",), ("app", "jobs")),
    ],
)
def test_imports_point_down(folders: tuple[str, ...], forbidden: tuple[str, ...]) -> None:
    assert _offenders(folders, forbidden) == []


def test_no_platform_name_is_compared_outside_the_platforms() -> None:
    compared = re.compile(r"""platform\s*(==|!=)\s*["']|["'](shopify|woocommerce|demo)["']\s*(==|!=)\s*\w*platform""")
    outside = [p for p in _modules("app", "jobs") if "platforms" not in p.relative_to(ROOT).parts]
    hits = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in outside
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if compared.search(line)
    ]
    assert hits == []


def test_jobs_are_named_in_one_module() -> None:
    named = [
        f"{p.relative_to(ROOT)}:{n}"
        for p in _modules("app", "jobs")
        if p.relative_to(ROOT).as_posix() != "app/job_specs.py"
        for n, line in enumerate(p.read_text().splitlines(), 1)
        if re.search(r"""["']jobs\.\w+\.\w+["']""", line)
    ]
    assert named == []


def test_the_registry_lists_each_platform_once() -> None:
    assert list(registry.PLATFORMS) == ["shopify", "woocommerce", "demo"]
    assert registry.get("shopify") is SHOPIFY
    assert registry.get("woocommerce") is WOOCOMMERCE
    assert registry.get("demo") is DEMO
    with pytest.raises(registry.UnknownPlatform):
        registry.get("magento")


def test_webhook_topics_are_found_through_the_registry() -> None:
    assert registry.handler_for("shopify", "orders/paid") is shopify_webhooks.on_order
    assert registry.handler_for("woocommerce", "product.restored") is woo_webhooks.on_product
    assert registry.handler_for("woocommerce", "orders/paid") is None
    assert registry.handler_for("demo", "orders/paid") is None
    assert registry.handler_for("magento", "orders/paid") is None
    assert len(SHOPIFY.topics) == 17 and len(WOOCOMMERCE.topics) == 7 and dict(DEMO.topics) == {}


def test_sync_and_publish_jobs_come_from_the_platform() -> None:
    assert registry.sync_job_for("shopify", 7, "s1") is not None
    assert registry.sync_job_for("shopify", 7, "s1").job_id == "sync-7-s1"  # type: ignore[union-attr]
    assert registry.sync_job_for("woocommerce", 7).job_id == "woo-sync-7"  # type: ignore[union-attr]
    assert registry.sync_job_for("demo", 7) is None
    assert registry.sync_job_for("magento", 7) is None
    assert SHOPIFY.publish_job(3).func == "jobs.shopify.publish_storefront"  # type: ignore[union-attr]
    assert WOOCOMMERCE.publish_job(3).func == "jobs.woocommerce.publish_storefront"  # type: ignore[union-attr]
    assert DEMO.publish_job(3) is None


def test_no_module_outside_the_domain_rules_grows_past_700_lines() -> None:
    """Big modules hide more than one concern; the domain's rule modules are the exception."""
    long = {
        str(p.relative_to(ROOT)): n
        for p in _modules("app", "jobs")
        if "domain" not in p.relative_to(ROOT).parts and (n := len(p.read_text().splitlines())) > 700
    }
    assert long == {}


def test_webhook_intake_is_generic_over_the_registry() -> None:
    """The web layer serves whatever webhook endpoints the registry's platforms declare, naming none of them."""
    named = _offenders(("app/web/webhooks.py", "app/web/factory.py"), PLATFORM_PACKAGES)
    assert named == []
    assert SHOPIFY.webhook_intake is not None and SHOPIFY.webhook_intake.rule == "/shopify"
    assert WOOCOMMERCE.webhook_intake is not None and WOOCOMMERCE.webhook_intake.rule == "/woocommerce/<int:store_id>"
    assert DEMO.webhook_intake is None


def test_a_third_platform_is_one_package_and_one_registry_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """A platform added to the registry gets its webhook URL served, routed and documented with no web change."""
    received: list[tuple[bytes, dict[str, object]]] = []

    def receive(rt: object, environ: dict[str, object], raw: bytes, values: Mapping[str, object]) -> Answer:
        received.append((raw, dict(values)))
        return json_answer(200, {"received": True})

    path_item = {"post": {"operationId": "magentoWebhook", "summary": "Magento", "responses": {}}}
    intake = WebhookIntake(rule="/magento/<int:store_id>", receive=receive, openapi=path_item)
    magento = SimpleNamespace(name="magento", webhook_intake=intake)
    monkeypatch.setitem(registry.PLATFORMS, "magento", magento)  # type: ignore[arg-type]
    app = build_app(Settings(env="test", database_url="sqlite://", app_url="https://backsoon.example"))
    client = app.test_client()

    resp = client.post("/webhooks/magento/42", data=b'{"id": 1}')
    assert (resp.status_code, resp.get_json()) == (200, {"received": True})
    assert received == [(b'{"id": 1}', {"store_id": 42})]
    assert app.url_map.bind("x").match("/webhooks/magento/42", method="POST") == ("webhooks.magento", {"store_id": 42})
    document = client.get("/openapi.json").get_json()
    assert document["paths"]["/webhooks/magento/{store_id}"] == path_item

    # A GET, or a path no platform declared, is left to Flask: 405 and a JSON 404, and nothing reaches the platform.
    assert client.get("/webhooks/magento/42").status_code == 405
    missing = client.post("/webhooks/prestashop/42", data=b"{}")
    assert (missing.status_code, missing.get_json()["error"]["code"]) == (404, "not_found")
    assert len(received) == 1

"""BackSoon's static files: hashed names in pages and the manifest, year-long caching, gzip, old names."""

from __future__ import annotations

import gzip
import hashlib

import pytest
from flask.testing import FlaskClient

from tests.conftest import ROOT, hashed_name

pytestmark = pytest.mark.integration

STATIC = ROOT / "app" / "static"
IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=300"


def _digest(name: str) -> str:
    return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:12]


def test_manifest_names_every_static_file_by_its_content_hash(client: FlaskClient) -> None:
    resp = client.get("/static/manifest.json")
    assert resp.status_code == 200
    assert resp.mimetype == "application/json"
    assert resp.headers["Cache-Control"] == SHORT
    names = sorted(p.name for p in STATIC.iterdir())
    assert names == ["admin.css", "admin.js", "backsoon.css", "widget.css", "widget.js"]
    assert resp.get_json() == {"files": {name: hashed_name(name) for name in names}}
    assert resp.get_json()["files"]["widget.js"] == f"widget.{_digest('widget.js')}.js"


def test_hashed_widget_is_gzipped_and_cached_for_a_year(client: FlaskClient) -> None:
    resp = client.get(f"/static/{hashed_name('widget.js')}", headers={"Accept-Encoding": "gzip, deflate, br"})
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert resp.headers["Content-Encoding"] == "gzip"
    assert resp.headers["Cache-Control"] == IMMUTABLE
    assert resp.headers["Vary"] == "Accept-Encoding"
    assert resp.headers["ETag"] == f'"{_digest("widget.js")}-gz"'
    raw = resp.get_data()
    assert gzip.decompress(raw) == (STATIC / "widget.js").read_bytes()
    assert len(raw) < (STATIC / "widget.js").stat().st_size // 2
    assert int(resp.headers["Content-Length"]) == len(raw)


@pytest.mark.parametrize("accept", [None, "identity", "gzip;q=0, br", "br"])
def test_hashed_widget_uncompressed_when_gzip_is_not_accepted(client: FlaskClient, accept: str | None) -> None:
    headers = {"Accept-Encoding": accept} if accept is not None else {}
    resp = client.get(f"/static/{hashed_name('widget.js')}", headers=headers)
    assert resp.status_code == 200
    assert "Content-Encoding" not in resp.headers
    assert resp.get_data() == (STATIC / "widget.js").read_bytes()
    assert resp.headers["ETag"] == f'"{_digest("widget.js")}"'
    assert resp.headers["Cache-Control"] == IMMUTABLE
    assert resp.headers["Vary"] == "Accept-Encoding"


def test_revalidation_answers_304_per_representation(client: FlaskClient) -> None:
    url = f"/static/{hashed_name('widget.js')}"
    digest = _digest("widget.js")
    resp = client.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": f'"{digest}-gz"'})
    assert resp.status_code == 304
    assert resp.get_data() == b""
    assert resp.headers["ETag"] == f'"{digest}-gz"'
    assert resp.headers["Cache-Control"] == IMMUTABLE
    assert resp.headers["Vary"] == "Accept-Encoding"
    # A proxy that re-compressed may send the tag back weak: If-None-Match compares weakly.
    resp = client.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": f'"x", W/"{digest}-gz"'})
    assert resp.status_code == 304
    # The identity ETag does not validate the gzip representation, and the other way round.
    resp = client.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": f'"{digest}"'})
    assert resp.status_code == 200
    assert gzip.decompress(resp.get_data()) == (STATIC / "widget.js").read_bytes()
    resp = client.get(url, headers={"If-None-Match": f'"{digest}-gz"'})
    assert resp.status_code == 200
    assert resp.get_data() == (STATIC / "widget.js").read_bytes()


@pytest.mark.parametrize("name", ["admin.css", "admin.js", "backsoon.css", "widget.css"])
def test_every_hashed_file_is_served_with_the_year_cache(client: FlaskClient, name: str) -> None:
    resp = client.get(f"/static/{hashed_name(name)}", headers={"Accept-Encoding": "gzip"})
    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == IMMUTABLE
    assert gzip.decompress(resp.get_data()) == (STATIC / name).read_bytes()


def test_unhashed_name_is_served_with_a_short_cache(client: FlaskClient) -> None:
    resp = client.get("/static/widget.js", headers={"Accept-Encoding": "gzip"})
    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == SHORT
    assert resp.headers["Vary"] == "Accept-Encoding"
    assert resp.headers["ETag"] == f'"{_digest("widget.js")}-gz"'
    assert gzip.decompress(resp.get_data()) == (STATIC / "widget.js").read_bytes()
    resp = client.get("/static/widget.js")
    assert resp.headers["Cache-Control"] == SHORT
    assert resp.get_data() == (STATIC / "widget.js").read_bytes()


def test_an_earlier_deploys_hash_gets_the_current_file_briefly_cached(client: FlaskClient) -> None:
    # A page (or the WordPress plugin's remembered name) from before a deploy must still get a widget.
    resp = client.get("/static/widget.0123456789ab.js")
    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == SHORT
    assert resp.get_data() == (STATIC / "widget.js").read_bytes()


@pytest.mark.parametrize(
    "path",
    [
        "/static/nope.js",
        "/static/widget.0123456789aZ.js",
        "/static/nope.0123456789ab.js",
        "/static/../config.py",
        "/static/%2e%2e/web/factory.py",
        "/static/sub/widget.js",
    ],
)
def test_unknown_static_paths_are_404(client: FlaskClient, path: str) -> None:
    resp = client.get(path)
    assert resp.status_code == 404
    assert "Cache-Control" not in resp.headers or resp.headers["Cache-Control"] != IMMUTABLE


def test_pages_link_the_hashed_files(client: FlaskClient) -> None:
    html = client.get("/").get_data(as_text=True)
    assert f'href="/static/{hashed_name("backsoon.css")}"' in html
    assert 'href="/static/backsoon.css"' not in html

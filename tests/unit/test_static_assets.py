"""app.web.assets on a folder of its own: names follow the bytes, and only what is worth it is gzipped."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

from flask import Flask, url_for

from app.web import assets


def _app(folder: Path) -> Flask:
    app = Flask(__name__, static_folder=None)
    assets.install(app, folder)
    return app


def test_hashed_name_follows_the_bytes(tmp_path: Path) -> None:
    one, two = b"console.log(1);\n" * 40, b"console.log(2);\n" * 40
    (tmp_path / "w.js").write_bytes(one)
    first = assets.load(tmp_path)["w.js"]
    assert first.hashed_name == f"w.{hashlib.sha256(one).hexdigest()[:12]}.js"
    (tmp_path / "w.js").write_bytes(two)
    second = assets.load(tmp_path)["w.js"]
    assert second.hashed_name == f"w.{hashlib.sha256(two).hexdigest()[:12]}.js"
    assert second.hashed_name != first.hashed_name


def test_url_for_names_the_hashed_file_and_leaves_unknown_names(tmp_path: Path) -> None:
    (tmp_path / "a.css").write_bytes(b"a{}")
    app = _app(tmp_path)
    digest = hashlib.sha256(b"a{}").hexdigest()[:12]
    with app.test_request_context():
        assert url_for("static", filename="a.css") == f"/static/a.{digest}.css"
        assert url_for("static", filename="other.css") == "/static/other.css"


def test_small_file_is_sent_as_is_without_vary(tmp_path: Path) -> None:
    (tmp_path / "a.css").write_bytes(b"a{}")
    resp = (
        _app(tmp_path)
        .test_client()
        .get(f"/static/a.{hashlib.sha256(b'a{}').hexdigest()[:12]}.css", headers={"Accept-Encoding": "gzip"})
    )
    assert resp.status_code == 200
    assert resp.get_data() == b"a{}"
    assert "Content-Encoding" not in resp.headers
    assert "Vary" not in resp.headers
    assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"


def test_gzip_bytes_are_the_same_on_every_start(tmp_path: Path) -> None:
    body = b"body{color:red}\n" * 100
    (tmp_path / "b.css").write_bytes(body)
    one, two = assets.load(tmp_path)["b.css"], assets.load(tmp_path)["b.css"]
    assert one.gzipped is not None and one.gzipped == two.gzipped
    assert gzip.decompress(one.gzipped) == body


def test_images_and_dotfiles_are_not_compressed_or_served(tmp_path: Path) -> None:
    (tmp_path / "p.png").write_bytes(b"\x89PNG" + b"\x00" * 1000)
    (tmp_path / ".hidden").write_bytes(b"secret" * 100)
    loaded = assets.load(tmp_path)
    assert sorted(loaded) == ["p.png"]
    assert loaded["p.png"].gzipped is None
    assert _app(tmp_path).test_client().get("/static/.hidden").status_code == 404

"""BackSoon's own static files: content-hashed names cached for a year, gzip when the client takes it.

The files are read, hashed and compressed once when the app starts (they are a few tens of KB), so a fresh clone
serves hashed names without a build step or node. `url_for('static', filename='widget.js')` names the hashed file;
the unhashed name stays served, with a short cache, for pages and plugins that still ask for it.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, jsonify, request

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
URL_PREFIX = "/static"
MANIFEST_PATH = "manifest.json"
HASH_LENGTH = 12
IMMUTABLE = "public, max-age=31536000, immutable"
# Unhashed names (old plugin versions, cached pages) and the manifest: a deploy reaches them within five minutes.
SHORT = "public, max-age=300"
# Compressing a few hundred bytes costs more than it saves.
_MIN_GZIP_BYTES = 256
_COMPRESSIBLE = ("text/", "application/javascript", "application/json", "image/svg+xml")
_HASHED = re.compile(rf"^(?P<stem>.+)\.(?P<hash>[0-9a-f]{{{HASH_LENGTH}}})(?P<suffix>\.[A-Za-z0-9]+)$")


@dataclass(frozen=True)
class Asset:
    """One static file: its bytes, their gzip, and the hashed name both are served under."""

    name: str
    hashed_name: str
    digest: str
    mimetype: str
    body: bytes
    gzipped: bytes | None


def content_digest(body: bytes) -> str:
    """The first 12 hex digits of the sha256 of a file's bytes."""
    return hashlib.sha256(body).hexdigest()[:HASH_LENGTH]


def hashed_name(name: str, digest: str) -> str:
    """`widget.js` → `widget.<digest>.js`."""
    stem, dot, suffix = name.rpartition(".")
    return f"{stem}.{digest}.{suffix}" if dot else f"{name}.{digest}"


def load(directory: Path = STATIC_DIR) -> dict[str, Asset]:
    """Every file directly in `directory`, by its plain name."""
    assets: dict[str, Asset] = {}
    for path in sorted(directory.iterdir()):
        if not path.is_file() or path.name.startswith("."):
            continue
        body = path.read_bytes()
        mimetype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        gzipped = None
        if mimetype.startswith(_COMPRESSIBLE) and len(body) >= _MIN_GZIP_BYTES:
            # mtime=0: the same bytes on every start and every host, so the gzip ETag holds across a fleet.
            gzipped = gzip.compress(body, compresslevel=9, mtime=0)
        digest = content_digest(body)
        assets[path.name] = Asset(path.name, hashed_name(path.name, digest), digest, mimetype, body, gzipped)
    return assets


def install(app: Flask, directory: Path = STATIC_DIR) -> None:
    """Serve `directory` at /static/ in place of Flask's static view, and make url_for name the hashed files."""
    assets = load(directory)
    by_hashed = {asset.hashed_name: asset for asset in assets.values()}

    @app.url_defaults
    def _hashed_static(endpoint: str, values: dict[str, Any]) -> None:
        if endpoint == "static":
            asset = assets.get(values.get("filename", ""))
            if asset is not None:
                values["filename"] = asset.hashed_name

    def static(filename: str) -> Response:
        """A static file: far-future cached under its hashed name, for five minutes under any other."""
        if filename == MANIFEST_PATH:
            resp = jsonify({"files": {name: asset.hashed_name for name, asset in assets.items()}})
            resp.headers["Cache-Control"] = SHORT
            return resp
        asset = by_hashed.get(filename)
        if asset is not None:
            return _send(asset, IMMUTABLE)
        asset = assets.get(filename) or _stale(assets, filename)
        if asset is None:
            abort(404)
        return _send(asset, SHORT)

    app.add_url_rule(f"{URL_PREFIX}/<path:filename>", endpoint="static", view_func=static)


def _stale(assets: dict[str, Asset], filename: str) -> Asset | None:
    """The current file for a hashed name of an earlier deploy (a page cached before it): served, briefly cached."""
    match = _HASHED.match(filename)
    if match is None:
        return None
    return assets.get(match["stem"] + match["suffix"])


def _send(asset: Asset, cache_control: str) -> Response:
    # By quality, not membership: "gzip;q=0" is a refusal.
    gzipped = asset.gzipped is not None and request.accept_encodings["gzip"] > 0
    body = asset.gzipped if gzipped and asset.gzipped is not None else asset.body
    # One ETag per representation (RFC 9110 8.8.3): the gzip bytes are not the file's bytes.
    etag = f"{asset.digest}-gz" if gzipped else asset.digest
    # Weak comparison (RFC 9110 13.1.2): a proxy that re-compresses may hand back W/"…".
    if request.method in ("GET", "HEAD") and request.if_none_match.contains_weak(etag):
        resp = Response(status=304)
    else:
        resp = Response(body, mimetype=asset.mimetype)
        if gzipped:
            resp.headers["Content-Encoding"] = "gzip"
    resp.set_etag(etag)
    resp.headers["Cache-Control"] = cache_control
    if asset.gzipped is not None:
        resp.headers["Vary"] = "Accept-Encoding"
    return resp

"""Photos named by URI (issue #18: catalogues list photos where they live): file:// and
http(s):// read for real (a local HTTP server), unknown schemes and unreachable photos as one
clear error each, the photo's own name for its output files."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import threading
from pathlib import Path

import pytest

from shotcrop_core.cli import main
from shotcrop_core.errors import ShotCropError
from shotcrop_core.imageio import load_image, probe
from shotcrop_core.uris import is_uri

DATA = Path(__file__).resolve().parent / "data"
PHOTO = "000000000790.jpg"


@pytest.fixture(scope="module")
def server():
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(DATA))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def _pixels(loaded) -> str:
    return hashlib.sha256(loaded.image.tobytes()).hexdigest()


def test_a_uris_photo_is_named_by_its_path():
    from shotcrop_core.uris import local_path, name_path

    assert name_path("s3://bucket/shoot/a%20b.jpg?versionId=3#x") == Path("/shoot/a b.jpg")
    assert name_path("https://example.com").stem == "photo"
    assert name_path("https://example.com/").stem == "photo"
    assert local_path("file:///tmp/x%C3%A9.jpg") == Path("/tmp/xé.jpg")
    assert local_path("s3://bucket/x.jpg") is None


def test_which_names_are_uris():
    assert is_uri("s3://bucket/a.jpg") and is_uri("file:///tmp/a.jpg") and is_uri("gs://b/c")
    assert not is_uri("C:/photos/a.jpg") and not is_uri("photos/a.jpg") and not is_uri("a:b")


def test_file_and_http_uris_read_the_same_photo(server):
    local = load_image(DATA / PHOTO)
    by_file = load_image((DATA / PHOTO).as_uri())
    by_http = load_image(f"{server}/{PHOTO}")
    assert _pixels(by_file) == _pixels(by_http) == _pixels(local)
    assert by_http.path.name == PHOTO and by_http.format == "JPEG"
    assert probe(f"{server}/{PHOTO}").format == "JPEG"


def test_unreadable_uris_are_one_clear_error(server):
    with pytest.raises(ShotCropError, match="cannot read it .*404"):
        load_image(f"{server}/missing.jpg")
    with pytest.raises(ShotCropError, match="unknown URI scheme 'ftp'"):
        load_image("ftp://example.org/a.jpg")
    with pytest.raises(ShotCropError, match="not an image ShotCrop can read"):
        load_image(f"{server}/person_keypoints.json")


def test_compose_names_outputs_after_the_uris_photo(server, tmp_path, capsys):
    uri = f"{server}/{PHOTO}"
    assert main(["compose", uri, "--keypoints", str(DATA / "person_keypoints.json"),
                 "--out", str(tmp_path), "--json"]) == 0
    line = json.loads(capsys.readouterr().out)
    assert line["image"] == uri
    assert json.loads((tmp_path / "000000000790_shots.json").read_text())["image"] == uri
    assert (tmp_path / "000000000790_close_up.jpg").exists()


def test_resume_knows_a_uris_photo_is_done(server, tmp_path, capsys):
    for uri in (f"{server}/{PHOTO}", (DATA / PHOTO).as_uri()):
        out = tmp_path / uri.split(":")[0]
        args = ["compose", uri, "--keypoints", str(DATA / "person_keypoints.json"),
                "--out", str(out), "--json"]
        assert main(args) == 0
        capsys.readouterr()
        assert main([*args, "--resume"]) == 0
        assert capsys.readouterr().out == ""  # skipped: nothing composed again


def test_the_comfyui_pack_without_http_photos_says_so(server, monkeypatch):
    """.comfyignore leaves http_photos.py out of the ComfyUI archive (no network code ships
    there): an http(s) photo is then one clear error."""
    import sys

    monkeypatch.setitem(sys.modules, "shotcrop_core.http_photos", None)
    with pytest.raises(ShotCropError, match="read by the shotcrop library .* not by the ComfyUI"):
        load_image(f"{server}/{PHOTO}")
    ignored = (Path(__file__).resolve().parent.parent / ".comfyignore").read_text().split()
    assert "shotcrop_core/http_photos.py" in ignored and "shotcrop_core/scale/" in ignored


def test_an_http_photo_larger_than_any_photo_is_refused(server, monkeypatch):
    from shotcrop_core import http_photos

    size = (DATA / PHOTO).stat().st_size
    monkeypatch.setattr(http_photos, "MAX_BYTES", size - 1)
    with pytest.raises(ShotCropError, match="larger than any photo"):
        load_image(f"{server}/{PHOTO}")
    monkeypatch.setattr(http_photos, "MAX_BYTES", size)
    assert load_image(f"{server}/{PHOTO}").format == "JPEG"

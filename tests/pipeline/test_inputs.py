"""Bad input gets a clear error naming what is wrong; odd but valid input is converted."""

from __future__ import annotations

import http.server
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from ocrtrain.imageio import ImageError
from ocrtrain.pipeline.inputs import fetch_url, iter_inputs


@pytest.fixture()
def http_root(tmp_path):
    """A real HTTP server on loopback serving tmp_path; yields the base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(tmp_path), **kwargs)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_missing_file(tmp_path):
    with pytest.raises(ImageError, match=r"nope\.png: no such file"):
        list(iter_inputs(str(tmp_path / "nope.png")))


def test_non_image_and_empty_files(tmp_path):
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "empty.jpg").write_bytes(b"")
    with pytest.raises(ImageError, match=r"notes\.txt: not a readable image"):
        list(iter_inputs(str(tmp_path / "notes.txt")))
    with pytest.raises(ImageError, match=r"empty\.jpg: empty file"):
        list(iter_inputs(str(tmp_path / "empty.jpg")))


def test_truncated_jpeg(tmp_path, demo_dir):
    data = (demo_dir / "images" / "img_1.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[:200])
    with pytest.raises(ImageError, match=r"cut\.jpg"):
        list(iter_inputs(str(tmp_path / "cut.jpg")))


def test_empty_directory(tmp_path):
    (tmp_path / "readme.md").write_text("no images here")
    with pytest.raises(ImageError, match="directory has no images"):
        list(iter_inputs(str(tmp_path)))


def test_zero_size_array():
    with pytest.raises(ImageError, match="zero-size image"):
        list(iter_inputs(np.zeros((0, 10, 3), np.uint8)))


def test_dict_without_img_key():
    with pytest.raises(ImageError, match="needs the key 'img'"):
        list(iter_inputs({"image": "a.png"}))


@pytest.mark.parametrize(
    ("array", "expected_shape"),
    [
        (np.full((20, 30), 128, np.uint8), (20, 30, 3)),
        (np.full((20, 30, 1), 128, np.uint8), (20, 30, 3)),
        (np.full((20, 30, 4), 128, np.uint8), (20, 30, 3)),
        (np.full((20, 30, 3), 40000, np.uint16), (20, 30, 3)),
    ],
)
def test_gray_rgba_and_16bit_arrays_become_bgr(array, expected_shape):
    ((path, img),) = list(iter_inputs(array))
    assert path is None and img.shape == expected_shape and img.dtype == np.uint8


def test_float_and_boolean_images_keep_their_brightness(tmp_path, demo_dir):
    """A float32 TIFF holds 0..1 and used to decode all black; a boolean mask was black and 1."""
    color = cv2.imread(str(demo_dir / "images" / "img_2.jpg"))
    cv2.imwrite(str(tmp_path / "float.tiff"), color.astype(np.float32) / 255)
    ((_, from_tiff),) = list(iter_inputs(str(tmp_path / "float.tiff")))
    assert np.array_equal(from_tiff, color)
    ((_, from_0_255),) = list(iter_inputs(color.astype(np.float64)))  # floats past 1 are read as 0..255
    assert np.array_equal(from_0_255, color)
    ((_, mask),) = list(iter_inputs(np.eye(4, dtype=bool)))
    assert mask[0, 0].tolist() == [255, 255, 255] and mask[0, 1].tolist() == [0, 0, 0]


def test_grayscale_and_rgba_files(tmp_path, demo_dir):
    color = cv2.imread(str(demo_dir / "images" / "img_2.jpg"))
    cv2.imwrite(str(tmp_path / "gray.png"), cv2.cvtColor(color, cv2.COLOR_BGR2GRAY))
    cv2.imwrite(str(tmp_path / "rgba.png"), cv2.cvtColor(color, cv2.COLOR_BGR2BGRA))
    images = dict(iter_inputs(str(tmp_path)))
    assert {Path(p).name for p in images} == {"gray.png", "rgba.png"}
    assert all(img.shape == color.shape for img in images.values())
    assert np.array_equal(images[str(tmp_path / "rgba.png")], color)


def test_url_is_fetched(http_root, tmp_path, demo_dir):
    (tmp_path / "photo.jpg").write_bytes((demo_dir / "images" / "img_2.jpg").read_bytes())
    ((path, img),) = list(iter_inputs(f"{http_root}/photo.jpg"))
    assert path.endswith("/photo.jpg") and img.shape == (720, 1280, 3)


def test_url_errors(http_root, tmp_path, demo_dir):
    with pytest.raises(ImageError, match="HTTP 404"):
        fetch_url(f"{http_root}/missing.jpg")
    (tmp_path / "big.jpg").write_bytes((demo_dir / "images" / "img_2.jpg").read_bytes())
    with pytest.raises(ImageError, match="over the 1000-byte limit"):
        fetch_url(f"{http_root}/big.jpg", max_bytes=1000)
    with pytest.raises(ImageError, match=r"127\.0\.0\.1:1/x\.png: could not be fetched"):
        fetch_url("http://127.0.0.1:1/x.png", timeout=2)


def test_unsupported_type():
    with pytest.raises(ImageError, match="unsupported input of type int"):
        list(iter_inputs(42))


def test_slow_url_hits_the_total_deadline():
    """A server that trickles a few bytes a second never trips the per-read timeout; the total deadline ends it."""
    import socket
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    stop = threading.Event()

    def trickle():
        conn, _ = listener.accept()
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: 100000\r\n\r\n")
        while not stop.is_set():
            try:
                conn.sendall(b"\xff" * 20)
            except OSError:
                break
            time.sleep(0.5)
        conn.close()

    threading.Thread(target=trickle, daemon=True).start()
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/slow.jpg"
    started = time.monotonic()
    try:
        with pytest.raises(ImageError, match=r"slow\.jpg: download took longer than 2 s"):
            fetch_url(url, timeout=1.5, deadline=2.0)
    finally:
        stop.set()
        listener.close()
    assert time.monotonic() - started < 4

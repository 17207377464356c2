"""The HTTP service: the result schema for every accepted body form, JSON errors with status codes, the bounded
queue and the timeout, and the real ``python -m ocrtrain.serve`` process on loopback."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import threading
import urllib.error
from pathlib import Path

import pytest
from conftest import one_bit_png, post_image, serving
from starlette.testclient import TestClient

from ocrtrain.service import ServiceLimits, create_app

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def photo(demo_dir) -> bytes:
    return (demo_dir / "images" / "img_1.jpg").read_bytes()


@pytest.fixture(scope="module")
def expected(ocr_pipeline, demo_dir) -> dict:
    return dict(next(ocr_pipeline.predict(str(demo_dir / "images" / "img_1.jpg"))))


def client(**limits) -> TestClient:
    """The service's app in-process; its worker threads build their own real PP-OCRv4 pipelines."""
    from ocrtrain import create_pipeline

    return TestClient(create_app(lambda: create_pipeline("OCR"), ServiceLimits(**limits)))


@pytest.fixture(scope="module")
def service():
    with client() as http:
        yield http


def assert_same_result(answer: dict, expected: dict) -> None:
    assert answer["rec_text"] == expected["rec_text"] and answer["rec_text"]
    assert answer["dt_polys"] == expected["dt_polys"]
    assert set(answer) == set(expected)


def test_each_body_form_answers_the_result_schema(service, photo, expected):
    http = service
    raw = http.post("/ocr", content=photo, headers={"content-type": "image/jpeg"})
    as_json = http.post("/ocr", json={"image": base64.b64encode(photo).decode()})
    data_url = http.post("/ocr", json={"image": "data:image/jpeg;base64," + base64.b64encode(photo).decode()})
    form = http.post("/ocr", files={"image": ("img_1.jpg", photo, "image/jpeg")})
    health = http.get("/health")
    for response in (raw, as_json, data_url, form):
        assert response.status_code == 200, response.text
        assert_same_result(response.json(), expected)
    assert form.json()["img_path"] == "img_1.jpg"
    assert health.status_code == 200 and health.json()["status"] == "ok"


@pytest.mark.parametrize(
    ("kwargs", "status", "says"),
    [
        (
            {"content": b"this is not an image", "headers": {"content-type": "image/png"}},
            400,
            "not a readable image",
        ),
        ({"json": {"image": "%%%not base64%%%"}}, 400, "not valid base64"),
        ({"json": {"picture": "abc"}}, 400, '{"image": "<base64>"}'),
        ({"content": b"{broken", "headers": {"content-type": "application/json"}}, 400, "JSON body"),
        ({"content": b"hello", "headers": {"content-type": "text/plain"}}, 415, "content type 'text/plain'"),
        ({"files": {"other": ("a.txt", b"x", "text/plain")}}, 400, "no file field named 'image'"),
        ({"content": b"", "headers": {"content-type": "image/png"}}, 400, "empty"),
    ],
)
def test_bad_bodies_get_a_json_error(service, kwargs, status, says):
    response = service.post("/ocr", **kwargs)
    assert response.status_code == status
    assert response.json()["status"] == status and says in response.json()["error"]


def test_truncated_and_oversized_images_are_refused_while_good_ones_pass(photo, expected):
    with client(max_body_mb=0.05) as http:  # the photo is ~46 KB
        truncated = http.post(
            "/ocr", content=photo[: len(photo) // 2], headers={"content-type": "image/jpeg"}
        )
        too_big = http.post("/ocr", content=photo * 2, headers={"content-type": "image/jpeg"})
        good = http.post("/ocr", content=photo, headers={"content-type": "image/jpeg"})
        unknown = http.get("/nothing-here")
    assert truncated.status_code == 400 and "not a readable image" in truncated.json()["error"]
    assert too_big.status_code == 413 and "exceeds the limit" in too_big.json()["error"]
    assert good.status_code == 200
    assert_same_result(good.json(), expected)
    assert unknown.status_code == 404 and unknown.json()["status"] == 404


def test_an_image_over_max_pixels_gets_413_from_its_header(service, photo):
    """A 41 KB PNG of 12000 x 12000 pixels used to be decoded in full before the request was even admitted (+800 MB
    of server memory a request)."""
    huge = one_bit_png(12000)
    raw = service.post("/ocr", content=huge, headers={"content-type": "image/png"})
    form = service.post("/ocr", files={"image": ("huge.png", huge, "image/png")})
    said = "image too large (12000x12000 = 144,000,000 pixels; the limit is 89,478,485)"
    assert raw.status_code == 413 and raw.json() == {"error": f"request body: {said}", "status": 413}
    assert form.status_code == 413 and form.json()["error"] == f"huge.png: {said}"
    with client(max_pixels=1280 * 720 - 1) as http:  # the photo is 1280 x 720
        lowered = http.post("/ocr", content=photo, headers={"content-type": "image/jpeg"})
    assert lowered.status_code == 413
    assert lowered.json()["error"].endswith("(1280x720 = 921,600 pixels; the limit is 921,599)")


def test_a_burst_beyond_the_queue_gets_503_and_a_slow_answer_504(photo):
    with client(workers=1, max_queue=0) as http:
        statuses: list[int] = []

        def post() -> None:
            statuses.append(
                http.post("/ocr", content=photo, headers={"content-type": "image/jpeg"}).status_code
            )

        threads = [threading.Thread(target=post) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert statuses.count(200) >= 1 and statuses.count(503) >= 1, statuses
    with client(timeout_s=0.001) as http:
        late = http.post("/ocr", content=photo, headers={"content-type": "image/jpeg"})
    assert late.status_code == 504 and late.json()["error"].startswith("no answer within")


def test_serve_entrypoint_on_loopback(photo, expected, tmp_path):
    with serving(cwd=tmp_path) as (port, health):
        assert health["rec_model"] == "PP-OCRv4_mobile_rec"
        assert_same_result(post_image(port, photo), expected)
        with pytest.raises(urllib.error.HTTPError) as refused:
            post_image(port, one_bit_png(12000))
        assert refused.value.code == 413 and "image too large" in json.load(refused.value)["error"]
    proc = subprocess.run(
        [sys.executable, "-m", "ocrtrain.serve", "max_pixels=100000000", f"hydra.run.dir={tmp_path}/r"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 2 and proc.stderr.strip().splitlines() == [
        "error: max_pixels: must be a positive integer up to 89478485 (the limit of every image), got 100000000"
    ]


def test_a_model_that_cannot_load_is_one_line_before_the_port_opens(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "ocrtrain.serve",
            f"rec_model={tmp_path}/missing",
            f"hydra.run.dir={tmp_path}/r",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("error:") and "missing" in proc.stderr


@pytest.mark.parametrize(
    ("arg", "said"), [("port=70000", "a TCP port (1-65535)"), ("workers=0", "a positive integer")]
)
def test_the_serve_command_refuses_bad_limits_before_it_loads_anything(tmp_path, arg, said):
    from conftest import run_module

    proc = run_module("serve", arg, cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert said in proc.stderr and arg.split("=")[0] in proc.stderr

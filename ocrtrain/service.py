"""The OCR HTTP service: an ASGI app (Starlette, served by uvicorn) around a bounded pool of OCR pipelines.

- ``POST /ocr``: an image as the raw body (``image/*`` or ``application/octet-stream``), as JSON
  ``{"image": "<base64>"}`` (a ``data:`` URL too) or as a multipart form field ``image`` (or ``file``);
  answers the result schema (docs/architecture.md) of that image.
- ``GET /health``: ``{"status": "ok", ...}`` with the models served and the requests in flight.

Every error is JSON ``{"error": "...", "status": <code>}``: 400 for a body that is not a usable image, 413 over
``max_body_mb`` or for an image over ``max_pixels`` (read from its header before the request is admitted; only the
worker that runs a request decodes its pixels), 415 for another content type, 503 when ``workers`` requests run and
``max_queue`` more wait (a burst queues up to that bound instead of growing memory), 504 past ``timeout_s``. Each
worker thread owns one pipeline: paddle predictors are not safe to share between threads.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from starlette.applications import Starlette
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ocrtrain.imageio import MAX_IMAGE_PIXELS, ImageError, ImageTooLargeError, decode_image, header_size


@dataclass
class ServiceLimits:
    workers: int = 1  # pipelines, each inferring one request at a time
    max_queue: int = 16  # requests waiting for a worker before new ones get 503
    max_body_mb: float = 16.0
    timeout_s: float = 60.0  # from arrival to answer, queueing included
    max_pixels: int = MAX_IMAGE_PIXELS  # larger images are refused from their header (41 KB of PNG: 144 MP)


class HTTPError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def error_response(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it passes ``limit`` bytes (declared or streamed)."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise HTTPError(413, f"body of {int(declared)} bytes exceeds the limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPError(413, f"body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _from_base64(text: Any, where: str) -> bytes:
    if not isinstance(text, str) or not text:
        raise HTTPError(400, f"{where}: expected a base64 string")
    if text.startswith("data:"):
        text = text.partition(",")[2]
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as e:
        raise HTTPError(400, f"{where}: not valid base64 ({e})") from None


async def image_bytes(request: Request, limit: int) -> tuple[bytes, str | None]:
    """The encoded image of a request and its name (a multipart file name), whatever the accepted body form."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await read_body(request, limit)
    if content_type == "multipart/form-data":

        async def once() -> AsyncIterator[bytes]:
            yield body

        try:
            form = await MultiPartParser(request.headers, once(), max_files=1, max_fields=4).parse()
        except MultiPartException as e:
            raise HTTPError(400, f"multipart body: {e.message}") from None
        part = form.get("image") or form.get("file")
        if part is None or isinstance(part, str):
            raise HTTPError(400, "multipart body: no file field named 'image' (or 'file')")
        return await part.read(), part.filename
    if content_type == "application/json":
        try:
            payload = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise HTTPError(400, f"JSON body: {e}") from None
        if not isinstance(payload, dict) or "image" not in payload:
            raise HTTPError(400, 'JSON body: expected {"image": "<base64>"}')
        return _from_base64(payload["image"], "JSON field 'image'"), None
    if content_type.startswith("image/") or content_type in ("application/octet-stream", ""):
        return body, None
    raise HTTPError(
        415,
        f"content type {content_type!r}: send image bytes, JSON {{'image': base64}} or multipart/form-data",
    )


class PipelinePool:
    """``workers`` threads, each with the pipeline it built itself (paddle's oneDNN predictors fail when another
    thread runs them); at most ``workers + max_queue`` requests are admitted at a time."""

    def __init__(self, make_pipeline: Any, limits: ServiceLimits) -> None:
        self.limits = limits
        self.admitted = 0
        self._local = threading.local()
        self.executor = ThreadPoolExecutor(
            max_workers=limits.workers,
            thread_name_prefix="ocr",
            initializer=self._build,
            initargs=(make_pipeline,),
        )
        # one start-up task per worker, held at a barrier so that every thread builds its pipeline now
        everyone = threading.Barrier(limits.workers)
        for started in [self.executor.submit(everyone.wait) for _ in range(limits.workers)]:
            started.result()

    def _build(self, make_pipeline: Any) -> None:
        self._local.pipeline = make_pipeline()

    def _run(self, data: bytes, name: str | None) -> dict[str, Any]:
        img = decode_image(data, name or "request body", self.limits.max_pixels)
        return dict(self._local.pipeline.predict_image(img, name))

    async def predict(self, data: bytes, name: str | None, deadline: float) -> dict[str, Any]:
        """The result for an encoded image, decoded and read by a worker once the request is admitted."""
        if self.admitted >= self.limits.workers + self.limits.max_queue:
            raise HTTPError(503, f"busy: {self.admitted} requests in flight; retry later")
        self.admitted += 1
        try:
            future = asyncio.get_running_loop().run_in_executor(self.executor, self._run, data, name)
            try:
                return await asyncio.wait_for(future, max(deadline - time.monotonic(), 0.001))
            except asyncio.TimeoutError:
                raise HTTPError(504, f"no answer within {self.limits.timeout_s:g} s") from None
        finally:
            self.admitted -= 1


def create_app(make_pipeline: Any, limits: ServiceLimits, info: dict[str, Any] | None = None) -> Starlette:
    """The service's ASGI app; ``make_pipeline()`` builds one OCR pipeline per worker (at start-up)."""
    pool = PipelinePool(make_pipeline, limits)
    body_limit = int(limits.max_body_mb * 1024 * 1024)

    async def ocr(request: Request) -> JSONResponse:
        deadline = time.monotonic() + limits.timeout_s
        try:
            data, name = await image_bytes(request, body_limit)
            try:
                header_size(data, name or "request body", limits.max_pixels)
                result = await pool.predict(data, name, deadline)
            except ImageTooLargeError as e:
                raise HTTPError(413, str(e)) from None
            except ImageError as e:
                raise HTTPError(400, str(e)) from None
        except HTTPError as e:
            return error_response(e.status, str(e))
        return JSONResponse(result)

    async def health(_request: Request) -> JSONResponse:
        return JSONResponse(
            {"status": "ok", **(info or {}), "workers": limits.workers, "in_flight": pool.admitted}
        )

    async def not_found(_request: Request, exc: Exception) -> JSONResponse:
        return error_response(getattr(exc, "status_code", 404), str(getattr(exc, "detail", "not found")))

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        pool.executor.shutdown(wait=False, cancel_futures=True)

    return Starlette(
        routes=[Route("/ocr", ocr, methods=["POST"]), Route("/health", health, methods=["GET"])],
        exception_handlers={404: not_found, 405: not_found},
        lifespan=lifespan,
    )

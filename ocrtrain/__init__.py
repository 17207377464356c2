"""ocrtrain: fine-tune, evaluate, export, register and serve PaddleOCR PP-OCR models (v4, v5, v6) on your own data."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

from ocrtrain.mkl_dispatch import select_mkl_code_path

if TYPE_CHECKING:
    from ocrtrain.pipeline.ocr import OCRPipeline

# paddle warns at import that ccache (a C++ extension build cache) is missing; ocrtrain builds no extensions
warnings.filterwarnings("ignore", message="No ccache found")

__version__ = "0.1.0"

# before paddle's first matrix product: MKL's fast kernels on AMD processors (ocrtrain/mkl_dispatch.py)
select_mkl_code_path()


def create_pipeline(pipeline: Any = "OCR", device: str | None = None, **options: Any) -> OCRPipeline:
    """``create_pipeline("OCR", device="cpu")``: see :func:`ocrtrain.pipeline.create_pipeline`."""
    # imported lazily so `import ocrtrain` stays cheap (paddle loads only when a pipeline is built)
    from ocrtrain.pipeline import create_pipeline as _create

    return _create(pipeline, device=device, **options)


__all__ = ["__version__", "create_pipeline"]

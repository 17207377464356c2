"""Inference: the OCR pipeline and its pieces. Imports no training code (engine, losses, augmentation)."""

from ocrtrain.pipeline.ocr import OCRPipeline, create_pipeline, load_pipeline_config
from ocrtrain.pipeline.result import OCRResult, ResultWriter

__all__ = ["OCRPipeline", "OCRResult", "ResultWriter", "create_pipeline", "load_pipeline_config"]

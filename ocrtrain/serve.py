"""python -m ocrtrain.serve [det_model=...] [rec_model=...] [port=8080]: the OCR pipeline as an HTTP service."""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig

from ocrtrain.cli import load_saved_pipeline, prepare_command_line, user_errors
from ocrtrain.config_schema import NON_NEGATIVE_INT, POSITIVE_INT, POSITIVE_NUMBER, check_value, rule
from ocrtrain.imageio import MAX_IMAGE_PIXELS

PORT = rule(
    "a TCP port (1-65535)", lambda v: isinstance(v, int) and not isinstance(v, bool) and 0 < v < 65536
)
MAX_PIXELS = rule(
    f"a positive integer up to {MAX_IMAGE_PIXELS} (the limit of every image)",
    lambda v: POSITIVE_INT(v) and v <= MAX_IMAGE_PIXELS,
)


@hydra.main(version_base="1.3", config_path="conf", config_name="serve")
@user_errors
def main(cfg: DictConfig) -> None:
    import uvicorn

    from ocrtrain.pipeline import OCRPipeline
    from ocrtrain.service import ServiceLimits, create_app

    for key, check in (
        ("port", PORT),
        ("workers", POSITIVE_INT),
        ("max_queue", NON_NEGATIVE_INT),
        ("max_body_mb", POSITIVE_NUMBER),
        ("timeout_s", POSITIVE_NUMBER),
        ("max_pixels", MAX_PIXELS),
    ):
        check_value(key, cfg[key], check)
    pipeline_cfg = load_saved_pipeline(cfg)
    limits = ServiceLimits(
        workers=cfg.workers,
        max_queue=cfg.max_queue,
        max_body_mb=cfg.max_body_mb,
        timeout_s=cfg.timeout_s,
        max_pixels=cfg.max_pixels,
    )
    OCRPipeline(pipeline_cfg)  # a model that cannot load fails here, as one line, before the port opens
    info = {"det_model": str(pipeline_cfg.det_model), "rec_model": str(pipeline_cfg.rec_model)}
    app = create_app(lambda: OCRPipeline(pipeline_cfg), limits, info)
    print(
        f"serving {info['det_model']} + {info['rec_model']} on http://{cfg.host}:{cfg.port}", file=sys.stderr
    )
    uvicorn.run(app, host=cfg.host, port=int(cfg.port), log_level="warning")


if __name__ == "__main__":
    prepare_command_line("serve", saved_pipeline=True)
    main()

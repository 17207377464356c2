"""python -m ocrtrain.infer input=img.png [device=...] [det_model=...] [rec_model=...] [save_path=output]"""

from __future__ import annotations

import sys

import hydra
from omegaconf import DictConfig, OmegaConf

from ocrtrain.cli import load_saved_pipeline, prepare_command_line, user_errors


@hydra.main(version_base="1.3", config_path="conf", config_name="infer")
@user_errors
def main(cfg: DictConfig) -> None:
    from ocrtrain.pipeline import OCRPipeline, ResultWriter

    inputs = OmegaConf.to_container(cfg.input) if OmegaConf.is_list(cfg.input) else cfg.input
    if inputs in ([], "", None):
        raise ValueError(
            f"input={inputs!r} names no image: give a file, a directory, a URL or a list of them"
        )
    pipeline_cfg = load_saved_pipeline(cfg)
    writer = ResultWriter(cfg.save_path) if cfg.save_path else None
    pipe = OCRPipeline(pipeline_cfg)
    for res in pipe.predict(inputs):
        res.print()
        if writer is not None:
            json_file, img_file = writer.save(res)
            print(f"saved {json_file} and {img_file}", file=sys.stderr)


if __name__ == "__main__":
    prepare_command_line("infer", saved_pipeline=True)
    main()

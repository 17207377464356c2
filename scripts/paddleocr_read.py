"""Read images with PaddleOCR 3.x itself from exported det/rec dirs; prints one JSON line per image.

Runs in the interoperability environment (``scripts/interop_venv.sh``), never in ocrtrain's own: paddleocr pins
numpy and opencv versions ocrtrain does not use. Imports nothing from ocrtrain.

    <venv>/bin/python scripts/paddleocr_read.py --det DIR --rec DIR \
        --det-model-name PP-OCRv4_mobile_det --rec-model-name PP-OCRv4_mobile_rec img1.jpg img2.jpg

Detection settings are passed explicitly (PaddleOCR's pipeline defaults differ from the exported model's own):
``--limit-side-len 960 --limit-type max --thresh 0.3 --box-thresh 0.6 --unclip-ratio 1.5``. With ``--crops`` the
images are text-line crops read by the recogniser alone (``TextRecognition``; no --det needed).
"""

from __future__ import annotations

import argparse
import json
import os

# the exported dirs are local files: PaddleX must not try to reach a model hoster to check them
os.environ.setdefault("PADDLE_PDX_DISABLE_MODEL_SOURCE_CHECK", "True")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--det")
    parser.add_argument("--rec", required=True)
    parser.add_argument("--det-model-name")
    parser.add_argument("--rec-model-name", required=True)
    parser.add_argument("--limit-side-len", type=int, default=960)
    parser.add_argument("--limit-type", default="max")
    parser.add_argument("--thresh", type=float, default=0.3)
    parser.add_argument("--box-thresh", type=float, default=0.6)
    parser.add_argument("--unclip-ratio", type=float, default=1.5)
    parser.add_argument("--crops", action="store_true", help="the images are text-line crops: recognise only")
    parser.add_argument("images", nargs="+")
    args = parser.parse_args()
    if args.crops:
        recognize(args.rec, args.rec_model_name, args.images)
        return
    if not (args.det and args.det_model_name):
        parser.error("--det and --det-model-name are required unless --crops")

    from paddleocr import PaddleOCR

    ocr = PaddleOCR(
        text_detection_model_name=args.det_model_name,
        text_detection_model_dir=args.det,
        text_recognition_model_name=args.rec_model_name,
        text_recognition_model_dir=args.rec,
        use_doc_orientation_classify=False,
        use_doc_unwarping=False,
        use_textline_orientation=False,
        text_det_limit_side_len=args.limit_side_len,
        text_det_limit_type=args.limit_type,
        text_det_thresh=args.thresh,
        text_det_box_thresh=args.box_thresh,
        text_det_unclip_ratio=args.unclip_ratio,
        text_rec_score_thresh=0.0,
        device="cpu",
        enable_mkldnn=False,  # legacy .pdmodel det graphs misbehave under oneDNN in paddle 3.x
    )
    for image in args.images:
        for result in ocr.predict(image):
            print(
                json.dumps(
                    {
                        "image": image,
                        "dt_polys": [[[int(x), int(y)] for x, y in poly] for poly in result["dt_polys"]],
                        "rec_texts": list(result["rec_texts"]),
                        "rec_scores": [float(s) for s in result["rec_scores"]],
                    },
                    ensure_ascii=False,
                )
            )


def recognize(rec_dir: str, model_name: str, crops: list[str]) -> None:
    from paddleocr import TextRecognition

    model = TextRecognition(model_name=model_name, model_dir=rec_dir, device="cpu", enable_mkldnn=False)
    for crop in crops:
        for result in model.predict(crop):
            line = {"image": crop, "rec_text": result["rec_text"], "rec_score": float(result["rec_score"])}
            print(json.dumps(line, ensure_ascii=False))


if __name__ == "__main__":
    main()

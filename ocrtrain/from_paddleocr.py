"""python -m ocrtrain.from_paddleocr -c <PaddleOCR config.yml> [-o Key.sub=value ...] [--cwd <dir>]

Prints the ocrtrain command that trains what ``tools/train.py -c ... -o ...`` would, with a note on stderr for each
setting that does not carry over as it is (``ocrtrain.paddleocr_config``). ``--cwd``: where tools/train.py runs,
which the config's paths are relative to (default: here).
"""

from __future__ import annotations

import argparse
import sys

from ocrtrain.cli import user_errors


@user_errors
def main(argv: list[str] | None = None) -> None:
    from ocrtrain.paddleocr_config import read_config, translate

    parser = argparse.ArgumentParser(
        prog="python -m ocrtrain.from_paddleocr", description=__doc__.split("\n\n")[1]
    )
    parser.add_argument("-c", "--config", required=True, help="PaddleOCR training config (YAML)")
    parser.add_argument("-o", "--opt", nargs="+", action="extend", default=[], help="Key.sub=value overrides")
    parser.add_argument("--cwd", default=".", help="the directory PaddleOCR's paths are relative to")
    args = parser.parse_args(argv)
    translation = translate(read_config(args.config, args.opt), args.cwd)
    for note in translation.notes:
        print(f"note: {note}", file=sys.stderr)
    print(translation.command())


if __name__ == "__main__":
    main()

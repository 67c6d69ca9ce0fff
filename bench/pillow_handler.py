#!/usr/bin/env python3
"""The classic AWS Lambda thumbnail handler's image code, timed per file.

    with Image.open(path) as image:
        image.thumbnail((300, 300))
        image.save(buffer, format="JPEG")

Run by bench/run.py in its own process (like one warm Lambda container),
one file after another; prints one JSON line per file. Nothing here is
"fixed": EXIF orientation, alpha and palette inputs are handled exactly as
the classic handler handles them, which is the point of the comparison.

Usage: pillow_handler.py [--repeat=N] [--stdin] OUT_DIR [FILE...]
With --repeat, each file is handled N times and the fastest time reported;
with --stdin, paths are read one per line and answered one at a time.
"""

import io
import json
import os
import sys
import time

from PIL import Image


def handler(path):
    """The classic handler's image code; returns the JPEG bytes and size."""
    with Image.open(path) as image:
        image.thumbnail((300, 300))
        buffer = io.BytesIO()
        image.save(buffer, format="JPEG")
    return buffer.getvalue(), image.size


def main():
    repeat, stdin = 1, False
    args = sys.argv[1:]
    while args and args[0].startswith("--"):
        flag = args.pop(0)
        if flag.startswith("--repeat="):
            repeat = max(1, int(flag.split("=", 1)[1]))
        elif flag == "--stdin":
            stdin = True
    out_dir, files = args[0], args[1:]
    os.makedirs(out_dir, exist_ok=True)
    if stdin:
        files = (line.strip() for line in sys.stdin if line.strip())
    for path in files:
        line = {"file": path}
        best = float("inf")
        for _ in range(repeat):
            started = time.perf_counter()
            try:
                data, size = handler(path)
                best = min(best, time.perf_counter() - started)
            except Exception as e:  # the handler would crash: record why
                best = min(best, time.perf_counter() - started)
                line.update(ok=False, error=f"{type(e).__name__}: {e}")
        line["seconds"] = best
        if "error" not in line:
            out = os.path.join(out_dir, os.path.basename(path) + ".thumb.jpg")
            with open(out, "wb") as f:
                f.write(data)
            line.update(ok=True, path=out, width=size[0], height=size[1])
        print(json.dumps(line), flush=True)


if __name__ == "__main__":
    main()

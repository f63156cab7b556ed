"""Request bodies for the load test, from MNIST test image 0 (stdlib only).

px.json: {"pixels": [784 values]}; canvas.png: the digit as a browser canvas sends
it, 280x280 RGBA, white ink on black.
"""
import gzip
import json
import os
import struct
import sys
import zlib

data_dir, out = sys.argv[1], sys.argv[2]
name = os.path.join(data_dir, "t10k-images-idx3-ubyte")
raw = open(name, "rb").read() if os.path.exists(name) else gzip.open(name + ".gz").read()
px = list(raw[16:16 + 784])
json.dump({"pixels": px}, open(os.path.join(out, "px.json"), "w"))

W = 280
rows = b"".join(
    b"\x00" + b"".join(bytes([v, v, v, 255]) for v in (px[(y // 10) * 28 + x // 10] for x in range(W)))
    for y in range(W)
)


def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, W, 8, 6, 0, 0, 0))
       + chunk(b"IDAT", zlib.compress(rows, 6)) + chunk(b"IEND", b""))
open(os.path.join(out, "canvas.png"), "wb").write(png)

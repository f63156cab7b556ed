"""MNIST's IDX files (../shared/data/mnist, raw or gzip) as NumPy arrays, for the
scripts in this folder."""
import gzip
import os
import struct

import numpy as np

DATA = os.environ.get("SCRAWL_DATA") or os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "..", "shared", "data", "mnist")


def idx(name):
    """The array of IDX file `name` (e.g. `t10k-images-idx3-ubyte`)."""
    for n in (name, name + ".gz"):
        p = os.path.join(DATA, n)
        if os.path.exists(p):
            raw = (gzip.open if n.endswith(".gz") else open)(p, "rb").read()
            ndim = raw[3]
            dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
            return np.frombuffer(raw[4 + 4 * ndim:], dtype=np.uint8).reshape(dims)
    raise FileNotFoundError(f"{name} is not in {DATA}")

"""Camera RAW (``.dng .cr2 .nef .arw`` ...) read through rawpy (LibRaw).

The sensor data is demosaiced in 16 bits with the camera's white balance into sRGB, so a
RAW input is a ``bit_depth=16`` frame; LibRaw applies the orientation the camera
recorded. Only reading: stylepipe never writes RAW files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from stylepipe.errors import ImageReadError
from stylepipe.imaging.frame import Frame, ImageMetadata

_HINT = "pip install 'stylepipe[raw]'"


def read_raw(path: Path, *, max_pixels: int | None) -> Frame:
    """Demosaic the RAW file ``path`` into a 16-bit sRGB :class:`Frame`.

    Raises :class:`ImageReadError` when rawpy is missing, the file is not a RAW LibRaw
    reads, it is corrupt, or it is larger than ``max_pixels`` (0/None: no limit).
    """
    try:
        import rawpy
    except ImportError:
        raise ImageReadError(f"{path}: camera RAW needs rawpy", hint=_HINT) from None
    try:
        with rawpy.imread(str(path)) as raw:
            width, height = raw.sizes.width, raw.sizes.height
            if max_pixels and width * height > max_pixels:
                raise ImageReadError(
                    f"{path}: {width}x{height} = {width * height:,} pixels is over the limit "
                    f"of {max_pixels:,} (decompression-bomb guard)",
                    hint="raise the limit with --max-pixels N (0 = no limit)",
                )
            rgb = raw.postprocess(output_bps=16, use_camera_wb=True)
    except ImageReadError:
        raise
    except Exception as exc:  # rawpy's LibRawError family and OSError
        detail = exc.args[0] if exc.args else ""
        if isinstance(detail, bytes):  # LibRaw's messages come as bytes
            detail = detail.decode("utf-8", "replace")
        reason = str(detail) or type(exc).__name__
        message = f"{path}: LibRaw cannot decode this camera RAW file: {reason} (damaged?)"
        raise ImageReadError(message) from None
    pixels = np.ascontiguousarray(rgb.astype(np.float32) / 65535.0)
    return Frame(pixels=pixels, bit_depth=16, metadata=ImageMetadata(source_format="RAW"))


__all__ = ["read_raw"]

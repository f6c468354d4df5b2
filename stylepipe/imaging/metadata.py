"""XMP and IPTC (titles, keywords, captions): read from a source, written to an output.

Where each is kept:

* **XMP**: JPEG, PNG (iTXt ``XML:com.adobe.xmp``), WebP, TIFF (tag 700), AVIF, HEIF.
* **IPTC-IIM**: read from JPEG (Photoshop APP13, resource 0x0404) and TIFF (tag 33723);
  written to JPEG (an APP13 segment) and TIFF. Other formats have no place for it; most
  photo managers read the same fields from XMP.
"""

from __future__ import annotations

import struct

from PIL import Image, PngImagePlugin

_IPTC_RESOURCE = 0x0404
_XMP_TAG, _IPTC_TAG = 700, 33723
XMP_FORMATS = frozenset({"jpeg", "png", "webp", "tiff", "avif", "heif"})
IPTC_FORMATS = frozenset({"jpeg", "tiff"})


def read_xmp(image: Image.Image) -> bytes | None:
    """The XMP packet of an opened image, or None."""
    xmp = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp")
    if isinstance(xmp, str):
        xmp = xmp.encode("utf-8")
    return xmp if isinstance(xmp, bytes) and xmp.strip() else None


def read_iptc(image: Image.Image) -> bytes | None:
    """The IPTC-IIM records of an opened JPEG or TIFF, or None."""
    photoshop = image.info.get("photoshop")
    if isinstance(photoshop, dict):
        data = photoshop.get(_IPTC_RESOURCE)
        if isinstance(data, bytes) and data:
            return data
    tags = getattr(image, "tag_v2", None)
    if tags is not None:
        value = tags.get(_IPTC_TAG)
        if isinstance(value, bytes) and value:
            return value
        if isinstance(value, tuple) and value:  # some writers type it LONG
            try:
                return b"".join(struct.pack(">I", v) for v in value)
            except (struct.error, TypeError):
                return None
    return None


def save_kwargs(fmt: str, xmp: bytes | None, iptc: bytes | None) -> dict[str, object]:
    """Pillow ``save`` arguments that store XMP (and IPTC in TIFF) for ``fmt``."""
    if fmt == "png":
        if not xmp:
            return {}
        info = PngImagePlugin.PngInfo()
        info.add_itxt("XML:com.adobe.xmp", xmp.decode("utf-8", "replace"), zip=True)
        return {"pnginfo": info}
    if fmt == "tiff":
        tiffinfo: dict[int, bytes] = {}
        if xmp:
            tiffinfo[_XMP_TAG] = xmp
        if iptc:
            tiffinfo[_IPTC_TAG] = iptc
        return {"tiffinfo": tiffinfo} if tiffinfo else {}
    if xmp and fmt in XMP_FORMATS:
        return {"xmp": xmp}
    return {}


def add_jpeg_iptc(data: bytes, iptc: bytes) -> bytes:
    """A JPEG file with a Photoshop APP13 segment holding the IPTC records, placed after
    SOI and a JFIF APP0 segment if there is one."""
    resource = b"8BIM" + struct.pack(">H", _IPTC_RESOURCE) + b"\0\0"
    resource += struct.pack(">I", len(iptc)) + iptc + b"\0" * (len(iptc) & 1)
    payload = b"Photoshop 3.0\0" + resource
    if len(payload) + 2 > 0xFFFF:
        return data  # too large for one segment: left out rather than split
    segment = b"\xff\xed" + struct.pack(">H", len(payload) + 2) + payload
    at = 2
    if data[2:4] == b"\xff\xe0":
        at = 4 + struct.unpack(">H", data[4:6])[0]
    return data[:at] + segment + data[at:]


__all__ = ["IPTC_FORMATS", "XMP_FORMATS", "add_jpeg_iptc", "read_iptc", "read_xmp", "save_kwargs"]

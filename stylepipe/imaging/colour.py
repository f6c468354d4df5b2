"""Colour management (Pillow's ImageCms, LittleCMS): wide-gamut inputs to sRGB and back.

The networks were trained on sRGB photos, so for a pipeline that runs a model an 8-bit
RGB input with an embedded profile that is not sRGB (Display P3 from phones, Adobe RGB
from cameras) is converted to sRGB (relative colorimetric) when it is read
(:func:`to_srgb`); the frame then carries the sRGB profile and remembers the input's in
``metadata.source_profile``. The writer converts the result back to that profile
(:func:`from_srgb`, the default) or keeps sRGB (``--output-profile srgb``). Pipelines
without a model see the input's own values. Inputs without a profile are taken as sRGB;
16-bit inputs keep their values and profile (Pillow's colour transforms are 8-bit only),
and so does a profile LittleCMS cannot use.
"""

from __future__ import annotations

import io
from functools import cache

import numpy as np
from PIL import Image, ImageCms

from stylepipe.imaging.frame import Frame, to_uint8


@cache
def srgb_profile() -> bytes:
    """The ICC profile written with converted images (LittleCMS's built-in sRGB)."""
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def is_srgb(profile: ImageCms.ImageCmsProfile) -> bool:
    """Whether a profile is an sRGB one (by its description, as profiles name it)."""
    description = ImageCms.getProfileDescription(profile) or ""
    return "srgb" in description.lower().replace(" ", "")


def profile_name(icc: bytes) -> str | None:
    """A profile's description (``Display P3``), or None when it cannot be parsed."""
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        return (ImageCms.getProfileDescription(profile) or "").strip() or None
    except (ImageCms.PyCMSError, OSError, ValueError):
        return None


def to_srgb(frame: Frame) -> Frame:
    """``frame`` in sRGB with the sRGB profile when it is an 8-bit RGB frame with another
    RGB profile; otherwise ``frame`` itself (see the module docs)."""
    icc = frame.metadata.icc_profile
    if not icc or frame.channels != 3 or frame.bit_depth != 8 or icc[16:20] != b"RGB ":
        return frame
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if is_srgb(source):
            return frame
        image = Image.fromarray(to_uint8(frame.pixels), "RGB")
        converted = ImageCms.profileToProfile(
            image,
            source,
            ImageCms.createProfile("sRGB"),
            renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
            outputMode="RGB",
        )
    except (ImageCms.PyCMSError, OSError, ValueError):
        return frame  # an unusable profile: the values are used as they are
    if converted is None:
        return frame
    pixels = np.asarray(converted, dtype=np.float32) / 255.0
    metadata = frame.metadata.replace(icc_profile=srgb_profile(), source_profile=icc)
    return frame.replace(pixels=np.ascontiguousarray(pixels), metadata=metadata)


def from_srgb(pixels: np.ndarray, icc: bytes) -> np.ndarray | None:
    """RGB float pixels in sRGB converted to the profile ``icc`` (8-bit precision), or
    None when LittleCMS cannot use the profile."""
    try:
        target = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        image = Image.fromarray(to_uint8(pixels), "RGB")
        converted = ImageCms.profileToProfile(
            image,
            ImageCms.createProfile("sRGB"),
            target,
            renderingIntent=ImageCms.Intent.RELATIVE_COLORIMETRIC,
            outputMode="RGB",
        )
    except (ImageCms.PyCMSError, OSError, ValueError):
        return None
    if converted is None:
        return None
    return np.ascontiguousarray(np.asarray(converted, dtype=np.float32) / 255.0)


__all__ = ["from_srgb", "is_srgb", "profile_name", "srgb_profile", "to_srgb"]

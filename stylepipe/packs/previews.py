"""The preview of a shared pack: the shipped sample photo through the model.

A style runs on the photo; an upscaler on the photo shrunk by its scale, so the preview
is about the photo's size either way. The model runs on the CPU in fp32 through the
same model descriptor as a batch run (whose output checks apply).
"""

from __future__ import annotations

import io

from PIL import Image

from stylepipe.models.loading import load_model
from stylepipe.models.sample_photo import sample_photo
from stylepipe.models.spec import Architecture
from stylepipe.packs.format import Pack
from stylepipe.registry import Registry

PREVIEW_QUALITY = 90


def render_preview(pack: Pack, architectures: Registry[Architecture]) -> bytes:
    """A JPEG of the sample photo through ``pack``'s model. Raises
    :class:`~stylepipe.errors.ModelError` (or a :class:`UsageError` for an unknown
    architecture) when the model cannot run or gives no picture."""
    import numpy as np

    spec = pack.model_spec()
    model = load_model(spec, architectures.get(spec.architecture), precision="fp32", tile=0)
    photo = sample_photo()
    if model.scale > 1:
        low = (max(1, photo.width // model.scale), max(1, photo.height // model.scale))
        photo = photo.resize(low, Image.Resampling.BOX)
    out = model.run_array(np.asarray(photo))
    picture = Image.fromarray((out * 255).round().astype(np.uint8))
    buffer = io.BytesIO()
    picture.save(buffer, "JPEG", quality=PREVIEW_QUALITY)
    return buffer.getvalue()

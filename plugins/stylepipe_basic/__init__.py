"""Built-in plugin: ordinary Pillow/numpy filters.

``resize``, ``crop``, ``grayscale``, ``autocontrast``, ``adjust`` (brightness, contrast,
saturation in one step), ``sharpen``, ``blur`` and ``convert``. All work on float pixels,
so 16-bit inputs keep their precision, and all treat alpha consistently with the colour.
Registered through ``register_filters`` like any third-party plugin.
"""

from __future__ import annotations

from collections.abc import Callable

from stylepipe import Filter, hookimpl

from .detail import Blur, Sharpen
from .geometry import Crop, Resize
from .tone import Adjust, Autocontrast, Convert, Grayscale

FILTERS: tuple[type[Filter], ...] = (
    Resize,
    Crop,
    Grayscale,
    Autocontrast,
    Adjust,
    Sharpen,
    Blur,
    Convert,
)


@hookimpl
def register_filters(register: Callable[[type[Filter]], None]) -> None:
    for filter_cls in FILTERS:
        register(filter_cls)

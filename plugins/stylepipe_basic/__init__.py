"""Built-in plugin: ordinary Pillow filters (resize, crop, grayscale, sharpen, ...)."""

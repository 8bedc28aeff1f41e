"""Feature visualization for Keras 3 image models: the image each unit of a layer responds to most.

>>> import keras
>>> from tb_nnvis.featvis import render, channel, total_variation
>>> model = keras.Sequential([keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3, name="conv")])
>>> render(model, "conv", units=[1, 2], steps=4).images.shape
(2, 16, 16, 3)
>>> objective = channel("conv", 1) - 0.05 * total_variation()
>>> render(model, None, objective=objective, steps=4, param="maco").images.shape
(1, 16, 16, 3)
"""
from tb_nnvis.core.featvis.objectives import (  # noqa: F401
    Objective,
    Scene,
    blur,
    channel,
    channel_cossim,
    class_logit,
    direction,
    diversity,
    l1,
    neuron,
    total_variation,
)
from tb_nnvis.core.featvis.param import ColorCorrelation, Fourier, Maco, Param, Pixel  # noqa: F401
from tb_nnvis.core.featvis.render import Renderer, Result, render  # noqa: F401
from tb_nnvis.core.featvis.transforms import (  # noqa: F401
    Window,
    compose,
    jitter,
    pad,
    random_rotate,
    random_scale,
)

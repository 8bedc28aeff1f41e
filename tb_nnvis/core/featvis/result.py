"""What a feature-visualization render returns, and the progress bar it shows while it runs.

>>> import numpy as np
>>> result = Result(images=np.zeros((2, 4, 4, 3), np.float32), values=np.ones(2, np.float32), units=np.arange(2),
...                 transparency=np.zeros((2, 4, 4), np.float32), value_range=(0.0, 1.0), objective="channel",
...                 origin=np.arange(2))
>>> result
Result(2 images (4, 4, 3), objective=channel)
"""
import time

import keras


class Result:
    """What :func:`~.render.render` returns.

    Attributes:
      images: ``[B, H, W, C]`` float32 in the model's input range (``value_range``).
      values: ``[B]`` the objective each image reaches (untransformed image, no regularisers for the
        default objective: the unit's mean activation).
      units: ``[B]`` the unit each image is for (-1 for a custom objective without units).
      origin: ``[B]`` the unit whose optimisation found each image (``units`` unless another unit's
        image excited this one more; see :meth:`~.render.Renderer.run`); for a custom objective, the
        image's index in its batch.
      transparency: ``[B, H, W]`` in [0, 1]: how much of the objective's gradient each pixel
        accumulated over the optimisation (draw it as an alpha mask).
    """

    def __init__(self, images, values, units, transparency, value_range, objective, origin):
        self.images, self.values, self.units, self.origin = images, values, units, origin
        self.transparency, self.value_range, self.objective = transparency, value_range, objective

    def __repr__(self):
        return f"Result({len(self.images)} images {self.images.shape[1:]}, objective={self.objective})"


class Progress:
    """Keras's ``Progbar`` for renders that take a while (``verbose="auto"``: once the steps after the
    first call, which traces, say the whole render takes more than 5 s)."""

    def __init__(self, total, verbose):
        self.total, self.verbose, self.bar, self.timed = total, verbose, None, None

    def update(self, done):
        if self.bar is None and self.verbose:
            if self.timed is None:
                self.timed = (time.time(), done)
            else:
                rate = (time.time() - self.timed[0]) / max(done - self.timed[1], 1)
                if self.verbose != "auto" or rate * self.total > 5.0:
                    self.bar = keras.utils.Progbar(self.total, unit_name="step")
        if self.bar is not None:
            self.bar.update(done)

"""Entry-point targets for TensorBoard: light to import, since an error here stops TensorBoard itself.

Each loader imports its plugin only when TensorBoard builds it, and never imports TensorFlow.
"""
from tensorboard.plugins import base_plugin


class ActivationsLoader(base_plugin.TBLoader):
    """Loads the Activations dashboard."""

    def load(self, context):
        from tb_nnvis.plugins.activations.plugin import ActivationsPlugin

        return ActivationsPlugin(context)


class RelevanceLoader(base_plugin.TBLoader):
    """Loads the Relevance dashboard."""

    def load(self, context):
        from tb_nnvis.plugins.relevance.plugin import RelevancePlugin

        return RelevancePlugin(context)


class FeatureVisLoader(base_plugin.TBLoader):
    """Loads the Feature visualization dashboard."""

    def load(self, context):
        from tb_nnvis.plugins.featvis.plugin import FeatureVisPlugin

        return FeatureVisPlugin(context)


class RNNCellsLoader(base_plugin.TBLoader):
    """Loads the RNN cells dashboard."""

    def load(self, context):
        from tb_nnvis.plugins.rnn.plugin import RNNCellsPlugin

        return RNNCellsPlugin(context)

"""All ``tf.summary``-style writers of tb_nnvis, in one namespace.

>>> from tb_nnvis import summary
>>> callable(summary.activations) and callable(summary.activations_pb)
True
"""
from tb_nnvis.plugins.activations.summary import (  # noqa: F401
    activations,
    activations_pb,
    dataset_examples,
    probe_inputs,
    probe_inputs_pb,
    top_examples,
)
from tb_nnvis.plugins.activations.weights import (  # noqa: F401
    receptive_field_pb,
    update_ratio,
    update_ratio_pb,
    weights,
    weights_pb,
)
from tb_nnvis.plugins.relevance.summary import (  # noqa: F401
    relevance_image,
    relevance_image_pb,
    relevance_text,
    relevance_text_pb,
    relevance_unit_heatmaps,
    relevance_unit_heatmaps_pb,
    relevance_units,
    relevance_units_pb,
)
from tb_nnvis.plugins.featvis.summary import feature_images, feature_images_pb  # noqa: F401
from tb_nnvis.plugins.relevance.spray_summary import spray, spray_pb  # noqa: F401
from tb_nnvis.plugins.rnn.summary import (  # noqa: F401
    rnn_predictions,
    rnn_predictions_pb,
    rnn_traces,
    rnn_traces_pb,
)

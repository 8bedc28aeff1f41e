"""Recurrent cells over text: per-timestep traces (:mod:`.traces`) and finding the cells that follow a
pattern (:mod:`.search`). Usable without TensorBoard; ``tb_nnvis.rnn`` is the public name."""

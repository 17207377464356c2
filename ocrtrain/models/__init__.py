"""Trainable models: components (``backbones/``, ``necks/``, ``heads/``) found by name, built by ``builder``.

Output contract of every model (``model(x, targets=None)``):

* eval mode: one tensor, exactly what the exported inference program returns — detection: the probability map
  N x 1 x H x W; recognition: softmax probabilities N x T x classes (class 0 = CTC blank);
* train mode: a dict of named tensors, what the task's loss reads — DB: ``{"maps": N x 3 x H x W}`` (probability,
  threshold, binary), with auxiliary branches (PP-OCRv6) also ``"aux_maps_p4"``, ``"aux_maps_p3"`` and
  ``"aux_maps_p2"``; recognition: ``{"ctc": logits}`` and, with the GTC branch given ``targets["gtc_tokens"]``,
  ``"gtc"`` logits.
"""

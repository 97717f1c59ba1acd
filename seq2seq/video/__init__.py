"""Video labelling: a label for every frame of a clip (temporal action segmentation).

Raw clips are decoded with PyAV (``decode``), turned into per-frame CNN features (``features``)
stored in the layout action-segmentation code uses (``layout``), labelled by the core ``Tagger``
(``task``), scored with the literature's metrics (``metrics``) and reported per clip
(``label``). ``synth`` writes labelled clips for the demo and tests.
"""

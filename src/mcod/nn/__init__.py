"""The learning layer: MCOD's networks, augmentations, losses, memory, key queue, training
loop, ensembles and the pretrained encoders with their feature cache. It sees arrays and
tensors, never files the user named nor the command line. Networks and views are built
from explicit numbers; `builder` is the one place that reads them from an `MCODConfig`."""

"""Weight sources (component kind ``weight_source``): one module per on-disk format, see ``ocrtrain.models.weights``."""
